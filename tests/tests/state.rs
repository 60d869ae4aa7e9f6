//! A call's storage writes are committed atomically only when it succeeds;
//! a trap, abort or timeout (a host-side error) discards them. Checked on both backends.

use std::time::Duration;

use nativm::{CallOptions, StateDb, Status};
use nativm_tests::{call, engine, example};

fn commit_and_discard(store: &StateDb) {
    let faults = example("faults");
    let id = faults.code_hash();
    let committed = call(&faults, store, "write_ok", b"first");
    assert_eq!(committed.outcome.status, Status::Ok);
    assert_eq!(committed.outcome.state_changes(), 1);
    assert_eq!(
        store.get(&id, b"k").unwrap().as_deref(),
        Some(&b"first"[..])
    );

    for (method, status) in [
        ("write_then_trap", Status::Trap),
        ("write_then_abort", Status::Reverted),
    ] {
        let r = call(&faults, store, method, b"lost");
        assert_eq!(r.outcome.status, status, "{method}: {r:?}");
        assert_eq!(r.outcome.state_changes(), 0);
        assert_eq!(
            store.get(&id, b"k").unwrap().as_deref(),
            Some(&b"first"[..]),
            "{method} must not commit"
        );
    }
    let options = CallOptions {
        input: b"lost".to_vec(),
        timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let result = engine().call(&faults, store, "write_then_spin", &options);
    assert!(
        matches!(result, Err(nativm::Error::Timeout { limit_ms: 100, .. })),
        "a timeout is a host-side error, not a receipt: {result:?}"
    );
    assert_eq!(
        store.get(&id, b"k").unwrap().as_deref(),
        Some(&b"first"[..]),
        "a timeout must not commit"
    );
    assert_eq!(store.entries(&id).unwrap().len(), 1);
}

#[test]
fn memory_backend_commits_only_successful_calls() {
    commit_and_discard(&StateDb::in_memory());
}

#[test]
fn redb_backend_commits_only_successful_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    commit_and_discard(&StateDb::open(&path).unwrap());
    let reopened = StateDb::open(&path).unwrap();
    let id = example("faults").code_hash();
    assert_eq!(
        reopened.get(&id, b"k").unwrap().as_deref(),
        Some(&b"first"[..]),
        "what was committed is durable"
    );
}

#[test]
fn a_corrupt_state_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-redb");
    std::fs::write(&path, b"this is not a redb database file, just some bytes").unwrap();
    let err = StateDb::open(&path).err().expect("must be refused");
    assert!(
        err.to_string().contains("not-redb"),
        "the error names the file: {err}"
    );
}
