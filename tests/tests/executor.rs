//! The executor: calls submitted from many threads, served by a pool of
//! worker threads on warm guests, every receipt delivered once and right.

use std::sync::Arc;

use nativm::{CallOptions, EngineConfig, Executor, StateDb, Status};
use nativm_tests::{example_path, fib_reference};
use sha2::{Digest, Sha256};

fn module(executor: &Executor, name: &str) -> Arc<nativm::Module> {
    Arc::new(nativm::Module::from_file(executor.engine(), example_path(name)).unwrap())
}

#[test]
fn many_threads_submit_and_every_receipt_is_right() {
    let executor =
        Arc::new(Executor::new(EngineConfig::default(), 2).expect("/dev/kvm is required"));
    assert_eq!(executor.workers(), 2);
    let fib = module(&executor, "fib");
    let sha = module(&executor, "sha256");
    executor.prewarm(&fib).unwrap();
    executor.prewarm(&sha).unwrap();
    let store = Arc::new(StateDb::in_memory());
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let (executor, fib, sha, store) = (&executor, &fib, &sha, &store);
            scope.spawn(move || {
                let handles: Vec<_> = (0..50u64)
                    .map(|i| {
                        let n = (t * 50 + i) % 94;
                        let f = executor.submit(
                            fib,
                            store,
                            "fib",
                            CallOptions::with_input(n.to_le_bytes().to_vec()),
                        );
                        let data = format!("thread {t} call {i}").into_bytes();
                        let s = executor.submit(
                            sha,
                            store,
                            "digest",
                            CallOptions::with_input(data.clone()),
                        );
                        (n, f, data, s)
                    })
                    .collect();
                for (n, f, data, s) in handles {
                    let f = f.wait().unwrap();
                    assert_eq!(f.outcome.status, Status::Ok);
                    assert_eq!(
                        f.outcome.return_data,
                        fib_reference(n).to_le_bytes(),
                        "fib({n})"
                    );
                    assert!(
                        f.diagnostics.warm,
                        "prewarmed workers never create a VM on the call path"
                    );
                    let s = s.wait().unwrap();
                    assert_eq!(s.outcome.return_data, Sha256::digest(&data).to_vec());
                }
            });
        }
    });
}

#[test]
fn faults_on_workers_leave_the_pool_serving() {
    let executor = Executor::new(EngineConfig::default(), 2).expect("/dev/kvm is required");
    let faults = module(&executor, "faults");
    let fib = module(&executor, "fib");
    let store = Arc::new(StateDb::in_memory());
    let handles: Vec<_> = (0..40u64)
        .map(|i| {
            if i % 2 == 0 {
                executor.submit(&faults, &store, "divide_by_zero", CallOptions::default())
            } else {
                executor.submit(
                    &fib,
                    &store,
                    "fib",
                    CallOptions::with_input(i.to_le_bytes().to_vec()),
                )
            }
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.wait().unwrap();
        if i % 2 == 0 {
            assert_eq!(r.outcome.status, Status::Trap);
        } else {
            assert_eq!(r.outcome.return_data, fib_reference(i as u64).to_le_bytes());
        }
    }
}

#[test]
fn a_warm_call_needs_only_run_and_dirty_log_ioctls() {
    let executor = Executor::new(EngineConfig::default(), 1).expect("/dev/kvm is required");
    let fib = module(&executor, "fib");
    let store = Arc::new(StateDb::in_memory());
    executor
        .call(
            &fib,
            &store,
            "fib",
            CallOptions::with_input(5u64.to_le_bytes().to_vec()),
        )
        .unwrap();
    let r = executor
        .call(
            &fib,
            &store,
            "fib",
            CallOptions::with_input(6u64.to_le_bytes().to_vec()),
        )
        .unwrap();
    assert!(r.diagnostics.warm);
    assert_eq!(
        r.diagnostics.ioctls,
        r.diagnostics.vm_exits + 1,
        "KVM_RUN per exit plus one KVM_GET_DIRTY_LOG, nothing else"
    );
}

/// Concurrent calls on shared state never lose an update: 2 000 counter
/// increments submitted from two client threads to a 2-worker executor
/// (each call reads the count and writes it back) end at exactly 2 000 on
/// both backends, and every receipt returns a distinct count (the calls ran
/// in some serial order).
#[test]
fn concurrent_increments_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    for store in [
        StateDb::in_memory(),
        StateDb::open(dir.path().join("state.redb")).unwrap(),
    ] {
        let executor =
            Arc::new(Executor::new(EngineConfig::default(), 2).expect("/dev/kvm is required"));
        let counter = module(&executor, "counter");
        executor.prewarm(&counter).unwrap();
        let store = Arc::new(store);
        let mut seen: Vec<u64> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (executor, counter, store) = (&executor, &counter, &store);
                    scope.spawn(move || {
                        let handles: Vec<_> = (0..1_000)
                            .map(|_| {
                                let options = CallOptions::with_input(1u64.to_le_bytes().to_vec());
                                executor.submit(counter, store, "increment", options)
                            })
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| {
                                let r = h.wait().unwrap();
                                assert_eq!(r.status(), Status::Ok);
                                u64::from_le_bytes(r.outcome.return_data.try_into().unwrap())
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        let count = store.get(&counter.code_hash(), b"count").unwrap().unwrap();
        assert_eq!(u64::from_le_bytes(count.try_into().unwrap()), 2_000);
        seen.sort_unstable();
        assert_eq!(
            seen,
            (1..=2_000).collect::<Vec<u64>>(),
            "each call saw its own predecessor"
        );
    }
}
