//! Servicing host calls.
//!
//! The VMM (which owns the interface, [`HostCallHandler`]) turns a doorbell
//! exit of the host-call gate into [`HostCallHandler::host_call`] with the
//! number and arguments from the gate's registers and a [`GuestMemory`]
//! that checks every access against the ring-3 memory map. [`CallContext`] is the
//! handler for one contract call: it reads and writes guest memory only
//! through that checked view, buffers storage writes in an [`Overlay`], and
//! collects the return data and logs for the receipt. Nothing a contract
//! passes can make it panic.

use nativm_abi::{contract_call, hostcall, limits};

use std::collections::BTreeSet;

use crate::cache::{CacheError, StorageCache};
use crate::calls::{ContractCalls, NestedCall, NestedError};
use crate::state::{ChangeSet, ContractId, Overlay, StateError, StateRead};

pub use nativm_vmm::host_call::{GuestMemory, HostCallHandler, HostCallOutcome, MemoryFault};

/// Charges host call `nr` moving `bytes` bytes to `gas_left`; `false` (and
/// nothing charged) if it cannot pay.
fn charge(gas_left: &mut u64, nr: u64, bytes: u64) -> bool {
    let cost = nativm_gas::cost::host_call_cost(nr).charge(bytes);
    match gas_left.checked_sub(cost) {
        Some(left) => {
            *gas_left = left;
            true
        }
        None => false,
    }
}

/// The host side of one contract call: storage overlay, return data, logs,
/// and the runner of its contract-to-contract calls.
pub struct CallContext<'s> {
    contract: ContractId,
    caller: [u8; 32],
    overlay: Overlay<'s>,
    return_data: Vec<u8>,
    logs: Vec<Vec<u8>>,
    /// Runs nested calls; `None`: host call `CALL` is refused (a trap).
    calls: Option<&'s dyn ContractCalls>,
    /// Frames on the call stack, this one included (1 for the outermost).
    depth: u64,
    /// VM exits of the nested calls made so far.
    nested_vm_exits: u64,
    /// The guest's storage cache, once the call began.
    cache: Option<StorageCache>,
    /// Keys of this contract the caller declared (the access list): put in
    /// the cache when the call begins.
    access_list: Vec<Vec<u8>>,
    /// Keys this frame wrote or removed (by a host call or in the cache):
    /// charged `nativm_abi::STORAGE_COMMIT_GAS_*` at the return.
    written: BTreeSet<Vec<u8>>,
    /// A host failure met where it could not end the call at once (while
    /// filling the cache); ends it at the next chance.
    pending_error: Option<String>,
}

/// Names of host calls, for messages.
pub fn host_call_name(nr: u64) -> &'static str {
    match nr {
        hostcall::RETURN => "return",
        hostcall::CALLER => "caller",
        hostcall::SET_RETURN => "set_return",
        hostcall::STORAGE_READ => "storage_read",
        hostcall::STORAGE_WRITE => "storage_write",
        hostcall::STORAGE_REMOVE => "storage_remove",
        hostcall::LOG => "log",
        hostcall::ABORT => "abort",
        hostcall::CALL => "call",
        _ => "unknown",
    }
}

/// A refused argument: ends the call with [`HostCallOutcome::Fault`].
struct BadArgument(String);

impl<'s> CallContext<'s> {
    /// A context for a call of `contract` by `caller`, reading state from
    /// `state` (a store's committed state, or an enclosing overlay). Host
    /// call `CALL` is refused in it (see [`CallContext::with_calls`]).
    pub fn new(state: &'s dyn StateRead, contract: ContractId, caller: [u8; 32]) -> Self {
        CallContext {
            contract,
            caller,
            overlay: Overlay::new(state),
            return_data: Vec::new(),
            logs: Vec::new(),
            calls: None,
            depth: 1,
            nested_vm_exits: 0,
            cache: None,
            access_list: Vec::new(),
            written: BTreeSet::new(),
            pending_error: None,
        }
    }

