//! The cost model, version [`COST_TABLE_VERSION`].
//!
//! Gas is charged in two places, and nowhere else:
//!
//! * **Instructions**: every instruction of a contract has a static cost
//!   ([`instruction_cost`]). The prepared image charges the sum of a basic
//!   block's costs at the block's head, before any of it runs (see
//!   [`crate::translate`](mod@crate::translate)). One gas is about one
//!   simple instruction: on the development machines a tight loop burns
//!   roughly 1 to 3 gas per nanosecond, so 10^9 gas is of the order of a
//!   second of CPU.
//! * **Work that depends on a register**: a `rep`-prefixed string instruction
//!   (`rep movs/stos/lods`, `repe/repne cmps/scas`) is charged
//!   [`REP_ELEMENT_COST`] per element of its count register *before it runs*
//!   (as PolkaVM charges `memset`), whether or not `repe`/`repne` stops it
//!   early, on top of [`REP_BASE_COST`]. A count of 2^32 or more (which could never complete: no contract
//!   can touch 4 GiB) is charged [`REP_HUGE_COUNT_CHARGE`].
//! * **Host calls**: a base plus a cost per byte that crosses the boundary
//!   ([`host_call_cost`]), charged by the host before the call has any
//!   effect.
//!
//! Changing any number here changes receipts, so it changes
//! [`COST_TABLE_VERSION`], which is part of the prepared-image cache key.

use iced_x86::{Instruction, Mnemonic, OpKind};
use nativm_abi::hostcall;

/// Version of this cost table. Part of every prepared image's cache key: an
/// image prepared under another version is prepared again.
pub const COST_TABLE_VERSION: u32 = 4;

/// Gas limit of a call when the caller gives none (10^9 gas, roughly a second
/// of compute on the development machines).
pub const DEFAULT_GAS_LIMIT: u64 = 1_000_000_000;

/// Largest gas limit a call may have (2^62, `nativm_abi::MAX_GAS_LIMIT`).
/// The counter is a signed 64-bit integer that only goes down; this bound,
/// and the bounded charge of any one instruction, keep it from wrapping past
/// zero between two checks.
pub const MAX_GAS_LIMIT: u64 = nativm_abi::MAX_GAS_LIMIT;

/// Gas per element of a `rep`-prefixed string instruction's count.
pub const REP_ELEMENT_COST: u64 = 1;

/// Gas charged for a `rep` string instruction whose count is 2^32 or more.
pub const REP_HUGE_COUNT_CHARGE: u64 = 1 << 32;

/// All the gas of a storage key written once by a call, `bytes` its key
/// and value lengths: the `storage_write` charge when made plus the charge
/// at the call's return (`nativm_abi::STORAGE_COMMIT_GAS_*`): `5 000 + 10 *
/// bytes`.
pub fn storage_write_once(bytes: u64) -> u64 {
    host_call_cost(hostcall::STORAGE_WRITE)
        .charge(bytes)
        .saturating_add(nativm_abi::STORAGE_COMMIT_GAS_BASE)
        .saturating_add(nativm_abi::STORAGE_COMMIT_GAS_PER_BYTE.saturating_mul(bytes))
}

/// Base gas of host call `call` (a contract-to-contract call), besides the
/// gas the callee uses: the switch to the callee's guest and back (a warm
/// guest's call costs about as much as 20 000 simple instructions here;
/// the price also covers part of a cold guest's set-up).
pub const CALL_BASE_COST: u64 = 50_000;

/// Gas per byte of return data that host call `call` copies back to the
/// caller (charged after the callee ran, before its changes are applied).
pub const CALL_RETURN_DATA_COST: HostCallCost = HostCallCost {
    base: 0,
    per_byte: 2,
};
/// Gas added to every instruction that reads or writes data memory through
/// an explicit memory operand (not `lea` or a multi-byte `nop`, which touch
/// none). A load that hits L2 takes about 7.5 ns here, a failed store
/// forward about 12 ns (`benches/gas_per_ns.rs`); one gas per access does
/// not cover that at 1/20 of the `add` loop's gas per ns.
pub const MEMORY_OPERAND_COST: u64 = 2;

