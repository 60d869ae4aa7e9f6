//! Example contract: counting primes with a sieve of Eratosthenes.
//!
//! Method `sieve`: input is `n` as a little-endian `u64` (exactly 8 bytes,
//! at most [`SIEVE_MAX_N`] = 2^20); output is the number of primes below
//! `n` as a little-endian `u64`.
//!
//! Method `sieve_rounds`: input is `n` then `rounds`, two little-endian
//! `u64`s (exactly 16 bytes, `n` at most 2^20); runs the same sieve `rounds`
//! times and returns the wrapping sum of the counts (`rounds` times the
//! count). The gas benchmark uses it to make one call long enough that the
//! fixed cost of a call does not matter.
//!
//! The sieve is a byte array in `.bss` (1 MiB), cleared at the start of
//! every round. The kernels live in `images/contracts/kernels.rs`, which the
//! benchmark `benches/benches/gas_overhead.rs` compiles natively too.

#![no_std]
#![no_main]

#[path = "../../kernels.rs"]
mod kernels;

use kernels::{count_primes_below, count_primes_below_rounds, SIEVE_MAX_N};
use nativm_sdk::{abort, method};

/// The sieve: one byte per number below `n`.
static mut SIEVE: [u8; SIEVE_MAX_N] = [0; SIEVE_MAX_N];

/// The sieve buffer. A call runs one method on one thread, so there is
/// never a second reference to it.
fn sieve_buffer() -> &'static mut [u8; SIEVE_MAX_N] {
    // SAFETY: contracts are single-threaded and each method takes the
    // buffer once, so this is the only live reference.
    unsafe { &mut *core::ptr::addr_of_mut!(SIEVE) }
}

/// `n`, checked against [`SIEVE_MAX_N`].
fn checked_n(n: [u8; 8], what: &str) -> usize {
    let n = u64::from_le_bytes(n);
    if n > SIEVE_MAX_N as u64 {
        abort(what);
    }
    n as usize
}

method! {
    /// `sieve(n: u64 LE) -> u64 LE`: the number of primes below `n`.
    fn sieve(input) -> [u8; 8] {
        let n: [u8; 8] = match input.try_into() {
            Ok(n) => n,
            Err(_) => abort("sieve: input must be exactly 8 bytes (u64 little-endian n)"),
        };
        let n = checked_n(n, "sieve: n must be at most 1048576 (2^20)");
        count_primes_below(n, sieve_buffer()).to_le_bytes()
    }

    /// `sieve_rounds(n: u64 LE, rounds: u64 LE) -> u64 LE`: `rounds` sieves,
    /// the wrapping sum of their counts.
    fn sieve_rounds(input) -> [u8; 8] {
        if input.len() != 16 {
            abort("sieve_rounds: input must be exactly 16 bytes (n, rounds: u64 little-endian)");
        }
        let (n, rounds) = input.split_at(8);
        let n = checked_n(n.try_into().unwrap_or([0xff; 8]), "sieve_rounds: n must be at most 1048576 (2^20)");
        let rounds = u64::from_le_bytes(rounds.try_into().unwrap_or([0; 8]));
        count_primes_below_rounds(n, rounds, sieve_buffer()).to_le_bytes()
    }
}
