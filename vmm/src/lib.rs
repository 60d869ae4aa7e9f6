//! # nativm-vmm
//!
//! The virtual machine monitor of nativm: thin, safe wrappers over the KVM
//! ioctls (through `kvm-ioctls`) that create a guest with one vCPU and no
//! devices, lay out its memory ([`layout`]), load the guest shim and a
//! contract ([`elf`]), and run calls, turning VM exits into host calls,
//! traps and timeouts ([`guest`]).
//!
//! One module, one concern (in the manner of Firecracker's `vstate` and
//! `arch/x86_64`):
//! * [`layout`]: the memory map as a table, page tables, GDT/IDT/TSS, trap
//!   report;
//! * [`memory`]: the memslot plan, the memslots, the checked ring-3 view
//!   of host calls, and the reset after a call;
//! * [`vcpu`]: long-mode register setup (named CR0/CR4/EFER bits) and the
//!   registers of an exit;
//! * [`exit`]: what a VM exit means (a pure function, unit-tested);
//! * [`host_call`]: the interface the VMM calls to service host calls;
//! * [`elf`]: contract and shim ELF parsing and structural checks;
//! * [`cpuid`]: the fixed guest CPUID table;
//! * [`prepared`]: prepared code as loaded, the code table, naming faults
//!   of its checks;
//! * [`guest`]: VM creation and the call loop;
//! * [`backstop`]: the timer of running calls: gas checks and the
//!   wall-clock limit (a signal to the vCPU thread);
//! * [`debug`]: pausing a call at breakpoints and single steps for a
//!   debugger;
//! * [`error`]: the VMM's errors.

pub mod backstop;
pub mod cpuid;
pub mod debug;
pub mod elf;
pub mod error;
pub mod exit;
pub mod guest;
pub mod host_call;
pub mod layout;
pub mod memory;
pub mod prepared;
pub mod vcpu;

use std::sync::OnceLock;

pub use elf::{ContractImage, ElfError, ShimImage};
pub use error::{LayoutError, VmmError};
pub use guest::{measure_exit_roundtrip, CallExit, CallRequest, CallStats, Guest, GuestConfig};
pub use host_call::{GuestMemory, HostCallHandler, HostCallOutcome, MemoryFault};
pub use kvm_ioctls::Kvm;
pub use prepared::PreparedCode;

use layout::{TrapReport, UserMap, TRAP_MAGIC};
use nativm_abi as abi;

/// Opens `/dev/kvm` and checks the API version.
///
/// Errors: [`VmmError::KvmUnavailable`] with the reason (missing device,
/// permission denied) and what to do about it.
pub fn open_kvm() -> Result<Kvm, VmmError> {
    let kvm = Kvm::new().map_err(|e| {
        VmmError::KvmUnavailable { reason: format!(
            "cannot open /dev/kvm ({e}); nativm runs contracts in KVM guests and needs a host with /dev/kvm readable and writable by this user"
        ) }
    })?;
    let version = kvm.get_api_version();
    if version != 12 {
        return Err(VmmError::KvmUnavailable {
            reason: format!("KVM API version is {version}, expected 12"),
        });
    }
    Ok(kvm)
}

/// The guest shim, parsed once from the ELF embedded at build time.
///
/// Errors: [`VmmError::Shim`] if the embedded ELF is malformed.
pub fn shim() -> Result<&'static ShimImage, VmmError> {
    static SHIM: OnceLock<Result<ShimImage, ElfError>> = OnceLock::new();
    SHIM.get_or_init(|| ShimImage::parse(elf::SHIM_ELF))
        .as_ref()
        .map_err(|e| VmmError::Shim(e.clone()))
}

/// A CPU exception raised in the guest, decoded from the shim's trap report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    /// Vector number (Intel SDM Vol. 3A, Table 6-1).
    pub vector: u8,
    /// Short name: `divide_error`, `invalid_opcode`, `page_fault`,
    /// `general_protection`, ... (see [`Exception::name_of`]).
    pub name: &'static str,
    /// Guest address of the faulting instruction.
    pub rip: u64,
    /// Error code pushed by the CPU (0 if none).
    pub error_code: u64,
    /// For page faults, the faulting address (CR2).
    pub fault_address: Option<u64>,
    /// Whether it happened in ring 3 (the contract) rather than the shim.
    pub in_contract: bool,
    /// One sentence saying what happened, for receipts.
    pub message: String,
}

impl Exception {
    /// The short name of an exception vector (Intel SDM Vol. 3A, Table 6-1).
    pub fn name_of(vector: u64) -> &'static str {
        match vector {
            0 => "divide_error",
            1 => "debug",
            2 => "nmi",
            3 => "breakpoint",
            4 => "overflow",
            5 => "bound_range_exceeded",
            6 => "invalid_opcode",
            7 => "device_not_available",
            8 => "double_fault",
            10 => "invalid_tss",
            11 => "segment_not_present",
            12 => "stack_segment_fault",
            13 => "general_protection",
            14 => "page_fault",
            16 => "x87_floating_point",
            17 => "alignment_check",
            18 => "machine_check",
            19 => "simd_floating_point",
            20 => "virtualization",
            21 => "control_protection",
            _ => "reserved",
        }
    }

    /// Decodes a trap report; `None` if the shim did not complete it.
    pub fn from_report(report: &TrapReport, map: &UserMap) -> Option<Exception> {
        if report.magic != TRAP_MAGIC || report.vector > 31 {
            return None;
        }
        let name = Exception::name_of(report.vector);
        let in_contract = report.cs & 3 == 3;
        let rip = report.rip;
        let place = |addr: u64| match map.describe(addr) {
            Some(region) => format!("{addr:#x} ({region})"),
            None => format!("{addr:#x}"),
        };
        let mut fault_address = None;
        let message = match report.vector {
            0 => format!(
                "divide error (division by zero or quotient overflow) at {}",
                place(rip)
            ),
            6 => format!(
                "invalid opcode (e.g. ud2 or an instruction the CPU model lacks) at {}",
                place(rip)
            ),
            13 => format!("general protection fault at {}", place(rip)),
            14 => {
                let addr = report.cr2;
                fault_address = Some(addr);
                let access = if report.error_code & 0x10 != 0 {
                    "instruction fetch from"
                } else if report.error_code & 0x2 != 0 {
                    "write to"
                } else {
                    "read of"
                };
                let stack_bottom = map
                    .mappings()
                    .iter()
                    .filter(|m| m.name.starts_with("stack"))
                    .map(|m| m.va)
                    .min();
                let why = if addr < abi::PAGE_SIZE {
                    "null pointer dereference".to_string()
                } else if stack_bottom.is_some_and(|b| addr < b && addr >= b - abi::PAGE_SIZE) {
                    "stack overflow into the guard page".to_string()
                } else if let Some(region) = map.describe(addr) {
                    format!("access not permitted in {region}")
                } else {
                    "unmapped address".to_string()
                };
                format!(
                    "page fault: {access} {addr:#x}: {why}; instruction at {}",
                    place(rip)
                )
            }
            v => format!(
                "{} exception (vector {v}) at {}",
                name.replace('_', " "),
                place(rip)
            ),
        };
        let message = if in_contract {
            message
        } else {
            format!("in the guest shim (ring 0): {message}")
        };
        Some(Exception {
            vector: report.vector as u8,
            name,
            rip,
            error_code: report.error_code,
            fault_address,
            in_contract,
            message,
        })
    }
}
