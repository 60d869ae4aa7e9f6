/*
 * attack:   branch on a flag the CPU leaves undefined: ZF after imul and
 *           after a shift by cl (vendor- and model-dependent values).
 * targets:  verifier rule 4 (class undefined-flag-read).
 * expected: rejected undefined-flag-read
 */
#include "redteam.h"

METHOD attack
    mov rax, rdi
    imul rax, rsi
    jz 1f
    mov eax, 1
1:  ret
