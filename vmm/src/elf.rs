//! What the VMM loads: a contract's image and the guest shim.
//!
//! The VMM parses no contract ELF. A contract's [`ContractImage`] (its
//! loadable segments and exported methods) is built by `nativm` from the
//! verifier's rule-1 parse, the one ELF model (`nativm_verifier::elf`):
//! the file is parsed once, under the limits of `nativm_abi::elf_limits`
//! or the engine's configuration, and what the verifier checked is what
//! is mapped. The VMM parses only its own shim ([`ShimImage`], a build
//! artifact), for its segments' rights and symbols.

use std::collections::BTreeMap;

use goblin::elf::{header, program_header, Elf};
use nativm_abi as abi;

use crate::layout::Access;

/// A malformed or unacceptable ELF: each variant names what was wrong and
/// where (program header index, address, symbol), with the facts as fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The file does not start with `\x7fELF` (gABI, e_ident).
    #[error("not an ELF file (bad magic)")]
    BadMagic,
    /// goblin cannot parse the headers.
    #[error("malformed ELF: {reason}")]
    Malformed {
        /// goblin's message.
        reason: String,
    },
    /// `ELFCLASS32`.
    #[error("not an ELF64 file (ELFCLASS32)")]
    NotElf64,
    /// `ELFDATA2MSB`.
    #[error("not a little-endian ELF")]
    BigEndian,
    /// `e_machine` is not `EM_X86_64`.
    #[error("ELF machine is {machine} ({}), not x86-64", header::machine_to_str(*.machine))]
    WrongMachine {
        /// The `e_machine` value.
        machine: u16,
    },
    /// `p_filesz > p_memsz`.
    #[error("segment {index}: file size {file_size:#x} exceeds memory size {mem_size:#x}")]
    FileSizeExceedsMemory {
        /// Index of the program header.
        index: usize,
        /// `p_filesz`, in bytes.
        file_size: u64,
        /// `p_memsz`, in bytes.
        mem_size: u64,
    },
    /// `p_offset + p_filesz` lies beyond the end of the file.
    #[error("segment {index}: file range {offset:#x}+{file_size:#x} lies beyond the end of the file ({file_len} bytes)")]
    FileRangeOutOfBounds {
        /// Index of the program header.
        index: usize,
        /// `p_offset`, in bytes.
        offset: u64,
        /// `p_filesz`, in bytes.
        file_size: u64,
        /// Length of the file, in bytes.
        file_len: u64,
    },
    /// `p_vaddr + p_memsz` overflows 64 bits.
    #[error("segment {index}: address {vaddr:#x}+{mem_size:#x} overflows")]
    AddressOverflow {
        /// Index of the program header.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_memsz`, in bytes.
        mem_size: u64,
    },
    /// A method is missing from the translation attached to the image.
    #[error("method `{name}` at {entry:#x} is not in the translation (not this contract's?)")]
    NotInTranslation {
        /// The method.
        name: String,
        /// Its original address.
        entry: u64,
    },
    /// The method asked for is not exported.
    #[error("unknown method `{name}` (exported methods: {})", if .known.is_empty() { "none".to_string() } else { .known.join(", ") })]
    UnknownMethod {
        /// The method asked for.
        name: String,
        /// The exported methods, in name order.
        known: Vec<String>,
    },
    /// The verifier's rule-1 parse found a violation: the file did not pass
    /// verification, so the loader refuses it.
    #[error("not a verified contract: {message}")]
    NotVerified {
        /// The verifier's first violation message.
        message: String,
    },
    /// A shim segment outside the shim region (a build defect).
    #[error("shim {segment} at {vaddr:#x} is outside the shim region")]
    ShimOutsideRegion {
        /// The segment.
        segment: String,
        /// Its first address.
        vaddr: u64,
    },
    /// A symbol the VMM needs is missing from the shim (a build defect).
    #[error("shim has no {name} symbol")]
    ShimSymbolMissing {
        /// The symbol.
        name: &'static str,
    },
    /// The shim's `isr_table` does not lie in its file-backed segments.
    #[error("shim isr_table lies outside its segments")]
    ShimIsrTableOutside,
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
/// the shim). Checks bounds and overflow.
fn parse_segments(elf: &Elf, bytes: &[u8]) -> Result<Vec<Segment>, ElfError> {
    let mut segments = Vec::new();
    for (index, ph) in elf.program_headers.iter().enumerate() {
        if ph.p_type != program_header::PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        if ph.p_filesz > ph.p_memsz {
            return Err(ElfError::FileSizeExceedsMemory {
                index,
                file_size: ph.p_filesz,
                mem_size: ph.p_memsz,
            });
        }
        let file_end = ph
            .p_offset
            .checked_add(ph.p_filesz)
            .filter(|&e| e <= bytes.len() as u64);
        let Some(file_end) = file_end else {
            return Err(ElfError::FileRangeOutOfBounds {
                index,
                offset: ph.p_offset,
                file_size: ph.p_filesz,
                file_len: bytes.len() as u64,
            });
        };
        if ph.p_vaddr.checked_add(ph.p_memsz).is_none() {
            return Err(ElfError::AddressOverflow {
                index,
                vaddr: ph.p_vaddr,
                mem_size: ph.p_memsz,
            });
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
        return Err(ElfError::BadMagic);
    }
    let elf = Elf::parse(bytes).map_err(|e| ElfError::Malformed {
        reason: e.to_string(),
    })?;
    if !elf.is_64 {
        return Err(ElfError::NotElf64);
    }
    if !elf.little_endian {
        return Err(ElfError::BigEndian);
    }
    if elf.header.e_machine != header::EM_X86_64 {
        return Err(ElfError::WrongMachine {
            machine: elf.header.e_machine,
        });
    }
    Ok(elf)
}

impl ContractImage {
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
            let prepared = by_name.get(&(name.as_str(), *entry)).ok_or_else(|| {
                ElfError::NotInTranslation {
                    name: name.clone(),
                    entry: *entry,
                }
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
        self.methods
            .get(name)
            .copied()
            .ok_or_else(|| ElfError::UnknownMethod {
                name: name.to_string(),
                known: self.methods.keys().cloned().collect(),
            })
    }
}

/// The guest shim, parsed from the ELF built by `build.rs`.
#[derive(Clone, Debug)]
pub struct ShimImage {
    /// The ELF file itself (loaded into guest memory by `linux-loader`).
    pub elf: Vec<u8>,
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
    /// Address of the `iretq` (`48 cf`) that ends `_start`, within its
    /// first 64 bytes: the debugger resumes a single-stepped ring-3
    /// instruction through it (`crate::debug`). `None` if there is none.
    pub fn start_iretq(&self) -> Option<u64> {
        let s = self
            .segments
            .iter()
            .find(|s| s.vaddr <= self.entry && self.entry < s.vaddr + s.data.len() as u64)?;
        let from = (self.entry - s.vaddr) as usize;
        let code = &s.data[from..s.data.len().min(from + 64)];
        let at = code.windows(2).position(|w| w == [0x48, 0xcf])?;
        Some(self.entry + at as u64)
    }

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
                return Err(ElfError::ShimOutsideRegion {
                    segment: s.name(),
                    vaddr: s.vaddr,
                });
            }
        }
        let table = elf
            .syms
            .iter()
            .find(|s| elf.strtab.get_at(s.st_name) == Some("isr_table"))
            .ok_or(ElfError::ShimSymbolMissing { name: "isr_table" })?;
        let mut isr_addresses = [0u64; crate::layout::IDT_VECTORS];
        let seg = segments
            .iter()
            .find(|s| {
                s.vaddr <= table.st_value
                    && table.st_value + 8 * 32 <= s.vaddr + s.data.len() as u64
            })
            .ok_or(ElfError::ShimIsrTableOutside)?;
        for (i, addr) in isr_addresses.iter_mut().enumerate() {
            let at = (table.st_value - seg.vaddr) as usize + 8 * i;
            *addr = u64::from_le_bytes(seg.data[at..at + 8].try_into().unwrap());
        }
        let symbol = |name: &'static str| {
            elf.syms
                .iter()
                .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
                .map(|s| s.st_value)
                .ok_or(ElfError::ShimSymbolMissing { name })
        };
        Ok(ShimImage {
            elf: bytes.to_vec(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_method_names_the_exported_ones() {
        let image = ContractImage {
            segments: Vec::new(),
            methods: [("fib".to_string(), 0x40_1000)].into_iter().collect(),
            prepared: None,
        };
        assert_eq!(image.method("fib"), Ok(0x40_1000));
        let e = image.method("fibonacci").unwrap_err();
        let ElfError::UnknownMethod { name, known } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(name, "fibonacci");
        assert!(known.iter().any(|k| k == "fib"), "{known:?}");
        assert!(e.to_string().contains("exported methods: "), "{e}");
    }

    #[test]
    fn the_shim_parses_and_a_file_that_is_not_elf_does_not() {
        let shim = ShimImage::parse(SHIM_ELF).expect("the embedded shim parses");
        assert!(shim.segments.iter().any(|s| s.access.user));
        assert!(shim.start_iretq().is_some());
        assert_eq!(ShimImage::parse(b"MZ\0\0").unwrap_err(), ElfError::BadMagic);
        let mut arm = SHIM_ELF.to_vec();
        arm[18..20].copy_from_slice(&header::EM_AARCH64.to_le_bytes());
        let e = ShimImage::parse(&arm).unwrap_err();
        assert_eq!(
            e,
            ElfError::WrongMachine {
                machine: header::EM_AARCH64
            }
        );
        assert!(e.to_string().contains("not x86-64"), "{e}");
    }
}
