//! [`ChangeSet`]: the buffered writes and removals of one call.

use std::collections::BTreeMap;

use super::{Account, Address, ContractId};

/// Buffered writes of one call: per contract, key -> `Some(value)` for a write, `None` for a
/// removal.
///
/// Holds at most one pending change per `(contract, key)`: a later write or removal of the same
/// key replaces the earlier one. Iteration is deterministic: ascending contract id, then ascending
/// key bytes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// Contract id -> (key -> new value, or `None` for a removal). Inner maps are never empty.
    contracts: BTreeMap<ContractId, BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    /// Accounts created by this set: address -> account record.
    accounts: BTreeMap<Address, Account>,
}

impl ChangeSet {
    /// An empty change set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the set holds no change at all.
    pub fn is_empty(&self) -> bool {
        self.contracts.is_empty() && self.accounts.is_empty()
    }

    /// Number of pending storage changes (writes plus removals), counting each
    /// `(contract, key)` once; account creations are counted by
    /// [`ChangeSet::accounts`].
    pub fn len(&self) -> usize {
        self.contracts.values().map(BTreeMap::len).sum()
    }

    /// Records the creation of the account at `address` (an account's code
    /// never changes once created: see `nativm`'s deploy documentation).
    pub fn create_account(&mut self, address: Address, account: Account) {
        self.accounts.insert(address, account);
    }

    /// The accounts this set creates, in ascending address order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> + '_ {
        self.accounts.iter()
    }

    /// The pending account record of `address`, if this set creates it.
    pub fn account(&self, address: &Address) -> Option<&Account> {
        self.accounts.get(address)
    }

    /// Records a write of `value` to `key` in `contract`'s key space, replacing any earlier pending
    /// change of that key.
    pub fn write(&mut self, contract: ContractId, key: Vec<u8>, value: Vec<u8>) {
        self.contracts
            .entry(contract)
            .or_default()
            .insert(key, Some(value));
    }

    /// Records a removal of `key` from `contract`'s key space, replacing any earlier pending change
    /// of that key. Committing a removal of an absent key is a no-op, not an error.
    pub fn remove(&mut self, contract: ContractId, key: Vec<u8>) {
        self.contracts
            .entry(contract)
            .or_default()
            .insert(key, None);
    }

    /// The pending change of one key: `None` when the set does not touch it, `Some(Some(value))`
    /// for a pending write, `Some(None)` for a pending removal.
    pub fn get(&self, contract: &ContractId, key: &[u8]) -> Option<Option<&[u8]>> {
        self.contracts
            .get(contract)?
            .get(key)
            .map(|change| change.as_deref())
    }

    /// Every pending change as `(contract, key, Some(value) | None)`, ordered by contract id, then
    /// key bytes. `None` means removal.
    pub fn iter(&self) -> impl Iterator<Item = (&ContractId, &[u8], Option<&[u8]>)> + '_ {
        self.contracts.iter().flat_map(|(contract, keys)| {
            keys.iter()
                .map(move |(key, change)| (contract, key.as_slice(), change.as_deref()))
        })
    }

    /// Folds `later` into `self` as if its changes had been made after `self`'s: for a key that
    /// both touch, `later`'s change wins. (For nested calls: merge a child's changes into its
    /// parent's once the child succeeds.)
    pub fn merge(&mut self, later: ChangeSet) {
        for (contract, keys) in later.contracts {
            self.contracts.entry(contract).or_default().extend(keys);
        }
        self.accounts.extend(later.accounts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ContractId = [0xaa; 32];
    const B: ContractId = [0x0b; 32];

    #[test]
    fn new_is_empty() {
        let set = ChangeSet::new();
        assert!(set.is_empty());
        assert_eq!(set.len(), 0);
        assert_eq!(set.iter().count(), 0);
        assert_eq!(set, ChangeSet::default());
    }

    #[test]
    fn later_change_of_same_key_replaces_earlier() {
        let mut set = ChangeSet::new();
        set.write(A, b"k".to_vec(), b"1".to_vec());
        set.write(A, b"k".to_vec(), b"2".to_vec());
        assert_eq!(set.len(), 1);
        assert_eq!(set.get(&A, b"k"), Some(Some(&b"2"[..])));
        set.remove(A, b"k".to_vec());
        assert_eq!(set.len(), 1);
        assert_eq!(set.get(&A, b"k"), Some(None));
        set.write(A, b"k".to_vec(), b"3".to_vec());
        assert_eq!(set.get(&A, b"k"), Some(Some(&b"3"[..])));
        assert_eq!(set.get(&A, b"other"), None);
        assert_eq!(set.get(&B, b"k"), None);
    }

    #[test]
    fn same_key_under_two_contracts_is_two_changes() {
        let mut set = ChangeSet::new();
        set.write(A, b"k".to_vec(), b"a".to_vec());
        set.remove(B, b"k".to_vec());
        assert_eq!(set.len(), 2);
        assert_eq!(set.get(&A, b"k"), Some(Some(&b"a"[..])));
        assert_eq!(set.get(&B, b"k"), Some(None));
    }

    #[test]
    fn iteration_is_sorted_by_contract_then_key() {
        let mut set = ChangeSet::new();
        set.write(A, b"b".to_vec(), b"2".to_vec());
        set.write(B, b"z".to_vec(), b"3".to_vec());
        set.remove(A, b"a".to_vec());
        set.write(A, Vec::new(), b"empty key".to_vec());
        let got: Vec<_> = set.iter().collect();
        assert_eq!(
            got,
            vec![
                (&B, &b"z"[..], Some(&b"3"[..])),
                (&A, &b""[..], Some(&b"empty key"[..])),
                (&A, &b"a"[..], None),
                (&A, &b"b"[..], Some(&b"2"[..])),
            ]
        );
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn empty_value_is_a_write_not_a_removal() {
        let mut set = ChangeSet::new();
        set.write(A, b"k".to_vec(), Vec::new());
        assert_eq!(set.get(&A, b"k"), Some(Some(&b""[..])));
    }

    #[test]
    fn merge_later_wins() {
        let mut parent = ChangeSet::new();
        parent.write(A, b"x".to_vec(), b"parent".to_vec());
        parent.write(A, b"y".to_vec(), b"parent".to_vec());
        let mut child = ChangeSet::new();
        child.remove(A, b"x".to_vec());
        child.write(B, b"z".to_vec(), b"child".to_vec());
        parent.merge(child);
        assert_eq!(parent.len(), 3);
        assert_eq!(parent.get(&A, b"x"), Some(None));
        assert_eq!(parent.get(&A, b"y"), Some(Some(&b"parent"[..])));
        assert_eq!(parent.get(&B, b"z"), Some(Some(&b"child"[..])));

        let mut empty = ChangeSet::new();
        empty.merge(ChangeSet::new());
        assert!(empty.is_empty());
    }
}
