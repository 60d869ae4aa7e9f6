//! A KVM guest that runs one contract: one vCPU, no devices, no in-kernel
//! irqchip or PIT, guest memory through vm-memory, booted straight into
//! 64-bit long mode at the shim's `_start`.
//!
//! A guest serves call after call ("warm"): after a call that returns
//! cleanly it is reset to its pristine state ([`crate::memory`]) and the
//! next call resumes the runtime loop where it waits, with no VM creation,
//! memslot change or `KVM_SET_REGS`/`SREGS`/`FPU`. A call that ends any
//! other way poisons the guest; it refuses further calls and is dropped.
//! What each exit means is decided by [`crate::exit::next_action`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use kvm_bindings::kvm_regs;
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use nativm_abi as abi;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::backstop::Backstop;
use crate::elf::{ContractImage, Segment, ShimImage};
use crate::error::{kvm_err, memory_err, retry_interrupted, VmmError};
use crate::exit::{self, Action, Doorbells, VmExit};
use crate::host_call::{GuestMemory, HostCallHandler, HostCallOutcome};
use crate::layout::{self, Access, Mapping, PageTables, TrapReport, UserMap, Visibility};
use crate::memory::{self, ResetState, SlotPlan};
use crate::prepared::{CheckKind, PreparedCode};
use crate::vcpu::{self, RegisterAccess};
use crate::{cpuid, Exception};

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
    /// The wall-clock limit passed (a host-side failure of this execution,
    /// not a consensus outcome).
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
    /// Gas limit (at most [`abi::MAX_GAS_LIMIT`]).
    pub gas_limit: u64,
}

/// Addresses of the runtime page the VMM needs to recognise.
#[derive(Clone, Copy, Debug)]
struct Runtime {
    doorbells: Doorbells,
    set_return_copy: u64,
    gate_bad_return: u64,
}

/// A booted guest holding one contract.
pub struct Guest {
    vm: VmFd,
    vcpu: VcpuFd,
    memory: GuestMemoryMmap,
    page_tables: PageTables,
    registers: RegisterAccess,
    reset: ResetState,
    /// Length of the input of the last call (bytes to scrub before the next).
    input_len: u64,
    poisoned: bool,
    config: GuestConfig,
    runtime: Runtime,
    /// The contract's prepared code, if it runs prepared code.
    prepared: Option<Arc<PreparedCode>>,
}

/// Copies a segment's bytes into guest memory, its first page at guest
/// physical address `page_gpa`.
fn load_segment(
    memory: &GuestMemoryMmap,
    segment: &Segment,
    page_gpa: u64,
) -> Result<(), VmmError> {
    let gpa = page_gpa + (segment.vaddr - segment.page_start());
    memory
        .write_slice(&segment.data, GuestAddress(gpa))
        .map_err(|_| memory_err("loading a segment", gpa, segment.data.len() as u64))
}

/// The code table's valid slots: the prepared code's, or for a guest that
/// runs its ELF unprepared (the VMM's own tests) every byte of its
/// executable segments as itself; and the two runtime entries.
fn code_table_entries(shim: &ShimImage, contract: &ContractImage) -> Vec<(u64, u64)> {
    let mut entries: Vec<(u64, u64)> = match &contract.prepared {
        Some(p) => p.table_entries().collect(),
        None => contract
            .segments
            .iter()
            .filter(|s| s.access.execute)
            .flat_map(|s| (s.vaddr..s.vaddr + s.mem_size).map(|a| (a, a)))
            .collect(),
    };
    entries.push((abi::HOSTCALL_ENTRY, abi::HOSTCALL_ENTRY));
    entries.push((shim.runtime_return, shim.runtime_return));
    entries
}