/// Cost of `xchg` with a memory operand: it is always locked (Intel SDM
/// Vol. 2C, XCHG: "the processor's locking protocol is automatically
/// implemented"), and a locked access that splits a cache line takes a bus
/// lock: about 3.5 us here (`benches/gas_per_ns.rs`, split-lock row).
/// `lock`-prefixed instructions lose their prefix in the prepared code
/// instead (a one-vCPU guest with no devices needs no bus lock), so they
/// cost what the plain instruction costs.
pub const XCHG_MEMORY_COST: u64 = 1500;

/// Base cost of a `rep` string instruction (its count is charged on top):
/// starting a short `rep movsb` takes about 100 ns here.
pub const REP_BASE_COST: u64 = 40;

/// Static cost of one instruction, in gas. Sources for the relative
/// latencies: Agner Fog, "Instruction tables" (Skylake and Zen 2 columns),
/// rounded up, and the worst cases measured by `benches/gas_per_ns.rs`
/// (cost table version 2; the README's "Gas and time" has the figures).
///
/// | instructions | gas |
/// | --- | --- |
/// | anything not listed | 1 |
/// | `mul`, `imul`, `mulx` | 3 |
/// | `pdep`, `pext` (microcoded on Zen 1/2: up to about 300 cycles, uops.info) | 40 |
/// | `div`, `idiv` on 8/16/32-bit operands | 25 |
/// | `div`, `idiv` on 64-bit operands | 60 |
/// | SSE division and square root (`div*`, `sqrt*`) | 15 |
/// | `call`, `ret`, indirect `jmp` (the prepared image checks them) | 3 |
/// | `xchg` with memory | 1 500 ([`XCHG_MEMORY_COST`]) |
/// | `lock`-prefixed instructions, `cmpxchg8b`, `cmpxchg16b` | as without the prefix (the prefix is dropped); `cmpxchg8b`/`cmpxchg16b` 10 |
/// | `mfence` | 40 |
/// | `lfence` | 10 |
/// | `enter imm16, level` | 10 + 4 per nesting level (the level is taken mod 32, Intel SDM Vol. 2A, ENTER) |
/// | `leave` | 3 |
/// | `popf`/`popfq` | 5 |
/// | `pause` | 40 |
/// | `rep`-prefixed string instructions (plus their count, see module docs) | 40 ([`REP_BASE_COST`]) |
/// | plus, for an explicit memory operand (not `lea`, `nop`) | + 2 ([`MEMORY_OPERAND_COST`]) |
pub fn instruction_cost(instr: &Instruction) -> u64 {
    use Mnemonic::*;
    let memory_operand = (0..instr.op_count()).any(|i| instr.op_kind(i) == OpKind::Memory);
    let base = match instr.mnemonic() {
        Mul | Imul | Mulx => 3,
        Pdep | Pext => 40,
        Div | Idiv => {
            if instr.op0_kind() == OpKind::Register && instr.op0_register().size() == 8
                || instr.op0_kind() == OpKind::Memory && instr.memory_size().size() == 8
            {
                60
            } else {
                25
            }
        }
        Divss | Divsd | Divps | Divpd | Sqrtss | Sqrtsd | Sqrtps | Sqrtpd => 15,
        Call | Ret => 3,
        Jmp if !matches!(
            instr.op0_kind(),
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
        ) =>
        {
            3
        }
        Cmpxchg8b | Cmpxchg16b => 10,
        Xchg if memory_operand => XCHG_MEMORY_COST,
        Mfence => 40,
        Lfence => 10,
        Enter => 10 + 4 * u64::from(instr.immediate8_2nd() & 31),
        Leave => 3,
        Popf | Popfd | Popfq => 5,
        Pause => 40,
        _ if is_rep_string(instr) => REP_BASE_COST,
        _ => 1,
    };
    let touches_memory = memory_operand && !matches!(instr.mnemonic(), Lea | Nop);
    if touches_memory {
        base + MEMORY_OPERAND_COST
    } else {
        base
    }
}

