/*
 * attack:   set_return(DOORBELL, 8): make the trusted gate itself read the
 *           doorbell page (its `rep movsb` at set_return_copy), an MMIO
 *           exit at a runtime-page RIP that is not a doorbell resume point.
 * targets:  the host's doorbell check for accesses made by the gate on a
 *           contract-chosen pointer.
 * expected: trap forged_exit
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
