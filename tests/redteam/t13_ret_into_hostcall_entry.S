/*
 * attack:   enter the gate by a `ret` instead of a call: push a
 *           continuation (an original instruction start) and
 *           HOSTCALL_ENTRY, then ret with rdi = set_return. Both are
 *           code-table entries, so this is allowed: the gate serves the
 *           call and its checked ret goes to the continuation.
 * targets:  the gate's own checked return (must accept a valid entry and
 *           behave exactly as a called host call).
 * expected: ok 72657432
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    lea rax, [rip + cont]
    push rax
    push HOSTCALL
    mov edi, HC_SET_RETURN
    lea rsi, [rip + msg]
    mov edx, 4
    ret
cont:
    add rsp, 8
    ret
    .section .rodata
msg: .ascii "ret2"
