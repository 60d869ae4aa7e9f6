/*
 * attack:   reset or read the gas counters directly: pxor mm0,mm0,
 *           movq mm1, rax (mm1 = a huge positive), movq rax, mm0, emms.
 * targets:  verifier (class mmx): mm0-mm3 are the gas counters, mm7 the
 *           set_return length.
 * expected: rejected mmx
 * min-violations: 5
 */
#include "redteam.h"

METHOD attack
    pxor mm0, mm0
    mov rax, 0x3fffffffffffffff
    movq mm1, rax
    movq rax, mm0
    movq mm7, rax
    emms
    ret
