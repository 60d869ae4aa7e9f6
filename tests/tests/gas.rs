//! Gas: exact, repeatable charges counted by hand (the `gas` example
//! contract, written in assembly), out-of-gas endings, and a contract that
//! cannot reach its own gas counter.

use std::sync::Arc;

use nativm::{CallOptions, EngineConfig, Executor, Module, Receipt, StateDb, Status};
use nativm_abi::hostcall;
use nativm_gas::cost::{host_call_cost, storage_write_once};
use nativm_tests::{engine, example, example_path, fib_reference};

fn call_with_gas(
    module: &Module,
    store: &StateDb,
    method: &str,
    input: &[u8],
    gas: u64,
) -> Receipt {
    let options = CallOptions {
        input: input.to_vec(),
        gas_limit: Some(gas),
        ..Default::default()
    };
    engine()
        .call(module, store, method, &options)
        .unwrap_or_else(|e| panic!("calling {method}: {e}"))
}

fn gas_of(method: &str, input: &[u8]) -> u64 {
    let r = call_with_gas(
        &example("gas"),
        &StateDb::in_memory(),
        method,
        input,
        1_000_000,
    );
    assert_eq!(r.outcome.status, Status::Ok, "{method}: {r:?}");
    r.outcome.gas_used
}

#[test]
fn straight_line_code_costs_the_sum_of_its_instructions() {
    // mov eax,1 (1); add eax,2 (1); ret (3)
    assert_eq!(gas_of("straight", b""), 5);
    // mov eax,100; xor edx,edx; mov ecx,7 (1 each); div ecx (25); ret (3)
    assert_eq!(gas_of("divide", b""), 31);
}

#[test]
fn a_loop_pays_its_block_every_iteration() {
    // mov ecx,10 (1) | 10 x (dec ecx; jnz) (2) | ret (3)
    assert_eq!(gas_of("count_down", b""), 1 + 10 * 2 + 3);
}

#[test]
fn rep_string_instructions_pay_their_count_before_they_run() {
    // 4 movs/sub (4) + rep movsb (REP_BASE_COST 40 + count) + add (1) +
    // ret (3); no explicit memory operand (cost table version 2).
    for len in [0usize, 1, 100, 4096] {
        let input = vec![7u8; len];
        assert_eq!(gas_of("rep_copy", &input), 48 + len as u64, "len {len}");
    }
}

#[test]
fn host_calls_pay_their_base_and_bytes() {
    let set_return = host_call_cost(hostcall::SET_RETURN);
    for input in [&b""[..], b"hello", &[1u8; 1000]] {
        let r = call_with_gas(
            &example("gas"),
            &StateDb::in_memory(),
            "echo",
            input,
            1_000_000,
        );
        assert_eq!(r.outcome.return_data, input);
        // 4 movs + call rax (3) | ret (3), plus set_return.
        assert_eq!(
            r.outcome.gas_used,
            10 + set_return.charge(input.len() as u64)
        );
    }
    let store = StateDb::in_memory();
    let gas = example("gas");
    let r = call_with_gas(&gas, &store, "store_input", b"value", 1_000_000);
    assert_eq!(r.outcome.status, Status::Ok);
    // 6 movs/lea + call rax (3) | ret (3), plus storage_write of 1 + 5 bytes
    // (when made and at the return).
    assert_eq!(r.outcome.gas_used, 12 + storage_write_once(6));
    assert_eq!(
        store.get(&gas.code_hash(), b"k").unwrap(),
        Some(b"value".to_vec())
    );
}

#[test]
fn set_return_served_in_the_guest_is_charged_at_the_next_exit() {
    let set_return = host_call_cost(hostcall::SET_RETURN);
    let gas = example("gas");
    for input in [&b"v"[..], &[9u8; 300]] {
        let len = input.len() as u64;
        let exact = 25 + set_return.charge(len) + storage_write_once(1 + len);
        let store = StateDb::in_memory();
        let r = call_with_gas(&gas, &store, "echo_and_store", input, 1_000_000);
        assert_eq!(
            (r.outcome.status, r.outcome.gas_used),
            (Status::Ok, exact),
            "{r:?}"
        );
        assert_eq!(r.outcome.return_data, input);
        // With one gas less, the storage_write (which also pays for the
        // set_return before it) cannot be paid in full by the return:
        // nothing is stored.
        let store = StateDb::in_memory();
        let r = call_with_gas(&gas, &store, "echo_and_store", input, exact - 1);
        assert_eq!(r.outcome.status, Status::OutOfGas, "{r:?}");
        assert_eq!(store.get(&gas.code_hash(), b"k").unwrap(), None);
        // Enough for the set_return but not the write's base.
        let r = call_with_gas(
            &gas,
            &store,
            "echo_and_store",
            input,
            20 + set_return.charge(len) + 10,
        );
        assert_eq!(r.outcome.status, Status::OutOfGas, "{r:?}");
    }
}

