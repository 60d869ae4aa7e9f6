/*
 * attack:   overlapping instructions: `mov eax, imm32` whose immediate
 *           bytes are `0f 31 c3 90` (rdtsc; ret; nop), and a direct jump
 *           to the immediate (hidden+1), so the CPU would run rdtsc.
 * targets:  verifier rule 5 (direct branches land on instruction starts).
 * expected: rejected branch-into-instruction
 */
#include "redteam.h"

METHOD attack
    test edi, edi
    jnz hidden + 1
hidden:
    mov eax, 0x90c3310f
    ret
