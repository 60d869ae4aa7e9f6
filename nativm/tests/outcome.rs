//! The outcome of a call is its deterministic part: two executions that
//! differ only in timing and warmth have equal outcomes and outcome hashes,
//! and any change of what the call produced changes the hash.

use nativm::{CallOptions, Engine, EngineConfig, Module, Receipt, StateDb, Status};

fn mint(engine: &Engine, token: &Module, store: &StateDb) -> Receipt {
    let mut input = vec![0xaa; 32];
    input.extend_from_slice(&1000u64.to_le_bytes());
    engine
        .call(token, store, "mint", &CallOptions::with_input(input))
        .unwrap()
}

#[test]
fn a_cold_and_a_warm_call_have_the_same_outcome_and_hash() {
    // A fresh engine: its first call on this thread boots a new guest.
    let engine = Engine::new(EngineConfig::default()).expect("this test needs /dev/kvm");
    let token = Module::from_file(&engine, nativm_images::contract_path("token")).unwrap();
    let (first_store, second_store) = (StateDb::in_memory(), StateDb::in_memory());
    let cold = mint(&engine, &token, &first_store);
    let warm = mint(&engine, &token, &second_store);
    assert_eq!(cold.status(), Status::Ok, "{cold:?}");
    assert!(!cold.diagnostics.warm && warm.diagnostics.warm);
    assert_ne!(cold.diagnostics, warm.diagnostics);
    assert_eq!(cold.outcome, warm.outcome);
    assert_eq!(cold.outcome_hash(), warm.outcome_hash());
    assert_eq!(cold.outcome.hash(), warm.outcome.hash());

    // The outcome holds the committed change itself.
    let changes: Vec<_> = cold.outcome.changes.iter().collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let (contract, key, value) = changes[0];
    assert_eq!(*contract, token.code_hash());
    assert_eq!(
        first_store.get(contract, key).unwrap().as_deref(),
        value,
        "the outcome's change is what was committed"
    );
    assert_eq!(cold.outcome.state_changes(), 1);

    // Changing the return data changes the hash; the diagnostics never do.
    let mut other = cold.outcome.clone();
    other.return_data.push(0);
    assert_ne!(other.hash(), cold.outcome.hash());
    let mut slower = cold.clone();
    slower.diagnostics.wall_time_ns += 1_000_000;
    slower.diagnostics.vm_exits += 1;
    assert_eq!(slower.outcome_hash(), cold.outcome_hash());
}

#[test]
fn different_results_hash_differently() {
    let engine = Engine::new(EngineConfig::default()).expect("this test needs /dev/kvm");
    let fib = Module::from_file(&engine, nativm_images::contract_path("fib")).unwrap();
    let store = StateDb::in_memory();
    let call = |n: u64| {
        engine
            .call(
                &fib,
                &store,
                "fib",
                &CallOptions::with_input(n.to_le_bytes().to_vec()),
            )
            .unwrap()
    };
    let (a, b, again) = (call(25), call(24), call(25));
    assert_ne!(a.outcome.return_data, b.outcome.return_data);
    assert_ne!(a.outcome_hash(), b.outcome_hash());
    assert_eq!(a.outcome_hash(), again.outcome_hash());
}
