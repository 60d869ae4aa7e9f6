//! Accounts, contract-to-contract calls and parallel blocks (issues 11 and
//! 12): plain timing, one run, plain-text tables on stdout.
//!
//! ```sh
//! cargo bench -p nativm-benches --bench blocks
//! ```
//!
//! 1. **Contract-to-contract call.** The median warm wall time of
//!    `counter.increment` called directly and through `proxy.forward`
//!    (proxy -> counter: two guests, one nested call), each as a ratio to
//!    the bare VM exit round trip measured in the same run
//!    (`nativm_vmm::measure_exit_roundtrip`), and the VM exits of each.
//! 2. **Access lists.** Warm `token.transfer` and `counter.increment`
//!    with and without their storage keys declared: median time, ratio to
//!    the exit round trip, VM exits (issue 12: a transfer with its keys
//!    declared within 1.5x of one exit round trip).
//! 3. **Blocks.** On a fresh in-memory store per run, the median of
//!    [`BLOCK_RUNS`] runs of two blocks on 1 and 2 workers:
//!    `token`: 200 mints, then 2 000 transfers among 200 accounts (a fixed
//!    pseudo-random sequence); `counter`: 1 000 `increment`s of one counter
//!    (every transaction conflicts with the one before). Printed: tx/s,
//!    executions per transaction, the 2-worker/1-worker speed-up, and
//!    whether the state roots agree (the bench fails if they do not).
//!    Goals (issue 12): token >= 1.6x, counter no slower than 1/1.1 of one
//!    worker.

use std::sync::Arc;
use std::time::Instant;

use nativm::{
    Address, Block, CallOptions, Deployment, Engine, EngineConfig, Executor, StateDb, Transaction,
};

/// Runs of each block configuration (the median is printed).
const BLOCK_RUNS: usize = 5;
/// Timed calls of each kind in part 1.
const CALLS: usize = 2_000;

fn elf(name: &str) -> Vec<u8> {
    std::fs::read(nativm_images::contract_path(name)).expect("run `cargo build` first")
}

