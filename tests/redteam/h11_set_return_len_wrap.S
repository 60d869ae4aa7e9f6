/*
 * attack:   set_return(ptr, 2^64 - 50): the gate charges 100 + len, which
 *           wraps to 50 in 64-bit arithmetic, and would record a huge
 *           length in mm7 (the host then reading 2^64-50 bytes).
 * targets:  the gate's set_return length check (len <= 1 MiB first).
 * expected: trap host_call
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_SET_RETURN
    lea rsi, [rip + attack]
    mov rdx, -50
    call HOSTCALL
    add rsp, 8
    ret
