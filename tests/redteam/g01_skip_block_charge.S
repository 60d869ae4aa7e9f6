/*
 * attack:   learn the prepared address of a block head (call/pop: the
 *           return address is where the next block's gas charge starts)
 *           and jump 7 bytes past it, over the 7-byte `psubq mmK,
 *           [rip+c]`, into a loop that would then run uncharged.
 * targets:  code table: prepared addresses inside a block are no entries.
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

METHOD attack
    call next
next:
    pop rax
    add rax, 7
    jmp rax
