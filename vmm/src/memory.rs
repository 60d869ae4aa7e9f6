//! Guest memory: the memslot plan, the memslots themselves, the checked
//! ring-3 view the host calls use, and the reset after a call.
//!
//! Every page a call can write lives in one of two small memslots (see
//! [`crate::layout`]): the dirty-logged slot (writable contract segments,
//! heap, cold stack, cold return buffer) and the hot slot (the top stack
//! pages and the first return-buffer page, zeroed after every call). The
//! reset restores every page written during the call: those KVM's dirty
//! log names (written by the guest) and those the host wrote through
//! [`UserMemory`] on the contract's behalf (recorded there, since writes
//! through the host mapping never reach the dirty log).
//!
//! Where the kernel has `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`, the log is
//! read without write-protecting the pages again (Linux
//! `Documentation/virt/kvm/api.rst`, 4.118 `KVM_CLEAR_DIRTY_LOG`): a page
//! the call changed stays writable and stays in the log, and the reset
//! compares it with its pristine contents after every later call,
//! restoring it if it changed; once a call leaves it unchanged, the reset
//! clears its log bit, which write-protects it again. So a call that
//! writes the same 8 MiB as the call before pays no write-protection
//! fault (one VM-internal exit per 4 KiB page in the legacy mode), only
//! the compare-and-restore of those pages. Without the capability, the
//! legacy mode: every read of the log protects every page again.

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use nativm_abi as abi;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend as _, GuestMemoryMmap, GuestMemoryRegion};

use crate::elf::{ContractImage, Segment};
use crate::error::{kvm_err, memory_err, LayoutError, VmmError};
use crate::host_call::{GuestMemory, MemoryFault};
use crate::layout::{self, UserMap};

/// Index of the dirty-logged memslot.
pub const LOGGED_SLOT: u32 = 2;

/// Rounds `bytes` up to whole pages.
pub fn round_up_pages(bytes: u64) -> u64 {
    bytes.div_ceil(abi::PAGE_SIZE) * abi::PAGE_SIZE
}

/// Where each writable part of a guest goes in guest physical memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotPlan {
    /// Heap size, in bytes (whole pages).
    pub heap_size: u64,
    /// Stack size, in bytes (whole pages, at least one).
    pub stack_size: u64,
    /// `(program header index, guest physical address)` of each writable
    /// contract segment, in the logged slot.
    pub segments: Vec<(usize, u64)>,
    /// Guest physical address of the heap (logged slot).
    pub heap_gpa: u64,
    /// Guest physical address of the stack below its hot pages (logged).
    pub cold_stack_gpa: u64,
    /// Bytes of stack below the hot pages.
    pub cold_stack: u64,
    /// Bytes of stack in the hot slot (the top pages).
    pub hot_stack: u64,
    /// Guest physical address of the return buffer past its first page.
    pub cold_return_gpa: u64,
    /// Bytes of the return buffer past its first page.
    pub cold_return: u64,
    /// Guest physical address of the first return-buffer page (hot slot).
    pub hot_return_gpa: u64,
    /// Size of the logged slot, in bytes.
    pub logged_size: u64,
    /// Size of the hot slot, in bytes.
    pub hot_size: u64,
}

