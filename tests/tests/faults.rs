//! Faults are contained: each ends in a receipt that says what happened,
//! the host stays up, and the next call works.

use std::time::{Duration, Instant};

use nativm::{CallOptions, Error, Receipt, StateDb, Status};
use nativm_tests::{call, engine, example};

fn trap(method: &str) -> Receipt {
    let receipt = call(&example("faults"), &StateDb::in_memory(), method, b"");
    assert_eq!(
        receipt.outcome.status,
        Status::Trap,
        "{method}: {receipt:?}"
    );
    assert!(receipt.outcome.return_data.is_empty() && receipt.outcome.logs.is_empty());
    // The host is still fine: the next call on the same engine works.
    let fib = call(
        &example("fib"),
        &StateDb::in_memory(),
        "fib",
        &10u64.to_le_bytes(),
    );
    assert_eq!(
        fib.outcome.return_data,
        55u64.to_le_bytes(),
        "call after {method}"
    );
    receipt
}

fn exception(receipt: &Receipt) -> &str {
    receipt
        .outcome
        .trap
        .as_ref()
        .and_then(|t| t.exception)
        .unwrap_or("none")
}

#[test]
fn null_dereference() {
    let r = trap("null_deref");
    assert_eq!(exception(&r), "page_fault");
    let t = r.outcome.trap.as_ref().unwrap();
    assert_eq!(t.address, Some(0));
    assert!(t.in_contract);
    assert!(
        t.message.contains("null pointer dereference"),
        "{}",
        t.message
    );
}

#[test]
fn divide_by_zero() {
    let r = trap("divide_by_zero");
    assert_eq!(exception(&r), "divide_error");
    assert_eq!(r.outcome.trap.as_ref().unwrap().vector, Some(0));
}

#[test]
fn ud2_is_an_invalid_opcode() {
    let r = trap("invalid_opcode");
    assert_eq!(exception(&r), "invalid_opcode");
    let faults = example("faults");
    // The reported RIP lies inside the method that executed ud2.
    let (_, start) = faults
        .methods()
        .find(|(m, _)| *m == "invalid_opcode")
        .unwrap();
    let rip = r.outcome.trap.as_ref().unwrap().rip.unwrap();
    assert!(
        rip >= start && rip < start + 64,
        "rip {rip:#x} vs method at {start:#x}"
    );
}

#[test]
fn stack_overflow_hits_the_guard_page() {
    let r = trap("stack_overflow");
    assert_eq!(exception(&r), "page_fault");
    let t = r.outcome.trap.as_ref().unwrap();
    assert!(t.message.contains("stack overflow"), "{}", t.message);
    let addr = t.address.unwrap();
    let stack_bottom = nativm_abi::STACK_TOP - engine().config().stack_size;
    assert!(
        addr < stack_bottom && addr >= stack_bottom - nativm_abi::PAGE_SIZE,
        "{addr:#x}"
    );
}

#[test]
fn jump_to_unmapped_memory() {
    // The prepared code checks every indirect jump: the target is refused
    // before anything runs there.
    let r = trap("jump_unmapped");
    assert_eq!(exception(&r), "invalid_branch_target");
    let t = r.outcome.trap.as_ref().unwrap();
    assert!(
        t.message
            .contains("to 0x12345000, which is not the start of a verified instruction"),
        "{}",
        t.message
    );
}

#[test]
fn data_is_not_executable_and_code_is_not_writable() {
    let r = trap("jump_to_data");
    assert_eq!(exception(&r), "invalid_branch_target", "{r:?}");
    let r = trap("write_code");
    let t = r.outcome.trap.as_ref().unwrap();
    assert!(
        t.message.contains("write to") && t.message.contains("not permitted in contract segment"),
        "{}",
        t.message
    );
}

#[test]
fn non_canonical_address() {
    assert_eq!(exception(&trap("noncanonical")), "general_protection");
}

#[test]
fn an_endless_loop_times_out() {
    let options = CallOptions {
        timeout: Some(Duration::from_millis(150)),
        ..Default::default()
    };
    let started = Instant::now();
    let faults = example("faults");
    let result = engine().call(&faults, &StateDb::in_memory(), "spin", &options);
    // Wall time is not consensus: no receipt, a typed host-side error.
    match result {
        Err(Error::Timeout {
            limit_ms,
            method,
            code_hash,
        }) => {
            assert_eq!(limit_ms, 150);
            assert_eq!(method, "spin");
            assert_eq!(code_hash, faults.code_hash());
        }
        other => panic!("expected Error::Timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(150));
    let fib = call(
        &example("fib"),
        &StateDb::in_memory(),
        "fib",
        &10u64.to_le_bytes(),
    );
    assert_eq!(
        fib.outcome.status,
        Status::Ok,
        "the host is fine after a timeout"
    );
}

#[test]
fn many_faults_in_a_row_leave_the_host_healthy() {
    let faults = example("faults");
    let store = StateDb::in_memory();
    for round in 0..5 {
        for method in [
            "null_deref",
            "divide_by_zero",
            "invalid_opcode",
            "stack_overflow",
            "jump_unmapped",
        ] {
            assert_eq!(
                call(&faults, &store, method, b"").outcome.status,
                Status::Trap,
                "round {round} {method}"
            );
        }
    }
    assert_eq!(
        call(&example("fib"), &store, "fib", &20u64.to_le_bytes())
            .outcome
            .return_data,
        6765u64.to_le_bytes()
    );
}

#[test]
fn read_only_data_is_not_writable() {
    let r = trap("write_rodata");
    let t = r.outcome.trap.as_ref().unwrap();
    assert!(
        t.message.contains("write to") && t.message.contains("(R)"),
        "{}",
        t.message
    );
}

#[test]
fn the_heap_is_usable_up_to_its_configured_size_and_no_further() {
    let faults = example("faults");
    let store = StateDb::in_memory();
    let heap = engine().config().heap_size;
    for offset in [0, 4096, heap - 1] {
        let r = call(&faults, &store, "heap_probe", &offset.to_le_bytes());
        assert_eq!(r.outcome.status, Status::Ok, "offset {offset}: {r:?}");
        assert_eq!(r.outcome.return_data, [0xa5]);
    }
    let r = call(&faults, &store, "heap_probe", &heap.to_le_bytes());
    assert_eq!(
        r.outcome.status,
        Status::Trap,
        "one byte past the heap: {r:?}"
    );
    assert_eq!(
        r.outcome.trap.as_ref().unwrap().address,
        Some(nativm_abi::HEAP_BASE + heap)
    );
}

#[test]
fn the_heap_size_is_configurable() {
    let small = nativm::Engine::new(nativm::EngineConfig {
        heap_size: 64 * 1024,
        ..Default::default()
    })
    .unwrap();
    let faults = example("faults");
    let probe = |offset: u64| {
        small
            .call(
                &faults,
                &StateDb::in_memory(),
                "heap_probe",
                &CallOptions::with_input(offset.to_le_bytes().to_vec()),
            )
            .unwrap()
    };
    assert_eq!(probe(64 * 1024 - 1).outcome.status, Status::Ok);
    assert_eq!(probe(64 * 1024).outcome.status, Status::Trap);
}
