/*
 * attack:   host-call number 0x1_0000_0002: its low 32 bits are set_return.
 *           A gate or host comparing edi (not rdi) would serve it as
 *           set_return - or the two would disagree about what was called.
 * targets:  the host-call number is compared on all 64 bits.
 * expected: trap host_call
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov rdi, 0x100000002
    lea rsi, [rip + msg]
    mov edx, 4
    call HOSTCALL
    add rsp, 8
    ret
    .section .rodata
msg: .ascii "high"
