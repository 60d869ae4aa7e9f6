//! Receipts: what a call did, for validators and operators, and how the
//! way a guest stopped ([`CallExit`]) becomes one.

use std::time::Duration;

use nativm_host_calls::state::ChangeSet;
use nativm_vmm::{CallExit, CallStats, Exception};
use serde::Serialize;

use crate::Error;

pub mod encoding;
mod text;

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The method returned; its state changes were committed.
    Ok,
    /// The contract called `abort`; [`Outcome::message`] holds its message.
    Reverted,
    /// The contract faulted (CPU exception or a refused host-call argument);
    /// [`Outcome::trap`] says what and where.
    Trap,
    /// The gas limit was used up; nothing of the call was committed.
    OutOfGas,
}

impl Status {
    /// The lower-case name used in JSON and on the terminal.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Reverted => "reverted",
            Status::Trap => "trap",
            Status::OutOfGas => "out_of_gas",
        }
    }
}

/// What a trap was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trap {
    /// `exception` (a CPU exception), `host_call` (a refused host-call
    /// argument) or `crash` (the guest left in a way the shim never does).
    pub kind: &'static str,
    /// For exceptions: the short name (`page_fault`, `divide_error`,
    /// `invalid_opcode`, `general_protection`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<&'static str>,
    /// For exceptions: the vector number (Intel SDM Vol. 3A, Table 6-1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<u8>,
    /// Guest address of the faulting instruction, as `0x...`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_hex_addr"
    )]
    pub rip: Option<u64>,
    /// For page faults: the faulting address (CR2), as `0x...`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_hex_addr"
    )]
    pub address: Option<u64>,
    /// Whether the fault was in contract code (ring 3) rather than the shim.
    pub in_contract: bool,
    /// One sentence: what happened, where.
    pub message: String,
}

fn opt_hex_addr<S: serde::Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_str(&format!("{v:#x}")),
        None => s.serialize_none(),
    }
}

impl Trap {
    /// A trap from a CPU exception.
    pub fn from_exception(e: &Exception) -> Trap {
        Trap {
            kind: "exception",
            exception: Some(e.name),
            vector: Some(e.vector),
            rip: Some(e.rip),
            address: e.fault_address,
            in_contract: e.in_contract,
            message: e.message.clone(),
        }
    }

    /// A trap from a refused host-call argument.
    pub fn host_call(message: String) -> Trap {
        Trap::without_exception("host_call", message)
    }

    /// A guest crash (triple fault, emulation failure...).
    pub fn crash(message: String) -> Trap {
        Trap::without_exception("crash", message)
    }

    fn without_exception(kind: &'static str, message: String) -> Trap {
        Trap {
            kind,
            exception: None,
            vector: None,
            rip: None,
            address: None,
            in_contract: true,
            message,
        }
    }
}

/// The deterministic part of a call's result: what consensus compares.
///
/// Every field is the same on every run, worker and machine for the same
/// code, input, caller, gas limit and committed state. Only the outcome is
/// ever hashed ([`Outcome::hash`], over the canonical encoding
/// [`Outcome::encode`] documented in [`encoding`]) or committed; timings,
/// warmth and counters of the VMM live apart in [`Diagnostics`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// How the call ended.
    pub status: Status,
    /// The abort message (reverted), the trap message (trap) or the limit
    /// (out_of_gas); absent for `ok`.
    pub message: Option<String>,
    /// Details of a trap.
    pub trap: Option<Trap>,
    /// Return data (empty unless `ok`).
    pub return_data: Vec<u8>,
    /// Log entries in emission order (empty unless `ok`).
    pub logs: Vec<Vec<u8>>,
    /// Gas the call used: block charges of the code it ran plus its host
    /// calls (`nativm_gas::cost`). Exact; the whole limit for `out_of_gas`.
    pub gas_used: u64,
    /// The call's gas limit.
    pub gas_limit: u64,
    /// The storage writes and removals the call made, committed to the
    /// store (empty unless `ok`), in the change set's order: ascending
    /// contract id, then key bytes.
    pub changes: ChangeSet,
    /// The method called.
    pub method: String,
    /// SHA-256 of the contract ELF.
    pub code_hash: [u8; 32],
}

impl Outcome {
    /// Whether the call ended `ok`.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// Storage keys written or removed and committed (0 unless `ok`).
    pub fn state_changes(&self) -> u64 {
        self.changes.len() as u64
    }
}

/// What a call cost and how it ran: timings, warmth and VMM counters.
/// Differs between runs, workers and machines for the same call, so it is
/// never hashed or committed, and no consensus decision may depend on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diagnostics {
    /// Backstop checks of the gas counter (timer interrupts) during the
    /// call; they never change the outcome.
    pub gas_checks: u64,
    /// For `out_of_gas`: how far below zero the counter was when the
    /// overrun was noticed, in gas: how much ran past the limit before a
    /// check stopped it (divide by the gas rate for the backstop's lag).
    pub gas_overshoot: u64,
    /// VM exits (returns from `KVM_RUN`) during the call.
    pub vm_exits: u64,
    /// Host calls serviced through VM exits.
    pub host_calls: u64,
    /// KVM ioctls the call issued (`KVM_RUN` per exit, `KVM_GET_DIRTY_LOG`
    /// for the reset; a new guest's creation is not counted).
    pub ioctls: u64,
    /// Whether a warm guest (reused from an earlier clean call of this
    /// contract on this thread) ran the call.
    pub warm: bool,
    /// Guest pages the call wrote that were restored to pristine after it
    /// (0 when the guest was discarded instead).
    pub pages_reset: u64,
    /// Time of that reset, in nanoseconds.
    pub reset_ns: u64,
    /// Time to create and load the guest (or take a warm one), in
    /// nanoseconds.
    pub guest_setup_ns: u64,
    /// Time inside the guest and servicing its exits, in nanoseconds.
    pub run_ns: u64,
    /// Wall time of the whole call (setup, run, commit), in nanoseconds.
    pub wall_time_ns: u64,
}

