//! Accounts and contract-to-contract calls: addresses with their own
//! storage, the `call` host call through the `proxy` example, nested
//! overlays (a callee's writes join the caller's only on success), the
//! depth limit and re-entrancy.

use nativm::{address_of, Address, CallOptions, Deployment, Receipt, StateDb, Status};
use nativm_abi::contract_call;
use nativm_tests::{engine, example_path};

fn deploy(store: &StateDb, name: &str, salt: u8) -> Address {
    let elf = std::fs::read(example_path(name)).unwrap();
    let deployment = Deployment {
        deployer: [0xde; 32],
        salt: [salt; 32],
    };
    let deployed = engine().deploy(store, &elf, &deployment).unwrap();
    assert_eq!(
        deployed.address,
        address_of(&[0xde; 32], &[salt; 32], &deployed.module.code_hash())
    );
    deployed.address
}

fn call(store: &StateDb, to: &Address, method: &str, input: &[u8], gas: u64) -> Receipt {
    let options = CallOptions {
        input: input.to_vec(),
        gas_limit: Some(gas),
        // A 64-frame chain boots 64 guests: room for a loaded machine.
        timeout: Some(std::time::Duration::from_secs(120)),
        ..Default::default()
    };
    engine()
        .call_account(store, to, method, &options)
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// The proxy's input: to ++ gas ++ method_len ++ method ++ input.
fn forward(to: &Address, gas: u64, method: &str, input: &[u8]) -> Vec<u8> {
    let mut out = to.to_vec();
    out.extend(gas.to_le_bytes());
    out.push(method.len() as u8);
    out.extend(method.as_bytes());
    out.extend(input);
    out
}

fn count(store: &StateDb, counter: &Address) -> u64 {
    store
        .get(counter, b"count")
        .unwrap()
        .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()))
}

#[test]
fn two_addresses_with_the_same_code_keep_separate_storage() {
    let store = StateDb::in_memory();
    let a = deploy(&store, "counter", 1);
    let b = deploy(&store, "counter", 2);
    assert_ne!(a, b);
    assert_eq!(
        deploy(&store, "counter", 1),
        a,
        "deploying again finds the account"
    );
    let r = call(&store, &a, "increment", &5u64.to_le_bytes(), 1_000_000);
    assert!(r.is_ok(), "{r:?}");
    call(&store, &a, "increment", &5u64.to_le_bytes(), 1_000_000);
    call(&store, &b, "increment", &7u64.to_le_bytes(), 1_000_000);
    assert_eq!((count(&store, &a), count(&store, &b)), (10, 7));
    let missing = engine().call_account(&store, &[9; 32], "get", &CallOptions::default());
    assert!(
        matches!(missing, Err(nativm::Error::NoAccount { .. })),
        "{missing:?}"
    );
}

