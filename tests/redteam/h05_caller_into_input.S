/*
 * attack:   caller(out = input): have the host rewrite the read-only call
 *           input (0x60000000).
 * targets:  host-call output buffers must be contract-writable memory.
 * expected: trap host_call
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov rsi, rdi        /* the input pointer */
    mov edi, HC_CALLER
    call HOSTCALL
    add rsp, 8
    ret
