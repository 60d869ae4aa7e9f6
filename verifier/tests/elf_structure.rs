//! Rule 1 (ELF structure) against malformed and hostile files: truncated
//! and inconsistent headers, absurd offsets and sizes, W+X and overlapping
//! segments, segments outside the contract window, PIE, TLS, loader
//! relocations, methods pointing into data, and a no-panic sweep over every
//! truncation and many corruptions of a good contract.
//!
//! Most cases mutate the bytes of one good contract built with gcc; others
//! are built with linker options that produce the defect for real.

mod common;

use common::{check, classes, gcc_source, work_dir};
use nativm_verifier::{verify, Config, Report, Rule};

use Rule::ElfStructure as E;

/// A good contract: two methods, code, read-only data, data and bss, and a
/// second executable section.
const GOOD_C: &str = r#"
static const long table[4] = {1, 2, 3, 5};
long counter = 7;
static long scratch[16];
long get(long i) { return table[i & 3] + counter; }
long bump(long x) { scratch[x & 15] += x; counter += scratch[(x + 1) & 15]; return counter; }
__attribute__((section(".mycode"), noinline)) long second(long x) { return x * 3 + 1; }
"#;

/// The well-formed contract every test mutates, built once: the tests of
/// this file run in parallel, and building it in each raced on the same
/// output file (a test could read a half-written ELF).
fn good() -> Vec<u8> {
    static GOOD: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    GOOD.get_or_init(|| {
        let dir = work_dir("elf-structure");
        gcc_source(&dir, "good", "c", GOOD_C, &["-O2"]).unwrap_or_else(|e| panic!("{e}"))
    })
    .clone()
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
fn put16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

// ELF64 header fields (System V gABI, "ELF Header").
const E_TYPE: usize = 16;
const E_MACHINE: usize = 18;
const E_PHOFF: usize = 32;
const E_SHOFF: usize = 40;
const E_PHNUM: usize = 56;
const E_SHNUM: usize = 60;
const E_SHSTRNDX: usize = 62;
// Program header fields (56 bytes each).
const P_TYPE: usize = 0;
const P_FLAGS: usize = 4;
const P_OFFSET: usize = 8;
const P_VADDR: usize = 16;
const P_FILESZ: usize = 32;
const P_MEMSZ: usize = 40;
// Section header fields (64 bytes each).
const SH_TYPE: usize = 4;
const SH_ADDR: usize = 16;
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;

/// Offsets of the program headers.
fn phdrs(b: &[u8]) -> Vec<usize> {
    let off = u64_at(b, E_PHOFF) as usize;
    (0..u16_at(b, E_PHNUM) as usize)
        .map(|i| off + i * 56)
        .collect()
}

/// Offset of the first program header of type `ty` whose flags contain
/// `flags`.
fn phdr(b: &[u8], ty: u32, flags: u32) -> usize {
    phdrs(b)
        .into_iter()
        .find(|&p| u32_at(b, p + P_TYPE) == ty && u32_at(b, p + P_FLAGS) & flags == flags)
        .unwrap_or_else(|| panic!("no program header of type {ty} with flags {flags}"))
}

/// Offset of the section header named `name`.
fn shdr(b: &[u8], name: &str) -> usize {
    let off = u64_at(b, E_SHOFF) as usize;
    let n = u16_at(b, E_SHNUM) as usize;
    let strtab = off + u16_at(b, E_SHSTRNDX) as usize * 64;
    let str_off = u64_at(b, strtab + SH_OFFSET) as usize;
    (0..n)
        .map(|i| off + i * 64)
        .find(|&s| {
            let start = str_off + u32_at(b, s) as usize;
            let end = start + b[start..].iter().position(|&c| c == 0).unwrap();
            &b[start..end] == name.as_bytes()
        })
        .unwrap_or_else(|| panic!("no section {name}"))
}

fn expect(name: &str, report: &Report, want: &[(Rule, &str)]) {
    for &(rule, class) in want {
        assert!(
            report.has(rule, class),
            "{name}: expected {}/{class}:\n{}",
            rule.as_str(),
            report.to_text()
        );
    }
}

/// Exactly these (rule, class) pairs.
fn expect_only(name: &str, report: &Report, want: &[(Rule, &str)]) {
    let mut w = want.to_vec();
    w.sort();
    assert_eq!(classes(report), w, "{name}:\n{}", report.to_text());
}

#[test]
fn the_good_contract_verifies() {
    let b = good();
    let report = check(&b);
    assert!(report.is_ok(), "{}", report.to_text());
    let mut methods = report.methods.clone();
    methods.sort();
    assert_eq!(methods, ["bump", "get", "second"]);
    assert!(report.stats.code_sections >= 2, "{:?}", report.stats);
}

#[test]
fn not_elf_and_truncated_headers() {
    let b = good();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "not-elf"),
        ("three-bytes", b"\x7fEL".to_vec(), "not-elf"),
        (
            "pe-file",
            b"MZ\x90\x00\x03\x00\x00\x00".repeat(16),
            "not-elf",
        ),
        ("shebang", b"#!/bin/sh\necho hi\n".to_vec(), "not-elf"),
        ("magic-only", b"\x7fELF".to_vec(), "truncated"),
        ("half-header", b[..40].to_vec(), "truncated"),
        ("63-bytes", b[..63].to_vec(), "truncated"),
    ];
    for (name, bytes, class) in cases {
        let report = check(&bytes);
        expect_only(name, &report, &[(E, class)]);
        assert!(report.methods.is_empty() && report.stats.instructions == 0);
    }
}

