/*
 * attack:   an endless loop made of `push label; ret` (returns to an
 *           original instruction start, a valid entry).
 * targets:  charges of blocks entered by checked returns.
 * expected: out_of_gas
 */
#include "redteam.h"

METHOD attack
    lea rbx, [rip + loop]
loop:
    push rbx
    ret
