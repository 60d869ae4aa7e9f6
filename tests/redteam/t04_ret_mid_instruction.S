/*
 * attack:   `push hidden+1; ret`: a return into the immediate of
 *           `mov eax, 0x90c3310f` (rdtsc; ret).
 * targets:  checked returns: [rsp] must be a code-table entry.
 * expected: trap invalid_return
 */
#include "redteam.h"

METHOD attack
    lea rax, [rip + hidden + 1]
    push rax
    ret
hidden:
    mov eax, 0x90c3310f
    ret
