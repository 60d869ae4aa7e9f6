//! Configuration: of an [`crate::Engine`] ([`EngineConfig`]) and of one
//! call ([`CallOptions`]).

use std::time::Duration;

use nativm_vmm::GuestConfig;

/// Configuration of an [`crate::Engine`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Guest heap size in bytes (default 16 MiB, at most 512 MiB).
    pub heap_size: u64,
    /// Guest stack size in bytes (default 1 MiB, at most 64 MiB).
    pub stack_size: u64,
    /// Default wall-clock limit of a call (default 10 s). A safety net for
    /// operators: gas is what bounds a call deterministically. A call that
    /// runs past it is stopped and ends in [`crate::Error::Timeout`] (a host
    /// failure, nothing committed), never in a receipt.
    pub default_timeout: Duration,
    /// Gas limit of a call that gives none (default
    /// [`nativm_gas::DEFAULT_GAS_LIMIT`], 10^9 gas).
    pub default_gas_limit: u64,
    /// Verifier options (AVX2 off by default) and size limits.
    pub verifier: nativm_verifier::Config,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let guest = GuestConfig::default();
        EngineConfig {
            heap_size: guest.heap_size,
            stack_size: guest.stack_size,
            default_timeout: Duration::from_secs(10),
            default_gas_limit: nativm_gas::DEFAULT_GAS_LIMIT,
            verifier: nativm_verifier::Config::default(),
        }
    }
}

impl EngineConfig {
    /// The guest memory sizes, as the VMM takes them.
    pub(crate) fn guest(&self) -> GuestConfig {
        GuestConfig {
            heap_size: self.heap_size,
            stack_size: self.stack_size,
        }
    }
}

/// Parameters of one call.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// Input bytes, placed read-only in guest memory (at most
    /// [`nativm_abi::MAX_INPUT_LEN`], 16 MiB).
    pub input: Vec<u8>,
    /// The caller's 32-byte identity (default all zero).
    pub caller: [u8; 32],
    /// Wall-clock limit; `None` uses the engine's default
    /// ([`EngineConfig::default_timeout`]). Kept to within the VMM timer's
    /// 5 ms tick; passing it is [`crate::Error::Timeout`].
    pub timeout: Option<Duration>,
    /// Gas limit; `None` uses the engine's default
    /// ([`EngineConfig::default_gas_limit`]). At most
    /// [`nativm_gas::MAX_GAS_LIMIT`].
    pub gas_limit: Option<u64>,
    /// The access list: storage keys of the called contract the call will
    /// read or write. They are put in the guest's storage cache before the
    /// call runs, so reading and writing them needs no VM exit (a key not
    /// declared may cost one exit, on its first read). Receipts and gas are
    /// the same with or without it. Keys over
    /// `nativm_abi::storage_cache::MAX_KEY_LEN` bytes, and more than
    /// `storage_cache::ENTRIES` keys, are served by the host as undeclared.
    pub access_list: Vec<Vec<u8>>,
}

impl CallOptions {
    /// Options with this input and defaults otherwise.
    pub fn with_input(input: Vec<u8>) -> Self {
        CallOptions {
            input,
            ..Default::default()
        }
    }
}
