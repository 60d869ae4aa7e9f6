//! Calls and expected results for the real contracts (issue 13): Ed25519
//! (`ed25519`), ECDSA over secp256k1 (`secp256k1`), hashing and Merkle
//! proofs (`hashes`), borsh decoding (`txdecode`), and an ERC-20 token and
//! a constant-product AMM, each in Rust and in C (`erc20`/`erc20_c`,
//! `amm`/`amm_c`).
//!
//! The expected bytes were computed by `images/vectors/gen.py`, outside
//! the contracts' code (OpenSSL through Python's `cryptography`, `hashlib`,
//! `pycryptodome`, the `blake3` reference bindings, and borsh, ERC-20 and
//! AMM arithmetic written out in Python), and are shared by the native-run
//! test (`images/tests/native_run.rs`), the KVM examples test
//! (`tests/tests/examples.rs`) and the benchmark
//! (`benches/benches/real_contracts.rs`): the same contract bytes give
//! the same results natively and metered.

/// A call's input.
#[derive(Clone, Copy, Debug)]
pub enum Input {
    /// These bytes, in lower-case hex.
    Hex(&'static str),
    /// `n` bytes `i % 251` for `i` in `0..n` (BLAKE3's test-vector input).
    Pattern(usize),
}

impl Input {
    /// The input bytes.
    pub fn bytes(&self) -> Vec<u8> {
        match *self {
            Input::Hex(h) => hex(h),
            Input::Pattern(n) => (0..n).map(|i| (i % 251) as u8).collect(),
        }
    }
}

/// What a call must do.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// End `ok` with this return data and these logs (hex).
    Ok {
        /// The return data, hex.
        ret: &'static str,
        /// The logs in order, hex.
        logs: &'static [&'static str],
    },
    /// End `reverted` with a message that starts with this text (and
    /// change no state).
    Revert(&'static str),
}

/// One call of a scenario.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// The method called.
    pub method: &'static str,
    /// The caller is 32 copies of this byte.
    pub caller: u8,
    /// The input.
    pub input: Input,
    /// The expected result.
    pub expect: Expect,
}

impl Step {
    /// The 32-byte caller.
    pub fn caller(&self) -> [u8; 32] {
        [self.caller; 32]
    }
}

/// A sequence of calls on one contract's state, starting empty; the same
/// steps run against every contract in `contracts` (the Rust and the C
/// build of the same specification).
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// What it exercises.
    pub what: &'static str,
    /// Contract names (`crate::contract_path`), each run on its own state.
    pub contracts: &'static [&'static str],
    /// The calls, in order.
    pub steps: &'static [Step],
}

#[rustfmt::skip]
#[path = "real_vectors.rs"]
mod vectors;

pub use vectors::SCENARIOS;

/// The names of every real contract, in [`SCENARIOS`] order.
pub fn contracts() -> Vec<&'static str> {
    SCENARIOS
        .iter()
        .flat_map(|s| s.contracts.iter().copied())
        .collect()
}

/// Decodes lower-case or upper-case hex; panics on anything else (the
/// vectors are generated, so bad hex is a bug in the generator).
pub fn hex(s: &str) -> Vec<u8> {
    assert!(
        s.len().is_multiple_of(2),
        "odd-length hex in the real-contract vectors"
    );
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("bad hex digit {:?} in the real-contract vectors", c as char),
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| (digit(p[0]) << 4) | digit(p[1]))
        .collect()
}
