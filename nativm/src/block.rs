//! Blocks: ordered lists of transactions executed as one atomic unit, in
//! parallel, with exactly the result of executing them one after another
//! in block order.
//!
//! # Execution (Block-STM)
//!
//! Transactions run optimistically on all workers at once, following
//! Block-STM (Gelashvili et al., "Block-STM: Scaling Blockchain Execution
//! by Turning Ordering Curse to a Performance Blessing", 2022):
//!
//! * A **multi-version memory** holds, for every piece of state (a storage
//!   key of a contract, an account), the value each transaction wrote, with
//!   the incarnation (execution number) that wrote it. Transaction `i`
//!   reads the value of the highest transaction below `i` that wrote it,
//!   else the committed state before the block, and records what it read
//!   and from whom (its read set).
//! * After an execution its writes go into the memory, and the transaction
//!   is **validated**: every read is repeated, and if one now comes from a
//!   different writer or incarnation the transaction is aborted, its writes
//!   are marked as estimates, and it runs again. A transaction whose
//!   re-execution wrote a location its previous one did not makes every
//!   later transaction validate again.
//! * The **scheduler** hands out the lowest pending validation before the
//!   lowest pending execution; the block is done when every transaction has
//!   executed and validated and no task is running. Execution starts at
//!   most a window past the lowest transaction not yet executed; the window
//!   shrinks to 1 when many recent validations aborted and opens when few
//!   did, so a block of conflicting transactions
//!   runs nearly in order rather than executing everything twice. A reader
//!   that meets an
//!   estimate waits (up to [`ESTIMATE_WAIT`]) for its writer's next
//!   incarnation instead of reading a value that is certain to be stale.
//!
//! Once done, each transaction's last incarnation read exactly the state
//! that sequential execution in block order would have given it, so its
//! receipt is the sequential one. The writes are folded in block order into
//! one change set and committed in one atomic commit (one redb write
//! transaction): the state file holds the whole block or none of it, and
//! the state root after the block is the same for any number of workers.
//!
//! Each transaction calls the contract at its `to` address with its own gas
//! limit and caller; a failed transaction (revert, trap, out of gas) has its
//! receipt and changes nothing. A host failure (store error, timeout, VMM)
//! fails the whole block and commits nothing.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use nativm_host_calls::state::StateError;
use nativm_host_calls::state::{Account, Address, ChangeSet, ContractId, StateKey, StateRead};
use serde::Deserialize;

use crate::{CallOptions, Engine, Error, Receipt, StateDb};

/// Longest a transaction waits for the next incarnation of a writer whose
/// value it met as an estimate, before reading the estimate anyway (the
/// validation then decides). Only a matter of wasted work, never of
/// results.
pub const ESTIMATE_WAIT: Duration = Duration::from_millis(2);

/// One transaction of a block: a call of `method` of the contract at `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The callee's address.
    pub to: Address,
    /// The method.
    pub method: String,
    /// Its input (at most `nativm_abi::MAX_INPUT_LEN` bytes).
    pub input: Vec<u8>,
    /// Its gas limit.
    pub gas: u64,
    /// The caller's identity (32 bytes; zero when not given).
    pub caller: [u8; 32],
    /// Storage keys of `to` the transaction declares it will read or write
    /// (served in the guest without VM exits; see
    /// [`CallOptions::access_list`]). Receipts, gas and roots are the same
    /// with or without them.
    pub access_list: Vec<Vec<u8>>,
}

/// An ordered list of transactions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// The transactions, in block order.
    pub transactions: Vec<Transaction>,
}

/// The JSON form of a transaction (see [`Block::from_json`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransactionJson {
    to: String,
    method: String,
    #[serde(default)]
    input: String,
    gas: u64,
    #[serde(default)]
    caller: Option<String>,
    #[serde(default)]
    access_list: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockJson {
    transactions: Vec<TransactionJson>,
}

/// Decodes `text` as hex (an optional `0x` prefix) of exactly `N` bytes.
fn hex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()?;
    bytes.try_into().ok()
}

