//! Running one generated program through the whole path and checking it.
//!
//! For each program: `Module::new` (a rejection is counted, not a
//! failure); then the call, four times: twice on the fuzzing thread's
//! shared [`Engine`] (the second on the warm guest when the first ended
//! `ok`) and twice, concurrently, through an [`Executor`] with two workers.
//! Each call gets a fresh in-memory [`Store`]. After every call the honest
//! probe ([`crate::probe`]) runs on the same engine and thread (or on the
//! executor) with that call's store, and must return exactly what it
//! returned on a pristine engine.
//!
//! Checked: nothing panics (libFuzzer aborts on a panic in any thread);
//! the four outcomes are identical ([`outcome`]: status, message, trap,
//! return data, logs, gas used, state changes and the store's committed
//! entries); every probe result equals the pristine one; no call returns
//! an `Err` other than a wall-clock timeout.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nativm::{CallOptions, Engine, EngineConfig, Error, Executor, Module, Receipt, Store};

use crate::gen::{self, Program, HEAP_SIZE, STACK_SIZE};
use crate::probe;

/// Wall-clock limit of every call. Gas (at most 10^6 for fuzzed calls)
/// ends every call long before it, unless the machine is badly overloaded.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Caller of every call.
pub const CALLER: [u8; 32] = [0xca; 32];

/// The comparable part of a call's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A receipt.
    Receipt(Canon),
    /// The wall-clock limit passed (a receipt with status `timeout`, or an
    /// `Err` saying so): not compared.
    Timeout(String),
    /// Any other `Err`.
    Error(String),
}

/// The deterministic fields of a receipt, plus the store's entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canon {
    pub status: String,
    pub message: Option<String>,
    pub trap: Option<String>,
    pub return_data: Vec<u8>,
    pub logs: Vec<Vec<u8>>,
    pub gas_used: u64,
    pub state_changes: u64,
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The one place that reads `Receipt` fields (they may move).
pub fn outcome(result: Result<Receipt, Error>, store: &Store, code_hash: &[u8; 32]) -> Outcome {
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            let msg = e.to_string();
            let lower = msg.to_lowercase();
            if lower.contains("timeout")
                || lower.contains("timed out")
                || lower.contains("wall-clock")
            {
                return Outcome::Timeout(msg);
            }
            return Outcome::Error(msg);
        }
    };
    let status = r.status.as_str().to_string();
    if status == "timeout" {
        return Outcome::Timeout(r.message.unwrap_or_default());
    }
    let entries = store.entries(code_hash).unwrap_or_default();
    Outcome::Receipt(Canon {
        status,
        message: r.message.clone(),
        trap: r.trap.as_ref().map(|t| {
            format!(
                "{}/{:?}/{:?}/{:x?}/{:x?}/{}/{}",
                t.kind, t.exception, t.vector, t.rip, t.address, t.in_contract, t.message
            )
        }),
        return_data: r.return_data.clone(),
        logs: r.logs.clone(),
        gas_used: r.gas_used,
        state_changes: r.state_changes,
        entries,
    })
}

/// Short name of an outcome for the statistics (status, trap name).
fn label(o: &Outcome) -> String {
    match o {
        Outcome::Receipt(c) => match &c.trap {
            Some(t) => {
                let mut parts = t.split('/');
                let kind = parts.next().unwrap_or("");
                let exc = parts.next().unwrap_or("");
                format!("trap:{kind}:{exc}")
            }
            None => c.status.clone(),
        },
        Outcome::Timeout(_) => "timeout".into(),
        Outcome::Error(_) => "error".into(),
    }
}

/// Counts, printed every [`REPORT_EVERY`] programs.
#[derive(Default, Debug)]
pub struct Stats {
    pub programs: u64,
    pub asm_errors: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub rejected_by: BTreeMap<String, u64>,
    pub outcomes: BTreeMap<String, u64>,
    pub timeouts: u64,
    pub probes: u64,
}

const REPORT_EVERY: u64 = 500;

struct Harness {
    engine: Engine,
    executor: Executor,
    probe: Arc<Module>,
    pristine: Outcome,
    stats: Mutex<Stats>,
}

fn config() -> EngineConfig {
    EngineConfig {
        heap_size: HEAP_SIZE,
        stack_size: STACK_SIZE,
        default_timeout: TIMEOUT,
        ..EngineConfig::default()
    }
}

fn probe_options() -> CallOptions {
    CallOptions {
        input: probe::INPUT.to_vec(),
        caller: CALLER,
        timeout: Some(TIMEOUT),
        gas_limit: Some(probe::GAS),
    }
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let engine = Engine::new(config()).expect("KVM and the guest shim");
        let executor = Executor::new(config(), 2).expect("the executor starts");
        let probe = Arc::new(Module::new(&engine, &probe::elf()).unwrap_or_else(|e| {
            panic!("the probe contract must verify: {e}")
        }));
        // The pristine result: a fresh engine, a fresh guest, an empty store.
        let store = Store::in_memory();
        let pristine = outcome(
            engine.call(&probe, &store, "run", &probe_options()),
            &store,
            &probe.code_hash(),
        );
        match &pristine {
            Outcome::Receipt(c) if c.status == "ok" => {
                if std::env::var_os("NATIVM_FUZZ_VERBOSE").is_some() {
                    eprintln!("probe pristine: {}", probe::describe(&c.return_data));
                }
            }
            other => panic!("the probe must return ok on a pristine engine: {other:?}"),
        }
        let h = Harness {
            engine,
            executor,
            probe,
            pristine,
            stats: Mutex::new(Stats::default()),
        };
        // Warm, and on the executor's workers: the same.
        check_probe(&h, &Store::in_memory(), "startup (warm)");
        check_probe_executor(&h, &[Arc::new(Store::in_memory()), Arc::new(Store::in_memory())], "startup");
        h
    })
}

