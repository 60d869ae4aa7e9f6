//! # nativm
//!
//! Runs smart contracts, ordinary x86-64 ELF executables built by stock
//! rustc, gcc or clang, natively in ring 3 of KVM micro-VMs.
//!
//! The embedding API follows Wasmtime's shape:
//!
//! * [`Engine`]: configuration and the KVM handle, created once;
//! * [`Module`]: a verified contract, created once per contract: the
//!   verifier ([`nativm_verifier`]) must accept it first;
//! * [`Store`]: committed contract state (in memory, or a redb file);
//! * [`Engine::call`]: runs one method and returns a [`Receipt`]. The
//!   first call of a contract on a thread boots a guest for it; later calls
//!   reuse it warm (reset after each clean call, a few pages each); a guest
//!   whose call trapped, reverted or timed out is discarded. State changes are committed to the store only when the
//!   call ends `ok`.
//!
//! ```no_run
//! use nativm::{CallOptions, Engine, EngineConfig, Module, Store};
//! let engine = Engine::new(EngineConfig::default())?;
//! let module = Module::from_file(&engine, "target/contracts/fib.elf")?;
//! let store = Store::in_memory();
//! let receipt = engine.call(&module, &store, "fib", &CallOptions::with_input(25u64.to_le_bytes().to_vec()))?;
//! assert!(receipt.is_ok());
//! # Ok::<(), nativm::Error>(())
//! ```

pub mod executor;
pub mod prepared;
pub mod receipt;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nativm_host_calls::state::{ContractId, Entry, MemoryStore, RedbStore, StateError, StateStore};
use nativm_host_calls::CallContext;
use nativm_vmm::{
    CallExit, CallRequest, ContractImage, ElfError, Guest, GuestConfig, Kvm, VmmError,
};
use sha2::{Digest, Sha256};

pub use executor::{CallHandle, Executor};
pub use prepared::PreparedImage;
pub use receipt::{Receipt, Status, Trap};

/// Errors of the embedding API. A contract that fails (reverts, traps,
/// times out) is not an error: it is a [`Receipt`] with that status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A contract file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The verifier rejected the contract; the report names every violation.
    #[error("contract{} does not verify: {}", .path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default(), .report.summary())]
    Rejected {
        /// The file, when the contract came from one.
        path: Option<PathBuf>,
        /// The full verification report.
        report: Box<nativm_verifier::Report>,
    },
    /// The contract verified but could not be translated.
    #[error("cannot prepare the contract: {0}")]
    Prepare(String),
    /// No contract with this code hash was deployed to the store.
    #[error("no contract with code hash {} is deployed in this state store", hex::encode(.0))]
    NotDeployed([u8; 32]),
    /// The contract verified but the loader cannot map it.
    #[error("invalid contract{}: {source}", .path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    InvalidContract {
        /// The file, when the contract came from one.
        path: Option<PathBuf>,
        /// What is wrong, and where.
        source: ElfError,
    },
    /// The method is not exported by the contract.
    #[error("{0}")]
    UnknownMethod(ElfError),
    /// The call's arguments break a limit (input too large...).
    #[error("invalid call: {0}")]
    InvalidCall(String),
    /// The state store failed; nothing of the call was committed.
    #[error("state store: {0}")]
    State(#[from] StateError),
    /// The host failed while servicing a host call (e.g. the state store
    /// could not be read); nothing of the call was committed.
    #[error("host failure during the call, nothing committed: {0}")]
    HostCall(String),
    /// The VMM failed (KVM unavailable, an ioctl failed).
    #[error(transparent)]
    Vmm(#[from] VmmError),
}

/// Configuration of an [`Engine`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Guest heap size in bytes (default 16 MiB, at most 512 MiB).
    pub heap_size: u64,
    /// Guest stack size in bytes (default 1 MiB, at most 64 MiB).
    pub stack_size: u64,
    /// Default wall-clock limit of a call (default 10 s). A safety net for
    /// operators: gas is what bounds a call deterministically.
    pub default_timeout: Duration,
    /// Gas limit of a call that gives none (default
    /// [`nativm_gas::DEFAULT_GAS_LIMIT`], 10^9 gas).
    pub default_gas_limit: u64,
    /// Verifier options (AVX2 off by default) and size limits.
    pub verifier: nativm_verifier::Config,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let guest = GuestConfig::default();
        EngineConfig {
            heap_size: guest.heap_size,
            stack_size: guest.stack_size,
            default_timeout: Duration::from_secs(10),
            default_gas_limit: nativm_gas::DEFAULT_GAS_LIMIT,
            verifier: nativm_verifier::Config::default(),
        }
    }
}