/// Whether `instr` is a string instruction with a `rep`, `repe` or `repne`
/// prefix: its work depends on the count register (Intel SDM Vol. 2B,
/// REP/REPE/REPZ/REPNE/REPNZ).
pub fn is_rep_string(instr: &Instruction) -> bool {
    (instr.has_rep_prefix() || instr.has_repne_prefix()) && string_operand(instr).is_some()
}

/// Address size of a string instruction's implicit operands (8 for
/// `rsi`/`rdi`/`rcx`, 4 for `esi`/`edi`/`ecx` under a 0x67 prefix), or
/// `None` for an instruction that is not a string instruction.
pub fn string_operand(instr: &Instruction) -> Option<u32> {
    (0..instr.op_count()).find_map(|i| match instr.op_kind(i) {
        OpKind::MemorySegRSI | OpKind::MemoryESRDI => Some(8),
        OpKind::MemorySegESI | OpKind::MemoryESEDI => Some(4),
        OpKind::MemorySegSI | OpKind::MemoryESDI => Some(2),
        _ => None,
    })
}

/// Cost of one host call: `base + per_byte * bytes`, in gas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCallCost {
    /// Gas per call.
    pub base: u64,
    /// Gas per byte read from or written to guest memory by the call.
    pub per_byte: u64,
}

impl HostCallCost {
    /// The charge for a call that moves `bytes` bytes (saturating).
    pub fn charge(&self, bytes: u64) -> u64 {
        self.base
            .saturating_add(self.per_byte.saturating_mul(bytes))
    }
}

