/*
 * attack:   (honest) call a function through a register holding its
 *           lea'd original address, also mid-block (second instruction of
 *           a function), and check the results.
 * targets:  indirect calls to original addresses, landing mid-block.
 * expected: ok 2a00000000000000
 */
#include "redteam.h"

    .bss
    .balign 8
result: .zero 8

    .text
    .type add_one, @function
add_one:
    add rax, 1
mid:
    add rax, 20
    ret

METHOD attack
    sub rsp, 8
    xor eax, eax
    lea rcx, [rip + add_one]
    call rcx            /* +21 */
    lea rcx, [rip + mid]
    call rcx            /* +20: 41 */
    lea rdx, [rip + add_one]
    mov rcx, rdx
    call rcx            /* +21: 62 */
    sub rax, 20         /* 42 */
    mov [rip + result], rax
    SET_RETURN [rip + result], 8
    add rsp, 8
    ret
