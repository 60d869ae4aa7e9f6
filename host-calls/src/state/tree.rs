//! The state root: a Jellyfish Merkle tree ([`jmt`], SHA-256) over every
//! account's code hash and every storage entry.
//!
//! # What the tree holds
//!
//! Each piece of state is one leaf, keyed by a 32-byte key hash:
//!
//! | state | key hash | leaf value |
//! | --- | --- | --- |
//! | account `address` | `sha256("nativm/account\0" ‖ address)` | its code hash (32 bytes) |
//! | storage `key` of `contract` | `sha256("nativm/storage\0" ‖ contract ‖ key)` | the value |
//!
//! `contract` is always 32 bytes, so the preimages are unambiguous. The
//! root of a Jellyfish Merkle tree depends only on the set of leaves, not on
//! the order or batching of the commits that produced it: equal contents
//! give equal roots, in every backend and on every machine. The empty state
//! has the root [`EMPTY_ROOT`].
//!
//! # How a backend keeps it
//!
//! A backend stores the tree's nodes and, for each leaf, its preimage
//! ([`StateKey`], so the value itself is stored once, in the backend's
//! state table). At each commit it asks [`plan_commit`] for the new nodes,
//! the nodes that became stale (deleted at once: nativm reads only the
//! latest version) and the new root, and writes them in the same atomic
//! transaction as the state itself. [`prove`] builds a proof at the latest
//! version. A backend implements [`TreeTables`] to let the tree read what it
//! stored.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Sha256Jmt, Version};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Address, ChangeSet, ContractId, StateError};

/// Root of the empty state (the tree's placeholder hash for an empty
/// subtree, `"SPARSE_MERKLE_PLACEHOLDER_HASH__"`).
pub const EMPTY_ROOT: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";

/// One piece of authenticated state: the preimage of a leaf's key hash.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StateKey {
    /// The account record of an address (its code hash).
    Account(Address),
    /// A storage entry of a contract (an address, or the code hash of a
    /// contract run without an account).
    Storage {
        /// The contract whose key space holds it.
        contract: ContractId,
        /// The key (at most `nativm_abi::limits::MAX_KEY_LEN` bytes from a
        /// contract).
        key: Vec<u8>,
    },
}

impl StateKey {
    /// The leaf's key hash (see the module table).
    pub fn key_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        match self {
            StateKey::Account(address) => {
                hasher.update(b"nativm/account\0");
                hasher.update(address);
            }
            StateKey::Storage { contract, key } => {
                hasher.update(b"nativm/storage\0");
                hasher.update(contract);
                hasher.update(key);
            }
        }
        hasher.finalize().into()
    }

    /// A compact encoding (for a backend's preimage table): tag byte 0 and
    /// the address, or tag 1, the contract and the key.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            StateKey::Account(address) => [&[0u8][..], address].concat(),
            StateKey::Storage { contract, key } => [&[1u8][..], contract, key].concat(),
        }
    }

    /// Decodes [`StateKey::to_bytes`]; `None` if malformed.
    pub fn from_bytes(bytes: &[u8]) -> Option<StateKey> {
        let (tag, rest) = bytes.split_first()?;
        let id: ContractId = rest.get(..32)?.try_into().ok()?;
        match (tag, rest.len()) {
            (0, 32) => Some(StateKey::Account(id)),
            (1, _) => Some(StateKey::Storage {
                contract: id,
                key: rest[32..].to_vec(),
            }),
            _ => None,
        }
    }
}

/// What a backend gives the tree to read: its stored nodes and the current
/// value of each leaf.
pub trait TreeTables {
    /// The node stored under `key`, if any.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, StateError>;

    /// The current value of the state whose key hash is `key_hash`
    /// (through the backend's preimage table), if it exists.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn leaf_value(&self, key_hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StateError>;

    /// Every stored leaf node (used only to find the rightmost leaf, which
    /// the tree asks for when restoring from a snapshot).
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn leaves(&self) -> Result<Vec<(NodeKey, LeafNode)>, StateError>;
}

/// The tree of the empty state: its only node is the null root.
struct EmptyTree;

impl TreeTables for EmptyTree {
    fn node(&self, _: &NodeKey) -> Result<Option<Node>, StateError> {
        Ok(Some(Node::Null))
    }
    fn leaf_value(&self, _: &[u8; 32]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(None)
    }
    fn leaves(&self) -> Result<Vec<(NodeKey, LeafNode)>, StateError> {
        Ok(Vec::new())
    }
}

