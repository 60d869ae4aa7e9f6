/*
 * attack:   use the runtime page as a gadget library: scan it for the
 *           bytes of rdtsc (0f 31), cpuid (0f a2), rdrand/rdseed/rdpid
 *           (0f c7) or rdtscp/xgetbv (0f 01) anywhere, even inside other
 *           instructions, and jump there. Fallback: 0x200002.
 * targets:  code table (no runtime-page address but the two entries).
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

METHOD attack
    mov eax, RUNTIME_BASE + 1
1:  cmp byte ptr [rax], 0x0f
    jne 2f
    movzx ecx, byte ptr [rax + 1]
    cmp ecx, 0x31
    je 3f
    cmp ecx, 0xa2
    je 3f
    cmp ecx, 0xc7
    je 3f
    cmp ecx, 0x01
    je 3f
2:  inc eax
    cmp eax, RUNTIME_BASE + 0x1000 - 1
    jb 1b
    mov eax, RUNTIME_BASE + 2
3:  jmp rax
