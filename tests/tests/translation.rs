//! Translation does not change what a contract computes: each example method
//! runs twice, once on the ELF's own code (untranslated, unmetered: only the
//! VMM's tests can run that) and once on its prepared code (translated,
//! metered), and the outcome, return data, logs and storage changes agree.
//! A property test does the same over random inputs.

use std::cell::RefCell;
use std::sync::Arc;

use nativm_host_calls::state::{MemoryStore, StateStore};
use nativm_host_calls::CallContext;
use nativm_vmm::{shim, CallExit, CallRequest, ContractImage, Guest, GuestConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// One side: a guest (reused warm while calls end cleanly) and its store.
struct Side {
    image: ContractImage,
    guest: Option<Guest>,
    store: MemoryStore,
}

/// What a call did, comparable across the two sides.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// "ok", "reverted: <msg>", "trap", "host_call_fault: <msg>"...
    ending: String,
    return_data: Vec<u8>,
    logs: Vec<Vec<u8>>,
}

impl Side {
    fn new(image: ContractImage) -> Side {
        Side {
            image,
            guest: None,
            store: MemoryStore::new(),
        }
    }

    fn call(&mut self, method: &str, input: &[u8], caller: [u8; 32]) -> Outcome {
        let kvm = nativm_vmm::open_kvm().expect("these tests need /dev/kvm");
        let mut guest = match self.guest.take() {
            Some(g) => g,
            None => Guest::new(&kvm, shim().unwrap(), &self.image, &GuestConfig::default())
                .expect("guest"),
        };
        let mut ctx = CallContext::new(&self.store, [7; 32], caller);
        let request = CallRequest {
            entry: self.image.method(method).unwrap(),
            input,
            caller,
            timeout: Some(std::time::Duration::from_secs(10)),
            gas_limit: 1 << 40,
        };
        let (exit, _) = guest.call(&request, &mut ctx).expect("call");
        if !guest.is_poisoned() {
            self.guest = Some(guest);
        }
        let (return_data, logs, changes) = ctx.finish();
        let ending = match &exit {
            CallExit::Returned => {
                self.store.commit(&changes).unwrap();
                "ok".to_string()
            }
            CallExit::Reverted(msg) => format!("reverted: {msg}"),
            // Where a trap is reported may differ (prepared code checks
            // branches before they land); that it traps may not.
            CallExit::Exception(_) => "trap".to_string(),
            CallExit::HostCallFault(msg) => format!("host call fault: {msg}"),
            other => format!("{other:?}"),
        };
        let ok = exit == CallExit::Returned;
        Outcome {
            ending,
            return_data: if ok { return_data } else { Vec::new() },
            logs: if ok { logs } else { Vec::new() },
        }
    }
}

/// The untranslated and the prepared side of one example contract.
fn sides(name: &str) -> (Side, Side) {
    let elf = std::fs::read(nativm_tests::example_path(name)).unwrap();
    let raw = nativm::artifact::unprepared_image(&elf).unwrap();
    let translation =
        nativm_gas::prepare(&elf, &Default::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let prepared = nativm::artifact::unprepared_image(&elf)
        .unwrap()
        .with_translation(Arc::new(nativm::artifact::prepared_code(&translation)))
        .unwrap();
    (Side::new(raw), Side::new(prepared))
}

fn same(name: &str, calls: &[(&str, Vec<u8>, [u8; 32])]) {
    let (mut raw, mut prepared) = sides(name);
    for (method, input, caller) in calls {
        let a = raw.call(method, input, *caller);
        let b = prepared.call(method, input, *caller);
        assert_eq!(
            a,
            b,
            "{name}::{method}({})",
            hex::encode(&input[..input.len().min(32)])
        );
    }
    // And the same committed state.
    assert_eq!(
        raw.store.entries(&[7; 32]).unwrap(),
        prepared.store.entries(&[7; 32]).unwrap()
    );
}

fn u64s(n: u64) -> Vec<u8> {
    n.to_le_bytes().to_vec()
}

#[test]
fn every_example_computes_the_same_translated() {
    let z = [0u8; 32];
    let alice = [0xa1; 32];
    let bob = [0xb0; 32];
    let mut big = vec![0u8; 100_000];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i * 7 + i / 13) as u8;
    }
    for n in [0u64, 1, 2, 10, 93, 1000, 100_000] {
        same("fib", &[("fib", u64s(n), z)]);
    }
    same("fib", &[("fib", vec![1, 2, 3], z)]);
    same(
        "sha256",
        &[
            ("digest", vec![], z),
            ("digest", b"abc".to_vec(), z),
            ("digest", big.clone(), z),
        ],
    );
    same(
        "bench_kernels",
        &[
            ("trivial", u64s(5), z),
            ("fib", u64s(50), z),
            ("sha256", big[..3000].to_vec(), z),
            ("fib", vec![1], z),
        ],
    );
    same(
        "echo",
        &[("echo", b"hello".to_vec(), z), ("whoami", vec![], alice)],
    );
    same(
        "counter",
        &[
            ("increment", vec![], z),
            ("increment", vec![], z),
            ("get", vec![], z),
        ],
    );
    let with = |who: [u8; 32], amount: u64| [who.to_vec(), u64s(amount)].concat();
    same(
        "token",
        &[
            ("mint", with(alice, 100), z),
            ("transfer", with(bob, 30), alice),
            ("transfer", with(bob, 1000), alice),
            ("balance_of", alice.to_vec(), z),
            ("balance_of", bob.to_vec(), z),
            ("mint", vec![1, 2], z),
        ],
    );
    same(
        "gas",
        &[
            ("straight", vec![], z),
            ("count_down", vec![], z),
            ("divide", vec![], z),
            ("rep_copy", big[..4096].to_vec(), z),
            ("echo", b"echo".to_vec(), z),
            ("store_input", b"v".to_vec(), z),
        ],
    );
    same(
        "faults",
        &[
            ("write_ok", b"x".to_vec(), z),
            ("null_deref", vec![], z),
            ("divide_by_zero", vec![], z),
            ("invalid_opcode", vec![], z),
            ("stack_overflow", vec![], z),
            ("jump_unmapped", vec![], z),
            ("jump_to_data", vec![], z),
            ("write_code", vec![], z),
            ("noncanonical", vec![], z),
            ("write_then_trap", vec![], z),
            ("write_then_abort", vec![], z),
            ("write_rodata", vec![], z),
            ("heap_probe", u64s(4096), z),
            ("heap_probe", u64s(1 << 40), z),
            ("bad_hostcall", vec![0], z),
            ("bad_hostcall", vec![3], z),
        ],
    );
    // The proxy's header parsing, and its `call` (refused where this test
    // runs contracts: no contract-to-contract calls without an engine).
    let header = [vec![7u8; 32], u64s(1_000), vec![3], b"get".to_vec()].concat();
    same(
        "proxy",
        &[
            ("forward", vec![1, 2, 3], z),
            ("forward", header.clone(), z),
            ("try_forward", header, z),
        ],
    );
    // The real contracts (issue 13): every call of their scenarios.
    for scenario in nativm_images::real::SCENARIOS {
        let calls: Vec<(&str, Vec<u8>, [u8; 32])> = scenario
            .steps
            .iter()
            .map(|s| (s.method, s.input.bytes(), s.caller()))
            .collect();
        for name in scenario.contracts {
            same(name, &calls);
        }
    }
    let real = nativm_images::real::contracts();
    for name in nativm_images::EXAMPLES {
        assert!(
            real.contains(name)
                || [
                    "fib",
                    "sha256",
                    "bench_kernels",
                    "echo",
                    "counter",
                    "token",
                    "gas",
                    "faults",
                    "sieve",
                    "proxy",
                    // Hashes its stack below its frame, where the prepared
                    // code's branch checks spill rax: tests/tests/isolation.rs.
                    "isolation"
                ]
                .contains(name),
            "example {name} has no translation check here: add one"
        );
    }
    if nativm_images::EXAMPLES.contains(&"sieve") {
        for n in [0u64, 2, 100, 10_000] {
            same("sieve", &[("sieve", u64s(n), z)]);
        }
    }
}

