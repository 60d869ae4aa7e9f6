//! Loading x86-64 ELF64 executables: contracts and the guest shim.
//!
//! A contract must be a static, non-PIE executable (`ET_EXEC`, `EM_X86_64`)
//! with no interpreter, dynamic section or TLS segment (System V ABI, AMD64
//! supplement, 5.1 "Program Loading"), all loadable segments inside the
//! contract window ([`nativm_abi::CONTRACT_WINDOW_START`]..
//! [`nativm_abi::CONTRACT_WINDOW_END`]), no segment writable and executable,
//! and no page shared by two segments. Its methods are its global function
//! symbols (`STT_FUNC`, `STB_GLOBAL`, default visibility) that point into an
//! executable segment; the entry point is not used.
//!
//! This is the structural check the loader needs to map the contract; the
//! full Deterministic-AMD64 verification of the code is the verifier's job.

use std::collections::BTreeMap;

use goblin::elf::{header, program_header, sym, Elf};
use nativm_abi as abi;

use crate::layout::Access;

/// Largest contract ELF file accepted, in bytes (64 MiB).
pub const MAX_ELF_SIZE: usize = 64 << 20;
/// Largest total memory size of a contract's loadable segments, in bytes (256 MiB).
pub const MAX_SEGMENT_MEMORY: u64 = 256 << 20;
/// Most loadable segments in one ELF.
pub const MAX_SEGMENTS: usize = 16;

/// A malformed or unacceptable ELF. The message names what was wrong and
/// where (segment index, address, symbol).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ElfError(pub String);

fn err(msg: impl Into<String>) -> ElfError {
    ElfError(msg.into())
}

/// One `PT_LOAD` segment, ready to copy into guest memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte (need not be page aligned).
    pub vaddr: u64,
    /// Size in memory, in bytes (`>= data.len()`; the rest is zero, e.g. `.bss`).
    pub mem_size: u64,
    /// Bytes from the file.
    pub data: Vec<u8>,
    /// Access rights from `p_flags`.
    pub access: Access,
    /// Index of the program header, for error messages.
    pub index: usize,
}

impl Segment {
    /// First page address covered by the segment.
    pub fn page_start(&self) -> u64 {
        self.vaddr & !(abi::PAGE_SIZE - 1)
    }

    /// End (exclusive) of the last page covered by the segment.
    pub fn page_end(&self) -> u64 {
        (self.vaddr + self.mem_size).div_ceil(abi::PAGE_SIZE) * abi::PAGE_SIZE
    }

    /// A short name for error messages and maps: "segment 2 (R+X)".
    pub fn name(&self) -> String {
        let rights = match (self.access.write, self.access.execute) {
            (false, true) => "R+X",
            (true, false) => "R+W",
            (false, false) => "R",
            (true, true) => "R+W+X",
        };
        format!("segment {} ({rights})", self.index)
    }
}

/// A contract executable, parsed and checked, ready to be mapped into a guest.
#[derive(Clone, Debug)]
pub struct ContractImage {
    /// Loadable segments in address order.
    pub segments: Vec<Segment>,
    /// Methods: exported function name -> guest address (in the prepared
    /// code when `prepared` is set).
    pub methods: BTreeMap<String, u64>,
    /// The translation of the contract's code (gas charges, checked
    /// branches), if it was prepared: see [`ContractImage::prepared`]. A
    /// guest without one runs the ELF's code as it is, unmetered (only the
    /// VMM's own tests do that).
    pub prepared: Option<std::sync::Arc<crate::prepared::PreparedCode>>,
}

