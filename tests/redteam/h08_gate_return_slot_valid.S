/*
 * attack:   as h07, but the value is the address of `landed` (an original
 *           instruction start, a valid code-table entry): the gate's
 *           checked ret accepts it and continues at `landed` instead of
 *           after the call. Allowed: it is an indirect jump the contract
 *           could have made itself.
 * targets:  the gate's checked ret (accepts exactly the table's entries).
 * expected: ok 6c616e646564
 */
#include "redteam.h"

    .section .rodata
key: .ascii "k"
msg: .ascii "landed"
    .balign 8
val: .quad landed

METHOD attack
    sub rsp, 8
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + val]
    mov r8d, 8
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rsp - 8]
    mov r8d, 8
    call HOSTCALL
    ud2                 /* not reached: the gate returns to `landed` */
landed:
    SET_RETURN [rip + msg], 6
    add rsp, 8
    ret
