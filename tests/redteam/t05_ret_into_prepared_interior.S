/*
 * attack:   return one byte past the real (prepared) return address, i.e.
 *           into the middle of the prepared instruction after the call.
 * targets:  checked returns (a prepared return address + 1 is no entry).
 * expected: trap invalid_return
 */
#include "redteam.h"

    .text
    .type f, @function
f:
    add qword ptr [rsp], 1
    ret

METHOD attack
    sub rsp, 8
    call f
    mov eax, 1
    add rsp, 8
    ret
