//! [`RedbStore`]: the on-disk state backend, one redb database file.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use jmt::storage::{LeafNode, Node, NodeKey};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::tree::{self, StateKey, TreeHead, TreeTables};
use super::{
    Account, Address, ChangeSet, ContractId, Entry, StateError, StateProof, StateRead, StateStore,
};

/// Contract storage: `contract id (32 bytes) ++ key` -> value.
///
/// Since the contract id has a fixed length, byte order of the composite key is (contract id, key)
/// order, so one contract's entries are the contiguous range of keys starting with its id.
const STATE_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nativm_state_v1");

/// The code store: deployed contracts and artifacts, by key.
const CODE_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nativm_code_v1");

/// Accounts: address (32 bytes) -> code hash (32 bytes).
const ACCOUNT_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nativm_accounts_v1");

/// The state tree's nodes (latest version only): borsh node key -> borsh node.
const NODE_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nativm_tree_nodes_v1");

/// Leaf key hash (32 bytes) -> [`StateKey::to_bytes`] of the state it stands for.
const PREIMAGE_TABLE: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("nativm_tree_preimages_v1");

/// Small records: `b"tree_head"` -> [`TreeHead::to_bytes`].
const META_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nativm_meta_v1");

/// Key of the tree head in [`META_TABLE`].
const TREE_HEAD: &[u8] = b"tree_head";

/// Length of the contract-id prefix of every stored key, in bytes.
const PREFIX_LEN: usize = std::mem::size_of::<ContractId>();

