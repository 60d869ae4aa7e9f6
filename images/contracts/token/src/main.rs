//! Example contract: a token ledger in contract storage.
//!
//! The balance of account `a` (32 bytes) is a little-endian `u64` stored
//! under the key `b"bal:" ++ a`; an absent key means 0.
//!
//! Methods (inputs are the fields concatenated, amounts little-endian):
//! - `mint(to: [u8; 32], amount: u64)`: adds `amount` to `to`'s balance
//!   (aborts on overflow); logs `b"mint" ++ to ++ amount`.
//! - `transfer(to: [u8; 32], amount: u64)`: moves `amount` from the caller
//!   to `to`; aborts with `"insufficient balance"` if the caller has less;
//!   logs `b"transfer" ++ from ++ to ++ amount`.
//! - `balance_of(who: [u8; 32]) -> u64`.

#![no_std]
#![no_main]

use nativm_sdk::{abort, caller, log, method, storage_read_u64, storage_write_u64};

/// Storage key prefix of a balance.
const BAL: &[u8; 4] = b"bal:";

fn key(account: &[u8; 32]) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..4].copy_from_slice(BAL);
    k[4..].copy_from_slice(account);
    k
}

fn balance(account: &[u8; 32]) -> u64 {
    storage_read_u64(&key(account)).unwrap_or(0)
}

fn set_balance(account: &[u8; 32], amount: u64) {
    storage_write_u64(&key(account), amount);
}

/// Parses `to: [u8; 32] ++ amount: u64 LE` (exactly 40 bytes).
fn account_and_amount(input: &[u8], msg: &str) -> ([u8; 32], u64) {
    if input.len() != 40 {
        abort(msg)
    }
    let mut to = [0u8; 32];
    to.copy_from_slice(&input[..32]);
    let mut amount = [0u8; 8];
    amount.copy_from_slice(&input[32..]);
    (to, u64::from_le_bytes(amount))
}

method! {
    /// `mint(to: [u8; 32], amount: u64 LE)`.
    fn mint(input) {
        let (to, amount) = account_and_amount(
            input,
            "mint: input must be 40 bytes (to: 32 bytes, amount: u64 LE)",
        );
        let new = match balance(&to).checked_add(amount) {
            Some(v) => v,
            None => abort("mint: balance overflow"),
        };
        set_balance(&to, new);
        let mut ev = [0u8; 4 + 32 + 8];
        ev[..4].copy_from_slice(b"mint");
        ev[4..36].copy_from_slice(&to);
        ev[36..].copy_from_slice(&amount.to_le_bytes());
        log(&ev);
    }

    /// `transfer(to: [u8; 32], amount: u64 LE)` from the caller.
    fn transfer(input) {
        let (to, amount) = account_and_amount(
            input,
            "transfer: input must be 40 bytes (to: 32 bytes, amount: u64 LE)",
        );
        let from = caller();
        let from_bal = balance(&from);
        if amount > from_bal {
            abort("insufficient balance");
        }
        // Debit first, then read the recipient: correct also when from == to.
        set_balance(&from, from_bal - amount);
        let new_to = match balance(&to).checked_add(amount) {
            Some(v) => v,
            None => abort("transfer: balance overflow"),
        };
        set_balance(&to, new_to);
        let mut ev = [0u8; 8 + 32 + 32 + 8];
        ev[..8].copy_from_slice(b"transfer");
        ev[8..40].copy_from_slice(&from);
        ev[40..72].copy_from_slice(&to);
        ev[72..].copy_from_slice(&amount.to_le_bytes());
        log(&ev);
    }

    /// `balance_of(who: [u8; 32]) -> u64 LE` (0 if the account has none).
    fn balance_of(input) -> [u8; 8] {
        let who: [u8; 32] = match input.try_into() {
            Ok(w) => w,
            Err(_) => abort("balance_of: input must be 32 bytes (account)"),
        };
        balance(&who).to_le_bytes()
    }
}
