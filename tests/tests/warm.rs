//! Warm guests at the engine level: a thread's second call of a contract
//! reuses the guest of its first (reset in between), results stay correct,
//! and a guest whose call failed is never reused.

use nativm::{StateDb, Status};
use nativm_tests::{call, example, fib_reference};

#[test]
fn repeated_calls_reuse_a_warm_guest() {
    let fib = example("fib");
    let store = StateDb::in_memory();
    let first = call(&fib, &store, "fib", &30u64.to_le_bytes());
    for n in [0u64, 1, 30, 90, 7] {
        let r = call(&fib, &store, "fib", &n.to_le_bytes());
        assert_eq!(r.outcome.status, Status::Ok);
        assert!(r.diagnostics.warm, "calls after the first one run warm");
        assert!(
            r.diagnostics.pages_reset > 0,
            "the reset restored the pages the call wrote"
        );
        assert_eq!(
            r.outcome.return_data,
            fib_reference(n).to_le_bytes(),
            "fib({n}) on a warm guest"
        );
    }
    // The first call may or may not have been warm (other tests on this
    // thread), but it computed the same.
    assert_eq!(first.outcome.return_data, fib_reference(30).to_le_bytes());
}

#[test]
fn a_failed_call_discards_its_guest() {
    let faults = example("faults");
    let store = StateDb::in_memory();
    assert_eq!(
        call(&faults, &store, "write_ok", b"x").outcome.status,
        Status::Ok
    );
    assert!(call(&faults, &store, "write_ok", b"y").diagnostics.warm);
    assert_eq!(
        call(&faults, &store, "null_deref", b"").outcome.status,
        Status::Trap
    );
    let after_trap = call(&faults, &store, "write_ok", b"z");
    assert!(
        !after_trap.diagnostics.warm,
        "the trapped guest was discarded, a new one ran"
    );
    assert_eq!(
        call(&faults, &store, "write_then_abort", b"w")
            .outcome
            .status,
        Status::Reverted
    );
    assert!(
        !call(&faults, &store, "write_ok", b"v").diagnostics.warm,
        "a reverted call's guest is discarded too"
    );
    assert_eq!(
        store.get(&faults.code_hash(), b"k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

#[test]
fn warm_calls_see_only_committed_state() {
    // The counter keeps its count in storage, never in guest memory: a
    // warm guest must not remember anything of an earlier call.
    let counter = example("counter");
    let store = StateDb::in_memory();
    for expected in 1..=20u64 {
        let r = call(&counter, &store, "increment", &1u64.to_le_bytes());
        assert_eq!(r.outcome.return_data, expected.to_le_bytes());
    }
    let other_store = StateDb::in_memory();
    let r = call(&counter, &other_store, "get", b"");
    assert!(r.diagnostics.warm, "same thread, same contract: warm");
    assert_eq!(
        r.outcome.return_data,
        0u64.to_le_bytes(),
        "a warm guest shows nothing of another store's calls"
    );
}
