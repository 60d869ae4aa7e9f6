//! The guest shim's ring-0 code must not use SSE, MMX or x87: on nested KVM
//! guest ring 0 is emulated and those instructions fail there
//! (`shared/design-notes.md`, section 1). Only the ring-3 runtime page may
//! touch FPU state (`fxrstor` of the clean image). Checked by decoding every
//! byte of the built shim with iced-x86.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic};
use nativm_vmm::{elf::SHIM_ELF, ShimImage};

fn features(instr: &Instruction) -> Vec<String> {
    instr
        .cpuid_features()
        .iter()
        .map(|f| format!("{f:?}"))
        .collect()
}

fn is_fpu_or_vector(instr: &Instruction) -> bool {
    features(instr).iter().any(|f| {
        [
            "SSE", "MMX", "FPU", "AVX", "D3NOW", "FXSR", "XSAVE", "SSSE3", "AES", "PCLMUL", "SHA",
        ]
        .iter()
        .any(|p| f.starts_with(p))
    })
}

fn decode(segment: &nativm_vmm::elf::Segment) -> Vec<Instruction> {
    let mut decoder = Decoder::with_ip(64, &segment.data, segment.vaddr, DecoderOptions::NONE);
    let mut out = Vec::new();
    while decoder.can_decode() {
        out.push(decoder.decode());
    }
    out
}

#[test]
fn ring0_shim_code_has_no_sse_mmx_or_x87() {
    let shim = ShimImage::parse(SHIM_ELF).unwrap();
    let mut checked = 0;
    for segment in shim
        .segments
        .iter()
        .filter(|s| !s.access.user && s.access.execute)
    {
        for instr in decode(segment) {
            assert!(!instr.is_invalid(), "undecodable byte at {:#x}", instr.ip());
            assert!(
                !is_fpu_or_vector(&instr),
                "{:?} at {:#x} uses {:?}",
                instr.mnemonic(),
                instr.ip(),
                features(&instr)
            );
            checked += 1;
        }
    }
    assert!(
        checked > 50,
        "decoded only {checked} instructions: is the shim code there?"
    );
}

#[test]
fn runtime_page_touches_fpu_state_only_with_fxrstor() {
    let shim = ShimImage::parse(SHIM_ELF).unwrap();
    let runtime = shim
        .segments
        .iter()
        .find(|s| s.access.user)
        .expect("runtime page");
    assert_eq!(runtime.vaddr, nativm_abi::RUNTIME_BASE);
    let mut fxrstor = 0;
    let mut gas_moves = 0;
    let mut previous = None;
    // The clean FXSAVE image follows the code: stop at the first `jmp` back
    // to the loop, after which only data remains.
    for instr in decode(runtime) {
        if instr.mnemonic() == Mnemonic::Fxrstor {
            fxrstor += 1;
        } else if matches!(
            instr.mnemonic(),
            Mnemonic::Movq | Mnemonic::Pxor | Mnemonic::Psubq
        ) && (0..instr.op_count()).all(|i| {
            instr.op_kind(i) != iced_x86::OpKind::Register || {
                let r = instr.op_register(i);
                r.is_mm() || r.is_gpr64()
            }
        }) {
            // The gas counters (mm0-mm3) and the return length (mm7):
            // loaded from the call info, handed to the host in general
            // registers, charged by set_return (mm4), restarted.
            gas_moves += 1;
        } else {
            assert!(
                !is_fpu_or_vector(&instr),
                "{:?} at {:#x}",
                instr.mnemonic(),
                instr.ip()
            );
        }
        // The loop ends with the return doorbell and `jmp runtime_loop`.
        let after_doorbell = previous.is_some_and(|p: iced_x86::Instruction| {
            p.memory_displacement64() == nativm_abi::DOORBELL_VA
        });
        if instr.mnemonic() == Mnemonic::Jmp && after_doorbell {
            break;
        }
        previous = Some(instr);
    }
    assert_eq!(
        fxrstor, 1,
        "the call loop resets x87/SSE state once per call"
    );
    assert_eq!(
        gas_moves,
        4 + 1 + 3 + 3 + 1 + 5 + 4 + 10 + 9 + 7 + 3 + 5,
        "gate: mm0-mm3 to registers before the doorbell, mm0 reloaded and mm1-mm3 zeroed after it; set_return: charge through mm4, length to mm7; loop: mm0 loaded; return: mm0-mm3 and mm7 to registers, mm0-mm3 zeroed; storage cache: read (3 argument saves, 2 key reloads, 2 charges through mm1 of 2 moves, the buffer), write (3 saves, 2 reloads, key and value sources, a charge), remove (3 saves, 2 reloads, a charge), the fall-back (3 restores); caller (3 saves, a charge)"
    );
}

#[test]
fn every_exception_vector_has_a_handler_in_the_shim() {
    let shim = ShimImage::parse(SHIM_ELF).unwrap();
    let code = shim
        .segments
        .iter()
        .find(|s| !s.access.user && s.access.execute)
        .unwrap();
    for (vector, addr) in shim.isr_addresses.iter().enumerate() {
        assert!(
            *addr >= code.vaddr && *addr < code.vaddr + code.mem_size,
            "vector {vector} -> {addr:#x}"
        );
    }
}
