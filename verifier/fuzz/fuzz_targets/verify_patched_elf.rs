//! Structure-aware: a real contract ELF (sha256 or fib) with header,
//! program-header and section-header fields overwritten by values chosen
//! with `arbitrary` (biased to boundary values), plus optional truncation
//! and raw code bytes.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

static SHA256: &[u8] = include_bytes!("../../../target/contracts/sha256.elf");
static FIB: &[u8] = include_bytes!("../../../target/contracts/fib.elf");
static COUNTER: &[u8] = include_bytes!("../../../target/contracts/counter.elf");

/// A field value: boundaries are more interesting than uniform noise.
#[derive(Arbitrary, Debug)]
enum Value {
    Zero,
    Max,
    One,
    Small(u8),
    /// Near the contract window and page boundaries.
    Near(u8, i16),
    /// Original value plus a delta.
    Delta(i32),
    Any(u64),
}

#[derive(Arbitrary, Debug)]
enum Field {
    /// ELF header field at a byte offset (0..64) with a width of 1, 2, 4 or 8.
    Header { offset: u8, width: u8 },
    /// Program header `index`, field at `offset` (0..56).
    Program { index: u8, offset: u8, width: u8 },
    /// Section header `index`, field at `offset` (0..64).
    Section { index: u8, offset: u8, width: u8 },
    /// Symbol table entry `index`, field at `offset` (0..24).
    Symbol { index: u16, offset: u8, width: u8 },
}

#[derive(Arbitrary, Debug)]
struct Patch {
    field: Field,
    value: Value,
}

#[derive(Arbitrary, Debug)]
struct Input {
    which: u8,
    patches: Vec<Patch>,
    /// Bytes written over the start of `.text` (offset 0x1000 in every example).
    code: Vec<u8>,
    code_offset: u16,
    truncate: Option<u32>,
}

fn rd(b: &[u8], at: usize, w: usize) -> u64 {
    let mut v = [0u8; 8];
    if at + w <= b.len() {
        v[..w].copy_from_slice(&b[at..at + w]);
    }
    u64::from_le_bytes(v)
}

fn wr(b: &mut [u8], at: usize, w: usize, v: u64) {
    if at + w <= b.len() {
        b[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
    }
}

fn width(w: u8) -> usize {
    [1, 2, 4, 8][(w & 3) as usize]
}

fn value(v: &Value, old: u64) -> u64 {
    match *v {
        Value::Zero => 0,
        Value::Max => u64::MAX,
        Value::One => 1,
        Value::Small(s) => s as u64,
        Value::Near(base, d) => {
            let bases = [
                0x40_0000u64,
                0x4000_0000,
                0x1000,
                0x40_1000,
                1 << 63,
                u64::MAX - 0xfff,
                u32::MAX as u64,
                u16::MAX as u64,
            ];
            bases[(base & 7) as usize].wrapping_add(d as i64 as u64)
        }
        Value::Delta(d) => old.wrapping_add(d as i64 as u64),
        Value::Any(a) => a,
    }
}

fuzz_target!(|input: Input| {
    let base = match input.which % 3 {
        0 => SHA256,
        1 => FIB,
        _ => COUNTER,
    };
    let mut elf = base.to_vec();
    // Offsets come from the original header, so patches stay aimed at the
    // tables even after e_phoff/e_shoff themselves are patched.
    let phoff = rd(base, 0x20, 8) as usize;
    let shoff = rd(base, 0x28, 8) as usize;
    let phnum = rd(base, 0x38, 2) as usize;
    let shnum = rd(base, 0x3c, 2) as usize;
    // The symbol table: the section with sh_type SHT_SYMTAB (2).
    let symtab = (0..shnum)
        .map(|i| shoff + i * 64)
        .find(|&sh| rd(base, sh + 4, 4) == 2)
        .map(|sh| (rd(base, sh + 0x18, 8) as usize, rd(base, sh + 0x20, 8) as usize / 24));
    for p in input.patches.iter().take(16) {
        let (at, w) = match p.field {
            Field::Header { offset, width: w } => ((offset % 64) as usize, width(w)),
            Field::Program { index, offset, width: w } => (
                phoff + (index as usize % phnum.max(1)) * 56 + (offset % 56) as usize,
                width(w),
            ),
            Field::Section { index, offset, width: w } => (
                shoff + (index as usize % shnum.max(1)) * 64 + (offset % 64) as usize,
                width(w),
            ),
            Field::Symbol { index, offset, width: w } => match symtab {
                Some((off, n)) if n > 0 => (
                    off + (index as usize % n) * 24 + (offset % 24) as usize,
                    width(w),
                ),
                _ => continue,
            },
        };
        let old = rd(&elf, at, w);
        wr(&mut elf, at, w, value(&p.value, old));
    }
    let start = 0x1000 + input.code_offset as usize % 0x200;
    let end = (start + input.code.len()).min(elf.len());
    if start < end {
        elf[start..end].copy_from_slice(&input.code[..end - start]);
    }
    if let Some(t) = input.truncate {
        elf.truncate(t as usize % (elf.len() + 1));
    }
    let report = nativm_verifier::verify(&elf, &nativm_verifier::Config::default());
    assert_eq!(report.is_ok(), report.violations.is_empty());
});