/// The result of one call: its deterministic [`Outcome`] and the
/// [`Diagnostics`] of this execution of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// What the call did (consensus).
    pub outcome: Outcome,
    /// How this execution of it ran (not consensus).
    pub diagnostics: Diagnostics,
}

impl Receipt {
    /// Whether the call ended `ok`.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// How the call ended.
    pub fn status(&self) -> Status {
        self.outcome.status
    }

    /// [`Outcome::hash`] of the outcome.
    pub fn outcome_hash(&self) -> [u8; 32] {
        self.outcome.hash()
    }
}

/// What the engine knows about a call besides how its guest stopped.
pub(crate) struct CallFacts<'a> {
    /// The method called.
    pub method: &'a str,
    /// The contract's code hash.
    pub code_hash: [u8; 32],
    /// The call's gas limit.
    pub gas_limit: u64,
    /// The call's wall-clock limit.
    pub timeout: Duration,
    /// Whether a warm guest ran it.
    pub warm: bool,
    /// Time to set up the guest, in nanoseconds.
    pub setup_ns: u64,
}

/// How the call ended: status, message and trap, or the host-side error
/// ([`Error::Timeout`] for the wall-clock limit, [`Error::HostCall`]).
fn ending(
    exit: CallExit,
    facts: &CallFacts<'_>,
) -> Result<(Status, Option<String>, Option<Trap>), Error> {
    Ok(match exit {
        CallExit::Returned => (Status::Ok, None, None),
        CallExit::Reverted(msg) => (Status::Reverted, Some(msg), None),
        CallExit::Exception(e) => (
            Status::Trap,
            Some(e.message.clone()),
            Some(Trap::from_exception(&e)),
        ),
        CallExit::HostCallFault(msg) => {
            (Status::Trap, Some(msg.clone()), Some(Trap::host_call(msg)))
        }
        CallExit::Crashed(msg) => (Status::Trap, Some(msg.clone()), Some(Trap::crash(msg))),
        // Wall time is not consensus: a host-side failure, not an outcome.
        CallExit::Timeout => {
            return Err(Error::Timeout {
                limit_ms: u64::try_from(facts.timeout.as_millis()).unwrap_or(u64::MAX),
                method: facts.method.to_string(),
                code_hash: facts.code_hash,
            })
        }
        CallExit::OutOfGas => (
            Status::OutOfGas,
            Some(format!("ran out of gas (limit {})", facts.gas_limit)),
            None,
        ),
        CallExit::HostError(message) => {
            return Err(Error::HostCall {
                method: facts.method.to_string(),
                code_hash: facts.code_hash,
                message,
            })
        }
    })
}

/// The receipt of a call whose guest stopped with `exit`. `output` is what
/// the call's host-call context collected: return data, logs, state
/// changes; all three are dropped unless the call ended `ok`.
/// `wall_time_ns` is left for the engine to fill in after the commit.
///
/// Errors: [`Error::Timeout`] when the call ran past its wall-clock limit;
/// [`Error::HostCall`] when the host failed during the call.
pub(crate) fn receipt_of(
    exit: CallExit,
    stats: &CallStats,
    output: (Vec<u8>, Vec<Vec<u8>>, ChangeSet),
    facts: &CallFacts<'_>,
) -> Result<Receipt, Error> {
    let (status, message, trap) = ending(exit, facts)?;
    let gas_limit = facts.gas_limit;
    let gas_used = if status == Status::OutOfGas {
        gas_limit
    } else {
        gas_limit - stats.gas_left.min(gas_limit)
    };
    // Only a successful call produces output; a failed one's partial
    // return data, logs and state changes are dropped.
    let (return_data, logs, changes) = if status == Status::Ok {
        output
    } else {
        Default::default()
    };
    let outcome = Outcome {
        status,
        message,
        trap,
        return_data,
        logs,
        gas_used,
        gas_limit,
        changes,
        method: facts.method.to_string(),
        code_hash: facts.code_hash,
    };
    let diagnostics = Diagnostics {
        gas_checks: stats.gas_checks,
        gas_overshoot: stats.gas_overshoot,
        vm_exits: stats.vm_exits,
        host_calls: stats.host_calls,
        ioctls: stats.ioctls,
        warm: facts.warm,
        pages_reset: stats.pages_reset,
        reset_ns: stats.reset_ns,
        guest_setup_ns: facts.setup_ns,
        run_ns: stats.wall_time_ns,
        wall_time_ns: 0,
    };
    Ok(Receipt {
        outcome,
        diagnostics,
    })
}
