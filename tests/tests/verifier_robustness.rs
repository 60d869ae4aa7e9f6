//! The verifier never panics and always finishes (issue 3), on real example
//! contracts mutated at random (bytes flipped, truncated, ELF header,
//! program header, section header and symbol fields overwritten, code
//! spliced), on arbitrary bytes, and on hand-made malformed ELFs, which
//! must each be rejected under rule 1 (ELF structure).
//!
//! The fuzz targets in `verifier/fuzz/` explore the same space for longer;
//! this test keeps the case count small so it runs in the normal suite
//! (and CI) in a few seconds, in debug, where arithmetic overflow panics.

use nativm_verifier::{verify, Config, Report, Rule};
use proptest::prelude::*;

fn example(name: &str) -> Vec<u8> {
    let path = nativm_images::contract_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn rd(b: &[u8], at: usize, w: usize) -> u64 {
    let mut v = [0u8; 8];
    v[..w].copy_from_slice(&b[at..at + w]);
    u64::from_le_bytes(v)
}

fn wr(b: &mut [u8], at: usize, w: usize, v: u64) {
    if at + w <= b.len() {
        b[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
    }
}

/// Offsets of the tables of a well-formed ELF64 (read from the original).
struct Layout {
    phoff: usize,
    phnum: usize,
    shoff: usize,
    shnum: usize,
    /// Section header offset of the first executable section.
    text: usize,
    /// Section header offset of the symbol table.
    symtab: usize,
    /// File offset and count of symbol table entries.
    syms: (usize, usize),
}

const PHENT: usize = 56;
const SHENT: usize = 64;
const SYMENT: usize = 24;

fn layout(elf: &[u8]) -> Layout {
    let phoff = rd(elf, 0x20, 8) as usize;
    let shoff = rd(elf, 0x28, 8) as usize;
    let phnum = rd(elf, 0x38, 2) as usize;
    let shnum = rd(elf, 0x3c, 2) as usize;
    let sh = |i: usize| shoff + i * SHENT;
    let text = (0..shnum)
        .map(sh)
        .find(|&s| rd(elf, s + 8, 8) & 4 != 0)
        .expect("an executable section");
    let symtab = (0..shnum)
        .map(sh)
        .find(|&s| rd(elf, s + 4, 4) == 2)
        .expect("a symbol table");
    let syms = (
        rd(elf, symtab + 0x18, 8) as usize,
        rd(elf, symtab + 0x20, 8) as usize / SYMENT,
    );
    Layout {
        phoff,
        phnum,
        shoff,
        shnum,
        text,
        symtab,
        syms,
    }
}

/// Verifies with the default config and with AVX2 allowed; checks the
/// report is consistent.
fn check(bytes: &[u8]) -> Report {
    let report = verify(bytes, &Config::default());
    assert_eq!(report.is_ok(), report.violations.is_empty());
    assert!(report.stats.code_bytes <= bytes.len() as u64 * 2);
    let avx = Config {
        allow_avx2: true,
        ..Config::default()
    };
    let _ = verify(bytes, &avx);
    report
}

fn assert_structure_violation(what: &str, bytes: &[u8]) {
    assert_all_rejected(vec![(what.to_string(), bytes.to_vec())]);
}

/// Every case must get a rule-1 violation; reports all that do not at once.
fn assert_all_rejected(cases: Vec<(String, Vec<u8>)>) {
    let accepted: Vec<String> = cases
        .iter()
        .filter_map(|(what, bytes)| {
            let report = check(bytes);
            let rejected = report.of_rule(Rule::ElfStructure).next().is_some();
            (!rejected).then(|| format!("{what}: {}", report.summary()))
        })
        .collect();
    assert!(
        accepted.is_empty(),
        "expected a rule-1 (ELF structure) violation for each of these:\n  {}",
        accepted.join("\n  ")
    );
}

// ---- deterministic edge cases --------------------------------------------

#[test]
fn the_examples_verify() {
    for name in ["fib", "sha256", "token", "counter"] {
        let report = check(&example(name));
        assert!(report.is_ok(), "{name}:\n{}", report.to_text());
    }
}

#[test]
fn empty_input() {
    assert_structure_violation("empty input", &[]);
}

#[test]
fn magic_only() {
    assert_structure_violation("magic only", b"\x7fELF");
}

#[test]
fn every_truncation_of_the_header() {
    let fib = example("fib");
    for len in 0..=64 {
        assert_structure_violation(&format!("first {len} bytes of fib"), &fib[..len]);
    }
}

#[test]
fn header_only_with_0xffff_program_headers() {
    let mut h = example("fib")[..64].to_vec();
    wr(&mut h, 0x38, 2, 0xffff);
    assert_structure_violation("64-byte header, e_phnum = 0xffff", &h);
}

#[test]
fn full_file_with_0xffff_program_headers() {
    let mut elf = example("fib");
    wr(&mut elf, 0x38, 2, 0xffff);
    assert_structure_violation("e_phnum = 0xffff", &elf);
}

#[test]
fn section_headers_past_the_end() {
    for name in ["fib", "sha256"] {
        let mut elf = example(name);
        let len = elf.len() as u64;
        for shoff in [len, len + 1, len + 4096, u64::MAX - 63, u64::MAX] {
            wr(&mut elf, 0x28, 8, shoff);
            assert_structure_violation(&format!("{name}: e_shoff = {shoff:#x}"), &elf);
        }
    }
}

#[test]
fn program_headers_past_the_end() {
    let mut elf = example("fib");
    let len = elf.len() as u64;
    for phoff in [len, len - 8, u64::MAX - 55, u64::MAX] {
        wr(&mut elf, 0x20, 8, phoff);
        assert_structure_violation(&format!("e_phoff = {phoff:#x}"), &elf);
    }
}

#[test]
fn text_with_huge_size() {
    for name in ["fib", "sha256", "counter"] {
        let orig = example(name);
        let l = layout(&orig);
        for size in [u64::MAX, u64::MAX - 0xfff, 1 << 63, orig.len() as u64] {
            let mut elf = orig.clone();
            wr(&mut elf, l.text + 0x20, 8, size);
            assert_structure_violation(&format!("{name}: .text sh_size = {size:#x}"), &elf);
        }
        // .text offset past the end, or where offset + size overflows.
        for offset in [orig.len() as u64, u64::MAX, u64::MAX - 0x10] {
            let mut elf = orig.clone();
            wr(&mut elf, l.text + 0x18, 8, offset);
            assert_structure_violation(&format!("{name}: .text sh_offset = {offset:#x}"), &elf);
        }
    }
}

#[test]
fn segment_with_huge_file_size() {
    let orig = example("fib");
    let l = layout(&orig);
    for i in 0..l.phnum {
        let ph = l.phoff + i * PHENT;
        if rd(&orig, ph, 4) != 1 {
            continue; // not PT_LOAD
        }
        for filesz in [u64::MAX, u64::MAX - 0xfff, 1 << 40, orig.len() as u64 + 1] {
            let mut elf = orig.clone();
            wr(&mut elf, ph + 0x20, 8, filesz);
            assert_structure_violation(&format!("segment {i}: p_filesz = {filesz:#x}"), &elf);
        }
        for offset in [u64::MAX, orig.len() as u64] {
            let mut elf = orig.clone();
            wr(&mut elf, ph + 0x08, 8, offset);
            assert_structure_violation(&format!("segment {i}: p_offset = {offset:#x}"), &elf);
        }
    }
}

#[test]
fn wrong_program_header_entry_size() {
    let cases = [0u64, 1, 32, 55, 57, 64, 0xffff]
        .into_iter()
        .map(|phentsize| {
            let mut elf = example("fib");
            wr(&mut elf, 0x36, 2, phentsize);
            (format!("e_phentsize = {phentsize}"), elf)
        })
        .collect();
    assert_all_rejected(cases);
}

#[test]
fn wrong_section_header_entry_size() {
    let cases = [0u64, 1, 40, 63, 65, 0xffff]
        .into_iter()
        .map(|shentsize| {
            let mut elf = example("fib");
            wr(&mut elf, 0x3a, 2, shentsize);
            (format!("e_shentsize = {shentsize}"), elf)
        })
        .collect();
    assert_all_rejected(cases);
}

#[test]
fn symbol_table_with_bogus_link() {
    let orig = example("fib");
    let l = layout(&orig);
    // 0 (the null section), the symbol table itself, a non-string-table
    // section (.text), out of range.
    let text_index = ((l.text - l.shoff) / SHENT) as u64;
    let symtab_index = ((l.symtab - l.shoff) / SHENT) as u64;
    let cases = [
        0u64,
        text_index,
        symtab_index,
        l.shnum as u64,
        0xffff,
        0xffff_ffff,
    ]
    .into_iter()
    .map(|link| {
        let mut elf = orig.clone();
        wr(&mut elf, l.symtab + 0x28, 4, link);
        (format!(".symtab sh_link = {link:#x}"), elf)
    })
    .collect();
    assert_all_rejected(cases);
}

#[test]
fn symbol_table_past_the_end() {
    let orig = example("sha256");
    let l = layout(&orig);
    for (field, value) in [
        (0x18, orig.len() as u64),
        (0x18, u64::MAX),
        (0x20, u64::MAX),
        (0x20, 1 << 40),
    ] {
        let mut elf = orig.clone();
        wr(&mut elf, l.symtab + field, 8, value);
        assert_structure_violation(&format!(".symtab field {field:#x} = {value:#x}"), &elf);
    }
}

#[test]
fn section_name_table_index_out_of_range() {
    for shstrndx in [0xfffeu64, 0xffff, 100] {
        let mut elf = example("fib");
        wr(&mut elf, 0x3e, 2, shstrndx);
        // goblin may or may not reject this; it must not panic.
        check(&elf);
    }
}

/// A minimal ELF64 x86-64 executable: the header, one R+X `PT_LOAD` at
/// file offset 0x1000 and `vaddr` holding `code`, no section headers (so
/// the whole segment is swept).
fn minimal_elf(vaddr: u64, code: &[u8]) -> Vec<u8> {
    let mut elf = vec![0u8; 0x1000];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4..8].copy_from_slice(&[2, 1, 1, 0]);
    wr(&mut elf, 0x10, 2, 2); // ET_EXEC
    wr(&mut elf, 0x12, 2, 62); // EM_X86_64
    wr(&mut elf, 0x14, 4, 1);
    wr(&mut elf, 0x20, 8, 64); // e_phoff
    wr(&mut elf, 0x34, 2, 64);
    wr(&mut elf, 0x36, 2, PHENT as u64);
    wr(&mut elf, 0x38, 2, 1);
    let ph = 64;
    wr(&mut elf, ph, 4, 1); // PT_LOAD
    wr(&mut elf, ph + 4, 4, 5); // R+X
    wr(&mut elf, ph + 0x08, 8, 0x1000);
    wr(&mut elf, ph + 0x10, 8, vaddr);
    wr(&mut elf, ph + 0x18, 8, vaddr);
    wr(&mut elf, ph + 0x20, 8, code.len() as u64);
    wr(&mut elf, ph + 0x28, 8, code.len() as u64);
    wr(&mut elf, ph + 0x30, 8, 0x1000);
    elf.extend_from_slice(code);
    elf
}

#[test]
fn minimal_elf_verifies() {
    // mov eax, 1; ret
    let report = check(&minimal_elf(0x40_1000, &[0xb8, 1, 0, 0, 0, 0xc3]));
    assert!(report.is_ok(), "{}", report.to_text());
}

/// A segment (and its code) at the very top of the address space, with a
/// branch out of it: addresses wrap.
#[test]
fn segment_at_the_top_of_the_address_space() {
    let code: Vec<u8> = [[0x90u8; 0x20].as_slice(), &[0xe9, 0, 0x10, 0, 0]].concat();
    let cases = [u64::MAX - 0xf, u64::MAX - 0x1f, u64::MAX]
        .into_iter()
        .map(|vaddr| (format!("segment at {vaddr:#x}"), minimal_elf(vaddr, &code)))
        .collect();
    assert_all_rejected(cases);
}

// ---- random mutations of real contracts -----------------------------------

/// A field value, biased to boundaries.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX - 0xfff),
        Just(1 << 63),
        Just(0x40_0000),
        Just(0x4000_0000),
        Just(0x40_1000),
        Just(0xffff),
        Just(u32::MAX as u64),
        0u64..0x10000,
        any::<u64>(),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        byte: u8,
    },
    Truncate {
        len: usize,
    },
    Header {
        offset: usize,
        width: usize,
        value: u64,
    },
    Program {
        index: usize,
        offset: usize,
        width: usize,
        value: u64,
    },
    Section {
        index: usize,
        offset: usize,
        width: usize,
        value: u64,
    },
    Symbol {
        index: usize,
        offset: usize,
        width: usize,
        value: u64,
    },
    /// Random bytes over the code (offset from the start of `.text`).
    Code {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Random bytes anywhere.
    Splice {
        at: usize,
        bytes: Vec<u8>,
    },
}

