/*
 * attack:   caller(out = 0x201000 + 96): have the host write the 32-byte
 *           caller identity over call info's gas limit (the host writes
 *           with its own rights, not ring 3's).
 * targets:  host-call output buffers must be contract-writable memory.
 * expected: trap host_call
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_CALLER
    mov esi, CALL_INFO + CI_GAS_LIMIT
    call HOSTCALL
    add rsp, 8
    ret
