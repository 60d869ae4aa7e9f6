/*
 * attack:   16-bit shld/shrd with a count above 16 (or a count in cl,
 *           which may be): the result is undefined by Intel and AMD
 *           computes it differently.
 * targets:  verifier (class undefined-result).
 * expected: rejected undefined-result
 * min-violations: 2
 */
#include "redteam.h"

METHOD attack
    mov ax, 0x1234
    mov bx, 0x5678
    shld ax, bx, 20
    mov cl, 17
    shrd ax, bx, cl
    movzx eax, ax
    ret
