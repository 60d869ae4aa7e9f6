//! Real contract: a constant-product market maker (Uniswap V2's rules:
//! `x * y = k`, a 0.3% fee on input, 1000 liquidity shares locked at the
//! first deposit, reserves below 2^112, 256-bit intermediate products).
//! The C contract `amm_c` (`contracts/c/amm_c.c`) implements the same
//! methods, storage, events and messages.
//!
//! The pool keeps its accounting only: token movements into and out of it
//! are the chain's business (no cross-contract calls in the ABI).
//!
//! Storage (u128 little-endian, 16 bytes): `b"r0"`, `b"r1"` (reserves),
//! `b"shares"` (total liquidity shares), `b"lp:" ++ account` (a
//! provider's shares). Absent means 0.
//!
//! Methods (u128 amounts little-endian, 16 bytes):
//! - `add_liquidity(amount0 ++ amount1 ++ min_shares) -> shares`: the
//!   first deposit mints `isqrt(amount0 * amount1) - 1000` (and locks
//!   1000), later ones `min(amount0 * S / r0, amount1 * S / r1)`; aborts
//!   `"amm: insufficient liquidity minted"` below `min_shares` or at 0;
//!   logs `b"Mint" ++ caller ++ amount0 ++ amount1 ++ shares`;
//! - `swap(direction: u8 ++ amount_in ++ min_out) -> amount_out`:
//!   direction 0 sells token 0 for token 1, 1 the reverse;
//!   `out = in * 997 * r_out / (r_in * 1000 + in * 997)`; aborts
//!   `"amm: insufficient output"` below `min_out` or at 0, `"amm: empty
//!   pool"` without reserves; logs `b"Swap" ++ caller ++ direction ++
//!   amount_in ++ amount_out`;
//! - `remove_liquidity(shares ++ min0 ++ min1) -> amount0 ++ amount1`:
//!   pays out `shares / S` of each reserve; aborts `"amm: insufficient
//!   shares"` or `"amm: insufficient output"`; logs `b"Burn" ++ caller ++
//!   amount0 ++ amount1 ++ shares`;
//! - `reserves() -> r0 ++ r1 ++ S`, `shares_of(who) -> u128`.
//!
//! Any reserve reaching 2^112 aborts `"amm: reserve overflow"`, a share
//! total past 2^128 `"amm: share overflow"`; an input
//! of the wrong length `"amm: bad input length"`.

#![no_std]
#![no_main]

use nativm_sdk::{abort, caller, log, method, storage_read_into, storage_write};

/// Shares locked forever by the first deposit (Uniswap V2's
/// MINIMUM_LIQUIDITY).
const MIN_LIQUIDITY: u128 = 1000;
/// Reserves must stay below this (Uniswap V2's uint112 reserves).
const RESERVE_LIMIT: u128 = 1 << 112;

/// Full 256-bit product of `a` and `b` as (high, low) halves.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let mask = u128::from(u64::MAX);
    let (a0, a1, b0, b1) = (a & mask, a >> 64, b & mask, b >> 64);
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
    let lo = (p00 & mask) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `floor(a * b / d)` with a 256-bit intermediate, or `None` if `d` is 0
/// or the quotient does not fit 128 bits (restoring long division).
fn mul_div(a: u128, b: u128, d: u128) -> Option<u128> {
    let (hi, lo) = mul_wide(a, b);
    if d == 0 || hi >= d {
        return None;
    }
    let (mut rem, mut q) = (hi, 0u128);
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry != 0 || rem >= d {
            rem = rem.wrapping_sub(d);
            q |= 1;
        }
    }
    Some(q)
}

/// `floor(sqrt(a * b))` for `a, b < 2^112` (bit by bit from the top).
fn isqrt_product(a: u128, b: u128) -> u128 {
    let target = mul_wide(a, b);
    let mut root = 0u128;
    for bit in (0..112).rev() {
        let cand = root | (1 << bit);
        if mul_wide(cand, cand) <= target {
            root = cand;
        }
    }
    root
}

/// Reads a u128 stored under `key` (0 if absent).
fn load(key: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    match storage_read_into(key, &mut buf) {
        None => 0,
        Some(16) => u128::from_le_bytes(buf),
        Some(_) => abort("amm: stored amount is not 16 bytes"),
    }
}

/// Stores `v` under `key`.
fn store(key: &[u8], v: u128) {
    storage_write(key, &v.to_le_bytes());
}

/// `b"lp:" ++ who`.
fn lp_key(who: &[u8]) -> [u8; 35] {
    let mut k = [0u8; 35];
    k[..3].copy_from_slice(b"lp:");
    k[3..].copy_from_slice(who);
    k
}

/// The u128 at `input[at..at + 16]`.
fn amount(input: &[u8], at: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&input[at..at + 16]);
    u128::from_le_bytes(b)
}

/// The input, which must be exactly `n` bytes.
fn exact(input: &[u8], n: usize) -> &[u8] {
    if input.len() != n {
        abort("amm: bad input length")
    }
    input
}

/// `a + b`, aborting unless the result is a valid reserve.
fn add_reserve(a: u128, b: u128) -> u128 {
    match a.checked_add(b) {
        Some(s) if s < RESERVE_LIMIT => s,
        _ => abort("amm: reserve overflow"),
    }
}

