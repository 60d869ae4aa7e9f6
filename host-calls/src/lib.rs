//! Host calls of nativm contracts.
//!
//! * [`state`]: the committed state store (in memory, or redb on disk) and
//!   the per-call overlay that buffers a call's writes until it succeeds.
//! * [`dispatch`]: the host-call interface between the VMM and the host
//!   ([`HostCallHandler`], [`GuestMemory`]) and [`CallContext`], which
//!   services the host calls of `nativm_abi::hostcall` for one call.
//! * [`calls`]: contract-to-contract calls ([`ContractCalls`], run by the
//!   embedder).
pub mod calls;
pub mod dispatch;
pub mod state;

pub use calls::{ContractCalls, NestedCall, NestedError, NestedOutcome};
pub use dispatch::{CallContext, GuestMemory, HostCallHandler, HostCallOutcome, MemoryFault};
