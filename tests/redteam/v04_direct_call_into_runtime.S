/*
 * attack:   a direct call to the runtime page past the host-call entry
 *           (0x200004), e.g. into the gate's set_return copy or past its
 *           argument checks.
 * targets:  verifier: only `call HOSTCALL_ENTRY` may name the runtime page.
 * expected: rejected branch-into-runtime
 */
#include "redteam.h"

METHOD attack
    mov edi, HC_SET_RETURN
    call RUNTIME_BASE + 4
    ret