#[test]
fn wrong_class_data_machine_and_type() {
    let b = good();
    let mut elf32 = b.clone();
    elf32[4] = 1;
    expect_only("elfclass32", &check(&elf32), &[(E, "not-elf64")]);
    let mut big = b.clone();
    big[5] = 2;
    expect_only("big-endian", &check(&big), &[(E, "not-little-endian")]);
    for machine in [3u16, 183, 243] {
        let mut m = b.clone();
        put16(&mut m, E_MACHINE, machine);
        expect_only("e_machine", &check(&m), &[(E, "not-x86-64")]);
    }
    for ty in [1u16, 3, 4] {
        let mut t = b.clone();
        put16(&mut t, E_TYPE, ty);
        expect_only("e_type", &check(&t), &[(E, "not-static-executable")]);
    }
}

#[test]
fn inconsistent_header_offsets_and_counts() {
    let b = good();
    let len = b.len() as u64;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut m = b.clone();
    put64(&mut m, E_PHOFF, len + 0x1000);
    cases.push(("e_phoff-past-end", m));
    let mut m = b.clone();
    put64(&mut m, E_PHOFF, u64::MAX - 8);
    cases.push(("e_phoff-overflow", m));
    let mut m = b.clone();
    put64(&mut m, E_SHOFF, len - 10);
    cases.push(("e_shoff-past-end", m));
    let mut m = b.clone();
    put64(&mut m, E_SHOFF, u64::MAX - 63);
    cases.push(("e_shoff-overflow", m));
    let mut m = b.clone();
    put16(&mut m, E_PHNUM, u16::MAX);
    cases.push(("e_phnum-huge", m));
    let mut m = b.clone();
    put16(&mut m, E_SHNUM, u16::MAX);
    cases.push(("e_shnum-huge", m));
    for (name, bytes) in cases {
        let report = check(&bytes);
        assert!(!report.is_ok(), "{name} verified:\n{}", report.to_text());
        assert!(
            report.of_rule(E).count() > 0,
            "{name}: no ELF-structure violation:\n{}",
            report.to_text()
        );
    }
}

