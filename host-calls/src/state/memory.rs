//! [`MemoryStore`]: the in-memory state backend.

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use jmt::storage::{LeafNode, Node, NodeKey};

use super::tree::{self, StateKey, TreeHead, TreeTables};
use super::{
    Account, Address, ChangeSet, ContractId, Entry, StateError, StateProof, StateRead, StateStore,
};

/// Committed state: contract id -> (key -> value). Inner maps are never empty.
type Entries = BTreeMap<ContractId, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Everything a commit changes, behind one lock so that readers see a
/// commit whole or not at all.
#[derive(Debug, Default)]
struct Committed {
    entries: Entries,
    accounts: BTreeMap<Address, Account>,
    /// The state tree's nodes (latest version only).
    nodes: HashMap<NodeKey, Node>,
    /// Leaf key hash -> the state it stands for.
    preimages: HashMap<[u8; 32], StateKey>,
    head: Option<TreeHead>,
}

impl Committed {
    fn value(&self, key: &StateKey) -> Option<Vec<u8>> {
        match key {
            StateKey::Account(address) => self.accounts.get(address).map(|a| a.code_hash.to_vec()),
            StateKey::Storage { contract, key } => {
                self.entries.get(contract).and_then(|k| k.get(key)).cloned()
            }
        }
    }
}

impl TreeTables for Committed {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, StateError> {
        Ok(self.nodes.get(key).cloned())
    }

    fn leaf_value(&self, key_hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.preimages.get(key_hash).and_then(|k| self.value(k)))
    }

    fn leaves(&self) -> Result<Vec<(NodeKey, LeafNode)>, StateError> {
        Ok(self
            .nodes
            .iter()
            .filter_map(|(k, n)| match n {
                Node::Leaf(leaf) => Some((k.clone(), leaf.clone())),
                _ => None,
            })
            .collect())
    }
}

/// In-memory state backend: `BTreeMap`s and the state tree behind an `RwLock`. Nothing survives
/// the process.
///
/// Never fails: every method returns `Ok` (a poisoned lock is recovered, since no operation
/// leaves the maps half-updated: a commit plans its tree update before it changes anything).
#[derive(Debug, Default)]
pub struct MemoryStore {
    committed: RwLock<Committed>,
    code: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl StateRead for MemoryStore {
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let committed = self
            .committed
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(committed
            .entries
            .get(contract)
            .and_then(|keys| keys.get(key))
            .cloned())
    }

    fn account(&self, address: &Address) -> Result<Option<Account>, StateError> {
        let committed = self
            .committed
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(committed.accounts.get(address).copied())
    }
}

impl StateStore for MemoryStore {
    fn commit(&self, changes: &ChangeSet) -> Result<(), StateError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut committed = self
            .committed
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let update = {
            let view = &*committed;
            let exists = |k: &StateKey| Ok(view.value(k).is_some());
            tree::plan_commit(view, view.head, changes, &exists)?
        };
        for (contract, key, change) in changes.iter() {
            match change {
                Some(value) => {
                    committed
                        .entries
                        .entry(*contract)
                        .or_default()
                        .insert(key.to_vec(), value.to_vec());
                }
                None => {
                    if let Some(keys) = committed.entries.get_mut(contract) {
                        keys.remove(key);
                        if keys.is_empty() {
                            committed.entries.remove(contract);
                        }
                    }
                }
            }
        }
        for (address, account) in changes.accounts() {
            committed.accounts.insert(*address, *account);
        }
        for key in update.stale_nodes {
            committed.nodes.remove(&key);
        }
        committed.nodes.extend(update.new_nodes);
        for hash in update.removed {
            committed.preimages.remove(&hash);
        }
        committed.preimages.extend(update.added);
        if update.head.is_some() {
            committed.head = update.head;
        }
        Ok(())
    }

    fn root(&self) -> Result<[u8; 32], StateError> {
        let committed = self
            .committed
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(committed.head.map_or(tree::EMPTY_ROOT, |h| h.root))
    }

    fn prove(&self, key: &StateKey) -> Result<StateProof, StateError> {
        let committed = self
            .committed
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        tree::prove(&*committed, committed.head, key)
    }

    fn accounts(&self) -> Result<Vec<(Address, Account)>, StateError> {
        let committed = self
            .committed
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(committed.accounts.iter().map(|(a, r)| (*a, *r)).collect())
    }

    fn contracts(&self) -> Result<Vec<ContractId>, StateError> {
        let committed = self
            .committed
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(committed.entries.keys().copied().collect())
    }

    fn entries(&self, contract: &ContractId) -> Result<Vec<Entry>, StateError> {
        let committed = self
            .committed
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(committed
            .entries
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
        assert!(store.committed.read().unwrap().entries.is_empty());
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MemoryStore>();
    }
}
