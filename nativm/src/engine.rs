//! [`Engine`]: the KVM handle, the configuration, the in-memory cache of
//! prepared images, and [`Engine::call`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nativm_host_calls::CallContext;
use nativm_vmm::{CallRequest, Guest, Kvm};

use crate::receipt::{self, CallFacts};
use crate::{warm, CallOptions, EngineConfig, Error, Module, PreparedImage, Receipt, Store};

/// Most prepared images an [`Engine`] keeps in memory (an arbitrary one is
/// dropped beyond it; the state store's code store keeps them all).
pub const PREPARED_IMAGES_PER_ENGINE: usize = 1024;

/// The shared, long-lived part of nativm: the KVM handle and configuration.
/// `Engine` is `Send + Sync`; calls may be made from many threads.
pub struct Engine {
    kvm: Kvm,
    pub(crate) config: EngineConfig,
    /// Distinguishes engines in the per-thread warm-guest cache.
    id: u64,
    /// Prepared images by code hash: each contract is verified and
    /// translated once per engine.
    prepared: Mutex<HashMap<[u8; 32], Arc<PreparedImage>>>,
}

impl Engine {
    /// Opens `/dev/kvm` and checks the guest shim.
    ///
    /// Errors: [`Error::Vmm`] when KVM is unavailable (the message says why).
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        let kvm = nativm_vmm::open_kvm()?;
        nativm_vmm::shim()?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Engine {
            kvm,
            config,
            id,
            prepared: Default::default(),
        })
    }

    /// The prepared image of `code_hash` in this engine's memory, if any.
    pub(crate) fn cached(&self, code_hash: &[u8; 32]) -> Option<Arc<PreparedImage>> {
        let cache = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(code_hash).cloned()
    }

    /// Keeps `image` in this engine's memory.
    pub(crate) fn remember(&self, image: Arc<PreparedImage>) {
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
        let key = (self.id, module.code_hash());
        let guest = match warm::take(key) {
            Some(guest) => guest,
            None => self.new_guest(module)?,
        };
        warm::keep(key, guest);
        Ok(())
    }

    pub(crate) fn new_guest(&self, module: &Module) -> Result<Guest, Error> {
        let shim = nativm_vmm::shim()?;
        Ok(Guest::new(
            &self.kvm,
            shim,
            module.image(),
            &self.config.guest(),
        )?)
    }

    /// Runs `method` of `module` with `store`'s committed state, in this
    /// thread's warm guest for the module if it has one (else a new guest).
    /// The call's storage writes are buffered and committed atomically only
    /// if it ends `ok`; any other status discards them, and the guest too.
    /// A call stopped by its wall-clock limit has no receipt: it is
    /// [`Error::Timeout`], a failure of this execution on this host.
    ///
    /// ```no_run
    /// use nativm::{CallOptions, Engine, EngineConfig, Module, Status, Store};
    /// let engine = Engine::new(EngineConfig::default())?;
    /// let module = Module::from_file(&engine, "target/contracts/fib.elf")?;
    /// let store = Store::in_memory();
    /// let options = CallOptions {
    ///     gas_limit: Some(1_000_000),
    ///     ..CallOptions::with_input(25u64.to_le_bytes().to_vec())
    /// };
    /// let receipt = engine.call(&module, &store, "fib", &options)?;
    /// assert_eq!(receipt.status(), Status::Ok);
    /// assert_eq!(receipt.outcome.return_data, 75025u64.to_le_bytes());
    /// println!("outcome hash {}", hex::encode(receipt.outcome_hash()));
    /// # Ok::<(), nativm::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownMethod`]; [`Error::InputTooLarge`] and
    /// [`Error::GasLimitTooHigh`] for bad arguments; [`Error::Timeout`] if
    /// the call ran past its wall-clock limit ([`CallOptions::timeout`]),
    /// [`Error::HostCall`] and [`Error::State`] if the host or the store
    /// fails: in all three nothing was committed and the call may be
    /// retried; [`Error::Vmm`] if the VMM fails. A failing contract
    /// (revert, trap, out of gas) is a receipt, not an error.
    pub fn call(
        &self,
        module: &Module,
        store: &Store,
        method: &str,
        options: &CallOptions,
    ) -> Result<Receipt, Error> {
        let started = Instant::now();
        let entry = module.entry(method)?;
        let gas_limit = self.check_call(options)?;
        // A warm guest (booted, holding this contract, reset after its last
        // clean call) when this thread has one; else a new one.
        let key = (self.id, module.code_hash());
        let (mut guest, warm) = match warm::take(key) {
            Some(guest) => (guest, true),
            None => (self.new_guest(module)?, false),
        };
        let setup_ns = started.elapsed().as_nanos() as u64;
        let mut context = CallContext::new(store.backend(), module.code_hash(), options.caller);
        let timeout = options.timeout.unwrap_or(self.config.default_timeout);
        let request = CallRequest {
            entry,
            input: &options.input,
            caller: options.caller,
            timeout: Some(timeout),
            gas_limit,
        };
        let (exit, stats) = guest.call(&request, &mut context)?;
        if !guest.is_poisoned() {
            warm::keep(key, guest);
        }
        let facts = CallFacts {
            method,
            code_hash: module.code_hash(),
            gas_limit,
            timeout,
            warm,
            setup_ns,
        };
        let mut receipt = receipt::receipt_of(exit, &stats, context.finish(), &facts)?;
        if receipt.is_ok() {
            store.backend.commit(&receipt.outcome.changes)?;
        }
        receipt.diagnostics.wall_time_ns = started.elapsed().as_nanos() as u64;
        Ok(receipt)
    }

    /// Checks a call's options against the limits; returns its gas limit.
    fn check_call(&self, options: &CallOptions) -> Result<u64, Error> {
        let len = options.input.len() as u64;
        if len > nativm_abi::MAX_INPUT_LEN {
            return Err(Error::InputTooLarge {
                len,
                max: nativm_abi::MAX_INPUT_LEN,
            });
        }
        let gas_limit = options.gas_limit.unwrap_or(self.config.default_gas_limit);
        if gas_limit > nativm_gas::MAX_GAS_LIMIT {
            return Err(Error::GasLimitTooHigh {
                gas_limit,
                max: nativm_gas::MAX_GAS_LIMIT,
            });
        }
        Ok(gas_limit)
    }
}
