/*
 * attack:   scribble bss, heap, stack and have the host write .data, then
 *           abort("no"): the call reverts; its guest must not carry any
 *           of it into the next call.
 * targets:  discarding (or fully restoring) a guest after a revert.
 * expected: reverted
 */
#include "redteam.h"

    .data
    .balign 4096
dbuf: .fill 64, 1, 0x11
    .bss
    .balign 8
bword: .zero 8
    .section .rodata
msg: .ascii "no"

METHOD attack
    sub rsp, 8
    mov edi, HC_CALLER
    lea rsi, [rip + dbuf]
    call HOSTCALL
    mov rax, 0x6767676767676767
    mov [rip + bword], rax
    mov rdi, [CALL_INFO + CI_HEAP_BASE]
    mov [rdi + 4096], rax
    mov [rsp - 0x4000], rax
    mov edi, HC_ABORT
    lea rsi, [rip + msg]
    mov edx, 2
    call HOSTCALL
    ud2
