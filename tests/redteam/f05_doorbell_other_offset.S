/*
 * attack:   store into the doorbell page at another offset (0x800), with
 *           rdi = 2 and the gas registers rax, r9-r11 set to 2^62, as a
 *           forged host-call exit handing the host a fake gas count.
 * targets:  the host's doorbell check (address and RIP, not value).
 * expected: trap forged_exit
 */
#include "redteam.h"

METHOD attack
    mov edi, HC_SET_RETURN
    mov rax, 0x4000000000000000
    mov r9, rax
    mov r10, rax
    mov r11, rax
    mov [DOORBELL + 0x800], rax
    ret
