/*
 * attack:   ring the doorbell with `rep stosq` (a string MMIO store the
 *           host sees as repeated exits at the same RIP).
 * targets:  the host's doorbell-RIP check for string stores.
 * expected: trap forged_exit
 */
#include "redteam.h"

METHOD attack
    mov edi, DOORBELL
    mov ecx, 2
    xor eax, eax
    cld
    rep stosq
    ret
