/*
 * attack:   an indirect jump to a valid target with bit 32 set
 *           (0x1_0040_xxxx): a table indexed by the low 32 bits only
 *           would run `good`.
 * targets:  code-table check on the full 64-bit target (cmp r, limit).
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

METHOD attack
    lea rax, [rip + good]
    bts rax, 32
    jmp rax
good:
    sub rsp, 8
    SET_RETURN [rip + msg], 4
    add rsp, 8
    ret
    .section .rodata
msg: .ascii "pwnd"
