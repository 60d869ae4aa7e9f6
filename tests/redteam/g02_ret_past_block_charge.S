/*
 * attack:   add 7 to the real return address (skip the charge of the
 *           block after the call) and return.
 * targets:  checked returns (a return address + 7 is no entry).
 * expected: trap invalid_return
 */
#include "redteam.h"

    .text
    .type f, @function
f:
    add qword ptr [rsp], 7
    ret

METHOD attack
    sub rsp, 8
1:  call f
    jmp 1b
