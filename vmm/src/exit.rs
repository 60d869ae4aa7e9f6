//! What a VM exit means: a pure function from an exit (and the vCPU's RIP)
//! to the VMM's next action, so every case can be tested on fabricated
//! exits without a guest.
//!
//! The trust rule lives here: a doorbell exit is believed only when RIP is
//! right after one of the runtime page's two doorbell stores (the host-call
//! gate's or the method-return path's). Any other access to the doorbell,
//! from anywhere, is the contract forging an exit.

use kvm_ioctls::VcpuExit;
use nativm_abi as abi;

/// A VM exit, owned (a [`VcpuExit`] borrows the vCPU).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmExit {
    /// A guest access to an address no memslot covers.
    Mmio {
        /// Guest physical address.
        gpa: u64,
        /// Whether it was a store.
        write: bool,
    },
    /// `out` to a port.
    IoOut {
        /// The port.
        port: u16,
    },
    /// `in` from a port.
    IoIn {
        /// The port.
        port: u16,
    },
    /// Triple fault.
    Shutdown,
    /// `hlt`.
    Hlt,
    /// KVM could not emulate an instruction.
    InternalError,
    /// VM entry failed.
    FailEntry {
        /// Hardware reason.
        reason: u64,
        /// Host CPU.
        cpu: u32,
    },
    /// `KVM_EXIT_DEBUG`: a breakpoint or single step of KVM's guest
    /// debugging, which nativm never enables (`crate::debug` says why).
    Debug {
        /// Exception vector KVM reports (1: #DB, 3: #BP).
        exception: u32,
        /// RIP of the stop.
        pc: u64,
        /// DR6 at the stop (bits 0-3: which breakpoint; bit 14: single step).
        dr6: u64,
    },
    /// `KVM_RUN` returned `EINTR`/`EAGAIN` (the backstop's signal).
    Interrupted,
    /// Anything else, described.
    Other(String),
}

impl VmExit {
    /// The owned form of a [`VcpuExit`].
    pub fn from_vcpu(exit: &VcpuExit<'_>) -> VmExit {
        match exit {
            VcpuExit::MmioWrite(gpa, _) => VmExit::Mmio {
                gpa: *gpa,
                write: true,
            },
            VcpuExit::MmioRead(gpa, _) => VmExit::Mmio {
                gpa: *gpa,
                write: false,
            },
            VcpuExit::IoOut(port, _) => VmExit::IoOut { port: *port },
            VcpuExit::IoIn(port, _) => VmExit::IoIn { port: *port },
            VcpuExit::Shutdown => VmExit::Shutdown,
            VcpuExit::Hlt => VmExit::Hlt,
            VcpuExit::InternalError => VmExit::InternalError,
            VcpuExit::FailEntry(reason, cpu) => VmExit::FailEntry {
                reason: *reason,
                cpu: *cpu,
            },
            VcpuExit::Debug(arch) => VmExit::Debug {
                exception: arch.exception,
                pc: arch.pc,
                dr6: arch.dr6,
            },
            other => VmExit::Other(format!("{other:?}")),
        }
    }
}

/// The two places in the runtime page a believed doorbell exit resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Doorbells {
    /// RIP after the host-call gate's doorbell store (`hostcall_resume`).
    pub host_call: u64,
    /// RIP after the method-return path's doorbell store (`return_resume`).
    pub method_return: u64,
}

/// What the VMM does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Service the host call whose arguments are in the gate's registers.
    HostCall,
    /// The method returned: end the call (gas and return length are in
    /// the registers).
    MethodReturned,
    /// The shim reported a CPU exception: read the trap report.
    Trap,
    /// The backstop interrupted the guest: check gas and the deadline.
    Check,
    /// Contract code touched the doorbell: a trap (`forged_exit`).
    ForgedExit {
        /// RIP at the exit (after the accessing instruction).
        rip: u64,
        /// Guest physical address accessed.
        gpa: u64,
        /// Whether it was a store.
        write: bool,
    },
    /// The guest left in a way the shim and runtime never do.
    Crash(String),
}

