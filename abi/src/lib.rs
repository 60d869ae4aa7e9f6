//! # The nativm contract ABI (version 2)
//!
//! This crate is the single place where the contract ABI is defined. The host
//! (`nativm-vmm`, `nativm-host-calls`) and the contract SDK (`images/sdk`, and
//! the C header `images/sdk-c/nativm.h`, which mirrors these numbers and is
//! checked against them by a test) both take their constants from here.
//!
//! ## Contracts
//!
//! A contract is a static, non-PIE x86-64 ELF64 executable (`ET_EXEC`) whose
//! loadable segments lie inside [`CONTRACT_WINDOW_START`]..[`CONTRACT_WINDOW_END`]
//! (GNU ld's default base, `0x400000`, is inside). A *method* is an exported
//! (global, `STT_FUNC`) function symbol. The host calls it with the System V
//! AMD64 calling convention (System V ABI, AMD64 supplement, section 3.2) as
//!
//! ```c
//! void method(const uint8_t *input, uint64_t input_len);
//! ```
//!
//! in guest ring 3, with a fresh stack ([`STACK_TOP`], 16-byte aligned before
//! the `call`), `input` pointing at [`INPUT_BASE`] (read-only), all other
//! general registers zero, x87/SSE state in its power-on default (MXCSR =
//! `0x1F80`, x87 control word `0x037F`) and DF clear. A method that returns
//! ends the call with status `ok`; its output is whatever it last passed to
//! [`hostcall::SET_RETURN`] (empty if never).
//!
//! ## Host calls
//!
//! A host call is a normal System V call to the function at the fixed address
//! [`HOSTCALL_ENTRY`] in the trusted runtime page (the *host-call gate*):
//!
//! ```c
//! uint64_t nativm_hostcall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);
//! ```
//!
//! It preserves `rbx`, `rbp`, `rsp`, `r12`-`r15` and clears the direction
//! flag, and clobbers the other general registers and the arithmetic flags,
//! exactly as any System V function may. `nr` is one of the constants in
//! [`hostcall`]; the result is in `rax`. A direct `call HOSTCALL_ENTRY` is
//! the only direct branch into the runtime page the verifier accepts;
//! indirect calls reach it through the code table. The gate hands the gas
//! counters to the host in registers (below) and rings the doorbell, a
//! store to a guest physical address with no memslot behind it, which is one
//! VM exit (`KVM_EXIT_MMIO`). The host takes the number, the arguments and
//! the gas counters from the vCPU's registers (never from guest memory),
//! believes the exit only if RIP is right after the gate's doorbell store,
//! checks every pointer and length against the guest memory map, services
//! the call and resumes the gate with the result in `rax`. The gate then
//! returns through the same check as a contract `ret` (the code table).
//!
//! The gate's registers at its doorbell exits, as the host reads them: at
//! a host call `rdi` = number, `rsi`, `rdx`, `rcx`, `r8` = arguments 0-3,
//! and the four gas counters `mm0`..`mm3` (two's-complement `i64`s whose
//! sum is the gas left) in `rax`, `r9`, `r10`, `r11`; the host resumes the
//! gate with the result in `rax` and the gas left after charging the call
//! in `r9`. At the method's return (the runtime loop's own doorbell): the
//! counters in the same four registers and the return-data length in `rdx`.
//!
//! `set_return` is the exception: the gate serves it without an exit (see
//! [`RETURN_BUFFER`]), so a method that only computes and returns data costs
//! one exit in all, its return.
//!
//! A range of length 0 is always valid, whatever its pointer. A host call
//! whose pointer or length is outside what the contract may
//! access, or whose arguments break a limit below, ends the call with status
//! `trap` and a message naming the host call, the argument and the address.
//!
//! ## Guest memory map
//!
//! These are virtual addresses, the only ones a contract sees (where the
//! host places the pages in guest physical memory is its own business:
//! writable pages live in a separate, dirty-logged memslot). Pages not
//! listed are unmapped; touching one is a page fault.
//!
//! | virtual address | size | what | access from ring 3 |
//! | --- | --- | --- | --- |
//! | `0x0` | 4 KiB | null page | unmapped |
//! | [`SHIM_SYSTEM_BASE`] | 64 KiB | GDT, IDT, TSS, trap report | none (supervisor) |
//! | [`PAGE_TABLE_BASE`] | up to 1 MiB | page tables | none (supervisor) |
//! | [`SHIM_BASE`] | up to 1 MiB | shim code, ring-0 stack | none (supervisor) |
//! | [`RUNTIME_BASE`] | 4 KiB | trusted runtime code | read + execute |
//! | [`CALL_INFO`] | 4 KiB | [`CallInfo`] | read |
//! | [`CONTRACT_WINDOW_START`] | up to 1 GiB - 4 MiB | contract segments | as the ELF says, never W+X |
//! | [`HEAP_BASE`] | configurable | heap | read + write |
//! | [`INPUT_BASE`] | up to [`MAX_INPUT_LEN`] | call input | read |
//! | [`RETURN_BUFFER`] | [`limits::MAX_RETURN_LEN`] | return data (written by the runtime page) | read + write |
//! | [`STACK_TOP`] - stack size | configurable | stack, with an unmapped guard page below | read + write |
//!
//! Data pages are never executable (NX); code pages are never writable.

