//! # nativm-images: the example contracts
//!
//! The build script of this crate builds the example contracts under
//! `images/contracts/` (Rust, with the `nativm-sdk` crate, and C, with
//! `images/sdk-c/nativm.h`) into `<target>/contracts/<name>.elf`, where
//! `<target>` is the workspace's target directory. This crate only tells
//! where they are. See `images/README.md` for how to write a contract.
//!
//! | contract | language | methods |
//! | --- | --- | --- |
//! | `bench_kernels` | C | `trivial(u64) -> u64`, `fib(u64) -> u64`, `sha256(bytes) -> [u8; 32]` (the same source builds for wasm32: the Wasmtime comparison bench) |
//! | `counter` | C | `increment(u64) -> u64`, `get() -> u64` |
//! | `echo` | C | `echo(bytes) -> bytes`, `whoami() -> [u8; 32]` |
//! | `fib` | Rust | `fib(u64) -> u64` |
//! | `sha256` | Rust | `digest(bytes) -> [u8; 32]` |
//! | `sieve` | Rust | `sieve(n) -> u64` (primes below `n <= 2^20`), `sieve_rounds(n, rounds) -> u64` (`rounds` times that count) |
//! | `faults` | C | one method per fault the host must contain, and malformed host calls |
//! | `token` | Rust | `mint(to, u64)`, `transfer(to, u64)`, `balance_of(who) -> u64` |
//!
//! | `ed25519` | Rust (`ed25519-dalek`) | `verify(key ++ sig ++ msg) -> [valid]` |
//! | `secp256k1` | Rust (`k256`) | `verify(key ++ sig ++ prehash) -> [valid]`, `recover(prehash ++ sig ++ id) -> key` |
//! | `hashes` | Rust (`sha2`, `sha3`, `blake3`) | `sha256`, `keccak256`, `blake3(bytes) -> [u8; 32]`, `merkle_verify(...) -> [valid]` |
//! | `txdecode` | Rust (`borsh`) | `decode(borsh tx) -> borsh summary` |
//! | `erc20`, `erc20_c` | Rust, C | ERC-20: `init`, `total_supply`, `balance_of`, `allowance`, `transfer`, `approve`, `transfer_from` (u128) |
//! | `amm`, `amm_c` | Rust, C | constant-product AMM: `add_liquidity`, `swap`, `remove_liquidity`, `reserves`, `shares_of` |
//!
//! All integers are little-endian; accounts are 32 bytes. The real
//! contracts' calls and expected results are in [`real`].

use std::path::PathBuf;

pub mod real;

/// Names of the example contracts built by this crate's build script, sorted;
/// each is at [`contract_path`]`(name)`.
pub const EXAMPLES: &[&str] = include!(concat!(env!("OUT_DIR"), "/examples.rs"));

/// The directory holding the built example contracts,
/// `<target>/contracts` (fixed when this crate is compiled).
pub fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("NATIVM_CONTRACTS_DIR"))
}

/// The path of the built example contract `name` (e.g. `"fib"`):
/// `<target>/contracts/<name>.elf`. Does not check that it exists.
pub fn contract_path(name: &str) -> PathBuf {
    contracts_dir().join(format!("{name}.elf"))
}

include!("../contract_flags.rs");

#[cfg(test)]
mod tests {
    #[test]
    fn examples_are_listed_and_built() {
        for name in ["counter", "echo", "fib", "sha256", "sieve", "token"] {
            assert!(
                super::EXAMPLES.contains(&name),
                "{name} missing from EXAMPLES"
            );
        }
        for name in super::EXAMPLES {
            let p = super::contract_path(name);
            assert!(p.is_file(), "{} does not exist", p.display());
        }
    }
}
