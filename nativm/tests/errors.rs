//! The embedding API's errors carry their facts as fields (not only a
//! message), and the state-store types are reachable from `nativm`.

use nativm::{CallOptions, ChangeSet, ContractId, Engine, EngineConfig, Entry, Error, Module};
use nativm::{StateDb, StateStore};

fn engine() -> Engine {
    Engine::new(EngineConfig::default()).expect("these tests need /dev/kvm")
}

fn fib(engine: &Engine) -> Module {
    Module::from_file(engine, nativm_images::contract_path("fib")).unwrap()
}

#[test]
fn an_unknown_method_names_the_exported_ones() {
    let engine = engine();
    let err = engine
        .call(
            &fib(&engine),
            &StateDb::in_memory(),
            "fibonacci",
            &CallOptions::default(),
        )
        .unwrap_err();
    match &err {
        Error::UnknownMethod { method, exported } => {
            assert_eq!(method, "fibonacci");
            assert!(exported.iter().any(|m| m == "fib"), "{exported:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("unknown method `fibonacci` (exported methods: "),
        "{err}"
    );
    assert!(!err.is_host_failure());
}

#[test]
fn limits_broken_by_a_call_are_typed() {
    let engine = engine();
    let (fib, store) = (fib(&engine), StateDb::in_memory());
    let too_long = CallOptions::with_input(vec![0; nativm_abi::MAX_INPUT_LEN as usize + 1]);
    assert!(matches!(
        engine.call(&fib, &store, "fib", &too_long),
        Err(Error::InputTooLarge { len, max })
            if len == nativm_abi::MAX_INPUT_LEN + 1 && max == nativm_abi::MAX_INPUT_LEN
    ));
    let too_much_gas = CallOptions {
        gas_limit: Some(nativm_gas::MAX_GAS_LIMIT + 1),
        ..CallOptions::with_input(1u64.to_le_bytes().to_vec())
    };
    assert!(matches!(
        engine.call(&fib, &store, "fib", &too_much_gas),
        Err(Error::GasLimitTooHigh { gas_limit, max })
            if gas_limit == nativm_gas::MAX_GAS_LIMIT + 1 && max == nativm_gas::MAX_GAS_LIMIT
    ));
}

#[test]
fn a_code_hash_not_deployed_is_named() {
    let engine = engine();
    let err = Module::from_code_hash(&engine, &StateDb::in_memory(), &[0x42; 32]).unwrap_err();
    assert!(
        matches!(err, Error::NotDeployed { code_hash } if code_hash == [0x42; 32]),
        "{err:?}"
    );
}

#[test]
fn state_store_types_are_re_exported() {
    let backend: Box<dyn StateStore> = Box::new(nativm::MemoryStore::new());
    let mut changes = ChangeSet::new();
    let contract: ContractId = [7; 32];
    changes.write(contract, b"k".to_vec(), b"v".to_vec());
    backend.commit(&changes).unwrap();
    let store = StateDb::with_backend(backend);
    let entries: Vec<Entry> = store.entries(&contract).unwrap();
    assert_eq!(entries, vec![(b"k".to_vec(), b"v".to_vec())]);
}
