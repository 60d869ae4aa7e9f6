/*
 * attack:   set_return(DOORBELL, 8): make the trusted gate itself read the
 *           doorbell page (its `rep movsb` at set_return_copy), an MMIO
 *           exit at a runtime-page RIP that is not a doorbell resume point.
 * targets:  the host's doorbell check for accesses made by the gate on a
 *           contract-chosen pointer: not a believed exit; since fuzz
 *           finding 4 (d4507b0) it is named as what it is, a set_return
 *           whose data is not readable (a host-call fault), not a
 *           forged_exit (the runtime, not the contract, made the access).
 * expected: trap host_call
 * message: set_return: data 0x7ffff000+8 is not readable
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_SET_RETURN
    mov esi, DOORBELL
    mov edx, 8
    call HOSTCALL
    add rsp, 8
    ret