/// Embedded on-disk state backend, the default: one [redb](https://docs.rs/redb) database file.
///
/// Every [`StateStore::commit`] is one durable redb write transaction (fsynced before it returns)
/// holding the state, the accounts and the state tree together, so committed state survives the
/// process, is seen by the next [`RedbStore::open`] of the same file, and a process killed in the
/// middle of a commit leaves the file at the state (and root) before it or after it, never
/// between. redb lets only one handle hold the file at a time: a second `open` while the first
/// `RedbStore` is alive fails with [`StateError::AlreadyOpen`]; open, drop, open is fine.
///
/// Every error names the file's path. A file damaged outside redb gives [`StateError::Corrupt`]
/// (never a panic out of this type), after which the store should be dropped.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl RedbStore {
    /// Opens the redb database at `path`, creating the file (and its tables) if it is missing
    /// or empty. The parent directory must exist. A file written before the state tree existed
    /// gets its tree built from its contents, once.
    ///
    /// # Errors
    /// * [`StateError::Io`] when the file cannot be opened or created (missing directory,
    ///   permissions, the path is a directory, ...);
    /// * [`StateError::Corrupt`] when the file is not a redb database, is damaged, or is in a redb
    ///   format this build cannot read;
    /// * [`StateError::AlreadyOpen`] when another handle (in this or another process) holds it;
    /// * [`StateError::Backend`] for other backend failures, e.g. the file is a redb database
    ///   whose state table has a different key or value type.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        guarded(path, "open", || Self::open_inner(path))
    }

    /// The path this store was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_inner(path: &Path) -> Result<Self, StateError> {
        let db = Database::create(path).map_err(|e| backend_error(path, "open", e))?;
        let store = Self {
            db,
            path: path.to_path_buf(),
        };
        store.ensure_tables()?;
        Ok(store)
    }

    /// Creates missing tables, and the tree of a file that has state but none.
    fn ensure_tables(&self) -> Result<(), StateError> {
        let err = |e: redb::Error| self.error("open", e);
        {
            let read = self.db.begin_read().map_err(|e| err(e.into()))?;
            let ready = [
                read.open_table(STATE_TABLE).map(|_| ()),
                read.open_table(ACCOUNT_TABLE).map(|_| ()),
                read.open_table(NODE_TABLE).map(|_| ()),
                read.open_table(PREIMAGE_TABLE).map(|_| ()),
                read.open_table(META_TABLE).map(|_| ()),
            ];
            let mut all = true;
            for r in ready {
                match r {
                    Ok(()) => {}
                    Err(redb::TableError::TableDoesNotExist(_)) => all = false,
                    Err(e) => return Err(err(e.into())),
                }
            }
            if all {
                return Ok(());
            }
        }
        let write = self.db.begin_write().map_err(|e| err(e.into()))?;
        let mut existing = ChangeSet::new();
        {
            let state = write.open_table(STATE_TABLE).map_err(|e| err(e.into()))?;
            for item in state.iter().map_err(|e| err(e.into()))? {
                let (key, value) = item.map_err(|e| err(e.into()))?;
                let key = key.value();
                if key.len() >= PREFIX_LEN {
                    let mut contract = [0; PREFIX_LEN];
                    contract.copy_from_slice(&key[..PREFIX_LEN]);
                    existing.write(contract, key[PREFIX_LEN..].to_vec(), value.value().to_vec());
                }
            }
            for table in [ACCOUNT_TABLE, NODE_TABLE, PREIMAGE_TABLE, META_TABLE] {
                write.open_table(table).map_err(|e| err(e.into()))?;
            }
        }
        if !existing.is_empty() {
            self.apply(&write, &existing, "open")?;
        }
        write.commit().map_err(|e| err(e.into()))
    }

    fn error(&self, operation: &'static str, error: impl Into<redb::Error>) -> StateError {
        backend_error(&self.path, operation, error)
    }

    /// Writes `changes` and the tree update they make into `write`.
    fn apply(
        &self,
        write: &WriteTransaction,
        changes: &ChangeSet,
        operation: &'static str,
    ) -> Result<(), StateError> {
        let err = |e: redb::Error| self.error(operation, e);
        let update = {
            let tables = Tables {
                state: write.open_table(STATE_TABLE).map_err(|e| err(e.into()))?,
                accounts: write.open_table(ACCOUNT_TABLE).map_err(|e| err(e.into()))?,
                nodes: write.open_table(NODE_TABLE).map_err(|e| err(e.into()))?,
                preimages: write
                    .open_table(PREIMAGE_TABLE)
                    .map_err(|e| err(e.into()))?,
                meta: write.open_table(META_TABLE).map_err(|e| err(e.into()))?,
                path: &self.path,
            };
            let head = tables.head()?;
            let exists = |k: &StateKey| Ok(tables.value(k)?.is_some());
            tree::plan_commit(&tables, head, changes, &exists)?
        };
        let mut state = write.open_table(STATE_TABLE).map_err(|e| err(e.into()))?;
        for (contract, key, change) in changes.iter() {
            let full_key = composite_key(contract, key);
            match change {
                Some(value) => state.insert(full_key.as_slice(), value).map(|_| ()),
                None => state.remove(full_key.as_slice()).map(|_| ()),
            }
            .map_err(|e| err(e.into()))?;
        }
        let mut accounts = write.open_table(ACCOUNT_TABLE).map_err(|e| err(e.into()))?;
        for (address, account) in changes.accounts() {
            accounts
                .insert(&address[..], &account.code_hash[..])
                .map_err(|e| err(e.into()))?;
        }
        let mut nodes = write.open_table(NODE_TABLE).map_err(|e| err(e.into()))?;
        for key in &update.stale_nodes {
            nodes
                .remove(tree::node_key_bytes(key).as_slice())
                .map_err(|e| err(e.into()))?;
        }
        for (key, node) in &update.new_nodes {
            nodes
                .insert(
                    tree::node_key_bytes(key).as_slice(),
                    tree::node_bytes(node).as_slice(),
                )
                .map_err(|e| err(e.into()))?;
        }
        let mut preimages = write
            .open_table(PREIMAGE_TABLE)
            .map_err(|e| err(e.into()))?;
        for hash in &update.removed {
            preimages.remove(&hash[..]).map_err(|e| err(e.into()))?;
        }
        for (hash, key) in &update.added {
            preimages
                .insert(&hash[..], key.to_bytes().as_slice())
                .map_err(|e| err(e.into()))?;
        }
        if let Some(head) = update.head {
            let mut meta = write.open_table(META_TABLE).map_err(|e| err(e.into()))?;
            meta.insert(TREE_HEAD, &head.to_bytes()[..])
                .map_err(|e| err(e.into()))?;
        }
        Ok(())
    }

    /// Runs `read` over the tables of a read transaction.
    fn with_read_tables<T>(
        &self,
        operation: &'static str,
        read: impl FnOnce(
            &Tables<'_, redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
        ) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let err = |e: redb::Error| self.error(operation, e);
        let txn = self.db.begin_read().map_err(|e| err(e.into()))?;
        let tables = Tables {
            state: txn.open_table(STATE_TABLE).map_err(|e| err(e.into()))?,
            accounts: txn.open_table(ACCOUNT_TABLE).map_err(|e| err(e.into()))?,
            nodes: txn.open_table(NODE_TABLE).map_err(|e| err(e.into()))?,
            preimages: txn.open_table(PREIMAGE_TABLE).map_err(|e| err(e.into()))?,
            meta: txn.open_table(META_TABLE).map_err(|e| err(e.into()))?,
            path: &self.path,
        };
        read(&tables)
    }
}

