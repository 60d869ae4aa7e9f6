/*
 * attack:   `rep stosb` with rcx = 2^64 - 1 (charge computed from a count
 *           that does not fit 32 bits: a truncating charge would cost 2^32
 *           - 1 or nothing); the store runs off the stack top first.
 * targets:  the rep rule (clamped huge-count charge, 2^32 > the limit).
 * expected: out_of_gas
 */
#include "redteam.h"

METHOD attack
    mov rcx, -1
    mov rdi, rsp
    xor eax, eax
    cld
    rep stosb
    ret
