/*
 * attack:   reach the gas counters through the x87 stack, which aliases
 *           the MMX registers: fninit (tags empty), fld1/fstp to
 *           overwrite physical register 0 (= mm0's mantissa).
 * targets:  verifier (class x87).
 * expected: rejected x87
 */
#include "redteam.h"

METHOD attack
    fninit
    fld1
    fstp st(0)
    fldz
    ret
