/*
 * attack:   put cpuid in a separate executable section that nothing
 *           references (a "dead" function a later indirect jump could
 *           reach through a forged pointer).
 * targets:  verifier rule 2/3 over every executable section.
 * expected: rejected cpu-identity
 */
#include "redteam.h"

METHOD attack
    xor eax, eax
    ret

    .section .text.unused, "ax"
    .type dead, @function
dead:
    xor eax, eax
    cpuid
    ret
