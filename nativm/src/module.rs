//! [`Module`]: a verified and prepared contract; deploying contracts to a
//! state store's code store and loading them back by code hash.

use std::path::Path;
use std::sync::Arc;

use nativm_vmm::ContractImage;
use sha2::{Digest, Sha256};

use crate::prepared::{self, PreparedImage};
use crate::{Engine, Error, Store};

/// Where a [`Module`]'s prepared image came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreparedFrom {
    /// Verified and translated just now.
    Prepared,
    /// The engine's in-memory cache.
    Memory,
    /// The state store's code store.
    Store,
}

/// A verified and prepared contract, ready to map into guests.
#[derive(Clone, Debug)]
pub struct Module {
    image: ContractImage,
    code_hash: [u8; 32],
    prepared: Arc<PreparedImage>,
    from: PreparedFrom,
}

impl Module {
    /// Verifies and prepares a contract from its ELF bytes, with the
    /// engine's verifier options, or takes it from the engine's cache of
    /// prepared images (keyed by code hash).
    ///
    /// Errors: [`Error::Rejected`] with the full report if the verifier
    /// rejects it; [`Error::Prepare`] if it cannot be translated;
    /// [`Error::InvalidContract`] if the loader cannot map it.
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        let code_hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(image) = engine.cached(&code_hash) {
            return Module::from_prepared(image, PreparedFrom::Memory);
        }
        let image = Arc::new(PreparedImage::prepare(bytes, &engine.config.verifier)?);
        engine.remember(Arc::clone(&image));
        Module::from_prepared(image, PreparedFrom::Prepared)
    }

    /// Deploys a contract to `store`'s code store: verifies and prepares it
    /// (unless the engine or the store already holds its prepared image),
    /// and stores both the ELF and the prepared image, so that
    /// [`Module::from_code_hash`] finds it, in this process or a later one.
    ///
    /// ```no_run
    /// use nativm::{Engine, EngineConfig, Module, Store};
    /// let engine = Engine::new(EngineConfig::default())?;
    /// let store = Store::open("state.redb")?;
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
    pub fn deploy(engine: &Engine, store: &Store, bytes: &[u8]) -> Result<Module, Error> {
        let code_hash: [u8; 32] = Sha256::digest(bytes).into();
        let module = match Module::load_prepared(engine, store, &code_hash)? {
            Some(module) => module,
            None => {
                let module = Module::new(engine, bytes)?;
                store.backend.put_code(
                    &prepared::cache_key(&code_hash),
                    &module.prepared.to_bytes(),
                )?;
                module
            }
        };
        let elf_key = prepared::elf_key(&code_hash);
        if store.backend.get_code(&elf_key)?.is_none() {
            store.backend.put_code(&elf_key, bytes)?;
        }
        Ok(module)
    }

    /// The contract deployed to `store` with this code hash: its prepared
    /// image from the engine's cache or the store, or, when the store's image
    /// was made by another nativm or cost-table version, prepared again from
    /// the deployed ELF (and stored).
    ///
    /// Errors: [`Error::NotDeployed`] if the store holds no such contract;
    /// [`Error::State`] if the store fails; as [`Module::new`] otherwise.
    pub fn from_code_hash(
        engine: &Engine,
        store: &Store,
        code_hash: &[u8; 32],
    ) -> Result<Module, Error> {
        if let Some(module) = Module::load_prepared(engine, store, code_hash)? {
            return Ok(module);
        }
        let elf = store
            .backend
            .get_code(&prepared::elf_key(code_hash))?
            .ok_or(Error::NotDeployed {
                code_hash: *code_hash,
            })?;
        Module::deploy(engine, store, &elf)
    }

    fn load_prepared(
        engine: &Engine,
        store: &Store,
        code_hash: &[u8; 32],
    ) -> Result<Option<Module>, Error> {
        if let Some(image) = engine.cached(code_hash) {
            return Module::from_prepared(image, PreparedFrom::Memory).map(Some);
        }
        let Some(bytes) = store.backend.get_code(&prepared::cache_key(code_hash))? else {
            return Ok(None);
        };
        let Some(image) = PreparedImage::from_bytes(&bytes).filter(|i| &i.code_hash == code_hash)
        else {
            return Ok(None);
        };
        let image = Arc::new(image);
        engine.remember(Arc::clone(&image));
        Module::from_prepared(image, PreparedFrom::Store).map(Some)
    }

    fn from_prepared(prepared: Arc<PreparedImage>, from: PreparedFrom) -> Result<Module, Error> {
        let image = ContractImage::parse(&prepared.elf)
            .and_then(|image| image.with_translation(Arc::clone(&prepared.translation)))
            .map_err(|source| Error::InvalidContract { path: None, source })?;
        Ok(Module {
            image,
            code_hash: prepared.code_hash,
            prepared,
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
        self.image.methods.keys().map(|name| {
            let original = self
                .prepared
                .translation
                .methods
                .iter()
                .find(|m| &m.name == name)
                .map_or(0, |m| m.original);
            (name.as_str(), original)
        })
    }

    /// The prepared image (translation, timings, versions).
    pub fn prepared(&self) -> &PreparedImage {
        &self.prepared
    }

    /// Where the prepared image came from (prepared now, or a cache).
    pub fn prepared_from(&self) -> PreparedFrom {
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
