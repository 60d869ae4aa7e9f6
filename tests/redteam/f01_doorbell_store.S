/*
 * attack:   ring the doorbell from contract code with the registers of a
 *           method return (rdi = 0): a host that trusted any doorbell
 *           write would end the call ok with no gas check.
 * targets:  the host's doorbell-RIP check.
 * expected: trap forged_exit
 */
#include "redteam.h"

METHOD attack
    xor edi, edi
    mov rax, 0x3fffffffffffffff
    mov r9, rax
    mov r10, rax
    mov r11, rax
    mov [DOORBELL], rdi
    ret
