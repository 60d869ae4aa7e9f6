/*
 * attack:   storage_read into the contract's own original code page
 *           (0x401000, read-only, not executable): self-modifying code by
 *           proxy (if the translation were ever redone from those bytes).
 * targets:  host-call output buffers must be contract-writable memory.
 * expected: trap host_call
 */
#include "redteam.h"

    .section .rodata
key: .ascii "k"
val: .fill 16, 1, 0xcc

METHOD attack
    sub rsp, 8
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + val]
    mov r8d, 16
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + attack]
    mov r8d, 16
    call HOSTCALL
    add rsp, 8
    ret
