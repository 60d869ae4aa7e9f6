/*
 * attack:   (honest) a saved continuation: f stores its return address
 *           (a prepared address) and returns; once, the code after the
 *           call jumps back to the stored address (through a register)
 *           and runs again with a counter, then returns normally.
 * targets:  prepared return addresses are code-table entries for jumps.
 * expected: ok 0200000000000000
 */
#include "redteam.h"

    .bss
    .balign 8
saved: .zero 8
count: .zero 8

    .text
    .type f, @function
f:
    mov rax, [rsp]
    mov [rip + saved], rax
    ret

METHOD attack
    sub rsp, 8
    call f
    /* continuation: runs twice */
    mov rax, [rip + count]
    inc rax
    mov [rip + count], rax
    cmp rax, 2
    jae 1f
    mov rcx, [rip + saved]
    jmp rcx
1:  SET_RETURN [rip + count], 8
    add rsp, 8
    ret