fn deploy(engine: &Engine, store: &StateDb, name: &str) -> Address {
    engine
        .deploy(store, &elf(name), &Deployment::default())
        .expect("deploy")
        .address
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn forward(to: &Address, method: &str, input: &[u8]) -> Vec<u8> {
    let mut out = to.to_vec();
    out.extend(10_000_000u64.to_le_bytes());
    out.push(method.len() as u8);
    out.extend(method.as_bytes());
    out.extend(input);
    out
}

fn median_call(
    engine: &Engine,
    store: &StateDb,
    to: &Address,
    method: &str,
    options: &CallOptions,
) -> (u64, u64) {
    let mut times = Vec::with_capacity(CALLS);
    let mut exits = 0;
    for i in 0..CALLS + 100 {
        let started = Instant::now();
        let r = engine.call_account(store, to, method, options).unwrap();
        assert!(r.is_ok(), "{method}: {r:?}");
        if i >= 100 {
            times.push(started.elapsed().as_nanos() as u64);
        }
        exits = r.diagnostics.vm_exits;
    }
    (median(times), exits)
}

/// Warm token transfers and counter increments with and without their keys
/// declared, against the exit round trip.
fn access_lists() {
    let engine = Engine::new(EngineConfig::default()).expect("/dev/kvm");
    let store = StateDb::in_memory();
    let token = deploy(&engine, &store, "token");
    let counter = deploy(&engine, &store, "counter");
    let (a, b) = ([0xa1u8; 32], [0xb2u8; 32]);
    let mint = CallOptions {
        input: [a.to_vec(), u64::MAX.to_le_bytes().to_vec()].concat(),
        ..Default::default()
    };
    assert!(engine
        .call_account(&store, &token, "mint", &mint)
        .unwrap()
        .is_ok());
    let roundtrip = nativm_vmm::measure_exit_roundtrip(&nativm_vmm::open_kvm().unwrap(), 2_000)
        .expect("exit round trip");
    println!();
    println!(
        "access lists, {CALLS} warm calls each, exit round trip {:.1} us",
        roundtrip as f64 / 1e3
    );
    println!("| call | keys declared | median us | / exit round trip | VM exits |");
    println!("| --- | --- | ---: | ---: | ---: |");
    let key = |who: [u8; 32]| [b"bal:".to_vec(), who.to_vec()].concat();
    for declare in [false, true] {
        let transfer = CallOptions {
            input: [b.to_vec(), 1u64.to_le_bytes().to_vec()].concat(),
            caller: a,
            access_list: if declare {
                vec![key(a), key(b)]
            } else {
                vec![]
            },
            ..Default::default()
        };
        let (m, exits) = median_call(&engine, &store, &token, "transfer", &transfer);
        println!(
            "| token.transfer | {declare} | {:.1} | {:.2} | {exits} |",
            m as f64 / 1e3,
            m as f64 / roundtrip as f64
        );
        let inc = CallOptions {
            input: 1u64.to_le_bytes().to_vec(),
            access_list: if declare {
                vec![b"count".to_vec()]
            } else {
                vec![]
            },
            ..Default::default()
        };
        let (m, exits) = median_call(&engine, &store, &counter, "increment", &inc);
        println!(
            "| counter.increment | {declare} | {:.1} | {:.2} | {exits} |",
            m as f64 / 1e3,
            m as f64 / roundtrip as f64
        );
    }
}

fn nested_call_cost() {
    let engine = Engine::new(EngineConfig::default()).expect("/dev/kvm");
    let store = StateDb::in_memory();
    let counter = deploy(&engine, &store, "counter");
    let proxy = deploy(&engine, &store, "proxy");
    let roundtrip = nativm_vmm::measure_exit_roundtrip(&nativm_vmm::open_kvm().unwrap(), 2_000)
        .expect("exit round trip");
    let one = 1u64.to_le_bytes();
    let cases = [
        (
            "counter.increment (direct)",
            counter,
            "increment",
            one.to_vec(),
        ),
        (
            "proxy.forward -> counter.increment",
            proxy,
            "forward",
            forward(&counter, "increment", &one),
        ),
    ];
    println!(
        "contract-to-contract call, {CALLS} warm calls each, exit round trip {:.1} us",
        roundtrip as f64 / 1e3
    );
    println!("| call | median us | / exit round trip | VM exits | gas |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, to, method, input) in cases {
        let options = CallOptions::with_input(input);
        let mut times = Vec::with_capacity(CALLS);
        let mut last = None;
        for i in 0..CALLS + 100 {
            let started = Instant::now();
            let r = engine.call_account(&store, &to, method, &options).unwrap();
            assert!(r.is_ok(), "{name}: {r:?}");
            if i >= 100 {
                times.push(started.elapsed().as_nanos() as u64);
            }
            last = Some(r);
        }
        let r = last.unwrap();
        let m = median(times);
        println!(
            "| {name} | {:.1} | {:.2} | {} | {} |",
            m as f64 / 1e3,
            m as f64 / roundtrip as f64,
            r.diagnostics.vm_exits,
            r.outcome.gas_used
        );
    }
}

/// A xorshift sequence: the same block on every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn token_block(token: Address) -> Block {
    let account = |i: u64| {
        let mut a = [0u8; 32];
        a[..8].copy_from_slice(&i.to_le_bytes());
        a
    };
    let mut transactions = Vec::new();
    for i in 0..200 {
        let mut input = account(i).to_vec();
        input.extend(1_000u64.to_le_bytes());
        transactions.push(Transaction {
            to: token,
            method: "mint".into(),
            input,
            gas: 10_000_000,
            caller: [0; 32],
            access_list: Vec::new(),
        });
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2_000 {
        let from = next(&mut seed) % 200;
        let to = next(&mut seed) % 200;
        let mut input = account(to).to_vec();
        input.extend((1 + next(&mut seed) % 10).to_le_bytes());
        transactions.push(Transaction {
            to: token,
            method: "transfer".into(),
            input,
            gas: 10_000_000,
            caller: account(from),
            access_list: Vec::new(),
        });
    }
    Block { transactions }
}

fn counter_block(counter: Address) -> Block {
    let tx = Transaction {
        to: counter,
        method: "increment".into(),
        input: 1u64.to_le_bytes().to_vec(),
        gas: 1_000_000,
        caller: [0; 32],
        access_list: Vec::new(),
    };
    Block {
        transactions: vec![tx; 1_000],
    }
}

/// Tx/s of the median run, executions per transaction, and the state root.
fn run_block(workers: usize, name: &str, make: fn(Address) -> Block) -> (f64, f64, [u8; 32]) {
    let executor = Executor::new(EngineConfig::default(), workers).expect("/dev/kvm");
    let mut rates = Vec::new();
    let mut executions = 0;
    let mut root = None;
    for _ in 0..BLOCK_RUNS {
        let store = Arc::new(StateDb::in_memory());
        let deployed = executor
            .engine()
            .deploy(&store, &elf(name), &Deployment::default())
            .expect("deploy");
        let block = make(deployed.address);
        // Warm every worker's guest for the contract first.
        executor.prewarm(&deployed.module).unwrap();
        let outcome = executor.execute_block(&store, &block).unwrap();
        rates.push(outcome.elapsed_ns);
        executions = outcome.executions;
        assert!(
            root.is_none() || root == Some(outcome.state_root),
            "roots differ between runs"
        );
        root = Some(outcome.state_root);
    }
    let n = make([0; 32]).transactions.len() as f64;
    let seconds = median(rates) as f64 / 1e9;
    (n / seconds, executions as f64 / n, root.unwrap())
}

fn blocks() {
    println!();
    println!("blocks, median of {BLOCK_RUNS} runs each");
    println!("| block | workers | tx/s | executions per tx | speed-up | same root |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    for (label, name, make) in [
        (
            "200 mints + 2 000 transfers",
            "token",
            token_block as fn(Address) -> Block,
        ),
        ("1 000 increments, one counter", "counter", counter_block),
    ] {
        let (one, exec1, root1) = run_block(1, name, make);
        let (two, exec2, root2) = run_block(2, name, make);
        assert_eq!(
            root1, root2,
            "{label}: the state roots of 1 and 2 workers differ"
        );
        println!("| {label} | 1 | {one:.0} | {exec1:.2} | 1.00 | yes |");
        println!(
            "| {label} | 2 | {two:.0} | {exec2:.2} | {:.2} | yes |",
            two / one
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    nested_call_cost();
    access_lists();
    blocks();
}
