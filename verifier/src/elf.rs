//! Rule 1: ELF structure.
//!
//! Sources: System V ABI (gABI, "Object Files" chapter: ELF header, section
//! header, program header) and its AMD64 supplement (5.1 "Program Loading").
//! Every check adds a violation and carries on where it safely can, so one
//! report lists them all.

use goblin::elf::{header, program_header, section_header, sym, Elf};
use nativm_abi as abi;

use crate::report::{Rule, Violation};
use crate::Config;

/// Size of an ELF64 program header entry, in bytes (gABI, Elf64_Phdr).
const ELF64_PHDR_SIZE: usize = 56;
/// Size of an ELF64 section header entry, in bytes (gABI, Elf64_Shdr).
const ELF64_SHDR_SIZE: usize = 64;

/// A range of executable code to sweep: one `SHF_EXECINSTR` section (or a
/// whole executable segment when the file has no section headers).
#[derive(Clone, Debug)]
pub struct CodeRegion<'a> {
    /// Section name (or "segment N").
    pub name: String,
    /// Guest virtual address of the first byte.
    pub addr: u64,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// A function symbol, for naming addresses in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSymbol {
    /// Address.
    pub addr: u64,
    /// Size in bytes (0 if unknown).
    pub size: u64,
    /// Name.
    pub name: String,
    /// Whether it is an exported method (global, default visibility).
    pub method: bool,
}

/// One loadable (`PT_LOAD`, non-empty) segment as rule 1 checked it: what
/// the loader maps, so it never parses the file again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadSegment<'a> {
    /// Index of the program header.
    pub index: usize,
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Size in memory, in bytes (at least `bytes.len()`; the rest is zero).
    pub mem_size: u64,
    /// File offset of the segment's first byte (`p_offset`).
    pub offset: u64,
    /// The segment's bytes in the file (`bytes.len()` is `p_filesz`).
    pub bytes: &'a [u8],
    /// `PF_W`.
    pub write: bool,
    /// `PF_X`.
    pub execute: bool,
}

/// What rule 1 yields for the later rules and for the loader.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    /// Executable code, sorted by address.
    pub code: Vec<CodeRegion<'a>>,
    /// Function symbols sorted by address.
    pub functions: Vec<FunctionSymbol>,
    /// Loadable segments whose file range fits the file, sorted by address
    /// (meaningful only when rule 1 found no violation).
    pub segments: Vec<LoadSegment<'a>>,
}

fn violation(
    class: &'static str,
    section: impl Into<String>,
    address: Option<u64>,
    message: String,
) -> Violation {
    Violation {
        rule: Rule::ElfStructure,
        class,
        section: section.into(),
        address,
        bytes: Vec::new(),
        disassembly: String::new(),
        symbol: None,
        message,
    }
}

