/*
 * attack:   a call whose callee-address pointer is the doorbell page, for
 *           the host's read of the address to touch it.
 * targets:  every pointer of the descriptor is checked against ring-3
 *           memory: a trap naming the address argument.
 * expected: trap host_call
 * message:  call: address
 */
#include "redteam.h"

METHOD attack
    sub rsp, 88
    mov qword ptr [rsp], DOORBELL
    mov qword ptr [rsp + 8], 0
    mov qword ptr [rsp + 16], 0
    mov qword ptr [rsp + 24], 0
    mov qword ptr [rsp + 32], 0
    mov qword ptr [rsp + 40], 1000
    mov qword ptr [rsp + 48], 0
    mov qword ptr [rsp + 56], 0
    mov edi, HC_CALL
    lea rsi, [rsp]
    call HOSTCALL
    add rsp, 88
    ret
