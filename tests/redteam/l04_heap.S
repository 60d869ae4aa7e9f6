/*
 * attack:   OR together one qword of every heap page, return it, then
 *           write every heap page and have the host write into the heap.
 * targets:  reset of heap pages.
 * expected: ok 0000000000000000
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov rdi, [CALL_INFO + CI_HEAP_BASE]
    mov rsi, [CALL_INFO + CI_HEAP_SIZE]
    add rsi, rdi
    xor eax, eax
1:  or rax, [rdi + 0x7f8]
    add rdi, 4096
    cmp rdi, rsi
    jb 1b
    mov [rsp], rax
    SET_RETURN [rsp], 8
    mov rdi, [CALL_INFO + CI_HEAP_BASE]
    mov rsi, [CALL_INFO + CI_HEAP_SIZE]
    add rsi, rdi
    mov rax, 0x4848484848484848
2:  mov [rdi + 0x7f8], rax
    add rdi, 4096
    cmp rdi, rsi
    jb 2b
    mov edi, HC_CALLER
    mov rsi, [CALL_INFO + CI_HEAP_BASE]
    add rsi, 0x7f8
    call HOSTCALL
    add rsp, 8
    ret
