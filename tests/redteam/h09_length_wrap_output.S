/*
 * attack:   storage_read with val_ptr = 2^64 - 16 and val_cap = 32: the
 *           range wraps past 2^64 to [0, 16); a `ptr + len <= end` check
 *           in wrapping arithmetic passes.
 * targets:  host-call range checks (overflow-safe).
 * expected: trap host_call
 */
#include "redteam.h"

    .section .rodata
key: .ascii "k"
val: .fill 32, 1, 0x42

METHOD attack
    sub rsp, 8
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + val]
    mov r8d, 32
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rip + key]
    mov edx, 1
    mov rcx, -16
    mov r8d, 32
    call HOSTCALL
    add rsp, 8
    ret