/// The shared, long-lived part of nativm: the KVM handle and configuration.
/// `Engine` is `Send + Sync`; calls may be made from many threads.
pub struct Engine {
    kvm: Kvm,
    config: EngineConfig,
    /// Distinguishes engines in the per-thread warm-guest cache.
    id: u64,
    /// Prepared images by code hash: each contract is verified and
    /// translated once per engine.
    prepared: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<PreparedImage>>>,
}

/// Most prepared images an [`Engine`] keeps in memory (an arbitrary one is
/// dropped beyond it; the state store's code store keeps them all).
pub const PREPARED_IMAGES_PER_ENGINE: usize = 1024;

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

/// Most warm guests one thread keeps (one per engine and contract); the
/// least recently used is dropped beyond it.
pub const WARM_GUESTS_PER_THREAD: usize = 16;

/// Warm guests of one thread: (engine id, code hash) -> (last use, guest).
type WarmGuests = std::collections::HashMap<(u64, [u8; 32]), (u64, Guest)>;

thread_local! {
    /// Guests that ended their last call cleanly and were reset, by (engine,
    /// code hash), with a use counter for eviction. Per thread: a vCPU runs
    /// best on the thread that last ran it (KVM re-binds a vCPU that moves
    /// between threads at a cost).
    static WARM_GUESTS: std::cell::RefCell<WarmGuests> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn take_warm_guest(key: (u64, [u8; 32])) -> Option<Guest> {
    WARM_GUESTS
        .with(|w| w.borrow_mut().remove(&key))
        .map(|(_, g)| g)
}

fn keep_warm_guest(key: (u64, [u8; 32]), guest: Guest) {
    static USES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let stamp = USES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    WARM_GUESTS.with(|w| {
        let mut cache = w.borrow_mut();
        if cache.len() >= WARM_GUESTS_PER_THREAD {
            if let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| *k)
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(key, (stamp, guest));
    });
}

/// A verified and prepared contract, ready to map into guests.
#[derive(Clone, Debug)]
pub struct Module {
    image: ContractImage,
    code_hash: [u8; 32],
    prepared: Arc<PreparedImage>,
    from: PreparedFrom,
}

/// Committed contract state: storage per contract (keyed by code hash).
pub struct Store {
    backend: Box<dyn StateStore>,
}

/// Parameters of one call.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// Input bytes, placed read-only in guest memory (at most 16 MiB).
    pub input: Vec<u8>,
    /// The caller's 32-byte identity (default all zero).
    pub caller: [u8; 32],
    /// Wall-clock limit; `None` uses the engine's default.
    pub timeout: Option<Duration>,
    /// Gas limit; `None` uses the engine's default
    /// ([`EngineConfig::default_gas_limit`]). At most
    /// [`nativm_gas::MAX_GAS_LIMIT`].
    pub gas_limit: Option<u64>,
}

impl CallOptions {
    /// Options with this input and defaults otherwise.
    pub fn with_input(input: Vec<u8>) -> Self {
        CallOptions {
            input,
            ..Default::default()
        }
    }
}