/// Writes the code table's pages from `gpa` on and maps them read-only
/// (hidden from host-call pointers), one mapping per run of consecutive
/// pages.
fn map_code_table(
    memory: &GuestMemoryMmap,
    pt: &mut PageTables,
    mut gpa: u64,
    pages: &[(u64, Vec<u64>)],
) -> Result<(), VmmError> {
    let mut k = 0;
    while k < pages.len() {
        let first = pages[k].0;
        let n = pages[k..]
            .iter()
            .enumerate()
            .take_while(|(m, (offset, _))| *offset == first + *m as u64 * abi::PAGE_SIZE)
            .count();
        let bytes: Vec<u8> = pages[k..k + n]
            .iter()
            .flat_map(|(_, slots)| slots.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        memory
            .write_slice(&bytes, GuestAddress(gpa))
            .map_err(|_| memory_err("writing the code table", gpa, bytes.len() as u64))?;
        let len = n as u64 * abi::PAGE_SIZE;
        let mapping = Mapping {
            va: abi::CODE_TABLE_BASE + first,
            gpa,
            len,
            access: Access::USER_RO,
            name: "code table".into(),
        };
        pt.map_hidden(memory, mapping)?;
        gpa += len;
        k += n;
    }
    Ok(())
}

impl Guest {
    /// Creates a VM with one vCPU, loads the shim and `contract`, builds the
    /// page tables, code table and system tables, and sets the vCPU to start
    /// at the shim's entry in long mode.
    ///
    /// Errors: [`VmmError::Kvm`] when an ioctl fails, [`VmmError::Layout`]
    /// when the sizes in `config` are out of range or the page-table pool
    /// runs out, [`VmmError::GuestMemory`] if guest memory fails.
    pub fn new(
        kvm: &Kvm,
        shim: &ShimImage,
        contract: &ContractImage,
        config: &GuestConfig,
    ) -> Result<Guest, VmmError> {
        let plan = SlotPlan::new(contract, config.heap_size, config.stack_size)?;
        let prepared_len = contract
            .prepared
            .as_ref()
            .map_or(0, |p| memory::round_up_pages(p.code.len() as u64));
        let table = crate::prepared::table_pages(code_table_entries(shim, contract));
        let table_len = table.len() as u64 * abi::PAGE_SIZE;
        let vm = retry_interrupted(|| kvm.create_vm()).map_err(kvm_err("KVM_CREATE_VM"))?;
        let slots = [
            (0, layout::LOW_SLOT_SIZE),
            (abi::INPUT_BASE, abi::MAX_INPUT_LEN),
            (layout::LOGGED_SLOT_BASE, plan.logged_size),
            (layout::HOT_SLOT_BASE, plan.hot_size),
            (layout::PREPARED_SLOT_BASE, prepared_len + table_len),
        ];
        let memory = memory::create_memslots(&vm, &slots)?;
        let mut pt = PageTables::new(&memory)?;
        for segment in &shim.segments {
            load_segment(&memory, segment, segment.page_start())?;
        }
        for segment in &contract.segments {
            load_segment(&memory, segment, plan.placement(segment))?;
        }
        if let Some(p) = &contract.prepared {
            memory
                .write_slice(&p.code, GuestAddress(layout::PREPARED_SLOT_BASE))
                .map_err(|_| {
                    memory_err(
                        "loading the prepared code",
                        layout::PREPARED_SLOT_BASE,
                        p.code.len() as u64,
                    )
                })?;
        }
        for (mapping, visibility) in layout::address_space(&plan, shim, contract, prepared_len) {
            match visibility {
                Visibility::Listed => pt.map(&memory, mapping)?,
                Visibility::Hidden => pt.map_hidden(&memory, mapping)?,
            }
        }
        map_code_table(
            &memory,
            &mut pt,
            layout::PREPARED_SLOT_BASE + prepared_len,
            &table,
        )?;
        layout::write_system_tables(&memory, &shim.isr_addresses)?;

        let mut vcpu =
            retry_interrupted(|| vm.create_vcpu(0)).map_err(kvm_err("KVM_CREATE_VCPU"))?;
        vcpu.set_cpuid2(&cpuid::cpuid()?)
            .map_err(kvm_err("KVM_SET_CPUID2"))?;
        vcpu::setup_long_mode(&vcpu, pt.cr3(), shim.entry)?;
        let registers = RegisterAccess::enable(kvm, &mut vcpu);
        let reset = ResetState::save(&memory, &plan, contract)?;
        Ok(Guest {
            vm,
            vcpu,
            memory,
            page_tables: pt,
            registers,
            reset,
            input_len: 0,
            poisoned: false,
            config: GuestConfig {
                heap_size: plan.heap_size,
                stack_size: plan.stack_size,
            },
            runtime: Runtime {
                doorbells: Doorbells {
                    host_call: shim.hostcall_resume,
                    method_return: shim.return_resume,
                },
                set_return_copy: shim.set_return_copy,
                gate_bad_return: shim.gate_bad_return,
            },
            prepared: contract.prepared.clone(),
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

    /// The vCPU's special registers (`KVM_GET_SREGS`): control registers,
    /// EFER, segments.
    ///
    /// Errors: [`VmmError::Kvm`] if the ioctl fails.
    pub fn special_registers(&self) -> Result<kvm_bindings::kvm_sregs, VmmError> {
        self.vcpu.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))
    }

    /// The gas counters as the vCPU holds them now (`KVM_GET_FPU`): what a
    /// backstop check would read. Between calls they are zero.
    ///
    /// Errors: [`VmmError::Kvm`] if the ioctl fails.
    pub fn gas_counters(&self) -> Result<i64, VmmError> {
        Ok(vcpu::mmx_state(&self.vcpu, &mut 0)?.0)
    }

    /// How this guest's vCPU registers are read at exits.
    pub fn register_access(&self) -> RegisterAccess {
        self.registers
    }

    /// The ring-3 memory map (what host-call pointers may address).
    pub fn user_map(&self) -> &UserMap {
        self.page_tables.user_map()
    }

    /// The guest's configuration, with sizes rounded to pages.
    pub fn config(&self) -> &GuestConfig {
        &self.config
    }

    /// Whether the guest ended a call in any way but a clean return and can
    /// no longer run calls.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    fn write_call_info(&mut self, request: &CallRequest<'_>) -> Result<(), VmmError> {
        if request.gas_limit > abi::MAX_GAS_LIMIT {
            return Err(VmmError::GasLimitTooLarge {
                limit: request.gas_limit,
                max: abi::MAX_GAS_LIMIT,
            });
        }
        let len = request.input.len() as u64;
        if len > abi::MAX_INPUT_LEN {
            return Err(VmmError::InputTooLarge {
                len,
                max: abi::MAX_INPUT_LEN,
            });
        }
        use abi::call_info as off;
        let words = [
            (off::ABI_VERSION, u64::from(abi::ABI_VERSION)),
            (off::ENTRY, request.entry),
            (off::INPUT_PTR, abi::INPUT_BASE),
            (off::INPUT_LEN, len),
            (off::HEAP_BASE, abi::HEAP_BASE),
            (off::HEAP_SIZE, self.config.heap_size),
            (off::STACK_TOP, abi::STACK_TOP),
            (off::STACK_SIZE, self.config.stack_size),
            (off::GAS_LIMIT, request.gas_limit),
        ];
        // One copy of the whole page prefix (each vm-memory access costs a
        // region lookup: this is on every warm call's path).
        let mut page = [0u8; abi::call_info::SIZE as usize];
        for (offset, value) in words {
            let at = offset as usize;
            page[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        let at = off::CALLER as usize;
        page[at..at + 32].copy_from_slice(&request.caller);
        self.memory
            .write_slice(&page, GuestAddress(abi::CALL_INFO))
            .map_err(|_| memory_err("writing the call info", abi::CALL_INFO, off::SIZE))?;
        self.memory
            .write_slice(request.input, GuestAddress(abi::INPUT_BASE))
            .map_err(|_| memory_err("writing the input", abi::INPUT_BASE, len))?;
        // Scrub what is left of a longer earlier input: a warm guest must
        // not show one call's input to the next.
        if len < self.input_len {
            memory::zero_guest(
                &self.memory,
                abi::INPUT_BASE + len,
                (self.input_len - len) as usize,
            )?;
        }
        self.input_len = len;
        Ok(())
    }

    /// Runs one call to completion: writes the call info and input, enters
    /// the guest, services host calls through `handler`, and returns how the
    /// call ended with its counters. After a clean return the guest is reset
    /// and ready for the next call; after anything else it is poisoned.
    /// Must be called on the same thread each time (KVM binds a vCPU to the
    /// thread that last ran it, and moving it is slow).
    ///
    /// Errors: [`VmmError::Poisoned`] for a guest whose earlier call failed;
    /// [`VmmError::InputTooLarge`], [`VmmError::GasLimitTooLarge`] for a bad
    /// request; otherwise [`VmmError`] only for host-side failures (an ioctl
    /// or guest memory access failed); everything the contract does is a
    /// [`CallExit`].
    pub fn call(
        &mut self,
        request: &CallRequest<'_>,
        handler: &mut dyn HostCallHandler,
    ) -> Result<(CallExit, CallStats), VmmError> {
        if self.poisoned {
            return Err(VmmError::Poisoned);
        }
        self.write_call_info(request)?;
        let started = Instant::now();
        let backstop = Backstop::begin(request.timeout);
        let mut stats = CallStats::default();
        // Gas left as last read. `write_call_info` checked the limit
        // against `MAX_GAS_LIMIT` (2^62), so it converts.
        let mut gas = i64::try_from(request.gas_limit).map_err(|_| VmmError::GasLimitTooLarge {
            limit: request.gas_limit,
            max: abi::MAX_GAS_LIMIT,
        })?;
        // Whether the guest is back in its runtime loop (reusable).
        let mut clean = false;
        let result = loop {
            match self.step(handler, &backstop, &mut stats, &mut gas) {
                Ok(None) => continue,
                Ok(Some((exit, returned))) => {
                    clean = returned;
                    break Ok(exit);
                }
                Err(e) => break Err(e),
            }
        };
        drop(backstop);
        // Only a clean return (out of gas or not) leaves the guest in a
        // state the runtime loop can continue from.
        self.poisoned = !clean;
        let exit = result?;
        if exit == CallExit::OutOfGas {
            stats.gas_overshoot = gas.unsigned_abs();
            stats.gas_left = 0;
        } else {
            // A negative counter left means no gas left.
            stats.gas_left = u64::try_from(gas).unwrap_or(0);
        }
        if !self.poisoned {
            let reset_started = Instant::now();
            stats.pages_reset = self.reset.reset(&self.vm, &self.memory)?;
            stats.ioctls += 1;
            stats.reset_ns = reset_started.elapsed().as_nanos() as u64;
        }
        stats.wall_time_ns = started.elapsed().as_nanos() as u64;
        Ok((exit, stats))
    }

    /// Runs the vCPU to its next exit and acts on it: `None` to run on,
    /// else how the call ended and whether the guest is back in its loop.
    fn step(
        &mut self,
        handler: &mut dyn HostCallHandler,
        backstop: &Backstop,
        stats: &mut CallStats,
        gas: &mut i64,
    ) -> Result<Option<(CallExit, bool)>, VmmError> {
        stats.vm_exits += 1;
        stats.ioctls += 1;
        let exit = match self.vcpu.run() {
            Ok(e) => VmExit::from_vcpu(&e),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => VmExit::Interrupted,
            Err(source) => {
                return Err(VmmError::Kvm {
                    op: "KVM_RUN",
                    source,
                })
            }
        };
        let regs = match exit {
            VmExit::Mmio { .. } => self.registers.read(&self.vcpu, &mut stats.ioctls)?,
            _ => kvm_regs::default(),
        };
        let ended = |exit: CallExit| Ok(Some((exit, false)));
        match exit::next_action(&exit, regs.rip, &self.runtime.doorbells) {
            Action::HostCall => self.host_call(regs, handler, backstop, stats, gas),
            Action::MethodReturned => self
                .method_returned(&regs, handler, gas)
                .map(|e| Some((e, true))),
            Action::Trap => ended(self.trap(stats, gas)?),
            Action::Check => {
                stats.gas_checks += 1;
                *gas = vcpu::mmx_state(&self.vcpu, &mut stats.ioctls)?.0;
                if *gas < 0 {
                    return ended(CallExit::OutOfGas);
                }
                if backstop.timed_out() {
                    return ended(CallExit::Timeout);
                }
                Ok(None)
            }
            Action::ForgedExit { rip, gpa, write } => {
                // Ran out before? Then the access never happened in the
                // metered program (as for a trap).
                *gas = vcpu::mmx_state(&self.vcpu, &mut stats.ioctls)?.0;
                if *gas < 0 {
                    return ended(CallExit::OutOfGas);
                }
                if rip == self.runtime.set_return_copy {
                    return ended(self.set_return_fault(&regs, gpa, stats)?);
                }
                ended(self.forged_exit(rip, gpa, write))
            }
            Action::Crash(msg) => {
                *gas = vcpu::mmx_state(&self.vcpu, &mut stats.ioctls)?.0;
                if *gas < 0 {
                    return ended(CallExit::OutOfGas);
                }
                ended(CallExit::Crashed(msg))
            }
        }
    }

    /// Services the host call in the gate's registers `regs`.
    fn host_call(
        &mut self,
        mut regs: kvm_regs,
        handler: &mut dyn HostCallHandler,
        backstop: &Backstop,
        stats: &mut CallStats,
        gas: &mut i64,
    ) -> Result<Option<(CallExit, bool)>, VmmError> {
        *gas = vcpu::gas_left([regs.rax, regs.r9, regs.r10, regs.r11]);
        // Below zero, the call is out of gas.
        let Ok(mut left) = u64::try_from(*gas) else {
            return Ok(Some((CallExit::OutOfGas, false)));
        };
        if backstop.timed_out() {
            return Ok(Some((CallExit::Timeout, false)));
        }
        stats.host_calls += 1;
        let args = [regs.rsi, regs.rdx, regs.rcx, regs.r8, 0];
        let outcome = {
            let mut view = self
                .reset
                .user_memory(&self.memory, self.page_tables.user_map());
            handler.host_call(&mut view, regs.rdi, args, &mut left)
        };
        // A handler only charges, so `left` stays below 2^63; clamped
        // rather than trusted.
        *gas = i64::try_from(left).unwrap_or(i64::MAX);
        let exit = match outcome {
            HostCallOutcome::Resume(value) => {
                regs.rax = value;
                regs.r9 = left;
                self.registers
                    .write(&mut self.vcpu, &regs, &mut stats.ioctls)?;
                return Ok(None);
            }
            HostCallOutcome::Revert(msg) => CallExit::Reverted(msg),
            HostCallOutcome::Fault(msg) => CallExit::HostCallFault(msg),
            HostCallOutcome::HostError(msg) => CallExit::HostError(msg),
            HostCallOutcome::Timeout => CallExit::Timeout,
            HostCallOutcome::OutOfGas => CallExit::OutOfGas,
        };
        Ok(Some((exit, false)))
    }

    /// The method returned: gas and the return-data length are in `regs`.
    fn method_returned(
        &mut self,
        regs: &kvm_regs,
        handler: &mut dyn HostCallHandler,
        gas: &mut i64,
    ) -> Result<CallExit, VmmError> {
        *gas = vcpu::gas_left([regs.rax, regs.r9, regs.r10, regs.r11]);
        if *gas < 0 {
            return Ok(CallExit::OutOfGas);
        }
        let len = regs.rdx;
        if len > abi::limits::MAX_RETURN_LEN {
            return Ok(CallExit::Crashed(format!(
                "the runtime reported {len} bytes of return data"
            )));
        }
        if len > 0 {
            let view = self
                .reset
                .user_memory(&self.memory, self.page_tables.user_map());
            let data = view
                .read(abi::RETURN_BUFFER, len)
                .map_err(|f| memory_err("reading the return data", f.addr, len))?;
            handler.set_return_data(data);
        }
        Ok(CallExit::Returned)
    }

    /// The fault of the gate's copy of `set_return` data at `address` (a
    /// page fault, or a read of the doorbell page): a host-call trap naming
    /// the argument. `rsi` and `rcx` have advanced by what was copied;
    /// `mm7` holds the length.
    fn set_return_fault(
        &self,
        regs: &kvm_regs,
        address: u64,
        stats: &mut CallStats,
    ) -> Result<CallExit, VmmError> {
        let len = vcpu::mmx_state(&self.vcpu, &mut stats.ioctls)?.1;
        let ptr = regs.rsi.wrapping_sub(len.wrapping_sub(regs.rcx));
        let address = if (abi::DOORBELL_GPA..abi::DOORBELL_GPA + abi::PAGE_SIZE).contains(&address)
        {
            abi::DOORBELL_VA + (address - abi::DOORBELL_GPA)
        } else {
            address
        };
        Ok(CallExit::HostCallFault(format!(
            "set_return: data {ptr:#x}+{len} is not readable by the contract (address {address:#x})"
        )))
    }

    /// A contract access to the doorbell: the trap `forged_exit`.
    fn forged_exit(&self, rip: u64, gpa: u64, write: bool) -> CallExit {
        // RIP is past the accessing instruction: name the one before it.
        let at = rip.saturating_sub(1);
        let original = self.prepared.as_ref().and_then(|p| p.original_address(at));
        let va = abi::DOORBELL_VA + (gpa & (abi::PAGE_SIZE - 1));
        let place = original.map_or(format!("{rip:#x}"), |o| format!("{o:#x}"));
        CallExit::Exception(Exception {
            vector: 14,
            name: "forged_exit",
            rip: original.unwrap_or(rip),
            error_code: u64::from(write) << 1,
            fault_address: Some(va),
            in_contract: true,
            message: format!(
                "{} the runtime's doorbell at {va:#x} from {place}: only the runtime may leave the guest",
                if write { "write to" } else { "read of" }
            ),
        })
    }

    /// The shim reported an exception: how the call ends.
    fn trap(&mut self, stats: &mut CallStats, gas: &mut i64) -> Result<CallExit, VmmError> {
        // Ran out before it trapped? Then the trap never happened in the
        // metered program.
        *gas = vcpu::mmx_state(&self.vcpu, &mut stats.ioctls)?.0;
        if *gas < 0 {
            return Ok(CallExit::OutOfGas);
        }
        let report = TrapReport::read(&self.memory)?;
        if report.rip == self.runtime.set_return_copy && report.vector == 14 {
            let regs = self.vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
            stats.ioctls += 1;
            return self.set_return_fault(&regs, report.cr2, stats);
        }
        let checked = report.vector == 6 && report.magic == layout::TRAP_MAGIC;
        if checked
            && (report.rip == self.runtime.gate_bad_return || self.check_site(report.rip).is_some())
        {
            let regs = self.vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
            stats.ioctls += 1;
            return Ok(CallExit::Exception(self.failed_check(&report, &regs)));
        }
        Ok(match self.decode_trap(&report) {
            Some(exception) => CallExit::Exception(exception),
            None => CallExit::Crashed(format!("incomplete trap report: {report:x?}")),
        })
    }

    fn check_site(&self, rip: u64) -> Option<crate::prepared::CheckSite> {
        self.prepared.as_ref()?.check_site(rip).copied()
    }

    /// The exception of a checked transfer whose target was at or above
    /// the code table's limit (its `ud2` trapped), naming the target.
    fn failed_check(&self, report: &TrapReport, regs: &kvm_regs) -> Exception {
        let gpr = |n: u8| {
            [
                report.rax, regs.rcx, report.rdx, regs.rbx, report.rsp, regs.rbp, regs.rsi,
                regs.rdi, regs.r8, regs.r9, regs.r10, regs.r11, regs.r12, regs.r13, regs.r14,
                regs.r15,
            ][usize::from(n & 15)]
        };
        let stack_top = || {
            let view = UserView {
                memory: &self.memory,
                map: self.page_tables.user_map(),
            };
            view.read_u64(report.rsp)
        };
        let (name, what, target, original) = match self.check_site(report.rip) {
            None => {
                let t = slot_target(regs.r9);
                ("invalid_return", "host call returned", Some(t), None)
            }
            Some(site) => {
                let original = Some(u64::from(site.original));
                match site.kind {
                    CheckKind::IndirectRegister { register } => (
                        "invalid_branch_target",
                        "indirect jump or call",
                        Some(gpr(register)),
                        original,
                    ),
                    CheckKind::IndirectMemory => {
                        // The target, or its invalid slot.
                        let t = slot_target(report.rax);
                        (
                            "invalid_branch_target",
                            "indirect jump or call",
                            Some(t),
                            original,
                        )
                    }
                    CheckKind::Return => ("invalid_return", "return", stack_top(), original),
                }
            }
        };
        let at = original.map_or(String::new(), |o| format!(" at {o:#x}"));
        let target = target.map_or("an unreadable address".to_string(), |t| format!("{t:#x}"));
        Exception {
            vector: 6,
            name,
            rip: original.unwrap_or(report.rip),
            error_code: 0,
            fault_address: None,
            in_contract: true,
            message: format!(
                "{what}{at} to {target}, which is not the start of a verified instruction or a return site"
            ),
        }
    }

    /// Decodes a trap report, naming addresses of prepared code by the
    /// original instruction they run and faults of the code-table checks
    /// as such.
    fn decode_trap(&self, report: &TrapReport) -> Option<Exception> {
        let mut report = *report;
        let Some(p) = &self.prepared else {
            return Exception::from_report(&report, self.page_tables.user_map());
        };
        let origin = p.original_address(report.rip);
        if let Some(original) = origin {
            report.rip = original;
        }
        let mut exception = Exception::from_report(&report, self.page_tables.user_map())?;
        if report.vector == 14 {
            let kind = origin.and_then(|o| p.check_kind_at(o));
            if let Some((name, message)) =
                crate::prepared::describe_check_fault(report.cr2, origin, kind)
            {
                exception.name = name;
                exception.message = message;
            }
        }
        Some(exception)
    }
}

/// The target a failed check names: a value held where the first check
/// failed is the target itself; an invalid code-table slot
/// (`INVALID_TARGET_BASE` + target, below `INVALID_TARGET_BASE` +
/// `CODE_TABLE_LIMIT`) names its target.
fn slot_target(value: u64) -> u64 {
    match value.checked_sub(abi::INVALID_TARGET_BASE) {
        Some(t) if t < abi::CODE_TABLE_LIMIT => t,
        _ => value,
    }
}

/// A read-only checked view for the VMM's own diagnostics.
struct UserView<'a> {
    memory: &'a GuestMemoryMmap,
    map: &'a UserMap,
}

impl UserView<'_> {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        let spans = self.map.spans(addr, 8, false).ok()?;
        let mut bytes = [0u8; 8];
        let mut at = 0;
        for (gpa, n) in spans {
            self.memory
                .read_slice(&mut bytes[at..at + n as usize], GuestAddress(gpa))
                .ok()?;
            at += n as usize;
        }
        Some(u64::from_le_bytes(bytes))
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
            Ok(kvm_ioctls::VcpuExit::MmioWrite(addr, _)) if addr == abi::DOORBELL_GPA + 8 => {}
            Ok(other) => {
                return Err(VmmError::UnexpectedExit {
                    what: format!("null guest: {other:?}"),
                })
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
