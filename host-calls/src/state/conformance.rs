//! Behaviour every [`StateStore`] backend must show, exercised only through the trait (and
//! [`Overlay`]). Each backend's test module calls [`run_all`] with a factory of fresh, empty stores.

use super::{Account, ChangeSet, ContractId, Entry, Overlay, StateKey, StateStore, EMPTY_ROOT};

/// Makes a fresh, empty store.
pub(crate) type Factory<'a> = &'a dyn Fn() -> Box<dyn StateStore>;

const A: ContractId = [0xa0; 32];
const B: ContractId = [0xb0; 32];

/// One named check.
type Check = (&'static str, fn(&dyn StateStore));

/// Runs every conformance check, each on a fresh store.
pub(crate) fn run_all(factory: Factory<'_>) {
    let checks: &[Check] = &[
        ("empty_store_reads_nothing", empty_store_reads_nothing),
        ("commit_then_get", commit_then_get),
        ("overwrite_and_remove", overwrite_and_remove),
        ("empty_key_and_value", empty_key_and_value),
        ("contracts_are_isolated", contracts_are_isolated),
        ("entries_are_sorted_bytewise", entries_are_sorted_bytewise),
        ("empty_commit_is_noop", empty_commit_is_noop),
        ("overlay_read_your_writes", overlay_read_your_writes),
        ("overlay_remove_semantics", overlay_remove_semantics),
        ("overlay_discard_leaves_store", overlay_discard_leaves_store),
        (
            "overlay_commit_lands_everything",
            overlay_commit_lands_everything,
        ),
        ("sequential_calls_build_on_each_other", sequential_calls),
        (
            "commits_are_atomic_to_readers",
            commits_are_atomic_to_readers,
        ),
        ("large_values_and_many_keys", large_values_and_many_keys),
        (
            "code_store_is_apart_from_state",
            code_store_is_apart_from_state,
        ),
        (
            "root_depends_only_on_contents",
            root_depends_only_on_contents,
        ),
        ("proofs_hold_against_the_root", proofs_hold_against_the_root),
        ("accounts_are_state", accounts_are_state),
    ];
    for (name, check) in checks {
        let store = factory();
        eprintln!("conformance: {name}");
        check(&*store);
    }
}

fn commit(store: &dyn StateStore, build: impl FnOnce(&mut ChangeSet)) {
    let mut set = ChangeSet::new();
    build(&mut set);
    store.commit(&set).unwrap();
}

fn dump(store: &dyn StateStore, contract: &ContractId) -> Vec<Entry> {
    store.entries(contract).unwrap()
}

fn code_store_is_apart_from_state(store: &dyn StateStore) {
    assert_eq!(store.get_code(b"prepared/x").unwrap(), None);
    store.put_code(b"prepared/x", b"image").unwrap();
    store.put_code(b"prepared/y", b"other").unwrap();
    assert_eq!(
        store.get_code(b"prepared/x").unwrap(),
        Some(b"image".to_vec())
    );
    store.put_code(b"prepared/x", b"image 2").unwrap();
    assert_eq!(
        store.get_code(b"prepared/x").unwrap(),
        Some(b"image 2".to_vec())
    );
    assert!(dump(store, &A).is_empty(), "code is not contract state");
}

fn empty_store_reads_nothing(store: &dyn StateStore) {
    assert_eq!(store.get(&A, b"k").unwrap(), None);
    assert_eq!(store.get(&A, b"").unwrap(), None);
    assert!(dump(store, &A).is_empty());
}

fn commit_then_get(store: &dyn StateStore) {
    commit(store, |set| {
        set.write(A, b"k1".to_vec(), b"v1".to_vec());
        set.write(A, b"k2".to_vec(), b"v2".to_vec());
    });
    assert_eq!(store.get(&A, b"k1").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(store.get(&A, b"k2").unwrap(), Some(b"v2".to_vec()));
    assert_eq!(store.get(&A, b"k3").unwrap(), None);
    // A prefix or extension of a stored key is a different key.
    assert_eq!(store.get(&A, b"k").unwrap(), None);
    assert_eq!(store.get(&A, b"k10").unwrap(), None);
}

fn overwrite_and_remove(store: &dyn StateStore) {
    commit(store, |set| set.write(A, b"k".to_vec(), b"old".to_vec()));
    commit(store, |set| set.write(A, b"k".to_vec(), b"new".to_vec()));
    assert_eq!(store.get(&A, b"k").unwrap(), Some(b"new".to_vec()));
    commit(store, |set| set.remove(A, b"k".to_vec()));
    assert_eq!(store.get(&A, b"k").unwrap(), None);
    assert!(dump(store, &A).is_empty());
    // Removing an absent key is not an error.
    commit(store, |set| set.remove(A, b"never-there".to_vec()));
    commit(store, |set| set.remove(B, b"k".to_vec()));
    assert!(dump(store, &A).is_empty());
    assert!(dump(store, &B).is_empty());
}

fn empty_key_and_value(store: &dyn StateStore) {
    commit(store, |set| {
        set.write(A, Vec::new(), b"for empty key".to_vec());
        set.write(A, b"empty value".to_vec(), Vec::new());
    });
    assert_eq!(store.get(&A, b"").unwrap(), Some(b"for empty key".to_vec()));
    // An empty value is present, not absent.
    assert_eq!(store.get(&A, b"empty value").unwrap(), Some(Vec::new()));
    assert_eq!(
        dump(store, &A),
        vec![
            (Vec::new(), b"for empty key".to_vec()),
            (b"empty value".to_vec(), Vec::new()),
        ]
    );
}

fn contracts_are_isolated(store: &dyn StateStore) {
    commit(store, |set| {
        set.write(A, b"shared".to_vec(), b"a's".to_vec());
        set.write(B, b"shared".to_vec(), b"b's".to_vec());
        set.write(A, b"only-a".to_vec(), b"1".to_vec());
    });
    assert_eq!(store.get(&A, b"shared").unwrap(), Some(b"a's".to_vec()));
    assert_eq!(store.get(&B, b"shared").unwrap(), Some(b"b's".to_vec()));
    assert_eq!(store.get(&B, b"only-a").unwrap(), None);
    assert_eq!(dump(store, &B), vec![(b"shared".to_vec(), b"b's".to_vec())]);

    // Removing under one contract leaves the other's same key alone.
    commit(store, |set| set.remove(A, b"shared".to_vec()));
    assert_eq!(store.get(&A, b"shared").unwrap(), None);
    assert_eq!(store.get(&B, b"shared").unwrap(), Some(b"b's".to_vec()));

    // Ids that differ only in their last byte are still different contracts.
    let mut near_a = A;
    near_a[31] ^= 1;
    assert_eq!(store.get(&near_a, b"only-a").unwrap(), None);
    assert!(dump(store, &near_a).is_empty());
    assert_eq!(dump(store, &A), vec![(b"only-a".to_vec(), b"1".to_vec())]);
}

fn entries_are_sorted_bytewise(store: &dyn StateStore) {
    let keys: [&[u8]; 6] = [b"b", b"a", b"\xff", b"ab", b"\x00", b"B"];
    commit(store, |set| {
        for key in keys {
            set.write(A, key.to_vec(), key.to_vec());
        }
        set.write(B, b"zzz".to_vec(), b"other".to_vec());
    });
    let mut expected: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    expected.sort();
    let got = dump(store, &A);
    assert_eq!(
        got.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(got.iter().all(|(k, v)| k == v));
}

fn empty_commit_is_noop(store: &dyn StateStore) {
    store.commit(&ChangeSet::new()).unwrap();
    commit(store, |set| set.write(A, b"k".to_vec(), b"v".to_vec()));
    store.commit(&ChangeSet::new()).unwrap();
    assert_eq!(dump(store, &A), vec![(b"k".to_vec(), b"v".to_vec())]);
}

fn overlay_read_your_writes(store: &dyn StateStore) {
    commit(store, |set| {
        set.write(A, b"k".to_vec(), b"committed".to_vec())
    });
    let mut overlay = Overlay::new(store);
    assert_eq!(overlay.get(&A, b"k").unwrap(), Some(b"committed".to_vec()));
    overlay.write(&A, b"k", b"mine");
    overlay.write(&A, b"new", b"fresh");
    assert_eq!(overlay.get(&A, b"k").unwrap(), Some(b"mine".to_vec()));
    assert_eq!(overlay.get(&A, b"new").unwrap(), Some(b"fresh".to_vec()));
    // Writes under A are invisible under B.
    assert_eq!(overlay.get(&B, b"k").unwrap(), None);
    assert_eq!(overlay.get(&B, b"new").unwrap(), None);
    // The store has not moved.
    assert_eq!(store.get(&A, b"k").unwrap(), Some(b"committed".to_vec()));
    assert_eq!(store.get(&A, b"new").unwrap(), None);
}

fn overlay_remove_semantics(store: &dyn StateStore) {
    commit(store, |set| {
        set.write(A, b"committed".to_vec(), b"v".to_vec());
        set.write(B, b"committed".to_vec(), b"v".to_vec());
    });
    let mut overlay = Overlay::new(store);
    assert!(overlay.remove(&A, b"committed").unwrap());
    assert!(!overlay.remove(&A, b"committed").unwrap());
    assert!(!overlay.remove(&A, b"absent").unwrap());
    overlay.write(&A, b"buffered", b"x");
    assert!(overlay.remove(&A, b"buffered").unwrap());
    assert_eq!(overlay.get(&A, b"committed").unwrap(), None);
    assert_eq!(overlay.get(&A, b"buffered").unwrap(), None);
    // B's key of the same name is untouched.
    assert_eq!(overlay.get(&B, b"committed").unwrap(), Some(b"v".to_vec()));
    // Nothing reached the store yet.
    assert_eq!(store.get(&A, b"committed").unwrap(), Some(b"v".to_vec()));

    store.commit(&overlay.into_changes()).unwrap();
    assert_eq!(store.get(&A, b"committed").unwrap(), None);
    assert_eq!(store.get(&A, b"buffered").unwrap(), None);
    assert!(dump(store, &A).is_empty());
    assert_eq!(store.get(&B, b"committed").unwrap(), Some(b"v".to_vec()));
}

fn overlay_discard_leaves_store(store: &dyn StateStore) {
    commit(store, |set| {
        set.write(A, b"k".to_vec(), b"committed".to_vec());
        set.write(B, b"k".to_vec(), b"committed".to_vec());
    });
    let before_a = dump(store, &A);
    let before_b = dump(store, &B);
    {
        let mut overlay = Overlay::new(store);
        overlay.write(&A, b"k", b"reverted");
        overlay.write(&A, b"extra", b"reverted");
        assert!(overlay.remove(&B, b"k").unwrap());
        assert_eq!(overlay.changes().len(), 3);
        // Dropped without commit: a reverted call.
    }
    assert_eq!(dump(store, &A), before_a);
    assert_eq!(dump(store, &B), before_b);
    // Taking the changes and dropping them is a discard too.
    let mut overlay = Overlay::new(store);
    overlay.write(&A, b"k", b"reverted");
    drop(overlay.into_changes());
    assert_eq!(dump(store, &A), before_a);
}

fn overlay_commit_lands_everything(store: &dyn StateStore) {
    commit(store, |set| {
        set.write(A, b"remove-me".to_vec(), b"x".to_vec());
        set.write(B, b"keep".to_vec(), b"y".to_vec());
    });
    let mut overlay = Overlay::new(store);
    overlay.write(&A, b"a1", b"1");
    overlay.write(&A, b"a2", b"2");
    overlay.write(&B, b"b1", b"3");
    overlay.remove(&A, b"remove-me").unwrap();
    let changes = overlay.into_changes();
    assert_eq!(changes.len(), 4);
    store.commit(&changes).unwrap();
    assert_eq!(
        dump(store, &A),
        vec![
            (b"a1".to_vec(), b"1".to_vec()),
            (b"a2".to_vec(), b"2".to_vec()),
        ]
    );
    assert_eq!(
        dump(store, &B),
        vec![
            (b"b1".to_vec(), b"3".to_vec()),
            (b"keep".to_vec(), b"y".to_vec()),
        ]
    );
    // Committing the same set again is idempotent.
    store.commit(&changes).unwrap();
    assert_eq!(dump(store, &A).len(), 2);
    assert_eq!(dump(store, &B).len(), 2);
}

fn sequential_calls(store: &dyn StateStore) {
    // A counter contract run ten times, each call reading the previous call's commit.
    for expected in 0u64..10 {
        let mut overlay = Overlay::new(store);
        let current = overlay
            .get(&A, b"counter")
            .unwrap()
            .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
        assert_eq!(current, expected);
        overlay.write(&A, b"counter", &(current + 1).to_le_bytes());
        store.commit(&overlay.into_changes()).unwrap();
    }
    assert_eq!(
        store.get(&A, b"counter").unwrap(),
        Some(10u64.to_le_bytes().to_vec())
    );
}

/// A writer moves value between two keys of two contracts in each commit, keeping their sum
/// constant, and removes/re-creates a marker key; concurrent readers must never see a half-applied
/// commit.
fn commits_are_atomic_to_readers(store: &dyn StateStore) {
    const TOTAL: u64 = 1000;
    const ROUNDS: u64 = 60;
    fn read_u64(store: &dyn StateStore, contract: &ContractId, key: &[u8]) -> u64 {
        let bytes = store.get(contract, key).unwrap().unwrap();
        u64::from_le_bytes(bytes.try_into().unwrap())
    }
    commit(store, |set| {
        set.write(A, b"balance".to_vec(), TOTAL.to_le_bytes().to_vec());
        set.write(B, b"balance".to_vec(), 0u64.to_le_bytes().to_vec());
    });
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    // `entries` takes one snapshot, so both keys of A come from the same commit.
                    let a = dump(store, &A);
                    let balance = a.iter().find(|(k, _)| k == b"balance").unwrap();
                    let balance = u64::from_le_bytes(balance.1.clone().try_into().unwrap());
                    let marker = a.iter().any(|(k, _)| k == b"odd");
                    assert_eq!(marker, balance % 2 == 1, "half-applied commit seen");
                    // Sum across contracts: read B after A; a commit in between can only have moved
                    // one unit, so the sum is within one of TOTAL if each commit is atomic.
                    let b = read_u64(store, &B, b"balance");
                    assert!(b <= TOTAL, "B balance {b} out of range");
                }
            });
        }
        for round in 1..=ROUNDS {
            let mut overlay = Overlay::new(store);
            let a = read_u64(store, &A, b"balance");
            let b = read_u64(store, &B, b"balance");
            assert_eq!(a + b, TOTAL);
            overlay.write(&A, b"balance", &(a - 1).to_le_bytes());
            overlay.write(&B, b"balance", &(b + 1).to_le_bytes());
            if (a - 1) % 2 == 1 {
                overlay.write(&A, b"odd", b"");
            } else {
                overlay.remove(&A, b"odd").unwrap();
            }
            store.commit(&overlay.into_changes()).unwrap();
            assert_eq!(read_u64(store, &B, b"balance"), round);
        }
        done.store(true, std::sync::atomic::Ordering::Release);
    });
    assert_eq!(read_u64(store, &A, b"balance"), TOTAL - ROUNDS);
    assert_eq!(read_u64(store, &B, b"balance"), ROUNDS);
}