impl Block {
    /// Parses a block file:
    /// `{"transactions": [{"to": ADDR, "method": M, "input": HEX, "gas": N, "caller": HEX,
    /// "access_list": [HEX, ...]}, ...]}` with `to` and `caller` 64 hex
    /// digits, `input` hex (default empty), `caller` optional (zero) and
    /// `access_list` optional (storage keys of `to`, hex).
    ///
    /// Errors: [`Error::BlockFile`] naming the line and column of JSON that
    /// does not fit this schema; [`Error::TransactionField`] naming the
    /// transaction and field of a malformed value.
    pub fn from_json(text: &str) -> Result<Block, Error> {
        let parsed: BlockJson = serde_json::from_str(text).map_err(|e| Error::BlockFile {
            line: e.line(),
            column: e.column(),
            reason: e.to_string(),
        })?;
        let mut transactions = Vec::with_capacity(parsed.transactions.len());
        for (i, tx) in parsed.transactions.into_iter().enumerate() {
            let bad = |field: &str, reason: String| Error::TransactionField {
                index: i,
                field: field.to_string(),
                reason,
            };
            let to =
                hex_array::<32>(&tx.to).ok_or_else(|| bad("to", "must be 64 hex digits".into()))?;
            let caller = match tx.caller.as_deref() {
                None => [0; 32],
                Some(c) => hex_array::<32>(c)
                    .ok_or_else(|| bad("caller", "must be 64 hex digits".into()))?,
            };
            let input = hex::decode(tx.input.strip_prefix("0x").unwrap_or(&tx.input))
                .map_err(|e| bad("input", format!("is not hex: {e}")))?;
            let access_list = tx
                .access_list
                .iter()
                .enumerate()
                .map(|(k, key)| {
                    hex::decode(key.strip_prefix("0x").unwrap_or(key))
                        .map_err(|e| bad(&format!("access_list[{k}]"), format!("is not hex: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            transactions.push(Transaction {
                to,
                method: tx.method,
                input,
                gas: tx.gas,
                caller,
                access_list,
            });
        }
        Ok(Block { transactions })
    }
}

/// What a block did.
#[derive(Debug)]
pub struct BlockOutcome {
    /// The state root after the block (committed).
    pub state_root: [u8; 32],
    /// The state root before it.
    pub previous_root: [u8; 32],
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// Executions run, re-executions included (at least the number of
    /// transactions; the excess is the price of conflicts).
    pub executions: u64,
    /// Validations run.
    pub validations: u64,
    /// Wall time of the block, in nanoseconds (execution and commit).
    pub elapsed_ns: u64,
    /// What each transaction's final execution read and wrote, in block
    /// order (for auditing conflicts).
    pub access_sets: Vec<AccessSet>,
}

/// The state one transaction's final execution read and wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessSet {
    /// Every piece of state read (a storage key, an account), in first-read
    /// order, each once, with the transaction whose write it read (`None`:
    /// the state before the block).
    pub reads: Vec<(StateKey, Option<usize>)>,
    /// Every piece of state written (removals included), in key order.
    pub writes: Vec<StateKey>,
}

/// Where a read's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadOrigin {
    /// The committed state before the block.
    Storage,
    /// Transaction `.0`'s incarnation `.1`.
    Written(usize, u32),
}

/// One written value in the multi-version memory.
#[derive(Clone, Debug)]
struct Version {
    incarnation: u32,
    /// `None` for a removal.
    value: Option<Vec<u8>>,
    /// The writer was aborted: this value is probably stale.
    estimate: bool,
}

/// The multi-version memory: for each location, the writes by transaction.
#[derive(Default)]
struct MultiVersion {
    locations: RwLock<HashMap<StateKey, BTreeMap<usize, Version>>>,
}

/// What a read found.
enum Found {
    /// No transaction below wrote it: read the committed state.
    Storage,
    /// The value of a writer below.
    Written(usize, Version),
}

impl MultiVersion {
    fn read(&self, key: &StateKey, txn: usize) -> Found {
        let locations = self.locations.read().unwrap_or_else(|p| p.into_inner());
        match locations
            .get(key)
            .and_then(|writes| writes.range(..txn).next_back())
        {
            None => Found::Storage,
            Some((writer, version)) => Found::Written(*writer, version.clone()),
        }
    }

