/*
 * attack:   an indirect jump through rdx to 0x7f001234, just over the
 *           code table's limit.
 * targets:  the code table's bounds check for another register, and the
 *           trap message naming the refused target.
 * expected: trap invalid_branch_target
 * message: to 0x7f001234,
 */
#include "redteam.h"

METHOD attack
    mov edx, 0x7f001234
    jmp rdx
