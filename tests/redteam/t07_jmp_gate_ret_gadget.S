/*
 * attack:   find the first `ret` (c3) byte in the runtime page after the
 *           entry and jump to it: a ret gadget there would be an
 *           unchecked return (no code-table check), i.e. a jump anywhere.
 * targets:  code table: the runtime page's only entries are
 *           HOSTCALL_ENTRY and the method-return site.
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

METHOD attack
    mov eax, RUNTIME_BASE + 1
1:  cmp byte ptr [rax], 0xc3
    je 2f
    inc eax
    cmp eax, RUNTIME_BASE + 0x1000
    jb 1b
    mov eax, RUNTIME_BASE + 1
2:  lea rcx, [rip + target]
    push rcx            /* where the gadget's ret would go */
    jmp rax
target:
    pop rcx
    ret
