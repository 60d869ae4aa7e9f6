//! Artifacts: a contract verified and translated, cached in memory
//! (per [`crate::Engine`]) and stored in the state store's code store.
//!
//! A stored artifact is keyed by the code hash (SHA-256 of the ELF), the
//! cost-table version, the translation version, the artifact format
//! version and the nativm version ([`cache_key`]), beside the deployed ELF
//! ([`elf_key`]).
//!
//! **A stored artifact is not trusted.** A state file may come from anywhere
//! (another node, a backup, an attacker), and an artifact is machine
//! code and tables the guest runs: the gas constants, the branch and return
//! tables that confine control flow. So an image read from a code store is
//! used only if it equals a fresh verification and translation of its
//! (hash-checked) ELF ([`Artifact::check_stored`]); otherwise it is
//! refused, the contract is prepared again from the ELF, and the stored
//! image is overwritten ([`crate::ArtifactOrigin::Rebuilt`]). The store's
//! copy therefore saves no work across processes: a process that loads a
//! contract from a state file verifies and translates it again, exactly as
//! if it had been given the ELF (plus reading and comparing the stored
//! image). Within a process, the engine's in-memory cache, which only ever
//! holds images that process made or checked, saves both steps.

use std::sync::Arc;

use nativm_gas::Translation;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Version of the serialized [`Artifact`] layout.
pub const ARTIFACT_FORMAT_VERSION: u32 = 2;

/// The nativm version, part of the cache key.
pub const NATIVM_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A verified, translated contract: what a guest needs, and nothing that
/// must be computed again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// [`ARTIFACT_FORMAT_VERSION`] it was written with.
    pub format_version: u32,
    /// [`NATIVM_VERSION`] that prepared it.
    pub nativm_version: String,
    /// `nativm_gas::COST_TABLE_VERSION` it was charged with.
    pub cost_table_version: u32,
    /// `nativm_gas::TRANSLATION_VERSION` it was translated with.
    pub translation_version: u32,
    /// SHA-256 of the ELF.
    pub code_hash: [u8; 32],
    /// The ELF file (its segments are loaded as they are).
    pub elf: Vec<u8>,
    /// Its loadable segments as the verifier checked them, in address
    /// order: what [`loader_image`] maps, without parsing `elf` again.
    pub segments: Vec<CheckedSegment>,
    /// The translation of its code (shared with every guest loaded from it).
    pub translation: Arc<Translation>,
    /// Time the verifier took, in nanoseconds.
    pub verify_ns: u64,
    /// Time the translation took, in nanoseconds.
    pub translate_ns: u64,
}

/// The VMM's form of a translation (the VMM depends on no translator).
pub fn prepared_code(t: &Translation) -> nativm_vmm::PreparedCode {
    use nativm_vmm::prepared::{CheckKind, CheckSite, PreparedMethod};
    nativm_vmm::PreparedCode {
        base: t.base,
        code: t.code.clone(),
        branch_targets: t.branch_targets.clone(),
        return_sites: t.return_sites.clone(),
        check_sites: t
            .check_sites
            .iter()
            .map(|c| CheckSite {
                stub: c.stub,
                original: c.original,
                kind: match c.kind {
                    nativm_gas::CheckKind::IndirectRegister { register } => {
                        CheckKind::IndirectRegister { register }
                    }
                    nativm_gas::CheckKind::IndirectMemory => CheckKind::IndirectMemory,
                    nativm_gas::CheckKind::Return => CheckKind::Return,
                },
            })
            .collect(),
        address_map: t.address_map.clone(),
        methods: t
            .methods
            .iter()
            .map(|m| PreparedMethod {
                name: m.name.clone(),
                original: m.original,
                entry: m.entry,
            })
            .collect(),
    }
}

/// One loadable segment of a contract ELF as the verifier's rule 1 checked
/// it (`nativm_verifier::elf::LoadSegment`, without borrowing the file):
/// what the loader maps, so that a prepared contract is mapped into guests
/// without parsing its ELF again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedSegment {
    /// Index of its program header.
    pub index: usize,
    /// Virtual address of its first byte.
    pub vaddr: u64,
    /// Size in memory, in bytes (at least `file_size`; the rest is zero).
    pub mem_size: u64,
    /// File offset of its first byte (`p_offset`).
    pub file_offset: u64,
    /// Bytes it takes from the file (`p_filesz`).
    pub file_size: u64,
    /// `PF_W`.
    pub write: bool,
    /// `PF_X`.
    pub execute: bool,
}

impl CheckedSegment {
    /// The segments rule 1 checked, in address order.
    pub fn of(parsed: &nativm_verifier::elf::Parsed<'_>) -> Vec<CheckedSegment> {
        parsed
            .segments
            .iter()
            .map(|s| CheckedSegment {
                index: s.index,
                vaddr: s.vaddr,
                mem_size: s.mem_size,
                file_offset: s.offset,
                file_size: s.bytes.len() as u64,
                write: s.write,
                execute: s.execute,
            })
            .collect()
    }