/// The jmt reader over a backend's [`TreeTables`].
struct Reader<'a, T: ?Sized>(&'a T);

impl<T: TreeTables + ?Sized> TreeReader for Reader<'_, T> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.0.node(node_key)?)
    }

    fn get_value_option(
        &self,
        _max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.0.leaf_value(&key_hash.0)?)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(self
            .0
            .leaves()?
            .into_iter()
            .max_by_key(|(_, leaf)| leaf.key_hash().0))
    }
}

/// The version and root a backend records after each commit that changed
/// the tree. `version` counts those commits from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    /// Version of the latest tree (the tree's node keys carry it).
    pub version: u64,
    /// Its root hash.
    pub root: [u8; 32],
}

impl TreeHead {
    /// 40 bytes: version (u64 LE) and root.
    pub fn to_bytes(self) -> [u8; 40] {
        let mut out = [0; 40];
        out[..8].copy_from_slice(&self.version.to_le_bytes());
        out[8..].copy_from_slice(&self.root);
        out
    }

    /// Decodes [`TreeHead::to_bytes`]; `None` unless exactly 40 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<TreeHead> {
        let bytes: &[u8; 40] = bytes.try_into().ok()?;
        let version = u64::from_le_bytes(bytes[..8].try_into().ok()?);
        let root = bytes[8..].try_into().ok()?;
        Some(TreeHead { version, root })
    }
}

/// What a backend writes for one commit, besides the state itself.
#[derive(Debug, Default)]
pub struct TreeUpdate {
    /// The new head; `None` when the commit changed no leaf (nothing to
    /// write).
    pub head: Option<TreeHead>,
    /// New nodes, to store.
    pub new_nodes: Vec<(NodeKey, Node)>,
    /// Nodes no longer part of the latest tree, to delete.
    pub stale_nodes: Vec<NodeKey>,
    /// Preimages of leaves that now exist (insert; re-inserting is harmless).
    pub added: Vec<([u8; 32], StateKey)>,
    /// Key hashes of leaves that no longer exist (delete their preimages).
    pub removed: Vec<[u8; 32]>,
}

/// Serializes a node key for a backend's node table.
pub fn node_key_bytes(key: &NodeKey) -> Vec<u8> {
    borsh::to_vec(key).unwrap_or_default()
}

/// Serializes a node for a backend's node table.
pub fn node_bytes(node: &Node) -> Vec<u8> {
    borsh::to_vec(node).unwrap_or_default()
}

/// Decodes [`node_bytes`].
///
/// # Errors
/// [`StateError::Tree`] if the bytes are not a node.
pub fn node_from_bytes(bytes: &[u8]) -> Result<Node, StateError> {
    borsh::from_slice(bytes).map_err(|e| StateError::Tree(format!("stored tree node: {e}")))
}

/// Decodes [`node_key_bytes`].
///
/// # Errors
/// [`StateError::Tree`] if the bytes are not a node key.
pub fn node_key_from_bytes(bytes: &[u8]) -> Result<NodeKey, StateError> {
    borsh::from_slice(bytes).map_err(|e| StateError::Tree(format!("stored tree node key: {e}")))
}

/// Runs a tree operation, turning its errors and panics (jmt asserts on
/// inconsistent storage) into [`StateError::Tree`].
fn guarded<T>(what: &str, run: impl FnOnce() -> anyhow::Result<T>) -> Result<T, StateError> {
    match panic::catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => match e.downcast::<StateError>() {
            Ok(state) => Err(state),
            Err(e) => Err(StateError::Tree(format!("{what}: {e:#}"))),
        },
        Err(_) => Err(StateError::Tree(format!(
            "{what}: the Merkle tree found its stored nodes inconsistent"
        ))),
    }
}

