/*
 * attack:   an indirect call whose target has bit 63 set (a negative
 *           index: gs:[r*8] would wrap below the table) to a valid
 *           function `good`.
 * targets:  code-table check is unsigned on all 64 bits.
 * expected: trap invalid_branch_target
 * message: to 0x8000000000401000,
 */
#include "redteam.h"

    .text
    .type good, @function
good:
    sub rsp, 8
    SET_RETURN [rip + msg], 4
    add rsp, 8
    ret

METHOD attack
    sub rsp, 8
    lea rbx, [rip + good]
    bts rbx, 63
    call rbx
    add rsp, 8
    ret
    .section .rodata
msg: .ascii "pwnd"