/// Parses the `PT_LOAD` segments of any ELF64 x86-64 executable (shared by
/// contracts and the shim). Checks bounds and overflow, not placement.
fn parse_segments(elf: &Elf, bytes: &[u8]) -> Result<Vec<Segment>, ElfError> {
    let mut segments = Vec::new();
    for (index, ph) in elf.program_headers.iter().enumerate() {
        if ph.p_type != program_header::PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        if ph.p_filesz > ph.p_memsz {
            return Err(err(format!(
                "segment {index}: file size {:#x} exceeds memory size {:#x}",
                ph.p_filesz, ph.p_memsz
            )));
        }
        let file_end = ph
            .p_offset
            .checked_add(ph.p_filesz)
            .filter(|&e| e <= bytes.len() as u64);
        let Some(file_end) = file_end else {
            return Err(err(format!(
                "segment {index}: file range {:#x}+{:#x} lies beyond the end of the file ({} bytes)",
                ph.p_offset,
                ph.p_filesz,
                bytes.len()
            )));
        };
        if ph.p_vaddr.checked_add(ph.p_memsz).is_none() {
            return Err(err(format!(
                "segment {index}: address {:#x}+{:#x} overflows",
                ph.p_vaddr, ph.p_memsz
            )));
        }
        segments.push(Segment {
            vaddr: ph.p_vaddr,
            mem_size: ph.p_memsz,
            data: bytes[ph.p_offset as usize..file_end as usize].to_vec(),
            access: Access {
                write: ph.p_flags & program_header::PF_W != 0,
                execute: ph.p_flags & program_header::PF_X != 0,
                user: true,
            },
            index,
        });
    }
    segments.sort_by_key(|s| s.vaddr);
    Ok(segments)
}

fn parse_header(bytes: &[u8]) -> Result<Elf<'_>, ElfError> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(err("not an ELF file (bad magic)"));
    }
    let elf = Elf::parse(bytes).map_err(|e| err(format!("malformed ELF: {e}")))?;
    if !elf.is_64 {
        return Err(err("not an ELF64 file (ELFCLASS32)"));
    }
    if !elf.little_endian {
        return Err(err("not a little-endian ELF"));
    }
    if elf.header.e_machine != header::EM_X86_64 {
        return Err(err(format!(
            "ELF machine is {} ({}), not x86-64",
            elf.header.e_machine,
            header::machine_to_str(elf.header.e_machine)
        )));
    }
    Ok(elf)
}

/// Checks that no segment is writable and executable, outside the contract
/// window or sharing a page with another, and the total size.
fn check_placement(segments: &[Segment]) -> Result<(), ElfError> {
    let mut total = 0u64;
    for (i, s) in segments.iter().enumerate() {
        if s.access.write && s.access.execute {
            return Err(err(format!(
                "{} at {:#x} is both writable and executable",
                s.name(),
                s.vaddr
            )));
        }
        if s.vaddr < abi::CONTRACT_WINDOW_START || s.vaddr + s.mem_size > abi::CONTRACT_WINDOW_END {
            return Err(err(format!(
                "{} at {:#x}..{:#x} lies outside the contract window {:#x}..{:#x}",
                s.name(),
                s.vaddr,
                s.vaddr + s.mem_size,
                abi::CONTRACT_WINDOW_START,
                abi::CONTRACT_WINDOW_END
            )));
        }
        if let Some(prev) = i.checked_sub(1).map(|p| &segments[p]) {
            if s.page_start() < prev.page_end() {
                return Err(err(format!(
                    "{} at {:#x} shares a page with {} at {:#x} (page rights would conflict)",
                    s.name(),
                    s.vaddr,
                    prev.name(),
                    prev.vaddr
                )));
            }
        }
        total += s.page_end() - s.page_start();
    }
    if total > MAX_SEGMENT_MEMORY {
        return Err(err(format!(
            "segments need {total} bytes of memory, more than {MAX_SEGMENT_MEMORY}"
        )));
    }
    Ok(())
}