/// Plans the tree update of one commit. `head` is the backend's current
/// head (`None` before the first change); `exists` says whether a piece of
/// state exists before the commit (deleting an absent key changes no leaf).
///
/// # Errors
/// A [`StateError`] if the backend cannot be read or its tree is damaged.
pub fn plan_commit(
    tables: &dyn TreeTables,
    head: Option<TreeHead>,
    changes: &ChangeSet,
    exists: &dyn Fn(&StateKey) -> Result<bool, StateError>,
) -> Result<TreeUpdate, StateError> {
    let mut leaves: BTreeMap<[u8; 32], (StateKey, Option<Vec<u8>>)> = BTreeMap::new();
    for (address, account) in changes.accounts() {
        let key = StateKey::Account(*address);
        leaves.insert(key.key_hash(), (key, Some(account.code_hash.to_vec())));
    }
    for (contract, key, change) in changes.iter() {
        let key = StateKey::Storage {
            contract: *contract,
            key: key.to_vec(),
        };
        if change.is_none() && !exists(&key)? {
            continue;
        }
        leaves.insert(key.key_hash(), (key, change.map(<[u8]>::to_vec)));
    }
    if leaves.is_empty() {
        return Ok(TreeUpdate::default());
    }
    let version = head.map_or(0, |h| h.version + 1);
    let reader = Reader(tables);
    let tree = Sha256Jmt::new(&reader);
    let value_set: Vec<(KeyHash, Option<OwnedValue>)> = leaves
        .iter()
        .map(|(hash, (_, value))| (KeyHash(*hash), value.clone()))
        .collect();
    let (root, batch) = guarded("commit", || tree.put_value_set(value_set, version))?;
    let mut update = TreeUpdate {
        head: Some(TreeHead {
            version,
            root: root.0,
        }),
        new_nodes: batch
            .node_batch
            .nodes()
            .iter()
            .map(|(k, n)| (k.clone(), n.clone()))
            .collect(),
        stale_nodes: batch
            .stale_node_index_batch
            .into_iter()
            .map(|s| s.node_key)
            .collect(),
        ..TreeUpdate::default()
    };
    for (hash, (key, value)) in leaves {
        match value {
            Some(_) => update.added.push((hash, key)),
            None => update.removed.push(hash),
        }
    }
    Ok(update)
}

/// A Merkle proof of one piece of state against a state root: its value
/// (or its absence) at the latest version.
#[derive(Debug, Serialize, Deserialize)]
pub struct StateProof {
    /// What is proved.
    pub key: StateKey,
    /// The value (an account's code hash, a storage value), or `None` for
    /// a proof of absence.
    pub value: Option<Vec<u8>>,
    /// The sparse Merkle proof (siblings from the leaf up).
    proof: jmt::proof::SparseMerkleProof<Sha256>,
}

impl StateProof {
    /// Checks the proof against `root`: `Ok` if `key` has `value` (or is
    /// absent, for `None`) in the state whose root is `root`.
    ///
    /// # Errors
    /// [`StateError::Tree`] naming why the proof does not hold.
    pub fn verify(&self, root: &[u8; 32]) -> Result<(), StateError> {
        let key_hash = KeyHash(self.key.key_hash());
        guarded("proof", || {
            self.proof
                .verify(jmt::RootHash(*root), key_hash, self.value.as_deref())
        })
    }

    /// The proof as bytes, the format the CLI prints as hex: the borsh
    /// encoding of ([`StateKey::to_bytes`], the value, the sparse Merkle
    /// proof).
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(&(self.key.to_bytes(), &self.value, &self.proof)).unwrap_or_default()
    }

    /// Decodes [`StateProof::to_bytes`].
    ///
    /// # Errors
    /// [`StateError::Tree`] if the bytes are not a proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<StateProof, StateError> {
        type Parts = (
            Vec<u8>,
            Option<Vec<u8>>,
            jmt::proof::SparseMerkleProof<Sha256>,
        );
        let (key, value, proof): Parts =
            borsh::from_slice(bytes).map_err(|e| StateError::Tree(format!("proof: {e}")))?;
        let key = StateKey::from_bytes(&key)
            .ok_or_else(|| StateError::Tree("proof: malformed state key".into()))?;
        Ok(StateProof { key, value, proof })
    }
}

/// A proof of `key` at the backend's latest version.
///
/// # Errors
/// A [`StateError`] if the backend cannot be read or its tree is damaged.
pub fn prove(
    tables: &dyn TreeTables,
    head: Option<TreeHead>,
    key: &StateKey,
) -> Result<StateProof, StateError> {
    let key_hash = KeyHash(key.key_hash());
    let (value, proof) = match head {
        // Before the first change the tree is one empty (null) root.
        None => {
            let reader = Reader(&EmptyTree);
            let tree = Sha256Jmt::new(&reader);
            guarded("proof", || tree.get_with_proof(key_hash, 0))?
        }
        Some(head) => {
            let reader = Reader(tables);
            let tree = Sha256Jmt::new(&reader);
            guarded("proof", || tree.get_with_proof(key_hash, head.version))?
        }
    };
    Ok(StateProof {
        key: key.clone(),
        value,
        proof,
    })
}
