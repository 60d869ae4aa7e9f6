/* A second, honest contract (not an attack): run on the same worker right
 * after each attack. `fib` returns fib(input[0]) as a u64 (iterative);
 * it is linked with honest.S, so it also has the `honest` method. */
#include "redteam.h"

    .bss
    .balign 8
fib_out: .zero 8

METHOD fib
    movzx ecx, byte ptr [rdi]
    xor eax, eax
    mov edx, 1
    test ecx, ecx
    jz 2f
1:  lea r8, [rax + rdx]
    mov rax, rdx
    mov rdx, r8
    dec ecx
    jnz 1b
2:  mov [rip + fib_out], rax
    sub rsp, 8
    SET_RETURN [rip + fib_out], 8
    add rsp, 8
    ret
