/*
 * attack:   an indirect jump to the last in-range index (0x7effffff, in
 *           the prepared-code region but no entry): the table must hold a
 *           trapping entry there, not an unmapped hole or a stale value.
 * targets:  the code table's invalid entries up to its limit.
 * expected: trap invalid_branch_target
 * message: to 0x7effffff,
 */
#include "redteam.h"

METHOD attack
    mov eax, 0x7effffff
    jmp rax
