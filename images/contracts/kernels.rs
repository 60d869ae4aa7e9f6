//! Pure compute kernels shared by the example contracts and the native side
//! of `benches/benches/gas_overhead.rs`.
//!
//! The contracts include this file with `#[path = "../../kernels.rs"] mod
//! kernels;` (`fib`, `sieve`), and the benchmark includes the very same file
//! into its binary, so a kernel's metered run in a guest and its native run
//! on the host execute the same Rust source (each compiled by rustc at
//! `-O3` for baseline x86-64). `core` only: it must build both `no_std` in a
//! contract and with `std` on the host.

#![allow(dead_code)]

/// `fib(n) mod 2^64`, iteratively in `n` steps (`fib(0) = 0`, `fib(1) = 1`).
pub fn fib_u64(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a.wrapping_add(b);
        a = b;
        b = next;
    }
    a
}

/// The largest `n` the `sieve` contract accepts: its sieve buffer is
/// `SIEVE_MAX_N` bytes of `.bss`.
pub const SIEVE_MAX_N: usize = 1 << 20;

/// The number of primes below `n`, by a sieve of Eratosthenes over
/// `buf[..n]`, one byte per number (0: maybe prime, 1: composite). `buf`'s
/// first `n` bytes are cleared first, so it may hold anything.
///
/// Panics if `n > buf.len()`.
pub fn count_primes_below(n: usize, buf: &mut [u8]) -> u64 {
    if n < 3 {
        // No prime below 0, 1 or 2.
        return 0;
    }
    let sieve = &mut buf[..n];
    sieve.fill(0);
    let mut i = 2;
    while i * i < n {
        if sieve[i] == 0 {
            let mut j = i * i;
            while j < n {
                sieve[j] = 1;
                j += i;
            }
        }
        i += 1;
    }
    sieve[2..].iter().filter(|&&b| b == 0).count() as u64
}

/// [`count_primes_below`] `rounds` times over the same buffer (each round
/// clears and sieves again); returns the wrapping sum of the counts, i.e.
/// `rounds * count_primes_below(n)` modulo 2^64.
///
/// Panics if `n > buf.len()`.
pub fn count_primes_below_rounds(n: usize, rounds: u64, buf: &mut [u8]) -> u64 {
    let mut total = 0u64;
    for _ in 0..rounds {
        total = total.wrapping_add(count_primes_below(n, buf));
    }
    total
}
