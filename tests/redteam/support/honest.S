/* The honest method linked into every red-team contract (not an attack).
 *
 * honest(input, len) returns 432 bytes describing everything a call can
 * observe of the guest at its start:
 *   word 0   FNV-style hash of every writable PT_LOAD segment (data, bss),
 *            found through the program headers at __ehdr_start
 *   word 1   hash of the whole heap (base and size from call info)
 *   word 2   hash of the stack from its bottom to 512 bytes below the
 *            entry rsp
 *   word 3   hash of the whole return buffer (1 MiB)
 *   words 4-21  rax rbx rcx rdx rsi rdi rbp rsp r8-r15, rflags, mxcsr at entry
 *   words 22-53 xmm0-xmm15 at entry
 * The harness takes the first result of a fresh guest as "pristine" and
 * requires every later honest call to return exactly that.
 */
#include "redteam.h"

    .bss
    .balign 16
honest_out:
    .zero 432

    .text
    .type hash_bytes, @function
/* rax = hash(rax, bytes [rdi, rdi+rsi)) */
hash_bytes:
    test rsi, rsi
    jz 2f
    mov r11, 0x100000001b3
1:  movzx ecx, byte ptr [rdi]
    xor rax, rcx
    imul rax, r11
    inc rdi
    dec rsi
    jnz 1b
2:  ret

    .type hash_qwords, @function
/* rax = hash(rax, qwords [rdi, rdi+8*rsi)) */
hash_qwords:
    test rsi, rsi
    jz 2f
    mov r11, 0x100000001b3
1:  xor rax, [rdi]
    imul rax, r11
    rol rax, 17
    add rdi, 8
    dec rsi
    jnz 1b
2:  ret

    .globl honest
    .type honest, @function
honest:
    mov [rip + honest_out + 32 + 0], rax
    mov [rip + honest_out + 32 + 8], rbx
    mov [rip + honest_out + 32 + 16], rcx
    mov [rip + honest_out + 32 + 24], rdx
    mov [rip + honest_out + 32 + 32], rsi
    mov [rip + honest_out + 32 + 40], rdi
    mov [rip + honest_out + 32 + 48], rbp
    mov [rip + honest_out + 32 + 56], rsp
    mov [rip + honest_out + 32 + 64], r8
    mov [rip + honest_out + 32 + 72], r9
    mov [rip + honest_out + 32 + 80], r10
    mov [rip + honest_out + 32 + 88], r11
    mov [rip + honest_out + 32 + 96], r12
    mov [rip + honest_out + 32 + 104], r13
    mov [rip + honest_out + 32 + 112], r14
    mov [rip + honest_out + 32 + 120], r15
    pushfq
    pop rax
    mov [rip + honest_out + 32 + 128], rax
    stmxcsr [rip + honest_out + 32 + 136]
    movdqu [rip + honest_out + 176 + 0], xmm0
    movdqu [rip + honest_out + 176 + 16], xmm1
    movdqu [rip + honest_out + 176 + 32], xmm2
    movdqu [rip + honest_out + 176 + 48], xmm3
    movdqu [rip + honest_out + 176 + 64], xmm4
    movdqu [rip + honest_out + 176 + 80], xmm5
    movdqu [rip + honest_out + 176 + 96], xmm6
    movdqu [rip + honest_out + 176 + 112], xmm7
    movdqu [rip + honest_out + 176 + 128], xmm8
    movdqu [rip + honest_out + 176 + 144], xmm9
    movdqu [rip + honest_out + 176 + 160], xmm10
    movdqu [rip + honest_out + 176 + 176], xmm11
    movdqu [rip + honest_out + 176 + 192], xmm12
    movdqu [rip + honest_out + 176 + 208], xmm13
    movdqu [rip + honest_out + 176 + 224], xmm14
    movdqu [rip + honest_out + 176 + 240], xmm15
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    sub rsp, 8
    /* Hash the writable segments. honest_out itself lies in one: its
       first 32 bytes are still pristine zeros here, the rest holds this
       call's entry state (deterministic if the guest is pristine). */
    mov rax, 0xcbf29ce484222325
    lea r12, [rip + __ehdr_start]
    mov r13, [r12 + 32]
    add r13, r12                    /* first program header */
    movzx r14d, word ptr [r12 + 56] /* e_phnum */
    movzx r15d, word ptr [r12 + 54] /* e_phentsize */
3:  test r14d, r14d
    jz 5f
    cmp dword ptr [r13], 1          /* PT_LOAD */
    jne 4f
    test dword ptr [r13 + 4], 2     /* PF_W */
    jz 4f
    mov rdi, [r13 + 16]             /* p_vaddr */
    mov rsi, [r13 + 40]             /* p_memsz */
    call hash_bytes
4:  add r13, r15
    dec r14d
    jmp 3b
5:  mov rbx, rax
    /* Heap. */
    mov rax, 0xcbf29ce484222325
    mov rdi, [CALL_INFO + CI_HEAP_BASE]
    mov rsi, [CALL_INFO + CI_HEAP_SIZE]
    shr rsi, 3
    call hash_qwords
    mov rbp, rax
    /* Stack below the entry frame. */
    mov rax, 0xcbf29ce484222325
    mov rdi, [CALL_INFO + CI_STACK_TOP]
    sub rdi, [CALL_INFO + CI_STACK_SIZE]
    mov rsi, [rip + honest_out + 32 + 56]
    sub rsi, 512
    sub rsi, rdi
    shr rsi, 3
    call hash_qwords
    mov r12, rax
    /* Return buffer. */
    mov rax, 0xcbf29ce484222325
    mov edi, RETBUF
    mov esi, RETBUF_LEN / 8
    call hash_qwords
    mov [rip + honest_out + 0], rbx
    mov [rip + honest_out + 8], rbp
    mov [rip + honest_out + 16], r12
    mov [rip + honest_out + 24], rax
    lea rsi, [rip + honest_out]
    mov edx, 432
    xor ecx, ecx
    xor r8d, r8d
    mov edi, HC_SET_RETURN
    call HOSTCALL
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