fn large_values_and_many_keys(store: &dyn StateStore) {
    let max_key = vec![0x6b; nativm_abi::limits::MAX_KEY_LEN as usize];
    let max_value: Vec<u8> = (0..nativm_abi::limits::MAX_VALUE_LEN)
        .map(|i| (i % 251) as u8)
        .collect();
    commit(store, |set| {
        set.write(A, max_key.clone(), max_value.clone());
        for i in 0u32..500 {
            set.write(B, i.to_be_bytes().to_vec(), i.to_le_bytes().to_vec());
        }
    });
    assert_eq!(store.get(&A, &max_key).unwrap(), Some(max_value));
    let b = dump(store, &B);
    assert_eq!(b.len(), 500);
    for (i, (key, value)) in (0u32..).zip(&b) {
        assert_eq!(key, &i.to_be_bytes());
        assert_eq!(value, &i.to_le_bytes());
    }
}

/// A fixed history: two contracts, overwrites, a removal.
fn history(store: &dyn StateStore) {
    commit(store, |s| {
        s.write(A, b"x".to_vec(), b"1".to_vec());
        s.write(B, b"y".to_vec(), b"2".to_vec());
    });
    commit(store, |s| {
        s.write(A, b"x".to_vec(), b"3".to_vec());
        s.write(A, b"gone".to_vec(), b"soon".to_vec());
    });
    commit(store, |s| s.remove(A, b"gone".to_vec()));
}

