/*
 * attack:   an endless loop through a saved prepared return address: f
 *           stores its return address (a prepared address) and returns;
 *           the code after the call jumps back to that address forever.
 * targets:  charges of the block at a prepared return address entered by
 *           an indirect jump.
 * expected: out_of_gas
 */
#include "redteam.h"

    .bss
    .balign 8
saved: .zero 8

    .text
    .type f, @function
f:
    mov rax, [rsp]
    mov [rip + saved], rax
    ret

METHOD attack
    sub rsp, 8
    call f
    mov rax, [rip + saved]
    jmp rax
