//! [`Module`]: a verified and prepared contract; deploying contracts to a
//! state store's code store and loading them back by code hash.

use std::path::Path;
use std::sync::Arc;

use nativm_vmm::ContractImage;
use sha2::{Digest, Sha256};

use crate::artifact::{self, Artifact, ArtifactRefused};
use crate::{Engine, Error, StateDb};

/// Where a [`Module`]'s artifact came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactOrigin {
    /// Verified and translated just now (nothing was stored for it yet).
    Prepared,
    /// The engine's in-memory cache (an image this process prepared or
    /// checked earlier).
    Memory,
    /// The state store's code store: its image was checked against a fresh
    /// verification and translation of the deployed ELF, and was equal.
    StateDb,
    /// The state store's code store held an image for this code hash that
    /// was refused, for this reason; the contract was prepared again from
    /// its ELF and the stored image overwritten with the new one.
    Rebuilt(ArtifactRefused),
}

/// A verified and prepared contract, ready to map into guests.
#[derive(Clone, Debug)]
pub struct Module {
    image: Arc<ContractImage>,
    code_hash: [u8; 32],
    artifact: Arc<Artifact>,
    from: ArtifactOrigin,
}

impl Module {
    /// Verifies and prepares a contract from its ELF bytes, with the
    /// engine's verifier options, or takes it from the engine's cache of
    /// artifacts (keyed by code hash).
    ///
    /// Errors: [`Error::Rejected`] with the full report if the verifier
    /// rejects it; [`Error::Prepare`] if it cannot be translated;
    /// [`Error::InvalidContract`] if the loader cannot map it.
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        let code_hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(module) = engine.cached(&code_hash) {
            return Ok(module.remembered());
        }
        let image = Arc::new(Artifact::prepare(bytes, &engine.config.verifier)?);
        let module = Module::from_artifact(image, ArtifactOrigin::Prepared)?;
        engine.remember(Arc::new(module.clone()));
        Ok(module)
    }

    /// Deploys a contract to `store`'s code store: verifies and prepares it
    /// (unless the engine already holds its artifact), and stores the
    /// ELF and the artifact, so that [`Module::from_code_hash`] finds
    /// it, in this process or a later one. An artifact already in the
    /// store is used only if it equals the fresh one (else it is replaced:
    /// [`ArtifactOrigin::Rebuilt`]); a stored ELF that is not `bytes` is
    /// replaced too.
    ///
    /// ```no_run
    /// use nativm::{Engine, EngineConfig, Module, StateDb};
    /// let engine = Engine::new(EngineConfig::default())?;
    /// let store = StateDb::open("state.redb")?;
    /// let elf = std::fs::read("target/contracts/token.elf")
    ///     .map_err(|source| nativm::Error::Read { path: "token.elf".into(), source })?;
    /// let code_hash = Module::deploy(&engine, &store, &elf)?.code_hash();
    /// // Later, in this process or another one:
    /// let token = Module::from_code_hash(&engine, &store, &code_hash)?;
    /// assert!(token.methods().any(|(name, _)| name == "mint"));
    /// # Ok::<(), nativm::Error>(())
    /// ```
    ///
    /// Errors: as [`Module::new`], and [`Error::State`] if the store fails.
    pub fn deploy(engine: &Engine, store: &StateDb, bytes: &[u8]) -> Result<Module, Error> {
        let code_hash: [u8; 32] = Sha256::digest(bytes).into();
        let module = Module::load(engine, store, &code_hash, Some(bytes))?;
        let elf_key = artifact::elf_key(&code_hash);
        if store.backend.get_code(&elf_key)?.as_deref() != Some(bytes) {
            store.backend.put_code(&elf_key, bytes)?;
        }
        Ok(module)
    }

    /// The contract deployed to `store` with this code hash. Its ELF is read
    /// from the code store and checked against the hash; the contract is
    /// then verified and translated again (unless the engine's memory holds
    /// it), and the stored artifact is used only if it equals that
    /// translation, else replaced ([`ArtifactOrigin::Rebuilt`]): a state file
    /// from elsewhere cannot inject machine code or tables.
    ///
    /// Errors: [`Error::NotDeployed`] if the store holds no such contract;
    /// [`Error::StoredCodeCorrupt`] if the stored ELF does not hash to
    /// `code_hash`; [`Error::State`] if the store fails; as [`Module::new`]
    /// otherwise (e.g. [`Error::Rejected`] if the stored ELF does not
    /// verify under this engine's verifier options).
    pub fn from_code_hash(
        engine: &Engine,
        store: &StateDb,
        code_hash: &[u8; 32],
    ) -> Result<Module, Error> {
        Module::load(engine, store, code_hash, None)
    }

    /// The module of `code_hash`: from the engine's memory, or prepared from
    /// `elf` (when given, already known to hash to `code_hash`) or from the
    /// store's ELF, and checked against the store's image, which is
    /// written when missing or refused.
    fn load(
        engine: &Engine,
        store: &StateDb,
        code_hash: &[u8; 32],
        elf: Option<&[u8]>,
    ) -> Result<Module, Error> {
        if let Some(module) = engine.cached(code_hash) {
            return Ok(module.remembered());
        }
        let key = artifact::cache_key(code_hash);
        let stored = store.backend.get_code(&key)?;
        let fresh = match elf {
            Some(elf) => Artifact::prepare(elf, &engine.config.verifier)?,
            None => {
                let elf = stored_elf(store, code_hash, stored.as_deref())?;
                Artifact::prepare(&elf, &engine.config.verifier)?
            }
        };
        let from = match stored.as_deref().map(|b| Artifact::check_stored(b, &fresh)) {
            None => ArtifactOrigin::Prepared,
            Some(Ok(())) => ArtifactOrigin::StateDb,
            Some(Err(refused)) => {
                tracing::warn!(
                    code_hash = %hex::encode(code_hash),
                    ?refused,
                    "stored artifact refused; prepared again from the ELF and replaced"
                );
                ArtifactOrigin::Rebuilt(refused)
            }
        };
        if from != ArtifactOrigin::StateDb {
            store.backend.put_code(&key, &fresh.to_bytes())?;
        }
        let module = Module::from_artifact(Arc::new(fresh), from)?;
        engine.remember(Arc::new(module.clone()));
        Ok(module)
    }

    /// This module as the engine's cache gives it out again.
    fn remembered(&self) -> Module {
        Module {
            from: ArtifactOrigin::Memory,
            ..self.clone()
        }
    }

    fn from_artifact(artifact: Arc<Artifact>, from: ArtifactOrigin) -> Result<Module, Error> {
        let image = artifact::loader_image(&artifact)
            .map_err(|source| Error::InvalidContract { path: None, source })?;
        Ok(Module {
            image: Arc::new(image),
            code_hash: artifact.code_hash,
            artifact,
            from,
        })
    }

    /// Reads, verifies and prepares a contract file.
    ///
    /// Errors: [`Error::Read`] if the file cannot be read; otherwise as
    /// [`Module::new`], with the path in the error.
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Module::new(engine, &bytes).map_err(|e| e.with_path(path))
    }

    /// SHA-256 of the ELF file: the contract's identity and storage namespace.
    pub fn code_hash(&self) -> [u8; 32] {
        self.code_hash
    }

    /// Exported methods and their addresses in the ELF (the addresses trap
    /// receipts use too), in name order.
    pub fn methods(&self) -> impl Iterator<Item = (&str, u64)> {
        // One hash lookup per method: O(methods), not O(methods^2).
        let originals: std::collections::HashMap<&str, u64> = self
            .artifact
            .translation
            .methods
            .iter()
            .rev()
            .map(|m| (m.name.as_str(), m.original))
            .collect();
        self.image.methods.keys().map(move |name| {
            (
                name.as_str(),
                originals.get(name.as_str()).copied().unwrap_or(0),
            )
        })
    }

    /// The artifact (translation, timings, versions).
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// Where the artifact came from (prepared now, or a cache).
    pub fn artifact_origin(&self) -> ArtifactOrigin {
        self.from
    }

    /// The image the VMM loads into guests.
    pub(crate) fn image(&self) -> &ContractImage {
        &self.image
    }

    /// The guest address a call of `method` starts at.
    ///
    /// Errors: [`Error::UnknownMethod`] naming the exported methods.
    pub(crate) fn entry(&self, method: &str) -> Result<u64, Error> {
        self.image
            .methods
            .get(method)
            .copied()
            .ok_or_else(|| Error::UnknownMethod {
                method: method.to_string(),
                exported: self.image.methods.keys().cloned().collect(),
            })
    }
}

