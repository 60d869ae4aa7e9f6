//! A minimal writer of synthetic contract ELFs for the deploy-scaling
//! tests and benchmarks: one read + execute `PT_LOAD` segment at
//! [`CODE_BASE`] holding any number of executable sections, and a symbol
//! table of exported methods (global `STT_FUNC`). No compiler is involved,
//! so the shapes that stress the verifier and the translator (tens of
//! thousands of sections or methods, megabytes of one instruction) are
//! generated in milliseconds.
//!
//! Layout (System V gABI, "Object Files"): ELF header, one program header,
//! the code at file offset [`CODE_OFFSET`], then `.symtab`, `.strtab`,
//! `.shstrtab` and the section headers. Section 0 is the null section,
//! sections `1..=n` the code sections.

#![allow(dead_code)]

/// Virtual address of the first code byte.
pub const CODE_BASE: u64 = 0x40_1000;
/// File offset of the first code byte.
const CODE_OFFSET: u64 = 0x1000;

/// A method symbol: name and byte offset from [`CODE_BASE`].
pub struct Method {
    /// Symbol name.
    pub name: String,
    /// Offset of its first byte from [`CODE_BASE`].
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

fn push_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn push_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn push_u64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn pad_to(v: &mut Vec<u8>, align: usize) {
    while !v.len().is_multiple_of(align) {
        v.push(0);
    }
}

#[allow(clippy::too_many_arguments)]
fn section_header(
    v: &mut Vec<u8>,
    name: u32,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    entsize: u64,
) {
    push_u32(v, name);
    push_u32(v, kind);
    push_u64(v, flags);
    push_u64(v, addr);
    push_u64(v, offset);
    push_u64(v, size);
    push_u32(v, link);
    push_u32(v, info);
    push_u64(v, 1);
    push_u64(v, entsize);
}

/// An ELF whose code is the concatenation of `sections` (each its own
/// `SHF_EXECINSTR` section, all named `.text`), with `methods` exported.
/// At most 65 279 sections (no extended section numbering).
pub fn elf(sections: &[&[u8]], methods: &[Method]) -> Vec<u8> {
    let code_len: u64 = sections.iter().map(|s| s.len() as u64).sum();
    let n = sections.len();
    assert!(n + 4 < 0xff00, "extended section numbering is not written");
    let mut out = vec![0u8; CODE_OFFSET as usize];
    for s in sections {
        out.extend_from_slice(s);
    }
    pad_to(&mut out, 8);
    // .symtab: the null symbol, then one per method.
    let symtab_off = out.len() as u64;
    let mut strtab = vec![0u8];
    out.extend_from_slice(&[0u8; 24]);
    for m in methods {
        let name = strtab.len() as u32;
        strtab.extend_from_slice(m.name.as_bytes());
        strtab.push(0);
        push_u32(&mut out, name);
        out.push(0x12); // STB_GLOBAL << 4 | STT_FUNC
        out.push(0); // STV_DEFAULT
        push_u16(&mut out, 1); // the first code section
        push_u64(&mut out, CODE_BASE + m.offset);
        push_u64(&mut out, m.size);
    }
    let symtab_len = out.len() as u64 - symtab_off;
    let strtab_off = out.len() as u64;
    out.extend_from_slice(&strtab);
    let shstrtab_off = out.len() as u64;
    let shstrtab = b"\0.text\0.symtab\0.strtab\0.shstrtab\0";
    out.extend_from_slice(shstrtab);
    pad_to(&mut out, 8);
    let shoff = out.len() as u64;
    let shnum = n + 4;
    section_header(&mut out, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    let mut addr = CODE_BASE;
    let mut off = CODE_OFFSET;
    for s in sections {
        let len = s.len() as u64;
        section_header(&mut out, 1, 1, 0x6, addr, off, len, 0, 0, 0);
        addr += len;
        off += len;
    }
    let strtab_index = (n + 2) as u32;
    section_header(
        &mut out,
        7,
        2,
        0,
        0,
        symtab_off,
        symtab_len,
        strtab_index,
        1,
        24,
    );
    section_header(
        &mut out,
        15,
        3,
        0,
        0,
        strtab_off,
        strtab.len() as u64,
        0,
        0,
        0,
    );
    section_header(
        &mut out,
        23,
        3,
        0,
        0,
        shstrtab_off,
        shstrtab.len() as u64,
        0,
        0,
        0,
    );
    // ELF header.
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    push_u16(&mut h, 2); // ET_EXEC
    push_u16(&mut h, 62); // EM_X86_64
    push_u32(&mut h, 1);
    push_u64(&mut h, CODE_BASE); // e_entry
    push_u64(&mut h, 64); // e_phoff
    push_u64(&mut h, shoff);
    push_u32(&mut h, 0);
    push_u16(&mut h, 64);
    push_u16(&mut h, 56);
    push_u16(&mut h, 1);
    push_u16(&mut h, 64);
    push_u16(&mut h, shnum as u16);
    push_u16(&mut h, (n + 3) as u16);
    // PT_LOAD, R+X.
    push_u32(&mut h, 1);
    push_u32(&mut h, 5);
    push_u64(&mut h, CODE_OFFSET);
    push_u64(&mut h, CODE_BASE);
    push_u64(&mut h, CODE_BASE);
    push_u64(&mut h, code_len.max(1));
    push_u64(&mut h, code_len.max(1));
    push_u64(&mut h, 0x1000);
    out[..h.len()].copy_from_slice(&h);
    out
}

/// `count` sections holding `body` each (which must not fall through at
/// its end), the first exported as method `m`.
pub fn many_sections(count: usize, body: &[u8]) -> Vec<u8> {
    let sections = vec![body; count];
    elf(
        &sections,
        &[Method {
            name: "m".into(),
            offset: 0,
            size: body.len() as u64,
        }],
    )
}

/// One section of `count` methods `m0`, `m1`, ..., each `xor eax, eax;
/// ret` (3 bytes).
pub fn many_methods(count: usize) -> Vec<u8> {
    let body = [0x31, 0xc0, 0xc3];
    let code: Vec<u8> = body.iter().copied().cycle().take(3 * count).collect();
    let methods: Vec<Method> = (0..count)
        .map(|i| Method {
            name: format!("m{i}"),
            offset: 3 * i as u64,
            size: 3,
        })
        .collect();
    elf(&[&code], &methods)
}

/// One section of `bytes` bytes repeating `pattern` (which must end with
/// an instruction that does not fall through, e.g. `ret` or `jmp`), the
/// first byte exported as method `m`.
pub fn repeated(pattern: &[u8], bytes: usize) -> Vec<u8> {
    let count = bytes / pattern.len();
    let code: Vec<u8> = pattern
        .iter()
        .copied()
        .cycle()
        .take(count * pattern.len())
        .collect();
    elf(
        &[&code],
        &[Method {
            name: "m".into(),
            offset: 0,
            size: pattern.len() as u64,
        }],
    )
}
