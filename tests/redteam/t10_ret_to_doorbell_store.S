/*
 * attack:   `push <doorbell store of the return path>; ret`: reach the
 *           doorbell instruction through a return instead of a jump.
 * targets:  checked returns (same code table).
 * expected: trap invalid_return
 */
#include "redteam.h"

METHOD attack
    mov eax, RUNTIME_BASE + 0x1000 - 4
1:  cmp dword ptr [rax], DOORBELL
    je 2f
    dec eax
    cmp eax, RUNTIME_BASE
    ja 1b
    mov eax, RUNTIME_BASE + 8 + 3
2:  sub eax, 3
    cmp byte ptr [rax - 1], 0x48
    jne 3f
    dec eax
3:  xor edi, edi
    push rax
    ret
