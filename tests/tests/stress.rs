//! Stress: 100 000 calls mixing good, trapping, timing-out and
//! host-call-heavy contracts across every worker of an executor. Every call
//! gets exactly one receipt (a timed-out one: one `Error::Timeout`), every
//! result is checked against an independent computation, and resident
//! memory stays flat (RSS printed at start and end; bounded growth
//! asserted). Out-of-gas calls are in the mix three
//! ways: noticed at the return, by the backstop in an endless loop, and at a
//! host call that cannot be paid (whose write must not land).

use std::sync::Arc;
use std::time::Duration;

use nativm::{CallOptions, EngineConfig, Error, Executor, StateDb, Status};
use nativm_tests::{example_path, fib_reference};
use sha2::{Digest, Sha256};

const CALLS: usize = 100_000;

/// Resident set size of this process, in bytes (from /proc/self/statm).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("statm resident field");
    pages * 4096
}

/// What one call was, to check its receipt.
enum Expect {
    Fib(u64),
    Sha(Vec<u8>),
    Trap,
    Timeout,
    OutOfGas {
        limit: u64,
    },
    MintOutOfGas {
        store: Arc<StateDb>,
        to: [u8; 32],
    },
    Mint {
        store: Arc<StateDb>,
        to: [u8; 32],
        amount: u64,
    },
}