/// The tables of one transaction, as the state tree reads them.
struct Tables<'p, T> {
    state: T,
    accounts: T,
    nodes: T,
    preimages: T,
    meta: T,
    path: &'p Path,
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> Tables<'_, T> {
    fn error(&self, operation: &'static str, error: impl Into<redb::Error>) -> StateError {
        backend_error(self.path, operation, error)
    }

    fn read(&self, table: &T, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let value = table.get(key).map_err(|e| self.error("read", e))?;
        Ok(value.map(|guard| guard.value().to_vec()))
    }

    fn head(&self) -> Result<Option<TreeHead>, StateError> {
        match self.read(&self.meta, TREE_HEAD)? {
            None => Ok(None),
            Some(bytes) => TreeHead::from_bytes(&bytes)
                .map(Some)
                .ok_or_else(|| StateError::Tree("the stored tree head is malformed".into())),
        }
    }

    fn value(&self, key: &StateKey) -> Result<Option<Vec<u8>>, StateError> {
        match key {
            StateKey::Account(address) => self.read(&self.accounts, address),
            StateKey::Storage { contract, key } => {
                self.read(&self.state, &composite_key(contract, key))
            }
        }
    }
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> TreeTables for Tables<'_, T> {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, StateError> {
        self.read(&self.nodes, &tree::node_key_bytes(key))?
            .map(|bytes| tree::node_from_bytes(&bytes))
            .transpose()
    }

    fn leaf_value(&self, key_hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StateError> {
        match self.read(&self.preimages, key_hash)? {
            None => Ok(None),
            Some(bytes) => match StateKey::from_bytes(&bytes) {
                Some(key) => self.value(&key),
                None => Err(StateError::Tree(
                    "a stored leaf preimage is malformed".into(),
                )),
            },
        }
    }

    fn leaves(&self) -> Result<Vec<(NodeKey, LeafNode)>, StateError> {
        let mut out = Vec::new();
        for item in self.nodes.iter().map_err(|e| self.error("read", e))? {
            let (key, node) = item.map_err(|e| self.error("read", e))?;
            if let Node::Leaf(leaf) = tree::node_from_bytes(node.value())? {
                out.push((tree::node_key_from_bytes(key.value())?, leaf));
            }
        }
        Ok(out)
    }
}

impl StateRead for RedbStore {
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        guarded(&self.path, "get", || {
            self.with_read_tables("get", |t| t.read(&t.state, &composite_key(contract, key)))
        })
    }

    fn account(&self, address: &Address) -> Result<Option<Account>, StateError> {
        guarded(&self.path, "account", || {
            self.with_read_tables("account", |t| {
                Ok(t.read(&t.accounts, address)?
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
                    .map(|code_hash| Account { code_hash }))
            })
        })
    }
}

impl StateStore for RedbStore {
    fn commit(&self, changes: &ChangeSet) -> Result<(), StateError> {
        if changes.is_empty() {
            return Ok(());
        }
        guarded(&self.path, "commit", || {
            let write = self.db.begin_write().map_err(|e| self.error("commit", e))?;
            self.apply(&write, changes, "commit")?;
            write.commit().map_err(|e| self.error("commit", e))
        })
    }

    fn root(&self) -> Result<[u8; 32], StateError> {
        guarded(&self.path, "root", || {
            self.with_read_tables("root", |t| {
                Ok(t.head()?.map_or(tree::EMPTY_ROOT, |h| h.root))
            })
        })
    }

    fn prove(&self, key: &StateKey) -> Result<StateProof, StateError> {
        guarded(&self.path, "prove", || {
            self.with_read_tables("prove", |t| tree::prove(t, t.head()?, key))
        })
    }

    fn accounts(&self) -> Result<Vec<(Address, Account)>, StateError> {
        guarded(&self.path, "accounts", || {
            self.with_read_tables("accounts", |t| {
                let mut out = Vec::new();
                for item in t.accounts.iter().map_err(|e| t.error("accounts", e))? {
                    let (address, code_hash) = item.map_err(|e| t.error("accounts", e))?;
                    if let (Ok(address), Ok(code_hash)) = (
                        <[u8; 32]>::try_from(address.value()),
                        <[u8; 32]>::try_from(code_hash.value()),
                    ) {
                        out.push((address, Account { code_hash }));
                    }
                }
                Ok(out)
            })
        })
    }

