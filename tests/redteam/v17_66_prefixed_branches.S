/*
 * attack:   66-prefixed near branches: Intel ignores the operand-size
 *           prefix in 64-bit mode (rel32, 64-bit target) while AMD
 *           truncates to 16 bits (rel16, IP masked): the two vendors would
 *           run different code. `66 e9 rel16` and `66 c3`.
 * targets:  verifier rule 2 (class vendor-dependent-encoding).
 * expected: rejected vendor-dependent-encoding
 */
#include "redteam.h"

METHOD attack
    .byte 0x66, 0xe9, 0x00, 0x00        /* jmp rel16 (+0) */
    .byte 0x66, 0xc3                    /* 16-bit ret */
