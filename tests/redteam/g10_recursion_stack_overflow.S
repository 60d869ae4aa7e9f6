/*
 * attack:   unbounded recursion (call without return) to run the stack
 *           into its guard page before the gas runs out.
 * targets:  the stack guard page; the guest is discarded, not reused.
 * expected: trap page_fault
 */
#include "redteam.h"

    .text
    .type rec, @function
rec:
    call rec
    ret

METHOD attack
    call rec
    ret
