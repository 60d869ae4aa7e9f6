/*
 * attack:   caller(out = 0x200000): have the host overwrite the host-call
 *           gate itself with 32 contract-chosen bytes (the caller id).
 * targets:  host-call output buffers must be contract-writable memory.
 * expected: trap host_call
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_CALLER
    mov esi, RUNTIME_BASE
    call HOSTCALL
    add rsp, 8
    ret
