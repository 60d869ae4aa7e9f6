/*
 * attack:   set bit 40 of the real (valid) return address and return: a
 *           check of the low 32 bits only would accept it and `ret` would
 *           jump to a non-canonical / unchecked address.
 * targets:  checked returns compare all 64 bits.
 * expected: trap invalid_return
 * message: to 0x100710
 */
#include "redteam.h"

    .text
    .type f, @function
f:
    mov rax, [rsp]
    bts rax, 40
    mov [rsp], rax
    ret

METHOD attack
    sub rsp, 8
    call f
    add rsp, 8
    ret