fn root_depends_only_on_contents(store: &dyn StateStore) {
    assert_eq!(store.root().unwrap(), EMPTY_ROOT);
    history(store);
    let root = store.root().unwrap();
    assert_ne!(root, EMPTY_ROOT);
    // The same contents reached in one batch, in another backend instance.
    let other = super::MemoryStore::new();
    commit(&other, |s| {
        s.write(B, b"y".to_vec(), b"2".to_vec());
        s.write(A, b"x".to_vec(), b"3".to_vec());
    });
    assert_eq!(other.root().unwrap(), root, "same contents, same root");
    // Removing an absent key and an empty commit leave the root alone.
    commit(store, |s| s.remove(A, b"never".to_vec()));
    commit(store, |_| {});
    assert_eq!(store.root().unwrap(), root);
    // Any change of a value changes it; undoing the change restores it.
    commit(store, |s| s.write(A, b"x".to_vec(), b"4".to_vec()));
    assert_ne!(store.root().unwrap(), root);
    commit(store, |s| s.write(A, b"x".to_vec(), b"3".to_vec()));
    assert_eq!(store.root().unwrap(), root);
    // Removing everything gives the empty root again.
    commit(store, |s| {
        s.remove(A, b"x".to_vec());
        s.remove(B, b"y".to_vec());
    });
    assert_eq!(store.root().unwrap(), EMPTY_ROOT);
}