#[test]
fn a_proxy_call_commits_the_callee_writes_only_on_success() {
    let store = StateDb::in_memory();
    let proxy = deploy(&store, "proxy", 0);
    let counter = deploy(&store, "counter", 0);
    let faults = deploy(&store, "faults", 0);

    let r = call(
        &store,
        &proxy,
        "forward",
        &forward(&counter, 1_000_000, "increment", &3u64.to_le_bytes()),
        10_000_000,
    );
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        r.outcome.return_data,
        3u64.to_le_bytes(),
        "the callee's return data"
    );
    assert_eq!(count(&store, &counter), 3);
    assert!(
        r.diagnostics.vm_exits >= 2,
        "the callee's exits count: {r:?}"
    );

    // Revert, trap and out of gas in the callee: `forward` reverts, nothing
    // is committed; `try_forward` goes on and commits its own write only.
    for (method, status, name) in [
        ("write_then_abort", contract_call::REVERTED, "reverted"),
        ("write_then_trap", contract_call::TRAPPED, "trapped"),
        ("write_then_spin", contract_call::OUT_OF_GAS, "out of gas"),
    ] {
        let input = forward(&faults, 200_000, method, b"lost");
        let r = call(&store, &proxy, "forward", &input, 10_000_000);
        assert_eq!(r.status(), Status::Reverted, "{method}: {r:?}");
        assert_eq!(
            r.outcome.message.as_deref(),
            Some(format!("proxy: callee {name}").as_str())
        );
        assert_eq!(store.get(&faults, b"k").unwrap(), None, "{method}");
        let r = call(&store, &proxy, "try_forward", &input, 10_000_000);
        assert!(r.is_ok(), "{method}: {r:?}");
        assert_eq!(r.outcome.return_data, [status as u8], "{method}");
        assert_eq!(store.get(&faults, b"k").unwrap(), None, "{method}");
        if status == contract_call::OUT_OF_GAS {
            assert!(
                r.outcome.gas_used > 200_000,
                "the caller paid the callee's whole limit: {}",
                r.outcome.gas_used
            );
        }
    }
    let calls = store.get(&proxy, b"calls").unwrap().unwrap();
    assert_eq!(u64::from_le_bytes(calls.try_into().unwrap()), 3);
    let r = call(
        &store,
        &proxy,
        "try_forward",
        &forward(&faults, 200_000, "write_ok", b"kept"),
        10_000_000,
    );
    assert_eq!(r.outcome.return_data, [contract_call::OK as u8]);
    assert_eq!(
        store.get(&faults, b"k").unwrap().as_deref(),
        Some(&b"kept"[..])
    );

    for (to, method, status) in [
        ([7; 32], "get", contract_call::NO_ACCOUNT),
        (counter, "no_such_method", contract_call::UNKNOWN_METHOD),
    ] {
        let r = call(
            &store,
            &proxy,
            "try_forward",
            &forward(&to, 1_000, method, b""),
            10_000_000,
        );
        assert_eq!(r.outcome.return_data, [status as u8], "{method}");
    }
}

#[test]
fn the_caller_pays_what_the_callee_used() {
    let store = StateDb::in_memory();
    let proxy = deploy(&store, "proxy", 0);
    let counter = deploy(&store, "counter", 0);
    let direct = call(
        &store,
        &counter,
        "increment",
        &1u64.to_le_bytes(),
        1_000_000,
    );
    let through = call(
        &store,
        &proxy,
        "forward",
        &forward(&counter, 1_000_000, "increment", &1u64.to_le_bytes()),
        10_000_000,
    );
    assert!(direct.is_ok() && through.is_ok());
    assert!(
        through.outcome.gas_used > direct.outcome.gas_used + nativm_gas::cost::CALL_BASE_COST,
        "{} vs {}",
        through.outcome.gas_used,
        direct.outcome.gas_used
    );
    // Less gas than the callee needs: it runs out, the proxy reverts.
    let starved = call(
        &store,
        &proxy,
        "forward",
        &forward(&counter, 100, "increment", &1u64.to_le_bytes()),
        10_000_000,
    );
    assert_eq!(
        starved.outcome.message.as_deref(),
        Some("proxy: callee out of gas")
    );
    assert_eq!(count(&store, &counter), 2);
}

/// `forward` through `levels` proxies (each at its own address, so the
/// chain is also re-entrant into the same code), ending in `last`.
fn chain(proxies: &[Address], last: Vec<u8>) -> Vec<u8> {
    proxies.iter().rev().fold(last, |inner, proxy| {
        forward(proxy, u64::MAX, "forward", &inner)
    })
}

#[test]
fn the_depth_limit_ends_deeper_calls_with_a_status() {
    let store = StateDb::in_memory();
    let proxy = deploy(&store, "proxy", 0);
    let counter = deploy(&store, "counter", 0);
    let max = contract_call::MAX_CALL_DEPTH as usize;
    // Frames: the outer try_forward, then max - 2 forwards, then the
    // counter as frame `max`: allowed.
    let proxies = vec![proxy; max - 2];
    let deepest = forward(&counter, u64::MAX, "increment", &1u64.to_le_bytes());
    let input = forward(
        &proxy,
        u64::MAX,
        "forward",
        &chain(&proxies[1..], deepest.clone()),
    );
    let r = call(&store, &proxy, "try_forward", &input, 1_000_000_000);
    assert_eq!(r.outcome.return_data[0], contract_call::OK as u8, "{r:?}");
    assert_eq!(
        count(&store, &counter),
        1,
        "the deepest frame's write landed"
    );
    // One frame more: the last proxy's call is refused, every proxy
    // reverts, the outer one reports it.
    let input = forward(&proxy, u64::MAX, "forward", &chain(&proxies, deepest));
    let r = call(&store, &proxy, "try_forward", &input, 1_000_000_000);
    assert_eq!(
        r.outcome.return_data,
        [contract_call::REVERTED as u8],
        "{r:?}"
    );
    assert_eq!(
        count(&store, &counter),
        1,
        "nothing of the refused chain landed"
    );
    // A trap, a revert or running out of gas at the depth limit unwinds
    // the same way: nothing of the chain lands.
    let faults = deploy(&store, "faults", 0);
    for (method, gas) in [
        ("write_then_trap", u64::MAX),
        ("write_then_abort", u64::MAX),
        ("write_then_spin", 200_000),
    ] {
        let last = forward(&faults, gas, method, b"x");
        let input = forward(&proxy, u64::MAX, "forward", &chain(&proxies[1..], last));
        let r = call(&store, &proxy, "try_forward", &input, 1_000_000_000);
        assert_eq!(
            r.outcome.return_data,
            [contract_call::REVERTED as u8],
            "{method}: {r:?}"
        );
        assert_eq!(store.get(&faults, b"k").unwrap(), None, "{method}");
    }
}

