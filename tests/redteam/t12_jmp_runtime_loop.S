/*
 * attack:   find the runtime loop's `fxrstor [rip+...]` (0f ae 0d) in the
 *           runtime page and jump to it: restart the loop mid-call, which
 *           would reload the gas counters from call info (a gas reset).
 *           Fallback: 0x200040.
 * targets:  code table (the runtime loop is no entry).
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

METHOD attack
    mov eax, RUNTIME_BASE
1:  cmp word ptr [rax], 0xae0f
    jne 2f
    cmp byte ptr [rax + 2], 0x0d
    je 3f
2:  inc eax
    cmp eax, RUNTIME_BASE + 0x1000 - 3
    jb 1b
    mov eax, RUNTIME_BASE + 0x40
3:  jmp rax
