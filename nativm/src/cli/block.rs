//! `nativm block BLOCK.json --state S [--workers W] [--json]`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use nativm::{Block, EngineConfig, Executor, StateDb};

use super::{bad_input, Failure};

/// Arguments of `block`.
#[derive(Args)]
pub struct BlockArgs {
    /// The block file: `{"transactions": [{"to": ADDR, "method": M,
    /// "input": HEX, "gas": N, "caller": HEX}, ...]}`.
    block: PathBuf,
    /// The state file (redb): it holds the whole block's effects or none.
    #[arg(long, value_name = "PATH")]
    state: PathBuf,
    /// Worker threads (0: one per core).
    #[arg(long, value_name = "W", default_value_t = 0)]
    workers: usize,
    /// Print one JSON object: state_root, previous_root, gas_used,
    /// txs_per_sec, transactions, executions, validations, elapsed_ns and
    /// receipts (one per transaction, in block order).
    #[arg(long)]
    json: bool,
    /// With --json: add each receipt's `reads` (objects with the state
    /// read and the transaction whose write it read, null for the state
    /// before the block) and `writes`.
    #[arg(long)]
    access_sets: bool,
}

/// A piece of state as JSON: `{"account": ADDR}` or
/// `{"contract": ID, "key": HEX}`.
fn state_key_json(key: &nativm::StateKey) -> serde_json::Value {
    match key {
        nativm::StateKey::Account(a) => serde_json::json!({ "account": hex::encode(a) }),
        nativm::StateKey::Storage { contract, key } => {
            serde_json::json!({ "contract": hex::encode(contract), "key": hex::encode(key) })
        }
    }
}

/// Runs `nativm block`. Exit code 0 once the block is executed and
/// committed (whatever each transaction's status), 2 for a bad block file
/// or transaction, 3 for a host failure (nothing committed).
pub fn run(args: BlockArgs) -> Result<u8, Failure> {
    let text = std::fs::read_to_string(&args.block)
        .map_err(|e| bad_input(format!("cannot read {}: {e}", args.block.display())))?;
    let block =
        Block::from_json(&text).map_err(|e| bad_input(format!("{}: {e}", args.block.display())))?;
    let store = Arc::new(StateDb::open(&args.state).map_err(crate::failure)?);
    let executor = Executor::new(EngineConfig::default(), args.workers).map_err(crate::failure)?;
    let outcome = executor
        .execute_block(&store, &block)
        .map_err(crate::failure)?;
    let n = outcome.receipts.len();
    let secs = outcome.elapsed_ns as f64 / 1e9;
    let txs_per_sec = if secs > 0.0 { n as f64 / secs } else { 0.0 };
    if args.json {
        let receipts: Vec<serde_json::Value> = outcome
            .receipts
            .iter()
            .zip(&outcome.access_sets)
            .map(|(r, access)| {
                let mut v: serde_json::Value =
                    serde_json::from_str(&r.to_json()).unwrap_or_default();
                if args.access_sets {
                    v["reads"] = access
                        .reads
                        .iter()
                        .map(|(k, writer)| {
                            let mut j = state_key_json(k);
                            j["written_by"] = serde_json::json!(writer);
                            j
                        })
                        .collect();
                    v["writes"] = access.writes.iter().map(state_key_json).collect();
                }
                v
            })
            .collect();
        let out = serde_json::json!({
            "state_root": hex::encode(outcome.state_root),
            "previous_root": hex::encode(outcome.previous_root),
            "gas_used": outcome.gas_used,
            "txs_per_sec": txs_per_sec,
            "transactions": n,
            "workers": executor.workers(),
            "executions": outcome.executions,
            "validations": outcome.validations,
            "elapsed_ns": outcome.elapsed_ns,
            "receipts": receipts,
        });
        println!("{out}");
    } else {
        let ok = outcome.receipts.iter().filter(|r| r.is_ok()).count();
        println!("state_root {}", hex::encode(outcome.state_root));
        println!(
            "{n} transactions ({ok} ok, {} failed), gas used {}, {txs_per_sec:.0} tx/s on {} workers, {} executions",
            n - ok,
            outcome.gas_used,
            executor.workers(),
            outcome.executions
        );
    }
    Ok(0)
}
