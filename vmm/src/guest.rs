//! A KVM guest that runs one contract: one vCPU, no devices, no in-kernel
//! irqchip or PIT, guest memory through vm-memory, booted straight into
//! 64-bit long mode at the shim's `_start`.
//!
//! A guest serves call after call ("warm"): after a call that returns
//! cleanly it is reset to its pristine state (see `reset_memory`) and the
//! next call resumes the runtime loop where it waits, with no VM creation,
//! memslot change or `KVM_SET_REGS`/`SREGS`/`FPU`. A call that ends any
//! other way poisons the guest; it refuses further calls and is dropped.

use std::time::{Duration, Instant};

use kvm_bindings::{kvm_segment, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use nativm_abi as abi;
use nativm_host_calls::{GuestMemory, HostCallHandler, HostCallOutcome, MemoryFault};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend as _, GuestMemoryMmap, GuestMemoryRegion};

use crate::backstop::Backstop;
use crate::elf::{ContractImage, Segment, ShimImage};
use crate::layout::{self, Access, Mapping, PageTables, TrapReport, UserMap};
use crate::{cpuid, Exception, VmmError};

/// Sizes and limits of a guest, fixed when it is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestConfig {
    /// Heap size in bytes (rounded up to whole pages; at most
    /// [`abi::MAX_HEAP_SIZE`]). Default 16 MiB.
    pub heap_size: u64,
    /// Stack size in bytes (rounded up to whole pages; at most
    /// [`abi::MAX_STACK_SIZE`]). Default 1 MiB.
    pub stack_size: u64,
}

impl Default for GuestConfig {
    fn default() -> Self {
        GuestConfig {
            heap_size: 16 << 20,
            stack_size: 1 << 20,
        }
    }
}

/// How a call on the vCPU ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallExit {
    /// The method returned.
    Returned,
    /// The contract called `abort` with this message.
    Reverted(String),
    /// A CPU exception in the guest.
    Exception(Exception),
    /// A host call refused its arguments; the message says which and why.
    HostCallFault(String),
    /// The host failed while servicing a host call (not the contract's fault).
    HostError(String),
    /// The wall-clock limit passed.
    Timeout,
    /// The gas counter went below zero (found at a host call, the return,
    /// a trap, a timeout or a backstop check: the outcome is the same
    /// whichever noticed it).
    OutOfGas,
    /// The guest left in a way the shim never does (triple fault, internal
    /// KVM error, unexpected port or MMIO access); the message says which.
    Crashed(String),
}

/// Counters of one call, for receipts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// VM exits (returns from `KVM_RUN`) during the call.
    pub vm_exits: u64,
    /// Host calls serviced.
    pub host_calls: u64,
    /// KVM ioctls issued for the call: one `KVM_RUN` per VM exit, plus
    /// `KVM_GET_DIRTY_LOG` for the reset. A warm call issues no
    /// `KVM_SET_REGS`, `KVM_SET_SREGS` or `KVM_SET_FPU`.
    pub ioctls: u64,
    /// Wall time of the call inside the VMM, in nanoseconds (includes the
    /// reset).
    pub wall_time_ns: u64,
    /// Pages the guest wrote during the call and the reset restored (0 when
    /// the call did not end cleanly: such a guest is discarded, not reset).
    pub pages_reset: u64,
    /// Time spent restoring them, in nanoseconds.
    pub reset_ns: u64,
    /// Gas left at the end of the call (0 after [`CallExit::OutOfGas`];
    /// for a timeout or a guest crash, what the counter held then).
    pub gas_left: u64,
    /// Backstop checks of the gas counter during the call (each one VM
    /// exit and one `KVM_GET_FPU`).
    pub gas_checks: u64,
    /// For [`CallExit::OutOfGas`]: how far below zero the counter was when
    /// the overrun was noticed, in gas (a measure of the backstop's lag).
    pub gas_overshoot: u64,
}

/// The parameters of one call.
pub struct CallRequest<'a> {
    /// Guest address of the method.
    pub entry: u64,
    /// Input bytes (at most [`abi::MAX_INPUT_LEN`]).
    pub input: &'a [u8],
    /// The caller's identity.
    pub caller: [u8; 32],
    /// Wall-clock limit; `None` means no limit.
    pub timeout: Option<Duration>,
    /// Gas limit (at most [`nativm_gas::MAX_GAS_LIMIT`]).
    pub gas_limit: u64,
}

/// A booted guest holding one contract.
pub struct Guest {
    vm: VmFd,
    vcpu: VcpuFd,
    memory: GuestMemoryMmap,
    page_tables: PageTables,
    /// Length of the input of the last call (bytes to scrub before the next).
    input_len: u64,
    poisoned: bool,
    config: GuestConfig,
    /// Pristine contents of every page of the contract's writable segments,
    /// sorted by guest physical address.
    pristine: Vec<(u64, Box<[u8]>)>,
    /// Guest physical ranges whose pristine contents are zero (heap, stack).
    zeroed: Vec<(u64, u64)>,
    /// Size of the dirty-logged memslot ([`LOGGED_SLOT`]), in bytes.
    logged_size: u64,
    /// Size of the hot memslot (at [`layout::HOT_SLOT_BASE`]), in bytes.
    hot_size: u64,
    /// Address of the runtime's `set_return` copy instruction.
    set_return_copy: u64,
    /// The contract's translation, if it runs prepared code.
    translation: Option<std::sync::Arc<nativm_gas::Translation>>,
}

/// Index of the dirty-logged memslot (see [`layout::LOGGED_SLOT_BASE`]).
const LOGGED_SLOT: usize = 2;

