/*
 * attack:   a call counter in .bss: return it, then increment it. Any
 *           value but 0 means a later call saw an earlier call's write.
 * targets:  the reset of written pages on a warm guest.
 * expected: ok 0000000000000000
 */
#include "redteam.h"

    .bss
    .balign 8
counter: .zero 8
seen:    .zero 8

METHOD attack
    sub rsp, 8
    mov rax, [rip + counter]
    mov [rip + seen], rax
    inc rax
    mov [rip + counter], rax
    SET_RETURN [rip + seen], 8
    add rsp, 8
    ret
