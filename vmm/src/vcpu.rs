//! The vCPU: long-mode register setup with named control-register bits,
//! and the registers of an exit (through `KVM_CAP_SYNC_REGS` where the
//! host has it, so reading and writing them costs no ioctl; else
//! `KVM_GET_REGS`/`KVM_SET_REGS`).
//!
//! Source: Intel SDM Vol. 3A, 2.5 "Control Registers" and 9.8.5
//! "Initializing IA-32e Mode".

use kvm_bindings::{kvm_regs, kvm_segment};
use kvm_ioctls::{Cap, Kvm, SyncReg, VcpuFd};

use crate::error::{kvm_err, VmmError};
use crate::layout;

/// CR0.PE: protected mode.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.MP: monitor coprocessor (`wait`/`fwait` honour TS).
pub const CR0_MP: u64 = 1 << 1;
/// CR0.ET: extension type (always 1 on x86-64).
pub const CR0_ET: u64 = 1 << 4;
/// CR0.NE: native x87 error reporting.
pub const CR0_NE: u64 = 1 << 5;
/// CR0.WP: ring 0 honours read-only pages.
pub const CR0_WP: u64 = 1 << 16;
/// CR0.PG: paging.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PAE: physical address extension (required by long mode).
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.OSFXSR: `fxsave`/`fxrstor` and SSE enabled.
pub const CR4_OSFXSR: u64 = 1 << 9;
/// CR4.OSXMMEXCPT: unmasked SIMD exceptions raise #XM.
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
/// EFER.LME: long mode enable.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA: long mode active.
pub const EFER_LMA: u64 = 1 << 10;
/// EFER.NXE: no-execute page bit enabled.
pub const EFER_NXE: u64 = 1 << 11;

/// The guest's CR0 (no CR0.AM: alignment checks never fault in ring 3).
pub const GUEST_CR0: u64 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
/// The guest's CR4 (no CR4.OSXSAVE: no AVX state exists to leak between
/// calls; no CR4.FSGSBASE: ring 3 cannot change the GS base).
pub const GUEST_CR4: u64 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
/// The guest's EFER.
pub const GUEST_EFER: u64 = EFER_LME | EFER_LMA | EFER_NXE;

/// A 64-bit code or data segment descriptor as KVM takes it.
fn segment(selector: u16, code: bool, dpl: u8, base: u64) -> kvm_segment {
    kvm_segment {
        base,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 11 } else { 3 },
        present: 1,
        dpl,
        db: u8::from(!code),
        s: 1,
        l: u8::from(code),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Sets up `vcpu` in 64-bit long mode at `entry` in ring 0 with page tables
/// at `cr3`, the GDT, IDT and TSS of [`layout`], GS based at the code table
/// and FS at 0.
///
/// Errors: [`VmmError::Kvm`] if an ioctl fails.
pub fn setup_long_mode(vcpu: &VcpuFd, cr3: u64, entry: u64) -> Result<(), VmmError> {
    let mut sregs = vcpu.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
    let data = segment(layout::KERNEL_DS, false, 0, 0);
    sregs.cs = segment(layout::KERNEL_CS, true, 0, 0);
    sregs.ds = data;
    sregs.es = data;
    sregs.ss = data;
    // FS and GS hold ring-3 data selectors (so the iretq to ring 3 keeps
    // them); GS's base is the code table (Intel SDM Vol. 3A, 3.4.4: in
    // 64-bit mode only the FS and GS bases apply). The verifier rejects
    // every instruction that could change them or override a segment.
    sregs.fs = segment(layout::USER_DS, false, 3, 0);
    sregs.gs = segment(layout::USER_DS, false, 3, nativm_abi::CODE_TABLE_BASE);
    sregs.tr = kvm_segment {
        base: layout::TSS_ADDR,
        limit: 0x67,
        selector: layout::TSS_SEL,
        type_: 11,
        present: 1,
        ..Default::default()
    };
    sregs.ldt = kvm_segment {
        unusable: 1,
        ..Default::default()
    };
    sregs.gdt.base = layout::GDT_ADDR;
    sregs.gdt.limit = (layout::gdt_entries().len() * 8 - 1) as u16;
    sregs.idt.base = layout::IDT_ADDR;
    sregs.idt.limit = (layout::IDT_VECTORS * 16 - 1) as u16;
    sregs.cr3 = cr3;
    sregs.cr0 = GUEST_CR0;
    sregs.cr4 = GUEST_CR4;
    sregs.efer = GUEST_EFER;
    vcpu.set_sregs(&sregs).map_err(kvm_err("KVM_SET_SREGS"))?;
    let regs = kvm_regs {
        rip: entry,
        rsp: layout::RING0_STACK_TOP,
        rflags: 0x2,
        ..Default::default()
    };
    vcpu.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))
}