#![no_std]

/// Version of this ABI. Bumped on any incompatible change to the memory map,
/// the host-call numbers or their arguments.
pub const ABI_VERSION: u32 = 3;

/// Size of a guest page in bytes (4 KiB pages are the only size the guest maps).
pub const PAGE_SIZE: u64 = 0x1000;

/// Base of the shim's system pages (GDT, IDT, TSS, trap report), supervisor only.
pub const SHIM_SYSTEM_BASE: u64 = 0x1_0000;
/// Base of the page-table pool (PML4, PDPT, PD and PT pages), supervisor only.
pub const PAGE_TABLE_BASE: u64 = 0x2_0000;
/// End (exclusive) of the page-table pool: at most 224 page-table pages.
pub const PAGE_TABLE_END: u64 = 0x10_0000;
/// Load address of the ring-0 guest shim (its code, data and ring-0 stack).
pub const SHIM_BASE: u64 = 0x10_0000;
/// End (exclusive) of the shim's region.
pub const SHIM_END: u64 = 0x20_0000;

/// Base of the trusted ring-3 runtime page (read + execute from ring 3).
pub const RUNTIME_BASE: u64 = 0x20_0000;
/// Address of the host-call entry: `u64 nativm_hostcall(nr, a0, a1, a2, a3)`.
pub const HOSTCALL_ENTRY: u64 = RUNTIME_BASE;
/// Address of the [`CallInfo`] page (read-only from ring 3).
pub const CALL_INFO: u64 = 0x20_1000;

/// First byte of the window in which contract segments must lie.
pub const CONTRACT_WINDOW_START: u64 = 0x40_0000;
/// End (exclusive) of the contract window (1 GiB).
pub const CONTRACT_WINDOW_END: u64 = 0x4000_0000;

/// Base of the heap (read + write, no execute). Its size is per call
/// ([`CallInfo::heap_size`]).
pub const HEAP_BASE: u64 = 0x4000_0000;
/// Largest heap the host will map, in bytes (512 MiB).
pub const MAX_HEAP_SIZE: u64 = 0x2000_0000;

/// Address at which the call input is placed (read-only, no execute).
pub const INPUT_BASE: u64 = 0x6000_0000;
/// Largest call input, in bytes (16 MiB).
pub const MAX_INPUT_LEN: u64 = 0x100_0000;

/// Address of the return buffer (read + write, no execute, size
/// [`limits::MAX_RETURN_LEN`]). The host-call gate serves
/// [`hostcall::SET_RETURN`] without leaving the guest: it charges
/// [`SET_RETURN_GAS_BASE`] + [`SET_RETURN_GAS_PER_BYTE`] per byte to the gas
/// counter, copies the data here and keeps its length in `mm7`, out of the
/// contract's reach. When the method returns, the host takes that length
/// from the vCPU and reads that many bytes from here: the return data is
/// the buffer's first `len` bytes at the return (the buffer is ordinary
/// contract memory, so what the contract writes into it afterwards is part
/// of its return data).
pub const RETURN_BUFFER: u64 = 0x6200_0000;