fn kvm_err(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmmError {
    move |source| VmmError::Kvm { op, source }
}

fn round_up_pages(bytes: u64) -> u64 {
    bytes.div_ceil(abi::PAGE_SIZE) * abi::PAGE_SIZE
}

/// Zeroes `len` bytes of guest memory at `gpa` with one `memset`
/// (vm-memory's volatile copies are several times slower for whole pages).
///
/// Errors: [`VmmError::Memory`] if the range is not inside one region.
fn zero_guest(memory: &GuestMemoryMmap, gpa: u64, len: usize) -> Result<(), VmmError> {
    let slice = memory
        .get_slice(GuestAddress(gpa), len)
        .map_err(|e| VmmError::Memory(format!("zeroing {gpa:#x}+{len:#x}: {e}")))?;
    let guard = slice.ptr_guard_mut();
    // SAFETY: `slice` covers `len` bytes of a live guest mapping owned by
    // `memory`. Only the thread running the vCPU calls this, between
    // KVM_RUNs, so the guest does not touch the memory meanwhile; guest
    // memory is plain bytes, so any value (zero) is valid.
    unsafe { std::ptr::write_bytes(guard.as_ptr(), 0, len) };
    Ok(())
}

/// Copies a segment's bytes into guest memory, its first page at guest
/// physical address `page_gpa` (its virtual page start when identity-mapped).
fn load_segment(
    memory: &GuestMemoryMmap,
    segment: &Segment,
    page_gpa: u64,
) -> Result<(), VmmError> {
    let gpa = page_gpa + (segment.vaddr - segment.page_start());
    memory
        .write_slice(&segment.data, GuestAddress(gpa))
        .map_err(|e| {
            VmmError::Memory(format!(
                "loading {} at {:#x}: {e}",
                segment.name(),
                segment.vaddr
            ))
        })
}

impl Guest {
    /// Creates a VM with one vCPU, loads the shim and `contract`, builds the
    /// page tables and system tables, and sets the vCPU to start at the
    /// shim's entry in long mode.
    ///
    /// Errors: [`VmmError::Kvm`] when an ioctl fails, [`VmmError::Layout`]
    /// when the sizes in `config` are out of range.
    pub fn new(
        kvm: &Kvm,
        shim: &ShimImage,
        contract: &ContractImage,
        config: &GuestConfig,
    ) -> Result<Guest, VmmError> {
        let heap_size = round_up_pages(config.heap_size);
        let stack_size = round_up_pages(config.stack_size.max(abi::PAGE_SIZE));
        if heap_size > abi::MAX_HEAP_SIZE {
            return Err(VmmError::Layout(format!(
                "heap size {heap_size} exceeds the maximum {}",
                abi::MAX_HEAP_SIZE
            )));
        }
        if stack_size > abi::MAX_STACK_SIZE {
            return Err(VmmError::Layout(format!(
                "stack size {stack_size} exceeds the maximum {}",
                abi::MAX_STACK_SIZE
            )));
        }

        // Everything a call can write lives packed in the logged memslot:
        // writable contract segments, then the heap, then the stack.
        let mut logged_size = 0u64;
        let mut placements = Vec::new();
        for segment in contract.segments.iter().filter(|s| s.access.write) {
            placements.push((segment.index, layout::LOGGED_SLOT_BASE + logged_size));
            logged_size += segment.page_end() - segment.page_start();
        }
        let heap_gpa = layout::LOGGED_SLOT_BASE + logged_size;
        logged_size += heap_size;
        // The hot pages (top of the stack, first page of the return buffer)
        // go to the unlogged hot slot; the rest of both is logged.
        let hot_stack = (layout::HOT_STACK_PAGES * abi::PAGE_SIZE).min(stack_size);
        let cold_stack = stack_size - hot_stack;
        let cold_return = abi::limits::MAX_RETURN_LEN - abi::PAGE_SIZE;
        let stack_gpa = layout::LOGGED_SLOT_BASE + logged_size;
        logged_size += cold_stack;
        let return_gpa = layout::LOGGED_SLOT_BASE + logged_size;
        logged_size += cold_return;
        let hot_size = hot_stack + abi::PAGE_SIZE;
        let hot_stack_gpa = layout::HOT_SLOT_BASE;
        let hot_return_gpa = layout::HOT_SLOT_BASE + hot_stack;
        let placement = |segment: &Segment| {
            placements
                .iter()
                .find(|(index, _)| *index == segment.index)
                .map_or(segment.page_start(), |(_, gpa)| *gpa)
        };

        // A prepared contract: its code and tables in one more slot.
        let prepared = contract.prepared.as_deref().map(|t| {
            let branch = crate::prepared::table_pages(
                t.branch_targets
                    .iter()
                    .map(|&(o, p)| (u64::from(o), u64::from(p)))
                    .chain([(abi::HOSTCALL_ENTRY, abi::HOSTCALL_ENTRY)]),
                abi::INVALID_BRANCH_BASE,
            );
            let returns = crate::prepared::table_pages(
                t.return_sites
                    .iter()
                    .map(|&p| (u64::from(p), u64::from(p)))
                    .chain([(shim.runtime_return, shim.runtime_return)]),
                abi::INVALID_RETURN_BASE,
            );
            (t, round_up_pages(t.code.len() as u64), branch, returns)
        });
        let vm = kvm.create_vm().map_err(kvm_err("KVM_CREATE_VM"))?;
        let mut slots = vec![
            (GuestAddress(0), layout::LOW_SLOT_SIZE as usize),
            (GuestAddress(abi::INPUT_BASE), abi::MAX_INPUT_LEN as usize),
            (GuestAddress(layout::LOGGED_SLOT_BASE), logged_size as usize),
            (GuestAddress(layout::HOT_SLOT_BASE), hot_size as usize),
        ];
        if let Some((_, code_len, branch, returns)) = &prepared {
            let tables = (branch.len() + returns.len()) as u64 * abi::PAGE_SIZE;
            slots.push((
                GuestAddress(layout::PREPARED_SLOT_BASE),
                (code_len + tables) as usize,
            ));
        }
        let memory = GuestMemoryMmap::<()>::from_ranges(&slots)
            .map_err(|e| VmmError::Memory(format!("allocating guest memory {slots:x?}: {e}")))?;
        for (index, (base, _)) in slots.iter().enumerate() {
            let region = memory.find_region(*base).expect("every slot is a region");
            let host_addr = memory
                .get_host_address(*base)
                .map_err(|e| VmmError::Memory(e.to_string()))?;
            let slot = kvm_userspace_memory_region {
                slot: index as u32,
                // Dirty logging finds the pages a call wrote, so the reset
                // after it costs O(pages written), not O(guest size).
                flags: if index == LOGGED_SLOT {
                    kvm_bindings::KVM_MEM_LOG_DIRTY_PAGES
                } else {
                    0
                },
                guest_phys_addr: base.0,
                memory_size: region.len(),
                userspace_addr: host_addr as u64,
            };
            // SAFETY: the region is a live mapping of `memory_size` bytes
            // owned by `memory`, which the returned Guest keeps alive as long
            // as the VM.
            unsafe { vm.set_user_memory_region(slot) }
                .map_err(kvm_err("KVM_SET_USER_MEMORY_REGION"))?;
        }

        // Address space.
        let mut pt = PageTables::new(&memory)?;
        let sys_len = abi::PAGE_SIZE * 4;
        pt.map(
            &memory,
            Mapping {
                va: abi::SHIM_SYSTEM_BASE,
                gpa: abi::SHIM_SYSTEM_BASE,
                len: sys_len,
                access: Access::KERNEL_RW,
                name: "shim system tables".into(),
            },
        )?;
        for segment in &shim.segments {
            load_segment(&memory, segment, segment.page_start())?;
            let access = if segment.access.user {
                Access::USER_CODE
            } else if segment.access.execute {
                Access::KERNEL_CODE
            } else {
                Access::KERNEL_RO
            };
            let name = if segment.access.user {
                "runtime".to_string()
            } else {
                format!("shim {}", segment.name())
            };
            pt.map(
                &memory,
                Mapping {
                    va: segment.page_start(),
                    gpa: segment.page_start(),
                    len: segment.page_end() - segment.page_start(),
                    access,
                    name,
                },
            )?;
        }
        pt.map(
            &memory,
            Mapping {
                va: layout::RING0_STACK_BASE,
                gpa: layout::RING0_STACK_BASE,
                len: abi::SHIM_END - layout::RING0_STACK_BASE,
                access: Access::KERNEL_RW,
                name: "ring-0 stacks".into(),
            },
        )?;
        pt.map(
            &memory,
            Mapping {
                va: abi::CALL_INFO,
                gpa: abi::CALL_INFO,
                len: abi::PAGE_SIZE,
                access: Access::USER_RO,
                name: "call info".into(),
            },
        )?;
        pt.map(
            &memory,
            Mapping {
                va: abi::MAILBOX,
                gpa: abi::MAILBOX,
                len: abi::PAGE_SIZE,
                access: Access::USER_RW,
                name: "host-call mailbox".into(),
            },
        )?;
        for segment in &contract.segments {
            load_segment(&memory, segment, placement(segment))?;
            pt.map(
                &memory,
                Mapping {
                    va: segment.page_start(),
                    gpa: placement(segment),
                    len: segment.page_end() - segment.page_start(),
                    access: segment.access,
                    name: format!("contract {}", segment.name()),
                },
            )?;
        }
        if heap_size > 0 {
            pt.map(
                &memory,
                Mapping {
                    va: abi::HEAP_BASE,
                    gpa: heap_gpa,
                    len: heap_size,
                    access: Access::USER_RW,
                    name: "heap".into(),
                },
            )?;
        }
        // The whole input region, read-only, mapped once: page tables never
        // change after boot, so a warm guest's TLB can never go stale.
        pt.map(
            &memory,
            Mapping {
                va: abi::INPUT_BASE,
                gpa: abi::INPUT_BASE,
                len: abi::MAX_INPUT_LEN,
                access: Access::USER_RO,
                name: "input".into(),
            },
        )?;
        let stack_base = abi::STACK_TOP - stack_size;
        let rw = |va: u64, gpa: u64, len: u64, name: &str| Mapping {
            va,
            gpa,
            len,
            access: Access::USER_RW,
            name: name.into(),
        };
        if cold_stack > 0 {
            pt.map(&memory, rw(stack_base, stack_gpa, cold_stack, "stack"))?;
        }
        pt.map(
            &memory,
            rw(
                stack_base + cold_stack,
                hot_stack_gpa,
                hot_stack,
                "stack (top)",
            ),
        )?;
        pt.map(
            &memory,
            rw(
                abi::RETURN_BUFFER,
                hot_return_gpa,
                abi::PAGE_SIZE,
                "return buffer",
            ),
        )?;
        pt.map(
            &memory,
            rw(
                abi::RETURN_BUFFER + abi::PAGE_SIZE,
                return_gpa,
                cold_return,
                "return buffer",
            ),
        )?;
        // The doorbell is left out of the user map: host-call buffers may
        // never point at it.
        pt.map_hidden(
            &memory,
            Mapping {
                va: abi::DOORBELL_VA,
                gpa: abi::DOORBELL_GPA,
                len: abi::PAGE_SIZE,
                access: Access::USER_RW,
                name: "doorbell".into(),
            },
        )?;
        if let Some((t, code_len, branch, returns)) = &prepared {
            let mem_err = |e: vm_memory::GuestMemoryError| {
                VmmError::Memory(format!("loading the prepared code: {e}"))
            };
            memory
                .write_slice(&t.code, GuestAddress(layout::PREPARED_SLOT_BASE))
                .map_err(mem_err)?;
            pt.map(
                &memory,
                Mapping {
                    va: t.base,
                    gpa: layout::PREPARED_SLOT_BASE,
                    len: *code_len,
                    access: Access::USER_CODE,
                    name: "prepared code".into(),
                },
            )?;
            let mut gpa = layout::PREPARED_SLOT_BASE + code_len;
            for (window, pages, name) in [
                (abi::BRANCH_TABLE_BASE, branch, "branch table"),
                (abi::RETURN_TABLE_BASE, returns, "return table"),
            ] {
                // Consecutive pages are written and mapped as one range.
                let mut k = 0;
                while k < pages.len() {
                    let first = pages[k].0;
                    let n = pages[k..]
                        .iter()
                        .enumerate()
                        .take_while(|(m, (offset, _))| {
                            *offset == first + *m as u64 * abi::PAGE_SIZE
                        })
                        .count();
                    let bytes: Vec<u8> = pages[k..k + n]
                        .iter()
                        .flat_map(|(_, slots)| slots.iter().flat_map(|v| v.to_le_bytes()))
                        .collect();
                    memory
                        .write_slice(&bytes, GuestAddress(gpa))
                        .map_err(mem_err)?;
                    let len = n as u64 * abi::PAGE_SIZE;
                    pt.map_hidden(
                        &memory,
                        Mapping {
                            va: window + first,
                            gpa,
                            len,
                            access: Access::USER_RO,
                            name: name.into(),
                        },
                    )?;
                    gpa += len;
                    k += n;
                }
            }
        }
        layout::write_system_tables(&memory, &shim.isr_addresses)?;

        // vCPU.
        let vcpu = vm.create_vcpu(0).map_err(kvm_err("KVM_CREATE_VCPU"))?;
        vcpu.set_cpuid2(&cpuid::cpuid()?)
            .map_err(kvm_err("KVM_SET_CPUID2"))?;
        let mut sregs = vcpu.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
        let code = kvm_segment {
            base: 0,
            limit: 0xffff_ffff,
            selector: layout::KERNEL_CS,
            type_: 11,
            present: 1,
            dpl: 0,
            db: 0,
            s: 1,
            l: 1,
            g: 1,
            avl: 0,
            unusable: 0,
            padding: 0,
        };
        let data = kvm_segment {
            selector: layout::KERNEL_DS,
            type_: 3,
            l: 0,
            db: 1,
            ..code
        };
        sregs.cs = code;
        sregs.ds = data;
        sregs.es = data;
        sregs.ss = data;
        // FS and GS hold ring-3 data selectors (so the iretq to ring 3 keeps
        // them) whose bases are the return and branch tables of prepared
        // code (Intel SDM Vol. 3A, 3.4.4: in 64-bit mode only the FS and GS
        // bases apply). The verifier rejects every instruction that could
        // change them or override a segment with them.
        let user_data = kvm_segment {
            selector: layout::USER_DS,
            dpl: 3,
            ..data
        };
        sregs.fs = kvm_segment {
            base: abi::RETURN_TABLE_BASE,
            ..user_data
        };
        sregs.gs = kvm_segment {
            base: abi::BRANCH_TABLE_BASE,
            ..user_data
        };
        sregs.tr = kvm_segment {
            base: layout::TSS_ADDR,
            limit: 0x67,
            selector: layout::TSS_SEL,
            type_: 11,
            present: 1,
            dpl: 0,
            db: 0,
            s: 0,
            l: 0,
            g: 0,
            avl: 0,
            unusable: 0,
            padding: 0,
        };
        sregs.ldt = kvm_segment {
            unusable: 1,
            ..Default::default()
        };
        sregs.gdt.base = layout::GDT_ADDR;
        sregs.gdt.limit = (layout::gdt_entries().len() * 8 - 1) as u16;
        sregs.idt.base = layout::IDT_ADDR;
        sregs.idt.limit = (layout::IDT_VECTORS * 16 - 1) as u16;
        sregs.cr3 = pt.cr3();
        // CR0: PE, MP, ET, NE, WP, PG. CR4: PAE, OSFXSR, OSXMMEXCPT.
        // EFER: LME, LMA, NXE (Intel SDM Vol. 3A, 2.5 and 9.8.5).
        sregs.cr0 = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 31);
        sregs.cr4 = (1 << 5) | (1 << 9) | (1 << 10);
        sregs.efer = (1 << 8) | (1 << 10) | (1 << 11);
        vcpu.set_sregs(&sregs).map_err(kvm_err("KVM_SET_SREGS"))?;
        let regs = kvm_bindings::kvm_regs {
            rip: shim.entry,
            rsp: layout::RING0_STACK_TOP,
            rflags: 0x2,
            ..Default::default()
        };
        vcpu.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))?;

        let mut pristine = Vec::new();
        for segment in contract.segments.iter().filter(|s| s.access.write) {
            let base = placement(segment);
            for page in (base..base + segment.page_end() - segment.page_start())
                .step_by(abi::PAGE_SIZE as usize)
            {
                let mut bytes = vec![0u8; abi::PAGE_SIZE as usize].into_boxed_slice();
                memory
                    .read_slice(&mut bytes, GuestAddress(page))
                    .map_err(|e| {
                        VmmError::Memory(format!("saving pristine page {page:#x}: {e}"))
                    })?;
                pristine.push((page, bytes));
            }
        }
        pristine.sort_by_key(|p| p.0);
        let zeroed = vec![
            (heap_gpa, heap_gpa + heap_size),
            (stack_gpa, stack_gpa + cold_stack),
            (return_gpa, return_gpa + cold_return),
        ];

        Ok(Guest {
            vm,
            vcpu,
            memory,
            page_tables: pt,
            input_len: 0,
            poisoned: false,
            config: GuestConfig {
                heap_size,
                stack_size,
            },
            pristine,
            zeroed,
            logged_size,
            hot_size,
            set_return_copy: shim.set_return_copy,
            translation: contract.prepared.clone(),
        })
    }

    /// The CPUID table KVM holds for the vCPU (`KVM_GET_CPUID2`).
    ///
    /// Errors: [`VmmError::Kvm`] if the ioctl fails.
    pub fn cpuid(&self) -> Result<Vec<kvm_bindings::kvm_cpuid_entry2>, VmmError> {
        let table = self
            .vcpu
            .get_cpuid2(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
            .map_err(kvm_err("KVM_GET_CPUID2"))?;
        Ok(table.as_slice().to_vec())
    }

    /// The ring-3 memory map (what host-call pointers may address).
    pub fn user_map(&self) -> &UserMap {
        self.page_tables.user_map()
    }

    /// The guest's configuration, with sizes rounded to pages.
    pub fn config(&self) -> &GuestConfig {
        &self.config
    }

    fn write_call_info(&mut self, request: &CallRequest<'_>) -> Result<(), VmmError> {
        if request.gas_limit > nativm_gas::MAX_GAS_LIMIT {
            return Err(VmmError::Input(format!(
                "gas limit {} exceeds the maximum {}",
                request.gas_limit,
                nativm_gas::MAX_GAS_LIMIT
            )));
        }
        if request.input.len() as u64 > abi::MAX_INPUT_LEN {
            return Err(VmmError::Input(format!(
                "input is {} bytes, more than the {} byte limit",
                request.input.len(),
                abi::MAX_INPUT_LEN
            )));
        }
        let mem_err = |e: vm_memory::GuestMemoryError| {
            VmmError::Memory(format!("writing the call info: {e}"))
        };
        let info = abi::CallInfo {
            abi_version: abi::ABI_VERSION as u64,
            entry: request.entry,
            input_ptr: abi::INPUT_BASE,
            input_len: request.input.len() as u64,
            heap_base: abi::HEAP_BASE,
            heap_size: self.config.heap_size,
            stack_top: abi::STACK_TOP,
            stack_size: self.config.stack_size,
            caller: request.caller,
            gas_limit: request.gas_limit,
        };
        use abi::call_info as off;
        let words = [
            (off::ABI_VERSION, info.abi_version),
            (off::ENTRY, info.entry),
            (off::INPUT_PTR, info.input_ptr),
            (off::INPUT_LEN, info.input_len),
            (off::HEAP_BASE, info.heap_base),
            (off::HEAP_SIZE, info.heap_size),
            (off::STACK_TOP, info.stack_top),
            (off::STACK_SIZE, info.stack_size),
            (off::GAS_LIMIT, info.gas_limit),
        ];
        // One copy of the whole page prefix (each vm-memory access costs a
        // region lookup: this is on every warm call's path).
        let mut page = [0u8; abi::call_info::SIZE as usize];
        for (offset, value) in words {
            let at = offset as usize;
            page[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        let at = off::CALLER as usize;
        page[at..at + 32].copy_from_slice(&info.caller);
        self.memory
            .write_slice(&page, GuestAddress(abi::CALL_INFO))
            .map_err(mem_err)?;
        self.memory
            .write_slice(request.input, GuestAddress(abi::INPUT_BASE))
            .map_err(mem_err)?;
        // Scrub what is left of a longer earlier input: a warm guest must
        // not show one call's input to the next.
        let len = request.input.len() as u64;
        if len < self.input_len {
            let stale = vec![0u8; (self.input_len - len) as usize];
            self.memory
                .write_slice(&stale, GuestAddress(abi::INPUT_BASE + len))
                .map_err(mem_err)?;
        }
        Ok(())
    }

    /// Whether the guest ended a call in any way but a clean return and can
    /// no longer run calls.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Runs one call to completion: writes the call info and input, enters
    /// the guest, services host calls through `handler`, and returns how the
    /// call ended with its counters. After a clean return the guest is reset
    /// and ready for the next call; after anything else it is poisoned.
    /// Must be called on the same thread each time (KVM binds a vCPU to the
    /// thread that last ran it, and moving it is slow).
    ///
    /// Errors: [`VmmError::Poisoned`] for a guest whose earlier call failed;
    /// otherwise [`VmmError`] only for host-side failures (an ioctl or guest
    /// memory access failed, input too large); everything the contract does
    /// is a [`CallExit`].
    pub fn call(
        &mut self,
        request: &CallRequest<'_>,
        handler: &mut dyn HostCallHandler,
    ) -> Result<(CallExit, CallStats), VmmError> {
        if self.poisoned {
            return Err(VmmError::Poisoned);
        }
        self.write_call_info(request)?;
        self.input_len = request.input.len() as u64;
        let started = Instant::now();
        let backstop = Backstop::begin(request.timeout);
        let mut stats = CallStats::default();
        // Gas left as last read (counter minus set_return charges).
        let mut gas: i64 = request.gas_limit as i64;
        // Whether the guest is back in its runtime loop (reusable).
        let mut clean = false;
        let exit = loop {
            let result = self.vcpu.run();
            stats.vm_exits += 1;
            stats.ioctls += 1;
            match result {
                Ok(VcpuExit::MmioWrite(addr, _))
                    if addr & !(abi::PAGE_SIZE - 1) == abi::DOORBELL_GPA =>
                {
                    let mailbox = self.read_mailbox()?;
                    let nr = mailbox[0];
                    gas = counters_sum([mailbox[8], mailbox[11], mailbox[12], mailbox[13]])
                        .saturating_sub(set_return_charge(mailbox[9], mailbox[10]));
                    if mailbox[9] != 0 {
                        self.clear_set_return_counters()?;
                    }
                    if nr == abi::hostcall::RETURN {
                        clean = true;
                        if gas < 0 {
                            break CallExit::OutOfGas;
                        }
                        // Return data the runtime page buffered (set_return
                        // without an exit), handed over like a host call.
                        let len = mailbox[7];
                        if len == 0 {
                            break CallExit::Returned;
                        }
                        let mut view = UserMemory {
                            memory: &self.memory,
                            map: self.page_tables.user_map(),
                        };
                        let args = [abi::RETURN_BUFFER, len, 0, 0, 0];
                        // Already paid: the runtime page counted it.
                        let mut paid = u64::MAX;
                        break match handler.host_call(
                            &mut view,
                            abi::hostcall::SET_RETURN,
                            args,
                            &mut paid,
                        ) {
                            HostCallOutcome::Resume(_) => CallExit::Returned,
                            HostCallOutcome::Revert(msg) => CallExit::Reverted(msg),
                            HostCallOutcome::Fault(msg) => CallExit::HostCallFault(msg),
                            HostCallOutcome::HostError(msg) => CallExit::HostError(msg),
                            HostCallOutcome::OutOfGas => CallExit::OutOfGas,
                        };
                    }
                    if gas < 0 {
                        break CallExit::OutOfGas;
                    }
                    if backstop.timed_out() {
                        break CallExit::Timeout;
                    }
                    stats.host_calls += 1;
                    let args = [mailbox[1], mailbox[2], mailbox[3], mailbox[4], mailbox[5]];
                    let mut view = UserMemory {
                        memory: &self.memory,
                        map: self.page_tables.user_map(),
                    };
                    let mut left = gas as u64;
                    let outcome = handler.host_call(&mut view, nr, args, &mut left);
                    gas = left as i64;
                    match outcome {
                        HostCallOutcome::Resume(value) => {
                            let words = [(abi::mailbox::RESULT, value), (abi::mailbox::GAS, left)];
                            for (offset, word) in words {
                                self.memory
                                    .write_obj(word, GuestAddress(abi::MAILBOX + offset))
                                    .map_err(|e| {
                                        VmmError::Memory(format!(
                                            "writing the host-call result: {e}"
                                        ))
                                    })?;
                            }
                        }
                        HostCallOutcome::Revert(msg) => break CallExit::Reverted(msg),
                        HostCallOutcome::Fault(msg) => break CallExit::HostCallFault(msg),
                        HostCallOutcome::HostError(msg) => break CallExit::HostError(msg),
                        HostCallOutcome::OutOfGas => break CallExit::OutOfGas,
                    }
                }
                Ok(VcpuExit::IoOut(port, _)) if port == layout::TRAP_PORT => {
                    // Ran out before it trapped? Then the trap never
                    // happened in the metered program.
                    gas = self.gas_from_fpu(&mut stats)?;
                    if gas < 0 {
                        break CallExit::OutOfGas;
                    }
                    let report = TrapReport::read(&self.memory)?;
                    break match self.decode_trap(&report) {
                        // A fault on the runtime's copy of set_return data is
                        // a bad set_return argument, reported as such.
                        Some(exception) if exception.rip == self.set_return_copy => {
                            let mailbox = self.read_mailbox()?;
                            let (ptr, len) = (mailbox[1], mailbox[2]);
                            let at = exception.fault_address.unwrap_or(ptr);
                            CallExit::HostCallFault(format!(
                                "set_return: data {ptr:#x}+{len} is not readable by the contract (address {at:#x})"
                            ))
                        }
                        Some(exception) => CallExit::Exception(exception),
                        None => CallExit::Crashed(format!("incomplete trap report: {report:x?}")),
                    };
                }
                Ok(VcpuExit::MmioWrite(addr, _)) => {
                    break CallExit::Crashed(format!(
                        "write to unbacked guest physical address {addr:#x}"
                    ))
                }
                Ok(VcpuExit::MmioRead(addr, _)) => {
                    break CallExit::Crashed(format!(
                        "read of unbacked guest physical address {addr:#x}"
                    ))
                }
                Ok(VcpuExit::IoOut(port, _)) => {
                    break CallExit::Crashed(format!("write to I/O port {port:#x}"))
                }
                Ok(VcpuExit::IoIn(port, _)) => {
                    break CallExit::Crashed(format!("read of I/O port {port:#x}"))
                }
                Ok(VcpuExit::Shutdown) => {
                    break CallExit::Crashed("triple fault (KVM_EXIT_SHUTDOWN)".into())
                }
                Ok(VcpuExit::Hlt) => break CallExit::Crashed("the guest halted".into()),
                Ok(VcpuExit::InternalError) => {
                    break CallExit::Crashed(
                        "KVM internal error (instruction emulation failed)".into(),
                    )
                }
                Ok(VcpuExit::FailEntry(reason, cpu)) => {
                    break CallExit::Crashed(format!(
                        "VM entry failed: hardware reason {reason:#x} on cpu {cpu}"
                    ))
                }
                Ok(other) => break CallExit::Crashed(format!("unexpected VM exit {other:?}")),
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                    // A backstop check (or the wall-clock limit).
                    stats.gas_checks += 1;
                    gas = self.gas_from_fpu(&mut stats)?;
                    if gas < 0 {
                        break CallExit::OutOfGas;
                    }
                    if backstop.timed_out() {
                        break CallExit::Timeout;
                    }
                }
                Err(source) => {
                    return Err(VmmError::Kvm {
                        op: "KVM_RUN",
                        source,
                    })
                }
            }
        };
        drop(backstop);
        if exit == CallExit::OutOfGas {
            stats.gas_overshoot = gas.unsigned_abs();
            stats.gas_left = 0;
        } else {
            stats.gas_left = gas.max(0) as u64;
        }
        // Only a clean return (out of gas or not) leaves the guest in a
        // state the runtime loop can continue from; anything else poisons
        // it for good.
        self.poisoned = !clean;
        if !self.poisoned {
            let reset_started = Instant::now();
            stats.pages_reset = self.reset_memory()?;
            stats.ioctls += 1;
            stats.reset_ns = reset_started.elapsed().as_nanos() as u64;
        }
        stats.wall_time_ns = started.elapsed().as_nanos() as u64;
        Ok((exit, stats))
    }

    /// Returns every page the guest wrote since the last reset to its
    /// pristine contents: contract data pages from their saved copies, heap
    /// and stack pages to zero, and clears the mailbox. All writable pages
    /// live in the small dirty-logged memslot, so the cost is one
    /// `KVM_GET_DIRTY_LOG` (which also clears the log) on that slot, a scan
    /// of its bitmap (one bit per 4 KiB page) and one page copy per page
    /// written. Elsewhere a call can only dirty what it cannot observe
    /// (accessed/dirty bits in page tables, the ring-0 stack on a trap, after
    /// which the guest is discarded anyway). Returns the number of pages
    /// restored.
    ///
    /// Errors: [`VmmError::Kvm`] if the dirty log cannot be read,
    /// [`VmmError::Memory`] if guest memory cannot be written.
    fn reset_memory(&mut self) -> Result<u64, VmmError> {
        let bitmap = self
            .vm
            .get_dirty_log(LOGGED_SLOT as u32, self.logged_size as usize)
            .map_err(kvm_err("KVM_GET_DIRTY_LOG"))?;
        // The mailbox (unlogged slot) holds the last host call's arguments
        // and result: clear it so the next call cannot see them.
        zero_guest(&self.memory, abi::MAILBOX, abi::PAGE_SIZE as usize)?;
        // The hot pages are not logged: zero them every time.
        zero_guest(&self.memory, layout::HOT_SLOT_BASE, self.hot_size as usize)?;
        let mut restored = self.hot_size / abi::PAGE_SIZE;
        for (w, &word) in bitmap.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let page = layout::LOGGED_SLOT_BASE
                    + (w as u64 * 64 + u64::from(bits.trailing_zeros())) * abi::PAGE_SIZE;
                bits &= bits - 1;
                match self.pristine.binary_search_by_key(&page, |p| p.0) {
                    Ok(i) => self
                        .memory
                        .write_slice(&self.pristine[i].1, GuestAddress(page))
                        .map_err(|e| VmmError::Memory(format!("restoring page {page:#x}: {e}")))?,
                    Err(_) if self.zeroed.iter().any(|&(a, b)| a <= page && page < b) => {
                        zero_guest(&self.memory, page, abi::PAGE_SIZE as usize)?
                    }
                    Err(_) => continue,
                }
                restored += 1;
            }
        }
        Ok(restored)
    }

    /// Resets the mailbox's `set_return` counters once the host has charged
    /// them (and hands the charged counter back to the guest).
    ///
    /// Errors: [`VmmError::Memory`] if the mailbox cannot be written.
    fn clear_set_return_counters(&mut self) -> Result<(), VmmError> {
        self.memory
            .write_slice(
                &[0u8; 16],
                GuestAddress(abi::MAILBOX + abi::mailbox::SET_RETURN_CALLS),
            )
            .map_err(|e| VmmError::Memory(format!("clearing the set_return counters: {e}")))
    }

    /// Gas left, reading the counter from the vCPU (`KVM_GET_FPU`: `mm0` is
    /// the mantissa of physical x87 register 0, and every MMX instruction
    /// sets TOP to 0, Intel SDM Vol. 1, 9.5.2). Counts the ioctl.
    ///
    /// Errors: [`VmmError::Kvm`] if the ioctl fails.
    fn gas_from_fpu(&mut self, stats: &mut CallStats) -> Result<i64, VmmError> {
        let fpu = self.vcpu.get_fpu().map_err(kvm_err("KVM_GET_FPU"))?;
        stats.ioctls += 1;
        // Physical registers 0-3 = mm0-mm3, the gas counters.
        let counter = counters_sum(std::array::from_fn(|k| {
            u64::from_le_bytes(fpu.fpr[k][..8].try_into().expect("8 bytes"))
        }));
        let mailbox = self.read_mailbox()?;
        Ok(counter.saturating_sub(set_return_charge(mailbox[9], mailbox[10])))
    }

    /// Decodes a trap report, naming addresses of prepared code by the
    /// original instruction they run and faults of the branch checks as
    /// such.
    fn decode_trap(&self, report: &TrapReport) -> Option<Exception> {
        let mut report = *report;
        let Some(t) = &self.translation else {
            return Exception::from_report(&report, self.page_tables.user_map());
        };
        let origin = t.original_address(report.rip);
        if let Some(original) = origin {
            report.rip = original;
        }
        let mut exception = Exception::from_report(&report, self.page_tables.user_map())?;
        let fetch_or_read = report.vector == 14;
        if let Some((name, message)) = fetch_or_read
            .then(|| crate::prepared::describe_check_fault(report.cr2, origin))
            .flatten()
        {
            exception.name = name;
            exception.message = message;
        }
        Some(exception)
    }

    /// The first 14 words of the mailbox (number, arguments, result,
    /// return length, gas counter 0, set_return counters, gas counters 1-3),
    /// in one read.
    fn read_mailbox(&self) -> Result<[u64; 14], VmmError> {
        let mut bytes = [0u8; 112];
        self.memory
            .read_slice(&mut bytes, GuestAddress(abi::MAILBOX))
            .map_err(|e| VmmError::Memory(format!("reading the host-call mailbox: {e}")))?;
        let mut words = [0u64; 14];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        Ok(words)
    }
}

