/*
 * attack:   a contract-to-contract call whose descriptor lies in the
 *           read-only CallInfo page, for the host to write the callee's
 *           results (return length, gas used) where ring 3 cannot.
 * targets:  the descriptor's result words must be contract-writable: the
 *           call is refused by name before anything runs.
 * expected: trap host_call
 * message:  call: descriptor
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_CALL
    mov esi, CALL_INFO
    call HOSTCALL
    add rsp, 8
    ret
