//! Structural checks of the translation of every bundled example contract.

use iced_x86::{Decoder, DecoderOptions, FlowControl, Mnemonic, OpKind, Register};
use nativm_abi as abi;
use nativm_gas::{prepare, Translation};

fn translate_example(name: &str) -> Translation {
    let bytes = std::fs::read(nativm_images::contract_path(name)).expect("example contract");
    prepare(&bytes, &Default::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Decodes the prepared code (after the constants) and checks what every
/// instruction of it may do.
#[test]
fn prepared_code_decodes_and_checks_every_indirect_transfer() {
    for name in nativm_images::EXAMPLES {
        let t = translate_example(name);
        let code_start = t
            .address_map
            .first()
            .map(|&(p, _)| u64::from(p))
            .expect("some code");
        let offset = (code_start - t.base) as usize;
        let mut decoder = Decoder::with_ip(64, &t.code[offset..], code_start, DecoderOptions::NONE);
        let mut previous = Vec::new();
        let (mut charges, mut returns, mut indirect) = (0u64, 0u64, 0u64);
        for instr in &mut decoder {
            assert!(
                !instr.is_invalid(),
                "{name}: invalid bytes at {:#x}",
                instr.ip()
            );
            // Data addresses are absolute: the only RIP-relative operands
            // are the gas constants, before the code.
            if instr.is_ip_rel_memory_operand() {
                let target = instr.ip_rel_memory_address();
                assert!(
                    target >= t.base && target < code_start,
                    "{name}: {instr} at {:#x}",
                    instr.ip()
                );
            }
            // Block and stub charges subtract a constant from an MMX
            // counter; the rep rule's charge subtracts mm1. (The
            // contract's own SSE2 `psubq xmm, [mem]`, e.g. in
            // curve25519-dalek, is no charge.)
            if instr.mnemonic() == Mnemonic::Psubq
                && instr.op1_kind() == OpKind::Memory
                && instr.op0_register().is_mm()
            {
                charges += 1;
            }
            match instr.flow_control() {
                FlowControl::Return => {
                    returns += 1;
                    // cmp qword [rsp], LIMIT; jae stub; mov [rsp-8], rax;
                    // mov rax, [rsp]; mov rax, gs:[rax*8]; cmp rax, LIMIT;
                    // jae stub; mov [rsp], rax; mov rax, [rsp-8];
                    // cmp rsp, rsp; ret
                    let n = previous.len();
                    let p = |k: usize| -> &iced_x86::Instruction { &previous[n - k] };
                    assert_eq!(p(10).mnemonic(), Mnemonic::Cmp, "{name}");
                    assert_eq!(p(10).memory_base(), Register::RSP, "{name}");
                    assert_eq!(
                        u64::try_from(p(10).immediate32to64()),
                        Ok(abi::CODE_TABLE_LIMIT),
                        "{name}"
                    );
                    assert_eq!(p(9).mnemonic(), Mnemonic::Jae, "{name}");
                    assert_eq!(p(6).segment_prefix(), Register::GS, "{name}");
                    assert_eq!(p(6).memory_index(), Register::RAX, "{name}");
                    assert_eq!(p(6).memory_index_scale(), 8, "{name}");
                    // The slot itself is checked too.
                    assert_eq!(
                        u64::try_from(p(5).immediate32to64()),
                        Ok(abi::CODE_TABLE_LIMIT),
                        "{name}"
                    );
                    assert_eq!(p(4).mnemonic(), Mnemonic::Jae, "{name}");
                    assert_eq!(p(1).mnemonic(), Mnemonic::Cmp, "{name}");
                }
                FlowControl::IndirectBranch | FlowControl::IndirectCall => {
                    indirect += 1;
                    assert_eq!(instr.op0_kind(), OpKind::Memory, "{name}");
                    let via_table = instr.segment_prefix() == Register::GS;
                    // iced's displacement is sign-extended into a u64.
                    let via_scratch = instr.memory_base() == Register::RSP
                        && instr.memory_displacement64().cast_signed() == -16;
                    assert!(
                        via_table || via_scratch,
                        "{name}: unchecked {instr} at {:#x}",
                        instr.ip()
                    );
                    assert_eq!(
                        previous
                            .last()
                            .map(|i: &iced_x86::Instruction| i.mnemonic()),
                        Some(Mnemonic::Cmp)
                    );
                    // The target was compared with the limit and the
                    // failure branches to a check stub.
                    let bound = previous.iter().rev().take(9).find(|i| {
                        i.mnemonic() == Mnemonic::Cmp
                            && u64::try_from(i.immediate32to64()) == Ok(abi::CODE_TABLE_LIMIT)
                    });
                    assert!(
                        bound.is_some(),
                        "{name}: no limit check before {instr} at {:#x}",
                        instr.ip()
                    );
                }
                _ => {}
            }
            previous.push(instr);
        }
        assert_eq!(
            charges,
            t.stats.blocks + t.stats.stubs,
            "{name}: one charge per block and stub"
        );
        assert_eq!(returns, t.stats.returns, "{name}");
        for site in &t.check_sites {
            let at = (u64::from(site.stub) - t.base) as usize;
            assert_eq!(
                &t.code[at..at + 2],
                &[0x0f, 0x0b],
                "{name}: check stub is a ud2"
            );
        }
        assert!(indirect >= t.stats.indirect_branches, "{name}");
        for &(original, prepared) in &t.branch_targets {
            assert!(
                u64::from(prepared) >= code_start
                    && u64::from(prepared) < t.base + t.code.len() as u64
            );
            assert_eq!(
                t.prepared_address(u64::from(original)),
                Some(u64::from(prepared))
            );
        }
        for m in &t.methods {
            assert_eq!(
                t.original_address(m.entry),
                Some(m.original),
                "{name}: {}",
                m.name
            );
        }
        assert!(!t.methods.is_empty(), "{name}: methods");
        assert!(t.base == abi::PREPARED_CODE_BASE);
        eprintln!("{name}: {:?}", t.stats);
    }
}
