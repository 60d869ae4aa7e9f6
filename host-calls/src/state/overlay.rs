//! [`Overlay`]: one call's read-your-writes view of state.

use super::{Account, Address, ChangeSet, ContractId, StateError, StateRead};

/// A call's view of state: reads see the call's own buffered writes first, then the committed
/// store.
///
/// Writes and removals only go into the overlay's [`ChangeSet`]; nothing reaches the store until
/// the caller commits [`Overlay::into_changes`] with [`StateStore::commit`]. Dropping the overlay
/// (a reverted call) discards every change.
pub struct Overlay<'a> {
    store: &'a dyn StateRead,
    changes: ChangeSet,
}

impl<'a> Overlay<'a> {
    /// An overlay with no buffered changes over `store`.
    pub fn new(store: &'a dyn StateRead) -> Self {
        Self {
            store,
            changes: ChangeSet::new(),
        }
    }

    /// Reads `key` of `contract`: the buffered change if the call touched the key (`None` after a
    /// buffered removal), else the committed value. `Ok(None)` when absent.
    ///
    /// # Errors
    /// A [`StateError`] when the key is not buffered and the store cannot be read.
    pub fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.changes.get(contract, key) {
            Some(change) => Ok(change.map(<[u8]>::to_vec)),
            None => self.store.get(contract, key),
        }
    }

    /// Buffers a write of `value` to `key` of `contract`.
    pub fn write(&mut self, contract: &ContractId, key: &[u8], value: &[u8]) {
        self.changes.write(*contract, key.to_vec(), value.to_vec());
    }

    /// Buffers a removal of `key` of `contract`. Returns whether the key existed (as seen through
    /// the overlay: a buffered write, or a committed value not yet removed by this call) before
    /// the removal.
    ///
    /// The removal is recorded even when the key did not exist, so the change set states exactly
    /// what the call did.
    ///
    /// # Errors
    /// A [`StateError`] when the store cannot be read; nothing is buffered then.
    pub fn remove(&mut self, contract: &ContractId, key: &[u8]) -> Result<bool, StateError> {
        let existed = self.get(contract, key)?.is_some();
        self.changes.remove(*contract, key.to_vec());
        Ok(existed)
    }

    /// The changes buffered so far.
    pub fn changes(&self) -> &ChangeSet {
        &self.changes
    }

    /// Ends the overlay, returning its buffered changes for the caller to commit (or drop).
    pub fn into_changes(self) -> ChangeSet {
        self.changes
    }

    /// The account at `address`: created by a buffered change, else as the
    /// base reads it.
    ///
    /// # Errors
    /// A [`StateError`] when the base cannot be read.
    pub fn account(&self, address: &Address) -> Result<Option<Account>, StateError> {
        match self.changes.account(address) {
            Some(account) => Ok(Some(*account)),
            None => self.store.account(address),
        }
    }

    /// Buffers the creation of an account.
    pub fn create_account(&mut self, address: Address, account: Account) {
        self.changes.create_account(address, account);
    }

    /// Applies the changes of a nested call that succeeded (an overlay over
    /// this one) as if this overlay had made them: its changes win.
    pub fn apply(&mut self, nested: ChangeSet) {
        self.changes.merge(nested);
    }
}

impl StateRead for Overlay<'_> {
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Overlay::get(self, contract, key)
    }

    fn account(&self, address: &Address) -> Result<Option<Account>, StateError> {
        Overlay::account(self, address)
    }
}

impl std::fmt::Debug for Overlay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("changes", &self.changes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MemoryStore, StateStore};

    const A: ContractId = [1; 32];
    const B: ContractId = [2; 32];

    fn store_with(entries: &[(ContractId, &[u8], &[u8])]) -> MemoryStore {
        let store = MemoryStore::new();
        let mut set = ChangeSet::new();
        for (contract, key, value) in entries {
            set.write(*contract, key.to_vec(), value.to_vec());
        }
        store.commit(&set).unwrap();
        store
    }

    #[test]
    fn reads_fall_through_to_store() {
        let store = store_with(&[(A, b"k", b"committed")]);
        let overlay = Overlay::new(&store);
        assert_eq!(overlay.get(&A, b"k").unwrap(), Some(b"committed".to_vec()));
        assert_eq!(overlay.get(&A, b"missing").unwrap(), None);
        assert_eq!(overlay.get(&B, b"k").unwrap(), None);
        assert!(overlay.changes().is_empty());
    }

    #[test]
    fn buffered_write_shadows_store_but_does_not_reach_it() {
        let store = store_with(&[(A, b"k", b"committed")]);
        let mut overlay = Overlay::new(&store);
        overlay.write(&A, b"k", b"buffered");
        assert_eq!(overlay.get(&A, b"k").unwrap(), Some(b"buffered".to_vec()));
        assert_eq!(store.get(&A, b"k").unwrap(), Some(b"committed".to_vec()));
    }

    #[test]
    fn remove_reports_prior_existence() {
        let store = store_with(&[(A, b"committed", b"v")]);
        let mut overlay = Overlay::new(&store);
        // Committed key: existed, then gone.
        assert!(overlay.remove(&A, b"committed").unwrap());
        assert_eq!(overlay.get(&A, b"committed").unwrap(), None);
        // Second removal: already gone in this call.
        assert!(!overlay.remove(&A, b"committed").unwrap());
        // Absent everywhere.
        assert!(!overlay.remove(&A, b"never").unwrap());
        // Only buffered.
        overlay.write(&A, b"fresh", b"v");
        assert!(overlay.remove(&A, b"fresh").unwrap());
        assert_eq!(overlay.get(&A, b"fresh").unwrap(), None);
        // Rewritten after removal.
        overlay.write(&A, b"committed", b"again");
        assert_eq!(
            overlay.get(&A, b"committed").unwrap(),
            Some(b"again".to_vec())
        );
        // Store untouched throughout.
        assert_eq!(store.get(&A, b"committed").unwrap(), Some(b"v".to_vec()));

        let changes = overlay.into_changes();
        assert_eq!(changes.get(&A, b"committed"), Some(Some(&b"again"[..])));
        assert_eq!(changes.get(&A, b"never"), Some(None));
        assert_eq!(changes.get(&A, b"fresh"), Some(None));
        assert_eq!(changes.len(), 3);
    }

    #[test]
    fn into_changes_returns_exactly_the_buffered_changes() {
        let store = MemoryStore::new();
        let mut overlay = Overlay::new(&store);
        overlay.write(&A, b"x", b"1");
        overlay.write(&B, b"x", b"2");
        overlay.remove(&A, b"y").unwrap();
        let mut expected = ChangeSet::new();
        expected.write(A, b"x".to_vec(), b"1".to_vec());
        expected.write(B, b"x".to_vec(), b"2".to_vec());
        expected.remove(A, b"y".to_vec());
        assert_eq!(overlay.changes(), &expected);
        assert_eq!(overlay.into_changes(), expected);
    }

    #[test]
    fn debug_shows_changes() {
        let store = MemoryStore::new();
        let mut overlay = Overlay::new(&store);
        overlay.write(&A, b"x", b"1");
        let text = format!("{overlay:?}");
        assert!(text.starts_with("Overlay"), "{text}");
        assert!(text.contains("changes"), "{text}");
    }
}