    /// Records `txn`'s writes, removing those of its previous incarnation
    /// that it no longer makes; returns whether it wrote a location the
    /// previous one did not.
    fn record(
        &self,
        txn: usize,
        incarnation: u32,
        previous: &[StateKey],
        writes: &[(StateKey, Option<Vec<u8>>)],
    ) -> bool {
        let mut locations = self.locations.write().unwrap_or_else(|p| p.into_inner());
        for key in previous {
            if !writes.iter().any(|(k, _)| k == key) {
                if let Some(versions) = locations.get_mut(key) {
                    versions.remove(&txn);
                }
            }
        }
        let mut new_location = false;
        for (key, value) in writes {
            new_location |= !previous.contains(key);
            locations.entry(key.clone()).or_default().insert(
                txn,
                Version {
                    incarnation,
                    value: value.clone(),
                    estimate: false,
                },
            );
        }
        new_location
    }

    fn mark_estimates(&self, txn: usize, keys: &[StateKey]) {
        let mut locations = self.locations.write().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if let Some(version) = locations.get_mut(key).and_then(|v| v.get_mut(&txn)) {
                version.estimate = true;
            }
        }
    }
}

/// A transaction's state in the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    ReadyToExecute,
    Executing,
    Executed,
    Aborting,
}

/// A unit of work.
#[derive(Clone, Copy, Debug)]
enum Task {
    Execute(usize, u32),
    Validate(usize, u32),
}

/// The scheduler's state, behind one lock (tasks are whole contract calls,
/// tens of microseconds each, so the lock is never the bottleneck).
struct Schedule {
    execution_idx: usize,
    validation_idx: usize,
    /// Tasks handed out and not finished.
    active: usize,
    /// (incarnation, phase) of each transaction.
    status: Vec<(u32, Phase)>,
    done: bool,
    /// The lowest transaction not (or no longer) executed: below it every
    /// transaction has executed (and is validated or awaiting validation).
    frontier: usize,
    /// How far past the frontier execution may start (transactions): 1 to
    /// [`MAX_WINDOW`], from the recent abort rate. A block whose transactions all conflict thus runs nearly
    /// one at a time instead of executing most of them twice; a block with
    /// few conflicts opens it to [`MAX_WINDOW`].
    window: usize,
    /// Recent fraction of validations that aborted (scheduling only: never
    /// part of any result).
    abort_rate: f64,
}

/// Largest speculation window of the scheduler (transactions).
pub const MAX_WINDOW: usize = 256;
/// Weight of one validation in the scheduler's abort-rate average.
pub const ABORT_RATE_WEIGHT: f64 = 1.0 / 16.0;

/// The last incarnation of one transaction.
#[derive(Default)]
struct TxnResult {
    reads: Vec<(StateKey, ReadOrigin)>,
    writes: Vec<StateKey>,
    receipt: Option<Receipt>,
}

/// One block being executed.
pub(crate) struct BlockRun {
    engine: Arc<Engine>,
    store: Arc<StateDb>,
    block: Arc<Block>,
    memory: MultiVersion,
    schedule: Mutex<Schedule>,
    wake: Condvar,
    results: Vec<Mutex<TxnResult>>,
    /// Signalled when an estimate is replaced.
    resolved: (Mutex<u64>, Condvar),
    failure: Mutex<Option<Error>>,
    executions: std::sync::atomic::AtomicU64,
    validations: std::sync::atomic::AtomicU64,
}

/// The state transaction `txn` sees: the multi-version memory over the
/// committed state, recording every read.
struct TxnView<'r> {
    run: &'r BlockRun,
    txn: usize,
    reads: RefCell<Vec<(StateKey, ReadOrigin)>>,
}

impl TxnView<'_> {
    fn read(&self, key: StateKey) -> Result<Option<Vec<u8>>, StateError> {
        let mut waited = false;
        loop {
            match self.run.memory.read(&key, self.txn) {
                Found::Storage => {
                    let value = self.run.store.backend().value_of(&key)?;
                    self.reads.borrow_mut().push((key, ReadOrigin::Storage));
                    return Ok(value);
                }
                Found::Written(writer, version) => {
                    if version.estimate && !waited {
                        self.run.wait_for_estimate();
                        waited = true;
                        continue;
                    }
                    self.reads
                        .borrow_mut()
                        .push((key, ReadOrigin::Written(writer, version.incarnation)));
                    return Ok(version.value);
                }
            }
        }
    }
}