#[test]
fn absurd_segment_and_section_sizes() {
    let b = good();
    let text_seg = phdr(&b, PT_LOAD, PF_X);
    let data_seg = phdr(&b, PT_LOAD, PF_W);
    let text = shdr(&b, ".text");

    let mut m = b.clone();
    put64(&mut m, text_seg + P_FILESZ, 0x7fff_ffff_ffff_ffff);
    put64(&mut m, text_seg + P_MEMSZ, 0x7fff_ffff_ffff_ffff);
    let r = check(&m);
    expect(
        "p_filesz-absurd",
        &r,
        &[
            (E, "truncated"),
            (E, "segment-outside-window"),
            (E, "size-limit"),
        ],
    );

    let mut m = b.clone();
    put64(&mut m, text_seg + P_OFFSET, u64::MAX - 4);
    expect("p_offset-overflow", &check(&m), &[(E, "truncated")]);

    let mut m = b.clone();
    put64(&mut m, data_seg + P_MEMSZ, 300 << 20);
    expect_only("p_memsz-over-data-limit", &check(&m), &[(E, "size-limit")]);

    let mut m = b.clone();
    put64(&mut m, data_seg + P_MEMSZ, u64::MAX - 0x1000);
    expect(
        "p_memsz-wraps",
        &check(&m),
        &[(E, "segment-outside-window"), (E, "size-limit")],
    );

    let mut m = b.clone();
    let memsz = u64_at(&m, text_seg + P_MEMSZ);
    put64(&mut m, text_seg + P_FILESZ, memsz + 1);
    expect("p_filesz-above-p_memsz", &check(&m), &[(E, "truncated")]);

    let mut m = b.clone();
    put64(&mut m, text + SH_SIZE, 0x7fff_ffff_ffff_0000);
    expect("sh_size-absurd", &check(&m), &[(E, "truncated")]);

    let mut m = b.clone();
    put64(&mut m, text + SH_OFFSET, u64::MAX - 2);
    expect("sh_offset-overflow", &check(&m), &[(E, "truncated")]);

    let mut m = b.clone();
    put64(&mut m, text + SH_ADDR, u64::MAX - 4);
    expect("sh_addr-overflow", &check(&m), &[(E, "malformed")]);

    // A real 300 MiB .bss: over the data limit; a 1.5 GiB one leaves the window.
    let dir = work_dir("elf-structure");
    let big = gcc_source(
        &dir,
        "big-bss",
        "c",
        "char big[300 << 20]; long m(long i) { return big[i]; }",
        &["-O2"],
    )
    .unwrap();
    expect_only("big-bss", &check(&big), &[(E, "size-limit")]);
    let huge = gcc_source(
        &dir,
        "huge-bss",
        "c",
        "char huge[3ul << 29]; long m(long i) { return huge[i]; }",
        &["-O2", "-mcmodel=medium"],
    )
    .unwrap();
    expect("huge-bss", &check(&huge), &[(E, "segment-outside-window")]);
}

#[test]
fn configured_limits() {
    let b = good();
    let small = |c: Config| verify(&b, &c);
    let d = Config::default();
    expect_only(
        "max_file_size",
        &small(Config {
            max_file_size: 100,
            ..d.clone()
        }),
        &[(E, "size-limit")],
    );
    expect_only(
        "max_code_size",
        &small(Config {
            max_code_size: 16,
            ..d.clone()
        }),
        &[(E, "size-limit")],
    );
    expect_only(
        "max_data_size",
        &small(Config {
            max_data_size: 8,
            ..d.clone()
        }),
        &[(E, "size-limit")],
    );
    expect_only(
        "max_segments",
        &small(Config {
            max_segments: 1,
            ..d.clone()
        }),
        &[(E, "size-limit")],
    );
    expect_only(
        "max_symbols",
        &small(Config {
            max_symbols: 2,
            ..d.clone()
        }),
        &[(E, "size-limit")],
    );
}

