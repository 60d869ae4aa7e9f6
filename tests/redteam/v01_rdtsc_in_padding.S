/*
 * attack:   hide `rdtsc` in the alignment padding after a method's `ret`,
 *           where a recursive-descent disassembler (following control
 *           flow) never looks; reach it later through a computed jump.
 * targets:  verifier rule 2/3: the linear sweep must decode padding too.
 * expected: rejected time
 */
#include "redteam.h"

METHOD attack
    xor eax, eax
    ret
    /* "padding" that is really rdtsc; ret */
    .byte 0x0f, 0x31, 0xc3
    .balign 16, 0x90
