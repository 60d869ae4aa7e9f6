/*
 * attack:   (honest) `push label; ret` used as a jump (a continuation
 *           pushed by hand, as some coroutine code does): a return to an
 *           original instruction start is a valid code-table entry.
 * targets:  checked returns accept original instruction starts.
 * expected: ok 707573682d726574
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    lea rax, [rip + there]
    push rax
    ret
    ud2
there:
    SET_RETURN [rip + msg], 8
    add rsp, 8
    ret
    .section .rodata
msg: .ascii "push-ret"
