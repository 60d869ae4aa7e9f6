//! Receipts as JSON (one flat object) and as text for a terminal.
//!
//! The JSON object holds the outcome's fields, then `outcome_hash`, then
//! the diagnostics' fields, all at the top level: `status`, `message` and
//! `trap` (when present), `return_data`, `logs`, `method`, `code_hash`,
//! `state_changes` (a count), `changes` (`[{"contract", "key", "value"}]`,
//! `value` null for a removal), `gas_limit`, `gas_used`, `outcome_hash`,
//! `gas_checks`, `gas_overshoot`, `vm_exits`, `host_calls`, `ioctls`,
//! `warm`, `pages_reset`, `reset_ns`, `guest_setup_ns`, `run_ns`,
//! `wall_time_ns`. Byte strings are lower-case hex.

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use super::{Diagnostics, Outcome, Receipt, Status, Trap};
use crate::ChangeSet;

/// The JSON form of an [`Outcome`], borrowed.
#[derive(Serialize)]
struct OutcomeJson<'a> {
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trap: Option<&'a Trap>,
    return_data: String,
    logs: Vec<String>,
    method: &'a str,
    code_hash: String,
    state_changes: u64,
    #[serde(serialize_with = "changes_json")]
    changes: &'a ChangeSet,
    gas_limit: u64,
    gas_used: u64,
}

fn changes_json<S: Serializer>(changes: &&ChangeSet, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Change {
        contract: String,
        key: String,
        value: Option<String>,
    }
    let mut seq = s.serialize_seq(Some(changes.len()))?;
    for (contract, key, value) in changes.iter() {
        seq.serialize_element(&Change {
            contract: hex::encode(contract),
            key: hex::encode(key),
            value: value.map(hex::encode),
        })?;
    }
    seq.end()
}

impl Serialize for Outcome {
    /// The outcome's fields as one JSON object (byte strings as hex).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        OutcomeJson {
            status: self.status,
            message: self.message.as_deref(),
            trap: self.trap.as_ref(),
            return_data: hex::encode(&self.return_data),
            logs: self.logs.iter().map(hex::encode).collect(),
            method: &self.method,
            code_hash: hex::encode(self.code_hash),
            state_changes: self.state_changes(),
            changes: &self.changes,
            gas_limit: self.gas_limit,
            gas_used: self.gas_used,
        }
        .serialize(s)
    }
}

/// The JSON form of a [`Receipt`]: one flat object.
#[derive(Serialize)]
struct ReceiptJson<'a> {
    #[serde(flatten)]
    outcome: &'a Outcome,
    outcome_hash: String,
    #[serde(flatten)]
    diagnostics: &'a Diagnostics,
}

impl Serialize for Receipt {
    /// The outcome's fields, `outcome_hash`, then the diagnostics' fields,
    /// all in one flat JSON object.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ReceiptJson {
            outcome: &self.outcome,
            outcome_hash: hex::encode(self.outcome_hash()),
            diagnostics: &self.diagnostics,
        }
        .serialize(s)
    }
}

impl Receipt {
    /// The receipt as one flat JSON object: the outcome's fields
    /// (`status`, `message` and `trap` when present, `return_data`, `logs`,
    /// `method`, `code_hash`, `state_changes`, `changes`, `gas_limit`,
    /// `gas_used`), `outcome_hash`, then the diagnostics' fields
    /// (`gas_checks`, `gas_overshoot`, `vm_exits`, `host_calls`, `ioctls`,
    /// `warm`, `pages_reset`, `reset_ns`, `guest_setup_ns`, `run_ns`,
    /// `wall_time_ns`). Byte strings are lower-case hex; each change is
    /// `{"contract", "key", "value"}`, `value` null for a removal.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("receipts always serialize")
    }

    /// The receipt as aligned `field: value` lines for a terminal.
    pub fn to_text(&self) -> String {
        let (o, d) = (&self.outcome, &self.diagnostics);
        let mut out = format!("status:        {}\n", o.status.as_str());
        if let Some(message) = &o.message {
            out += &format!("message:       {message}\n");
        }
        if let Some(trap) = &o.trap {
            out += &format!("trap:          {}", trap.exception.unwrap_or(trap.kind));
            if let Some(rip) = trap.rip {
                out += &format!(" at rip {rip:#x}");
            }
            if let Some(addr) = trap.address {
                out += &format!(", address {addr:#x}");
            }
            out += "\n";
        }
        out += &format!("return_data:   {}\n", hex::encode(&o.return_data));
        out += &format!("logs:          {}\n", o.logs.len());
        for (i, log) in o.logs.iter().enumerate() {
            out += &format!("  [{i}] {}\n", hex::encode(log));
        }
        out += &format!("method:        {}\n", o.method);
        out += &format!("code_hash:     {}\n", hex::encode(o.code_hash));
        out += &format!("state_changes: {}\n", o.state_changes());
        out += &format!("gas_used:      {} of {}\n", o.gas_used, o.gas_limit);
        out += &format!("outcome_hash:  {}\n", hex::encode(o.hash()));
        out += &format!("vm_exits:      {}\n", d.vm_exits);
        out += &format!("host_calls:    {}\n", d.host_calls);
        out += &format!(
            "guest:         {} ({} pages reset in {:.3} ms)\n",
            if d.warm { "warm" } else { "new" },
            d.pages_reset,
            d.reset_ns as f64 / 1e6
        );
        out += &format!(
            "wall_time:     {:.3} ms (guest setup {:.3} ms, run {:.3} ms)\n",
            d.wall_time_ns as f64 / 1e6,
            d.guest_setup_ns as f64 / 1e6,
            d.run_ns as f64 / 1e6
        );
        out
    }
}
