/*
 * attack:   caller(out = doorbell page): have the host itself write the
 *           doorbell's virtual address (no memslot behind its GPA).
 * targets:  host-call output buffers must be contract-writable memory.
 * expected: trap host_call
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_CALLER
    mov esi, DOORBELL
    call HOSTCALL
    add rsp, 8
    ret
