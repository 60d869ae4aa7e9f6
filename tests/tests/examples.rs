//! Every example contract, run in a real KVM guest, checked against an
//! independent computation on the host.

use nativm::{StateDb, Status};
use nativm_tests::{call, call_as, example, fib_reference};
use sha2::{Digest, Sha256};

#[test]
fn fib_matches_the_host_for_many_n() {
    let fib = example("fib");
    let store = StateDb::in_memory();
    for n in [0u64, 1, 2, 3, 10, 25, 50, 93, 94, 1000, 100_000] {
        let receipt = call(&fib, &store, "fib", &n.to_le_bytes());
        assert_eq!(receipt.outcome.status, Status::Ok, "fib({n}): {receipt:?}");
        assert_eq!(
            receipt.outcome.return_data,
            fib_reference(n).to_le_bytes(),
            "fib({n})"
        );
    }
}

#[test]
fn fib_25_is_75025() {
    let receipt = call(
        &example("fib"),
        &StateDb::in_memory(),
        "fib",
        &hex::decode("1900000000000000").unwrap(),
    );
    assert_eq!(
        hex::encode(&receipt.outcome.return_data),
        "1125010000000000"
    );
}

#[test]
fn fib_rejects_a_malformed_input_by_reverting() {
    let receipt = call(&example("fib"), &StateDb::in_memory(), "fib", b"short");
    assert_eq!(receipt.outcome.status, Status::Reverted);
    assert!(
        receipt
            .outcome
            .message
            .as_deref()
            .unwrap_or("")
            .contains("8 bytes"),
        "{receipt:?}"
    );
}

#[test]
fn sha256_matches_the_sha2_crate() {
    let sha = example("sha256");
    let store = StateDb::in_memory();
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"abc".to_vec(),
        vec![0x61; 55],
        vec![0x62; 56],
        vec![0x63; 64],
    ];
    // A pseudo-random megabyte (xorshift), to cross many blocks and pages.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    inputs.push(
        (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect(),
    );
    for input in &inputs {
        let receipt = call(&sha, &store, "digest", input);
        assert_eq!(
            receipt.outcome.status,
            Status::Ok,
            "{} bytes: {receipt:?}",
            input.len()
        );
        assert_eq!(
            receipt.outcome.return_data,
            Sha256::digest(input).to_vec(),
            "digest of {} bytes",
            input.len()
        );
    }
    let abc = call(&sha, &store, "digest", b"abc");
    assert_eq!(
        hex::encode(abc.outcome.return_data),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

fn token_input(account: [u8; 32], amount: u64) -> Vec<u8> {
    let mut v = account.to_vec();
    v.extend_from_slice(&amount.to_le_bytes());
    v
}

fn balance(store: &StateDb, token: &nativm::Module, who: [u8; 32]) -> u64 {
    let receipt = call(token, store, "balance_of", &who);
    assert_eq!(receipt.outcome.status, Status::Ok, "{receipt:?}");
    u64::from_le_bytes(
        receipt
            .outcome
            .return_data
            .try_into()
            .expect("8-byte balance"),
    )
}

/// The ledger's rules, checked on any store.
fn token_ledger_rules(store: &StateDb) {
    let token = example("token");
    let (alice, bob) = ([0xaa; 32], [0xbb; 32]);
    assert_eq!(balance(store, &token, alice), 0, "absent account");
    let minted = call(&token, store, "mint", &token_input(alice, 1000));
    assert_eq!(minted.outcome.status, Status::Ok, "{minted:?}");
    assert_eq!(minted.outcome.logs.len(), 1, "mint logs an event");
    assert_eq!(balance(store, &token, alice), 1000);

    let moved = call_as(&token, store, "transfer", &token_input(bob, 300), alice);
    assert_eq!(moved.outcome.status, Status::Ok, "{moved:?}");
    assert_eq!(
        (balance(store, &token, alice), balance(store, &token, bob)),
        (700, 300)
    );

    let refused = call_as(&token, store, "transfer", &token_input(bob, 701), alice);
    assert_eq!(refused.outcome.status, Status::Reverted);
    assert_eq!(
        refused.outcome.message.as_deref(),
        Some("insufficient balance")
    );
    assert!(refused.outcome.logs.is_empty() && refused.outcome.state_changes() == 0);
    assert_eq!(
        (balance(store, &token, alice), balance(store, &token, bob)),
        (700, 300),
        "a failed transfer changes nothing"
    );

    let all = call_as(&token, store, "transfer", &token_input(bob, 700), alice);
    assert_eq!(all.outcome.status, Status::Ok);
    assert_eq!(
        (balance(store, &token, alice), balance(store, &token, bob)),
        (0, 1000)
    );

    let overflow = call(&token, store, "mint", &token_input(bob, u64::MAX));
    assert_eq!(
        overflow.outcome.status,
        Status::Reverted,
        "minting past u64::MAX must abort"
    );
    assert_eq!(balance(store, &token, bob), 1000);
}

#[test]
fn token_ledger_in_memory() {
    token_ledger_rules(&StateDb::in_memory());
}

#[test]
fn token_ledger_on_redb_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    token_ledger_rules(&StateDb::open(&path).unwrap());
    let reopened = StateDb::open(&path).unwrap();
    let token = example("token");
    assert_eq!(balance(&reopened, &token, [0xbb; 32]), 1000);
}

