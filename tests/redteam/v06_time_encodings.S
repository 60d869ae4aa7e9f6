/*
 * attack:   every encoding of the time-reading instructions: rdtsc,
 *           REX.W rdtsc, 66/F3-prefixed rdtsc, rdtscp, REX rdtscp,
 *           rdpid rax, rdpid r8 (REX.B), rdpmc, and with redundant
 *           cs/es/ds/f2/empty-REX prefixes.
 * targets:  verifier allow-list (class time) whatever the prefixes.
 * expected: rejected time
 * min-violations: 13
 */
#include "redteam.h"

METHOD attack
    .byte 0x0f, 0x31                    /* rdtsc */
    .byte 0x48, 0x0f, 0x31              /* rex.w rdtsc */
    .byte 0x66, 0x0f, 0x31              /* 66 rdtsc */
    .byte 0xf3, 0x0f, 0x31              /* f3 rdtsc */
    .byte 0x0f, 0x01, 0xf9              /* rdtscp */
    .byte 0x48, 0x0f, 0x01, 0xf9        /* rex.w rdtscp */
    .byte 0xf3, 0x0f, 0xc7, 0xf8        /* rdpid rax */
    .byte 0xf3, 0x41, 0x0f, 0xc7, 0xf8  /* rdpid r8 */
    .byte 0x0f, 0x33                    /* rdpmc */
    .byte 0x2e, 0x0f, 0x31              /* cs rdtsc */
    .byte 0xf2, 0x0f, 0x31              /* f2 rdtsc */
    .byte 0x40, 0x0f, 0x31              /* empty-REX rdtsc */
    .byte 0x26, 0x3e, 0x66, 0x0f, 0x01, 0xf9  /* es ds 66 rdtscp */
    ret
