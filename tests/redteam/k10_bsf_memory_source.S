/*
 * attack:   (honest) bsf/bsr with a zero MEMORY source (RIP-relative,
 *           rsp-relative) and 16-bit operands, destination preset: all
 *           keep their destination (all 64 bits), and a non-zero source
 *           still gives the bit index.
 * targets:  the BSF/BSR rewrite (`test src; jz next; bsf`) for memory
 *           operands made absolute and for narrow operands.
 * expected: ok 11111111111111112222222222222222333333333333333305000000000000003f00000000000000
 */
#include "redteam.h"

    .section .rodata
    .balign 8
zero_q: .quad 0
bits_q: .quad 0x8000000000000020

    .bss
    .balign 8
outb: .zero 40

METHOD attack
    sub rsp, 24
    mov rax, 0x1111111111111111
    bsf rax, qword ptr [rip + zero_q]
    mov [rip + outb], rax
    mov qword ptr [rsp + 8], 0
    mov rcx, 0x2222222222222222
    bsr rcx, qword ptr [rsp + 8]
    mov [rip + outb + 8], rcx
    mov rdx, 0x3333333333333333
    xor esi, esi
    bsf dx, si
    mov [rip + outb + 16], rdx
    bsf rax, qword ptr [rip + bits_q]
    mov [rip + outb + 24], rax
    bsr rax, qword ptr [rip + bits_q]
    mov [rip + outb + 32], rax
    SET_RETURN [rip + outb], 40
    add rsp, 24
    ret
