/*
 * attack:   locate the gate's doorbell store in the runtime page (the
 *           disp32 00 f0 ff 7f of `mov [0x7ffff000], r`) and jump to that
 *           instruction with registers set like a method return (rdi = 0)
 *           and huge values in rax, r9-r11 (the registers the gate hands
 *           the gas counters over in): a forged host call / return exit
 *           with a RIP the host trusts.
 * targets:  code table (the doorbell instructions are not entries).
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

METHOD attack
    mov eax, RUNTIME_BASE
1:  cmp dword ptr [rax], DOORBELL
    je 2f
    inc eax
    cmp eax, RUNTIME_BASE + 0x1000 - 4
    jb 1b
    mov eax, RUNTIME_BASE + 7   /* not found: some interior address */
    jmp 3f
2:  sub eax, 3                  /* opcode, modrm, sib before the disp32 */
    cmp byte ptr [rax - 1], 0x48
    jne 3f
    dec eax                     /* REX.W */
3:  mov rcx, rax
    xor edi, edi
    mov rax, 0x3fffffffffffffff
    mov r9, rax
    mov r10, rax
    mov r11, rax
    jmp rcx