#[test]
fn re_entrant_calls_see_the_callers_writes() {
    let store = StateDb::in_memory();
    let proxy = deploy(&store, "proxy", 0);
    // try_forward counts itself, then calls back into the same proxy's
    // try_forward, which sees the first count and adds one.
    let inner = forward(&proxy, u64::MAX, "get_nothing", b"");
    let input = forward(&proxy, u64::MAX, "try_forward", &inner);
    let r = call(&store, &proxy, "try_forward", &input, 100_000_000);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        r.outcome.return_data[..2],
        [contract_call::OK as u8, contract_call::UNKNOWN_METHOD as u8]
    );
    let calls = store.get(&proxy, b"calls").unwrap().unwrap();
    assert_eq!(u64::from_le_bytes(calls.try_into().unwrap()), 2);
}

#[test]
fn state_roots_agree_across_backends_and_fail_to_move_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let memory = StateDb::in_memory();
    let redb = StateDb::open(dir.path().join("state.redb")).unwrap();
    let mut roots = Vec::new();
    for store in [&memory, &redb] {
        let proxy = deploy(store, "proxy", 0);
        let counter = deploy(store, "counter", 0);
        call(store, &counter, "increment", &4u64.to_le_bytes(), 1_000_000);
        call(
            store,
            &proxy,
            "forward",
            &forward(&counter, 1_000_000, "increment", &1u64.to_le_bytes()),
            10_000_000,
        );
        let root = store.backend().root().unwrap();
        let failed = call(store, &counter, "increment", b"bad", 1_000_000);
        assert_eq!(failed.status(), Status::Reverted);
        assert_eq!(
            store.backend().root().unwrap(),
            root,
            "a failed call leaves the root"
        );
        roots.push(root);
    }
    assert_eq!(roots[0], roots[1]);
}

mod blocks {
    use super::*;
    use nativm::{Block, EngineConfig, Executor, Transaction};
    use std::sync::Arc;

    fn tx(to: Address, method: &str, input: &[u8], caller: u8) -> Transaction {
        Transaction {
            to,
            method: method.into(),
            input: input.to_vec(),
            gas: 10_000_000,
            caller: [caller; 32],
            access_list: Vec::new(),
        }
    }

    fn mint(token: Address, who: u8, amount: u64) -> Transaction {
        let mut input = vec![who; 32];
        input.extend(amount.to_le_bytes());
        tx(token, "mint", &input, 0)
    }

    fn transfer(token: Address, from: u8, to: u8, amount: u64) -> Transaction {
        let mut input = vec![to; 32];
        input.extend(amount.to_le_bytes());
        tx(token, "transfer", &input, from)
    }

    /// A block mixing conflicting counter increments, token transfers (some
    /// failing for lack of balance, which depends on the order), proxy
    /// calls and a trap.
    fn mixed_block(token: Address, counter: Address, proxy: Address, faults: Address) -> Block {
        let mut transactions = Vec::new();
        for i in 0..40u8 {
            transactions.push(tx(counter, "increment", &1u64.to_le_bytes(), 0));
            transactions.push(mint(token, i % 8, 10));
            transactions.push(transfer(token, i % 8, (i + 3) % 8, 7 + u64::from(i % 5)));
            if i % 10 == 0 {
                let input = forward(&counter, 1_000_000, "increment", &2u64.to_le_bytes());
                transactions.push(tx(proxy, "forward", &input, 0));
                transactions.push(tx(faults, "write_then_trap", b"lost", 0));
            }
        }
        Block { transactions }
    }

