//! Real contract: an ERC-20 token (EIP-20's methods and events) with
//! 128-bit amounts. The C contract `erc20_c` (`contracts/c/erc20_c.c`)
//! implements the same methods, storage layout, events and messages, so
//! the same calls give the same outcomes.
//!
//! Storage (amounts u128 little-endian, 16 bytes; accounts 32 bytes):
//! `b"owner"` (the account that called `init`), `b"supply"`,
//! `b"bal:" ++ account`, `b"alw:" ++ owner ++ spender`. Absent means 0.
//!
//! Methods (inputs are the fields concatenated; the caller is the
//! `caller` host call):
//! - `init(supply: u128)`: once; mints `supply` to the caller; aborts
//!   `"erc20: already initialized"` the second time;
//! - `total_supply() -> u128`, `balance_of(who) -> u128`,
//!   `allowance(owner ++ spender) -> u128`;
//! - `transfer(to ++ amount) -> [1]`: aborts `"erc20: insufficient
//!   balance"`;
//! - `approve(spender ++ amount) -> [1]`: sets the allowance;
//! - `transfer_from(from ++ to ++ amount) -> [1]`: spends the caller's
//!   allowance from `from`; aborts `"erc20: insufficient allowance"` or
//!   `"erc20: insufficient balance"`.
//!
//! Events (logs): `b"Transfer" ++ from ++ to ++ amount` (from all-zero for
//! `init`) and `b"Approval" ++ owner ++ spender ++ amount`. Any input of
//! the wrong length aborts `"erc20: bad input length"`.

#![no_std]
#![no_main]

use nativm_sdk::{abort, caller, log, method, storage_read_into, storage_write};

/// Reads a u128 stored under `key` (0 if absent).
fn load(key: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    match storage_read_into(key, &mut buf) {
        None => 0,
        Some(16) => u128::from_le_bytes(buf),
        Some(_) => abort("erc20: stored amount is not 16 bytes"),
    }
}

/// Stores `v` under `key`.
fn store(key: &[u8], v: u128) {
    storage_write(key, &v.to_le_bytes());
}

/// `b"bal:" ++ who`.
fn bal_key(who: &[u8]) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..4].copy_from_slice(b"bal:");
    k[4..].copy_from_slice(who);
    k
}

/// `b"alw:" ++ owner ++ spender`.
fn alw_key(owner: &[u8], spender: &[u8]) -> [u8; 68] {
    let mut k = [0u8; 68];
    k[..4].copy_from_slice(b"alw:");
    k[4..36].copy_from_slice(owner);
    k[36..].copy_from_slice(spender);
    k
}

/// The input, which must be exactly `n` bytes.
fn exact(input: &[u8], n: usize) -> &[u8] {
    if input.len() != n {
        abort("erc20: bad input length")
    }
    input
}

/// The u128 at `input[at..at + 16]`.
fn amount(input: &[u8], at: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&input[at..at + 16]);
    u128::from_le_bytes(b)
}

/// Logs `name ++ a ++ b ++ amount`.
fn event(name: &[u8; 8], a: &[u8], b: &[u8], amount: u128) {
    let mut ev = [0u8; 8 + 32 + 32 + 16];
    ev[..8].copy_from_slice(name);
    ev[8..40].copy_from_slice(a);
    ev[40..72].copy_from_slice(b);
    ev[72..].copy_from_slice(&amount.to_le_bytes());
    log(&ev);
}

/// Moves `amount` from `from` to `to` and logs the transfer.
fn move_tokens(from: &[u8], to: &[u8], amount: u128) {
    let have = load(&bal_key(from));
    if have < amount {
        abort("erc20: insufficient balance")
    }
    store(&bal_key(from), have - amount);
    // Cannot overflow: the supply is fixed at init and bounds every sum.
    let dest = load(&bal_key(to));
    store(&bal_key(to), dest.wrapping_add(amount));
    event(b"Transfer", from, to, amount);
}

method! {
    /// `init(supply: u128)`.
    fn init(input) {
        let supply = amount(exact(input, 16), 0);
        let me = caller();
        if storage_read_into(b"owner", &mut []).is_some() {
            abort("erc20: already initialized")
        }
        storage_write(b"owner", &me);
        store(b"supply", supply);
        store(&bal_key(&me), supply);
        event(b"Transfer", &[0; 32], &me, supply);
    }

    /// `total_supply() -> u128`.
    fn total_supply(_input) -> [u8; 16] {
        load(b"supply").to_le_bytes()
    }

    /// `balance_of(who) -> u128`.
    fn balance_of(input) -> [u8; 16] {
        load(&bal_key(exact(input, 32))).to_le_bytes()
    }

    /// `allowance(owner ++ spender) -> u128`.
    fn allowance(input) -> [u8; 16] {
        let input = exact(input, 64);
        load(&alw_key(&input[..32], &input[32..])).to_le_bytes()
    }

    /// `transfer(to ++ amount) -> [1]`.
    fn transfer(input) -> [u8; 1] {
        let input = exact(input, 48);
        move_tokens(&caller(), &input[..32], amount(input, 32));
        [1]
    }

    /// `approve(spender ++ amount) -> [1]`.
    fn approve(input) -> [u8; 1] {
        let input = exact(input, 48);
        let me = caller();
        let value = amount(input, 32);
        store(&alw_key(&me, &input[..32]), value);
        event(b"Approval", &me, &input[..32], value);
        [1]
    }

    /// `transfer_from(from ++ to ++ amount) -> [1]`.
    fn transfer_from(input) -> [u8; 1] {
        let input = exact(input, 80);
        let (from, to, value) = (&input[..32], &input[32..64], amount(input, 64));
        let key = alw_key(from, &caller());
        let allowed = load(&key);
        if allowed < value {
            abort("erc20: insufficient allowance")
        }
        store(&key, allowed - value);
        move_tokens(from, to, value);
        [1]
    }
}
