//! # nativm
//!
//! Runs smart contracts, ordinary x86-64 ELF executables built by stock
//! rustc, gcc or clang, natively in ring 3 of KVM micro-VMs.
//!
//! The embedding API follows Wasmtime's shape:
//!
//! * [`Engine`]: configuration and the KVM handle, created once;
//! * [`Module`]: a verified contract, created once per contract: the
//!   verifier ([`nativm_verifier`]) must accept it first;
//! * [`StateDb`]: committed contract state (in memory, or a redb file);
//! * [`Engine::call`]: runs one method and returns a [`Receipt`]. The
//!   first call of a contract on a thread boots a guest for it; later calls
//!   reuse it warm (reset after each clean call, a few pages each); a guest
//!   whose call trapped, reverted or timed out is discarded. State changes
//!   are committed to the store only when the call ends `ok`;
//! * [`Executor`]: a pool of worker threads running calls on warm guests.
//!
//! ```no_run
//! use nativm::{CallOptions, Engine, EngineConfig, Module, StateDb};
//! let engine = Engine::new(EngineConfig::default())?;
//! let module = Module::from_file(&engine, "target/contracts/fib.elf")?;
//! let store = StateDb::in_memory();
//! let receipt = engine.call(&module, &store, "fib", &CallOptions::with_input(25u64.to_le_bytes().to_vec()))?;
//! assert!(receipt.is_ok());
//! # Ok::<(), nativm::Error>(())
//! ```
//!
//! The crate's modules, one concern each: [`error`] (the typed [`Error`]),
//! [`config`] ([`EngineConfig`], [`CallOptions`]), [`engine`] ([`Engine`],
//! the call path), [`warm`] (the per-thread cache of warm guests),
//! [`module`] ([`Module`], deploying and loading by code hash),
//! [`artifact`] (artifacts and their cache keys), [`state_db`]
//! ([`StateDb`]), [`receipt`] (receipts, and how a guest's exit becomes one)
//! and [`executor`] (the worker pool).
//!
//! ## Vocabulary (one meaning per name)
//!
//! * **prepare** (verb): verify a contract ELF and translate its code
//!   (`nativm_gas::prepare_parsed`, the one place both happen);
//! * **prepared code**: the translation's machine code with its gas
//!   charges and checked branches, and the tables built for it
//!   (`nativm_gas::Translation`; the VMM's form is
//!   `nativm_vmm::PreparedCode`): the only code a guest runs;
//! * **artifact** ([`Artifact`]): what preparing yields and what is cached
//!   and stored: the ELF, its checked segments, the translation, the
//!   versions and timings, serialized in the code store under
//!   [`artifact::cache_key`];
//! * **module** ([`Module`]): an artifact ready to map into guests; the
//!   engine's one in-memory cache holds modules by code hash;
//! * **state database** ([`StateDb`]): the durable state (accounts,
//!   storage, code, the state root) behind a [`StateStore`] backend, with
//!   the commit lock that serializes concurrent calls' commits. It is not
//!   Wasmtime's per-instance `Store`: a call's uncommitted changes live in
//!   its receipt's change set until it is committed.

#![warn(missing_docs)]

pub mod account;
pub mod artifact;
pub mod block;
pub mod config;
pub mod debug;
pub mod engine;
pub mod error;
pub mod executor;
pub mod module;
pub mod receipt;
pub mod state_db;
pub mod warm;

pub use account::{address_of, Address, Deployment};
pub use artifact::{Artifact, ArtifactRefused};
pub use block::{AccessSet, Block, BlockOutcome, Transaction};
pub use config::{CallOptions, EngineConfig};
pub use engine::{Deployed, Engine, MODULES_PER_ENGINE};
pub use error::Error;
pub use executor::{CallHandle, Executor};
pub use module::{ArtifactOrigin, Module};
pub use nativm_host_calls::state::{
    Account, ChangeSet, ContractId, Entry, MemoryStore, RedbStore, StateError, StateKey,
    StateProof, StateRead, StateStore, EMPTY_ROOT,
};
pub use receipt::{Diagnostics, Outcome, Receipt, Status, Trap};
pub use state_db::StateDb;
pub use warm::WARM_GUESTS_PER_THREAD;