/// Top of the contract stack (exclusive): the first `call` pushes below it.
/// The stack spans `STACK_TOP - stack_size .. STACK_TOP`, and the page below
/// that is an unmapped guard page.
pub const STACK_TOP: u64 = 0x7000_0000;
/// Largest stack the host will map, in bytes (64 MiB).
pub const MAX_STACK_SIZE: u64 = 0x400_0000;

/// Guest physical address of the host-call doorbell. No memslot covers it, so
/// a store there leaves the guest with `KVM_EXIT_MMIO`. It is mapped into the
/// guest's address space at [`DOORBELL_VA`] (ring 3 must be able to store
/// there, since the runtime page runs in ring 3), but the host believes a
/// doorbell exit only when the vCPU's RIP is right after one of the runtime
/// page's two doorbell stores; an access from anywhere else ends the call
/// with the trap `forged_exit`.
pub const DOORBELL_GPA: u64 = 0x1_0000_0000;
/// Virtual address of the doorbell page (read + write from ring 3).
pub const DOORBELL_VA: u64 = 0x7fff_f000;

/// Base of the prepared code of a contract (read + execute from ring 3): the
/// translation of its verified code with gas charges and checked indirect
/// branches, preceded by the read-only constants the charges use and
/// followed by landing stubs. The contract's own code pages stay mapped at
/// their ELF addresses, read-only and not executable. It lies within 2 GiB
/// of the whole contract window, so RIP-relative operands keep reaching the
/// contract's data.
pub const PREPARED_CODE_BASE: u64 = 0x7100_0000;
/// End (exclusive) of the prepared-code region (224 MiB).
pub const PREPARED_CODE_END: u64 = 0x7f00_0000;

/// GS base of a prepared guest: the *code table*, a window of 8-byte slots
/// indexed by the full 64-bit value of a code address `t` below
/// [`CODE_TABLE_LIMIT`]: slot `t` lies at `CODE_TABLE_BASE + 8 t`. Prepared
/// code checks every indirect jump, indirect call and return (and the
/// host-call gate its own return) by first comparing the target with
/// [`CODE_TABLE_LIMIT`] (all 64 bits: any value at or above it traps) and
/// then jumping to the slot's value. A slot holds:
///
/// * for a verified instruction start of the contract (an original
///   address), the prepared address that runs it with its gas charged;
/// * for a prepared return site (the address after a prepared `call`,
///   which is what a call pushes), that same address, so a return address
///   read from the stack (setjmp/longjmp, a saved continuation) is a valid
///   target of a later jump, call or return;
/// * for [`HOSTCALL_ENTRY`] and the runtime's method-return site, themselves;
/// * for anything else, an address in [`INVALID_TARGET_BASE`] that faults.
///
/// Pages of the window with no valid slot are unmapped (reading one faults).
pub const CODE_TABLE_BASE: u64 = 0x100_0000_0000;
/// Exclusive bound of the values the code table covers (the end of the
/// prepared-code region): code addresses are below it, and the index
/// compare is a sign-extended 32-bit immediate, so it stays below 2^31.
pub const CODE_TABLE_LIMIT: u64 = PREPARED_CODE_END;
/// Size of the code table's window, in bytes.
pub const CODE_TABLE_WINDOW: u64 = CODE_TABLE_LIMIT * 8;
/// Most page-table pages (each maps 2 MiB) the prepared code and the
/// backed pages of its code table may take from the page-table pool
/// ([`PAGE_TABLE_BASE`]..[`PAGE_TABLE_END`], 224 pages): the translation
/// (`nativm_gas::translate`) refuses, naming this limit, a contract that
/// would need more, so that a contract that deploys also loads. The rest
/// of the pool maps the shim, runtime, segments, heap, stack and input.
pub const PREPARED_PAGE_TABLES: u64 = 128;

