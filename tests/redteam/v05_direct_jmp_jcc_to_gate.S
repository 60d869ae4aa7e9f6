/*
 * attack:   a direct tail-jump (`jmp 0x200000`) and a conditional jump
 *           (`jne 0x200000`) to the host-call entry: the gate would then
 *           return to whatever the contract left at [rsp], and a jmp into
 *           the runtime page is not the one allowed form (`call`).
 * targets:  verifier rule for direct branches into the runtime page.
 * expected: rejected branch-into-runtime
 * min-violations: 2
 */
#include "redteam.h"

METHOD attack
    test edi, edi
    jne HOSTCALL
    mov edi, HC_SET_RETURN
    jmp HOSTCALL