#[test]
fn a_hundred_thousand_mixed_calls_on_every_worker() {
    let executor = Executor::new(EngineConfig::default(), 0).expect("/dev/kvm is required");
    let load = |name: &str| {
        Arc::new(nativm::Module::from_file(executor.engine(), example_path(name)).unwrap())
    };
    let (fib, sha, faults, token) = (load("fib"), load("sha256"), load("faults"), load("token"));
    for m in [&fib, &sha, &faults, &token] {
        executor.prewarm(m).unwrap();
    }
    let shared = Arc::new(StateDb::in_memory());
    // Warm every worker up before taking the starting RSS.
    for i in 0..1000u64 {
        executor
            .call(
                &fib,
                &shared,
                "fib",
                CallOptions::with_input(i.to_le_bytes().to_vec()),
            )
            .unwrap();
    }
    let rss_start = rss_bytes();

    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Submitted in batches of BATCH, so that what the test itself keeps
    // (inputs, per-call stores, handles) stays bounded and the RSS reflects
    // the executor, not the test.
    const BATCH: usize = 1000;
    let (mut ok, mut traps, mut timeouts, mut out_of_gas) = (0, 0, 0, 0);
    let token_id = token.code_hash();
    let mut pending = Vec::with_capacity(BATCH);
    for i in 0..CALLS {
        let r = next();
        let (expect, handle) = match (i % 1000, r % 10) {
            // 1 in 1000: an endless loop stopped by a short wall-clock limit.
            (0, _) => {
                let options = CallOptions {
                    timeout: Some(Duration::from_millis(20)),
                    ..Default::default()
                };
                (
                    Expect::Timeout,
                    executor.submit(&faults, &shared, "spin", options),
                )
            }
            // 1 in 1000: an endless loop stopped by the gas backstop.
            (3, _) => {
                let options = CallOptions {
                    input: u64::MAX.to_le_bytes().to_vec(),
                    gas_limit: Some(1_000_000),
                    ..Default::default()
                };
                (
                    Expect::OutOfGas { limit: 1_000_000 },
                    executor.submit(&fib, &shared, "fib", options),
                )
            }
            // 1 in 100: runs out of gas and returns (noticed at the return).
            (k, _) if k % 100 == 2 => {
                let options = CallOptions {
                    input: 1_000_000u64.to_le_bytes().to_vec(),
                    gas_limit: Some(100_000),
                    ..Default::default()
                };
                (
                    Expect::OutOfGas { limit: 100_000 },
                    executor.submit(&fib, &shared, "fib", options),
                )
            }
            // 1 in 100: a mint whose storage write the gas left cannot pay.
            (k, _) if k % 100 == 4 => {
                let store = Arc::new(StateDb::in_memory());
                let mut to = [0u8; 32];
                to[..8].copy_from_slice(&r.to_le_bytes());
                let mut input = to.to_vec();
                input.extend_from_slice(&7u64.to_le_bytes());
                let options = CallOptions {
                    input,
                    gas_limit: Some(6_000),
                    ..Default::default()
                };
                let handle = executor.submit(&token, &store, "mint", options);
                (Expect::MintOutOfGas { store, to }, handle)
            }
            // 1 in 100: a trap (its guest is discarded and replaced).
            (k, _) if k % 100 == 1 => (
                Expect::Trap,
                executor.submit(&faults, &shared, "divide_by_zero", CallOptions::default()),
            ),
            (_, 0..=4) => {
                let n = r % 200;
                (
                    Expect::Fib(n),
                    executor.submit(
                        &fib,
                        &shared,
                        "fib",
                        CallOptions::with_input(n.to_le_bytes().to_vec()),
                    ),
                )
            }
            (_, 5..=7) => {
                let data: Vec<u8> = (0..(r % 3000) as usize)
                    .map(|j| (j as u64 ^ r) as u8)
                    .collect();
                let handle = executor.submit(
                    &sha,
                    &shared,
                    "digest",
                    CallOptions::with_input(data.clone()),
                );
                (Expect::Sha(data), handle)
            }
            // Host-call heavy: mint reads and writes storage and logs, on a
            // store of its own so concurrent calls do not race.
            _ => {
                let store = Arc::new(StateDb::in_memory());
                let mut to = [0u8; 32];
                to[..8].copy_from_slice(&r.to_le_bytes());
                let amount = r >> 16;
                let mut input = to.to_vec();
                input.extend_from_slice(&amount.to_le_bytes());
                let handle =
                    executor.submit(&token, &store, "mint", CallOptions::with_input(input));
                (Expect::Mint { store, to, amount }, handle)
            }
        };
        pending.push((i, expect, handle));
        if pending.len() < BATCH && i + 1 < CALLS {
            continue;
        }
        for (i, expect, handle) in pending.drain(..) {
            let result = handle.wait();
            if let Expect::Timeout = expect {
                // Not a receipt: a host-side error the executor passes on.
                assert!(
                    matches!(result, Err(Error::Timeout { limit_ms: 20, .. })),
                    "call {i}: {result:?}"
                );
                timeouts += 1;
                continue;
            }
            let r = result.unwrap_or_else(|e| panic!("call {i}: {e}"));
            match expect {
                Expect::Fib(n) => assert_eq!(
                    r.outcome.return_data,
                    fib_reference(n).to_le_bytes(),
                    "call {i}: fib({n}): {:?}",
                    r.outcome
                ),
                Expect::Sha(data) => assert_eq!(
                    r.outcome.return_data,
                    Sha256::digest(&data).to_vec(),
                    "call {i}: digest"
                ),
                Expect::Trap => {
                    assert_eq!(r.outcome.status, Status::Trap, "call {i}");
                    traps += 1;
                    continue;
                }
                Expect::Timeout => unreachable!("handled above"),
                Expect::OutOfGas { limit } => {
                    assert_eq!(r.outcome.status, Status::OutOfGas, "call {i}: {r:?}");
                    assert_eq!(r.outcome.gas_used, limit, "call {i}");
                    out_of_gas += 1;
                    continue;
                }
                Expect::MintOutOfGas { store, to } => {
                    assert_eq!(r.outcome.status, Status::OutOfGas, "call {i}: {r:?}");
                    assert!(
                        r.outcome.logs.is_empty() && r.outcome.state_changes() == 0,
                        "call {i}"
                    );
                    let mut key = b"bal:".to_vec();
                    key.extend_from_slice(&to);
                    assert_eq!(store.get(&token_id, &key).unwrap(), None, "call {i}");
                    out_of_gas += 1;
                    continue;
                }
                Expect::Mint { store, to, amount } => {
                    assert_eq!(r.outcome.status, Status::Ok, "call {i}: {r:?}");
                    assert_eq!(r.outcome.logs.len(), 1, "call {i}: one mint event");
                    let mut key = b"bal:".to_vec();
                    key.extend_from_slice(&to);
                    assert_eq!(
                        store.get(&token_id, &key).unwrap(),
                        Some(amount.to_le_bytes().to_vec()),
                        "call {i}"
                    );
                }
            }
            assert_eq!(r.outcome.status, Status::Ok, "call {i}");
            ok += 1;
        }
    }
    assert_eq!(
        ok + traps + timeouts + out_of_gas,
        CALLS,
        "one receipt (or, for a timeout, one error) per call"
    );
    assert_eq!(timeouts, CALLS / 1000);
    assert_eq!(out_of_gas, CALLS / 1000 + 2 * CALLS / 100);
    let rss_end = rss_bytes();
    eprintln!(
        "stress: {CALLS} calls on {} workers: {ok} ok, {traps} traps, {timeouts} timeouts, {out_of_gas} out of gas; RSS {:.1} MiB at start, {:.1} MiB at end",
        executor.workers(),
        rss_start as f64 / 1048576.0,
        rss_end as f64 / 1048576.0
    );
    assert!(
        rss_end < rss_start + (64 << 20),
        "resident memory grew from {rss_start} to {rss_end} bytes over {CALLS} calls"
    );
}