    /// The VMM's segment, with its bytes copied out of `elf`.
    ///
    /// Errors: [`nativm_vmm::ElfError::FileRangeOutOfBounds`] if the file
    /// range is not inside `elf` (a record that does not belong to it).
    pub fn load(&self, elf: &[u8]) -> Result<nativm_vmm::elf::Segment, nativm_vmm::ElfError> {
        let data = self
            .file_offset
            .checked_add(self.file_size)
            .and_then(|end| {
                elf.get(usize::try_from(self.file_offset).ok()?..usize::try_from(end).ok()?)
            })
            .ok_or(nativm_vmm::ElfError::FileRangeOutOfBounds {
                index: self.index,
                offset: self.file_offset,
                file_size: self.file_size,
                file_len: elf.len() as u64,
            })?;
        Ok(nativm_vmm::elf::Segment {
            vaddr: self.vaddr,
            mem_size: self.mem_size,
            data: data.to_vec(),
            access: nativm_vmm::layout::Access {
                write: self.write,
                execute: self.execute,
                user: true,
            },
            index: self.index,
        })
    }
}

/// The loader's image of a prepared contract: the segments and methods the
/// verifier checked when it was prepared (no parse of the ELF: one ELF
/// model, parsed once), with its translation attached, so methods enter
/// the prepared code.
///
/// Errors: [`nativm_vmm::ElfError`] if a segment record does not fit the
/// image's ELF or the translation lacks a method (an image that was not
/// made by [`Artifact::prepare`]).
pub fn loader_image(
    prepared: &Artifact,
) -> Result<nativm_vmm::ContractImage, nativm_vmm::ElfError> {
    let segments = prepared
        .segments
        .iter()
        .map(|s| s.load(&prepared.elf))
        .collect::<Result<_, _>>()?;
    let methods = prepared
        .translation
        .methods
        .iter()
        .map(|m| (m.name.clone(), m.original))
        .collect();
    nativm_vmm::ContractImage {
        segments,
        methods,
        prepared: None,
    }
    .with_translation(Arc::new(prepared_code(&prepared.translation)))
}

/// The loader's image of a contract ELF that is **not** prepared: its own
/// code, unmetered and with unchecked branches, from the verifier's rule-1
/// parse under the default limits (only rule 1 is checked: the code itself
/// is not verified). Only tests of the VMM's isolation run such images;
/// `nativm` never does.
///
/// Errors: [`nativm_vmm::ElfError::NotVerified`] with rule 1's first
/// violation.
pub fn unprepared_image(elf: &[u8]) -> Result<nativm_vmm::ContractImage, nativm_vmm::ElfError> {
    let mut violations = Vec::new();
    let parsed = nativm_verifier::elf::check(elf, &Default::default(), &mut violations);
    if let Some(v) = violations.first() {
        return Err(nativm_vmm::ElfError::NotVerified {
            message: v.message.clone(),
        });
    }
    let segments = CheckedSegment::of(&parsed)
        .iter()
        .map(|s| s.load(elf))
        .collect::<Result<_, _>>()?;
    let methods = parsed
        .functions
        .iter()
        .filter(|f| f.method)
        .map(|f| (f.name.clone(), f.addr))
        .collect();
    Ok(nativm_vmm::ContractImage {
        segments,
        methods,
        prepared: None,
    })
}

/// Key of an artifact in the code store.
pub fn cache_key(code_hash: &[u8; 32]) -> Vec<u8> {
    format!(
        "prepared/f{ARTIFACT_FORMAT_VERSION}/nativm-{NATIVM_VERSION}/cost-v{}/tr-v{}/{}",
        nativm_gas::COST_TABLE_VERSION,
        nativm_gas::TRANSLATION_VERSION,
        hex::encode(code_hash)
    )
    .into_bytes()
}

/// Key of a deployed contract's ELF in the code store.
pub fn elf_key(code_hash: &[u8; 32]) -> Vec<u8> {
    format!("elf/{}", hex::encode(code_hash)).into_bytes()
}

impl Artifact {
    /// Verifies `elf` under `config` and translates it.
    ///
    /// Errors: [`Error::Rejected`] with the full report if it does not
    /// verify; [`Error::Prepare`] if the translation fails.
    pub fn prepare(elf: &[u8], config: &nativm_verifier::Config) -> Result<Artifact, Error> {
        use sha2::Digest;
        // The one parse of the ELF: the verifier's rule 1, whose result the
        // translator and the loader take as it is.
        let prepared = nativm_gas::prepare_parsed(elf, config).map_err(|e| match e {
            nativm_gas::PrepareError::Rejected(report) => Error::Rejected { path: None, report },
            nativm_gas::PrepareError::Translate(source) => Error::Prepare { path: None, source },
        })?;
        Ok(Artifact {
            format_version: ARTIFACT_FORMAT_VERSION,
            nativm_version: NATIVM_VERSION.to_string(),
            cost_table_version: nativm_gas::COST_TABLE_VERSION,
            translation_version: nativm_gas::TRANSLATION_VERSION,
            code_hash: sha2::Sha256::digest(elf).into(),
            elf: elf.to_vec(),
            segments: CheckedSegment::of(&prepared.parsed),
            translation: Arc::new(prepared.translation),
            verify_ns: prepared.verify_ns,
            translate_ns: prepared.translate_ns,
        })
    }