/// Unmapped window that invalid code-table slots point into: a fetch from
/// `INVALID_TARGET_BASE + t` means "transfer to `t`, which is not a
/// verified instruction start or return site".
pub const INVALID_TARGET_BASE: u64 = 0x300_0000_0000;

/// Gas price of [`hostcall::SET_RETURN`], charged by the host-call gate
/// itself (no exit): `SET_RETURN_GAS_BASE + SET_RETURN_GAS_PER_BYTE * len`.
/// Part of the cost table (`nativm_gas::cost`), defined here because the
/// gate is built from these constants.
pub const SET_RETURN_GAS_BASE: u64 = 100;
/// Gas per byte of [`hostcall::SET_RETURN`] (see [`SET_RETURN_GAS_BASE`]).
pub const SET_RETURN_GAS_PER_BYTE: u64 = 1;

/// Gas price of [`hostcall::CALLER`]: `base + per_byte * 32`, charged by
/// the gate (which serves it from the CallInfo page) or by the host (when
/// the output buffer is not in a writable range: it then traps).
pub const CALLER_GAS_BASE: u64 = 100;
/// Gas per byte of [`hostcall::CALLER`].
pub const CALLER_GAS_PER_BYTE: u64 = 1;

/// Gas price of [`hostcall::STORAGE_READ`]: `base + per_byte * (key_len +
/// bytes copied)`, charged by the host or, for a key in the storage cache,
/// by the gate (the same formula on both paths). Part of the cost table
/// (`nativm_gas::cost`), defined here because the gate is built from it.
pub const STORAGE_READ_GAS_BASE: u64 = 2_000;
/// Gas per byte of [`hostcall::STORAGE_READ`].
pub const STORAGE_READ_GAS_PER_BYTE: u64 = 2;
/// Gas price of [`hostcall::STORAGE_WRITE`] when it is made: `base +
/// per_byte * (key_len + value_len)`; the write is charged again, once per
/// key, when the call's writes are taken at its return
/// ([`STORAGE_COMMIT_GAS_PER_BYTE`]).
pub const STORAGE_WRITE_GAS_BASE: u64 = 2_000;
/// Gas per byte of [`hostcall::STORAGE_WRITE`] when it is made.
pub const STORAGE_WRITE_GAS_PER_BYTE: u64 = 2;
/// Gas per byte (key and value) of every key a call leaves written, charged
/// at its return with [`STORAGE_COMMIT_GAS_BASE`]: a key written once costs
/// `5 000 + 10` per byte in all.
pub const STORAGE_COMMIT_GAS_PER_BYTE: u64 = 8;
/// Gas per key a call leaves written (not removed), charged at its return.
pub const STORAGE_COMMIT_GAS_BASE: u64 = 3_000;
/// Gas price of [`hostcall::STORAGE_REMOVE`]: `base + per_byte * key_len`.
pub const STORAGE_REMOVE_GAS_BASE: u64 = 3_000;
/// Gas per byte of [`hostcall::STORAGE_REMOVE`].
pub const STORAGE_REMOVE_GAS_PER_BYTE: u64 = 2;

/// Largest gas limit of a call (2^62): the gas left is the sum of four
/// signed 64-bit counters, so the limit stays far from overflow.
pub const MAX_GAS_LIMIT: u64 = 1 << 62;

/// The page at [`CALL_INFO`], written by the host before each call and
/// read-only to the contract. All fields are little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// [`ABI_VERSION`] of the host running the call.
    pub abi_version: u64,
    /// Guest address of the method being called.
    pub entry: u64,
    /// Guest address of the input ([`INPUT_BASE`]).
    pub input_ptr: u64,
    /// Length of the input in bytes.
    pub input_len: u64,
    /// Guest address of the heap ([`HEAP_BASE`]).
    pub heap_base: u64,
    /// Size of the heap in bytes (a multiple of [`PAGE_SIZE`], may be 0).
    pub heap_size: u64,
    /// Initial stack pointer ([`STACK_TOP`]).
    pub stack_top: u64,
    /// Size of the stack in bytes.
    pub stack_size: u64,
    /// Identity of the caller, 32 bytes (also available via [`hostcall::CALLER`]).
    pub caller: [u8; 32],
    /// Gas limit of the call (the runtime loads it into the gas counter).
    pub gas_limit: u64,
    /// Guest address of the storage cache ([`storage_cache`]), 0 if none.
    pub storage_cache: u64,
}