impl SlotPlan {
    /// Plans the writable memory of `contract` with a heap of `heap_size`
    /// and a stack of `stack_size` bytes (both rounded up to pages).
    ///
    /// Errors: [`LayoutError::HeapTooLarge`], [`LayoutError::StackTooLarge`].
    pub fn new(
        contract: &ContractImage,
        heap_size: u64,
        stack_size: u64,
    ) -> Result<Self, LayoutError> {
        let heap_size = round_up_pages(heap_size);
        let stack_size = round_up_pages(stack_size.max(abi::PAGE_SIZE));
        if heap_size > abi::MAX_HEAP_SIZE {
            return Err(LayoutError::HeapTooLarge {
                size: heap_size,
                max: abi::MAX_HEAP_SIZE,
            });
        }
        if stack_size > abi::MAX_STACK_SIZE {
            return Err(LayoutError::StackTooLarge {
                size: stack_size,
                max: abi::MAX_STACK_SIZE,
            });
        }
        let mut logged = 0u64;
        let mut segments = Vec::new();
        for segment in contract.segments.iter().filter(|s| s.access.write) {
            segments.push((segment.index, layout::LOGGED_SLOT_BASE + logged));
            logged += segment.page_end() - segment.page_start();
        }
        let heap_gpa = layout::LOGGED_SLOT_BASE + logged;
        logged += heap_size;
        let hot_stack = (layout::HOT_STACK_PAGES * abi::PAGE_SIZE).min(stack_size);
        let cold_stack = stack_size - hot_stack;
        let cold_stack_gpa = layout::LOGGED_SLOT_BASE + logged;
        logged += cold_stack;
        let cold_return = abi::limits::MAX_RETURN_LEN - abi::PAGE_SIZE;
        let cold_return_gpa = layout::LOGGED_SLOT_BASE + logged;
        logged += cold_return;
        Ok(SlotPlan {
            heap_size,
            stack_size,
            segments,
            heap_gpa,
            cold_stack_gpa,
            cold_stack,
            hot_stack,
            cold_return_gpa,
            cold_return,
            hot_return_gpa: layout::HOT_SLOT_BASE + hot_stack,
            logged_size: logged,
            hot_size: hot_stack + abi::PAGE_SIZE,
        })
    }

    /// Guest physical address of a contract segment's first page: its
    /// place in the logged slot if writable, else its virtual address.
    pub fn placement(&self, segment: &Segment) -> u64 {
        self.segments
            .iter()
            .find(|(index, _)| *index == segment.index)
            .map_or(segment.page_start(), |(_, gpa)| *gpa)
    }

    /// Guest physical ranges whose pristine contents are zero.
    fn zeroed(&self) -> Vec<(u64, u64)> {
        vec![
            (self.heap_gpa, self.heap_gpa + self.heap_size),
            (self.cold_stack_gpa, self.cold_stack_gpa + self.cold_stack),
            (
                self.cold_return_gpa,
                self.cold_return_gpa + self.cold_return,
            ),
        ]
    }
}

/// Zeroes `len` bytes of guest memory at `gpa` with one `memset`
/// (vm-memory's volatile copies are several times slower for whole pages).
///
/// Errors: [`VmmError::GuestMemory`] if the range is not inside one region.
pub fn zero_guest(memory: &GuestMemoryMmap, gpa: u64, len: usize) -> Result<(), VmmError> {
    let slice = memory
        .get_slice(GuestAddress(gpa), len)
        .map_err(|_| memory_err("zeroing", gpa, len as u64))?;
    let guard = slice.ptr_guard_mut();
    // SAFETY: `slice` covers `len` bytes of a live guest mapping owned by
    // `memory`. Only the thread running the vCPU calls this, between
    // KVM_RUNs, so the guest does not touch the memory meanwhile; guest
    // memory is plain bytes, so any value (zero) is valid.
    unsafe { std::ptr::write_bytes(guard.as_ptr(), 0, len) };
    Ok(())
}

/// Allocates the guest's memory regions (`(guest physical base, size)`
/// each, slot `i` = region `i`) and registers them with KVM, the
/// [`LOGGED_SLOT`] with dirty logging.
///
/// Errors: [`VmmError::GuestMemory`] if allocation fails, [`VmmError::Kvm`]
/// if KVM refuses a slot.
pub fn create_memslots(vm: &VmFd, slots: &[(u64, u64)]) -> Result<GuestMemoryMmap, VmmError> {
    let ranges: Vec<_> = slots
        .iter()
        .map(|&(b, l)| (GuestAddress(b), l as usize))
        .collect();
    let memory = GuestMemoryMmap::<()>::from_ranges(&ranges).map_err(|_| {
        memory_err(
            "allocating guest memory",
            slots[0].0,
            slots.iter().map(|s| s.1).sum(),
        )
    })?;
    for (index, &(base, len)) in slots.iter().enumerate() {
        let region = memory
            .find_region(GuestAddress(base))
            .ok_or_else(|| memory_err("finding a memslot's region", base, len))?;
        let host_addr = memory
            .get_host_address(GuestAddress(base))
            .map_err(|_| memory_err("mapping a memslot", base, len))?;
        let slot = kvm_userspace_memory_region {
            slot: index as u32,
            // Dirty logging finds the pages a call wrote, so the reset
            // after it costs O(pages written), not O(guest size).
            flags: if index as u32 == LOGGED_SLOT {
                kvm_bindings::KVM_MEM_LOG_DIRTY_PAGES
            } else {
                0
            },
            guest_phys_addr: base,
            memory_size: region.len(),
            userspace_addr: host_addr as u64,
        };
        // SAFETY: the region is a live mapping of `memory_size` bytes owned
        // by `memory`, which the guest keeps alive as long as the VM.
        crate::error::retry_interrupted(|| unsafe { vm.set_user_memory_region(slot) })
            .map_err(kvm_err("KVM_SET_USER_MEMORY_REGION"))?;
    }
    Ok(memory)
}

