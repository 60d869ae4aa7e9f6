/*
 * attack:   log(ptr = .data, len = 2^64 - ptr + 16): ptr + len wraps to
 *           16, below ptr.
 * targets:  host-call length limits and overflow-safe range checks.
 * expected: trap host_call
 */
#include "redteam.h"

    .data
buf: .quad 1

METHOD attack
    sub rsp, 8
    mov edi, HC_LOG
    lea rsi, [rip + buf]
    mov rdx, rsi
    neg rdx
    add rdx, 16
    call HOSTCALL
    add rsp, 8
    ret
