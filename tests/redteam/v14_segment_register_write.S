/*
 * attack:   reload GS/FS/SS with a selector (mov gs, ax; pop fs; mov ss,
 *           ax) to change the code-table base or the stack segment.
 * targets:  verifier (class segment-write).
 * expected: rejected segment-write
 * min-violations: 3
 */
#include "redteam.h"

METHOD attack
    xor eax, eax
    mov gs, ax
    push rax
    pop fs
    mov ss, ax
    ret