#[test]
fn c_counter_contract_keeps_its_count() {
    let counter = example("counter");
    let store = StateDb::in_memory();
    let mut expected = 0u64;
    for delta in [5u64, 7, 1 << 40] {
        expected += delta;
        let receipt = call(&counter, &store, "increment", &delta.to_le_bytes());
        assert_eq!(receipt.outcome.status, Status::Ok, "{receipt:?}");
        assert_eq!(receipt.outcome.return_data, expected.to_le_bytes());
    }
    assert_eq!(
        call(&counter, &store, "get", b"").outcome.return_data,
        expected.to_le_bytes()
    );
}

#[test]
fn c_echo_contract_returns_its_input() {
    let echo = example("echo");
    let input: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    let receipt = call(&echo, &StateDb::in_memory(), "echo", &input);
    assert_eq!(receipt.outcome.status, Status::Ok, "{receipt:?}");
    assert_eq!(receipt.outcome.return_data, input);
    let caller = [0x5a; 32];
    let whoami = call_as(&echo, &StateDb::in_memory(), "whoami", b"", caller);
    assert_eq!(
        whoami.outcome.return_data, caller,
        "the caller host call returns the caller"
    );
}

#[test]
fn storage_is_per_contract() {
    // The counter and faults contracts both use their own key space: a
    // write by one is invisible to the other.
    let store = StateDb::in_memory();
    let faults = example("faults");
    let counter = example("counter");
    assert_eq!(
        call(&faults, &store, "write_ok", &9u64.to_le_bytes())
            .outcome
            .status,
        Status::Ok
    );
    assert_eq!(
        call(&counter, &store, "get", b"").outcome.return_data,
        0u64.to_le_bytes()
    );
    assert_eq!(
        store.get(&faults.code_hash(), b"k").unwrap(),
        Some(9u64.to_le_bytes().to_vec())
    );
    assert_eq!(store.get(&counter.code_hash(), b"k").unwrap(), None);
}

#[test]
fn every_example_exports_its_methods() {
    for (name, methods) in [
        ("fib", &["fib"][..]),
        ("sha256", &["digest"]),
        ("token", &["mint", "transfer", "balance_of"]),
        ("counter", &["increment", "get"]),
        ("ed25519", &["verify"]),
        ("secp256k1", &["verify", "recover"]),
        (
            "hashes",
            &["sha256", "keccak256", "blake3", "merkle_verify"],
        ),
        ("txdecode", &["decode"]),
        (
            "erc20",
            &[
                "init",
                "total_supply",
                "balance_of",
                "allowance",
                "transfer",
                "approve",
                "transfer_from",
            ],
        ),
        (
            "erc20_c",
            &[
                "init",
                "total_supply",
                "balance_of",
                "allowance",
                "transfer",
                "approve",
                "transfer_from",
            ],
        ),
        (
            "amm",
            &[
                "add_liquidity",
                "swap",
                "remove_liquidity",
                "reserves",
                "shares_of",
            ],
        ),
        (
            "amm_c",
            &[
                "add_liquidity",
                "swap",
                "remove_liquidity",
                "reserves",
                "shares_of",
            ],
        ),
    ] {
        let module = example(name);
        for method in methods {
            assert!(
                module.methods().any(|(m, _)| m == *method),
                "{name} lacks {method}"
            );
        }
    }
}

/// What one step of a real-contract scenario did, as far as it must be
/// the same for the Rust and the C build of a contract: status, return
/// data, logs, message, and the storage writes (key, value).
type StepResult = (
    Status,
    Vec<u8>,
    Vec<Vec<u8>>,
    Option<String>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
);

