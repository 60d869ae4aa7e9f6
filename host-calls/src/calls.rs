//! Contract-to-contract calls: the interface through which [`CallContext`]
//! (servicing host call `nativm_abi::hostcall::CALL`) asks its embedder to
//! run a nested call, and what comes back.
//!
//! The host-call layer checks and charges the call and keeps the nested
//! overlays (a callee's writes join the caller's only if it ends `ok`); the
//! embedder (`nativm`'s engine) finds the callee's code and runs it in a
//! guest of its own. See [`nativm_abi::contract_call`] for the descriptor,
//! the statuses and the depth limit.
//!
//! [`CallContext`]: crate::CallContext

use crate::state::{Address, ChangeSet, ContractId, StateRead};

/// One nested call, as the caller's host call described it (already
/// checked against the ABI's limits).
pub struct NestedCall<'a> {
    /// The calling contract (the callee's `caller()`).
    pub caller: ContractId,
    /// The callee's address.
    pub to: Address,
    /// The method to run.
    pub method: String,
    /// Its input (at most `nativm_abi::MAX_INPUT_LEN` bytes).
    pub input: Vec<u8>,
    /// The callee's gas limit (at most the caller's gas left).
    pub gas_limit: u64,
    /// Frames on the call stack once the callee runs (the outermost call is
    /// frame 1, so a direct callee has depth 2); at most
    /// `nativm_abi::contract_call::MAX_CALL_DEPTH`.
    pub depth: u64,
    /// The state the callee sees: the caller's overlay (committed state
    /// plus every change of the enclosing calls so far).
    pub state: &'a dyn StateRead,
}

/// What a nested call did.
#[derive(Debug, Default)]
pub struct NestedOutcome {
    /// A `nativm_abi::contract_call` status.
    pub status: u64,
    /// The callee's return data (empty unless it ended `ok`).
    pub return_data: Vec<u8>,
    /// Gas the callee used (its whole limit if it ran out), at most its
    /// limit.
    pub gas_used: u64,
    /// Its buffered state changes (empty unless it ended `ok`).
    pub changes: ChangeSet,
    /// Its log entries (empty unless it ended `ok`).
    pub logs: Vec<Vec<u8>>,
    /// VM exits of the callee and its own nested calls.
    pub vm_exits: u64,
}

impl NestedOutcome {
    /// An outcome where nothing ran: `status` and no gas used.
    pub fn refused(status: u64) -> NestedOutcome {
        NestedOutcome {
            status,
            ..NestedOutcome::default()
        }
    }
}

/// Why a nested call has no outcome: the whole transaction fails (nothing
/// of it is committed), as it would had the outermost call failed so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NestedError {
    /// The wall-clock limit of the outermost call passed.
    Timeout,
    /// The host failed (state store, VMM); the text says what.
    Host(String),
}

/// Runs nested calls for a [`CallContext`](crate::CallContext).
pub trait ContractCalls {
    /// Runs `call` to completion and reports its outcome. A missing
    /// account or method is an outcome (`NO_ACCOUNT`, `UNKNOWN_METHOD`),
    /// not an error.
    ///
    /// # Errors
    /// [`NestedError`] when the transaction as a whole must fail.
    fn call(&self, call: NestedCall<'_>) -> Result<NestedOutcome, NestedError>;
}