    /// The serialized form (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("artifacts always serialize")
    }

    /// Reads a serialized image, checking that it parses, was made by this
    /// format, nativm, cost-table and translation version, and that its ELF
    /// hashes to its code hash. That is all it checks: the translation
    /// inside is taken as it is, so an image from anywhere but this process
    /// must also pass [`Artifact::check_stored`] before it runs.
    ///
    /// Errors: the [`ArtifactRefused`] reason.
    pub fn from_bytes(bytes: &[u8]) -> Result<Artifact, ArtifactRefused> {
        use sha2::Digest;
        let image: Artifact =
            postcard::from_bytes(bytes).map_err(|_| ArtifactRefused::Unreadable)?;
        let current = image.format_version == ARTIFACT_FORMAT_VERSION
            && image.nativm_version == NATIVM_VERSION
            && image.cost_table_version == nativm_gas::COST_TABLE_VERSION
            && image.translation_version == nativm_gas::TRANSLATION_VERSION;
        if !current {
            return Err(ArtifactRefused::Stale);
        }
        let hash: [u8; 32] = sha2::Sha256::digest(&image.elf).into();
        if hash != image.code_hash {
            return Err(ArtifactRefused::ElfMismatch);
        }
        Ok(image)
    }

    /// Checks a serialized image read from a code store against `fresh`,
    /// the image just verified and translated from the deployed ELF: the
    /// stored one is accepted only if it is of this version, holds the same
    /// ELF and exactly the same translation (prepared code, gas constants,
    /// branch and return tables, address map, method entries, counts).
    ///
    /// Errors: why the stored image is refused ([`ArtifactRefused`]).
    pub fn check_stored(bytes: &[u8], fresh: &Artifact) -> Result<(), ArtifactRefused> {
        let stored = Artifact::from_bytes(bytes)?;
        if stored.code_hash != fresh.code_hash
            || stored.elf != fresh.elf
            || stored.segments != fresh.segments
        {
            return Err(ArtifactRefused::ElfMismatch);
        }
        if stored.translation != fresh.translation {
            return Err(ArtifactRefused::TranslationMismatch);
        }
        Ok(())
    }
}

/// Why an artifact read from a code store was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactRefused {
    /// It does not parse as a serialized [`Artifact`].
    Unreadable,
    /// It was made by another format, nativm, cost-table or translation
    /// version.
    Stale,
    /// Its ELF does not hash to its code hash, or is not the deployed ELF,
    /// or its segment records are not what the verifier checked in it.
    ElfMismatch,
    /// Its translation differs from a fresh translation of its ELF: it was
    /// damaged or forged (e.g. other machine code, gas constants or branch
    /// tables).
    TranslationMismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_images_round_trip_and_stale_or_damaged_ones_are_refused() {
        let elf = std::fs::read(nativm_images::contract_path("fib")).unwrap();
        let image = Artifact::prepare(&elf, &Default::default()).unwrap();
        let bytes = image.to_bytes();
        assert_eq!(Artifact::from_bytes(&bytes), Ok(image.clone()));
        assert_eq!(
            Artifact::from_bytes(b"not an image"),
            Err(ArtifactRefused::Unreadable)
        );
        assert_eq!(
            Artifact::from_bytes(&bytes[..bytes.len() / 2]),
            Err(ArtifactRefused::Unreadable)
        );
        let stale = Artifact {
            cost_table_version: image.cost_table_version + 1,
            ..image.clone()
        };
        assert_eq!(
            Artifact::from_bytes(&stale.to_bytes()),
            Err(ArtifactRefused::Stale)
        );
        let mut forged = image.clone();
        forged.elf[100] ^= 1;
        assert_eq!(
            Artifact::from_bytes(&forged.to_bytes()),
            Err(ArtifactRefused::ElfMismatch),
            "an ELF that does not hash to the code hash"
        );
        assert_ne!(cache_key(&image.code_hash), elf_key(&image.code_hash));

        // Segment records are what the loader maps: a stored image whose
        // records differ from the verifier's (here: code made writable) is
        // refused, and one pointing outside its ELF does not load.
        let mut rights = image.clone();
        rights.segments[0].write = true;
        assert_eq!(
            Artifact::check_stored(&rights.to_bytes(), &image),
            Err(ArtifactRefused::ElfMismatch)
        );
        let mut outside = image.clone();
        outside.segments[0].file_offset = image.elf.len() as u64;
        outside.segments[0].file_size = 1;
        assert!(matches!(
            loader_image(&outside),
            Err(nativm_vmm::ElfError::FileRangeOutOfBounds { .. })
        ));
        let loaded = loader_image(&image).unwrap();
        assert_eq!(loaded.segments.len(), image.segments.len());
        assert!(loaded.segments.iter().all(|s| !s.access.execute));
        assert!(loaded.methods.contains_key("fib"));
    }
}
