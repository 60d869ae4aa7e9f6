/*
 * attack:   (honest) a switch jump table in .rodata (absolute .quad
 *           entries = original addresses), dispatched with
 *           `jmp [table + 8*i]`'s register form for i = 0..3.
 * targets:  code-table entries for original addresses taken from data.
 * expected: ok 6162636400000000
 */
#include "redteam.h"

    .section .rodata
    .balign 8
table: .quad case0, case1, case2, case3

    .bss
    .balign 8
outb: .zero 8

METHOD attack
    push rbx
    xor ebx, ebx
next:
    lea rax, [rip + table]
    mov rax, [rax + 8 * rbx]
    jmp rax
case0:
    mov byte ptr [rip + outb + 0], 'a'
    jmp done
case1:
    mov byte ptr [rip + outb + 1], 'b'
    jmp done
case2:
    mov byte ptr [rip + outb + 2], 'c'
    jmp done
case3:
    mov byte ptr [rip + outb + 3], 'd'
done:
    inc ebx
    cmp ebx, 4
    jb next
    SET_RETURN [rip + outb], 8
    pop rbx
    ret