#[test]
fn segment_rights_types_and_placement() {
    let b = good();
    let text_seg = phdr(&b, PT_LOAD, PF_X);
    let data_seg = phdr(&b, PT_LOAD, PF_W);
    let stack = phdrs(&b)
        .into_iter()
        .find(|&p| u32_at(&b, p + P_TYPE) == 0x6474_e551)
        .expect("PT_GNU_STACK");

    let mut m = b.clone();
    put32(&mut m, text_seg + P_FLAGS, PF_X | PF_W | 4);
    expect_only("text-wx", &check(&m), &[(E, "segment-wx")]);
    let mut m = b.clone();
    put32(&mut m, data_seg + P_FLAGS, PF_X | PF_W | 4);
    expect("data-wx", &check(&m), &[(E, "segment-wx")]);

    for (ty, class) in [(3u32, "interpreter"), (2, "dynamic"), (7, "tls")] {
        let mut m = b.clone();
        put32(&mut m, stack + P_TYPE, ty);
        expect_only(class, &check(&m), &[(E, class)]);
    }

    let mut m = b.clone();
    put64(&mut m, text_seg + P_VADDR, 0x1000);
    expect(
        "vaddr-below-window",
        &check(&m),
        &[(E, "segment-outside-window")],
    );
    let mut m = b.clone();
    put64(&mut m, data_seg + P_VADDR, 0x4000_0000 - 8);
    expect(
        "vaddr-straddles-window-end",
        &check(&m),
        &[(E, "segment-outside-window")],
    );

    // The data segment moved onto the text segment's page.
    let mut m = b.clone();
    let text_vaddr = u64_at(&m, text_seg + P_VADDR);
    put64(&mut m, data_seg + P_VADDR, text_vaddr + 0x10);
    expect("segment-overlap", &check(&m), &[(E, "segment-overlap")]);

    // No executable segment at all.
    let mut m = b.clone();
    put32(&mut m, text_seg + P_FLAGS, 4);
    expect(
        "no-code",
        &check(&m),
        &[(E, "no-code"), (E, "code-outside-segment")],
    );
}

#[test]
fn sections_that_lie() {
    let b = good();
    let text = shdr(&b, ".text");
    let second = shdr(&b, ".mycode");
    let data = shdr(&b, ".data");

    let mut m = b.clone();
    put32(&mut m, text + SH_TYPE, 8); // SHT_NOBITS
    expect(
        "code-without-bytes",
        &check(&m),
        &[(E, "code-without-bytes")],
    );

    let mut m = b.clone();
    let data_addr = u64_at(&m, data + SH_ADDR);
    put64(&mut m, text + SH_ADDR, data_addr);
    expect(
        "code-outside-segment",
        &check(&m),
        &[(E, "code-outside-segment")],
    );

    let mut m = b.clone();
    let text_addr = u64_at(&m, text + SH_ADDR);
    put64(&mut m, second + SH_ADDR, text_addr);
    expect("section-overlap", &check(&m), &[(E, "section-overlap")]);

    // A loader relocation section: SHT_RELA with SHF_ALLOC.
    let mut m = b.clone();
    put32(&mut m, data + SH_TYPE, 4);
    expect_only("rela-alloc", &check(&m), &[(E, "relocations")]);
}

/// An out-of-range section-name table index only loses the names: the
/// code is still found and checked.
#[test]
fn bad_section_name_index_is_harmless() {
    let mut b = good();
    put16(&mut b, E_SHSTRNDX, 0xfff0);
    let report = check(&b);
    assert!(report.stats.instructions > 0, "{}", report.to_text());
}

/// Without section headers the executable segments are swept whole.
#[test]
fn no_section_headers() {
    let mut b = good();
    put64(&mut b, E_SHOFF, 0);
    put16(&mut b, E_SHNUM, 0);
    put16(&mut b, E_SHSTRNDX, 0);
    let report = check(&b);
    assert_eq!(report.of_rule(E).count(), 0, "{}", report.to_text());
    assert!(report.stats.instructions > 0 && report.methods.is_empty());
}