/// Byte offsets of [`CallInfo`] fields, for assembly and C code.
pub mod call_info {
    /// Offset of [`super::CallInfo::abi_version`].
    pub const ABI_VERSION: u64 = 0;
    /// Offset of [`super::CallInfo::entry`].
    pub const ENTRY: u64 = 8;
    /// Offset of [`super::CallInfo::input_ptr`].
    pub const INPUT_PTR: u64 = 16;
    /// Offset of [`super::CallInfo::input_len`].
    pub const INPUT_LEN: u64 = 24;
    /// Offset of [`super::CallInfo::heap_base`].
    pub const HEAP_BASE: u64 = 32;
    /// Offset of [`super::CallInfo::heap_size`].
    pub const HEAP_SIZE: u64 = 40;
    /// Offset of [`super::CallInfo::stack_top`].
    pub const STACK_TOP: u64 = 48;
    /// Offset of [`super::CallInfo::stack_size`].
    pub const STACK_SIZE: u64 = 56;
    /// Offset of [`super::CallInfo::caller`] (32 bytes).
    pub const CALLER: u64 = 64;
    /// Offset of [`super::CallInfo::gas_limit`].
    pub const GAS_LIMIT: u64 = 96;
    /// Offset of [`super::CallInfo::storage_cache`].
    pub const STORAGE_CACHE: u64 = 104;
    /// Size of [`super::CallInfo`] in bytes.
    pub const SIZE: u64 = 112;
    /// Offset in the CallInfo page of the number of memory ranges listed
    /// at [`RANGES`] (at most [`MAX_RANGES`]).
    pub const RANGE_COUNT: u64 = 0x200;
    /// Offset in the CallInfo page of the memory ranges the contract may
    /// access, each three words: start, end (exclusive), writable (0/1).
    /// The gate checks storage-call pointers against them.
    pub const RANGES: u64 = 0x208;
    /// Most memory ranges listed.
    pub const MAX_RANGES: u64 = 32;
}

const _: () = assert!(core::mem::size_of::<CallInfo>() as u64 == call_info::SIZE);

/// Host-call numbers (the `nr` argument of [`HOSTCALL_ENTRY`]).
///
/// Pointers are guest virtual addresses; lengths are in bytes. "Readable"
/// means every byte lies in a page ring 3 may read; "writable" likewise.
pub mod hostcall {
    /// Reserved (ABI 2 used it for the method's return; in ABI 3 the return
    /// has its own doorbell). A host call with this number is refused as
    /// unknown: a trap.
    pub const RETURN: u64 = 0;
    /// `caller(out: *mut [u8; 32]) -> 0`: writes the caller's 32-byte identity.
    pub const CALLER: u64 = 1;
    /// `set_return(ptr, len) -> 0`: sets the call's return data (replacing
    /// any earlier value), copying it at the time of the call.
    /// `len <= MAX_RETURN_LEN`. Served inside the guest by the runtime page
    /// (no VM exit), see [`super::RETURN_BUFFER`].
    pub const SET_RETURN: u64 = 2;
    /// `storage_read(key_ptr, key_len, val_ptr, val_cap) -> len`: looks the key
    /// up in this contract's storage. Returns [`NOT_FOUND`] if absent; else the
    /// value's full length, having copied `min(len, val_cap)` bytes to `val_ptr`.
    pub const STORAGE_READ: u64 = 3;
    /// `storage_write(key_ptr, key_len, val_ptr, val_len) -> 0`: sets the key.
    /// `key_len <= MAX_KEY_LEN`, `val_len <= MAX_VALUE_LEN`.
    pub const STORAGE_WRITE: u64 = 4;
    /// `storage_remove(key_ptr, key_len) -> existed`: removes the key;
    /// returns 1 if it was present, else 0.
    pub const STORAGE_REMOVE: u64 = 5;
    /// `log(ptr, len) -> 0`: appends a log entry to the receipt.
    /// `len <= MAX_LOG_LEN`, at most `MAX_LOGS` entries per call.
    pub const LOG: u64 = 6;
    /// `abort(msg_ptr, msg_len) -> !`: ends the call with status `reverted`
    /// and the message (UTF-8, lossily decoded; `msg_len <= MAX_ABORT_MESSAGE_LEN`).
    /// All storage writes of the call are discarded.
    pub const ABORT: u64 = 7;
    /// `call(desc: *mut [u64; 10]) -> status`: calls a method of the
    /// contract at another address (or this one: re-entrancy is allowed),
    /// described by the [`super::contract_call`] descriptor at `desc`
    /// (80 bytes, readable; its last two words writable). The callee runs
    /// in its own guest with its own memory, with the gas the descriptor
    /// gives (at most the caller's gas left after this call's own charge);
    /// its storage writes join the caller's only if it ends `ok`. Returns a
    /// [`super::contract_call`] status; the callee's return data (up to
    /// the descriptor's capacity) is copied to its output buffer, and its
    /// full length and the gas it used are written into the descriptor.
    /// The caller pays the gas the callee used.
    pub const CALL: u64 = 8;

