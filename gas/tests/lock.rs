//! Translation 3 drops the LOCK prefix (cost table version 2): a contract
//! with locked instructions verifies, and its prepared code holds none,
//! while `xchg` with memory (implicitly locked) is kept and priced.

use iced_x86::{Decoder, DecoderOptions, Mnemonic};
use nativm_gas::{cost::instruction_cost, prepare};

const SOURCE: &str = r#"
__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"
    ".globl locked\n.type locked,@function\nlocked:\n"
    "    lock add dword ptr [rdi], 1\n"
    "    lock xadd qword ptr [rdi], rax\n"
    "    lock cmpxchg qword ptr [rdi], rdx\n"
    "    xchg qword ptr [rdi], rax\n"
    "    ret\n"
    ".att_syntax prefix\n");
"#;

fn build() -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("nativm-lock-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = dir.join("locked.c");
    let elf = dir.join("locked.elf");
    std::fs::write(&src, SOURCE).expect("write source");
    let out = std::process::Command::new("gcc")
        .args(["-O2"])
        .args(nativm_images::C_CONTRACT_FLAGS)
        .arg(&src)
        .arg("-o")
        .arg(&elf)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&elf).expect("read ELF");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

#[test]
fn prepared_code_has_no_lock_prefix_and_keeps_xchg() {
    let t = prepare(&build(), &Default::default()).expect("verifies and translates");
    let code_start = t
        .address_map
        .first()
        .map(|&(p, _)| u64::from(p))
        .expect("some code");
    let offset = (code_start - t.base) as usize;
    let decoder = Decoder::with_ip(64, &t.code[offset..], code_start, DecoderOptions::NONE);
    let (mut locked, mut adds, mut xadds, mut cmpxchgs, mut xchgs) = (0, 0, 0, 0, 0);
    for instr in decoder {
        locked += usize::from(instr.has_lock_prefix());
        match instr.mnemonic() {
            Mnemonic::Add if instr.memory_base() == iced_x86::Register::RDI => adds += 1,
            Mnemonic::Xadd => xadds += 1,
            Mnemonic::Cmpxchg => cmpxchgs += 1,
            Mnemonic::Xchg => {
                xchgs += 1;
                // 1 500 for the implicit lock, + 2 for the memory operand.
                assert_eq!(instruction_cost(&instr), 1_502);
            }
            _ => {}
        }
    }
    assert_eq!(locked, 0, "a LOCK prefix is left in the prepared code");
    assert_eq!((adds, xadds, cmpxchgs, xchgs), (1, 1, 1, 1));
}