    fn run(workers: usize) -> (nativm::BlockOutcome, Arc<StateDb>) {
        let store = Arc::new(StateDb::in_memory());
        let token = deploy(&store, "token", 0);
        let counter = deploy(&store, "counter", 0);
        let proxy = deploy(&store, "proxy", 0);
        let faults = deploy(&store, "faults", 0);
        let executor = Executor::new(EngineConfig::default(), workers).unwrap();
        let block = mixed_block(token, counter, proxy, faults);
        let outcome = executor.execute_block(&store, &block).unwrap();
        assert_eq!(count(&store, &counter), 40 + 4 * 2, "no lost increment");
        (outcome, store)
    }

    #[test]
    fn a_block_gives_the_sequential_result_on_any_number_of_workers() {
        // Sequential reference: the same transactions one by one.
        let reference = StateDb::in_memory();
        let token = deploy(&reference, "token", 0);
        let counter = deploy(&reference, "counter", 0);
        let proxy = deploy(&reference, "proxy", 0);
        let faults = deploy(&reference, "faults", 0);
        let block = mixed_block(token, counter, proxy, faults);
        let mut expected = Vec::new();
        for t in &block.transactions {
            let options = CallOptions {
                input: t.input.clone(),
                caller: t.caller,
                gas_limit: Some(t.gas),
                ..Default::default()
            };
            expected.push(
                engine()
                    .call_account(&reference, &t.to, &t.method, &options)
                    .unwrap(),
            );
        }
        let expected_root = reference.backend().root().unwrap();
        for workers in [1, 2, 3] {
            let (outcome, _) = run(workers);
            assert_eq!(outcome.state_root, expected_root, "{workers} workers");
            assert_eq!(outcome.receipts.len(), expected.len());
            for (i, (got, want)) in outcome.receipts.iter().zip(&expected).enumerate() {
                assert_eq!(
                    got.outcome, want.outcome,
                    "transaction {i}, {workers} workers"
                );
            }
            assert!(outcome.executions >= block.transactions.len() as u64);
        }
    }

    #[test]
    fn a_block_with_a_bad_transaction_changes_nothing() {
        let store = Arc::new(StateDb::in_memory());
        let counter = deploy(&store, "counter", 0);
        let root = store.backend().root().unwrap();
        let executor = Executor::new(EngineConfig::default(), 2).unwrap();
        let block = Block {
            transactions: vec![
                tx(counter, "increment", &1u64.to_le_bytes(), 0),
                tx([3; 32], "increment", &1u64.to_le_bytes(), 0),
            ],
        };
        match executor.execute_block(&store, &block) {
            Err(e @ nativm::Error::TransactionRefused { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("transaction 1"), "{msg}")
            }
            other => panic!("expected TransactionRefused, got {other:?}"),
        }
        assert_eq!(store.backend().root().unwrap(), root);
    }
}

/// Access lists: declared keys are served in the guest without VM exits;
/// receipts (outcome hashes, gas) are the same with and without them, and
/// without them a second read or any write of a key needs no exit.
mod access_lists {
    use super::*;

    fn token_call(
        store: &StateDb,
        token: &Address,
        method: &str,
        input: &[u8],
        caller: [u8; 32],
        keys: &[Vec<u8>],
    ) -> Receipt {
        let options = CallOptions {
            input: input.to_vec(),
            caller,
            gas_limit: Some(10_000_000),
            access_list: keys.to_vec(),
            ..Default::default()
        };
        engine()
            .call_account(store, token, method, &options)
            .unwrap()
    }

    fn balance_key(who: [u8; 32]) -> Vec<u8> {
        [b"bal:".to_vec(), who.to_vec()].concat()
    }

