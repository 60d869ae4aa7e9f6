/*
 * attack:   `addr32 rep stosb`: with a 67 prefix the count is ecx, not
 *           rcx. rcx = 0x1_ffff_ffff: a charge from rcx's low bits, or
 *           from rcx when the CPU counts ecx, would differ. ecx = 2^32-1
 *           elements > the gas limit.
 * targets:  the rep rule for 32-bit address size.
 * expected: out_of_gas
 */
#include "redteam.h"

METHOD attack
    mov rcx, 0x1ffffffff
    mov rdi, rsp
    xor eax, eax
    cld
    addr32 rep stosb
    ret
