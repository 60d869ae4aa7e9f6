//! [`Error`]: every way the embedding API can fail.
//!
//! A contract that fails (reverts, traps, runs out of gas) is not an error:
//! it is a [`crate::Receipt`] with that status, and part of the consensus
//! [`crate::Outcome`]. An `Error` is a failure of the host or of the
//! caller's request: nothing of the call was committed, and (for the
//! host-side ones, [`Error::is_host_failure`]) the same call may succeed
//! when retried.

use std::path::{Path, PathBuf};

use nativm_host_calls::state::StateError;
use nativm_vmm::{ElfError, VmmError};

/// Errors of the embedding API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A contract file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The verifier rejected the contract; the report names every violation.
    #[error("contract{} does not verify: {}", display_path(.path), .report.summary())]
    Rejected {
        /// The file, when the contract came from one.
        path: Option<PathBuf>,
        /// The full verification report.
        report: Box<nativm_verifier::Report>,
    },
    /// The contract verified but could not be translated into prepared code.
    #[error("cannot prepare the contract{}: {source}", display_path(.path))]
    Prepare {
        /// The file, when the contract came from one.
        path: Option<PathBuf>,
        /// What the translation could not do, and where.
        source: nativm_gas::TranslateError,
    },
    /// No contract with this code hash was deployed to the store.
    #[error("no contract with code hash {} is deployed in this state store", hex::encode(.code_hash))]
    NotDeployed {
        /// The code hash asked for (SHA-256 of the ELF).
        code_hash: [u8; 32],
    },
    /// No account exists at this address in the state store.
    #[error("no account at address {} in this state store (deploy a contract there first)", hex::encode(.address))]
    NoAccount {
        /// The address asked for.
        address: [u8; 32],
    },
    /// A block file is not JSON of the block schema
    /// ([`crate::Block::from_json`]).
    #[error("block file, line {line}, column {column}: {reason}")]
    BlockFile {
        /// Line of the error, 1-based (0: at the end of the input).
        line: usize,
        /// Column of the error, 1-based.
        column: usize,
        /// What is wrong there (serde_json's message).
        reason: String,
    },
    /// A field of one of a block's transactions is malformed.
    #[error("block: transaction {index}: `{field}` {reason}")]
    TransactionField {
        /// Index of the transaction in the block (0-based).
        index: usize,
        /// The field, e.g. `to` or `access_list[2]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// One of a block's transactions cannot run (no account at `to`, an
    /// unknown method, an input or gas limit beyond the limits): the block
    /// is refused before any transaction runs.
    #[error("block: transaction {index}: {source}")]
    TransactionRefused {
        /// Index of the transaction in the block (0-based).
        index: usize,
        /// Why it cannot run.
        source: Box<Error>,
    },
    /// A transaction of a block never ran to a receipt (its worker stopped):
    /// nothing of the block is committed.
    #[error("block: transaction {index} never ran (an executor worker stopped)")]
    BlockIncomplete {
        /// Index of the transaction in the block (0-based).
        index: usize,
    },
    /// The state store's code store holds an ELF under `code_hash` that
    /// does not hash to it: the store was damaged or tampered with. Nothing
    /// of it was run.
    #[error(
        "the ELF stored for code hash {} hashes to {}: the state store's code store is damaged or was tampered with",
        hex::encode(.code_hash),
        hex::encode(.actual)
    )]
    StoredCodeCorrupt {
        /// The code hash the ELF is stored under.
        code_hash: [u8; 32],
        /// SHA-256 of the bytes actually stored there.
        actual: [u8; 32],
    },
    /// The contract verified but the loader cannot map it.
    #[error("invalid contract{}: {source}", display_path(.path))]
    InvalidContract {
        /// The file, when the contract came from one.
        path: Option<PathBuf>,
        /// What is wrong, and where.
        source: ElfError,
    },
    /// The method is not exported by the contract.
    #[error("unknown method `{method}` (exported methods: {})", list(.exported))]
    UnknownMethod {
        /// The method asked for.
        method: String,
        /// The methods the contract exports, in name order.
        exported: Vec<String>,
    },
    /// The call's input is longer than [`nativm_abi::MAX_INPUT_LEN`].
    #[error("invalid call: input is {len} bytes, more than the {max} byte limit")]
    InputTooLarge {
        /// Length of the input, in bytes.
        len: u64,
        /// The limit, in bytes.
        max: u64,
    },
    /// The call's gas limit is above [`nativm_gas::MAX_GAS_LIMIT`].
    #[error("invalid call: gas limit {gas_limit} exceeds the maximum {max}")]
    GasLimitTooHigh {
        /// The gas limit asked for.
        gas_limit: u64,
        /// The maximum, in gas.
        max: u64,
    },
    /// The state store failed; nothing of the call was committed.
    #[error("state store: {0}")]
    State(#[from] StateError),
    /// The host failed while servicing a host call of `method` (e.g. the
    /// state store could not be read); nothing of the call was committed.
    #[error("host failure during `{method}` of {}, nothing committed: {message}", hex::encode(.code_hash))]
    HostCall {
        /// The method that was running.
        method: String,
        /// Code hash of the contract that was running.
        code_hash: [u8; 32],
        /// What failed, as the VMM reported it.
        message: String,
    },
    /// The call ran past its wall-clock limit and was stopped. This is a
    /// host-side failure of this execution, not a consensus outcome: how
    /// far a call gets in wall time depends on the machine and its load,
    /// so no [`crate::Outcome`] exists for it. Nothing was committed, the
    /// guest was discarded, and the caller may retry (with a longer limit,
    /// or elsewhere). Gas is what bounds a call deterministically.
    #[error(
        "host failure: `{method}` of {} ran past the wall-clock limit of {limit_ms} ms and was stopped; nothing committed, the call may be retried",
        hex::encode(.code_hash)
    )]
    Timeout {
        /// The wall-clock limit, in milliseconds.
        limit_ms: u64,
        /// The method that was running.
        method: String,
        /// Code hash of the contract that was running.
        code_hash: [u8; 32],
    },
    /// The [`crate::Executor`] will not deliver this call's receipt: every
    /// worker had stopped (a worker panicked) before one sent it.
    #[error("the executor shut down before running the call")]
    ExecutorShutDown,
    /// `nativm debug` cannot listen for GDB on the address given
    /// ([`crate::debug::debug_call`]).
    #[error("--gdb {addr}: cannot listen there: {source}")]
    DebugListen {
        /// The address asked for.
        addr: String,
        /// Why (not an address, in use, not permitted).
        source: std::io::Error,
    },
    /// An [`crate::Executor`] worker thread could not be started.
    #[error("cannot start executor worker {index}: {source}")]
    SpawnWorker {
        /// Index of the worker (0-based).
        index: usize,
        /// The error from the OS.
        source: std::io::Error,
    },
    /// An [`crate::Executor`] worker thread has stopped (it panicked), so a
    /// request addressed to it (e.g. [`crate::Executor::prewarm`]) cannot
    /// be served.
    #[error("executor worker {index} has stopped")]
    WorkerStopped {
        /// Index of the worker (0-based).
        index: usize,
    },
    /// The VMM failed (KVM unavailable, an ioctl failed).
    #[error(transparent)]
    Vmm(#[from] VmmError),
}

fn display_path(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl Error {
    /// Adds the contract file's path to errors that name a contract.
    pub fn with_path(self, path: &Path) -> Error {
        let path = Some(path.to_path_buf());
        match self {
            Error::InvalidContract { source, .. } => Error::InvalidContract { path, source },
            Error::Rejected { report, .. } => Error::Rejected { path, report },
            Error::Prepare { source, .. } => Error::Prepare { path, source },
            other => other,
        }
    }

    /// Whether this is a failure of the host (state store, KVM, wall-clock
    /// limit, executor) rather than of the request or the contract's code:
    /// the same request may succeed when retried.
    pub fn is_host_failure(&self) -> bool {
        matches!(
            self,
            Error::State(_)
                | Error::HostCall { .. }
                | Error::Timeout { .. }
                | Error::ExecutorShutDown
                | Error::SpawnWorker { .. }
                | Error::WorkerStopped { .. }
                | Error::BlockIncomplete { .. }
                | Error::StoredCodeCorrupt { .. }
                | Error::Vmm(_)
        )
    }
}
