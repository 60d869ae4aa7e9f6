//! Debugging one call: the guest pauses at debug exits and a
//! [`DebugHook`] (the embedder's debugger, e.g. `nativm debug`'s GDB stub)
//! looks at it and says how to go on.
//!
//! Mechanism, as measured on this host (nested KVM, `kvm_pvm`; by hand
//! with probes of `KVM_SET_GUEST_DEBUG`): KVM's guest debugging does not
//! reach guest ring 3 here. Hardware breakpoints (`KVM_GUESTDBG_USE_HW_BP`,
//! DR0-DR3 with DR7's L bits, with or without LE/GE) never fire; a software
//! breakpoint (`int3`, `KVM_GUESTDBG_USE_SW_BP`) and a single-step #DB in
//! ring 3 (`KVM_GUESTDBG_SINGLESTEP`) are not intercepted but delivered to
//! the guest's own IDT; single-step exits come only from the emulated ring
//! 0, and the shim's `iretq` to ring 3 drops RFLAGS.TF with no exit. The
//! guest's own debug registers (DR0-DR3 and DR7 set with
//! `KVM_SET_DEBUGREGS`, which would deliver a #DB to the guest at full
//! speed) never fire either.
//!
//! So the debugger uses the guest's own single-step trap, which works the
//! same on every host: the VMM sets RFLAGS.TF in ring 3; after each
//! instruction the #DB goes through the shim's handler, which writes its
//! trap report and leaves with `out`, as for any exception; in a debugged
//! call the VMM then compares the reported RIP with the breakpoints, calls
//! the hook when one is reached (before that instruction runs) or a step
//! was asked for, and resumes the guest through the shim's `iretq` with
//! the handler's clobbered `rax`/`rdx` restored and TF set in the saved
//! RFLAGS (cleared when the plan has neither step nor breakpoint: then the
//! guest runs at full speed to its end). No guest code or memory the
//! contract can see is patched. The price is one exit per instruction
//! while a breakpoint is set: about 200 us each here (#DB, the emulated
//! ring-0 handler, the exit, `KVM_SET_REGS`, the emulated `iretq`), so
//! about 4 900 instructions/s (a `sieve` of 20 000: 298 688 steps in
//! 60.4 s).
//! Contracts cannot set TF themselves (the verifier admits no `popf`), and
//! outside a debugged call a #DB is a trap as before.
//!
//! Addresses here are guest addresses as the CPU sees them, i.e. prepared
//! code; mapping them to and from the contract's original addresses is
//! [`crate::PreparedCode`]'s (`original_address`, `prepared_address`).
//! A debugged call is never a consensus execution: its guest is discarded
//! afterwards, whatever the outcome.

use kvm_bindings::{kvm_fpu, kvm_regs, kvm_sregs};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::error::VmmError;
use crate::layout::UserMap;

/// How the guest goes on after a stop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugPlan {
    /// Stop again after one guest instruction.
    pub single_step: bool,
    /// Guest (prepared-code) addresses to stop at, before the instruction
    /// there runs (any number: they are compared with RIP at every step).
    pub breakpoints: Vec<u64>,
}

/// Why the guest stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopKind {
    /// At the method's first instruction, before it ran (the first stop).
    Entry,
    /// At a breakpoint of the last plan.
    Breakpoint,
    /// After a single step.
    Step,
}

/// The guest as a debugger sees it at a stop.
pub struct DebugStop {
    /// Why it stopped.
    pub kind: StopKind,
    /// General registers and RIP (a prepared-code address while the
    /// contract runs).
    pub regs: kvm_regs,
    /// Segment and control registers.
    pub sregs: kvm_sregs,
    /// x87/SSE state (`mm0`..`mm3` are the gas counters).
    pub fpu: kvm_fpu,
    /// Ring-3 memory, readable.
    pub memory: DebugMemory,
}

/// Read access to the guest's memory as ring 3 may read it (virtual
/// addresses, through the guest's own page tables). Owned: it can be kept
/// between stops, though it shows the memory of the moment it is read.
#[derive(Clone)]
pub struct DebugMemory {
    memory: GuestMemoryMmap,
    map: UserMap,
}

impl DebugMemory {
    /// A view of `memory` through the ring-3 `map`.
    pub fn new(memory: GuestMemoryMmap, map: UserMap) -> DebugMemory {
        DebugMemory { memory, map }
    }

    /// Reads `buf.len()` bytes from guest virtual address `addr`, page by
    /// page, stopping at the first byte ring 3 may not read. Returns the
    /// number of bytes read (0 when `addr` itself is not readable).
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        let page = nativm_abi::PAGE_SIZE;
        let mut done = 0usize;
        while done < buf.len() {
            let at = addr.wrapping_add(done as u64);
            let n = ((page - at % page) as usize).min(buf.len() - done);
            let Ok(spans) = self.map.spans(at, n as u64, false) else {
                break;
            };
            for (gpa, len) in spans {
                let end = done + len as usize;
                if self
                    .memory
                    .read_slice(&mut buf[done..end], GuestAddress(gpa))
                    .is_err()
                {
                    return done;
                }
                done = end;
            }
        }
        done
    }
}

/// The embedder's debugger: called at every stop of a debugged call.
pub trait DebugHook {
    /// The guest stopped (`stop`); returns how it goes on.
    ///
    /// Errors: a [`VmmError`] ends the call as a host failure (e.g. the
    /// debugger's connection broke).
    fn stopped(&mut self, stop: &DebugStop) -> Result<DebugPlan, VmmError>;
}

/// The handler of the empty call [`crate::Guest::call_debugged`] makes
/// first: it never makes a host call, so any is a host error.
pub(crate) struct NoHostCalls;

impl crate::HostCallHandler for NoHostCalls {
    fn host_call(
        &mut self,
        _: &mut dyn crate::GuestMemory,
        nr: u64,
        _: [u64; 5],
        _: &mut u64,
    ) -> crate::HostCallOutcome {
        crate::HostCallOutcome::HostError(format!("host call {nr} in the empty call"))
    }

    fn set_return_data(&mut self, _: Vec<u8>) {}
}
