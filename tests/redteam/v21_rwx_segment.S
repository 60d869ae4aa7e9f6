/*
 * attack:   self-modifying code: a section that is writable and
 *           executable ("awx"), so the contract could write rdtsc into it
 *           after verification and run it.
 * targets:  verifier rule 1 (W^X segments).
 * expected: rejected segment-wx
 */
#include "redteam.h"

    .section .wxcode, "awx"
    .globl attack
    .type attack, @function
attack:
    lea rax, [rip + patch]
    mov word ptr [rax], 0x310f      /* rdtsc */
patch:
    nop
    nop
    ret
