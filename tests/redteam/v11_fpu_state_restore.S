/*
 * attack:   restore a crafted FPU image whose mm0 holds 2^62 gas:
 *           fxrstor, fxrstor64, xrstor, and fxsave to read the counters.
 * targets:  verifier (class fpu-state).
 * expected: rejected fpu-state
 * min-violations: 4
 */
#include "redteam.h"

    .bss
    .balign 64
image: .zero 1024

METHOD attack
    lea rax, [rip + image]
    fxsave [rax]
    mov rcx, 0x4000000000000000
    mov [rax + 32], rcx
    fxrstor [rax]
    fxrstor64 [rax]
    mov eax, -1
    mov edx, -1
    lea rcx, [rip + image]
    xrstor [rcx]
    ret