impl StateRead for TxnView<'_> {
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.read(StateKey::Storage {
            contract: *contract,
            key: key.to_vec(),
        })
    }

    fn account(&self, address: &Address) -> Result<Option<Account>, StateError> {
        Ok(self
            .read(StateKey::Account(*address))?
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .map(|code_hash| Account { code_hash }))
    }
}

impl BlockRun {
    pub(crate) fn new(engine: Arc<Engine>, store: Arc<StateDb>, block: Arc<Block>) -> BlockRun {
        let n = block.transactions.len();
        BlockRun {
            engine,
            store,
            block,
            memory: MultiVersion::default(),
            schedule: Mutex::new(Schedule {
                execution_idx: 0,
                validation_idx: 0,
                active: 0,
                status: vec![(0, Phase::ReadyToExecute); n],
                done: n == 0,
                window: 4,
                abort_rate: 0.05,
                frontier: 0,
            }),
            wake: Condvar::new(),
            results: (0..n).map(|_| Mutex::new(TxnResult::default())).collect(),
            resolved: (Mutex::new(0), Condvar::new()),
            failure: Mutex::new(None),
            executions: Default::default(),
            validations: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next task, waiting while others may still create some; `None`
    /// when the block is done.
    fn next_task(&self) -> Option<Task> {
        let mut s = self.lock();
        loop {
            if s.done {
                return None;
            }
            let n = s.status.len();
            if s.validation_idx < s.execution_idx.min(n) {
                let i = s.validation_idx;
                s.validation_idx += 1;
                if let (inc, Phase::Executed) = s.status[i] {
                    s.active += 1;
                    return Some(Task::Validate(i, inc));
                }
                continue;
            }
            while s.frontier < n && s.status[s.frontier].1 == Phase::Executed {
                s.frontier += 1;
            }
            let in_window = s.execution_idx < s.frontier + s.window || s.active == 0;
            if s.execution_idx < n && in_window {
                let i = s.execution_idx;
                s.execution_idx += 1;
                if let (inc, Phase::ReadyToExecute) = s.status[i] {
                    s.status[i].1 = Phase::Executing;
                    s.active += 1;
                    return Some(Task::Execute(i, inc));
                }
                continue;
            }
            if s.active == 0 && s.execution_idx >= n {
                s.done = true;
                self.wake.notify_all();
                return None;
            }
            s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Ends task bookkeeping: one task fewer; wakes waiting workers.
    ///
    /// The worker finishing a task asks for its next one itself, so another
    /// worker is woken only when there is work for two (or when the block
    /// may be done): a hand-off between threads costs more than a small
    /// task.
    fn finish(&self, s: &mut Schedule) {
        s.active -= 1;
        let n = s.status.len();
        let validations = s.execution_idx.min(n).saturating_sub(s.validation_idx);
        let executions = (s.frontier + s.window)
            .min(n)
            .saturating_sub(s.execution_idx);
        if s.active == 0 || validations + executions >= 2 {
            self.wake.notify_all();
        }
    }

    fn finish_execution(&self, txn: usize, inc: u32, wrote_new_location: bool) -> Option<Task> {
        let mut s = self.lock();
        s.status[txn] = (inc, Phase::Executed);
        if s.validation_idx > txn {
            if !wrote_new_location {
                return Some(Task::Validate(txn, inc));
            }
            // Every later transaction validates again, this one first.
            s.validation_idx = txn;
        }
        if s.validation_idx == txn {
            // The next validation is this transaction's own: the worker
            // that ran it takes it (no hand-off to another thread).
            s.validation_idx = txn + 1;
            return Some(Task::Validate(txn, inc));
        }
        self.finish(&mut s);
        None
    }

    fn try_abort(&self, txn: usize, inc: u32) -> bool {
        let mut s = self.lock();
        if s.status[txn] == (inc, Phase::Executed) {
            s.status[txn].1 = Phase::Aborting;
            true
        } else {
            false
        }
    }

    fn finish_validation(&self, txn: usize, aborted: bool) -> Option<Task> {
        let mut s = self.lock();
        // The window follows the recent abort rate (an exponential average
        // over about 16 validations): conflicting blocks run nearly in
        // order, blocks with few conflicts run on every worker.
        s.abort_rate = s.abort_rate * (1.0 - ABORT_RATE_WEIGHT)
            + if aborted { ABORT_RATE_WEIGHT } else { 0.0 };
        s.window = match s.abort_rate {
            r if r > 0.10 => 1,
            r if r > 0.03 => 2,
            r if r > 0.01 => 4,
            _ => MAX_WINDOW,
        };
        if aborted {
            let inc = s.status[txn].0 + 1;
            s.status[txn] = (inc, Phase::ReadyToExecute);
            if s.validation_idx > txn + 1 {
                s.validation_idx = txn + 1;
            }
            s.frontier = s.frontier.min(txn);
            if s.execution_idx > txn {
                s.status[txn].1 = Phase::Executing;
                return Some(Task::Execute(txn, inc));
            }
        }
        self.finish(&mut s);
        None
    }

    fn wait_for_estimate(&self) {
        let (lock, cvar) = &self.resolved;
        let generation = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = cvar.wait_timeout(generation, ESTIMATE_WAIT);
    }

    fn estimates_resolved(&self) {
        let (lock, cvar) = &self.resolved;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        cvar.notify_all();
    }

    /// Fails the block: no more tasks.
    fn fail(&self, error: Error) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert(error);
        let mut s = self.lock();
        s.done = true;
        self.wake.notify_all();
    }

    /// Works on the block until it is done (called by every worker).
    pub(crate) fn work(&self) {
        let mut task = self.next_task();
        while let Some(current) = task {
            task = match current {
                Task::Execute(txn, inc) => match self.execute(txn, inc) {
                    Ok(new_location) => self.finish_execution(txn, inc, new_location),
                    Err(e) => {
                        self.fail(e);
                        None
                    }
                },
                Task::Validate(txn, inc) => {
                    let aborted = !self.validate(txn) && self.try_abort(txn, inc);
                    if aborted {
                        let writes = self.result(txn).writes.clone();
                        self.memory.mark_estimates(txn, &writes);
                    }
                    self.finish_validation(txn, aborted)
                }
            };
            if task.is_none() {
                task = self.next_task();
            }
        }
    }

    fn result(&self, txn: usize) -> std::sync::MutexGuard<'_, TxnResult> {
        self.results[txn].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs incarnation `inc` of `txn`; records its reads, writes and
    /// receipt; returns whether it wrote a new location.
    fn execute(&self, txn: usize, inc: u32) -> Result<bool, Error> {
        use std::sync::atomic::Ordering;
        self.executions.fetch_add(1, Ordering::Relaxed);
        let tx = &self.block.transactions[txn];
        let view = TxnView {
            run: self,
            txn,
            reads: RefCell::new(Vec::new()),
        };
        let module = self.engine.account_module(&self.store, &view, &tx.to)?;
        let options = CallOptions {
            input: tx.input.clone(),
            caller: tx.caller,
            gas_limit: Some(tx.gas),
            timeout: None,
            access_list: tx.access_list.clone(),
        };
        let receipt =
            self.engine
                .execute(&module, tx.to, &self.store, &view, &tx.method, &options)?;
        let writes = writes_of(&receipt.outcome.changes);
        let keys: Vec<StateKey> = writes.iter().map(|(k, _)| k.clone()).collect();
        let mut result = self.result(txn);
        let new_location = self.memory.record(txn, inc, &result.writes, &writes);
        result.reads = view.reads.into_inner();
        result.writes = keys;
        result.receipt = Some(receipt);
        drop(result);
        self.estimates_resolved();
        Ok(new_location)
    }

    /// Whether every read of `txn`'s last incarnation would read the same
    /// writer and incarnation now.
    fn validate(&self, txn: usize) -> bool {
        use std::sync::atomic::Ordering;
        self.validations.fetch_add(1, Ordering::Relaxed);
        let reads = self.result(txn).reads.clone();
        reads
            .iter()
            .all(|(key, origin)| match (self.memory.read(key, txn), origin) {
                (Found::Storage, ReadOrigin::Storage) => true,
                (Found::Written(writer, version), ReadOrigin::Written(w, inc)) => {
                    !version.estimate && writer == *w && version.incarnation == *inc
                }
                _ => false,
            })
    }

    /// After every worker returned from [`BlockRun::work`]: the receipts
    /// and the block's change set, or the failure.
    pub(crate) fn finish_block(self, started: Instant) -> Result<BlockOutcome, Error> {
        use std::sync::atomic::Ordering;
        if let Some(error) = self.failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(error);
        }
        let previous_root = self.store.backend().root()?;
        let mut changes = ChangeSet::new();
        let mut receipts = Vec::with_capacity(self.results.len());
        let mut gas_used = 0u64;
        let mut access_sets = Vec::with_capacity(self.results.len());
        for (i, result) in self.results.into_iter().enumerate() {
            let result = result.into_inner().unwrap_or_else(|p| p.into_inner());
            let mut reads: Vec<(StateKey, Option<usize>)> = Vec::new();
            for (key, origin) in &result.reads {
                if !reads.iter().any(|(k, _)| k == key) {
                    let writer = match origin {
                        ReadOrigin::Storage => None,
                        ReadOrigin::Written(w, _) => Some(*w),
                    };
                    reads.push((key.clone(), writer));
                }
            }
            access_sets.push(AccessSet {
                reads,
                writes: result.writes.clone(),
            });
            let receipt = result.receipt.ok_or(Error::BlockIncomplete { index: i })?;
            gas_used = gas_used.saturating_add(receipt.outcome.gas_used);
            changes.merge(receipt.outcome.changes.clone());
            receipts.push(receipt);
        }
        self.store.backend().commit(&changes)?;
        Ok(BlockOutcome {
            state_root: self.store.backend().root()?,
            previous_root,
            gas_used,
            receipts,
            executions: self.executions.load(Ordering::Relaxed),
            validations: self.validations.load(Ordering::Relaxed),
            elapsed_ns: started.elapsed().as_nanos() as u64,
            access_sets,
        })
    }
}

/// A change set as (location, new value) pairs.
fn writes_of(changes: &ChangeSet) -> Vec<(StateKey, Option<Vec<u8>>)> {
    let mut writes: Vec<_> = changes
        .iter()
        .map(|(contract, key, value)| {
            (
                StateKey::Storage {
                    contract: *contract,
                    key: key.to_vec(),
                },
                value.map(<[u8]>::to_vec),
            )
        })
        .collect();
    writes.extend(changes.accounts().map(|(address, account)| {
        (
            StateKey::Account(*address),
            Some(account.code_hash.to_vec()),
        )
    }));
    writes
}

/// Checks every transaction before any runs: an account at `to` that
/// exports `method`, an input and a gas limit within the limits.
///
/// Errors: [`Error::TransactionRefused`] naming the transaction and why.
pub(crate) fn check_block(engine: &Engine, store: &StateDb, block: &Block) -> Result<(), Error> {
    for (i, tx) in block.transactions.iter().enumerate() {
        let bad = |e: Error| Error::TransactionRefused {
            index: i,
            source: Box::new(e),
        };
        let module = engine
            .account_module(store, store.backend(), &tx.to)
            .map_err(bad)?;
        module.entry(&tx.method).map_err(bad)?;
        let options = CallOptions {
            input: tx.input.clone(),
            gas_limit: Some(tx.gas),
            ..CallOptions::default()
        };
        engine.check_call(&options).map_err(bad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_block_file_names_the_line_transaction_and_field() {
        match Block::from_json("{\n\"transactions\": [\n{\"to\": 7}]}") {
            Err(Error::BlockFile { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected BlockFile, got {other:?}"),
        }
        let to = "11".repeat(32);
        let text = format!(
            r#"{{"transactions": [{{"to": "{to}", "method": "m", "gas": 1}},
                {{"to": "{to}", "method": "m", "gas": 1, "access_list": ["00", "zz"]}}]}}"#
        );
        match Block::from_json(&text) {
            Err(Error::TransactionField { index, field, .. }) => {
                assert_eq!((index, field.as_str()), (1, "access_list[1]"))
            }
            other => panic!("expected TransactionField, got {other:?}"),
        }
        let short = r#"{"transactions": [{"to": "11", "method": "m", "gas": 1}]}"#;
        match Block::from_json(short) {
            Err(e @ Error::TransactionField { .. }) => {
                assert_eq!(
                    e.to_string(),
                    "block: transaction 0: `to` must be 64 hex digits"
                )
            }
            other => panic!("expected TransactionField, got {other:?}"),
        }
    }
}