/// `KVM_CLEAR_DIRTY_LOG`: `_IOWR(KVMIO, 0xc0, struct kvm_clear_dirty_log)`
/// (Linux `include/uapi/linux/kvm.h`; the struct is 24 bytes).
const KVM_CLEAR_DIRTY_LOG: libc::c_ulong = 0xc018_aec0;

/// Set (to anything) when a guest is created, this environment variable
/// keeps that guest's dirty log in the legacy mode (every page
/// write-protected again after every call), for measurements.
pub const LEGACY_DIRTY_LOG_ENV: &str = "NATIVM_LEGACY_DIRTY_LOG";

/// A zero page, to compare pages whose pristine contents are zero with.
static ZERO_PAGE: [u8; abi::PAGE_SIZE as usize] = [0; abi::PAGE_SIZE as usize];

/// Turns on `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2` (without
/// `KVM_DIRTY_LOG_INITIALLY_SET`: pages start write-protected, as in the
/// legacy mode); `false` if the kernel lacks or refuses it, or if the
/// environment variable [`LEGACY_DIRTY_LOG_ENV`] is set when the guest is
/// created (for measurements: `benches/benches/real_contracts.rs` compares
/// the two modes in one run).
fn enable_manual_protect(vm: &VmFd) -> bool {
    if std::env::var_os(LEGACY_DIRTY_LOG_ENV).is_some() {
        return false;
    }
    let cap = kvm_bindings::kvm_enable_cap {
        cap: kvm_bindings::KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
        args: [
            u64::from(kvm_bindings::KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE),
            0,
            0,
            0,
        ],
        ..Default::default()
    };
    vm.enable_cap(&cap).is_ok()
}

/// Clears the log bits set in `bits` (one bit per page of the logged
/// slot, from its first page), which write-protects those pages again.
///
/// Errors: [`VmmError::Kvm`] if KVM refuses the ioctl.
fn clear_dirty_log(vm: &VmFd, bits: &mut [u64], pages: u64) -> Result<(), VmmError> {
    let mut arg = kvm_bindings::kvm_clear_dirty_log {
        slot: LOGGED_SLOT,
        // The whole slot: KVM needs a multiple of 64 unless the range
        // ends at the slot's end, which it does.
        num_pages: u32::try_from(pages).unwrap_or(u32::MAX),
        first_page: 0,
        ..Default::default()
    };
    arg.__bindgen_anon_1.dirty_bitmap = bits.as_mut_ptr().cast();
    // SAFETY: `arg` is a valid kvm_clear_dirty_log whose bitmap points at
    // `bits`, which holds one bit for each of the slot's `pages` pages
    // (the same length KVM_GET_DIRTY_LOG returned) and outlives the call;
    // KVM only reads it.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(vm),
            KVM_CLEAR_DIRTY_LOG,
            &mut arg,
        )
    };
    if rc != 0 {
        return Err(kvm_err("KVM_CLEAR_DIRTY_LOG")(kvm_ioctls::Error::last()));
    }
    Ok(())
}

/// What one reset did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResetStats {
    /// Pages restored to their pristine contents.
    pub pages: u64,
    /// ioctls it made (`KVM_GET_DIRTY_LOG`, and `KVM_CLEAR_DIRTY_LOG`
    /// when pages return to write protection).
    pub ioctls: u64,
}

/// How a page compared with its pristine contents.
enum PageState {
    /// It differed and was restored.
    Restored,
    /// It was already pristine.
    Pristine,
    /// Not a page a call can write (hot pages are zeroed whole).
    NotWritable,
}