impl Engine {
    /// Opens `/dev/kvm` and checks the guest shim.
    ///
    /// Errors: [`Error::Vmm`] when KVM is unavailable (the message says why).
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        let kvm = nativm_vmm::open_kvm()?;
        nativm_vmm::shim()?;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Engine {
            kvm,
            config,
            id,
            prepared: Default::default(),
        })
    }

    fn cached(&self, code_hash: &[u8; 32]) -> Option<Arc<PreparedImage>> {
        let cache = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(code_hash).cloned()
    }

    fn remember(&self, image: Arc<PreparedImage>) {
        let mut cache = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= PREPARED_IMAGES_PER_ENGINE {
            if let Some(k) = cache.keys().next().copied() {
                cache.remove(&k);
            }
        }
        cache.insert(image.code_hash, image);
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Makes sure this thread holds a guest for `module` (created and
    /// loaded, waiting to boot), so that its next call creates no VM.
    ///
    /// Errors: [`Error::Vmm`] if the guest cannot be created.
    pub fn prewarm(&self, module: &Module) -> Result<(), Error> {
        let key = (self.id, module.code_hash);
        if let Some(guest) = take_warm_guest(key) {
            keep_warm_guest(key, guest);
            return Ok(());
        }
        let guest_config = GuestConfig {
            heap_size: self.config.heap_size,
            stack_size: self.config.stack_size,
        };
        let guest = Guest::new(&self.kvm, nativm_vmm::shim()?, &module.image, &guest_config)?;
        keep_warm_guest(key, guest);
        Ok(())
    }

    /// Runs `method` of `module` with `store`'s committed state, in this
    /// thread's warm guest for the module if it has one (else a new guest).
    /// The call's storage writes are buffered and committed atomically only
    /// if it ends `ok`; any other status discards them, and the guest too.
    ///
    /// Errors: [`Error::UnknownMethod`], [`Error::InvalidCall`] for bad
    /// arguments; [`Error::State`] if the store fails (nothing committed);
    /// [`Error::Vmm`] if the VMM fails. A failing contract is a receipt.
    pub fn call(
        &self,
        module: &Module,
        store: &Store,
        method: &str,
        options: &CallOptions,
    ) -> Result<Receipt, Error> {
        let started = Instant::now();
        let entry = module.image.method(method).map_err(Error::UnknownMethod)?;
        if options.input.len() as u64 > nativm_abi::MAX_INPUT_LEN {
            return Err(Error::InvalidCall(format!(
                "input is {} bytes, more than the {} byte limit",
                options.input.len(),
                nativm_abi::MAX_INPUT_LEN
            )));
        }
        let guest_config = GuestConfig {
            heap_size: self.config.heap_size,
            stack_size: self.config.stack_size,
        };
        // A warm guest (booted, holding this contract, reset after its last
        // clean call) when this thread has one; else a new one.
        let key = (self.id, module.code_hash);
        let (mut guest, warm) = match take_warm_guest(key) {
            Some(guest) => (guest, true),
            None => (
                Guest::new(&self.kvm, nativm_vmm::shim()?, &module.image, &guest_config)?,
                false,
            ),
        };
        let setup_ns = started.elapsed().as_nanos() as u64;
        let mut context =
            CallContext::new(store.backend.as_ref(), module.code_hash, options.caller);
        let gas_limit = options.gas_limit.unwrap_or(self.config.default_gas_limit);
        if gas_limit > nativm_gas::MAX_GAS_LIMIT {
            return Err(Error::InvalidCall(format!(
                "gas limit {gas_limit} exceeds the maximum {}",
                nativm_gas::MAX_GAS_LIMIT
            )));
        }
        let request = CallRequest {
            entry,
            input: &options.input,
            caller: options.caller,
            timeout: Some(options.timeout.unwrap_or(self.config.default_timeout)),
            gas_limit,
        };
        let (exit, stats) = guest.call(&request, &mut context)?;
        if !guest.is_poisoned() {
            keep_warm_guest(key, guest);
        }
        let (return_data, logs, changes) = context.finish();
        let (status, message, trap) = match exit {
            CallExit::Returned => (Status::Ok, None, None),
            CallExit::Reverted(msg) => (Status::Reverted, Some(msg), None),
            CallExit::Exception(e) => (
                Status::Trap,
                Some(e.message.clone()),
                Some(Trap::from_exception(&e)),
            ),
            CallExit::HostCallFault(msg) => {
                (Status::Trap, Some(msg.clone()), Some(Trap::host_call(msg)))
            }
            CallExit::Crashed(msg) => (Status::Trap, Some(msg.clone()), Some(Trap::crash(msg))),
            CallExit::Timeout => (
                Status::Timeout,
                Some(format!(
                    "wall-clock limit of {} ms passed",
                    request.timeout.unwrap_or_default().as_millis()
                )),
                None,
            ),
            CallExit::OutOfGas => (
                Status::OutOfGas,
                Some(format!("ran out of gas (limit {gas_limit})")),
                None,
            ),
            CallExit::HostError(msg) => return Err(Error::HostCall(msg)),
        };
        let gas_used = if status == Status::OutOfGas {
            gas_limit
        } else {
            gas_limit - stats.gas_left.min(gas_limit)
        };
        let state_changes = changes.len() as u64;
        if status == Status::Ok {
            store.backend.commit(&changes)?;
        }
        Ok(Receipt {
            status,
            message,
            trap,
            // Only a successful call produces output; a failed one's partial
            // return data and logs are dropped with its state.
            return_data: if status == Status::Ok {
                return_data
            } else {
                Vec::new()
            },
            logs: if status == Status::Ok {
                logs
            } else {
                Vec::new()
            },
            method: method.to_string(),
            code_hash: module.code_hash,
            state_changes: if status == Status::Ok {
                state_changes
            } else {
                0
            },
            gas_limit,
            gas_used,
            gas_checks: stats.gas_checks,
            gas_overshoot: stats.gas_overshoot,
            vm_exits: stats.vm_exits,
            host_calls: stats.host_calls,
            ioctls: stats.ioctls,
            warm,
            pages_reset: stats.pages_reset,
            reset_ns: stats.reset_ns,
            guest_setup_ns: setup_ns,
            run_ns: stats.wall_time_ns,
            wall_time_ns: started.elapsed().as_nanos() as u64,
        })
    }
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
        if store
            .backend
            .get_code(&prepared::elf_key(&code_hash))?
            .is_none()
        {
            store
                .backend
                .put_code(&prepared::elf_key(&code_hash), bytes)?;
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
            .ok_or(Error::NotDeployed(*code_hash))?;
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
            .and_then(|image| {
                image.with_translation(Arc::new(prepared::prepared_code(&prepared.translation)))
            })
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
}

impl Error {
    /// Adds the contract file's path to errors that name a contract.
    pub fn with_path(self, path: &Path) -> Error {
        match self {
            Error::InvalidContract { source, .. } => Error::InvalidContract {
                path: Some(path.to_path_buf()),
                source,
            },
            Error::Rejected { report, .. } => Error::Rejected {
                path: Some(path.to_path_buf()),
                report,
            },
            other => other,
        }
    }
}

impl Store {
    /// A store that lives in memory and is lost when dropped.
    pub fn in_memory() -> Store {
        Store {
            backend: Box::new(MemoryStore::new()),
        }
    }

    /// Opens (or creates) a redb database file; what one process commits,
    /// the next one that opens the file sees.
    ///
    /// Errors: [`Error::State`] naming the path if it cannot be opened or is
    /// not a redb database.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, Error> {
        Ok(Store {
            backend: Box::new(RedbStore::open(path.as_ref())?),
        })
    }

    /// A store over any backend.
    pub fn with_backend(backend: Box<dyn StateStore>) -> Store {
        Store { backend }
    }

    /// Reads one committed key of a contract.
    ///
    /// Errors: [`Error::State`] if the backend fails.
    pub fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.backend.get(contract, key)?)
    }

    /// All committed (key, value) pairs of a contract, in key order.
    ///
    /// Errors: [`Error::State`] if the backend fails.
    pub fn entries(&self, contract: &ContractId) -> Result<Vec<Entry>, Error> {
        Ok(self.backend.entries(contract)?)
    }
}