/// The gas left as the sum of the four counters `mm0`..`mm3` (two's
/// complement `i64`s; see `nativm_gas::translate::COUNTERS`), clamped to the
/// `i64` range.
fn counters_sum(counters: [u64; 4]) -> i64 {
    let sum: i128 = counters.iter().map(|&c| i128::from(c as i64)).sum();
    sum.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Gas for `calls` calls of `set_return` copying `bytes` bytes in all,
/// which the runtime page served without an exit and counted in the mailbox
/// (priced by `nativm_gas::cost::host_call_cost`).
fn set_return_charge(calls: u64, bytes: u64) -> i64 {
    let price = nativm_gas::cost::host_call_cost(abi::hostcall::SET_RETURN);
    price
        .base
        .saturating_mul(calls)
        .saturating_add(price.per_byte.saturating_mul(bytes))
        .min(i64::MAX as u64) as i64
}

/// Guest memory as ring 3 sees it: every access is checked against the
/// user map first, then done through the identity mapping.
struct UserMemory<'a> {
    memory: &'a GuestMemoryMmap,
    map: &'a UserMap,
}

impl GuestMemory for UserMemory<'_> {
    fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, MemoryFault> {
        let spans = self.map.spans(addr, len, false).map_err(|f| MemoryFault {
            addr: f.addr,
            write: false,
        })?;
        let mut buf = vec![0u8; len as usize];
        let mut at = 0;
        for (gpa, n) in spans {
            self.memory
                .read_slice(&mut buf[at..at + n as usize], GuestAddress(gpa))
                .map_err(|_| MemoryFault { addr, write: false })?;
            at += n as usize;
        }
        Ok(buf)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemoryFault> {
        let spans = self
            .map
            .spans(addr, data.len() as u64, true)
            .map_err(|f| MemoryFault {
                addr: f.addr,
                write: true,
            })?;
        let mut at = 0;
        for (gpa, n) in spans {
            self.memory
                .write_slice(&data[at..at + n as usize], GuestAddress(gpa))
                .map_err(|_| MemoryFault { addr, write: true })?;
            at += n as usize;
        }
        Ok(())
    }
}

