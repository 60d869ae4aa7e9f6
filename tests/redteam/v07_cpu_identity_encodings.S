/*
 * attack:   cpuid and xgetbv in several encodings (plain, REX.W, 66 and
 *           F3 prefixed), to learn the validator's CPU model/features.
 * targets:  verifier allow-list (class cpu-identity).
 * expected: rejected cpu-identity
 * min-violations: 5
 */
#include "redteam.h"

METHOD attack
    xor eax, eax
    xor ecx, ecx
    .byte 0x0f, 0xa2                    /* cpuid */
    .byte 0x48, 0x0f, 0xa2              /* rex.w cpuid */
    .byte 0x66, 0x0f, 0xa2              /* 66 cpuid */
    .byte 0x0f, 0x01, 0xd0              /* xgetbv */
    .byte 0x48, 0x0f, 0x01, 0xd0        /* rex.w xgetbv */
    ret