/// The exported methods: global `STT_FUNC` symbols into executable code.
fn exported_methods(
    elf: &Elf<'_>,
    segments: &[Segment],
) -> Result<BTreeMap<String, u64>, ElfError> {
    let mut methods = BTreeMap::new();
    for symbol in elf.syms.iter() {
        if symbol.st_type() != sym::STT_FUNC
            || symbol.st_bind() != sym::STB_GLOBAL
            || symbol.st_shndx == 0
        {
            continue;
        }
        let Some(name) = elf.strtab.get_at(symbol.st_name) else {
            continue;
        };
        if name.is_empty() || name == "_start" || name.starts_with("__") {
            continue;
        }
        let executable = segments.iter().any(|s| {
            s.access.execute && s.vaddr <= symbol.st_value && symbol.st_value < s.vaddr + s.mem_size
        });
        if !executable {
            return Err(err(format!(
                "method symbol `{name}` at {:#x} does not point into an executable segment",
                symbol.st_value
            )));
        }
        methods.insert(name.to_string(), symbol.st_value);
    }
    Ok(methods)
}

impl ContractImage {
    /// Parses and checks a contract executable.
    ///
    /// Errors: [`ElfError`] for a file that is not ELF64 x86-64, is not a
    /// static `ET_EXEC`, has an interpreter, dynamic or TLS segment, a
    /// segment outside the contract window, writable and executable, or
    /// sharing a page with another, or exceeds the size limits above.
    pub fn parse(bytes: &[u8]) -> Result<Self, ElfError> {
        if bytes.len() > MAX_ELF_SIZE {
            return Err(err(format!(
                "file is {} bytes, more than the {} byte limit",
                bytes.len(),
                MAX_ELF_SIZE
            )));
        }
        let elf = parse_header(bytes)?;
        match elf.header.e_type {
            header::ET_EXEC => {}
            header::ET_DYN => {
                return Err(err(
                    "ELF type is ET_DYN (a PIE or shared object); contracts must be static ET_EXEC (link with -static -no-pie)",
                ))
            }
            other => return Err(err(format!("ELF type is {} ({other}); contracts must be ET_EXEC", header::et_to_str(other)))),
        }
        for (index, ph) in elf.program_headers.iter().enumerate() {
            let what = match ph.p_type {
                program_header::PT_INTERP => {
                    "an interpreter (PT_INTERP): contracts must be linked -static"
                }
                program_header::PT_DYNAMIC => {
                    "a dynamic section (PT_DYNAMIC): contracts must be linked -static"
                }
                program_header::PT_TLS => {
                    "thread-local storage (PT_TLS), which the guest does not provide"
                }
                _ => continue,
            };
            return Err(err(format!("program header {index} declares {what}")));
        }
        let segments = parse_segments(&elf, bytes)?;
        if segments.is_empty() {
            return Err(err("no loadable (PT_LOAD) segment"));
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(err(format!(
                "{} loadable segments, more than {MAX_SEGMENTS}",
                segments.len()
            )));
        }
        check_placement(&segments)?;
        let methods = exported_methods(&elf, &segments)?;
        Ok(ContractImage {
            segments,
            methods,
            prepared: None,
        })
    }

    /// Attaches the translation of this image's code: methods then enter the
    /// prepared code, and the ELF's executable segments become read-only
    /// data (their bytes stay readable where the contract reads them, but
    /// only prepared code runs).
    ///
    /// Errors: [`ElfError`] naming a method the translation does not know
    /// (a translation of another ELF).
    pub fn with_translation(
        mut self,
        translation: std::sync::Arc<crate::prepared::PreparedCode>,
    ) -> Result<Self, ElfError> {
        // One hash lookup per method: O(methods), not O(methods^2).
        let by_name: std::collections::HashMap<(&str, u64), &crate::prepared::PreparedMethod> =
            translation
                .methods
                .iter()
                .map(|m| ((m.name.as_str(), m.original), m))
                .collect();
        for (name, entry) in self.methods.iter_mut() {
            let prepared = by_name
                .get(&(name.as_str(), *entry))
                .ok_or_else(|| {
                    err(format!(
                        "method `{name}` at {entry:#x} is not in the translation (not this contract's?)"
                    ))
                })?;
            *entry = prepared.entry;
        }
        for segment in &mut self.segments {
            segment.access.execute = false;
        }
        self.prepared = Some(translation);
        Ok(self)
    }

