/*
 * attack:   storage_write whose key range wraps: key_ptr = 2^64 - 8,
 *           key_len = 16 (covers [2^64-8, 2^64) and [0, 8)).
 * targets:  host-call range checks on readable inputs.
 * expected: trap host_call
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_STORAGE_WRITE
    mov rsi, -8
    mov edx, 16
    lea rcx, [rip + attack]
    mov r8d, 1
    call HOSTCALL
    add rsp, 8
    ret