    /// Result of [`STORAGE_READ`] for an absent key.
    pub const NOT_FOUND: u64 = u64::MAX;
}

/// The descriptor of [`hostcall::CALL`]: ten little-endian `u64` words,
/// byte offsets below, and the statuses the call returns.
///
/// ```c
/// struct nativm_call {           /* offset */
///     uint64_t address_ptr;      /*  0: the callee's 32-byte address      */
///     uint64_t method_ptr;       /*  8: method name (UTF-8, not NUL-terminated) */
///     uint64_t method_len;       /* 16: <= MAX_METHOD_LEN                  */
///     uint64_t input_ptr;        /* 24: the callee's input                 */
///     uint64_t input_len;        /* 32: <= MAX_INPUT_LEN                   */
///     uint64_t gas;              /* 40: gas limit given to the callee      */
///     uint64_t output_ptr;       /* 48: buffer for the callee's return data */
///     uint64_t output_cap;       /* 56: its size in bytes                  */
///     uint64_t output_len;       /* 64: written: full return-data length   */
///     uint64_t gas_used;         /* 72: written: gas the callee used       */
/// };
/// ```
pub mod contract_call {
    /// Offset of the callee address pointer.
    pub const ADDRESS_PTR: u64 = 0;
    /// Offset of the method-name pointer.
    pub const METHOD_PTR: u64 = 8;
    /// Offset of the method-name length.
    pub const METHOD_LEN: u64 = 16;
    /// Offset of the input pointer.
    pub const INPUT_PTR: u64 = 24;
    /// Offset of the input length.
    pub const INPUT_LEN: u64 = 32;
    /// Offset of the callee's gas limit.
    pub const GAS: u64 = 40;
    /// Offset of the output-buffer pointer.
    pub const OUTPUT_PTR: u64 = 48;
    /// Offset of the output-buffer capacity.
    pub const OUTPUT_CAP: u64 = 56;
    /// Offset of the return-data length the host writes.
    pub const OUTPUT_LEN: u64 = 64;
    /// Offset of the callee's gas used, which the host writes.
    pub const GAS_USED: u64 = 72;
    /// Size of the descriptor in bytes.
    pub const SIZE: u64 = 80;

    /// Longest method name, in bytes.
    pub const MAX_METHOD_LEN: u64 = 256;
    /// Most contract frames on one call stack, the outermost call
    /// included: a `call` made by the 64th frame returns
    /// [`DEPTH_EXCEEDED`] without running anything.
    pub const MAX_CALL_DEPTH: u64 = 64;