/// Runs `scenario`'s steps on `name` against a fresh store through `run`
/// and checks each against its expectation; returns each step's result,
/// gas used and outcome hash.
fn run_scenario(
    name: &str,
    scenario: &nativm_images::real::Scenario,
    mut run: impl FnMut(&str, &[u8], [u8; 32]) -> nativm::Receipt,
) -> Vec<(StepResult, u64, [u8; 32])> {
    use nativm_images::real::{hex, Expect};
    let mut results = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let input = step.input.bytes();
        let r = run(step.method, &input, step.caller());
        let o = &r.outcome;
        let what = format!("{name} step {i} ({}): {r:?}", step.method);
        match step.expect {
            Expect::Ok { ret, logs } => {
                assert_eq!(o.status, Status::Ok, "{what}");
                assert_eq!(o.return_data, hex(ret), "{what}: return data");
                let logs: Vec<Vec<u8>> = logs.iter().map(|l| hex(l)).collect();
                assert_eq!(o.logs, logs, "{what}: logs");
            }
            Expect::Revert(prefix) => {
                assert_eq!(o.status, Status::Reverted, "{what}");
                let msg = o.message.as_deref().unwrap_or("");
                assert!(msg.starts_with(prefix), "{what}: message {msg:?}");
                assert!(o.state_changes() == 0 && o.logs.is_empty(), "{what}");
            }
        }
        let changes = o
            .changes
            .iter()
            .map(|(_, k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
            .collect();
        let result = (
            o.status,
            o.return_data.clone(),
            o.logs.clone(),
            o.message.clone(),
            changes,
        );
        results.push((result, o.gas_used, r.outcome.hash()));
    }
    results
}

/// Every real contract (issue 13: ed25519-dalek, k256, sha2/sha3/blake3
/// with a Merkle proof, borsh, ERC-20 and AMM in Rust and C) verifies, and
/// in a KVM guest returns the bytes and logs the native run
/// (`images/tests/native_run.rs`) checks against the same vectors; its
/// reverts carry the expected messages and change nothing; a second run
/// on a fresh store (warm guests) gives the same outcome hashes, so the
/// same `gas_used`; and the Rust and C builds of one specification agree
/// on everything but gas.
#[test]
fn real_contracts_match_their_vectors_with_stable_gas() {
    for scenario in nativm_images::real::SCENARIOS {
        let mut per_contract = Vec::new();
        for &name in scenario.contracts {
            let module = example(name);
            let runs: Vec<_> = (0..2)
                .map(|_| {
                    let store = StateDb::in_memory();
                    run_scenario(name, scenario, |m, input, who| {
                        call_as(&module, &store, m, input, who)
                    })
                })
                .collect();
            assert_eq!(runs[0], runs[1], "{name}: a second run differs");
            assert!(
                runs[0].iter().all(|(_, gas, _)| *gas > 0),
                "{name}: every call uses gas"
            );
            per_contract.push((name, runs.into_iter().next().unwrap()));
        }
        let (first, reference) = &per_contract[0];
        for (name, results) in &per_contract[1..] {
            let a: Vec<_> = reference.iter().map(|r| &r.0).collect();
            let b: Vec<_> = results.iter().map(|r| &r.0).collect();
            assert_eq!(a, b, "{first} and {name} disagree on {}", scenario.what);
        }
    }
}

/// The same real-contract calls through a pool of two workers (each call
/// on whichever worker takes it) give the same outcome hashes, hence the
/// same gas, as on the test thread's engine.
#[test]
fn real_contracts_give_the_same_outcomes_on_every_worker() {
    use std::sync::Arc;
    let executor =
        nativm::Executor::new(nativm::EngineConfig::default(), 2).expect("/dev/kvm is required");
    for scenario in nativm_images::real::SCENARIOS {
        for &name in scenario.contracts {
            let local = example(name);
            let store = StateDb::in_memory();
            let expected = run_scenario(name, scenario, |m, input, who| {
                call_as(&local, &store, m, input, who)
            });
            let module = Arc::new(
                nativm::Module::from_file(executor.engine(), nativm_tests::example_path(name))
                    .unwrap(),
            );
            executor.prewarm(&module).unwrap();
            let pooled_store = Arc::new(StateDb::in_memory());
            let pooled = run_scenario(name, scenario, |m, input, who| {
                let options = nativm::CallOptions {
                    input: input.to_vec(),
                    caller: who,
                    ..Default::default()
                };
                executor
                    .call(&module, &pooled_store, m, options)
                    .unwrap_or_else(|e| panic!("{name}.{m} on the pool: {e}"))
            });
            assert_eq!(expected, pooled, "{name}: the pool differs");
        }
    }
}
