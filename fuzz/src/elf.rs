//! A minimal static `ET_EXEC` ELF64 writer: one R+X text segment, an
//! optional read-only segment, one RW data segment (`.data` then `.bss`),
//! section headers, a symbol table with one global function per method.
//!
//! Layout (virtual addresses fixed, so code can be assembled against them
//! before the file is written): see [`TEXT`], [`RODATA`], [`DATA`], [`BSS`].

/// Address of `.text` (file offset 0x1000).
pub const TEXT: u64 = 0x40_1000;
/// Largest `.text` this writer places (it must end before [`RODATA`]).
pub const TEXT_MAX: u64 = RODATA - TEXT;
/// Address of `.rodata` (one page).
pub const RODATA: u64 = 0x48_0000;
/// Size of `.rodata`.
pub const RODATA_SIZE: u64 = 0x1000;
/// Address of `.data` (at most one page of initialised bytes).
pub const DATA: u64 = 0x50_0000;
/// Size of the `.data` page.
pub const DATA_SIZE: u64 = 0x1000;
/// Address of `.bss` (right after the `.data` page, same segment).
pub const BSS: u64 = DATA + DATA_SIZE;

/// A symbol to put in `.symtab`.
#[derive(Clone, Debug)]
pub struct Symbol {
    /// Name.
    pub name: String,
    /// Address (inside `.text`).
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Global (an exported method) or local.
    pub global: bool,
}

/// What to write.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// Machine code placed at [`TEXT`].
    pub text: Vec<u8>,
    /// Read-only data placed at [`RODATA`] (none if empty).
    pub rodata: Vec<u8>,
    /// Initialised data placed at [`DATA`] (at most [`DATA_SIZE`] bytes).
    pub data: Vec<u8>,
    /// Zero-initialised bytes at [`BSS`] (0: no `.bss`).
    pub bss_size: u64,
    /// Function symbols.
    pub symbols: Vec<Symbol>,
}