    /// The callee returned; its state changes joined the caller's.
    pub const OK: u64 = 0;
    /// The callee called `abort`; its changes were dropped.
    pub const REVERTED: u64 = 1;
    /// The callee trapped (CPU exception or refused host-call argument);
    /// its changes were dropped.
    pub const TRAPPED: u64 = 2;
    /// The callee ran out of the gas it was given (it used all of it); its
    /// changes were dropped.
    pub const OUT_OF_GAS: u64 = 3;
    /// The call stack already holds [`MAX_CALL_DEPTH`] frames; nothing ran.
    pub const DEPTH_EXCEEDED: u64 = 4;
    /// No account exists at the address; nothing ran.
    pub const NO_ACCOUNT: u64 = 5;
    /// The callee exports no method of that name; nothing ran.
    pub const UNKNOWN_METHOD: u64 = 6;
}

/// The storage cache: storage keys served inside the guest, without a VM
/// exit, by the host-call gate (host calls `STORAGE_READ`, `STORAGE_WRITE`,
/// `STORAGE_REMOVE`).
///
/// It lies at the end of the heap ([`CallInfo::storage_cache`], 0 when the
/// heap is too small to hold it; [`CallInfo::heap_size`] excludes it), is
/// written by the host at the start of a call (the keys the transaction
/// declared in its access list, with their values) and after a host call
/// that read a key, and by the gate when it serves a write. At the method's
/// return (and before a contract-to-contract call) the host takes the
/// written entries as the call's storage writes. Every byte of it is
/// writable by the contract too: the host trusts nothing in it but what
/// any storage write could say, charges the writes it finds there at the
/// return (see `nativm_gas::cost`), and refuses a damaged cache (a trap).
///
/// Layout (little-endian): a [`HEADER_SIZE`]-byte header whose first word
/// is the number of entries in use, then [`ENTRIES`] entries of
/// [`ENTRY_SIZE`] bytes: flags (u32, [`PRESENT`], [`VALUE`], [`DIRTY`],
/// [`EVICTED`]) at 0, key length (u32) at 4, value length (u32) at 8, the
/// key at [`KEY_OFFSET`] (at most [`MAX_KEY_LEN`] bytes), the value at
/// [`VALUE_OFFSET`] (at most [`MAX_VALUE_LEN`] bytes).
///
/// The gate checks every pointer it is given against the memory ranges the
/// host lists in the [`CALL_INFO`] page ([`call_info::RANGE_COUNT`],
/// [`call_info::RANGES`], read-only to the contract) and leaves anything it
/// cannot serve (a key not in the cache, too long, an entry evicted, a
/// pointer outside the ranges, a full cache) to the host through the
/// doorbell, exactly as without the cache. Gas is charged by the same
/// formula on both paths.
pub mod storage_cache {
    /// Entries in the cache (a count).
    pub const ENTRIES: u64 = 64;
    /// Size of one entry, in bytes.
    pub const ENTRY_SIZE: u64 = 384;
    /// Size of the header, in bytes.
    pub const HEADER_SIZE: u64 = 256;
    /// Size of the cache, in bytes (7 pages).
    pub const SIZE: u64 = 7 * super::PAGE_SIZE;
    /// Longest key the cache holds, in bytes.
    pub const MAX_KEY_LEN: u64 = 64;
    /// Longest value the cache holds, in bytes.
    pub const MAX_VALUE_LEN: u64 = 256;
    /// Offset of the key in an entry.
    pub const KEY_OFFSET: u64 = 16;
    /// Offset of the value in an entry.
    pub const VALUE_OFFSET: u64 = 80;
    /// Flag: the entry is in use (holds a key).
    pub const PRESENT: u32 = 1;
    /// Flag: the key has a value (else it is absent from storage).
    pub const VALUE: u32 = 2;
    /// Flag: written or removed during the call.
    pub const DIRTY: u32 = 4;
    /// Flag: the host holds the key's current state (the gate leaves it to
    /// the host).
    pub const EVICTED: u32 = 8;

    const _: () = assert!(HEADER_SIZE + ENTRIES * ENTRY_SIZE <= SIZE);
    const _: () = assert!(VALUE_OFFSET + MAX_VALUE_LEN <= ENTRY_SIZE);
    const _: () = assert!(KEY_OFFSET + MAX_KEY_LEN <= VALUE_OFFSET);
}

