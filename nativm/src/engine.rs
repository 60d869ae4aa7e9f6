//! [`Engine`]: the KVM handle, the configuration, the in-memory cache of
//! modules, and [`Engine::call`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nativm_abi::contract_call;
use nativm_host_calls::state::{Account, ChangeSet, ContractId, StateError, StateKey, StateRead};
use nativm_host_calls::{CallContext, ContractCalls, NestedCall, NestedError, NestedOutcome};
use nativm_vmm::{CallRequest, Guest, Kvm};

use crate::account::{address_of, Address, Deployment};
use crate::receipt::{self, CallFacts};
use crate::{warm, CallOptions, EngineConfig, Error, Module, Receipt, StateDb, Status};

/// Most modules an [`Engine`] keeps in memory (an arbitrary one is dropped
/// beyond it; the state store's code store keeps every deployed contract).
pub const MODULES_PER_ENGINE: usize = 1024;

/// The shared, long-lived part of nativm: the KVM handle and configuration.
/// `Engine` is `Send + Sync`; calls may be made from many threads.
pub struct Engine {
    kvm: Kvm,
    pub(crate) config: EngineConfig,
    /// Distinguishes engines in the per-thread warm-guest cache.
    id: u64,
    /// Modules by code hash, the engine's one cache of contracts: each
    /// contract is verified and translated once per engine, and accounts
    /// and nested calls find their code here without loading it again.
    modules: Mutex<HashMap<[u8; 32], Arc<Module>>>,
}

/// A contract deployed at an address ([`Engine::deploy`]).
#[derive(Clone, Debug)]
pub struct Deployed {
    /// The account's address.
    pub address: Address,
    /// The code it runs.
    pub module: Arc<Module>,
    /// Whether this deployment created the account (`false`: it existed,
    /// with this code, already).
    pub created: bool,
}

/// Optimistic attempts of a call on a [`StateDb`] before it runs holding the
/// store's commit lock (see [`Engine::call`]).
pub const OPTIMISTIC_ATTEMPTS: u32 = 3;

/// Committed state as a call reads it, recording every read so that the
/// call can be checked against the state at its commit.
struct RecordingView<'a> {
    store: &'a dyn nativm_host_calls::state::StateStore,
    reads: std::cell::RefCell<Vec<(StateKey, Option<Vec<u8>>)>>,
}

impl<'a> RecordingView<'a> {
    fn new(store: &'a dyn nativm_host_calls::state::StateStore) -> Self {
        RecordingView {
            store,
            reads: Default::default(),
        }
    }

    fn read(&self, key: StateKey) -> Result<Option<Vec<u8>>, StateError> {
        let value = self.store.value_of(&key)?;
        self.reads.borrow_mut().push((key, value.clone()));
        Ok(value)
    }

    /// Whether every value read is still the committed one.
    fn still_current(&self) -> Result<bool, StateError> {
        for (key, value) in self.reads.borrow().iter() {
            if &self.store.value_of(key)? != value {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl StateRead for RecordingView<'_> {
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.read(StateKey::Storage {
            contract: *contract,
            key: key.to_vec(),
        })
    }

    fn account(&self, address: &Address) -> Result<Option<Account>, StateError> {
        Ok(self
            .read(StateKey::Account(*address))?
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(|code_hash| Account { code_hash }))
    }
}

/// One frame of a call stack.
struct Frame<'a> {
    module: &'a Module,
    contract: ContractId,
    caller: [u8; 32],
    method: &'a str,
    input: &'a [u8],
    gas_limit: u64,
    /// 1 for the outermost call.
    depth: u64,
    timeout: Duration,
    /// Declared storage keys of the contract (the outermost call's).
    access_list: &'a [Vec<u8>],
}

/// Runs the contract-to-contract calls of one outermost call, on the
/// thread that runs it, each in a guest of its own.
struct NestedRunner<'a> {
    engine: &'a Engine,
    store: &'a StateDb,
    /// When the outermost call's wall-clock limit passes.
    deadline: Instant,
}

impl NestedRunner<'_> {
    fn run(&self, call: &NestedCall<'_>) -> Result<NestedOutcome, Error> {
        let module = match self.engine.account_module(self.store, call.state, &call.to) {
            Ok(module) => module,
            Err(Error::NoAccount { .. }) => {
                return Ok(NestedOutcome::refused(contract_call::NO_ACCOUNT))
            }
            Err(e) => return Err(e),
        };
        if module.entry(&call.method).is_err() {
            return Ok(NestedOutcome::refused(contract_call::UNKNOWN_METHOD));
        }
        let timeout = self.deadline.saturating_duration_since(Instant::now());
        let frame = Frame {
            module: &module,
            contract: call.to,
            caller: call.caller,
            method: &call.method,
            input: &call.input,
            gas_limit: call.gas_limit,
            depth: call.depth,
            timeout,
            access_list: &[],
        };
        let receipt = self.engine.run_frame(&frame, call.state, self)?;
        let status = match receipt.status() {
            Status::Ok => contract_call::OK,
            Status::Reverted => contract_call::REVERTED,
            Status::Trap => contract_call::TRAPPED,
            Status::OutOfGas => contract_call::OUT_OF_GAS,
        };
        let outcome = receipt.outcome;
        Ok(NestedOutcome {
            status,
            return_data: outcome.return_data,
            gas_used: outcome.gas_used.min(call.gas_limit),
            changes: outcome.changes,
            logs: outcome.logs,
            vm_exits: receipt.diagnostics.vm_exits,
        })
    }
}