    /// Declares the keys (of this call's contract) the call will read or
    /// write: they are served inside the guest, without a VM exit. Results
    /// and gas are the same with or without the declaration.
    pub fn set_access_list(&mut self, keys: Vec<Vec<u8>>) {
        self.access_list = keys;
    }

    /// Takes the cache's written entries into the overlay (so the host,
    /// and nested calls, see them); the entries stay as they are.
    fn sync_cache(&mut self, memory: &dyn GuestMemory) -> Result<(), CacheError> {
        let Some(cache) = self.cache else {
            return Ok(());
        };
        for entry in cache.entries(memory)? {
            let sc = nativm_abi::storage_cache::DIRTY | nativm_abi::storage_cache::EVICTED;
            if entry.flags & sc != nativm_abi::storage_cache::DIRTY {
                continue;
            }
            if entry.flags & nativm_abi::storage_cache::VALUE != 0 {
                self.overlay.write(&self.contract, &entry.key, &entry.value);
            } else {
                self.overlay.mark_removed(&self.contract, &entry.key);
            }
            self.written.insert(entry.key);
        }
        Ok(())
    }

    /// Evicts the cache's live entry for `key`, if any: the overlay holds
    /// its state from now on.
    fn evict(&mut self, memory: &mut dyn GuestMemory, key: &[u8]) -> Result<(), CacheError> {
        let Some(cache) = self.cache else {
            return Ok(());
        };
        if let Some(entry) = cache.find(memory, key)? {
            if entry.flags & nativm_abi::storage_cache::EVICTED == 0 {
                cache.evict(memory, &entry)?;
            }
        }
        Ok(())
    }

    /// Evicts every live entry (after a nested call changed this contract's
    /// storage: the overlay is the truth).
    fn evict_all(&mut self, memory: &mut dyn GuestMemory) -> Result<(), CacheError> {
        let Some(cache) = self.cache else {
            return Ok(());
        };
        for entry in cache.entries(memory)? {
            if entry.flags & nativm_abi::storage_cache::EVICTED == 0 {
                cache.evict(memory, &entry)?;
            }
        }
        Ok(())
    }

    /// Puts `key` with its state into the cache after a host call read it
    /// (a second read then needs no exit), unless it has an entry already.
    fn cache_read(
        &mut self,
        memory: &mut dyn GuestMemory,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), CacheError> {
        let Some(cache) = self.cache else {
            return Ok(());
        };
        if cache.find(memory, key)?.is_none() {
            cache.insert(memory, key, value)?;
        }
        Ok(())
    }

    /// The outcome for a cache that could not be used.
    fn cache_outcome(error: CacheError) -> HostCallOutcome {
        match error {
            CacheError::Damaged(index) => HostCallOutcome::Fault(format!(
                "storage cache entry {index} was overwritten by the contract (its lengths exceed the limits)"
            )),
            CacheError::Memory(fault) => HostCallOutcome::HostError(format!(
                "storage cache at {:#x} is not accessible",
                fault.addr
            )),
        }
    }

    /// As [`CallContext::new`], for a frame at `depth` on the call stack
    /// (1 for the outermost call) whose `CALL`s `calls` runs.
    pub fn with_calls(
        state: &'s dyn StateRead,
        contract: ContractId,
        caller: [u8; 32],
        depth: u64,
        calls: &'s dyn ContractCalls,
    ) -> Self {
        CallContext {
            calls: Some(calls),
            depth,
            ..CallContext::new(state, contract, caller)
        }
    }

    /// VM exits of the nested calls this call made (for receipts).
    pub fn nested_vm_exits(&self) -> u64 {
        self.nested_vm_exits
    }

    /// The return data set so far (bytes).
    pub fn return_data(&self) -> &[u8] {
        &self.return_data
    }

    /// The log entries emitted so far, in order.
    pub fn logs(&self) -> &[Vec<u8>] {
        &self.logs
    }

