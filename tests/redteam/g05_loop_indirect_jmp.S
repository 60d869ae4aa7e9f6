/*
 * attack:   an endless loop made only of an indirect jump to itself.
 * targets:  the charge of a block entered through the code table.
 * expected: out_of_gas
 */
#include "redteam.h"

METHOD attack
    lea rax, [rip + loop]
loop:
    jmp rax
