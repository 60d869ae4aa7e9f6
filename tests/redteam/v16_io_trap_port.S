/*
 * attack:   forge a trap-report exit by writing the shim's trap port
 *           (out dx, al with dx = 0x10), or probe ports with in.
 * targets:  verifier (class io); IOPL 0 would also #GP it in ring 3.
 * expected: rejected io
 * min-violations: 2
 */
#include "redteam.h"

METHOD attack
    mov dx, 0x10
    out dx, al
    in al, dx
    ret
