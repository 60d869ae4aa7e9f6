//! Real contract: ECDSA over secp256k1 with the published `k256` crate
//! (RustCrypto), unchanged: signature verification and public-key
//! recovery, as Ethereum-style chains use them (SEC 1 v2, sections 4.1.4
//! and 4.1.6).
//!
//! Methods (the message is given as its 32-byte hash, "prehash"):
//! - `verify(public_key: [u8; 33] SEC1 compressed ++ signature: [u8; 64]
//!   r ++ s big-endian ++ prehash: [u8; 32]) -> [u8; 1]`: `1` if valid,
//!   `0` if not (a high `s` is invalid: `k256` accepts only normalized
//!   signatures), or if the key or signature does not decode;
//! - `recover(prehash: [u8; 32] ++ signature: [u8; 64] ++ recovery_id: u8)
//!   -> [u8; 33]`: the SEC1-compressed public key that signed `prehash`;
//!   aborts `"recover: no key"` if none does, and on a malformed input.
//!
//! No precomputed tables (the crate's `precomputed-tables` feature needs
//! std's lazy statics); `sha2` with `force-soft` (no SHA-NI, no CPU
//! detection).

#![no_std]
#![no_main]

use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use nativm_sdk::{abort, method, take_array};

/// The compressed SEC1 encoding of `key` (33 bytes).
fn compressed(key: &VerifyingKey) -> [u8; 33] {
    let point = key.to_encoded_point(true);
    let mut out = [0u8; 33];
    out.copy_from_slice(point.as_bytes());
    out
}

method! {
    /// `verify(public_key[33] ++ signature[64] ++ prehash[32]) -> [valid]`.
    fn verify(input) -> [u8; 1] {
        if input.len() != 33 + 64 + 32 {
            abort("verify: input must be 129 bytes (key 33, signature 64, prehash 32)")
        }
        let valid = match (
            VerifyingKey::from_sec1_bytes(&input[..33]),
            Signature::from_slice(&input[33..97]),
        ) {
            (Ok(key), Ok(sig)) => key.verify_prehash(&input[97..], &sig).is_ok(),
            _ => false,
        };
        [u8::from(valid)]
    }

    /// `recover(prehash[32] ++ signature[64] ++ recovery_id) -> public_key[33]`.
    fn recover(input) -> [u8; 33] {
        if input.len() != 32 + 64 + 1 {
            abort("recover: input must be 97 bytes (prehash 32, signature 64, recovery id 1)")
        }
        let (prehash, rest) = take_array::<32>(input, "recover: prehash");
        let sig = Signature::from_slice(&rest[..64])
            .unwrap_or_else(|_| abort("recover: signature does not decode"));
        let id = RecoveryId::from_byte(rest[64])
            .unwrap_or_else(|| abort("recover: recovery id must be 0 to 3"));
        match VerifyingKey::recover_from_prehash(&prehash, &sig, id) {
            Ok(key) => compressed(&key),
            Err(_) => abort("recover: no key"),
        }
    }
}