/// What the reset restores: pristine copies of the contract's writable
/// segment pages, the ranges that start zeroed, and the pages the host
/// wrote during the call.
pub struct ResetState {
    /// Pristine contents of every page of the writable segments, sorted by
    /// guest physical address.
    pristine: Vec<(u64, Box<[u8]>)>,
    /// Guest physical ranges whose pristine contents are zero.
    zeroed: Vec<(u64, u64)>,
    /// Pages (guest physical) the host wrote during the current call.
    host_dirty: Vec<u64>,
    logged_size: u64,
    hot_size: u64,
    /// Whether `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2` is on (see the module
    /// docs): changed pages stay writable and are compared every reset.
    manual_protect: bool,
}

impl ResetState {
    /// Saves the pristine state of a freshly loaded guest, and turns on
    /// manual dirty-log protection for `vm` where the kernel has it (no
    /// guest write has been logged yet: the slots were just created).
    ///
    /// Errors: [`VmmError::GuestMemory`] if a page cannot be read.
    pub fn save(
        vm: &VmFd,
        memory: &GuestMemoryMmap,
        plan: &SlotPlan,
        contract: &ContractImage,
    ) -> Result<Self, VmmError> {
        let mut pristine = Vec::new();
        for segment in contract.segments.iter().filter(|s| s.access.write) {
            let base = plan.placement(segment);
            for page in (base..base + segment.page_end() - segment.page_start())
                .step_by(abi::PAGE_SIZE as usize)
            {
                let mut bytes = vec![0u8; abi::PAGE_SIZE as usize].into_boxed_slice();
                memory
                    .read_slice(&mut bytes, GuestAddress(page))
                    .map_err(|_| memory_err("saving a pristine page", page, abi::PAGE_SIZE))?;
                pristine.push((page, bytes));
            }
        }
        pristine.sort_by_key(|p| p.0);
        Ok(ResetState {
            pristine,
            zeroed: plan.zeroed(),
            host_dirty: Vec::new(),
            logged_size: plan.logged_size,
            hot_size: plan.hot_size,
            manual_protect: enable_manual_protect(vm),
        })
    }

    /// Whether the reset runs in manual dirty-log protection mode.
    pub fn manual_protect(&self) -> bool {
        self.manual_protect
    }

