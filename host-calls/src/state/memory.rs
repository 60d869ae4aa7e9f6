//! [`MemoryStore`]: the in-memory state backend.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use super::{ChangeSet, ContractId, Entry, StateError, StateStore};

/// Committed state: contract id -> (key -> value). Inner maps are never empty.
type Entries = BTreeMap<ContractId, BTreeMap<Vec<u8>, Vec<u8>>>;

/// In-memory state backend: a `BTreeMap` behind an `RwLock`. Nothing survives the process.
///
/// Never returns an error. A commit holds the write lock for the whole change set, so readers see
/// all of it or none of it.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: RwLock<Entries>,
    code: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl StateStore for MemoryStore {
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        // A poisoned lock can only come from a panic in another thread while it held the lock;
        // none of the code below can leave the map half-updated, so the data is still consistent.
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        Ok(entries
            .get(contract)
            .and_then(|keys| keys.get(key))
            .cloned())
    }

    fn commit(&self, changes: &ChangeSet) -> Result<(), StateError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        for (contract, key, change) in changes.iter() {
            match change {
                Some(value) => {
                    entries
                        .entry(*contract)
                        .or_default()
                        .insert(key.to_vec(), value.to_vec());
                }
                None => {
                    if let Some(keys) = entries.get_mut(contract) {
                        keys.remove(key);
                        if keys.is_empty() {
                            entries.remove(contract);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn entries(&self, contract: &ContractId) -> Result<Vec<Entry>, StateError> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        Ok(entries
            .get(contract)
            .map(|keys| {
                keys.iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn get_code(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let code = self.code.read().unwrap_or_else(PoisonError::into_inner);
        Ok(code.get(key).cloned())
    }

    fn put_code(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        let mut code = self.code.write().unwrap_or_else(PoisonError::into_inner);
        code.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::conformance;

    #[test]
    fn conformance_suite() {
        conformance::run_all(&|| Box::new(MemoryStore::new()));
    }

    #[test]
    fn removing_last_key_drops_contract_partition() {
        let store = MemoryStore::new();
        let id = [7; 32];
        let mut set = ChangeSet::new();
        set.write(id, b"k".to_vec(), b"v".to_vec());
        store.commit(&set).unwrap();
        let mut set = ChangeSet::new();
        set.remove(id, b"k".to_vec());
        store.commit(&set).unwrap();
        assert!(store.entries.read().unwrap().is_empty());
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MemoryStore>();
    }
}
