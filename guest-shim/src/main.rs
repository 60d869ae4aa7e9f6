//! # nativm guest shim
//!
//! The only code that runs in guest ring 0, plus the trusted ring-3 runtime
//! page. It is deliberately tiny and written in assembly: on the nested
//! (kvm_pvm) KVM of the development machines guest ring 0 is emulated, and
//! SSE/MMX instructions there fail (`../shared/design-notes.md`, section 1),
//! so the crate is also built with SSE disabled (`vmm/build.rs`), and a test
//! in `vmm` disassembles the result to prove it holds no SSE, MMX or x87
//! instruction outside the runtime page.
//!
//! ## What it does
//!
//! * `_start` (ring 0, entered in 64-bit long mode with the GDT, IDT, TSS
//!   and page tables the VMM laid out, see `nativm_vmm::layout`, and the task
//!   register already loaded) drops to ring 3 with `iretq` at `runtime_loop`.
//! * `isr0`..`isr31` (ring 0) catch every CPU exception (Intel SDM Vol. 3A,
//!   6.15 "Exception and Interrupt Reference"), write a trap report (vector,
//!   error code, RIP, CS, RFLAGS, RSP, SS, CR2) to the report page, and leave
//!   the guest with `out` to [`TRAP_PORT`]. The VMM never resumes a guest
//!   after a trap.
//! * The runtime page (ring 3, read + execute) holds the host-call gate at
//!   `nativm_abi::HOSTCALL_ENTRY` (which serves `set_return` itself, see
//!   `nativm_abi::RETURN_BUFFER`, and returns through the code-table check
//!   like a contract return) and the call loop: load the stack from the
//!   `CallInfo` page, reset x87/SSE/MMX state with `fxrstor` from a clean
//!   image, load the gas counter (`mm0`) from the call's gas limit, reset
//!   RFLAGS (`popfq` of 0x2: every arithmetic, direction, trap and
//!   alignment-check flag clear), zero the general registers, call the
//!   method, and report its return through the doorbell, the gas counters
//!   and the return-data length in registers.
#![no_std]
#![no_main]

use core::arch::global_asm;

/// I/O port the ring-0 exception handlers write to after filling the trap
/// report. Must equal `nativm_vmm::layout::TRAP_PORT`.
pub const TRAP_PORT: u16 = 0x10;

// Ring 0: entry and exception stubs.
//
// Report page layout (u64 words at SHIM_SYSTEM_BASE + 0x3000, see
// nativm_vmm::layout::TrapReport): 0 vector, 1 error code, 2 rip, 3 cs,
// 4 rflags, 5 rsp, 6 ss, 7 cr2, 8 magic (0x7261_7074 "trap"), 9 rax and
// 10 rdx as the faulting code left them (the handler uses both).
global_asm!(
    r#"
    .intel_syntax noprefix
    .section .text.boot, "ax"
    .global _start
_start:
    push {user_ss}
    push {stack_top}
    push 0x2
    push {user_cs}
    push OFFSET runtime_loop
    iretq

    .macro ISR_NOERR n
    .global isr\n
isr\n:
    push 0
    push \n
    jmp isr_common
    .endm
    .macro ISR_ERR n
    .global isr\n
isr\n:
    push \n
    jmp isr_common
    .endm

    ISR_NOERR 0
    ISR_NOERR 1
    ISR_NOERR 2
    ISR_NOERR 3
    ISR_NOERR 4
    ISR_NOERR 5
    ISR_NOERR 6
    ISR_NOERR 7
    ISR_ERR   8
    ISR_NOERR 9
    ISR_ERR   10
    ISR_ERR   11
    ISR_ERR   12
    ISR_ERR   13
    ISR_ERR   14
    ISR_NOERR 15
    ISR_NOERR 16
    ISR_ERR   17
    ISR_NOERR 18
    ISR_NOERR 19
    ISR_NOERR 20
    ISR_ERR   21
    ISR_NOERR 22
    ISR_NOERR 23
    ISR_NOERR 24
    ISR_NOERR 25
    ISR_NOERR 26
    ISR_NOERR 27
    ISR_NOERR 28
    ISR_ERR   29
    ISR_ERR   30
    ISR_NOERR 31

isr_common:
    mov [{report} + 72], rax
    mov [{report} + 80], rdx
    mov rax, [rsp]
    mov [{report}], rax
    mov rax, [rsp + 8]
    mov [{report} + 8], rax
    mov rax, [rsp + 16]
    mov [{report} + 16], rax
    mov rax, [rsp + 24]
    mov [{report} + 24], rax
    mov rax, [rsp + 32]
    mov [{report} + 32], rax
    mov rax, [rsp + 40]
    mov [{report} + 40], rax
    mov rax, [rsp + 48]
    mov [{report} + 48], rax
    mov rax, cr2
    mov [{report} + 56], rax
    mov eax, 0x72617074
    mov [{report} + 64], rax
    mov dx, {trap_port}
    out dx, al
2:
    hlt
    jmp 2b

    .section .rodata.isr_table, "a"
    .balign 8
    .global isr_table
isr_table:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad isr\n
    .endr
    .att_syntax
"#,
    user_ss = const 0x1b,
    user_cs = const 0x23,
    stack_top = const nativm_abi::STACK_TOP,
    report = const nativm_abi::SHIM_SYSTEM_BASE + 0x3000,
    trap_port = const TRAP_PORT,
);

