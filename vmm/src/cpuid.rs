//! The guest's CPUID: a fixed, documented feature set, identical on every
//! host, set with `KVM_SET_CPUID2` before the first `KVM_RUN`.
//!
//! The contract does not need CPUID (the verifier forbids the instruction);
//! the table exists so that the guest CPU model is the same everywhere and
//! KVM accepts long mode (EFER.LME needs CPUID.80000001H:EDX.LM, EFER.NXE
//! needs .NX). Bit positions: Intel SDM Vol. 2A, CPUID, Tables 3-8 to 3-20.
//!
//! | leaf | register | features |
//! | --- | --- | --- |
//! | 0 | ebx/edx/ecx | max basic leaf 7, vendor "NativmAMD64 " |
//! | 1 | eax | family 6, model 0, stepping 0 |
//! | 1 | edx | FPU, PAE, CX8, CMOV, MMX, FXSR, SSE, SSE2 |
//! | 1 | ecx | SSE3, SSSE3, CX16, SSE4.1, SSE4.2, MOVBE, POPCNT |
//! | 7.0 | ebx | BMI1, BMI2 |
//! | 0x80000001 | ecx | LAHF/SAHF in 64-bit mode, LZCNT (ABM) |
//! | 0x80000001 | edx | NX, LM |
//! | 0x80000008 | eax | 40 physical, 48 linear address bits |
//!
//! AVX, AVX2, AVX-512, RDRAND, RDSEED, RDTSCP, TSC, XSAVE and every other
//! feature are absent.
//!
//! On bare-metal VMX and SVM, `cpuid` always exits to KVM, so guest code
//! sees exactly this table. On the nested (kvm_pvm) KVM of the development
//! machines, `cpuid` in guest ring 3 is *not* intercepted and returns the
//! host CPU's values (measured: "AuthenticAMD", max leaf 0x10), and
//! `KVM_GET_CPUID2` shows that kvm_pvm ORs the host's feature bits into
//! leaves 1 and 7 (AVX, RDRAND, ... appear) while keeping leaves 0 and
//! 0x8000_0000-0x8000_0008 exactly as set (`tests/tests/guest_boot.rs`). The table
//! still fixes what KVM emulates and checks (e.g. EFER bits); keeping
//! contracts away from `cpuid` is the verifier's job on every host.

use kvm_bindings::{kvm_cpuid_entry2, CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX};

use crate::VmmError;

/// Vendor string reported in CPUID leaf 0 (12 bytes).
pub const VENDOR: &[u8; 12] = b"NativmAMD64 ";

fn bit(n: u32) -> u32 {
    1 << n
}

/// The fixed CPUID entries (function, index, eax, ebx, ecx, edx).
pub fn entries() -> Vec<kvm_cpuid_entry2> {
    let word = |i: usize| u32::from_le_bytes(VENDOR[i..i + 4].try_into().unwrap());
    let entry = |function: u32, index: u32, flags: u32, regs: [u32; 4]| kvm_cpuid_entry2 {
        function,
        index,
        flags,
        eax: regs[0],
        ebx: regs[1],
        ecx: regs[2],
        edx: regs[3],
        ..Default::default()
    };
    let leaf1_edx = bit(0) | bit(6) | bit(8) | bit(15) | bit(23) | bit(24) | bit(25) | bit(26);
    let leaf1_ecx = bit(0) | bit(9) | bit(13) | bit(19) | bit(20) | bit(22) | bit(23);
    vec![
        entry(0, 0, 0, [7, word(0), word(8), word(4)]),
        entry(1, 0, 0, [0x0000_0600, 0, leaf1_ecx, leaf1_edx]),
        entry(
            7,
            0,
            KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
            [0, bit(3) | bit(8), 0, 0],
        ),
        entry(0x8000_0000, 0, 0, [0x8000_0008, 0, 0, 0]),
        entry(
            0x8000_0001,
            0,
            0,
            [0, 0, bit(0) | bit(5), bit(20) | bit(29)],
        ),
        entry(0x8000_0008, 0, 0, [0x3028, 0, 0, 0]),
    ]
}

/// The table as a `CpuId` for `KVM_SET_CPUID2`.
///
/// Errors: [`VmmError::Kvm`] if the FAM wrapper cannot be built.
pub fn cpuid() -> Result<CpuId, VmmError> {
    CpuId::from_entries(&entries()).map_err(|e| VmmError::UnexpectedExit {
        what: format!("building the CPUID table: {e:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(function: u32) -> kvm_cpuid_entry2 {
        entries()
            .into_iter()
            .find(|e| e.function == function)
            .unwrap()
    }

    #[test]
    fn the_table_is_the_documented_one() {
        let l0 = leaf(0);
        let vendor: Vec<u8> = [l0.ebx, l0.edx, l0.ecx]
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect();
        assert_eq!(&vendor, VENDOR);
        assert_eq!(l0.eax, 7, "max basic leaf");
        let l1 = leaf(1);
        assert_eq!(l1.ecx & (1 << 28), 0, "no AVX");
        assert_eq!(l1.ecx & (1 << 30), 0, "no RDRAND");
        assert_eq!(l1.ecx & (1 << 26), 0, "no XSAVE");
        assert_eq!(l1.edx & (1 << 4), 0, "no TSC");
        assert_ne!(l1.edx & (1 << 26), 0, "SSE2");
        let l7 = leaf(7);
        assert_eq!(
            l7.ebx,
            (1 << 3) | (1 << 8),
            "BMI1 and BMI2 only: no AVX2, RDSEED, AVX-512"
        );
        let ext = leaf(0x8000_0001);
        assert_eq!(ext.edx, (1 << 20) | (1 << 29), "NX and LM; no RDTSCP");
    }
}
