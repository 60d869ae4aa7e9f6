/*
 * attack:   scribble bss, heap, stack and the return buffer, set return
 *           data, then spin until the gas runs out.
 * targets:  discarding (or fully restoring) a guest after out_of_gas.
 * expected: out_of_gas
 */
#include "redteam.h"

    .bss
    .balign 8
bword: .zero 8

METHOD attack
    sub rsp, 8
    mov rax, 0x6868686868686868
    mov [rip + bword], rax
    mov rdi, [CALL_INFO + CI_HEAP_BASE]
    mov [rdi + 8192], rax
    mov [rsp - 0x2000], rax
    mov ecx, RETBUF
    mov [rcx], rax
    SET_RETURN [RETBUF], 8
1:  jmp 1b