fn mismatch(what: &str, a: &Outcome, b: &Outcome) -> ! {
    let describe = |o: &Outcome| match o {
        Outcome::Receipt(c) if c.return_data.len() >= probe::at::HASHES as usize => {
            format!("{o:?}\n  probe: {}", probe::describe(&c.return_data))
        }
        _ => format!("{o:?}"),
    };
    panic!(
        "MISMATCH {what}:\n expected {}\n      got {}",
        describe(a),
        describe(b)
    );
}

fn check_probe(h: &Harness, store: &Store, after: &str) {
    let got = outcome(
        h.engine.call(&h.probe, store, "run", &probe_options()),
        store,
        &h.probe.code_hash(),
    );
    if let Outcome::Timeout(_) = got {
        return;
    }
    if got != h.pristine {
        mismatch(&format!("probe on the engine after {after}"), &h.pristine, &got);
    }
}

fn check_probe_executor(h: &Harness, stores: &[Arc<Store>], after: &str) {
    let handles: Vec<_> = stores
        .iter()
        .map(|s| h.executor.submit(&h.probe, s, "run", probe_options()))
        .collect();
    for (handle, store) in handles.into_iter().zip(stores) {
        let got = outcome(handle.wait(), store, &h.probe.code_hash());
        if let Outcome::Timeout(_) = got {
            continue;
        }
        if got != h.pristine {
            mismatch(&format!("probe on the executor after {after}"), &h.pristine, &got);
        }
    }
}

fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("NATIVM_FUZZ_VERBOSE").is_some())
}

/// Runs one program through the whole path and checks it (panics on a
/// finding).
pub fn run(p: &Program) {
    let h = harness();
    let built = gen::assemble(p);
    let mut stats = h.stats.lock().unwrap_or_else(|e| e.into_inner());
    stats.programs += 1;
    if stats.programs % REPORT_EVERY == 0 {
        eprintln!("whole_path stats: {stats:?}");
    }
    let built = match built {
        Ok(b) => b,
        Err(e) => {
            stats.asm_errors += 1;
            if verbose() {
                eprintln!("assembly failed: {e}");
            }
            return;
        }
    };
    let module = match Module::new(&h.engine, &built.elf) {
        Ok(m) => Arc::new(m),
        Err(Error::Rejected { report, .. }) => {
            stats.rejected += 1;
            let mut classes: Vec<&str> = report.violations.iter().map(|v| v.class).collect();
            classes.dedup();
            *stats.rejected_by.entry(classes.join("+")).or_default() += 1;
            if verbose() {
                eprintln!("rejected: {}", report.summary());
            }
            return;
        }
        Err(e) => {
            // The verifier accepted it but nativm could not prepare or load
            // it: the verifier and the rest disagree.
            panic!("VERIFIED BUT NOT LOADABLE: {e}");
        }
    };
    stats.accepted += 1;
    drop(stats);
    let options = CallOptions {
        input: built.input.clone(),
        caller: CALLER,
        timeout: Some(TIMEOUT),
        gas_limit: Some(built.gas),
    };
    let hash = module.code_hash();
    let mut results: Vec<(String, Outcome)> = Vec::new();

    // Twice on this thread: the second warm if the first ended ok.
    for run in ["engine, first", "engine, second"] {
        let store = Store::in_memory();
        let o = outcome(h.engine.call(&module, &store, "run", &options), &store, &hash);
        check_probe(h, &store, run);
        results.push((run.to_string(), o));
    }
    // Twice on the executor, concurrently (both workers).
    let stores = [Arc::new(Store::in_memory()), Arc::new(Store::in_memory())];
    let handles: Vec<_> = stores
        .iter()
        .map(|s| h.executor.submit(&module, s, "run", options.clone()))
        .collect();
    for (i, (handle, store)) in handles.into_iter().zip(&stores).enumerate() {
        let o = outcome(handle.wait(), store, &hash);
        results.push((format!("executor {i}"), o));
    }
    check_probe_executor(h, &stores, "a fuzzed call");

    let mut stats = h.stats.lock().unwrap_or_else(|e| e.into_inner());
    stats.probes += 4;
    *stats.outcomes.entry(label(&results[0].1)).or_default() += 1;
    if results.iter().any(|(_, o)| matches!(o, Outcome::Timeout(_))) {
        stats.timeouts += 1;
        return;
    }
    drop(stats);
    for (what, o) in &results {
        if let Outcome::Error(e) = o {
            panic!("HOST ERROR ({what}): {e}");
        }
    }
    let (first_what, first) = &results[0];
    for (what, o) in &results[1..] {
        if o != first {
            mismatch(&format!("{first_what} vs {what}"), first, o);
        }
    }
    if verbose() {
        eprintln!("outcome: {first:?}");
    }
}

/// The statistics so far.
pub fn stats() -> String {
    format!("{:?}", harness().stats.lock().unwrap_or_else(|e| e.into_inner()))
}