/// Cost of host call `nr` (see `nativm_abi::hostcall`). The bytes counted
/// are: `caller` 32 (the identity written); `set_return` the data;
/// `storage_read` the key plus the value bytes copied out; `storage_write`
/// key plus value; `storage_remove` the key; `log` the entry; `abort` the
/// message. Unknown numbers cost the `caller` base (they fault anyway).
///
/// | host call | base | per byte |
/// | --- | --- | --- |
/// | `caller` | 100 | 1 |
/// | `set_return` | 100 | 1 |
/// | `storage_read` | 2 000 | 2 |
/// | `storage_write` | 2 000 | 2; plus, once per key the call leaves written, 3 000 and 8 per byte of key and value at its return (so 5 000 and 10 per byte for a key written once) |
/// | `storage_remove` | 3 000 | 2 |
/// | `log` | 500 | 2 |
/// | `abort` | 100 | 1 |
/// | `call` | [`CALL_BASE_COST`] (50 000) | 2, for the method name and input; plus [`CALL_RETURN_DATA_COST`] for the return data copied back, and the gas the callee used |
pub fn host_call_cost(nr: u64) -> HostCallCost {
    let (base, per_byte) = match nr {
        hostcall::RETURN => (0, 0),
        // Charged by the host-call gate itself, from the ABI's constants.
        hostcall::SET_RETURN => (
            nativm_abi::SET_RETURN_GAS_BASE,
            nativm_abi::SET_RETURN_GAS_PER_BYTE,
        ),
        hostcall::CALLER => (nativm_abi::CALLER_GAS_BASE, nativm_abi::CALLER_GAS_PER_BYTE),
        hostcall::STORAGE_READ => (
            nativm_abi::STORAGE_READ_GAS_BASE,
            nativm_abi::STORAGE_READ_GAS_PER_BYTE,
        ),
        hostcall::STORAGE_WRITE => (
            nativm_abi::STORAGE_WRITE_GAS_BASE,
            nativm_abi::STORAGE_WRITE_GAS_PER_BYTE,
        ),
        hostcall::STORAGE_REMOVE => (
            nativm_abi::STORAGE_REMOVE_GAS_BASE,
            nativm_abi::STORAGE_REMOVE_GAS_PER_BYTE,
        ),
        hostcall::LOG => (500, 2),
        hostcall::ABORT => (100, 1),
        hostcall::CALL => (CALL_BASE_COST, 2),
        _ => (100, 1),
    };
    HostCallCost { base, per_byte }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions};

    fn cost(bytes: &[u8]) -> u64 {
        let mut d = Decoder::with_ip(64, bytes, 0x40_0000, DecoderOptions::NONE);
        instruction_cost(&d.decode())
    }

    #[test]
    fn costs_follow_the_table() {
        assert_eq!(cost(&[0x48, 0x01, 0xd8]), 1); // add rax, rbx
        assert_eq!(cost(&[0x48, 0x0f, 0xaf, 0xc3]), 3); // imul rax, rbx
        assert_eq!(cost(&[0x48, 0xf7, 0xf3]), 60); // div rbx
        assert_eq!(cost(&[0xf7, 0xf3]), 25); // div ebx
        assert_eq!(cost(&[0xc3]), 3); // ret
        assert_eq!(cost(&[0xff, 0xe0]), 3); // jmp rax
        assert_eq!(cost(&[0xeb, 0x00]), 1); // jmp short
        assert_eq!(cost(&[0xf3, 0xa4]), REP_BASE_COST); // rep movsb
        assert_eq!(cost(&[0xa4]), 1); // movsb
        assert_eq!(cost(&[0xf0, 0x48, 0x01, 0x03]), 1 + MEMORY_OPERAND_COST); // lock add [rbx], rax
        assert_eq!(cost(&[0x48, 0x01, 0x03]), 1 + MEMORY_OPERAND_COST); // add [rbx], rax
        assert_eq!(cost(&[0x48, 0x8d, 0x03]), 1); // lea rax, [rbx]
        assert_eq!(cost(&[0x0f, 0x1f, 0x40, 0x00]), 1); // nop dword [rax]
        assert_eq!(cost(&[0x87, 0x03]), XCHG_MEMORY_COST + MEMORY_OPERAND_COST); // xchg [rbx], eax
        assert_eq!(cost(&[0x87, 0xd8]), 1); // xchg eax, ebx
        assert_eq!(cost(&[0x0f, 0xae, 0xf0]), 40); // mfence
        assert_eq!(cost(&[0x0f, 0xae, 0xe8]), 10); // lfence
        assert_eq!(cost(&[0xc8, 0x10, 0x00, 0x1f]), 10 + 4 * 31); // enter 16, 31
        assert_eq!(cost(&[0xc8, 0x10, 0x00, 0x00]), 10); // enter 16, 0
        assert_eq!(cost(&[0xc9]), 3); // leave
        assert_eq!(cost(&[0x9d]), 5); // popfq
        assert_eq!(cost(&[0xf3, 0x90]), 40); // pause
        assert_eq!(cost(&[0xc4, 0xe2, 0xfb, 0xf5, 0xc1]), 40); // pdep rax, rax, rcx
    }

    #[test]
    fn rep_strings_are_recognised_with_their_address_size() {
        let decode = |b: &[u8]| Decoder::with_ip(64, b, 0, DecoderOptions::NONE).decode();
        assert!(is_rep_string(&decode(&[0xf3, 0x48, 0xab]))); // rep stosq
        assert!(is_rep_string(&decode(&[0xf2, 0xae]))); // repne scasb
        assert!(!is_rep_string(&decode(&[0xf3, 0x0f, 0xbc, 0xc0]))); // tzcnt
        assert_eq!(string_operand(&decode(&[0xf3, 0xa4])), Some(8));
        assert_eq!(string_operand(&decode(&[0x67, 0xf3, 0xa4])), Some(4));
    }

    #[test]
    fn host_call_charges_saturate() {
        let c = host_call_cost(hostcall::STORAGE_WRITE);
        assert_eq!(c.charge(10), 2_020);
        assert_eq!(storage_write_once(10), 5_100, "5 000 + 10 per byte in all");
        assert_eq!(c.charge(u64::MAX), u64::MAX);
    }
}
