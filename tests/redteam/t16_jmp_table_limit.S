/*
 * attack:   an indirect jump to exactly CODE_TABLE_LIMIT (0x7f000000, the
 *           first value the bounds check must refuse: an off-by-one `ja`
 *           would index one slot past the table).
 * targets:  the code table's bounds check.
 * expected: trap invalid_branch_target
 * message: to 0x7f000000,
 */
#include "redteam.h"

METHOD attack
    mov eax, 0x7f000000
    jmp rax
