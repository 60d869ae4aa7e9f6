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
pub mod receipt;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nativm_host_calls::state::{ContractId, Entry, MemoryStore, RedbStore, StateError, StateStore};
use nativm_host_calls::CallContext;
use nativm_vmm::{
    CallExit, CallRequest, ContractImage, ElfError, Guest, GuestConfig, Kvm, VmmError,
};
use sha2::{Digest, Sha256};

pub use executor::{CallHandle, Executor};
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
    /// Default wall-clock limit of a call (default 10 s).
    pub default_timeout: Duration,
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

/// A verified contract, parsed and ready to map into guests.
#[derive(Clone, Debug)]
pub struct Module {
    image: ContractImage,
    code_hash: [u8; 32],
    report: nativm_verifier::Report,
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
        Ok(Engine { kvm, config, id })
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
        let request = CallRequest {
            entry,
            input: &options.input,
            caller: options.caller,
            timeout: Some(options.timeout.unwrap_or(self.config.default_timeout)),
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
            CallExit::HostError(msg) => return Err(Error::HostCall(msg)),
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
    /// Verifies and parses a contract from its ELF bytes, with the engine's
    /// verifier options.
    ///
    /// Errors: [`Error::Rejected`] with the full report if the verifier
    /// rejects it; [`Error::InvalidContract`] if the loader cannot map it.
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        let report = nativm_verifier::verify(bytes, &engine.config.verifier);
        if !report.is_ok() {
            return Err(Error::Rejected {
                path: None,
                report: Box::new(report),
            });
        }
        let image = ContractImage::parse(bytes)
            .map_err(|source| Error::InvalidContract { path: None, source })?;
        Ok(Module {
            image,
            code_hash: Sha256::digest(bytes).into(),
            report,
        })
    }

    /// Reads, verifies and parses a contract file.
    ///
    /// Errors: [`Error::Read`] if the file cannot be read; otherwise as
    /// [`Module::new`], with the path in the error.
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Module::new(engine, &bytes).map_err(|e| match e {
            Error::InvalidContract { source, .. } => Error::InvalidContract {
                path: Some(path.to_path_buf()),
                source,
            },
            Error::Rejected { report, .. } => Error::Rejected {
                path: Some(path.to_path_buf()),
                report,
            },
            other => other,
        })
    }

    /// SHA-256 of the ELF file: the contract's identity and storage namespace.
    pub fn code_hash(&self) -> [u8; 32] {
        self.code_hash
    }

    /// Exported methods and their guest addresses, in name order.
    pub fn methods(&self) -> impl Iterator<Item = (&str, u64)> {
        self.image
            .methods
            .iter()
            .map(|(name, addr)| (name.as_str(), *addr))
    }

    /// The verifier's report (no violations; lists the indirect branches).
    pub fn verification(&self) -> &nativm_verifier::Report {
        &self.report
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