/// Code of the null guest: `mov dword [DOORBELL_VA + 8], 0; jmp back`, at
/// [`abi::CONTRACT_WINDOW_START`] + 0x1000. Every iteration is one bare VM
/// exit (`KVM_EXIT_MMIO`) from guest ring 3 and nothing else.
const NULL_GUEST_CODE: [u8; 13] = [
    0xc7, 0x04, 0x25, 0x08, 0xf0, 0xff, 0x7f, 0, 0, 0, 0, 0xeb, 0xf3,
];

/// Measures the cost of one bare exit round trip from guest ring 3 (store
/// to the doorbell, `KVM_EXIT_MMIO`, `KVM_RUN` again) in a null guest, the
/// yardstick of the performance goals: the median over `iterations` round
/// trips after 20 warm-up ones, in nanoseconds.
///
/// Errors: [`VmmError`] if the guest cannot be created or exits otherwise.
pub fn measure_exit_roundtrip(kvm: &Kvm, iterations: usize) -> Result<u64, VmmError> {
    const _: () = assert!(
        abi::DOORBELL_VA == 0x7fff_f000,
        "NULL_GUEST_CODE encodes the doorbell address"
    );
    let entry = abi::CONTRACT_WINDOW_START + 0x1000;
    let image = ContractImage {
        segments: vec![Segment {
            vaddr: entry,
            mem_size: NULL_GUEST_CODE.len() as u64,
            data: NULL_GUEST_CODE.to_vec(),
            access: Access::USER_CODE,
            index: 0,
        }],
        methods: Default::default(),
        prepared: None,
    };
    let shim = crate::shim()?;
    let mut guest = Guest::new(
        kvm,
        shim,
        &image,
        &GuestConfig {
            heap_size: 0,
            stack_size: abi::PAGE_SIZE,
        },
    )?;
    guest.write_call_info(&CallRequest {
        entry,
        input: b"",
        caller: [0; 32],
        timeout: None,
        gas_limit: 0,
    })?;
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations + 20 {
        let started = Instant::now();
        match guest.vcpu.run() {
            Ok(VcpuExit::MmioWrite(addr, _)) if addr == abi::DOORBELL_GPA + 8 => {}
            Ok(other) => {
                return Err(VmmError::Layout(format!(
                    "null guest: unexpected exit {other:?}"
                )))
            }
            Err(source) => {
                return Err(VmmError::Kvm {
                    op: "KVM_RUN",
                    source,
                })
            }
        }
        if i >= 20 {
            samples.push(started.elapsed().as_nanos() as u64);
        }
    }
    samples.sort_unstable();
    Ok(samples.get(samples.len() / 2).copied().unwrap_or(0))
}
