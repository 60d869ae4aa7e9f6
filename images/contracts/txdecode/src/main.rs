//! Real contract: decoding a transaction with the published `borsh` crate
//! (no_std + alloc, derive), unchanged, over the SDK's bump allocator.
//!
//! Method `decode(borsh(Transaction)) -> borsh(Summary)`: parses the whole
//! input as a [`Transaction`] (`borsh::from_slice`: trailing bytes are an
//! error) and returns the borsh encoding of its [`Summary`]. Aborts with
//! `"decode: "` and borsh's error text if the input is not exactly one
//! transaction, and `"decode: value overflow"` if its amounts add past
//! `u128::MAX`.
//!
//! Borsh encodings (borsh specification): integers little-endian, `[u8; N]`
//! as its N bytes, `String` and `Vec<T>` as a u32 LE length then the
//! elements, `Option<T>` as a 0 or 1 byte then `T`, an enum as its u8
//! variant index then its fields, a struct as its fields in order.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use borsh::{BorshDeserialize, BorshSerialize};
use nativm_sdk::{abort, method};
use sha2::{Digest, Sha256};

/// One action of a transaction.
#[derive(BorshDeserialize, BorshSerialize)]
enum Action {
    /// Variant 0: pay `amount` to `to`.
    Transfer { to: [u8; 32], amount: u128 },
    /// Variant 1: call `method` of `contract` with `args`, attaching
    /// `deposit`.
    Call {
        contract: [u8; 32],
        method: String,
        args: Vec<u8>,
        deposit: u128,
    },
    /// Variant 2: stake `amount` with `validator`.
    Stake { validator: [u8; 32], amount: u128 },
}

/// A signed transaction's body.
#[derive(BorshDeserialize, BorshSerialize)]
struct Transaction {
    signer: [u8; 32],
    nonce: u64,
    max_fee: u128,
    actions: Vec<Action>,
    memo: Option<String>,
}

/// What `decode` returns.
#[derive(BorshSerialize)]
struct Summary {
    /// SHA-256 of the input bytes.
    tx_hash: [u8; 32],
    signer: [u8; 32],
    nonce: u64,
    max_fee: u128,
    /// Number of actions.
    actions: u32,
    /// Sum of transfer amounts, call deposits and stakes.
    value: u128,
    /// The called methods, in order.
    methods: Vec<String>,
    /// Length of the memo in bytes (0 without one).
    memo_len: u32,
}

/// Adds, or aborts on overflow.
fn add(a: u128, b: u128) -> u128 {
    a.checked_add(b)
        .unwrap_or_else(|| abort("decode: value overflow"))
}

method! {
    /// `decode(borsh(Transaction)) -> borsh(Summary)`.
    fn decode(input) -> Vec<u8> {
        let tx: Transaction = borsh::from_slice(input)
            .unwrap_or_else(|e| abort(&format!("decode: {e}")));
        let mut value = 0u128;
        let mut methods = Vec::new();
        for action in &tx.actions {
            match action {
                Action::Transfer { amount, .. } | Action::Stake { amount, .. } => {
                    value = add(value, *amount)
                }
                Action::Call { method, deposit, .. } => {
                    value = add(value, *deposit);
                    methods.push(method.clone());
                }
            }
        }
        let summary = Summary {
            tx_hash: Sha256::digest(input).into(),
            signer: tx.signer,
            nonce: tx.nonce,
            max_fee: tx.max_fee,
            actions: u32::try_from(tx.actions.len()).unwrap_or(u32::MAX),
            value,
            methods,
            memo_len: tx.memo.as_ref().map_or(0, |m| u32::try_from(m.len()).unwrap_or(u32::MAX)),
        };
        borsh::to_vec(&summary).unwrap_or_else(|_| abort("decode: cannot encode the summary"))
    }
}