fn put(b: &mut Vec<u8>, at: usize, v: u64, w: usize) {
    if b.len() < at + w {
        b.resize(at + w, 0);
    }
    b[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
}

fn align(b: &mut Vec<u8>, a: usize) {
    while !b.len().is_multiple_of(a) {
        b.push(0);
    }
}

struct Section {
    name: u32,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

/// Writes the ELF file.
pub fn write(spec: &Spec) -> Vec<u8> {
    assert!((spec.text.len() as u64) <= TEXT_MAX, "text too large");
    assert!((spec.rodata.len() as u64) <= RODATA_SIZE);
    assert!((spec.data.len() as u64) <= DATA_SIZE);
    let mut f = vec![0u8; 0x1000];
    let mut shstr: Vec<u8> = vec![0];
    let mut name = |s: &str| {
        let at = shstr.len() as u32;
        shstr.extend_from_slice(s.as_bytes());
        shstr.push(0);
        at
    };
    let n_text = name(".text");
    let n_rodata = name(".rodata");
    let n_data = name(".data");
    let n_bss = name(".bss");
    let n_symtab = name(".symtab");
    let n_strtab = name(".strtab");
    let n_shstrtab = name(".shstrtab");

    // Segments: (flags, offset, vaddr, filesz, memsz).
    let mut phdrs: Vec<(u32, u64, u64, u64, u64)> = Vec::new();
    let mut sections: Vec<Section> = vec![Section {
        name: 0,
        kind: 0,
        flags: 0,
        addr: 0,
        offset: 0,
        size: 0,
        link: 0,
        info: 0,
        align: 0,
        entsize: 0,
    }];

    // .text
    let text_off = f.len() as u64;
    f.extend_from_slice(&spec.text);
    phdrs.push((
        5,
        text_off,
        TEXT,
        spec.text.len() as u64,
        spec.text.len() as u64,
    ));
    let text_index = sections.len() as u64;
    sections.push(Section {
        name: n_text,
        kind: 1,
        flags: 2 | 4,
        addr: TEXT,
        offset: text_off,
        size: spec.text.len() as u64,
        link: 0,
        info: 0,
        align: 16,
        entsize: 0,
    });
    align(&mut f, 0x1000);

    // .rodata
    if !spec.rodata.is_empty() {
        let off = f.len() as u64;
        f.extend_from_slice(&spec.rodata);
        phdrs.push((
            4,
            off,
            RODATA,
            spec.rodata.len() as u64,
            spec.rodata.len() as u64,
        ));
        sections.push(Section {
            name: n_rodata,
            kind: 1,
            flags: 2,
            addr: RODATA,
            offset: off,
            size: spec.rodata.len() as u64,
            link: 0,
            info: 0,
            align: 8,
            entsize: 0,
        });
        align(&mut f, 0x1000);
    }

    // .data + .bss: one RW segment.
    if !spec.data.is_empty() || spec.bss_size > 0 {
        let off = f.len() as u64;
        f.extend_from_slice(&spec.data);
        let memsz = if spec.bss_size > 0 {
            DATA_SIZE + spec.bss_size
        } else {
            spec.data.len() as u64
        };
        phdrs.push((6, off, DATA, spec.data.len() as u64, memsz));
        if !spec.data.is_empty() {
            sections.push(Section {
                name: n_data,
                kind: 1,
                flags: 1 | 2,
                addr: DATA,
                offset: off,
                size: spec.data.len() as u64,
                link: 0,
                info: 0,
                align: 8,
                entsize: 0,
            });
        }
        if spec.bss_size > 0 {
            sections.push(Section {
                name: n_bss,
                kind: 8,
                flags: 1 | 2,
                addr: BSS,
                offset: off + spec.data.len() as u64,
                size: spec.bss_size,
                link: 0,
                info: 0,
                align: 16,
                entsize: 0,
            });
        }
    }
    align(&mut f, 8);

    // .strtab and .symtab: the null symbol, locals, then globals.
    let mut strtab: Vec<u8> = vec![0];
    let mut symtab: Vec<u8> = vec![0u8; 24];
    let mut ordered: Vec<&Symbol> = spec.symbols.iter().filter(|s| !s.global).collect();
    let locals = ordered.len() as u32 + 1;
    ordered.extend(spec.symbols.iter().filter(|s| s.global));
    for s in ordered {
        let at = strtab.len() as u64;
        strtab.extend_from_slice(s.name.as_bytes());
        strtab.push(0);
        let mut e = vec![0u8; 24];
        put(&mut e, 0, at, 4);
        // STT_FUNC (2), STB_GLOBAL (1) or STB_LOCAL (0).
        e[4] = (if s.global { 1 << 4 } else { 0 }) | 2;
        e[5] = 0;
        put(&mut e, 6, text_index, 2);
        put(&mut e, 8, s.addr, 8);
        put(&mut e, 16, s.size, 8);
        symtab.extend_from_slice(&e);
    }
    let symtab_index = sections.len() as u32;
    let sym_off = f.len() as u64;
    f.extend_from_slice(&symtab);
    sections.push(Section {
        name: n_symtab,
        kind: 2,
        flags: 0,
        addr: 0,
        offset: sym_off,
        size: symtab.len() as u64,
        link: symtab_index + 1,
        info: locals,
        align: 8,
        entsize: 24,
    });
    let str_off = f.len() as u64;
    f.extend_from_slice(&strtab);
    sections.push(Section {
        name: n_strtab,
        kind: 3,
        flags: 0,
        addr: 0,
        offset: str_off,
        size: strtab.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    let shstr_off = f.len() as u64;
    f.extend_from_slice(&shstr);
    let shstrndx = sections.len() as u64;
    sections.push(Section {
        name: n_shstrtab,
        kind: 3,
        flags: 0,
        addr: 0,
        offset: shstr_off,
        size: shstr.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    align(&mut f, 8);
    let shoff = f.len() as u64;
    for s in &sections {
        let at = f.len();
        f.resize(at + 64, 0);
        put(&mut f, at, s.name as u64, 4);
        put(&mut f, at + 4, s.kind as u64, 4);
        put(&mut f, at + 8, s.flags, 8);
        put(&mut f, at + 16, s.addr, 8);
        put(&mut f, at + 24, s.offset, 8);
        put(&mut f, at + 32, s.size, 8);
        put(&mut f, at + 40, s.link as u64, 4);
        put(&mut f, at + 44, s.info as u64, 4);
        put(&mut f, at + 48, s.align, 8);
        put(&mut f, at + 56, s.entsize, 8);
    }

    // ELF header.
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // ELFCLASS64
    f[5] = 1; // ELFDATA2LSB
    f[6] = 1; // EV_CURRENT
    put(&mut f, 0x10, 2, 2); // ET_EXEC
    put(&mut f, 0x12, 62, 2); // EM_X86_64
    put(&mut f, 0x14, 1, 4);
    let entry = spec
        .symbols
        .iter()
        .find(|s| s.global)
        .map_or(TEXT, |s| s.addr);
    put(&mut f, 0x18, entry, 8);
    put(&mut f, 0x20, 64, 8); // e_phoff
    put(&mut f, 0x28, shoff, 8);
    put(&mut f, 0x34, 64, 2); // e_ehsize
    put(&mut f, 0x36, 56, 2);
    put(&mut f, 0x38, phdrs.len() as u64, 2);
    put(&mut f, 0x3a, 64, 2);
    put(&mut f, 0x3c, sections.len() as u64, 2);
    put(&mut f, 0x3e, shstrndx, 2);
    for (i, (flags, off, vaddr, filesz, memsz)) in phdrs.iter().enumerate() {
        let at = 64 + i * 56;
        put(&mut f, at, 1, 4); // PT_LOAD
        put(&mut f, at + 4, *flags as u64, 4);
        put(&mut f, at + 8, *off, 8);
        put(&mut f, at + 16, *vaddr, 8);
        put(&mut f, at + 24, *vaddr, 8);
        put(&mut f, at + 32, *filesz, 8);
        put(&mut f, at + 40, *memsz, 8);
        put(&mut f, at + 48, 0x1000, 8);
    }
    f
}