/// How the VMM reads and writes the registers of an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterAccess {
    /// `KVM_CAP_SYNC_REGS`: KVM copies them into the shared `kvm_run`
    /// page at every exit and back at entry when marked dirty (no ioctl).
    Synced,
    /// `KVM_GET_REGS`/`KVM_SET_REGS` (one ioctl each).
    Ioctl,
}

impl RegisterAccess {
    /// What `kvm` offers; enables register syncing on `vcpu` if it can.
    pub fn enable(kvm: &Kvm, vcpu: &mut VcpuFd) -> RegisterAccess {
        if kvm.check_extension(Cap::SyncRegs) {
            vcpu.set_sync_valid_reg(SyncReg::Register);
            RegisterAccess::Synced
        } else {
            RegisterAccess::Ioctl
        }
    }

    /// The general registers and RIP at the last exit; counts an ioctl
    /// in `ioctls` when one was needed.
    ///
    /// Errors: [`VmmError::Kvm`] if `KVM_GET_REGS` fails.
    pub fn read(self, vcpu: &VcpuFd, ioctls: &mut u64) -> Result<kvm_regs, VmmError> {
        match self {
            RegisterAccess::Synced => Ok(vcpu.sync_regs().regs),
            RegisterAccess::Ioctl => {
                *ioctls += 1;
                vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))
            }
        }
    }

    /// Makes `regs` the registers at the next entry.
    ///
    /// Errors: [`VmmError::Kvm`] if `KVM_SET_REGS` fails.
    pub fn write(
        self,
        vcpu: &mut VcpuFd,
        regs: &kvm_regs,
        ioctls: &mut u64,
    ) -> Result<(), VmmError> {
        match self {
            RegisterAccess::Synced => {
                vcpu.sync_regs_mut().regs = *regs;
                vcpu.set_sync_dirty_reg(SyncReg::Register);
                Ok(())
            }
            RegisterAccess::Ioctl => {
                *ioctls += 1;
                vcpu.set_regs(regs).map_err(kvm_err("KVM_SET_REGS"))
            }
        }
    }
}

/// The gas left as the FPU holds it (`KVM_GET_FPU`: `mm0`..`mm3` are the
/// mantissas of physical x87 registers 0-3, and every MMX instruction sets
/// TOP to 0, Intel SDM Vol. 1, 9.5.2), and `mm7`. Counts the ioctl.
///
/// Errors: [`VmmError::Kvm`] if the ioctl fails.
pub fn mmx_state(vcpu: &VcpuFd, ioctls: &mut u64) -> Result<(i64, u64), VmmError> {
    let fpu = vcpu.get_fpu().map_err(kvm_err("KVM_GET_FPU"))?;
    *ioctls += 1;
    let word = |k: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&fpu.fpr[k][..8]);
        u64::from_le_bytes(bytes)
    };
    Ok((
        nativm_abi::gas::gas_left([word(0), word(1), word(2), word(3)]),
        word(7),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_registers_name_the_long_mode_bits() {
        assert_eq!(GUEST_CR0, 0x8001_0033);
        assert_eq!(GUEST_CR4, 0x620);
        assert_eq!(GUEST_EFER, 0xd00);
    }
}