    /// The checked ring-3 view of `memory` for host calls, recording the
    /// pages it writes.
    pub fn user_memory<'a>(
        &'a mut self,
        memory: &'a GuestMemoryMmap,
        map: &'a UserMap,
    ) -> UserMemory<'a> {
        UserMemory {
            memory,
            map,
            host_dirty: &mut self.host_dirty,
        }
    }

    /// Returns every page written during the call to its pristine contents:
    /// the pages `KVM_GET_DIRTY_LOG` lists and those the host wrote, plus
    /// the hot slot, zeroed whole.
    ///
    /// Legacy mode: reading the log clears it and write-protects every
    /// page again; each listed page is restored. Manual mode (module
    /// docs): the log keeps its bits; each listed page is compared with
    /// its pristine contents and restored if it differs (then it stays
    /// writable and listed), or, if it did not change, its bit is cleared
    /// (`KVM_CLEAR_DIRTY_LOG`), which write-protects it again.
    ///
    /// Errors: [`VmmError::Kvm`] if the dirty log cannot be read or
    /// cleared, [`VmmError::GuestMemory`] if guest memory cannot be
    /// written.
    pub fn reset(&mut self, vm: &VmFd, memory: &GuestMemoryMmap) -> Result<ResetStats, VmmError> {
        let mut bitmap = vm
            .get_dirty_log(LOGGED_SLOT, self.logged_size as usize)
            .map_err(kvm_err("KVM_GET_DIRTY_LOG"))?;
        let mut stats = ResetStats {
            pages: self.hot_size / abi::PAGE_SIZE,
            ioctls: 1,
        };
        zero_guest(memory, layout::HOT_SLOT_BASE, self.hot_size as usize)?;
        let mut host_dirty = std::mem::take(&mut self.host_dirty);
        host_dirty.sort_unstable();
        host_dirty.dedup();
        let mut clear_any = false;
        for (w, word) in bitmap.iter_mut().enumerate() {
            let mut bits = *word;
            // In manual mode, the bits left in `word` are those to clear.
            let mut clear = 0u64;
            while bits != 0 {
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                let page =
                    layout::LOGGED_SLOT_BASE + (w as u64 * 64 + u64::from(bit)) * abi::PAGE_SIZE;
                if host_dirty.binary_search(&page).is_ok() {
                    continue; // restored below, and left writable
                }
                if !self.manual_protect {
                    stats.pages += u64::from(self.restore_page(memory, page)?);
                    continue;
                }
                match self.restore_if_changed(memory, page)? {
                    PageState::Restored => stats.pages += 1,
                    PageState::Pristine | PageState::NotWritable => clear |= 1 << bit,
                }
            }
            *word = clear;
            clear_any |= clear != 0;
        }
        for &page in &host_dirty {
            stats.pages += u64::from(self.restore_page(memory, page)?);
        }
        host_dirty.clear();
        self.host_dirty = host_dirty;
        if self.manual_protect && clear_any {
            clear_dirty_log(vm, &mut bitmap, self.logged_size / abi::PAGE_SIZE)?;
            stats.ioctls += 1;
        }
        Ok(stats)
    }

    /// The pristine contents of logged page `page`: its saved copy, the
    /// zero page, or `None` if a call cannot write it.
    fn pristine_of(&self, page: u64) -> Option<&[u8]> {
        match self.pristine.binary_search_by_key(&page, |p| p.0) {
            Ok(i) => Some(&self.pristine[i].1),
            Err(_) if self.zeroed.iter().any(|&(a, b)| a <= page && page < b) => Some(&ZERO_PAGE),
            Err(_) => None,
        }
    }

    /// Restores one logged page; `false` if it is not a page a call can
    /// write (hot pages are zeroed whole by [`ResetState::reset`]).
    fn restore_page(&self, memory: &GuestMemoryMmap, page: u64) -> Result<bool, VmmError> {
        let Some(pristine) = self.pristine_of(page) else {
            return Ok(false);
        };
        memory
            .write_slice(pristine, GuestAddress(page))
            .map_err(|_| memory_err("restoring a page", page, abi::PAGE_SIZE))?;
        Ok(true)
    }

    /// Restores one logged page if it differs from its pristine contents.
    fn restore_if_changed(
        &self,
        memory: &GuestMemoryMmap,
        page: u64,
    ) -> Result<PageState, VmmError> {
        let Some(pristine) = self.pristine_of(page) else {
            return Ok(PageState::NotWritable);
        };
        let len = abi::PAGE_SIZE as usize;
        let slice = memory
            .get_slice(GuestAddress(page), len)
            .map_err(|_| memory_err("comparing a page", page, abi::PAGE_SIZE))?;
        let guard = slice.ptr_guard_mut();
        // SAFETY: `slice` covers `len` bytes of a live guest mapping owned
        // by `memory`; only the vCPU thread calls this, between KVM_RUNs,
        // so nothing writes the page while it is read; any bytes are valid
        // u8s.
        let current = unsafe { std::slice::from_raw_parts(guard.as_ptr(), len) };
        if current == pristine {
            return Ok(PageState::Pristine);
        }
        // SAFETY: as above, and the write does not overlap `pristine`
        // (host memory of this struct, not guest memory).
        unsafe { std::ptr::copy_nonoverlapping(pristine.as_ptr(), guard.as_ptr(), len) };
        Ok(PageState::Restored)
    }
}

/// Guest memory as ring 3 sees it: every access is checked against the
/// user map first, then done through the host mapping; the pages written
/// are recorded for the reset.
pub struct UserMemory<'a> {
    memory: &'a GuestMemoryMmap,
    map: &'a UserMap,
    host_dirty: &'a mut Vec<u64>,
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
            let first = gpa & !(abi::PAGE_SIZE - 1);
            self.host_dirty
                .extend((first..gpa + n).step_by(abi::PAGE_SIZE as usize));
            self.memory
                .write_slice(&data[at..at + n as usize], GuestAddress(gpa))
                .map_err(|_| MemoryFault { addr, write: true })?;
            at += n as usize;
        }
        Ok(())
    }
}
