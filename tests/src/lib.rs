//! Shared helpers of nativm's end-to-end tests (`tests/tests/*.rs`).
//!
//! Every test runs real KVM guests: without a usable `/dev/kvm` the tests
//! fail with a message that says so, never silently pass.

use std::path::PathBuf;
use std::sync::OnceLock;

use nativm::{CallOptions, Engine, EngineConfig, Module, Receipt, StateDb};

/// The process-wide engine. Panics with a clear message if `/dev/kvm` is
/// unusable.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig::default()).unwrap_or_else(|e| {
            panic!("these tests run contracts in real KVM guests and need /dev/kvm: {e}")
        })
    })
}

/// Path of an example contract built by `images/build.rs` (e.g. "fib").
pub fn example_path(name: &str) -> PathBuf {
    let path = nativm_images::contract_path(name);
    assert!(
        path.exists(),
        "example contract {} is missing: run `cargo build` first",
        path.display()
    );
    path
}

/// Loads an example contract.
pub fn example(name: &str) -> Module {
    Module::from_file(engine(), example_path(name))
        .unwrap_or_else(|e| panic!("loading example {name}: {e}"))
}

/// Calls `method` with `input` and the zero caller.
pub fn call(module: &Module, store: &StateDb, method: &str, input: &[u8]) -> Receipt {
    call_as(module, store, method, input, [0; 32])
}

/// Calls `method` with `input` as `caller`.
pub fn call_as(
    module: &Module,
    store: &StateDb,
    method: &str,
    input: &[u8],
    caller: [u8; 32],
) -> Receipt {
    let options = CallOptions {
        input: input.to_vec(),
        caller,
        ..Default::default()
    };
    engine()
        .call(module, store, method, &options)
        .unwrap_or_else(|e| panic!("calling {method}: {e}"))
}

/// The `n`th Fibonacci number (fib(0) = 0, fib(1) = 1), wrapping on overflow,
/// computed on the host as the reference for the `fib` contract.
pub fn fib_reference(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a.wrapping_add(b);
        a = b;
        b = next;
    }
    a
}
