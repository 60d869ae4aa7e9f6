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

#[cfg(test)]
mod conformance;

use std::path::PathBuf;

pub use changes::ChangeSet;
pub use memory::MemoryStore;
pub use overlay::Overlay;
pub use redb_store::RedbStore;

/// 32-byte identity of a contract (its code hash, or an address). Partitions the state store.
pub type ContractId = [u8; 32];

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

/// A committed key-value store, partitioned per contract.
///
/// Implementations are shared between threads (`Send + Sync`); every method takes `&self`.
pub trait StateStore: Send + Sync {
    /// Reads the value of `key` in `contract`'s key space. `Ok(None)` when absent.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot be read.
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Applies a whole change set atomically: either every write and removal lands, or (on
    /// error) none does. Later readers see either all of it or none of it. Removing an absent
    /// key is not an error. Committing an empty change set is a cheap no-op.
    ///
    /// # Errors
    /// A [`StateError`] when the backend cannot write; the store is then unchanged.
    fn commit(&self, changes: &ChangeSet) -> Result<(), StateError>;

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
