//! Every example contract, run in a real KVM guest, checked against an
//! independent computation on the host.

use nativm::{Status, Store};
use nativm_tests::{call, call_as, example, fib_reference};
use sha2::{Digest, Sha256};

#[test]
fn fib_matches_the_host_for_many_n() {
    let fib = example("fib");
    let store = Store::in_memory();
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
        &Store::in_memory(),
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
    let receipt = call(&example("fib"), &Store::in_memory(), "fib", b"short");
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
    let store = Store::in_memory();
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

fn balance(store: &Store, token: &nativm::Module, who: [u8; 32]) -> u64 {
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
fn token_ledger_rules(store: &Store) {
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
    token_ledger_rules(&Store::in_memory());
}

#[test]
fn token_ledger_on_redb_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    token_ledger_rules(&Store::open(&path).unwrap());
    let reopened = Store::open(&path).unwrap();
    let token = example("token");
    assert_eq!(balance(&reopened, &token, [0xbb; 32]), 1000);
}

#[test]
fn c_counter_contract_keeps_its_count() {
    let counter = example("counter");
    let store = Store::in_memory();
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
    let receipt = call(&echo, &Store::in_memory(), "echo", &input);
    assert_eq!(receipt.outcome.status, Status::Ok, "{receipt:?}");
    assert_eq!(receipt.outcome.return_data, input);
    let caller = [0x5a; 32];
    let whoami = call_as(&echo, &Store::in_memory(), "whoami", b"", caller);
    assert_eq!(
        whoami.outcome.return_data, caller,
        "the caller host call returns the caller"
    );
}

#[test]
fn storage_is_per_contract() {
    // The counter and faults contracts both use their own key space: a
    // write by one is invisible to the other.
    let store = Store::in_memory();
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
