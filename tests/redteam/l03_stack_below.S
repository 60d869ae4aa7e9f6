/*
 * attack:   OR together the 256 KiB of stack below the frame (what earlier
 *           calls may have left), return it, then scribble that region
 *           and let the host write the caller id deep in the stack.
 * targets:  reset of stack pages (guest- and host-written).
 * expected: ok 0000000000000000
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    lea rdi, [rsp - 0x40000]
    lea rsi, [rsp - 64]
    xor eax, eax
1:  or rax, [rdi]
    add rdi, 8
    cmp rdi, rsi
    jb 1b
    mov [rsp], rax
    SET_RETURN [rsp], 8
    lea rdi, [rsp - 0x40000]
    mov rax, 0x5c5c5c5c5c5c5c5c
2:  mov [rdi], rax
    add rdi, 512
    cmp rdi, rsi
    jb 2b
    mov edi, HC_CALLER
    lea rsi, [rsp - 0x20000]
    call HOSTCALL
    add rsp, 8
    ret
