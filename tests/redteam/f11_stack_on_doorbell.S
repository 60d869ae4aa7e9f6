/*
 * attack:   point rsp into the doorbell page and `call HOSTCALL`: the
 *           call's own push of the return address is then the doorbell
 *           store (rdi = 0 for "method returned"), made by contract code
 *           one instruction before the gate.
 * targets:  the host's doorbell-RIP check (a push is a store too).
 * expected: trap forged_exit
 */
#include "redteam.h"

METHOD attack
    mov rbx, rsp
    mov esp, DOORBELL + 0x10
    xor edi, edi
    call HOSTCALL
    mov rsp, rbx
    ret
