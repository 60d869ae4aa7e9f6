/*
 * attack:   jump to the instruction right AFTER the last doorbell store in
 *           the runtime page (the return path's): the RIP at which the
 *           host would believe a doorbell exit, as if the store had just
 *           run; then store to the doorbell ourselves is not even needed.
 * targets:  code table (the instruction after a doorbell store is no entry).
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

METHOD attack
    mov eax, RUNTIME_BASE + 0x1000 - 4
1:  cmp dword ptr [rax], DOORBELL
    je 2f
    dec eax
    cmp eax, RUNTIME_BASE
    ja 1b
    mov eax, RUNTIME_BASE + 8 - 4
2:  add eax, 4
    xor edi, edi
    jmp rax