/// Logs `name ++ who ++ fields...`.
fn event(name: &[u8; 4], who: &[u8; 32], fields: &[&[u8]]) {
    let mut ev = [0u8; 4 + 32 + 3 * 16 + 1];
    let mut n = 36;
    ev[..4].copy_from_slice(name);
    ev[4..36].copy_from_slice(who);
    for f in fields {
        ev[n..n + f.len()].copy_from_slice(f);
        n += f.len();
    }
    log(&ev[..n]);
}

/// The 48-byte `a ++ b ++ c`.
fn three(a: u128, b: u128, c: u128) -> [u8; 48] {
    let mut out = [0u8; 48];
    out[..16].copy_from_slice(&a.to_le_bytes());
    out[16..32].copy_from_slice(&b.to_le_bytes());
    out[32..].copy_from_slice(&c.to_le_bytes());
    out
}

method! {
    /// `add_liquidity(amount0 ++ amount1 ++ min_shares) -> shares`.
    fn add_liquidity(input) -> [u8; 16] {
        let input = exact(input, 48);
        let (a0, a1, min) = (amount(input, 0), amount(input, 16), amount(input, 32));
        let (r0, r1, total) = (load(b"r0"), load(b"r1"), load(b"shares"));
        let (n0, n1) = (add_reserve(r0, a0), add_reserve(r1, a1));
        let me = caller();
        let minted = if total == 0 {
            let root = isqrt_product(a0, a1);
            if root <= MIN_LIQUIDITY {
                abort("amm: insufficient liquidity minted")
            }
            store(b"shares", root);
            root - MIN_LIQUIDITY
        } else {
            // A quotient past 128 bits is larger than any share count:
            // saturate it, so the other one decides (r0, r1 > 0 here).
            let by0 = mul_div(a0, total, r0).unwrap_or(u128::MAX);
            let by1 = mul_div(a1, total, r1).unwrap_or(u128::MAX);
            let m = by0.min(by1);
            let sum = total
                .checked_add(m)
                .unwrap_or_else(|| abort("amm: share overflow"));
            store(b"shares", sum);
            m
        };
        if minted == 0 || minted < min {
            abort("amm: insufficient liquidity minted")
        }
        store(b"r0", n0);
        store(b"r1", n1);
        let key = lp_key(&me);
        store(&key, load(&key) + minted);
        event(b"Mint", &me, &[&a0.to_le_bytes(), &a1.to_le_bytes(), &minted.to_le_bytes()]);
        minted.to_le_bytes()
    }

    /// `swap(direction ++ amount_in ++ min_out) -> amount_out`.
    fn swap(input) -> [u8; 16] {
        let input = exact(input, 33);
        let dir = input[0];
        let (amount_in, min_out) = (amount(input, 1), amount(input, 17));
        let (k_in, k_out): (&[u8], &[u8]) = match dir {
            0 => (b"r0", b"r1"),
            1 => (b"r1", b"r0"),
            _ => abort("amm: direction must be 0 or 1"),
        };
        let (r_in, r_out) = (load(k_in), load(k_out));
        if r_in == 0 || r_out == 0 {
            abort("amm: empty pool")
        }
        let new_in = add_reserve(r_in, amount_in);
        // amount_in < 2^112 (checked above), so these cannot overflow.
        let with_fee = amount_in * 997;
        let out = mul_div(with_fee, r_out, r_in * 1000 + with_fee).unwrap_or(0);
        if out == 0 || out < min_out {
            abort("amm: insufficient output")
        }
        store(k_in, new_in);
        store(k_out, r_out - out);
        event(b"Swap", &caller(), &[&[dir], &amount_in.to_le_bytes(), &out.to_le_bytes()]);
        out.to_le_bytes()
    }

    /// `remove_liquidity(shares ++ min0 ++ min1) -> amount0 ++ amount1`.
    fn remove_liquidity(input) -> [u8; 32] {
        let input = exact(input, 48);
        let (shares, min0, min1) = (amount(input, 0), amount(input, 16), amount(input, 32));
        let me = caller();
        let key = lp_key(&me);
        let held = load(&key);
        if shares == 0 || held < shares {
            abort("amm: insufficient shares")
        }
        let (r0, r1, total) = (load(b"r0"), load(b"r1"), load(b"shares"));
        // shares <= total, so the quotients fit.
        let a0 = mul_div(shares, r0, total).unwrap_or(0);
        let a1 = mul_div(shares, r1, total).unwrap_or(0);
        if a0 < min0 || a1 < min1 {
            abort("amm: insufficient output")
        }
        store(&key, held - shares);
        store(b"shares", total - shares);
        store(b"r0", r0 - a0);
        store(b"r1", r1 - a1);
        event(b"Burn", &me, &[&a0.to_le_bytes(), &a1.to_le_bytes(), &shares.to_le_bytes()]);
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&a0.to_le_bytes());
        out[16..].copy_from_slice(&a1.to_le_bytes());
        out
    }

    /// `reserves() -> r0 ++ r1 ++ shares`.
    fn reserves(_input) -> [u8; 48] {
        three(load(b"r0"), load(b"r1"), load(b"shares"))
    }

    /// `shares_of(who) -> u128`.
    fn shares_of(input) -> [u8; 16] {
        load(&lp_key(exact(input, 32))).to_le_bytes()
    }
}
