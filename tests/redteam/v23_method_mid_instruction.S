/*
 * attack:   export a method symbol in the middle of an instruction
 *           (`evil` = hidden + 1, the rdtsc inside a mov immediate), so
 *           the runtime would call an unverified instruction stream.
 * targets:  verifier rule 5 (methods start at instruction starts).
 * expected: rejected method-not-instruction-start
 */
#include "redteam.h"

METHOD attack
hidden:
    mov eax, 0x90c3310f
    ret

    .globl evil
    .type evil, @function
    .set evil, hidden + 1