    /// Ends the call, returning (return data, logs, buffered state changes).
    /// The caller commits the changes only if the call succeeded.
    pub fn finish(self) -> (Vec<u8>, Vec<Vec<u8>>, ChangeSet) {
        (self.return_data, self.logs, self.overlay.into_changes())
    }

    fn read_arg(
        memory: &dyn GuestMemory,
        call: &str,
        what: &str,
        ptr: u64,
        len: u64,
        max: u64,
    ) -> Result<Vec<u8>, BadArgument> {
        if len > max {
            return Err(BadArgument(format!(
                "{call}: {what} length {len} exceeds the limit of {max} bytes"
            )));
        }
        memory.read(ptr, len).map_err(|f| {
            BadArgument(format!(
                "{call}: {what} {ptr:#x}+{len} is not readable by the contract (address {:#x})",
                f.addr
            ))
        })
    }

    fn write_arg(
        memory: &mut dyn GuestMemory,
        call: &str,
        what: &str,
        ptr: u64,
        data: &[u8],
    ) -> Result<(), BadArgument> {
        memory.write(ptr, data).map_err(|f| {
            BadArgument(format!(
                "{call}: {what} {ptr:#x}+{} is not writable by the contract (address {:#x})",
                data.len(),
                f.addr
            ))
        })
    }

    /// Services one host call: arguments are checked and read first (no
    /// effect), then the call is charged, then it takes effect.
    fn service(
        &mut self,
        memory: &mut dyn GuestMemory,
        nr: u64,
        a: [u64; 5],
        gas: &mut u64,
    ) -> Result<HostCallOutcome, BadArgument> {
        let call = host_call_name(nr);
        let state_err =
            |e: StateError| HostCallOutcome::HostError(format!("{call}: state store: {e}"));
        macro_rules! pay {
            ($bytes:expr) => {
                if !charge(gas, nr, $bytes as u64) {
                    return Ok(HostCallOutcome::OutOfGas);
                }
            };
        }
        Ok(match nr {
            hostcall::CALLER => {
                pay!(32);
                Self::write_arg(memory, call, "output buffer", a[0], &self.caller.clone())?;
                HostCallOutcome::Resume(0)
            }
            hostcall::SET_RETURN => {
                // Within the limit the gate serves set_return in the guest
                // (and the VMM hands the data over with
                // `set_return_data`); an exit only brings an over-long one.
                self.return_data =
                    Self::read_arg(memory, call, "data", a[0], a[1], limits::MAX_RETURN_LEN)?;
                pay!(self.return_data.len());
                HostCallOutcome::Resume(0)
            }
            hostcall::STORAGE_READ => {
                let key = Self::read_arg(memory, call, "key", a[0], a[1], limits::MAX_KEY_LEN)?;
                if let Err(e) = self.sync_cache(memory) {
                    return Ok(Self::cache_outcome(e));
                }
                match self.overlay.get(&self.contract, &key) {
                    Err(e) => state_err(e),
                    Ok(None) => {
                        pay!(key.len());
                        if let Err(e) = self.cache_read(memory, &key, None) {
                            return Ok(Self::cache_outcome(e));
                        }
                        HostCallOutcome::Resume(hostcall::NOT_FOUND)
                    }
                    Ok(Some(value)) => {
                        let n = (value.len() as u64).min(a[3]) as usize;
                        pay!(key.len() + n);
                        Self::write_arg(memory, call, "value buffer", a[2], &value[..n])?;
                        if let Err(e) = self.cache_read(memory, &key, Some(&value)) {
                            return Ok(Self::cache_outcome(e));
                        }
                        HostCallOutcome::Resume(value.len() as u64)
                    }
                }
            }
            hostcall::STORAGE_WRITE => {
                let key = Self::read_arg(memory, call, "key", a[0], a[1], limits::MAX_KEY_LEN)?;
                let value =
                    Self::read_arg(memory, call, "value", a[2], a[3], limits::MAX_VALUE_LEN)?;
                pay!(key.len() + value.len());
                if let Err(e) = self
                    .sync_cache(memory)
                    .and_then(|()| self.evict(memory, &key))
                {
                    return Ok(Self::cache_outcome(e));
                }
                self.overlay.write(&self.contract, &key, &value);
                self.written.insert(key);
                HostCallOutcome::Resume(0)
            }
            hostcall::STORAGE_REMOVE => {
                let key = Self::read_arg(memory, call, "key", a[0], a[1], limits::MAX_KEY_LEN)?;
                pay!(key.len());
                if let Err(e) = self
                    .sync_cache(memory)
                    .and_then(|()| self.evict(memory, &key))
                {
                    return Ok(Self::cache_outcome(e));
                }
                match self.overlay.remove(&self.contract, &key) {
                    Err(e) => state_err(e),
                    Ok(existed) => {
                        self.written.insert(key);
                        HostCallOutcome::Resume(existed as u64)
                    }
                }
            }
            hostcall::LOG => {
                if self.logs.len() as u64 >= limits::MAX_LOGS {
                    return Err(BadArgument(format!(
                        "log: more than {} log entries in one call",
                        limits::MAX_LOGS
                    )));
                }
                let entry = Self::read_arg(memory, call, "data", a[0], a[1], limits::MAX_LOG_LEN)?;
                pay!(entry.len());
                self.logs.push(entry);
                HostCallOutcome::Resume(0)
            }
            hostcall::ABORT => {
                let msg = Self::read_arg(
                    memory,
                    call,
                    "message",
                    a[0],
                    a[1],
                    limits::MAX_ABORT_MESSAGE_LEN,
                )?;
                pay!(msg.len());
                HostCallOutcome::Revert(String::from_utf8_lossy(&msg).into_owned())
            }
            hostcall::CALL => return self.contract_call(memory, a[0], gas),
            other => return Err(BadArgument(format!("unknown host call number {other}"))),
        })
    }

