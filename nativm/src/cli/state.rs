//! `nativm state root|get|dump`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use nativm::{StateDb, StateKey};

use super::{parse_hex, parse_hex32, Failure};

/// `nativm state ...`.
#[derive(Subcommand)]
pub enum StateCommand {
    /// Print the state root of a state file (64 hex digits): a Merkle root
    /// over every account's code hash and every storage entry.
    Root(RootArgs),
    /// Print the value of one storage key of the contract at ADDRESS (hex,
    /// or `absent`); with --proof, also a Merkle proof of it (or of its
    /// absence) against the state root.
    Get(GetArgs),
    /// List every account (address, code hash) and every contract's storage
    /// (hex, and UTF-8 where printable).
    Dump(DumpArgs),
}

/// Arguments of `state root`.
#[derive(Args)]
pub struct RootArgs {
    /// The state file (redb).
    #[arg(long, value_name = "PATH")]
    state: PathBuf,
}

/// Arguments of `state get`.
#[derive(Args)]
pub struct GetArgs {
    /// The contract's address (or, for a contract run without an account,
    /// its code hash): 64 hex digits.
    address: String,
    /// The storage key, hex.
    key: String,
    /// The state file (redb).
    #[arg(long, value_name = "PATH")]
    state: PathBuf,
    /// Also print a proof against the state root.
    #[arg(long)]
    proof: bool,
    /// Print one JSON object: address, key, value (hex or null), root, and
    /// proof (hex of `nativm::StateProof::to_bytes`).
    #[arg(long)]
    json: bool,
}

/// Arguments of `state dump`.
#[derive(Args)]
pub struct DumpArgs {
    /// The state file (redb).
    #[arg(long, value_name = "PATH")]
    state: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn open(path: &PathBuf) -> Result<StateDb, Failure> {
    if !path.exists() {
        return Err(super::bad_input(format!(
            "state file {} does not exist",
            path.display()
        )));
    }
    StateDb::open(path).map_err(crate::failure)
}

/// Runs a `state` subcommand.
pub fn run(command: StateCommand) -> Result<u8, Failure> {
    match command {
        StateCommand::Root(args) => {
            let store = open(&args.state)?;
            let root = store
                .backend()
                .root()
                .map_err(|e| crate::failure(e.into()))?;
            println!("{}", hex::encode(root));
        }
        StateCommand::Get(args) => get(args)?,
        StateCommand::Dump(args) => dump(args)?,
    }
    Ok(0)
}

fn get(args: GetArgs) -> Result<(), Failure> {
    let contract = parse_hex32("ADDRESS", &args.address)?;
    let key = parse_hex("KEY", &args.key)?;
    let store = open(&args.state)?;
    let host = |e: nativm::StateError| crate::failure(e.into());
    let value = store.get(&contract, &key).map_err(crate::failure)?;
    let root = store.backend().root().map_err(host)?;
    let proof = if args.proof {
        let proof = store
            .backend()
            .prove(&StateKey::Storage {
                contract,
                key: key.clone(),
            })
            .map_err(host)?;
        Some(hex::encode(proof.to_bytes()))
    } else {
        None
    };
    if args.json {
        let mut out = serde_json::json!({
            "address": hex::encode(contract),
            "key": hex::encode(&key),
            "value": value.as_ref().map(hex::encode),
            "root": hex::encode(root),
        });
        if let Some(proof) = &proof {
            out["proof"] = proof.clone().into();
        }
        println!("{out}");
    } else {
        println!("{}", value.as_ref().map_or("absent".into(), hex::encode));
        if let Some(proof) = proof {
            println!("root  {}", hex::encode(root));
            println!("proof {proof}");
        }
    }
    Ok(())
}

/// Bytes as UTF-8 when every character is printable, else `None`.
fn printable(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|s| !s.is_empty() && s.chars().all(|c| !c.is_control()))
}

fn dump(args: DumpArgs) -> Result<(), Failure> {
    let store = open(&args.state)?;
    let host = |e: nativm::StateError| crate::failure(e.into());
    let backend = store.backend();
    let accounts = backend.accounts().map_err(host)?;
    let mut contracts = Vec::new();
    for contract in backend.contracts().map_err(host)? {
        let entries = backend.entries(&contract).map_err(host)?;
        contracts.push((contract, entries));
    }
    if args.json {
        let out = serde_json::json!({
            "root": hex::encode(backend.root().map_err(host)?),
            "accounts": accounts.iter().map(|(a, acc)| serde_json::json!({
                "address": hex::encode(a), "code_hash": hex::encode(acc.code_hash),
            })).collect::<Vec<_>>(),
            "storage": contracts.iter().map(|(c, entries)| serde_json::json!({
                "contract": hex::encode(c),
                "entries": entries.iter().map(|(k, v)| serde_json::json!({
                    "key": hex::encode(k), "value": hex::encode(v),
                    "key_utf8": printable(k), "value_utf8": printable(v),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{out}");
        return Ok(());
    }
    println!("root {}", hex::encode(backend.root().map_err(host)?));
    for (address, account) in &accounts {
        println!(
            "account {} code {}",
            hex::encode(address),
            hex::encode(account.code_hash)
        );
    }
    for (contract, entries) in &contracts {
        println!("storage of {}", hex::encode(contract));
        for (k, v) in entries {
            let show = |b: &[u8]| match printable(b) {
                Some(text) => format!("{} ({text:?})", hex::encode(b)),
                None => hex::encode(b),
            };
            println!("  {} = {}", show(k), show(v));
        }
    }
    Ok(())
}
