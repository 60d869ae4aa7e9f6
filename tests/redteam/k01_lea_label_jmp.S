/*
 * attack:   (honest) take a code label's address with a RIP-relative lea
 *           and jump through the register: the label is the ORIGINAL
 *           address, which the code table maps to its prepared code.
 * targets:  RIP-relative operands rewritten to original addresses; code
 *           table entries for every verified instruction start.
 * expected: ok 6a6d70
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    lea rbx, [rip + target]
    jmp rbx
    ud2
target:
    SET_RETURN [rip + msg], 3
    add rsp, 8
    ret
    .section .rodata
msg: .ascii "jmp"
