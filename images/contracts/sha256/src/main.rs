//! Example contract: SHA-256.
//!
//! Method `digest`: input is any bytes; output is their 32-byte SHA-256.
//! Uses the portable (`force-soft`) implementation of the `sha2` crate, so
//! no `cpuid` feature detection and no SHA-NI instructions are compiled in.

#![no_std]
#![no_main]

use nativm_sdk::method;
use sha2::{Digest, Sha256};

method! {
    /// `digest(bytes) -> [u8; 32]`.
    fn digest(input) -> [u8; 32] {
        Sha256::digest(input).into()
    }
}
