//! [`StateDb`]: the state database: committed contract state and the
//! code store, over a [`StateStore`] backend.

use std::path::Path;

use nativm_host_calls::state::{ContractId, Entry, MemoryStore, RedbStore, StateStore};

use crate::Error;

/// The state database: committed accounts, storage per contract and the
/// state root, the code store of deployed contracts and their artifacts,
/// and the commit lock that serializes concurrent calls' commits. Shared
/// by every call and block that runs on it (not a per-call store: a
/// call's uncommitted changes live in its receipt until committed).
pub struct StateDb {
    pub(crate) backend: Box<dyn StateStore>,
    /// Held while a call's reads are checked and its changes committed
    /// ([`crate::Engine::call`]), so that check and commit are one step.
    pub(crate) commit_lock: std::sync::Mutex<()>,
}

impl StateDb {
    /// A store that lives in memory and is lost when dropped.
    pub fn in_memory() -> StateDb {
        StateDb::with_backend(Box::new(MemoryStore::new()))
    }

    /// Opens (or creates) a redb database file; what one process commits,
    /// the next one that opens the file sees.
    ///
    /// Errors: [`Error::State`] naming the path if it cannot be opened or is
    /// not a redb database.
    pub fn open(path: impl AsRef<Path>) -> Result<StateDb, Error> {
        Ok(StateDb::with_backend(Box::new(RedbStore::open(
            path.as_ref(),
        )?)))
    }

    /// A store over any backend, e.g. one shared with other code that
    /// reads the same state.
    ///
    /// ```no_run
    /// use nativm::{MemoryStore, RedbStore, StateStore, StateDb};
    /// let backend: Box<dyn StateStore> = if std::env::var_os("IN_MEMORY").is_some() {
    ///     Box::new(MemoryStore::new())
    /// } else {
    ///     Box::new(RedbStore::open(std::path::Path::new("state.redb"))?)
    /// };
    /// let store = StateDb::with_backend(backend);
    /// assert!(store.entries(&[0u8; 32])?.is_empty());
    /// # Ok::<(), nativm::Error>(())
    /// ```
    pub fn with_backend(backend: Box<dyn StateStore>) -> StateDb {
        StateDb {
            backend,
            commit_lock: std::sync::Mutex::new(()),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &dyn StateStore {
        self.backend.as_ref()
    }

    /// Reads one committed key of a contract.
    ///
    /// Errors: [`Error::State`] if the backend fails.
    pub fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.backend.get(contract, key)?)
    }

    /// All committed (key, value) pairs of a contract, in key order.
    ///
    /// Errors: [`Error::State`] if the backend fails.
    pub fn entries(&self, contract: &ContractId) -> Result<Vec<Entry>, Error> {
        Ok(self.backend.entries(contract)?)
    }
}