// Ring 3: the trusted runtime page (see docs/threat-model.md).
//
// The host believes a doorbell exit only when RIP is `hostcall_resume` or
// `return_resume`, the addresses right after the two doorbell stores; it
// reads everything it needs from the vCPU's registers, never from memory
// ring 3 can write. Contract code reaches this page only at
// `hostcall_entry` (the verifier refuses other direct branches into it and
// the code table holds no other address of it but `runtime_return`), and
// the gate leaves only through a return checked like a contract return.
global_asm!(
    r#"
    .intel_syntax noprefix
    .section .runtime, "ax"
    .global hostcall_entry
hostcall_entry:
    /* set_return within the limit is served here, without an exit; so
       are storage calls whose key is in the storage cache. */
    cmp rdi, {set_return}
    je 1f
    cmp rdi, {caller}
    je caller_here
    cmp rdi, {storage_read}
    je cache_read
    cmp rdi, {storage_write}
    je cache_write
    cmp rdi, {storage_remove}
    je cache_remove
    jmp hostcall_exit
1:
    cmp rdx, {max_return}
    jbe set_return_here
    .global hostcall_exit
hostcall_exit:
    /* The gas counters go to the host in registers (nativm_abi, "Host
       calls"); the arguments already are in rdi, rsi, rdx, rcx, r8. */
    movq rax, mm0
    movq r9, mm1
    movq r10, mm2
    movq r11, mm3
    mov dword ptr [{doorbell}], eax
    .global hostcall_resume
hostcall_resume:
    /* The host left the result in rax and the gas left in r9. */
    movq mm0, r9
    pxor mm1, mm1
    pxor mm2, mm2
    pxor mm3, mm3
gate_return:
    /* The return address is checked like a contract return: below the
       code table's limit (all 64 bits), then replaced by its slot. */
    mov r9, [rsp]
    cmp r9, {table_limit}
    jae gate_bad_return
    mov r9, gs:[r9 * 8]
    cmp r9, {table_limit}
    jae gate_bad_return
    mov [rsp], r9
    xor r9d, r9d
    xor r10d, r10d
    xor r11d, r11d
    /* DF clear and fixed arithmetic flags at the return (the ABI; the
       verifier's flag model). */
    cld
    cmp esp, esp
    ret
    .global gate_bad_return
gate_bad_return:
    ud2

set_return_here:
    /* Charge base + per_byte * len (nativm_abi::SET_RETURN_GAS_*) to the
       counter, keep the length in mm7, copy the data. A bad source faults
       on the `rep movsb` at `set_return_copy`, which the host reports as
       a set_return fault. */
    imul rax, rdx, {sr_per_byte}
    add rax, {sr_base}
    movq mm4, rax
    psubq mm0, mm4
    movq mm7, rdx
    mov rcx, rdx
    mov edi, {return_buffer}
    cld
    .global set_return_copy
set_return_copy:
    rep movsb
    xor eax, eax
    jmp gate_return

    /* ---- the storage cache (nativm_abi::storage_cache) ----------------
       Scratch: rax, r9-r11 and mm4-mm6 (the contract cannot read MMX
       registers). The arguments rdi, rsi, rcx are kept in mm6, mm4, mm5
       and restored before falling back to the doorbell (cache_slow), so
       the host sees the call exactly as made. Nothing here writes guest
       memory before every check has passed, and no stack is used. */

    /* CHECK ptr, len, write: [ptr, ptr+len) lies in one of the ranges the
       host listed in the CallInfo page (writable ones if write = 1). */
    .macro CHECK ptr, len, write
    mov r11, [{call_info} + {ci_range_count}]
    cmp r11, {max_ranges}
    ja cache_slow
    mov eax, {call_info} + {ci_ranges}
71:
    test r11, r11
    jz cache_slow
    cmp \ptr, [rax]
    jb 72f
    mov r10, [rax + 8]
    sub r10, \ptr
    jb 72f
    cmp \len, r10
    ja 72f
    .if \write
    cmp qword ptr [rax + 16], 0
    je 72f
    .endif
    jmp 73f
72:
    add rax, 24
    dec r11
    jmp 71b
73:
    .endm

    /* FIND: r10 = the entry whose key is [rsi, rsi+rdx) (rsi = mm4),
       or 0. Uses rax, rcx, rdi, r11; r9 = the cache. */
    .macro FIND
    mov r11, [r9]
    cmp r11, {sc_entries}
    jbe 81f
    mov r11d, {sc_entries}
81:
    lea r10, [r9 + {sc_header}]
82:
    test r11, r11
    jz 84f
    mov eax, [r10]
    test eax, {sc_present}
    jz 83f
    mov eax, [r10 + 4]
    cmp rax, rdx
    jne 83f
    movq rsi, mm4
    lea rdi, [r10 + {sc_key}]
    mov rcx, rdx
    cmp eax, eax
    repe cmpsb
    je 85f
83:
    add r10, {sc_entry_size}
    dec r11
    jmp 82b
84:
    xor r10d, r10d
85:
    movq rsi, mm4
    .endm

    /* CHARGE: the gas left -= rax (through mm1; the gas left is the sum
       of mm0..mm3). */
    .macro CHARGE
    movq r9, mm1
    sub r9, rax
    movq mm1, r9
    .endm

cache_read:
    /* storage_read(key = rsi, key_len = rdx, buffer = rcx, cap = r8) */
    movq mm6, rdi
    movq mm4, rsi
    movq mm5, rcx
    mov r9, [{call_info} + {ci_storage_cache}]
    test r9, r9
    jz cache_slow
    cmp rdx, {sc_max_key}
    ja cache_slow
    CHECK rsi, rdx, 0
    CHECK rcx, r8, 1
    cld
    FIND
    test r10, r10
    jz cache_slow
    mov eax, [r10]
    test eax, {sc_evicted}
    jnz cache_slow
    test eax, {sc_value}
    jz 2f
    mov r11d, [r10 + 8]
    cmp r11, {sc_max_value}
    ja cache_slow
    /* copy min(value_len, cap) */
    mov rcx, r11
    cmp rcx, r8
    cmova rcx, r8
    lea rax, [rdx + rcx]
    imul rax, rax, {sr_read_per_byte}
    add rax, {sr_read_base}
    CHARGE
    lea rsi, [r10 + {sc_value_off}]
    movq rdi, mm5
    rep movsb
    mov rax, r11
    jmp gate_return
2:
    /* absent: NOT_FOUND */
    imul rax, rdx, {sr_read_per_byte}
    add rax, {sr_read_base}
    CHARGE
    mov rax, -1
    jmp gate_return

cache_write:
    /* storage_write(key = rsi, key_len = rdx, value = rcx, len = r8) */
    movq mm6, rdi
    movq mm4, rsi
    movq mm5, rcx
    mov r9, [{call_info} + {ci_storage_cache}]
    test r9, r9
    jz cache_slow
    cmp rdx, {sc_max_key}
    ja cache_slow
    cmp r8, {sc_max_value}
    ja cache_slow
    CHECK rsi, rdx, 0
    CHECK rcx, r8, 0
    cld
    FIND
    test r10, r10
    jnz 3f
    /* a new entry, if there is room */
    mov rax, [r9]
    cmp rax, {sc_entries}
    jae cache_slow
    imul r10, rax, {sc_entry_size}
    lea r10, [r9 + r10 + {sc_header}]
    inc rax
    mov [r9], rax
    mov [r10 + 4], edx
    movq rsi, mm4
    lea rdi, [r10 + {sc_key}]
    mov rcx, rdx
    rep movsb
    jmp 4f
3:
    mov eax, [r10]
    test eax, {sc_evicted}
    jnz cache_slow
4:
    movq rsi, mm5
    lea rdi, [r10 + {sc_value_off}]
    mov rcx, r8
    rep movsb
    mov [r10 + 8], r8d
    mov dword ptr [r10], {sc_written}
    lea rax, [rdx + r8]
    imul rax, rax, {sr_write_per_byte}
    add rax, {sr_write_base}
    CHARGE
    xor eax, eax
    jmp gate_return

cache_remove:
    /* storage_remove(key = rsi, key_len = rdx) -> existed */
    movq mm6, rdi
    movq mm4, rsi
    movq mm5, rcx
    mov r9, [{call_info} + {ci_storage_cache}]
    test r9, r9
    jz cache_slow
    cmp rdx, {sc_max_key}
    ja cache_slow
    CHECK rsi, rdx, 0
    cld
    FIND
    test r10, r10
    jz cache_slow
    mov eax, [r10]
    test eax, {sc_evicted}
    jnz cache_slow
    mov r11d, eax
    shr r11d, 1
    and r11d, 1
    mov dword ptr [r10], {sc_removed}
    mov dword ptr [r10 + 8], 0
    imul rax, rdx, {sr_remove_per_byte}
    add rax, {sr_remove_base}
    CHARGE
    mov eax, r11d
    jmp gate_return

caller_here:
    /* caller(out = rsi): 32 bytes from the CallInfo page, if out is
       writable; else the host (which names the fault). */
    movq mm6, rdi
    movq mm4, rsi
    movq mm5, rcx
    mov r8d, 32
    CHECK rsi, r8, 1
    xor r8d, r8d
    mov eax, {caller_cost}
    CHARGE
    mov rdi, rsi
    mov esi, {call_info} + {ci_caller}
    mov ecx, 32
    cld
    rep movsb
    xor eax, eax
    jmp gate_return

cache_slow:
    movq rdi, mm6
    movq rsi, mm4
    movq rcx, mm5
    jmp hostcall_exit

    .balign 64
    .global runtime_loop
runtime_loop:
    /* The stack first: nothing below may write through the previous
       call's stack pointer. */
    mov rsp, [{call_info} + {ci_stack_top}]
    fxrstor [rip + fpu_clean]
    /* The gas counters: mm0 = the limit, mm1-mm7 = 0 (fxrstor cleared
       them), out of the contract's reach (the verifier rejects every MMX,
       x87 and FPU-state instruction); the gas left is mm0+mm1+mm2+mm3,
       mm7 the return-data length. */
    movq mm0, [{call_info} + {ci_gas_limit}]
    push 0x2
    popfq
    mov rdi, [{call_info} + {ci_input_ptr}]
    mov rsi, [{call_info} + {ci_input_len}]
    xor eax, eax
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    xor ebp, ebp
    xor r8d, r8d
    xor r9d, r9d
    xor r10d, r10d
    xor r11d, r11d
    xor r12d, r12d
    xor r13d, r13d
    xor r14d, r14d
    xor r15d, r15d
    /* Through memory, so every general register but rdi, rsi and rsp is
       zero at the method's entry. */
    call qword ptr [{call_info} + {ci_entry}]
    .global runtime_return
runtime_return:
    movq rax, mm0
    movq r9, mm1
    movq r10, mm2
    movq r11, mm3
    movq rdx, mm7
    /* Zero the counters before leaving: a backstop check that interrupts
       the next call before the loop has loaded its gas limit must read
       0, never this call's (possibly negative) gas. */
    pxor mm0, mm0
    pxor mm1, mm1
    pxor mm2, mm2
    pxor mm3, mm3
    mov dword ptr [{doorbell}], eax
    .global return_resume
return_resume:
    jmp runtime_loop

    /* FXSAVE image of the power-on x87/SSE state: FCW 0x037F, MXCSR
       0x1F80, everything else zero (Intel SDM Vol. 1, 10.5.1, Table 10-2). */
    .balign 16
fpu_clean:
    .word 0x037f
    .fill 22, 1, 0
    .long 0x1f80
    .long 0xffff
    .fill 484, 1, 0
    .att_syntax
"#,
    doorbell = const nativm_abi::DOORBELL_VA,
    set_return = const nativm_abi::hostcall::SET_RETURN,
    storage_read = const nativm_abi::hostcall::STORAGE_READ,
    caller = const nativm_abi::hostcall::CALLER,
    ci_caller = const nativm_abi::call_info::CALLER,
    caller_cost = const nativm_abi::CALLER_GAS_BASE + 32 * nativm_abi::CALLER_GAS_PER_BYTE,
    storage_write = const nativm_abi::hostcall::STORAGE_WRITE,
    storage_remove = const nativm_abi::hostcall::STORAGE_REMOVE,
    ci_storage_cache = const nativm_abi::call_info::STORAGE_CACHE,
    ci_range_count = const nativm_abi::call_info::RANGE_COUNT,
    ci_ranges = const nativm_abi::call_info::RANGES,
    max_ranges = const nativm_abi::call_info::MAX_RANGES,
    sc_entries = const nativm_abi::storage_cache::ENTRIES,
    sc_entry_size = const nativm_abi::storage_cache::ENTRY_SIZE,
    sc_header = const nativm_abi::storage_cache::HEADER_SIZE,
    sc_max_key = const nativm_abi::storage_cache::MAX_KEY_LEN,
    sc_max_value = const nativm_abi::storage_cache::MAX_VALUE_LEN,
    sc_key = const nativm_abi::storage_cache::KEY_OFFSET,
    sc_value_off = const nativm_abi::storage_cache::VALUE_OFFSET,
    sc_present = const nativm_abi::storage_cache::PRESENT,
    sc_value = const nativm_abi::storage_cache::VALUE,
    sc_evicted = const nativm_abi::storage_cache::EVICTED,
    sc_written = const nativm_abi::storage_cache::PRESENT | nativm_abi::storage_cache::VALUE | nativm_abi::storage_cache::DIRTY,
    sc_removed = const nativm_abi::storage_cache::PRESENT | nativm_abi::storage_cache::DIRTY,
    sr_read_base = const nativm_abi::STORAGE_READ_GAS_BASE,
    sr_read_per_byte = const nativm_abi::STORAGE_READ_GAS_PER_BYTE,
    sr_write_base = const nativm_abi::STORAGE_WRITE_GAS_BASE,
    sr_write_per_byte = const nativm_abi::STORAGE_WRITE_GAS_PER_BYTE,
    sr_remove_base = const nativm_abi::STORAGE_REMOVE_GAS_BASE,
    sr_remove_per_byte = const nativm_abi::STORAGE_REMOVE_GAS_PER_BYTE,
    max_return = const nativm_abi::limits::MAX_RETURN_LEN,
    return_buffer = const nativm_abi::RETURN_BUFFER,
    table_limit = const nativm_abi::CODE_TABLE_LIMIT,
    sr_base = const nativm_abi::SET_RETURN_GAS_BASE,
    sr_per_byte = const nativm_abi::SET_RETURN_GAS_PER_BYTE,
    call_info = const nativm_abi::CALL_INFO,
    ci_stack_top = const nativm_abi::call_info::STACK_TOP,
    ci_input_ptr = const nativm_abi::call_info::INPUT_PTR,
    ci_input_len = const nativm_abi::call_info::INPUT_LEN,
    ci_entry = const nativm_abi::call_info::ENTRY,
    ci_gas_limit = const nativm_abi::call_info::GAS_LIMIT,
);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