    fn contracts(&self) -> Result<Vec<ContractId>, StateError> {
        guarded(&self.path, "contracts", || {
            self.with_read_tables("contracts", |t| {
                let mut out: Vec<ContractId> = Vec::new();
                let mut next: Option<Vec<u8>> = Some(Vec::new());
                // Skip from one contract's range to the next: one seek per contract.
                while let Some(start) = next.take() {
                    let mut range = t
                        .state
                        .range(start.as_slice()..)
                        .map_err(|e| t.error("contracts", e))?;
                    let Some(item) = range.next() else { break };
                    let (key, _) = item.map_err(|e| t.error("contracts", e))?;
                    let Ok(contract) =
                        <[u8; 32]>::try_from(&key.value()[..PREFIX_LEN.min(key.value().len())])
                    else {
                        break;
                    };
                    out.push(contract);
                    next = successor(&contract).map(|c| c.to_vec());
                }
                Ok(out)
            })
        })
    }

    fn entries(&self, contract: &ContractId) -> Result<Vec<Entry>, StateError> {
        guarded(&self.path, "entries", || {
            self.with_read_tables("entries", |t| {
                let start: &[u8] = contract;
                let range = t.state.range(start..).map_err(|e| t.error("entries", e))?;
                let mut out = Vec::new();
                for item in range {
                    let (key, value) = item.map_err(|e| t.error("entries", e))?;
                    let key = key.value();
                    if !key.starts_with(contract) {
                        break;
                    }
                    out.push((key[PREFIX_LEN..].to_vec(), value.value().to_vec()));
                }
                Ok(out)
            })
        })
    }

    fn get_code(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        guarded(&self.path, "get_code", || {
            let read = self
                .db
                .begin_read()
                .map_err(|e| self.error("get_code", e))?;
            let table = match read.open_table(CODE_TABLE) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(self.error("get_code", e)),
            };
            let value = table.get(key).map_err(|e| self.error("get_code", e))?;
            Ok(value.map(|guard| guard.value().to_vec()))
        })
    }

    fn put_code(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        guarded(&self.path, "put_code", || {
            let write = self
                .db
                .begin_write()
                .map_err(|e| self.error("put_code", e))?;
            {
                let mut table = write
                    .open_table(CODE_TABLE)
                    .map_err(|e| self.error("put_code", e))?;
                table
                    .insert(key, value)
                    .map_err(|e| self.error("put_code", e))?;
            }
            write.commit().map_err(|e| self.error("put_code", e))
        })
    }
}

/// The smallest 32-byte id greater than `id` (`None` after all 0xff).
fn successor(id: &ContractId) -> Option<ContractId> {
    let mut next = *id;
    for byte in next.iter_mut().rev() {
        if *byte == 0xff {
            *byte = 0;
        } else {
            *byte += 1;
            return Some(next);
        }
    }
    None
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// `contract ++ key`, the stored key.
fn composite_key(contract: &ContractId, key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(PREFIX_LEN + key.len());
    full.extend_from_slice(contract);
    full.extend_from_slice(key);
    full
}

/// Maps a redb error to a [`StateError`] naming `path`.
fn backend_error(
    path: &Path,
    operation: &'static str,
    error: impl Into<redb::Error>,
) -> StateError {
    let path = path.to_path_buf();
    match error.into() {
        // redb reports a foreign file ("magic number mismatch") as `InvalidData`, and a file
        // shorter than its header claims as `UnexpectedEof`: both mean the file is not usable.
        redb::Error::Io(source) if source.kind() == std::io::ErrorKind::InvalidData => {
            StateError::Corrupt {
                path,
                detail: source.to_string(),
            }
        }
        redb::Error::Io(source) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            StateError::Corrupt {
                path,
                detail: format!("file is truncated ({source})"),
            }
        }
        redb::Error::Io(source) => StateError::Io { path, source },
        redb::Error::DatabaseAlreadyOpen => StateError::AlreadyOpen { path },
        redb::Error::Corrupted(detail) => StateError::Corrupt { path, detail },
        redb::Error::UpgradeRequired(version) => StateError::Corrupt {
            path,
            detail: format!(
                "file format version {version} is not supported by this build's redb; \
                 upgrade the file first"
            ),
        },
        other => StateError::Backend {
            path,
            operation,
            detail: other.to_string(),
        },
    }
}

