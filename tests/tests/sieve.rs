//! The `sieve` example contract, run in a real KVM guest, checked against
//! a prime count computed independently on the host.

use nativm::{StateDb, Status};
use nativm_tests::{call, example};

/// The number of primes below `n`, by trial division over odd divisors (a
/// different algorithm from the contract's sieve).
fn primes_below_reference(n: u64) -> u64 {
    let is_prime = |k: u64| {
        if k < 2 {
            return false;
        }
        if k.is_multiple_of(2) {
            return k == 2;
        }
        let mut d = 3;
        while d * d <= k {
            if k.is_multiple_of(d) {
                return false;
            }
            d += 2;
        }
        true
    };
    (0..n).filter(|&k| is_prime(k)).count() as u64
}

fn u64_out(data: &[u8]) -> u64 {
    u64::from_le_bytes(data.try_into().expect("8 bytes of output"))
}

#[test]
fn sieve_matches_the_host_for_many_n() {
    let sieve = example("sieve");
    let store = StateDb::in_memory();
    for n in [0u64, 1, 2, 3, 4, 10, 100, 1000, 65_537, 1 << 20] {
        let receipt = call(&sieve, &store, "sieve", &n.to_le_bytes());
        assert_eq!(
            receipt.outcome.status,
            Status::Ok,
            "sieve({n}): {receipt:?}"
        );
        assert_eq!(
            u64_out(&receipt.outcome.return_data),
            primes_below_reference(n),
            "sieve({n})"
        );
    }
}

#[test]
fn sieve_known_counts() {
    let sieve = example("sieve");
    let store = StateDb::in_memory();
    // pi(n - 1): 2, 3, 5, 7 below 10; 25 below 100; 82 025 below 2^20.
    for (n, count) in [(10u64, 4u64), (100, 25), (1 << 20, 82_025)] {
        let receipt = call(&sieve, &store, "sieve", &n.to_le_bytes());
        assert_eq!(
            receipt.outcome.status,
            Status::Ok,
            "sieve({n}): {receipt:?}"
        );
        assert_eq!(u64_out(&receipt.outcome.return_data), count, "sieve({n})");
    }
}

#[test]
fn sieve_rounds_sums_the_counts() {
    let sieve = example("sieve");
    let store = StateDb::in_memory();
    for (n, rounds) in [(100u64, 0u64), (100, 1), (1000, 7), (1 << 20, 3)] {
        let mut input = n.to_le_bytes().to_vec();
        input.extend_from_slice(&rounds.to_le_bytes());
        let receipt = call(&sieve, &store, "sieve_rounds", &input);
        assert_eq!(
            receipt.outcome.status,
            Status::Ok,
            "sieve_rounds({n}, {rounds}): {receipt:?}"
        );
        assert_eq!(
            u64_out(&receipt.outcome.return_data),
            rounds * primes_below_reference(n),
            "sieve_rounds({n}, {rounds})"
        );
    }
}

#[test]
fn sieve_rejects_bad_inputs_by_reverting() {
    let sieve = example("sieve");
    let store = StateDb::in_memory();
    let too_big = ((1u64 << 20) + 1).to_le_bytes();
    let mut too_big_rounds = too_big.to_vec();
    too_big_rounds.extend_from_slice(&1u64.to_le_bytes());
    let cases: [(&str, &[u8], &str); 5] = [
        ("sieve", b"short", "8 bytes"),
        ("sieve", &[0; 9], "8 bytes"),
        ("sieve", &too_big, "at most"),
        ("sieve_rounds", &[0; 8], "16 bytes"),
        ("sieve_rounds", &too_big_rounds, "at most"),
    ];
    for (method, input, message) in cases {
        let receipt = call(&sieve, &store, method, input);
        assert_eq!(
            receipt.outcome.status,
            Status::Reverted,
            "{method}({input:?}): {receipt:?}"
        );
        assert!(
            receipt
                .outcome
                .message
                .as_deref()
                .unwrap_or("")
                .contains(message),
            "{method}({input:?}): {receipt:?}"
        );
    }
}