impl ContractCalls for NestedRunner<'_> {
    fn call(&self, call: NestedCall<'_>) -> Result<NestedOutcome, NestedError> {
        match self.run(&call) {
            Ok(outcome) => Ok(outcome),
            Err(Error::Timeout { .. }) => Err(NestedError::Timeout),
            Err(e) => Err(NestedError::Host(e.to_string())),
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
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Engine {
            kvm,
            config,
            id,
            modules: Default::default(),
        })
    }

    /// The module of `code_hash` in this engine's memory, if any.
    pub(crate) fn cached(&self, code_hash: &[u8; 32]) -> Option<Arc<Module>> {
        let modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        modules.get(code_hash).cloned()
    }

    /// Keeps `module` in this engine's memory (an arbitrary one is dropped
    /// beyond [`MODULES_PER_ENGINE`]).
    pub(crate) fn remember(&self, module: Arc<Module>) {
        let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if modules.len() >= MODULES_PER_ENGINE {
            if let Some(k) = modules.keys().next().copied() {
                modules.remove(&k);
            }
        }
        modules.insert(module.code_hash(), module);
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
    /// The module runs as the contract whose key space is its code hash
    /// (no account needed: the throwaway contract of `nativm run
    /// CONTRACT.elf`); [`Engine::call_account`] runs the contract at an
    /// address. The call's storage writes are buffered and committed
    /// atomically only if it ends `ok`; any other status discards them, and
    /// the guest too. A call stopped by its wall-clock limit has no
    /// receipt: it is [`Error::Timeout`], a failure of this execution on
    /// this host.
    ///
    /// ```no_run
    /// use nativm::{CallOptions, Engine, EngineConfig, Module, Status, StateDb};
    /// let engine = Engine::new(EngineConfig::default())?;
    /// let module = Module::from_file(&engine, "target/contracts/fib.elf")?;
    /// let store = StateDb::in_memory();
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
        store: &StateDb,
        method: &str,
        options: &CallOptions,
    ) -> Result<Receipt, Error> {
        self.call_serializable(module, module.code_hash(), store, method, options)
    }

    /// Runs `method` of the contract at `address` (see [`crate::account`])
    /// with `store`'s committed state, as [`Engine::call`] does: its
    /// storage is the account's own, and it may call other contracts (host
    /// call `call`).
    ///
    /// ```no_run
    /// use nativm::{CallOptions, Deployment, Engine, EngineConfig, StateDb};
    /// let engine = Engine::new(EngineConfig::default())?;
    /// let store = StateDb::in_memory();
    /// let elf = std::fs::read("target/contracts/counter.elf")
    ///     .map_err(|source| nativm::Error::Read { path: "counter.elf".into(), source })?;
    /// let address = engine.deploy(&store, &elf, &Deployment::default())?.address;
    /// let receipt = engine.call_account(&store, &address, "increment", &CallOptions::default())?;
    /// assert!(receipt.is_ok());
    /// # Ok::<(), nativm::Error>(())
    /// ```
    ///
    /// Errors: [`Error::NoAccount`] if no account exists at `address`; as
    /// [`Engine::call`] otherwise.
    pub fn call_account(
        &self,
        store: &StateDb,
        address: &Address,
        method: &str,
        options: &CallOptions,
    ) -> Result<Receipt, Error> {
        let module = self.account_module(store, store.backend(), address)?;
        self.call_serializable(&module, *address, store, method, options)
    }

    /// Deploys `elf` at the address [`crate::account::address_of`] gives
    /// for `deployment`: prepares and stores the code (as
    /// [`Module::deploy`]) and creates the account, unless it exists
    /// already (the same code at the same address: nothing changes).
    ///
    /// Errors: as [`Module::deploy`], and [`Error::State`] if the store
    /// fails.
    pub fn deploy(
        &self,
        store: &StateDb,
        elf: &[u8],
        deployment: &Deployment,
    ) -> Result<Deployed, Error> {
        let module = Arc::new(Module::deploy(self, store, elf)?);
        let code_hash = module.code_hash();
        let address = address_of(&deployment.deployer, &deployment.salt, &code_hash);
        let created = store.backend.account(&address)?.is_none();
        if created {
            let mut changes = ChangeSet::new();
            changes.create_account(address, Account { code_hash });
            store.backend.commit(&changes)?;
        }
        Ok(Deployed {
            address,
            module,
            created,
        })
    }

    /// The module deployed at `address`, as `state` sees the account.
    ///
    /// Errors: [`Error::NoAccount`]; as [`Module::from_code_hash`].
    pub(crate) fn account_module(
        &self,
        store: &StateDb,
        state: &dyn StateRead,
        address: &Address,
    ) -> Result<Arc<Module>, Error> {
        let account = state
            .account(address)?
            .ok_or(Error::NoAccount { address: *address })?;
        self.module(store, &account.code_hash)
    }

    /// The module of `code_hash`, from this engine's module cache or loaded
    /// from `store`'s code store (and kept).
    ///
    /// Errors: as [`Module::from_code_hash`].
    pub fn module(&self, store: &StateDb, code_hash: &[u8; 32]) -> Result<Arc<Module>, Error> {
        if let Some(module) = self.cached(code_hash) {
            return Ok(module);
        }
        Ok(Arc::new(Module::from_code_hash(self, store, code_hash)?))
    }

    /// Runs a call and commits it only if what it read is still the
    /// committed state when it commits (checked and committed under the
    /// store's commit lock); otherwise runs it again. After
    /// [`OPTIMISTIC_ATTEMPTS`] lost races it runs holding the lock. So
    /// concurrent calls on one [`StateDb`] (from any number of threads or
    /// [`crate::Executor`] workers) never lose an update: every receipt is
    /// that of some serial order of the calls.
    fn call_serializable(
        &self,
        module: &Module,
        contract: ContractId,
        store: &StateDb,
        method: &str,
        options: &CallOptions,
    ) -> Result<Receipt, Error> {
        let started = Instant::now();
        let lock = || store.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        for attempt in 0.. {
            let held = (attempt >= OPTIMISTIC_ATTEMPTS).then(lock);
            let view = RecordingView::new(store.backend());
            let mut receipt = self.execute(module, contract, store, &view, method, options)?;
            let _guard = match held {
                Some(guard) => guard,
                None => lock(),
            };
            if !view.still_current()? {
                continue;
            }
            if receipt.is_ok() {
                store.backend.commit(&receipt.outcome.changes)?;
            }
            receipt.diagnostics.wall_time_ns = started.elapsed().as_nanos() as u64;
            return Ok(receipt);
        }
        unreachable!("the loop returns once it holds the lock")
    }

    /// Runs one outermost call of `module` as `contract` over `state`,
    /// commits nothing, and returns its receipt (with its changes).
    pub(crate) fn execute(
        &self,
        module: &Module,
        contract: ContractId,
        store: &StateDb,
        state: &dyn StateRead,
        method: &str,
        options: &CallOptions,
    ) -> Result<Receipt, Error> {
        let gas_limit = self.check_call(options)?;
        let timeout = options.timeout.unwrap_or(self.config.default_timeout);
        let runner = NestedRunner {
            engine: self,
            store,
            deadline: Instant::now() + timeout,
        };
        let frame = Frame {
            module,
            contract,
            caller: options.caller,
            method,
            input: &options.input,
            gas_limit,
            depth: 1,
            timeout,
            access_list: &options.access_list,
        };
        self.run_frame(&frame, state, &runner)
    }

    /// Runs one frame of a call stack in a guest of its module: a warm one
    /// of this thread if it has one, else a new one.
    fn run_frame(
        &self,
        frame: &Frame<'_>,
        state: &dyn StateRead,
        runner: &NestedRunner<'_>,
    ) -> Result<Receipt, Error> {
        let started = Instant::now();
        let module = frame.module;
        let entry = module.entry(frame.method)?;
        // A warm guest (booted, holding this contract, reset after its last
        // clean call) when this thread has one; else a new one.
        let key = (self.id, module.code_hash());
        let (mut guest, warm) = match warm::take(key) {
            Some(guest) => (guest, true),
            None => (self.new_guest(module)?, false),
        };
        let setup_ns = started.elapsed().as_nanos() as u64;
        let mut context =
            CallContext::with_calls(state, frame.contract, frame.caller, frame.depth, runner);
        context.set_access_list(frame.access_list.to_vec());
        let request = CallRequest {
            entry,
            input: frame.input,
            caller: frame.caller,
            timeout: Some(frame.timeout),
            gas_limit: frame.gas_limit,
        };
        let (exit, stats) = guest.call(&request, &mut context)?;
        if !guest.is_poisoned() {
            warm::keep(key, guest);
        }
        let facts = CallFacts {
            method: frame.method,
            code_hash: module.code_hash(),
            gas_limit: frame.gas_limit,
            timeout: frame.timeout,
            warm,
            setup_ns,
        };
        let nested_vm_exits = context.nested_vm_exits();
        let mut receipt = receipt::receipt_of(exit, &stats, context.finish(), &facts)?;
        receipt.diagnostics.vm_exits += nested_vm_exits;
        Ok(receipt)
    }

    /// Checks a call's options against the limits; returns its gas limit.
    pub(crate) fn check_call(&self, options: &CallOptions) -> Result<u64, Error> {
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