/// Runs one store operation, turning a panic inside redb into [`StateError::Corrupt`].
///
/// redb reports a malformed header as an error, but trusts the pages of a file whose header checks
/// out and may panic on damage past it (a file edited or truncated outside redb). A damaged state
/// file must not take the host down, so every operation runs under `catch_unwind` (free when
/// nothing panics; it needs the default `panic = "unwind"`). The panic message is still printed by
/// the panic hook. After such an error the store should be dropped.
fn guarded<T>(
    path: &Path,
    operation: &'static str,
    run: impl FnOnce() -> Result<T, StateError>,
) -> Result<T, StateError> {
    panic::catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        Err(StateError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "redb panicked during {operation} (damaged file?): {}",
                panic_message(&*payload)
            ),
        })
    })
}

/// The text of a panic payload, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{conformance, Overlay};
    use std::io::Write;

    const A: ContractId = [0x11; 32];
    const B: ContractId = [0x22; 32];

    fn temp_db() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        (dir, path)
    }

    #[test]
    fn conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        conformance::run_all(&|| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.path().join(format!("state-{n}.redb"));
            Box::new(RedbStore::open(&path).unwrap())
        });
    }

    #[test]
    fn open_creates_missing_file() {
        let (_dir, path) = temp_db();
        assert!(!path.exists());
        let store = RedbStore::open(&path).unwrap();
        assert!(path.exists());
        assert_eq!(store.path(), path);
        assert_eq!(store.entries(&A).unwrap(), vec![]);
        assert_eq!(store.get(&A, b"k").unwrap(), None);
        assert!(format!("{store:?}").contains("state.redb"));
    }

    #[test]
    fn open_accepts_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.redb");
        std::fs::File::create(&path).unwrap();
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.get(&A, b"k").unwrap(), None);
    }

    #[test]
    fn commits_persist_across_reopen() {
        let (_dir, path) = temp_db();
        {
            let store = RedbStore::open(&path).unwrap();
            let mut overlay = Overlay::new(&store);
            overlay.write(&A, b"counter", &7u64.to_le_bytes());
            overlay.write(&A, b"gone", b"soon");
            overlay.write(&B, b"counter", b"other contract");
            store.commit(&overlay.into_changes()).unwrap();
        }
        {
            let store = RedbStore::open(&path).unwrap();
            assert_eq!(
                store.get(&A, b"counter").unwrap(),
                Some(7u64.to_le_bytes().to_vec())
            );
            let mut overlay = Overlay::new(&store);
            assert!(overlay.remove(&A, b"gone").unwrap());
            overlay.write(&A, b"counter", &8u64.to_le_bytes());
            store.commit(&overlay.into_changes()).unwrap();
            // An uncommitted overlay must not persist.
            let mut discarded = Overlay::new(&store);
            discarded.write(&A, b"uncommitted", b"x");
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(
            store.entries(&A).unwrap(),
            vec![(b"counter".to_vec(), 8u64.to_le_bytes().to_vec())]
        );
        assert_eq!(
            store.entries(&B).unwrap(),
            vec![(b"counter".to_vec(), b"other contract".to_vec())]
        );
    }

    #[test]
    fn second_concurrent_open_is_already_open() {
        let (_dir, path) = temp_db();
        let _first = RedbStore::open(&path).unwrap();
        let err = RedbStore::open(&path).unwrap_err();
        assert!(matches!(err, StateError::AlreadyOpen { .. }), "{err:?}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }

    fn assert_rejected(contents: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-db.bin");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(contents)
            .unwrap();
        let err = RedbStore::open(&path).unwrap_err();
        let text = err.to_string();
        eprintln!("rejected: {text}");
        assert!(
            text.contains(&*path.to_string_lossy()),
            "error must name the path: {text}"
        );
        assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
        // The file is left as it was.
        assert_eq!(std::fs::read(&path).unwrap(), contents);
    }

    #[test]
    fn rejects_short_text_file() {
        assert_rejected(b"hello, this is not a database\n");
    }

    #[test]
    fn rejects_large_non_redb_file() {
        assert_rejected(&[0x42; 64 * 1024]);
    }

    #[test]
    fn rejects_file_of_zeros() {
        assert_rejected(&[0; 8192]);
    }

    #[test]
    fn rejects_truncated_redb_file() {
        let (_dir, path) = temp_db();
        {
            let store = RedbStore::open(&path).unwrap();
            let mut set = ChangeSet::new();
            set.write(A, b"k".to_vec(), vec![0x5a; 10_000]);
            store.commit(&set).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        // Keep the header's magic number but cut the rest short.
        assert_rejected(&bytes[..64]);
    }

    /// Damage a real state file at spread-out offsets (header and pages alike): every operation
    /// must return `Ok` or an error naming the path, never panic out of the store.
    #[test]
    fn damaged_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.redb");
        {
            let store = RedbStore::open(&good).unwrap();
            let mut set = ChangeSet::new();
            for i in 0u32..200 {
                set.write(A, i.to_be_bytes().to_vec(), vec![i as u8; 300]);
            }
            store.commit(&set).unwrap();
        }
        let bytes = std::fs::read(&good).unwrap();
        let path = dir.path().join("damaged.redb");
        let path_text = path.to_string_lossy().into_owned();
        let check = |result: Result<(), StateError>| {
            if let Err(err) = result {
                assert!(err.to_string().contains(&path_text), "{err}");
            }
        };
        let header_offsets = (0..4096).step_by(61);
        let page_offsets = (4096..bytes.len()).step_by(4093);
        let mut errors = 0;
        for offset in header_offsets.chain(page_offsets) {
            let mut damaged = bytes.clone();
            for byte in &mut damaged[offset..(offset + 16).min(bytes.len())] {
                *byte ^= 0x5a;
            }
            std::fs::write(&path, &damaged).unwrap();
            let store = match RedbStore::open(&path) {
                Ok(store) => store,
                Err(err) => {
                    errors += 1;
                    check(Err(err));
                    continue;
                }
            };
            check(store.get(&A, &7u32.to_be_bytes()).map(drop));
            check(store.entries(&A).map(drop));
            let mut set = ChangeSet::new();
            set.write(B, b"k".to_vec(), b"v".to_vec());
            check(store.commit(&set));
        }
        // Damage to the header and allocator state must have been noticed somewhere.
        assert!(errors > 0);
    }

    #[test]
    fn open_of_directory_is_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = RedbStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StateError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(&*dir.path().to_string_lossy()));
    }

    #[test]
    fn open_in_missing_directory_is_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/state.redb");
        let err = RedbStore::open(&path).unwrap_err();
        assert!(matches!(err, StateError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("no/such/dir/state.redb"), "{err}");
    }

    #[test]
    fn rejects_redb_file_with_mismatched_table_type() {
        let (_dir, path) = temp_db();
        {
            let db = Database::create(&path).unwrap();
            let write = db.begin_write().unwrap();
            let other: TableDefinition<u64, u64> = TableDefinition::new("nativm_state_v1");
            write.open_table(other).unwrap().insert(1, 2).unwrap();
            write.commit().unwrap();
        }
        let err = RedbStore::open(&path).unwrap_err();
        assert!(matches!(err, StateError::Backend { .. }), "{err:?}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }

    #[test]
    fn entries_scan_stops_at_prefix_boundary() {
        let (_dir, path) = temp_db();
        let store = RedbStore::open(&path).unwrap();
        let low = [0x00; 32];
        let mut mid = [0x00; 32];
        mid[31] = 1;
        let high = [0xff; 32];
        let mut set = ChangeSet::new();
        // Keys of `low` that, appended to its id, sort just below and around `mid`'s id.
        set.write(low, vec![0xff; 4], b"low-ff".to_vec());
        set.write(low, Vec::new(), b"low-empty".to_vec());
        set.write(mid, Vec::new(), b"mid-empty".to_vec());
        set.write(mid, vec![0x00], b"mid-00".to_vec());
        set.write(high, vec![0xff], b"high".to_vec());
        store.commit(&set).unwrap();
        assert_eq!(
            store.entries(&low).unwrap(),
            vec![
                (Vec::new(), b"low-empty".to_vec()),
                (vec![0xff; 4], b"low-ff".to_vec())
            ]
        );
        assert_eq!(
            store.entries(&mid).unwrap(),
            vec![
                (Vec::new(), b"mid-empty".to_vec()),
                (vec![0x00], b"mid-00".to_vec())
            ]
        );
        assert_eq!(
            store.entries(&high).unwrap(),
            vec![(vec![0xff], b"high".to_vec())]
        );
    }

    #[test]
    fn empty_commit_does_not_write_the_file() {
        let (_dir, path) = temp_db();
        let store = RedbStore::open(&path).unwrap();
        let mut set = ChangeSet::new();
        set.write(A, b"k".to_vec(), b"v".to_vec());
        store.commit(&set).unwrap();
        let before = std::fs::read(&path).unwrap();
        for _ in 0..10 {
            store.commit(&ChangeSet::new()).unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RedbStore>();
    }
}
