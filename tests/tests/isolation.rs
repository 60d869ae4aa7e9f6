//! Nothing of one call is visible to the next, on the executor's workers:
//! neither to the same contract (its warm guest is reset) nor to another
//! contract (the `isolation` example contract and a copy of it with another
//! code hash, run alternately on one worker).

use std::sync::Arc;

use nativm::{CallOptions, EngineConfig, Executor, Module, Receipt, StateDb, Status};
use nativm_tests::example_path;

fn call(executor: &Executor, module: &Arc<Module>, store: &Arc<StateDb>, method: &str) -> Receipt {
    let r = executor
        .call(module, store, method, CallOptions::default())
        .unwrap_or_else(|e| panic!("{method}: {e}"));
    assert_eq!(r.outcome.status, Status::Ok, "{method}: {r:?}");
    r
}

#[test]
fn no_call_sees_anything_of_an_earlier_one_on_the_same_worker() {
    let elf = std::fs::read(example_path("isolation")).unwrap();
    // Another contract: the same code with its tag patched, so another code
    // hash, another storage namespace, another guest.
    let mut other = elf.clone();
    let at = other
        .windows(11)
        .position(|w| w == b"isolation-A")
        .expect("tag in rodata");
    other[at + 10] = b'B';

    // Pristine readings, each from a fresh executor (fresh guests).
    let pristine = |elf: &[u8], method: &str| {
        let executor = Executor::new(EngineConfig::default(), 1).expect("/dev/kvm is required");
        let module = Arc::new(Module::new(executor.engine(), elf).unwrap());
        call(&executor, &module, &Arc::new(StateDb::in_memory()), method)
            .outcome
            .return_data
    };
    let pristine_hash = pristine(&elf, "inspect");
    let pristine_regs = pristine(&elf, "regs");
    assert_eq!(pristine_hash, pristine(&other, "inspect"));

    let executor = Executor::new(EngineConfig::default(), 1).expect("/dev/kvm is required");
    let a = Arc::new(Module::new(executor.engine(), &elf).unwrap());
    let b = Arc::new(Module::new(executor.engine(), &other).unwrap());
    assert_ne!(a.code_hash(), b.code_hash());
    let store = Arc::new(StateDb::in_memory());
    for round in 0..3 {
        let s = call(&executor, &a, &store, "scribble");
        assert!(s.diagnostics.warm || round == 0);
        assert!(
            s.diagnostics.pages_reset >= 16,
            "round {round}: scribbled pages were reset"
        );
        // Another contract, next on the same worker.
        assert_eq!(
            call(&executor, &b, &store, "inspect").outcome.return_data,
            pristine_hash,
            "round {round}: another contract"
        );
        call(&executor, &a, &store, "scribble");
        assert_eq!(
            call(&executor, &b, &store, "regs").outcome.return_data,
            pristine_regs,
            "round {round}: registers, another contract"
        );
        // The same contract, next on the same (warm) guest.
        call(&executor, &a, &store, "scribble");
        let r = call(&executor, &a, &store, "inspect");
        assert!(r.diagnostics.warm);
        assert_eq!(
            r.outcome.return_data, pristine_hash,
            "round {round}: same contract"
        );
        call(&executor, &a, &store, "scribble");
        assert_eq!(
            call(&executor, &a, &store, "regs").outcome.return_data,
            pristine_regs,
            "round {round}: registers, same contract"
        );
    }
    // The pristine state is what the ABI promises.
    let word = |i: usize| u64::from_le_bytes(pristine_regs[8 * i..8 * i + 8].try_into().unwrap());
    assert!(
        (16..48).all(|i| word(i) == 0),
        "XMM registers are zero on entry"
    );
    assert_eq!(word(48) & 0x40500, 0, "TF, DF and AC clear on entry");
    assert_eq!(word(49) & 0xffff_ffff, 0x1f80, "MXCSR at its reset value");
}
