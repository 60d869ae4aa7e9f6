//! Example contract: Fibonacci numbers.
//!
//! Method `fib`: input is `n` as a little-endian `u64` (exactly 8 bytes);
//! output is `fib(n)` as a little-endian `u64`, with `fib(0) = 0`,
//! `fib(1) = 1`, computed iteratively with wrapping addition (so large `n`
//! gives `fib(n) mod 2^64`, in `n` steps).

#![no_std]
#![no_main]

// `fib_u64`, shared with the native side of the gas benchmark
// (`benches/benches/gas_overhead.rs`).
#[path = "../../kernels.rs"]
mod kernels;

use kernels::fib_u64;
use nativm_sdk::{abort, method};

method! {
    /// `fib(n: u64 LE) -> u64 LE`.
    fn fib(input) -> [u8; 8] {
        let n: [u8; 8] = match input.try_into() {
            Ok(n) => n,
            Err(_) => abort("fib: input must be exactly 8 bytes (u64 little-endian n)"),
        };
        fib_u64(u64::from_le_bytes(n)).to_le_bytes()
    }
}
