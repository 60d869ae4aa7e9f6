/*
 * attack:   ring the doorbell with an atomic read-modify-write
 *           (xchg [doorbell], rdi) with rdi = 0 (method return).
 * targets:  the host's doorbell-RIP check for locked accesses.
 * expected: trap forged_exit
 */
#include "redteam.h"

METHOD attack
    xor edi, edi
    mov eax, DOORBELL
    xchg [rax], rdi
    ret