fn width() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(4), Just(8)]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>();
    prop_oneof![
        (at.clone(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit {
            at: at.index(usize::MAX),
            bit
        }),
        (at.clone(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte {
            at: at.index(usize::MAX),
            byte
        }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        (0usize..64, width(), value()).prop_map(|(offset, width, value)| Mutation::Header {
            offset,
            width,
            value
        }),
        (0usize..16, 0usize..PHENT, width(), value()).prop_map(|(index, offset, width, value)| {
            Mutation::Program {
                index,
                offset,
                width,
                value,
            }
        }),
        (0usize..16, 0usize..SHENT, width(), value()).prop_map(|(index, offset, width, value)| {
            Mutation::Section {
                index,
                offset,
                width,
                value,
            }
        }),
        (0usize..4096, 0usize..SYMENT, width(), value()).prop_map(
            |(index, offset, width, value)| Mutation::Symbol {
                index,
                offset,
                width,
                value
            }
        ),
        (0usize..0x4000, prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Mutation::Code { at, bytes }),
        (at, prop::collection::vec(any::<u8>(), 1..32)).prop_map(|(at, bytes)| {
            Mutation::Splice {
                at: at.index(usize::MAX),
                bytes,
            }
        }),
    ]
}

fn apply(orig: &[u8], l: &Layout, mutations: &[Mutation]) -> Vec<u8> {
    let mut elf = orig.to_vec();
    let text_offset = rd(orig, l.text + 0x18, 8) as usize;
    let text_size = rd(orig, l.text + 0x20, 8) as usize;
    for m in mutations {
        let n = elf.len().max(1);
        match m {
            Mutation::FlipBit { at, bit } => {
                if let Some(b) = elf.get_mut(at % n) {
                    *b ^= 1 << bit;
                }
            }
            Mutation::SetByte { at, byte } => {
                if let Some(b) = elf.get_mut(at % n) {
                    *b = *byte;
                }
            }
            Mutation::Truncate { len } => elf.truncate(len % (elf.len() + 1)),
            Mutation::Header {
                offset,
                width,
                value,
            } => wr(&mut elf, *offset, *width, *value),
            Mutation::Program {
                index,
                offset,
                width,
                value,
            } => {
                let at = l.phoff + (index % l.phnum) * PHENT + offset;
                wr(&mut elf, at, *width, *value);
            }
            Mutation::Section {
                index,
                offset,
                width,
                value,
            } => {
                let at = l.shoff + (index % l.shnum) * SHENT + offset;
                wr(&mut elf, at, *width, *value);
            }
            Mutation::Symbol {
                index,
                offset,
                width,
                value,
            } => {
                let at = l.syms.0 + (index % l.syms.1.max(1)) * SYMENT + offset;
                wr(&mut elf, at, *width, *value);
            }
            Mutation::Code { at, bytes } => {
                let start = text_offset + at % text_size.max(1);
                let end = (start + bytes.len()).min(elf.len());
                if start < end {
                    elf[start..end].copy_from_slice(&bytes[..end - start]);
                }
            }
            Mutation::Splice { at, bytes } => {
                let start = at % n;
                let end = (start + bytes.len()).min(elf.len());
                if start < end {
                    elf[start..end].copy_from_slice(&bytes[..end - start]);
                }
            }
        }
    }
    elf
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Shrinking re-runs the verifier many times; a failure is reported
        // with the shrunk input all the same.
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn mutated_examples_never_panic(
        which in prop_oneof![Just("fib"), Just("sha256"), Just("token"), Just("counter")],
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let orig = example(which);
        let l = layout(&orig);
        let elf = apply(&orig, &l, &mutations);
        check(&elf);
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let report = check(&bytes);
        // Random bytes are never a contract (and almost never start with
        // the magic).
        prop_assert!(!report.is_ok());
    }

    /// Random bytes after a valid ELF64 x86-64 header prefix, so parsing goes
    /// further than the magic.
    #[test]
    fn arbitrary_bytes_after_a_header_never_panic(
        header in prop::collection::vec(any::<u8>(), 48..=48),
        rest in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        bytes.extend_from_slice(&header);
        wr(&mut bytes, 0x10, 2, 2);
        wr(&mut bytes, 0x12, 2, 62);
        bytes.extend_from_slice(&rest);
        check(&bytes);
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Random code (and random branches) in a well-formed ELF, at any
    /// address: rules 2-5 on arbitrary instruction streams.
    #[test]
    fn random_code_never_panics(
        vaddr in value(),
        code in prop::collection::vec(any::<u8>(), 1..4096),
    ) {
        check(&minimal_elf(vaddr, &code));
    }
}
