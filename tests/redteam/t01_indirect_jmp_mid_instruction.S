/*
 * attack:   the overlapping-instruction trick through an indirect jump
 *           (which the verifier cannot resolve): jump to hidden+1, the
 *           immediate of `mov eax, 0x90c3310f`, i.e. rdtsc; ret.
 * targets:  code table: only verified instruction starts are entries.
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

METHOD attack
    lea rax, [rip + hidden + 1]
    jmp rax
hidden:
    mov eax, 0x90c3310f
    ret
