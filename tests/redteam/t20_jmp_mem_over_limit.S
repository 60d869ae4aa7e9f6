/*
 * attack:   a memory-indirect call whose stored target is 0x1_0000_0000
 *           + an original instruction start (only the low 32 bits valid).
 * targets:  the memory form's bounds check, and the trap message naming
 *           the refused target.
 * expected: trap invalid_branch_target
 * message: to 0x100401000,
 */
#include "redteam.h"

    .section .rodata
    .balign 8
slot: .quad 0x100401000

METHOD attack
    sub rsp, 8
    call qword ptr [rip + slot]
    add rsp, 8
    ret
