/*
 * attack:   enter guest ring 0 directly: syscall, int 0x80, int1 (icebp),
 *           to run the shim's handlers with contract-chosen state.
 * targets:  verifier (class system-call).
 * expected: rejected system-call
 * min-violations: 3
 */
#include "redteam.h"

METHOD attack
    syscall
    int 0x80
    .byte 0xf1          /* int1 / icebp */
    ret