    #[test]
    fn declared_keys_cost_no_exits_and_change_nothing_else() {
        let plain = StateDb::in_memory();
        let declared = StateDb::in_memory();
        let (a, b) = ([0xa1; 32], [0xb2; 32]);
        let t_plain = deploy(&plain, "token", 0);
        let t_declared = deploy(&declared, "token", 0);
        let mint = [a.to_vec(), 100u64.to_le_bytes().to_vec()].concat();
        let transfer = [b.to_vec(), 30u64.to_le_bytes().to_vec()].concat();
        let too_much = [b.to_vec(), 1_000u64.to_le_bytes().to_vec()].concat();
        let keys = vec![balance_key(a), balance_key(b)];
        for (method, input, caller) in [
            ("mint", &mint, [0; 32]),
            ("transfer", &transfer, a),
            ("transfer", &too_much, a),
            ("transfer", &transfer, a),
            ("balance_of", &b.to_vec(), [0; 32]),
        ] {
            let x = token_call(&plain, &t_plain, method, input, caller, &[]);
            let y = token_call(&declared, &t_declared, method, input, caller, &keys);
            assert_eq!(
                x.outcome_hash(),
                y.outcome_hash(),
                "{method}: {x:?} vs {y:?}"
            );
            assert_eq!(x.outcome.gas_used, y.outcome.gas_used, "{method}");
            assert!(
                y.diagnostics.vm_exits <= x.diagnostics.vm_exits,
                "{method}: {} declared vs {} not",
                y.diagnostics.vm_exits,
                x.diagnostics.vm_exits
            );
        }
        assert_eq!(
            plain.backend().root().unwrap(),
            declared.backend().root().unwrap()
        );
        // A transfer with its keys declared: its log is its only exit
        // besides the return (the caller is served in the guest); without
        // them each balance's first read exits.
        let x = token_call(&plain, &t_plain, "transfer", &transfer, a, &[]);
        let y = token_call(&declared, &t_declared, "transfer", &transfer, a, &keys);
        assert_eq!(y.diagnostics.vm_exits, 2, "{y:?}");
        assert_eq!(x.diagnostics.vm_exits, 4, "{x:?}");
    }

    #[test]
    fn a_counter_increment_with_its_key_declared_is_one_exit() {
        let store = StateDb::in_memory();
        let counter = deploy(&store, "counter", 0);
        for (keys, exits) in [(vec![], 2), (vec![b"count".to_vec()], 1)] {
            let options = CallOptions {
                input: 1u64.to_le_bytes().to_vec(),
                access_list: keys,
                ..Default::default()
            };
            let r = engine()
                .call_account(&store, &counter, "increment", &options)
                .unwrap();
            assert!(r.is_ok());
            assert_eq!(r.diagnostics.vm_exits, exits, "{r:?}");
        }
        assert_eq!(count(&store, &counter), 2);
    }

    #[test]
    fn blocks_with_and_without_access_lists_agree() {
        use nativm::{Block, EngineConfig, Executor, Transaction};
        use std::sync::Arc;
        let mut roots = Vec::new();
        let mut receipts = Vec::new();
        for declare in [false, true] {
            let store = Arc::new(StateDb::in_memory());
            let counter = deploy(&store, "counter", 0);
            let proxy = deploy(&store, "proxy", 0);
            let inc = Transaction {
                to: counter,
                method: "increment".into(),
                input: 1u64.to_le_bytes().to_vec(),
                gas: 1_000_000,
                caller: [0; 32],
                access_list: if declare {
                    vec![b"count".to_vec()]
                } else {
                    vec![]
                },
            };
            let via_proxy = Transaction {
                to: proxy,
                method: "forward".into(),
                input: forward(&counter, 1_000_000, "increment", &2u64.to_le_bytes()),
                gas: 5_000_000,
                caller: [0; 32],
                access_list: vec![],
            };
            let mut transactions = vec![inc.clone(); 30];
            transactions.push(via_proxy);
            transactions.extend(vec![inc; 30]);
            let executor = Executor::new(EngineConfig::default(), 2).unwrap();
            let outcome = executor
                .execute_block(&store, &Block { transactions })
                .unwrap();
            assert_eq!(count(&store, &counter), 62);
            roots.push(outcome.state_root);
            receipts.push(
                outcome
                    .receipts
                    .iter()
                    .map(|r| r.outcome_hash())
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(roots[0], roots[1]);
        assert_eq!(receipts[0], receipts[1]);
    }
}