#[test]
fn a_host_call_the_gas_left_cannot_pay_has_no_effect() {
    let write = storage_write_once(6);
    let gas = example("gas");
    let store = StateDb::in_memory();
    // Exactly enough: ok.
    let r = call_with_gas(&gas, &store, "store_input", b"first", 12 + write);
    assert_eq!(
        (r.outcome.status, r.outcome.gas_used),
        (Status::Ok, 12 + write)
    );
    // One short: the write cannot be paid in full (what is due at the
    // return is refused), the whole limit is used and the store keeps the
    // first value.
    let r = call_with_gas(&gas, &store, "store_input", b"again", 12 + write - 1);
    assert_eq!(r.outcome.status, Status::OutOfGas, "{r:?}");
    assert_eq!(r.outcome.gas_used, 12 + write - 1);
    assert_eq!(r.outcome.state_changes(), 0);
    assert_eq!(
        store.get(&gas.code_hash(), b"k").unwrap(),
        Some(b"first".to_vec())
    );
}

#[test]
fn running_out_in_the_last_block_is_out_of_gas_with_the_whole_limit_used() {
    for limit in [0, 1, 4] {
        let r = call_with_gas(
            &example("gas"),
            &StateDb::in_memory(),
            "straight",
            b"",
            limit,
        );
        assert_eq!(r.outcome.status, Status::OutOfGas, "limit {limit}");
        assert_eq!(r.outcome.gas_used, limit);
    }
    let r = call_with_gas(&example("gas"), &StateDb::in_memory(), "straight", b"", 5);
    assert_eq!((r.outcome.status, r.outcome.gas_used), (Status::Ok, 5));
}

#[test]
fn gas_used_is_identical_over_100_runs_and_across_workers() {
    let fib = example("fib");
    let sha = example("sha256");
    let store = StateDb::in_memory();
    let reference_fib = call_with_gas(&fib, &store, "fib", &1000u64.to_le_bytes(), 1 << 40);
    let reference_sha = call_with_gas(&sha, &store, "digest", &[0xab; 10_000], 1 << 40);
    assert!(reference_fib.outcome.gas_used > 1000 && reference_sha.outcome.gas_used > 10_000);
    for _ in 0..100 {
        let r = call_with_gas(&fib, &store, "fib", &1000u64.to_le_bytes(), 1 << 40);
        assert_eq!(r.outcome.gas_used, reference_fib.outcome.gas_used);
        assert_eq!(r.outcome.return_data, fib_reference(1000).to_le_bytes());
        let r = call_with_gas(&sha, &store, "digest", &[0xab; 10_000], 1 << 40);
        assert_eq!(r.outcome.gas_used, reference_sha.outcome.gas_used);
    }
    let executor = Executor::new(EngineConfig::default(), 2).expect("/dev/kvm is required");
    let fib = Arc::new(Module::from_file(executor.engine(), example_path("fib")).unwrap());
    let store = Arc::new(StateDb::in_memory());
    let handles: Vec<_> = (0..100)
        .map(|_| {
            executor.submit(
                &fib,
                &store,
                "fib",
                CallOptions {
                    input: 1000u64.to_le_bytes().to_vec(),
                    gas_limit: Some(1 << 40),
                    ..Default::default()
                },
            )
        })
        .collect();
    for h in handles {
        assert_eq!(
            h.wait().unwrap().outcome.gas_used,
            reference_fib.outcome.gas_used
        );
    }
}