/// Checks rule 1 and extracts code and symbols. Never panics, whatever the
/// bytes: goblin parses defensively and every offset is checked here.
pub fn check<'a>(bytes: &'a [u8], config: &Config, out: &mut Vec<Violation>) -> Parsed<'a> {
    let mut parsed = Parsed::default();
    if bytes.len() as u64 > config.max_file_size {
        out.push(violation(
            "size-limit",
            "file",
            None,
            format!(
                "the file is {} bytes, more than the limit of {} bytes",
                bytes.len(),
                config.max_file_size
            ),
        ));
        return parsed;
    }
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        out.push(violation(
            "not-elf",
            "ELF header",
            None,
            "not an ELF file: the first four bytes are not 7f 45 4c 46".into(),
        ));
        return parsed;
    }
    if bytes.len() < 64 {
        out.push(violation(
            "truncated",
            "ELF header",
            None,
            format!(
                "the file is {} bytes, shorter than an ELF64 header (64 bytes)",
                bytes.len()
            ),
        ));
        return parsed;
    }
    if bytes[4] != 2 {
        out.push(violation(
            "not-elf64",
            "ELF header",
            None,
            format!("EI_CLASS is {}, not ELFCLASS64 (2)", bytes[4]),
        ));
        return parsed;
    }
    if bytes[5] != 1 {
        out.push(violation(
            "not-little-endian",
            "ELF header",
            None,
            format!("EI_DATA is {}, not ELFDATA2LSB (1)", bytes[5]),
        ));
        return parsed;
    }
    let elf = match Elf::parse(bytes) {
        Ok(elf) => elf,
        Err(e) => {
            out.push(violation(
                "malformed",
                "ELF header",
                None,
                format!("the ELF structure is malformed: {e}"),
            ));
            return parsed;
        }
    };
    let h = &elf.header;
    if h.e_machine != header::EM_X86_64 {
        out.push(violation(
            "not-x86-64",
            "ELF header",
            None,
            format!(
                "e_machine is {} ({}), not EM_X86_64 (62)",
                h.e_machine,
                header::machine_to_str(h.e_machine)
            ),
        ));
    }
    if h.e_type != header::ET_EXEC {
        out.push(violation(
            "not-static-executable",
            "ELF header",
            None,
            format!(
                "e_type is {} ({}); a contract is a static, non-PIE executable (ET_EXEC): link with -static -no-pie",
                h.e_type,
                header::et_to_str(h.e_type)
            ),
        ));
    }
    // Entry sizes goblin does not check (gABI, "ELF Header": e_phentsize,
    // e_shentsize): a wrong size means every table offset after the first is
    // misread.
    if h.e_phnum > 0 && usize::from(h.e_phentsize) != ELF64_PHDR_SIZE {
        out.push(violation(
            "malformed",
            "ELF header",
            None,
            format!(
                "e_phentsize is {}, not {} (Elf64_Phdr)",
                h.e_phentsize, ELF64_PHDR_SIZE
            ),
        ));
    }
    if h.e_shnum > 0 && usize::from(h.e_shentsize) != ELF64_SHDR_SIZE {
        out.push(violation(
            "malformed",
            "ELF header",
            None,
            format!(
                "e_shentsize is {}, not {} (Elf64_Shdr)",
                h.e_shentsize, ELF64_SHDR_SIZE
            ),
        ));
    }
    if elf.program_headers.len() > config.max_segments * 4 {
        out.push(violation(
            "size-limit",
            "program headers",
            None,
            format!(
                "{} program headers, more than {}",
                elf.program_headers.len(),
                config.max_segments * 4
            ),
        ));
        return parsed;
    }

    // Segments.
    let mut loads = Vec::new();
    for (index, ph) in elf.program_headers.iter().enumerate() {
        let name = format!("segment {index}");
        match ph.p_type {
            program_header::PT_INTERP => out.push(violation(
                "interpreter",
                name,
                Some(ph.p_vaddr),
                "PT_INTERP: the contract asks for a dynamic loader; link with -static".into(),
            )),
            program_header::PT_DYNAMIC => out.push(violation(
                "dynamic",
                name,
                Some(ph.p_vaddr),
                "PT_DYNAMIC: the contract is dynamically linked; link with -static".into(),
            )),
            program_header::PT_TLS => out.push(violation(
                "tls",
                name,
                Some(ph.p_vaddr),
                "PT_TLS: thread-local storage needs an FS base, which contracts do not get".into(),
            )),
            program_header::PT_LOAD if ph.p_memsz > 0 => loads.push((index, ph)),
            _ => {}
        }
    }
    if loads.len() > config.max_segments {
        out.push(violation(
            "size-limit",
            "program headers",
            None,
            format!(
                "{} loadable segments, more than {}",
                loads.len(),
                config.max_segments
            ),
        ));
    }
    let (mut code_size, mut data_size) = (0u64, 0u64);
    for &(index, ph) in &loads {
        let name = format!("segment {index}");
        let end = ph.p_vaddr.checked_add(ph.p_memsz);
        let file_end = ph.p_offset.checked_add(ph.p_filesz);
        if file_end.is_none_or(|e| e > bytes.len() as u64) || ph.p_filesz > ph.p_memsz {
            out.push(violation(
                "truncated",
                name.clone(),
                Some(ph.p_vaddr),
                format!(
                    "file range {:#x}+{:#x} (memory size {:#x}) does not fit in the {}-byte file",
                    ph.p_offset,
                    ph.p_filesz,
                    ph.p_memsz,
                    bytes.len()
                ),
            ));
        }
        match end {
            Some(end)
                if ph.p_vaddr >= abi::CONTRACT_WINDOW_START && end <= abi::CONTRACT_WINDOW_END => {}
            _ => out.push(violation(
                "segment-outside-window",
                name.clone(),
                Some(ph.p_vaddr),
                format!(
                    "{:#x}+{:#x} lies outside the contract window {:#x}..{:#x}",
                    ph.p_vaddr,
                    ph.p_memsz,
                    abi::CONTRACT_WINDOW_START,
                    abi::CONTRACT_WINDOW_END
                ),
            )),
        }
        let (w, x) = (
            ph.p_flags & program_header::PF_W != 0,
            ph.p_flags & program_header::PF_X != 0,
        );
        if let Some(file_end) =
            file_end.filter(|&e| e <= bytes.len() as u64 && ph.p_filesz <= ph.p_memsz)
        {
            parsed.segments.push(LoadSegment {
                index,
                vaddr: ph.p_vaddr,
                mem_size: ph.p_memsz,
                offset: ph.p_offset,
                bytes: &bytes[ph.p_offset as usize..file_end as usize],
                write: w,
                execute: x,
            });
        }
        if w && x {
            out.push(violation(
                "segment-wx",
                name.clone(),
                Some(ph.p_vaddr),
                "the segment is both writable and executable: code could be changed after verification".into(),
            ));
        }
        if x {
            code_size = code_size.saturating_add(ph.p_memsz);
        } else {
            data_size = data_size.saturating_add(ph.p_memsz);
        }
    }
    parsed.segments.sort_by_key(|s| s.vaddr);
    let mut sorted: Vec<_> = loads
        .iter()
        .map(|(i, ph)| (*i, ph.p_vaddr, ph.p_vaddr.saturating_add(ph.p_memsz)))
        .collect();
    sorted.sort_by_key(|s| s.1);
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let a_end_page = a.2.div_ceil(abi::PAGE_SIZE).saturating_mul(abi::PAGE_SIZE);
        if b.1 & !(abi::PAGE_SIZE - 1) < a_end_page {
            out.push(violation(
                "segment-overlap",
                format!("segment {}", b.0),
                Some(b.1),
                format!("shares a page with segment {} (which ends at {:#x}): page rights would conflict", a.0, a.2),
            ));
        }
    }
    if code_size > config.max_code_size {
        out.push(violation(
            "size-limit",
            "segments",
            None,
            format!(
                "{code_size} bytes of executable segments, more than the limit of {}",
                config.max_code_size
            ),
        ));
    }
    if data_size > config.max_data_size {
        out.push(violation(
            "size-limit",
            "segments",
            None,
            format!(
                "{data_size} bytes of data segments, more than the limit of {}",
                config.max_data_size
            ),
        ));
    }
    if loads
        .iter()
        .all(|(_, ph)| ph.p_flags & program_header::PF_X == 0)
    {
        out.push(violation(
            "no-code",
            "segments",
            None,
            "no executable segment".into(),
        ));
    }
    let in_exec_segment = |start: u64, end: u64| {
        loads.iter().any(|(_, ph)| {
            ph.p_flags & program_header::PF_X != 0
                && ph.p_vaddr <= start
                && end <= ph.p_vaddr.saturating_add(ph.p_filesz)
        })
    };

    // Sections.
    let section_name = |sh: &goblin::elf::SectionHeader| {
        elf.shdr_strtab
            .get_at(sh.sh_name)
            .unwrap_or("?")
            .to_string()
    };
    for (index, sh) in elf.section_headers.iter().enumerate() {
        let name = section_name(sh);
        if sh.sh_flags & u64::from(section_header::SHF_ALLOC) != 0
            && (sh.sh_type == section_header::SHT_RELA || sh.sh_type == section_header::SHT_REL)
            && sh.sh_size > 0
        {
            out.push(violation(
                "relocations",
                name.clone(),
                Some(sh.sh_addr),
                format!("section {index} holds {} bytes of relocations the loader would have to apply; contracts are loaded as linked", sh.sh_size),
            ));
        }
        if sh.sh_flags & u64::from(section_header::SHF_EXECINSTR) == 0 || sh.sh_size == 0 {
            continue;
        }
        if sh.sh_type == section_header::SHT_NOBITS {
            out.push(violation(
                "code-without-bytes",
                name,
                Some(sh.sh_addr),
                "an executable SHT_NOBITS section".into(),
            ));
            continue;
        }
        let file_end = sh.sh_offset.checked_add(sh.sh_size);
        let Some(file_end) = file_end.filter(|&e| e <= bytes.len() as u64) else {
            out.push(violation(
                "truncated",
                name,
                Some(sh.sh_addr),
                format!(
                    "section {index} spans file bytes {:#x}+{:#x}, beyond the {}-byte file",
                    sh.sh_offset,
                    sh.sh_size,
                    bytes.len()
                ),
            ));
            continue;
        };
        let Some(vend) = sh.sh_addr.checked_add(sh.sh_size) else {
            out.push(violation(
                "malformed",
                name,
                Some(sh.sh_addr),
                "section address overflows".into(),
            ));
            continue;
        };
        if !in_exec_segment(sh.sh_addr, vend) {
            out.push(violation(
                "code-outside-segment",
                name,
                Some(sh.sh_addr),
                format!("executable section {index} at {:#x}..{vend:#x} is not inside an executable loadable segment", sh.sh_addr),
            ));
            continue;
        }
        parsed.code.push(CodeRegion {
            name,
            addr: sh.sh_addr,
            bytes: &bytes[sh.sh_offset as usize..file_end as usize],
        });
    }
    if elf.section_headers.is_empty() {
        // No section headers: sweep whole executable segments.
        for &(index, ph) in &loads {
            let file_end = ph.p_offset.saturating_add(ph.p_filesz);
            let in_window = ph.p_vaddr >= abi::CONTRACT_WINDOW_START
                && ph
                    .p_vaddr
                    .checked_add(ph.p_filesz)
                    .is_some_and(|e| e <= abi::CONTRACT_WINDOW_END);
            if ph.p_flags & program_header::PF_X != 0 && file_end <= bytes.len() as u64 && in_window
            {
                parsed.code.push(CodeRegion {
                    name: format!("segment {index}"),
                    addr: ph.p_vaddr,
                    bytes: &bytes[ph.p_offset as usize..file_end as usize],
                });
            }
        }
    }
    let max_sections = config.max_code_sections.min(crate::MAX_CODE_SECTIONS);
    if parsed.code.len() > max_sections {
        out.push(violation(
            "size-limit",
            "section headers",
            None,
            format!(
                "{} executable sections, more than the limit of {max_sections}",
                parsed.code.len()
            ),
        ));
        parsed.code.clear();
        return parsed;
    }
    parsed.code.sort_by_key(|r| r.addr);
    // Bytes of executable segments outside executable sections are never
    // swept. Direct control flow cannot reach them (rule 5), but an indirect
    // branch could; so they may only be padding: 00, 90 (NOP) or CC (INT3),
    // from which no decoding forms anything but deterministic integer
    // instructions.
    if !elf.section_headers.is_empty() {
        for &(index, ph) in &loads {
            if ph.p_flags & program_header::PF_X == 0 {
                continue;
            }
            let file_end = ph
                .p_offset
                .saturating_add(ph.p_filesz)
                .min(bytes.len() as u64);
            let end = ph
                .p_vaddr
                .saturating_add(file_end.saturating_sub(ph.p_offset));
            // The code regions are sorted: one merge-like sweep over the
            // segment and the regions that meet it, O(regions + segment).
            let mut addr = ph.p_vaddr;
            let mut r = parsed
                .code
                .partition_point(|r| r.addr.saturating_add(r.bytes.len() as u64) <= addr);
            while addr < end {
                if let Some(region) = parsed.code.get(r) {
                    let region_end = region.addr.saturating_add(region.bytes.len() as u64);
                    if region_end <= addr {
                        r += 1;
                        continue;
                    }
                    if region.addr <= addr {
                        addr = region_end;
                        r += 1;
                        continue;
                    }
                }
                let next = parsed
                    .code
                    .get(r)
                    .map_or(end, |region| region.addr.min(end));
                let from = (ph.p_offset + (addr - ph.p_vaddr)) as usize;
                let to = (ph.p_offset + (next - ph.p_vaddr)) as usize;
                if let Some(pos) = bytes[from..to]
                    .iter()
                    .position(|b| !matches!(b, 0x00 | 0x90 | 0xcc))
                {
                    let at = addr + pos as u64;
                    out.push(violation(
                        "hidden-code",
                        format!("segment {index}"),
                        Some(at),
                        format!(
                            "byte {:#04x} at {at:#x} lies in an executable segment but outside every executable section: only padding (00, 90, cc) may be there",
                            bytes[from + pos]
                        ),
                    ));
                }
                addr = next;
            }
        }
    }
    for pair in parsed.code.windows(2) {
        if pair[1].addr < pair[0].addr + pair[0].bytes.len() as u64 {
            out.push(violation(
                "section-overlap",
                pair[1].name.clone(),
                Some(pair[1].addr),
                format!("executable section overlaps {}", pair[0].name),
            ));
        }
    }

    // Symbols: a symbol table must name a string table (gABI, "Section
    // Header": sh_link of SHT_SYMTAB), else its symbols, and so the methods,
    // would silently vanish.
    for (index, sh) in elf.section_headers.iter().enumerate() {
        if sh.sh_type != section_header::SHT_SYMTAB {
            continue;
        }
        let link = elf.section_headers.get(sh.sh_link as usize);
        if link.is_none_or(|l| l.sh_type != section_header::SHT_STRTAB) {
            out.push(violation(
                "malformed",
                section_name(sh),
                None,
                format!("symbol table (section {index}) links to section {}, which is not a string table", sh.sh_link),
            ));
        }
    }
    if elf.syms.len() > config.max_symbols {
        out.push(violation(
            "size-limit",
            ".symtab",
            None,
            format!(
                "{} symbols, more than the limit of {}",
                elf.syms.len(),
                config.max_symbols
            ),
        ));
        return parsed;
    }
    for s in elf.syms.iter() {
        if s.st_type() != sym::STT_FUNC || s.st_shndx == 0 {
            continue;
        }
        let Some(name) = elf.strtab.get_at(s.st_name) else {
            continue;
        };
        let method = s.st_bind() == sym::STB_GLOBAL
            && s.st_visibility() == sym::STV_DEFAULT
            && !name.is_empty()
            && name != "_start"
            && !name.starts_with("__");
        parsed.functions.push(FunctionSymbol {
            addr: s.st_value,
            size: s.st_size,
            name: name.to_string(),
            method,
        });
    }
    parsed
        .functions
        .sort_by(|a, b| a.addr.cmp(&b.addr).then_with(|| b.method.cmp(&a.method)));
    for f in parsed.functions.iter().filter(|f| f.method) {
        let in_code = code_contains(&parsed.code, f.addr);
        if !in_code {
            out.push(violation(
                "method-not-in-code",
                ".symtab",
                Some(f.addr),
                format!(
                    "method `{}` at {:#x} does not point into executable code",
                    f.name, f.addr
                ),
            ));
        }
    }
    parsed
}

/// Whether `addr` lies in one of `code` (sorted by address, as
/// [`Parsed::code`]): a binary search, O(log regions). Overlapping regions
/// are a violation of their own (`section-overlap`).
pub fn code_contains(code: &[CodeRegion<'_>], addr: u64) -> bool {
    let i = code.partition_point(|r| r.addr <= addr);
    i.checked_sub(1)
        .and_then(|i| code.get(i))
        .is_some_and(|r| addr - r.addr < r.bytes.len() as u64)
}
