/*
 * attack:   rdrand and rdseed in every operand size and register bank:
 *           rdrand ax/eax/rax/r8/r15w, rdseed eax/rax/r9.
 * targets:  verifier allow-list (class randomness).
 * expected: rejected randomness
 * min-violations: 10
 */
#include "redteam.h"

METHOD attack
    .byte 0x66, 0x0f, 0xc7, 0xf0        /* rdrand ax */
    .byte 0x0f, 0xc7, 0xf0              /* rdrand eax */
    .byte 0x48, 0x0f, 0xc7, 0xf0        /* rdrand rax */
    .byte 0x49, 0x0f, 0xc7, 0xf0        /* rdrand r8 */
    .byte 0x66, 0x41, 0x0f, 0xc7, 0xf7  /* rdrand r15w */
    .byte 0x0f, 0xc7, 0xf8              /* rdseed eax */
    .byte 0x48, 0x0f, 0xc7, 0xf8        /* rdseed rax */
    .byte 0x49, 0x0f, 0xc7, 0xf9        /* rdseed r9 */
    .byte 0x66, 0x48, 0x0f, 0xc7, 0xf0  /* 66 rex.w rdrand rax */
    .byte 0x2e, 0x0f, 0xc7, 0xf8        /* cs rdseed eax */
    ret
