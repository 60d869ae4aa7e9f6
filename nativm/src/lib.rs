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
//! * [`Store`]: committed contract state (in memory, or a redb file);
//! * [`Engine::call`]: runs one method and returns a [`Receipt`]. The
//!   first call of a contract on a thread boots a guest for it; later calls
//!   reuse it warm (reset after each clean call, a few pages each); a guest
//!   whose call trapped, reverted or timed out is discarded. State changes
//!   are committed to the store only when the call ends `ok`;
//! * [`Executor`]: a pool of worker threads running calls on warm guests.
//!
//! ```no_run
//! use nativm::{CallOptions, Engine, EngineConfig, Module, Store};
//! let engine = Engine::new(EngineConfig::default())?;
//! let module = Module::from_file(&engine, "target/contracts/fib.elf")?;
//! let store = Store::in_memory();
//! let receipt = engine.call(&module, &store, "fib", &CallOptions::with_input(25u64.to_le_bytes().to_vec()))?;
//! assert!(receipt.is_ok());
//! # Ok::<(), nativm::Error>(())
//! ```
//!
//! The crate's modules, one concern each: [`error`] (the typed [`Error`]),
//! [`config`] ([`EngineConfig`], [`CallOptions`]), [`engine`] ([`Engine`],
//! the call path), [`warm`] (the per-thread cache of warm guests),
//! [`module`] ([`Module`], deploying and loading by code hash),
//! [`prepared`] (prepared images and their cache keys), [`store`]
//! ([`Store`]), [`receipt`] (receipts, and how a guest's exit becomes one)
//! and [`executor`] (the worker pool).

#![warn(missing_docs)]

pub mod account;
pub mod block;
pub mod config;
pub mod engine;
pub mod error;
pub mod executor;
pub mod module;
pub mod prepared;
pub mod receipt;
pub mod store;
pub mod warm;

pub use account::{address_of, Address, Deployment};
pub use block::{AccessSet, Block, BlockOutcome, Transaction};
pub use config::{CallOptions, EngineConfig};
pub use engine::{Deployed, Engine, PREPARED_IMAGES_PER_ENGINE};
pub use error::Error;
pub use executor::{CallHandle, Executor};
pub use module::{Module, PreparedFrom};
pub use nativm_host_calls::state::{
    Account, ChangeSet, ContractId, Entry, MemoryStore, RedbStore, StateError, StateKey,
    StateProof, StateRead, StateStore, EMPTY_ROOT,
};
pub use prepared::{PreparedImage, Refused};
pub use receipt::{Diagnostics, Outcome, Receipt, Status, Trap};
pub use store::Store;
pub use warm::WARM_GUESTS_PER_THREAD;