#[test]
fn translated_and_untranslated_agree_on_random_inputs() {
    let contracts = ["fib", "sha256", "bench_kernels", "echo", "gas"];
    let sides: RefCell<Vec<(Side, Side)>> =
        RefCell::new(contracts.iter().map(|name| sides(name)).collect());
    let strategy = (
        0usize..contracts.len(),
        proptest::collection::vec(any::<u8>(), 0..4096),
        any::<u16>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    runner
        .run(&strategy, |(which, bytes, n)| {
            let mut sides = sides.borrow_mut();
            let (raw, prepared) = &mut sides[which];
            let calls: Vec<(&str, Vec<u8>)> = match contracts[which] {
                "fib" => vec![("fib", u64s(u64::from(n))), ("fib", bytes.clone())],
                "sha256" => vec![("digest", bytes.clone())],
                "bench_kernels" => vec![
                    ("sha256", bytes.clone()),
                    ("fib", u64s(u64::from(n))),
                    ("trivial", bytes.clone()),
                ],
                "echo" => vec![("echo", bytes.clone())],
                _ => vec![("rep_copy", bytes.clone()), ("echo", bytes.clone())],
            };
            for (method, input) in calls {
                let a = raw.call(method, &input, [0; 32]);
                let b = prepared.call(method, &input, [0; 32]);
                prop_assert_eq!(a, b, "{}::{}", contracts[which], method);
            }
            Ok(())
        })
        .unwrap();
}

#[path = "../../verifier/tests/common/synth_elf.rs"]
mod synth_elf;

/// Deploying and calling a contract with many methods is linear in their
/// number (issue 16: 128 000 methods made a call take 11.8 s, quadratic in
/// the method lookups): 64 000 methods take under 6x the time of 16 000,
/// from the ELF to the first call's receipt, and the last method runs.
#[test]
fn many_methods_load_and_run_linearly() {
    let engine = nativm_tests::engine();
    let time = |count: usize| {
        let elf = synth_elf::many_methods(count);
        let start = std::time::Instant::now();
        let module = nativm::Module::new(engine, &elf).expect("many methods deploy");
        let store = nativm::StateDb::in_memory();
        let last = format!("m{}", count - 1);
        let receipt = nativm_tests::call(&module, &store, &last, &[]);
        assert_eq!(receipt.outcome.status.as_str(), "ok", "{receipt:?}");
        assert_eq!(module.methods().count(), count);
        start.elapsed()
    };
    // Warm the engine (KVM, shim) first; the minimum of two runs each.
    time(1000);
    let small = time(16_000).min(time(16_000));
    let large = time(64_000).min(time(64_000));
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    eprintln!("methods 16 000: {small:?}, 64 000: {large:?} ({ratio:.2}x)");
    assert!(ratio < 6.0, "4x the methods took {ratio:.2}x the time");
}