/// Defects produced by real toolchain options.
#[test]
fn built_with_hostile_linker_options() {
    let dir = work_dir("elf-structure");
    let simple = "long counter; long m(long x) { counter += x; return counter; }";
    let build = |name: &str, src: &str, flags: &[&str]| {
        gcc_source(&dir, name, "c", src, flags).unwrap_or_else(|e| panic!("{e}"))
    };

    // One RWX segment (`ld -N`).
    let r = check(&build("omagic", simple, &["-O2", "-Wl,--omagic"]));
    expect_only("omagic", &r, &[(E, "segment-wx")]);

    // Linked below the contract window.
    let r = check(&build(
        "low-base",
        simple,
        &["-O2", "-Wl,-Ttext-segment=0x200000"],
    ));
    expect_only("low-base", &r, &[(E, "segment-outside-window")]);

    // A static PIE: ET_DYN with PT_DYNAMIC.
    let r = check(&build(
        "static-pie",
        simple,
        &["-O2", "-fpie", "-static-pie"],
    ));
    expect(
        "static-pie",
        &r,
        &[(E, "not-static-executable"), (E, "dynamic")],
    );

    // Dynamically linked (no -static in effect): PT_INTERP and PT_DYNAMIC.
    let r = check(&build(
        "dynamic",
        simple,
        &[
            "-O2",
            "-Wl,-Bdynamic",
            "-Wl,--dynamic-linker=/lib64/ld-linux-x86-64.so.2",
            "-Wl,--export-dynamic",
            "-Wl,-pie",
        ],
    ));
    expect("dynamic", &r, &[(E, "interpreter")]);

    // An IFUNC: IRELATIVE relocations in .rela.plt for the loader.
    let ifunc = "static long impl(long x) { return x + 1; }\n\
                 static void *resolve(void) { return (void *)impl; }\n\
                 long f(long) __attribute__((ifunc(\"resolve\")));\n\
                 long m(long x) { return f(x); }";
    let r = check(&build("ifunc", ifunc, &["-O2"]));
    expect("ifunc", &r, &[(E, "relocations")]);

    // An object file, not an executable.
    let obj = dir.join("object.o");
    std::fs::write(dir.join("object.c"), simple).unwrap();
    let status = std::process::Command::new("gcc")
        .args(["-O2", "-c", "-o"])
        .arg(&obj)
        .arg(dir.join("object.c"))
        .status()
        .unwrap();
    assert!(status.success());
    let r = check(&std::fs::read(&obj).unwrap());
    expect(
        "object",
        &r,
        &[(E, "not-static-executable"), (E, "no-code")],
    );
}

/// Verification never panics: every prefix of a good contract, and many
/// deterministic corruptions of its headers and of random bytes.
#[test]
fn never_panics_on_truncations_and_corruptions() {
    let b = good();
    for len in 0..b.len() {
        let report = check(&b[..len]);
        assert!(!report.is_ok() || len == b.len(), "prefix {len} verified");
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let interesting = [
        0u64,
        1,
        0x40,
        0xff,
        0x1000,
        0x7fff_ffff,
        0xffff_ffff,
        u64::MAX,
        u64::MAX / 2,
        b.len() as u64,
    ];
    let header_end =
        (u64_at(&b, E_PHOFF) as usize + 56 * u16_at(&b, E_PHNUM) as usize).min(b.len());
    let shoff = u64_at(&b, E_SHOFF) as usize;
    for i in 0..4000 {
        let mut m = b.clone();
        let region = if i % 2 == 0 {
            0..header_end
        } else {
            shoff..b.len()
        };
        let at = region.start + (next() as usize) % (region.end - region.start);
        match next() % 3 {
            0 => m[at] = next() as u8,
            1 if at + 8 <= m.len() => put64(
                &mut m,
                at,
                interesting[(next() % interesting.len() as u64) as usize],
            ),
            _ if at + 4 <= m.len() => put32(&mut m, at, next() as u32),
            _ => m[at] ^= 0xff,
        }
        let _ = check(&m);
    }
    // Random bytes anywhere in the file, several at once.
    for _ in 0..500 {
        let mut m = b.clone();
        for _ in 0..8 {
            let at = (next() as usize) % m.len();
            m[at] = next() as u8;
        }
        let _ = check(&m);
    }
}

#[test]
fn the_parse_hands_the_loader_every_checked_segment() {
    let elf = good();
    let (report, parsed) = nativm_verifier::verify_and_parse(&elf, &Default::default());
    assert!(report.is_ok(), "{report:?}");
    let parsed_elf = goblin::elf::Elf::parse(&elf).unwrap();
    let loads: Vec<_> = parsed_elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD && p.p_memsz > 0)
        .collect();
    assert_eq!(parsed.segments.len(), loads.len());
    assert!(parsed.segments.windows(2).all(|w| w[0].vaddr < w[1].vaddr));
    for s in &parsed.segments {
        let ph = loads.iter().find(|p| p.p_vaddr == s.vaddr).unwrap();
        assert_eq!(s.mem_size, ph.p_memsz);
        assert_eq!(
            s.bytes,
            &elf[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize]
        );
        assert_eq!(s.execute, ph.p_flags & 1 != 0);
        assert_eq!(s.write, ph.p_flags & 2 != 0);
    }
    assert!(parsed.segments.iter().any(|s| s.execute));
}