/// The next action for `exit`, with the vCPU's `rip` at the exit.
pub fn next_action(exit: &VmExit, rip: u64, doorbells: &Doorbells) -> Action {
    match *exit {
        VmExit::Mmio { gpa, write } => {
            let doorbell = gpa & !(abi::PAGE_SIZE - 1) == abi::DOORBELL_GPA;
            match (doorbell && write, rip) {
                (true, r) if r == doorbells.host_call => Action::HostCall,
                (true, r) if r == doorbells.method_return => Action::MethodReturned,
                _ => Action::ForgedExit { rip, gpa, write },
            }
        }
        VmExit::IoOut { port } if port == crate::layout::TRAP_PORT => Action::Trap,
        VmExit::IoOut { port } => Action::Crash(format!("write to I/O port {port:#x}")),
        VmExit::IoIn { port } => Action::Crash(format!("read of I/O port {port:#x}")),
        VmExit::Shutdown => Action::Crash("triple fault (KVM_EXIT_SHUTDOWN)".into()),
        VmExit::Hlt => Action::Crash("the guest halted".into()),
        VmExit::InternalError => {
            Action::Crash("KVM internal error (instruction emulation failed)".into())
        }
        VmExit::FailEntry { reason, cpu } => Action::Crash(format!(
            "VM entry failed: hardware reason {reason:#x} on cpu {cpu}"
        )),
        VmExit::Interrupted => Action::Check,
        VmExit::Debug { pc, .. } => Action::Crash(format!(
            "unexpected debug exit at {pc:#x} (guest debugging is never enabled)"
        )),
        VmExit::Other(ref what) => Action::Crash(format!("unexpected VM exit {what}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BELLS: Doorbells = Doorbells {
        host_call: 0x20_0030,
        method_return: 0x20_0180,
    };

    fn mmio(gpa: u64, write: bool) -> VmExit {
        VmExit::Mmio { gpa, write }
    }

    #[test]
    fn doorbell_exits_are_believed_only_from_the_runtime() {
        let bell = abi::DOORBELL_GPA;
        assert_eq!(
            next_action(&mmio(bell, true), BELLS.host_call, &BELLS),
            Action::HostCall
        );
        assert_eq!(
            next_action(&mmio(bell + 8, true), BELLS.method_return, &BELLS),
            Action::MethodReturned
        );
        for rip in [
            0x7100_0040,
            0x40_1000,
            BELLS.host_call - 1,
            BELLS.method_return + 1,
        ] {
            assert_eq!(
                next_action(&mmio(bell, true), rip, &BELLS),
                Action::ForgedExit {
                    rip,
                    gpa: bell,
                    write: true
                },
                "a store from {rip:#x} is forged"
            );
        }
        assert!(
            matches!(
                next_action(&mmio(bell, false), BELLS.host_call, &BELLS),
                Action::ForgedExit { write: false, .. }
            ),
            "a load from the doorbell is never a host call"
        );
        assert!(
            matches!(
                next_action(&mmio(0x9_0000_0000, true), BELLS.host_call, &BELLS),
                Action::ForgedExit { .. }
            ),
            "another unbacked address is not the doorbell"
        );
    }

    #[test]
    fn other_exits() {
        let port = crate::layout::TRAP_PORT;
        assert_eq!(
            next_action(&VmExit::IoOut { port }, 0, &BELLS),
            Action::Trap
        );
        assert!(matches!(
            next_action(&VmExit::IoOut { port: 0x80 }, 0, &BELLS),
            Action::Crash(_)
        ));
        assert!(matches!(
            next_action(&VmExit::IoIn { port }, 0, &BELLS),
            Action::Crash(_)
        ));
        assert_eq!(next_action(&VmExit::Interrupted, 0, &BELLS), Action::Check);
        let debug = |dr6| VmExit::Debug {
            exception: 1,
            pc: 0x7100_0000,
            dr6,
        };
        assert!(matches!(
            next_action(&debug(0xffff_4ff0), 0, &BELLS),
            Action::Crash(m) if m.contains("0x71000000")
        ));
        assert!(
            matches!(next_action(&VmExit::Shutdown, 0, &BELLS), Action::Crash(m) if m.contains("triple"))
        );
        assert!(matches!(
            next_action(&VmExit::Hlt, 0, &BELLS),
            Action::Crash(_)
        ));
    }
}
