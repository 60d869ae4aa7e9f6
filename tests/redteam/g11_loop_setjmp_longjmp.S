/*
 * attack:   an endless longjmp loop: setjmp saves rsp and its prepared
 *           return address, longjmp restores rsp and jumps back through a
 *           register, again and again.
 * targets:  charges of the block at a prepared return address entered by
 *           an indirect jump; the stack stays balanced so only gas stops it.
 * expected: out_of_gas
 */
#include "redteam.h"

    .bss
    .balign 8
jb_rsp: .zero 8
jb_ret: .zero 8

    .text
    .type my_setjmp, @function
my_setjmp:
    mov rax, [rsp]
    mov [rip + jb_ret], rax
    lea rax, [rsp + 8]
    mov [rip + jb_rsp], rax
    xor eax, eax
    ret

METHOD attack
    sub rsp, 8
    call my_setjmp
    /* "returns twice": every time, longjmp again */
    mov rsp, [rip + jb_rsp]
    mov rcx, [rip + jb_ret]
    mov eax, 1
    jmp rcx
