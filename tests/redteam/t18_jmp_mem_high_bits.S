/*
 * attack:   a memory-indirect jump (`jmp qword ptr [rip + slot]`) whose
 *           stored target is a valid function with bit 32 set: the
 *           memory form loads the target into a scratch register first,
 *           which must be checked on all 64 bits too.
 * targets:  code-table check of memory-indirect branches.
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

    .section .rodata
    .balign 8
slot: .quad good + 0x100000000
msg:  .ascii "pwnd"

METHOD attack
    jmp qword ptr [rip + slot]
good:
    sub rsp, 8
    SET_RETURN [rip + msg], 4
    add rsp, 8
    ret