    /// The address of a method.
    ///
    /// Errors: [`ElfError`] naming the method and listing the available ones.
    pub fn method(&self, name: &str) -> Result<u64, ElfError> {
        self.methods.get(name).copied().ok_or_else(|| {
            let known: Vec<&str> = self.methods.keys().map(String::as_str).collect();
            err(format!(
                "unknown method `{name}` (exported methods: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }
}

/// The guest shim, parsed from the ELF built by `build.rs`.
#[derive(Clone, Debug)]
pub struct ShimImage {
    /// Loadable segments; those below [`abi::RUNTIME_BASE`] are supervisor only.
    pub segments: Vec<Segment>,
    /// Entry point (`_start`).
    pub entry: u64,
    /// Addresses of the 32 exception handlers, from `isr_table`.
    pub isr_addresses: [u64; crate::layout::IDT_VECTORS],
    /// Address of the runtime page's `rep movsb` that copies `set_return`
    /// data: a fault there is a bad `set_return` argument.
    pub set_return_copy: u64,
    /// Address right after the runtime loop's call of the method: the one
    /// return site outside the contract's prepared code.
    pub runtime_return: u64,
    /// RIP right after the host-call gate's doorbell store.
    pub hostcall_resume: u64,
    /// RIP right after the method-return path's doorbell store.
    pub return_resume: u64,
    /// The gate's `ud2` reached when its return address fails the check.
    pub gate_bad_return: u64,
}

/// The shim ELF embedded at build time.
pub static SHIM_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest-shim.elf"));

impl ShimImage {
    /// Parses the shim ELF.
    ///
    /// Errors: [`ElfError`] if it is malformed or lacks `isr_table` (a build
    /// defect, never contract input).
    pub fn parse(bytes: &[u8]) -> Result<Self, ElfError> {
        let elf = parse_header(bytes)?;
        let mut segments = parse_segments(&elf, bytes)?;
        for s in &mut segments {
            s.access.user = s.vaddr >= abi::RUNTIME_BASE;
            if s.vaddr < abi::SHIM_BASE || s.vaddr + s.mem_size > abi::RUNTIME_BASE + abi::PAGE_SIZE
            {
                return Err(err(format!(
                    "shim {} at {:#x} is outside the shim region",
                    s.name(),
                    s.vaddr
                )));
            }
        }
        let table = elf
            .syms
            .iter()
            .find(|s| elf.strtab.get_at(s.st_name) == Some("isr_table"))
            .ok_or_else(|| err("shim has no isr_table symbol"))?;
        let mut isr_addresses = [0u64; crate::layout::IDT_VECTORS];
        let seg = segments
            .iter()
            .find(|s| {
                s.vaddr <= table.st_value
                    && table.st_value + 8 * 32 <= s.vaddr + s.data.len() as u64
            })
            .ok_or_else(|| err("shim isr_table lies outside its segments"))?;
        for (i, addr) in isr_addresses.iter_mut().enumerate() {
            let at = (table.st_value - seg.vaddr) as usize + 8 * i;
            *addr = u64::from_le_bytes(seg.data[at..at + 8].try_into().unwrap());
        }
        let symbol = |name: &str| {
            elf.syms
                .iter()
                .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
                .map(|s| s.st_value)
                .ok_or_else(|| err(format!("shim has no {name} symbol")))
        };
        Ok(ShimImage {
            segments,
            entry: elf.entry,
            isr_addresses,
            set_return_copy: symbol("set_return_copy")?,
            runtime_return: symbol("runtime_return")?,
            hostcall_resume: symbol("hostcall_resume")?,
            return_resume: symbol("return_resume")?,
            gate_bad_return: symbol("gate_bad_return")?,
        })
    }
}