    /// The little-endian word at byte `offset` of a host-call descriptor
    /// (0 past its end).
    fn word(desc: &[u8], offset: u64) -> u64 {
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        desc.get(at..at.saturating_add(8))
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(0, u64::from_le_bytes)
    }

    /// Host call `CALL` (see [`nativm_abi::hostcall::CALL`]): checks and
    /// reads the descriptor and its buffers, charges the call, runs the
    /// callee through the embedder, charges what it used and the copied
    /// return data, and only then applies its changes.
    fn contract_call(
        &mut self,
        memory: &mut dyn GuestMemory,
        desc_ptr: u64,
        gas: &mut u64,
    ) -> Result<HostCallOutcome, BadArgument> {
        use contract_call as cc;
        let call = "call";
        let desc = Self::read_arg(memory, call, "descriptor", desc_ptr, cc::SIZE, cc::SIZE)?;
        let field = |offset| Self::word(&desc, offset);
        // The descriptor's result words must be writable before anything
        // else is read or runs. (An output buffer that is not is found
        // after the callee ran, before its changes are applied: the caller
        // traps.)
        let result_ptr = desc_ptr.wrapping_add(cc::OUTPUT_LEN);
        Self::write_arg(memory, call, "descriptor", result_ptr, &[0; 16])?;
        let to: [u8; 32] = Self::read_arg(memory, call, "address", field(cc::ADDRESS_PTR), 32, 32)?
            .try_into()
            .map_err(|_| BadArgument("call: address must be 32 bytes".into()))?;
        let method = Self::read_arg(
            memory,
            call,
            "method name",
            field(cc::METHOD_PTR),
            field(cc::METHOD_LEN),
            cc::MAX_METHOD_LEN,
        )?;
        let method = String::from_utf8(method)
            .map_err(|_| BadArgument("call: the method name is not UTF-8".into()))?;
        let input = Self::read_arg(
            memory,
            call,
            "input",
            field(cc::INPUT_PTR),
            field(cc::INPUT_LEN),
            nativm_abi::MAX_INPUT_LEN,
        )?;
        let (out_ptr, out_cap) = (field(cc::OUTPUT_PTR), field(cc::OUTPUT_CAP));
        if out_cap > limits::MAX_RETURN_LEN {
            return Err(BadArgument(format!(
                "call: output capacity {out_cap} exceeds the limit of {} bytes",
                limits::MAX_RETURN_LEN
            )));
        }
        if !charge(gas, hostcall::CALL, (method.len() + input.len()) as u64) {
            return Ok(HostCallOutcome::OutOfGas);
        }
        let Some(calls) = self.calls else {
            return Err(BadArgument(
                "call: contract-to-contract calls are not available to this call".into(),
            ));
        };
        if let Err(e) = self.sync_cache(memory) {
            return Ok(Self::cache_outcome(e));
        }
        let outcome = if self.depth >= cc::MAX_CALL_DEPTH {
            crate::calls::NestedOutcome::refused(cc::DEPTH_EXCEEDED)
        } else {
            let nested = NestedCall {
                caller: self.contract,
                to,
                method,
                input,
                gas_limit: field(cc::GAS).min(*gas),
                depth: self.depth + 1,
                state: &self.overlay,
            };
            match calls.call(nested) {
                Ok(outcome) => outcome,
                Err(NestedError::Timeout) => return Ok(HostCallOutcome::Timeout),
                Err(NestedError::Host(msg)) => {
                    return Ok(HostCallOutcome::HostError(format!("call: {msg}")))
                }
            }
        };
        self.nested_vm_exits += outcome.vm_exits;
        *gas = gas.saturating_sub(outcome.gas_used);
        let copied = outcome.return_data.len().min(out_cap as usize);
        let copy_cost = nativm_gas::cost::CALL_RETURN_DATA_COST.charge(copied as u64);
        match gas.checked_sub(copy_cost) {
            Some(left) => *gas = left,
            None => return Ok(HostCallOutcome::OutOfGas),
        }
        if self.logs.len() + outcome.logs.len() > limits::MAX_LOGS as usize {
            return Err(BadArgument(format!(
                "call: more than {} log entries in one call (the callee's included)",
                limits::MAX_LOGS
            )));
        }
        Self::write_arg(
            memory,
            call,
            "output buffer",
            out_ptr,
            &outcome.return_data[..copied],
        )?;
        let mut result = [0u8; 16];
        result[..8].copy_from_slice(&(outcome.return_data.len() as u64).to_le_bytes());
        result[8..].copy_from_slice(&outcome.gas_used.to_le_bytes());
        Self::write_arg(memory, call, "descriptor", result_ptr, &result)?;
        if outcome.status == cc::OK {
            let touches_me = outcome.changes.iter().any(|(c, _, _)| c == &self.contract);
            self.overlay.apply(outcome.changes);
            self.logs.extend(outcome.logs);
            if touches_me {
                if let Err(e) = self.evict_all(memory) {
                    return Ok(Self::cache_outcome(e));
                }
            }
        }
        Ok(HostCallOutcome::Resume(outcome.status))
    }
}