fn proofs_hold_against_the_root(store: &dyn StateStore) {
    let absent = StateKey::Storage {
        contract: A,
        key: b"x".to_vec(),
    };
    let proof = store.prove(&absent).unwrap();
    assert_eq!(proof.value, None);
    proof.verify(&store.root().unwrap()).unwrap();
    history(store);
    let root = store.root().unwrap();
    let present = store.prove(&absent).unwrap();
    assert_eq!(present.value.as_deref(), Some(&b"3"[..]));
    present.verify(&root).unwrap();
    let decoded = super::StateProof::from_bytes(&present.to_bytes()).unwrap();
    decoded.verify(&root).unwrap();
    assert!(present.verify(&EMPTY_ROOT).is_err(), "wrong root");
    let mut forged = super::StateProof::from_bytes(&present.to_bytes()).unwrap();
    forged.value = Some(b"4".to_vec());
    assert!(forged.verify(&root).is_err(), "wrong value");
    for missing in [
        StateKey::Storage {
            contract: A,
            key: b"gone".to_vec(),
        },
        StateKey::Storage {
            contract: B,
            key: b"x".to_vec(),
        },
        StateKey::Account([9; 32]),
    ] {
        let proof = store.prove(&missing).unwrap();
        assert_eq!(proof.value, None, "{missing:?}");
        proof.verify(&root).unwrap();
        let mut forged = super::StateProof::from_bytes(&proof.to_bytes()).unwrap();
        forged.value = Some(b"3".to_vec());
        assert!(forged.verify(&root).is_err(), "{missing:?} is absent");
    }
}

fn accounts_are_state(store: &dyn StateStore) {
    assert_eq!(store.account(&[5; 32]).unwrap(), None);
    let account = Account { code_hash: [6; 32] };
    commit(store, |s| s.create_account([5; 32], account));
    assert_eq!(store.account(&[5; 32]).unwrap(), Some(account));
    assert_eq!(store.accounts().unwrap(), vec![([5; 32], account)]);
    let root = store.root().unwrap();
    assert_ne!(root, EMPTY_ROOT, "an account is part of the root");
    let proof = store.prove(&StateKey::Account([5; 32])).unwrap();
    assert_eq!(proof.value.as_deref(), Some(&[6u8; 32][..]));
    proof.verify(&root).unwrap();
    commit(store, |s| s.write([5; 32], b"k".to_vec(), b"v".to_vec()));
    commit(store, |s| s.write(A, b"k".to_vec(), b"v".to_vec()));
    assert_eq!(store.contracts().unwrap(), vec![[5; 32], A]);
}
