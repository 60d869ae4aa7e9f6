//! Accounts: contracts deployed at addresses.
//!
//! A contract lives at a 32-byte **address** with its own storage. The
//! address is derived from who deployed it, a salt they chose and the code:
//!
//! ```text
//! address = sha256("nativm/address" || deployer[32] || salt[32] || code_hash[32])
//! ```
//!
//! so the same deployment gives the same address on every machine, and
//! several addresses may run one code hash (one artifact), each with
//! its own storage. The account record (address -> code hash) is part of
//! the state root.
//!
//! **Code at an address never changes.** The address commits to the code
//! hash, so anyone holding an address knows which code runs there, and
//! there is no upgrade authority to trust or to steal. A contract that
//! must be upgradable is written as a proxy: it keeps the address of its
//! current implementation in its own storage and forwards calls to it with
//! host call `call` (as `images/contracts/proxy` does); storage that must
//! survive an upgrade lives in the proxy or in a storage contract. Deploying
//! the same code with the same deployer and salt again finds the existing
//! account and changes nothing.

use sha2::{Digest, Sha256};

/// 32-byte address of an account.
pub type Address = nativm_host_calls::state::Address;

/// Domain separator of [`address_of`].
pub const ADDRESS_DOMAIN: &[u8] = b"nativm/address";

/// The address of `code_hash` deployed by `deployer` with `salt`:
/// `sha256("nativm/address" || deployer || salt || code_hash)`.
pub fn address_of(deployer: &[u8; 32], salt: &[u8; 32], code_hash: &[u8; 32]) -> Address {
    let mut hasher = Sha256::new();
    hasher.update(ADDRESS_DOMAIN);
    hasher.update(deployer);
    hasher.update(salt);
    hasher.update(code_hash);
    hasher.finalize().into()
}

/// Who deploys a contract and with which salt (both 32 bytes; zero by
/// default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deployment {
    /// The deploying account or key (any 32 bytes the embedder chooses).
    pub deployer: [u8; 32],
    /// A salt, so one deployer can place the same code at many addresses.
    pub salt: [u8; 32],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_is_the_documented_hash() {
        let mut preimage = b"nativm/address".to_vec();
        preimage.extend([1u8; 32]);
        preimage.extend([2u8; 32]);
        preimage.extend([3u8; 32]);
        let expected: [u8; 32] = Sha256::digest(&preimage).into();
        assert_eq!(address_of(&[1; 32], &[2; 32], &[3; 32]), expected);
        assert_ne!(
            address_of(&[1; 32], &[2; 32], &[3; 32]),
            address_of(&[1; 32], &[4; 32], &[3; 32]),
            "the salt matters"
        );
    }
}