/// Limits on host-call arguments, in bytes unless stated.
pub mod limits {
    /// Longest storage key.
    pub const MAX_KEY_LEN: u64 = 1024;
    /// Longest storage value.
    pub const MAX_VALUE_LEN: u64 = 1 << 20;
    /// Longest return data.
    pub const MAX_RETURN_LEN: u64 = 1 << 20;
    /// Longest single log entry.
    pub const MAX_LOG_LEN: u64 = 64 * 1024;
    /// Most log entries in one call (a count).
    pub const MAX_LOGS: u64 = 1024;
    /// Longest abort message.
    pub const MAX_ABORT_MESSAGE_LEN: u64 = 4096;
}

/// Default limits on a contract ELF, in bytes unless stated: the one place
/// they are written. The verifier's `Config::default()` takes them (a
/// deployment may lower or raise them there; the verifier checks every
/// prepared contract against its configuration, and the loader maps what
/// the verifier checked, without a parse of its own).
pub mod elf_limits {
    /// Largest ELF file (64 MiB).
    pub const MAX_FILE_SIZE: u64 = 64 << 20;
    /// Largest total memory size of executable `PT_LOAD` segments (32 MiB).
    pub const MAX_CODE_SIZE: u64 = 32 << 20;
    /// Largest total memory size of non-executable `PT_LOAD` segments (256 MiB).
    pub const MAX_DATA_SIZE: u64 = 256 << 20;
    /// Most non-empty `PT_LOAD` segments (a count).
    pub const MAX_SEGMENTS: usize = 16;
}

/// Gas counters: the single home of the arithmetic that turns the four
/// counters into the gas left.
///
/// The gas left of a running call is the sum of four signed 64-bit
/// counters held in MMX registers `mm0`..`mm3`: the runtime page loads the
/// call's gas limit into `mm0` and zeroes the others, the translator's
/// block charges (`psubq mmK, [rip + c]`, `K` cycling through the four) and
/// the host-call gate only subtract, and the gate hands them to the host in
/// `rax`, `r9`, `r10`, `r11` at its doorbell exits (at traps and backstop
/// checks the host reads them with `KVM_GET_FPU`). Host-call prices are
/// charged by the host on that sum (`nativm_host_calls`), which it then
/// hands back to the gate in `r9`. The VMM sums them with [`gas_left`];
/// nothing else adds the counters up.
pub mod gas {
    /// Number of gas counters (`mm0`..`mm3`).
    pub const COUNTERS: usize = 4;

    /// The gas left, from the counters `mm0`..`mm3` as the CPU holds them
    /// (each a two's-complement `i64`: `psubq` wraps below zero, so the bits
    /// are reinterpreted, not converted), summed exactly and clamped to the
    /// `i64` range. Negative means the call ran out of gas at some point:
    /// counters only go down (Intel SDM Vol. 2, PSUBQ).
    pub fn gas_left(counters: [u64; COUNTERS]) -> i64 {
        let mut sum: i128 = 0;
        for c in counters {
            sum += i128::from(c.cast_signed());
        }
        // Four i64s sum to within 4 * 2^63 in magnitude: no i128 overflow.
        match i64::try_from(sum) {
            Ok(v) => v,
            Err(_) if sum < 0 => i64::MIN,
            Err(_) => i64::MAX,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn gas_is_the_sum_of_the_counters() {
            assert_eq!(gas_left([10, 0, 0, 0]), 10);
            // Counters below zero, as `psubq` leaves them: two's complement.
            let (minus_3, minus_4) = ((-3i64).cast_unsigned(), (-4i64).cast_unsigned());
            assert_eq!(gas_left([10, minus_3, minus_4, 0]), 3);
            let max = i64::MAX.cast_unsigned();
            assert_eq!(gas_left([max, max, 0, 0]), i64::MAX);
            let min = i64::MIN.cast_unsigned();
            assert_eq!(gas_left([min, min, 0, 0]), i64::MIN);
            assert_eq!(gas_left([min, max, 1, 0]), 0);
        }
    }
}
