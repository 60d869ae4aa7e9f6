//! Real contract: hashing with published crates, unchanged, and a Merkle
//! proof check built on Keccak-256.
//!
//! Methods (each returns a 32-byte digest or a 1-byte verdict):
//! - `sha256(bytes)`: SHA-256 (FIPS 180-4), `sha2` with `force-soft`;
//! - `keccak256(bytes)`: Keccak-256 as Ethereum uses it (the original
//!   Keccak padding, not FIPS 202 SHA3-256), `sha3::Keccak256`;
//! - `blake3(bytes)`: BLAKE3's 32-byte hash, `blake3` with `pure` (the
//!   portable implementation: no SIMD, assembly or CPU detection);
//! - `merkle_verify(root: [u8; 32] ++ index: u32 LE ++ depth: u8 ++
//!   siblings: depth x [u8; 32] ++ leaf) -> [u8; 1]`: `1` if `leaf` is the
//!   leaf at `index` of the binary Keccak-256 tree with `root`, else `0`.
//!   The leaf's node is `keccak256(0x00 ++ leaf)`, an inner node
//!   `keccak256(0x01 ++ left ++ right)` (the prefixes keep a leaf from
//!   passing as an inner node, RFC 6962 section 2.1); bit `i` of `index`
//!   says whether the level-`i` node is a right child (1) or a left one.
//!   Aborts if `depth > 32`, `index >= 2^depth`, or the input is shorter
//!   than its siblings.

#![no_std]
#![no_main]

use nativm_sdk::{abort, method, take_array};
use sha2::{Digest, Sha256};
use sha3::Keccak256;

/// Keccak-256 of the concatenation of `parts`.
fn keccak(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

method! {
    /// `sha256(bytes) -> [u8; 32]`.
    fn sha256(input) -> [u8; 32] {
        Sha256::digest(input).into()
    }

    /// `keccak256(bytes) -> [u8; 32]`.
    fn keccak256(input) -> [u8; 32] {
        keccak(&[input])
    }

    /// `blake3(bytes) -> [u8; 32]`.
    fn blake3(input) -> [u8; 32] {
        *blake3::hash(input).as_bytes()
    }

    /// `merkle_verify(root ++ index ++ depth ++ siblings ++ leaf) -> [valid]`.
    fn merkle_verify(input) -> [u8; 1] {
        let (root, rest) = take_array::<32>(input, "merkle_verify: need a 32-byte root");
        let (index, rest) = take_array::<4>(rest, "merkle_verify: need a u32 index after the root");
        let (depth, mut rest) = take_array::<1>(rest, "merkle_verify: need a depth byte after the index");
        let (index, depth) = (u32::from_le_bytes(index), u32::from(depth[0]));
        if depth > 32 || (depth < 32 && index >> depth != 0) {
            abort("merkle_verify: index out of range for the depth (at most 32)")
        }
        if rest.len() < 32 * depth as usize {
            abort("merkle_verify: fewer siblings than the depth says")
        }
        let mut node = keccak(&[&[0], rest.split_at(32 * depth as usize).1]);
        for level in 0..depth {
            let (sibling, tail) = take_array::<32>(rest, "merkle_verify: sibling");
            rest = tail;
            node = if (index >> level) & 1 == 0 {
                keccak(&[&[1], &node, &sibling])
            } else {
                keccak(&[&[1], &sibling, &node])
            };
        }
        [u8::from(node == root)]
    }
}
