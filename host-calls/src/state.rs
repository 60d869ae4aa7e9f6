//! Contract state: a committed key-value store partitioned per contract, and the per-call write
//! buffer in front of it.
//!
//! # Model
//!
//! * Every contract, named by a 32-byte [`ContractId`], owns its own key space: the same key under
//!   two contract ids names two unrelated entries.
//! * Keys and values are arbitrary byte strings. The store itself imposes no length limits; the
//!   host-call layer enforces the ABI's limits ([`nativm_abi::limits::MAX_KEY_LEN`], 1 KiB, and
//!   [`nativm_abi::limits::MAX_VALUE_LEN`], 1 MiB) before anything gets here.
//! * A [`StateStore`] holds *committed* state. A call never writes it directly: it works through an
//!   [`Overlay`], which buffers writes and removals in a [`ChangeSet`] and answers reads from that
//!   buffer first. When the call succeeds the caller commits [`Overlay::into_changes`] with
//!   [`StateStore::commit`], which applies the whole set atomically; when it fails the overlay is
//!   simply dropped and the store is untouched.
//!
//! # Backends
//!
//! * [`RedbStore`], the default: one [redb](https://docs.rs/redb) database file, durable across
//!   processes.
//! * [`MemoryStore`]: a `BTreeMap` behind a lock, for tests and throwaway runs.

mod changes;
mod memory;
mod overlay;
mod redb_store;
pub mod tree;

#[cfg(test)]
mod conformance;

use std::path::PathBuf;

pub use changes::ChangeSet;
pub use memory::MemoryStore;
pub use overlay::Overlay;
pub use redb_store::RedbStore;
pub use tree::{StateKey, StateProof, EMPTY_ROOT};

/// 32-byte identity of a contract's key space: the address of an account,
/// or the code hash of a contract run without an account (`nativm run
/// CONTRACT.elf`, `Engine::call` of a `Module`). Partitions the state store.
pub type ContractId = [u8; 32];

/// 32-byte address of an account (see `nativm::address` for how it is
/// derived).
pub type Address = [u8; 32];

/// The record of an account: the code it runs. Part of the state root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account {
    /// SHA-256 of the contract's ELF (its code store key).
    pub code_hash: [u8; 32],
}

/// One stored pair, `(key, value)`, as listed by [`StateStore::entries`].
pub type Entry = (Vec<u8>, Vec<u8>);

/// Why a state store operation failed.
///
/// [`MemoryStore`] never fails; every variant comes from [`RedbStore`] and names its file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state file could not be opened, created, read or written at the OS level
    /// (missing directory, permissions, disk full, the path is a directory, ...).
    #[error("state file {}: I/O error: {source}", path.display())]
    Io {
        /// Path of the state file.
        path: PathBuf,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is held open for writing by another process (or by another `RedbStore`
    /// in this process); redb allows only one writer handle per file.
    #[error("state file {} is already open by another process or handle", path.display())]
    AlreadyOpen {
        /// Path of the state file.
        path: PathBuf,
    },
    /// The file exists but is not a redb database, is damaged, or was written by an
    /// incompatible redb version.
    #[error("state file {} is not a usable redb database: {detail}", path.display())]
    Corrupt {
        /// Path of the state file.
        path: PathBuf,
        /// What the backend reported.
        detail: String,
    },
    /// The Merkle tree of the state root could not be read or updated (a
    /// damaged state file), or a proof did not hold; the text says which.
    #[error("state tree: {0}")]
    Tree(String),
    /// Any other failure reported by the storage backend.
    #[error("state file {}: {operation} failed: {detail}", path.display())]
    Backend {
        /// Path of the state file.
        path: PathBuf,
        /// The store operation that failed, e.g. `"commit"`.
        operation: &'static str,
        /// What the backend reported.
        detail: String,
    },
}

/// Read access to state: what a call sees. Implemented by every
/// [`StateStore`] (committed state) and by an [`Overlay`] (committed state
/// plus the buffered changes of the calls in progress), so overlays nest.
pub trait StateRead {
    /// Reads the value of `key` in `contract`'s key space. `Ok(None)` when absent.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// The account at `address`, if one was created. `Ok(None)` when absent.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn account(&self, address: &Address) -> Result<Option<Account>, StateError>;

    /// The value of one piece of state as the tree holds it: an account's
    /// code hash (32 bytes) or a storage value; `Ok(None)` when absent.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn value_of(&self, key: &StateKey) -> Result<Option<Vec<u8>>, StateError> {
        match key {
            StateKey::Account(address) => Ok(self.account(address)?.map(|a| a.code_hash.to_vec())),
            StateKey::Storage { contract, key } => self.get(contract, key),
        }
    }
}

/// A committed key-value store, partitioned per contract, with account
/// records and an authenticated state root (a Jellyfish Merkle tree, see
/// [`tree`]).
///
/// Implementations are shared between threads (`Send + Sync`); every method takes `&self`.
/// An embedder's backend implements it by storing the state, the accounts, and the tree's
/// nodes and leaf preimages, and calling [`tree::plan_commit`] in [`StateStore::commit`]
/// (as [`MemoryStore`] and [`RedbStore`] do); the conformance tests in this crate describe
/// the behaviour expected.
pub trait StateStore: StateRead + Send + Sync {
    /// Applies a whole change set atomically, with the state tree: either every write, removal
    /// and account creation lands and the root becomes the root of the new contents, or (on
    /// error) none does. Later readers see either all of it or none of it. Removing an absent
    /// key is not an error. Committing an empty change set is a cheap no-op.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot write; the store is then unchanged.
    fn commit(&self, changes: &ChangeSet) -> Result<(), StateError>;

    /// The state root: 32 bytes that commit to every account and every storage entry
    /// ([`EMPTY_ROOT`] for an empty store). Equal contents give equal roots in every backend.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn root(&self) -> Result<[u8; 32], StateError>;

    /// A Merkle proof of `key`'s value, or of its absence, against [`StateStore::root`].
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read or its tree is damaged.
    fn prove(&self, key: &StateKey) -> Result<StateProof, StateError>;

    /// Every account, in ascending address order.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn accounts(&self) -> Result<Vec<(Address, Account)>, StateError>;

    /// Every contract id that has storage, in ascending order.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn contracts(&self) -> Result<Vec<ContractId>, StateError>;

    /// All `(key, value)` pairs of one contract, in ascending byte order of the key (for tests
    /// and state dumps). Empty when the contract has no state.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn entries(&self, contract: &ContractId) -> Result<Vec<Entry>, StateError>;

    /// Reads a blob of the *code store*, a key space apart from every
    /// contract's storage that holds deployed contracts and their prepared
    /// images. `Ok(None)` when absent.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn get_code(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Writes a blob of the code store, durably and at once (it is not part
    /// of any call's change set).
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot write; the store is then unchanged.
    fn put_code(&self, key: &[u8], value: &[u8]) -> Result<(), StateError>;
}