#[test]
fn infinite_loops_end_out_of_gas() {
    let gas = example("gas");
    for (method, limit) in [
        ("spin", 10_000_000),
        ("spin_indirect", 10_000_000),
        // 3 gas per level: runs out long before the 1 MiB stack does.
        ("spin_recursive", 30_000),
    ] {
        let r = call_with_gas(&gas, &StateDb::in_memory(), method, b"", limit);
        assert_eq!(r.outcome.status, Status::OutOfGas, "{method}: {r:?}");
        assert_eq!(r.outcome.gas_used, limit, "{method}");
    }
    // And under the default limit (10^9), an endless fib.
    let r = nativm_tests::call(
        &example("fib"),
        &StateDb::in_memory(),
        "fib",
        &u64::MAX.to_le_bytes(),
    );
    assert_eq!(r.outcome.status, Status::OutOfGas, "{r:?}");
    assert_eq!(r.outcome.gas_used, nativm_gas::DEFAULT_GAS_LIMIT);
}

#[test]
fn a_contract_cannot_touch_its_gas_counter() {
    let gas = example("gas");
    let store = StateDb::in_memory();
    // The charges' constants are in read-only prepared code.
    let r = call_with_gas(&gas, &store, "write_gas_constant", b"", 1_000_000);
    assert_eq!(r.outcome.status, Status::Trap, "{r:?}");
    let t = r.outcome.trap.as_ref().unwrap();
    assert!(t.message.contains("write to 0x71000010"), "{}", t.message);
    // Jumping or returning into prepared code (past a charge) is refused.
    let r = call_with_gas(&gas, &store, "jump_into_prepared", b"", 1_000_000);
    assert_eq!(
        r.outcome.trap.as_ref().unwrap().exception,
        Some("invalid_branch_target"),
        "{r:?}"
    );
    let r = call_with_gas(&gas, &store, "return_into_prepared", b"", 1_000_000);
    assert_eq!(
        r.outcome.trap.as_ref().unwrap().exception,
        Some("invalid_return"),
        "{r:?}"
    );
    // Every instruction that could read, write or reset mm0 is refused at
    // deploy: MMX, emms, x87 (aliases mm0), FPU-state restore.
    let elf = std::fs::read(example_path("gas")).unwrap();
    let marker = [0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11];
    let at = elf
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("patch_site marker");
    let attempts: [(&str, &[u8]); 5] = [
        ("movq mm0, rax", &[0x48, 0x0f, 0x6e, 0xc0]),
        ("paddq mm0, mm1", &[0x0f, 0xd4, 0xc1]),
        ("emms", &[0x0f, 0x77]),
        ("fld1", &[0xd9, 0xe8]),
        ("fxrstor [rsp]", &[0x0f, 0xae, 0x0c, 0x24]),
    ];
    for (what, bytes) in attempts {
        let mut patched = elf.clone();
        let site = &mut patched[at..at + marker.len()];
        site.fill(0x90);
        site[..bytes.len()].copy_from_slice(bytes);
        match Module::new(engine(), &patched) {
            Err(nativm::Error::Rejected { report, .. }) => assert!(
                report
                    .violations
                    .iter()
                    .any(|v| matches!(v.class, "mmx" | "x87" | "fpu-state")),
                "{what}: {}",
                report.summary()
            ),
            Ok(_) => panic!("{what} was accepted"),
            Err(e) => panic!("{what}: unexpected error {e}"),
        }
    }
}

#[test]
fn a_prepared_image_is_made_once_and_found_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let elf = std::fs::read(example_path("fib")).unwrap();
    let code_hash;
    {
        // A fresh engine: nothing cached in memory.
        let engine = nativm::Engine::new(EngineConfig::default()).unwrap();
        let store = StateDb::open(&path).unwrap();
        let m = Module::deploy(&engine, &store, &elf).unwrap();
        assert_eq!(m.artifact_origin(), nativm::ArtifactOrigin::Prepared);
        code_hash = m.code_hash();
        let again = Module::new(&engine, &elf).unwrap();
        assert_eq!(again.artifact_origin(), nativm::ArtifactOrigin::Memory);
    }
    let engine = nativm::Engine::new(EngineConfig::default()).unwrap();
    let store = StateDb::open(&path).unwrap();
    let m = Module::from_code_hash(&engine, &store, &code_hash).unwrap();
    assert_eq!(m.artifact_origin(), nativm::ArtifactOrigin::StateDb);
    let r = engine
        .call(
            &m,
            &store,
            "fib",
            &CallOptions::with_input(25u64.to_le_bytes().to_vec()),
        )
        .unwrap();
    assert_eq!(r.outcome.return_data, 75025u64.to_le_bytes());
    let unknown = [0x42; 32];
    assert!(matches!(
        Module::from_code_hash(&engine, &store, &unknown),
        Err(nativm::Error::NotDeployed { .. })
    ));
}
