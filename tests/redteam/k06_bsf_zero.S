/*
 * attack:   (honest) bsf and bsr with a zero source and a preset
 *           destination: the destination must stay unchanged (the
 *           deterministic behaviour nativm promises on every vendor).
 * targets:  the translation of BSF/BSR (dest unchanged when src = 0).
 * expected: ok 3412000000000000efcdab8967452301
 */
#include "redteam.h"

    .bss
    .balign 8
outb: .zero 16

METHOD attack
    mov eax, 0x1234
    xor ecx, ecx
    bsf rax, rcx
    mov [rip + outb], rax
    mov rdx, 0x0123456789abcdef
    bsr rdx, rcx
    mov [rip + outb + 8], rdx
    sub rsp, 8
    SET_RETURN [rip + outb], 16
    add rsp, 8
    ret
