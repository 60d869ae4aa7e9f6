/*
 * attack:   fake the method return from three frames deep: save the
 *           method-return site from [rsp] at entry, recurse, set return
 *           data, and jump to the saved site with the stack unbalanced
 *           (rsp 0x20 below where the runtime left it).
 * targets:  the method-return site (a documented entry), the runtime's
 *           next call (fresh rsp from call info), the reset of the stack.
 * expected: ok 0c0ffee0
 */
#include "redteam.h"

    .bss
    .balign 8
site: .zero 8

    .text
    .type deep, @function
deep:
    dec ecx
    jz 1f
    call deep
1:  sub rsp, 8
    SET_RETURN [rip + msg], 4
    mov rax, [rip + site]
    jmp rax

METHOD attack
    mov rax, [rsp]
    mov [rip + site], rax
    mov ecx, 3
    call deep
    ud2
    .section .rodata
msg: .byte 0x0c, 0x0f, 0xfe, 0xe0
