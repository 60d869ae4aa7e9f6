//! The interface the VMM calls to service host calls, implemented outside
//! it (by `nativm-host-calls`): the VMM owns it, so it depends on no
//! host-call or gas implementation.
//!
//! At a doorbell exit of the host-call gate the VMM takes the number, the
//! arguments and the gas left from the vCPU's registers and calls
//! [`HostCallHandler::host_call`] with a [`GuestMemory`] that checks every
//! access against the ring-3 memory map (and records the pages it writes,
//! so the reset restores them).

/// A guest access refused because the range is not mapped for ring 3 (or
/// not writable by the contract, for a write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryFault {
    /// First inaccessible guest virtual address.
    pub addr: u64,
    /// Whether the refused access was a write.
    pub write: bool,
}

/// Guest memory as ring 3 sees it. Implementations check each range against
/// the guest's memory map before touching it.
pub trait GuestMemory {
    /// Reads `len` bytes at guest virtual address `addr`.
    ///
    /// Errors: [`MemoryFault`] if any byte is not readable from ring 3.
    fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, MemoryFault>;
    /// Writes `data` at guest virtual address `addr`.
    ///
    /// Errors: [`MemoryFault`] if any byte is not in the contract's own
    /// writable memory (data and bss segments, heap, stack, return buffer).
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemoryFault>;
}

/// What the VMM does after a host call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCallOutcome {
    /// Resume the gate with this value as the host call's result (`rax`).
    Resume(u64),
    /// End the call with status `reverted` and this message (the `abort` host call).
    Revert(String),
    /// End the call with status `trap`: the contract passed a bad argument.
    /// The message names the host call, the argument and the address.
    Fault(String),
    /// End the call: the host failed (e.g. the state store could not be read).
    /// Not the contract's fault; the call's writes are discarded.
    HostError(String),
    /// End the call: its wall-clock limit passed while the host call ran
    /// (a contract-to-contract call that did not finish in time). Like a
    /// timeout of the guest itself, a failure of this execution, not a
    /// consensus outcome.
    Timeout,
    /// End the call with status `out_of_gas`: the gas left could not pay
    /// for the host call, which had no effect.
    OutOfGas,
}

/// Services host calls for the VMM.
pub trait HostCallHandler {
    /// Services host call `nr` with arguments `args` (`a0`..`a3` from the
    /// gate's registers; the fifth is always 0), first charging its cost to
    /// `gas_left` (gas). If `gas_left` cannot pay, the call has no effect
    /// and the outcome is [`HostCallOutcome::OutOfGas`].
    fn host_call(
        &mut self,
        memory: &mut dyn GuestMemory,
        nr: u64,
        args: [u64; 5],
        gas_left: &mut u64,
    ) -> HostCallOutcome;

    /// The method returned with this return data (what the gate buffered
    /// for `set_return`, already paid for in the guest; at most
    /// `nativm_abi::limits::MAX_RETURN_LEN` bytes).
    fn set_return_data(&mut self, data: Vec<u8>);
}