impl HostCallHandler for CallContext<'_> {
    fn set_return_data(&mut self, data: Vec<u8>) {
        self.return_data = data;
    }

    fn begin_call(&mut self, memory: &mut dyn GuestMemory, storage_cache: Option<u64>) {
        self.cache = storage_cache.map(StorageCache::new);
        let keys = std::mem::take(&mut self.access_list);
        for key in keys {
            match self.overlay.get(&self.contract, &key) {
                Ok(value) => {
                    if let Err(e) = self.cache_read(memory, &key, value.as_deref()) {
                        self.pending_error = Some(format!("filling the storage cache: {e:?}"));
                        return;
                    }
                }
                Err(e) => {
                    self.pending_error = Some(format!("access list: state store: {e}"));
                    return;
                }
            }
        }
    }

    fn end_call(
        &mut self,
        memory: &mut dyn GuestMemory,
        gas_left: &mut u64,
    ) -> Option<HostCallOutcome> {
        if let Some(msg) = self.pending_error.take() {
            return Some(HostCallOutcome::HostError(msg));
        }
        if let Err(e) = self.sync_cache(memory) {
            return Some(Self::cache_outcome(e));
        }
        // Each key left written pays once (removals nothing).
        let mut due = 0u64;
        for key in &self.written {
            if let Ok(Some(value)) = self.overlay.get(&self.contract, key) {
                let bytes = (key.len() + value.len()) as u64;
                let cost = nativm_abi::STORAGE_COMMIT_GAS_PER_BYTE.saturating_mul(bytes);
                due = due.saturating_add(nativm_abi::STORAGE_COMMIT_GAS_BASE.saturating_add(cost));
            }
        }
        match gas_left.checked_sub(due) {
            Some(left) => {
                *gas_left = left;
                None
            }
            None => Some(HostCallOutcome::OutOfGas),
        }
    }

    fn host_call(
        &mut self,
        memory: &mut dyn GuestMemory,
        nr: u64,
        args: [u64; 5],
        gas_left: &mut u64,
    ) -> HostCallOutcome {
        match self.service(memory, nr, args, gas_left) {
            Ok(outcome) => outcome,
            Err(BadArgument(msg)) => HostCallOutcome::Fault(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MemoryStore, StateRead, StateStore};

    /// A flat guest memory: readable 0x1000..0x3000, writable 0x2000..0x3000.
    struct FlatMemory(Vec<u8>);
    impl GuestMemory for FlatMemory {
        fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, MemoryFault> {
            let end = addr
                .checked_add(len)
                .ok_or(MemoryFault { addr, write: false })?;
            if addr < 0x1000 || end > 0x3000 {
                return Err(MemoryFault {
                    addr: addr.max(0x3000.min(addr)),
                    write: false,
                });
            }
            Ok(self.0[addr as usize..end as usize].to_vec())
        }
        fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemoryFault> {
            let end = addr
                .checked_add(data.len() as u64)
                .ok_or(MemoryFault { addr, write: true })?;
            if addr < 0x2000 || end > 0x3000 {
                return Err(MemoryFault { addr, write: true });
            }
            self.0[addr as usize..end as usize].copy_from_slice(data);
            Ok(())
        }
    }

    fn mem() -> FlatMemory {
        FlatMemory(vec![0; 0x3000])
    }

    #[test]
    fn host_calls_are_charged_before_they_take_effect() {
        let store = MemoryStore::new();
        let mut ctx = CallContext::new(&store, [1; 32], [2; 32]);
        let mut m = mem();
        m.0[0x1000..0x1003].copy_from_slice(b"key");
        m.0[0x1100..0x1105].copy_from_slice(b"value");
        // storage_write of 3 + 5 bytes costs 2000 + 2 * 8 when made ...
        let mut gas = 2_016;
        assert_eq!(
            ctx.host_call(
                &mut m,
                hostcall::STORAGE_WRITE,
                [0x1000, 3, 0x1100, 5, 0],
                &mut gas
            ),
            HostCallOutcome::Resume(0)
        );
        assert_eq!(gas, 0);
        let mut gas = 2_015;
        assert_eq!(
            ctx.host_call(
                &mut m,
                hostcall::STORAGE_WRITE,
                [0x1000, 3, 0x1000, 5, 0],
                &mut gas
            ),
            HostCallOutcome::OutOfGas
        );
        assert_eq!(gas, 2_015, "nothing charged when it cannot pay");
        let mut gas = 1_000_000;
        assert_eq!(
            ctx.host_call(
                &mut m,
                hostcall::STORAGE_READ,
                [0x1000, 3, 0x2000, 16, 0],
                &mut gas
            ),
            HostCallOutcome::Resume(5),
            "the refused write left the first value in place"
        );
        assert_eq!(gas, 1_000_000 - 2_000 - 2 * 8);
        let mut gas = 10;
        assert_eq!(
            ctx.host_call(&mut m, hostcall::LOG, [0x1000, 3, 0, 0, 0], &mut gas),
            HostCallOutcome::OutOfGas
        );
        assert!(ctx.logs().is_empty());
        // ... and 3000 + 8 * 8 at the return, once for the key.
        let mut gas = 3_064;
        assert_eq!(ctx.end_call(&mut m, &mut gas), None);
        assert_eq!(gas, 0);
        let mut gas = 3_063;
        assert_eq!(
            ctx.end_call(&mut m, &mut gas),
            Some(HostCallOutcome::OutOfGas)
        );
    }

    #[test]
    fn storage_round_trip_is_buffered() {
        let store = MemoryStore::new();
        let mut ctx = CallContext::new(&store, [1; 32], [2; 32]);
        let mut m = mem();
        m.0[0x1000..0x1003].copy_from_slice(b"key");
        m.0[0x1100..0x1105].copy_from_slice(b"value");
        assert_eq!(
            ctx.host_call(
                &mut m,
                hostcall::STORAGE_WRITE,
                [0x1000, 3, 0x1100, 5, 0],
                &mut 1_000_000
            ),
            HostCallOutcome::Resume(0)
        );
        assert_eq!(
            ctx.host_call(
                &mut m,
                hostcall::STORAGE_READ,
                [0x1000, 3, 0x2000, 2, 0],
                &mut 1_000_000
            ),
            HostCallOutcome::Resume(5)
        );
        assert_eq!(
            &m.0[0x2000..0x2003],
            b"va\0",
            "copies at most val_cap bytes"
        );
        assert_eq!(
            store.get(&[1; 32], b"key").unwrap(),
            None,
            "nothing committed before finish"
        );
        let (_, _, changes) = ctx.finish();
        store.commit(&changes).unwrap();
        assert_eq!(
            store.get(&[1; 32], b"key").unwrap(),
            Some(b"value".to_vec())
        );
    }

    #[test]
    fn bad_pointers_fault_with_names() {
        let store = MemoryStore::new();
        let mut ctx = CallContext::new(&store, [1; 32], [2; 32]);
        let mut m = mem();
        let HostCallOutcome::Fault(msg) = ctx.host_call(
            &mut m,
            hostcall::CALLER,
            [0x1000, 0, 0, 0, 0],
            &mut 1_000_000,
        ) else {
            panic!("read-only output buffer must fault")
        };
        assert!(msg.contains("caller") && msg.contains("0x1000"), "{msg}");
        let HostCallOutcome::Fault(msg) = ctx.host_call(
            &mut m,
            hostcall::LOG,
            [u64::MAX - 2, 10, 0, 0, 0],
            &mut 1_000_000,
        ) else {
            panic!("wrapping pointer must fault")
        };
        assert!(msg.contains("log"), "{msg}");
        let HostCallOutcome::Fault(msg) = ctx.host_call(
            &mut m,
            hostcall::STORAGE_WRITE,
            [0x1000, limits::MAX_KEY_LEN + 1, 0x1000, 1, 0],
            &mut 1_000_000,
        ) else {
            panic!("oversized key must fault")
        };
        assert!(msg.contains("exceeds the limit"), "{msg}");
        assert!(matches!(
            ctx.host_call(&mut m, 99, [0; 5], &mut 1_000_000),
            HostCallOutcome::Fault(_)
        ));
    }

    #[test]
    fn abort_reverts_with_message_and_caller_is_written() {
        let store = MemoryStore::new();
        let mut ctx = CallContext::new(&store, [1; 32], [7; 32]);
        let mut m = mem();
        assert_eq!(
            ctx.host_call(
                &mut m,
                hostcall::CALLER,
                [0x2000, 0, 0, 0, 0],
                &mut 1_000_000
            ),
            HostCallOutcome::Resume(0)
        );
        assert_eq!(&m.0[0x2000..0x2020], &[7; 32]);
        m.0[0x1000..0x1004].copy_from_slice(b"nope");
        assert_eq!(
            ctx.host_call(
                &mut m,
                hostcall::ABORT,
                [0x1000, 4, 0, 0, 0],
                &mut 1_000_000
            ),
            HostCallOutcome::Revert("nope".into())
        );
    }
}