/// The deployed ELF of `code_hash`: from the code store's ELF key, checked
/// against the hash, or (when only an image was stored) the image's own
/// ELF, which [`Artifact::from_bytes`] checks against its hash.
///
/// Errors: [`Error::StoredCodeCorrupt`] if the stored ELF does not hash to
/// `code_hash`; [`Error::NotDeployed`] if there is no usable ELF.
fn stored_elf(
    store: &StateDb,
    code_hash: &[u8; 32],
    image: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    if let Some(elf) = store.backend.get_code(&artifact::elf_key(code_hash))? {
        let actual: [u8; 32] = Sha256::digest(&elf).into();
        if &actual != code_hash {
            return Err(Error::StoredCodeCorrupt {
                code_hash: *code_hash,
                actual,
            });
        }
        return Ok(elf);
    }
    image
        .and_then(|bytes| Artifact::from_bytes(bytes).ok())
        .filter(|image| &image.code_hash == code_hash)
        .map(|image| image.elf)
        .ok_or(Error::NotDeployed {
            code_hash: *code_hash,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallOptions, EngineConfig, Receipt};

    /// A fresh engine: nothing in its memory, no warm guests.
    fn engine() -> Engine {
        Engine::new(EngineConfig::default()).expect("this test needs /dev/kvm")
    }

    fn fib25(engine: &Engine, module: &Module) -> Receipt {
        let options = CallOptions::with_input(25u64.to_le_bytes().to_vec());
        engine
            .call(module, &StateDb::in_memory(), "fib", &options)
            .unwrap()
    }

    /// Deserializes the stored image, changes its translation, stores it
    /// again; returns the forged image.
    fn tamper(
        store: &StateDb,
        code_hash: &[u8; 32],
        change: impl FnOnce(&mut nativm_gas::Translation),
    ) -> Artifact {
        let key = artifact::cache_key(code_hash);
        let bytes = store.backend().get_code(&key).unwrap().unwrap();
        let mut image = Artifact::from_bytes(&bytes).unwrap();
        let mut translation = (*image.translation).clone();
        change(&mut translation);
        image.translation = Arc::new(translation);
        store.backend().put_code(&key, &image.to_bytes()).unwrap();
        image
    }

    /// Loads `code_hash` from the store in a fresh engine: the forged image
    /// is refused and replaced, and the contract computes what it should.
    fn assert_refused_and_replaced(store: &StateDb, code_hash: &[u8; 32], honest: &Receipt) {
        let engine = engine();
        let module = Module::from_code_hash(&engine, store, code_hash).unwrap();
        assert_eq!(
            module.artifact_origin(),
            ArtifactOrigin::Rebuilt(ArtifactRefused::TranslationMismatch)
        );
        assert_eq!(fib25(&engine, &module).outcome, honest.outcome);
        let again = Module::from_code_hash(&self::engine(), store, code_hash).unwrap();
        assert_eq!(
            again.artifact_origin(),
            ArtifactOrigin::StateDb,
            "the stored image was replaced by the rebuilt one"
        );
    }

    #[test]
    fn a_tampered_stored_image_is_never_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateDb::open(dir.path().join("state.redb")).unwrap();
        let elf = std::fs::read(nativm_images::contract_path("fib")).unwrap();
        let engine = engine();
        let deployed = Module::deploy(&engine, &store, &elf).unwrap();
        assert_eq!(deployed.artifact_origin(), ArtifactOrigin::Prepared);
        let code_hash = deployed.code_hash();
        let honest = fib25(&engine, &deployed);
        assert!(honest.is_ok() && honest.outcome.gas_used > 0, "{honest:?}");

        // Prepared code bytes: the gas constants (after the two fixed
        // constants at the start of the region) zeroed, so that every block
        // would run for free.
        let forged = tamper(&store, &code_hash, |t| t.code[16..64].fill(0));
        let forged = Module::from_artifact(Arc::new(forged), ArtifactOrigin::StateDb).unwrap();
        let free = fib25(&self::engine(), &forged);
        assert!(
            free.is_ok() && free.outcome.gas_used < honest.outcome.gas_used,
            "run as it is, the forged image charges less: {} vs {}",
            free.outcome.gas_used,
            honest.outcome.gas_used
        );
        assert_refused_and_replaced(&store, &code_hash, &honest);

        // Branch-table entries: every verified instruction start sent to
        // the same prepared address.
        tamper(&store, &code_hash, |t| {
            let first = t.branch_targets[0].1;
            for entry in &mut t.branch_targets {
                entry.1 = first;
            }
        });
        assert_refused_and_replaced(&store, &code_hash, &honest);

        // Deploying again checks the stored image the same way.
        tamper(&store, &code_hash, |t| t.return_sites.clear());
        let redeployed = Module::deploy(&self::engine(), &store, &elf).unwrap();
        assert_eq!(
            redeployed.artifact_origin(),
            ArtifactOrigin::Rebuilt(ArtifactRefused::TranslationMismatch)
        );
    }

    #[test]
    fn a_stored_elf_that_is_not_its_code_hash_is_refused_and_deploy_repairs_it() {
        let store = StateDb::in_memory();
        let elf = std::fs::read(nativm_images::contract_path("fib")).unwrap();
        let code_hash = Module::deploy(&engine(), &store, &elf).unwrap().code_hash();
        let other = std::fs::read(nativm_images::contract_path("counter")).unwrap();
        store
            .backend()
            .put_code(&artifact::elf_key(&code_hash), &other)
            .unwrap();
        let actual: [u8; 32] = Sha256::digest(&other).into();
        match Module::from_code_hash(&engine(), &store, &code_hash) {
            Err(Error::StoredCodeCorrupt {
                code_hash: named,
                actual: found,
            }) => assert_eq!((named, found), (code_hash, actual)),
            other => panic!("expected StoredCodeCorrupt, got {other:?}"),
        }
        Module::deploy(&engine(), &store, &elf).unwrap();
        let module = Module::from_code_hash(&engine(), &store, &code_hash).unwrap();
        assert_eq!(module.artifact_origin(), ArtifactOrigin::StateDb);
    }
}
