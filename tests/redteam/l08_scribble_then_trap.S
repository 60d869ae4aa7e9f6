/*
 * attack:   scribble everywhere (bss, a .data page via the host, heap,
 *           stack, xmm) and have the host write the caller id into .data,
 *           then trap with ud2. A warm guest reused after a trap would
 *           carry it all into the next call.
 * targets:  discarding (or fully restoring) a guest after a trap.
 * expected: trap invalid_opcode
 */
#include "redteam.h"

    .data
    .balign 4096
dbuf: .fill 64, 1, 0x11
    .bss
    .balign 4096
bbuf: .zero 8192

METHOD attack
    sub rsp, 8
    mov edi, HC_CALLER
    lea rsi, [rip + dbuf]
    call HOSTCALL
    lea rdi, [rip + bbuf]
    mov ecx, 1024
    mov rax, 0x6666666666666666
    cld
    rep stosq
    mov rdi, [CALL_INFO + CI_HEAP_BASE]
    mov [rdi], rax
    mov [rsp - 0x8000], rax
    movq xmm3, rax
    ud2
