//! Real contract: Ed25519 signature verification with the published
//! `ed25519-dalek` crate (RFC 8032), unchanged.
//!
//! Method `verify(public_key: [u8; 32] ++ signature: [u8; 64] ++ message)
//! -> [u8; 1]`: `1` if the signature of `message` under `public_key` is
//! valid (`ed25519_dalek::VerifyingKey::verify`, RFC 8032 section 5.1.7,
//! cofactorless), `0` if it is not or the key does not decode. Aborts
//! unless the input holds at least the 96 bytes of key and signature.
//!
//! Build settings (the SDK's, `images/contract_flags.rs`): the cfg
//! `curve25519_dalek_backend="serial"` selects the portable 64-bit field
//! arithmetic, so no AVX2 code and no run-time CPU detection are compiled
//! in; `sha2`'s `force-soft` does the same for SHA-512.

#![no_std]
#![no_main]

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use nativm_sdk::{method, take_array};

method! {
    /// `verify(public_key[32] ++ signature[64] ++ message) -> [valid]`.
    fn verify(input) -> [u8; 1] {
        let (key, rest) = take_array::<32>(input, "verify: need a 32-byte public key");
        let (sig, message) = take_array::<64>(rest, "verify: need a 64-byte signature after the key");
        let valid = match VerifyingKey::from_bytes(&key) {
            Ok(key) => key.verify(message, &Signature::from_bytes(&sig)).is_ok(),
            Err(_) => false,
        };
        [u8::from(valid)]
    }
}
