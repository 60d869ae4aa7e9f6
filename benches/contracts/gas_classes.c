/* Worst-case kernels per instruction class, for the gas-per-nanosecond
 * benchmark (benches/benches/gas_per_ns.rs, issue 16). Built by
 * nativm_benches::gas_classes_contract with the C contract flags.
 *
 * Every method reads its input as two little-endian u64: n (iterations of
 * its loop) and p (a parameter, see each method), and returns nothing. A
 * loop body repeats the instruction under test 8 times (unless said
 * otherwise), so the loop's own `dec; jnz` is a small part of it. The
 * benchmark calls each method with two values of n and divides the
 * differences in gas and in time, so the call's fixed cost and any set-up
 * cancel out.
 *
 * Memory: the heap (NATIVM_HEAP_BASE, its size in the call info) is all
 * zero at the start of a call.
 */
#include "nativm.h"

#define METHOD(name) ".globl " #name "\n.type " #name ",@function\n" #name ":\n"
#define X8(s) s s s s s s s s
#define HEAP "0x40000000"
/* rcx = n, rdx = p, r8 = heap base; the loop label is 1. */
#define PROLOGUE "    mov rcx, [rdi]\n    mov rdx, [rdi + 8]\n    mov r8, " HEAP "\n"
#define LOOP_END "    dec rcx\n    jnz 1b\n2:  ret\n"
#define GUARD "    test rcx, rcx\n    jz 2f\n"

__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"

    /* The reference: one dependent add per iteration plus the loop. */
    METHOD(k_add)
    PROLOGUE GUARD
    "    xor eax, eax\n"
    "1:  add rax, rdx\n"
    LOOP_END

    /* Eight independent adds per iteration (the fastest plain code). */
    METHOD(k_add_wide)
    PROLOGUE GUARD
    "1:  add rax, 1\n add rdx, 1\n add rsi, 1\n add rdi, 1\n"
    "    add r8, 1\n add r9, 1\n add r10, 1\n add r11, 1\n"
    LOOP_END

    /* lock add to a dword at heap + p (p = 62: split across two lines). */
    METHOD(k_lock_add)
    PROLOGUE GUARD
    "    add r8, rdx\n"
    "1:\n" X8("    lock add dword ptr [r8], eax\n")
    LOOP_END

    /* xchg (implicitly locked) with a dword at heap + p. */
    METHOD(k_xchg_mem)
    PROLOGUE GUARD
    "    add r8, rdx\n"
    "1:\n" X8("    xchg dword ptr [r8], eax\n")
    LOOP_END

    /* lock cmpxchg8b at heap + p. */
    METHOD(k_lock_cmpxchg8b)
    PROLOGUE GUARD
    "    add r8, rdx\n    push rbx\n    xor ebx, ebx\n"
    "1:\n" X8("    lock cmpxchg8b qword ptr [r8]\n")
    "    dec rcx\n    jnz 1b\n    pop rbx\n2:  ret\n"

    /* cmpxchg16b at the (16-aligned) heap base, no lock. */
    METHOD(k_cmpxchg16b)
    PROLOGUE GUARD
    "    push rbx\n    xor ebx, ebx\n    xor eax, eax\n    xor edx, edx\n    mov r9, rcx\n"
    "1:\n" X8("    cmpxchg16b xmmword ptr [r8]\n")
    "    dec r9\n    jnz 1b\n    pop rbx\n2:  ret\n"

    /* A store, then mfence. */
    METHOD(k_mfence)
    PROLOGUE GUARD
    "1:\n" X8("    mov dword ptr [r8], eax\n    mfence\n")
    LOOP_END

    /* A load, then lfence. */
    METHOD(k_lfence)
    PROLOGUE GUARD
    "1:\n" X8("    mov eax, dword ptr [r8]\n    lfence\n")
    LOOP_END

    /* A store, then sfence. */
    METHOD(k_sfence)
    PROLOGUE GUARD
    "1:\n" X8("    mov dword ptr [r8], eax\n    sfence\n")
    LOOP_END

    /* enter 16, 31 and leave. */
    METHOD(k_enter31)
    PROLOGUE GUARD
    "    push rbp\n    mov rbp, rsp\n"
    "1:\n" X8("    enter 16, 31\n    leave\n")
    "    dec rcx\n    jnz 1b\n    pop rbp\n2:  ret\n"

    /* enter 16, 0 and leave. */
    METHOD(k_enter0)
    PROLOGUE GUARD
    "    push rbp\n    mov rbp, rsp\n"
    "1:\n" X8("    enter 16, 0\n    leave\n")
    "    dec rcx\n    jnz 1b\n    pop rbp\n2:  ret\n"

    /* 64-bit div with the largest quotient: rdx:rax = (d-1):~0, by d. */
    METHOD(k_div64)
    PROLOGUE GUARD
    "    mov r10, 0x7fffffffffffffff\n    lea r9, [r10 - 1]\n"
    "1:\n" X8("    mov rdx, r9\n    mov rax, -1\n    div r10\n")
    LOOP_END

    /* 64-bit idiv of a large negative dividend. */
    METHOD(k_idiv64)
    PROLOGUE GUARD
    "    mov r10, 0x3fffffffffffffff\n"
    "1:\n" X8("    mov rdx, -0x1000000000000000\n    mov rax, 1\n    idiv r10\n")
    LOOP_END

    /* 32-bit div with the largest quotient. */
    METHOD(k_div32)
    PROLOGUE GUARD
    "    mov r10d, 0x7fffffff\n    lea r9d, [r10 - 1]\n"
    "1:\n" X8("    mov edx, r9d\n    mov eax, -1\n    div r10d\n")
    LOOP_END

    /* 8-bit div (ax / r10b). */
    METHOD(k_div8)
    PROLOGUE GUARD
    "    mov r10d, 0x7f\n"
    "1:\n" X8("    mov eax, 0x7eff\n    div r10b\n")
    LOOP_END

    /* rep movsb of p bytes from heap + 1 MiB + 1 to heap + 3 (misaligned). */
    METHOD(k_rep_movsb)
    PROLOGUE GUARD
    "    mov r9, rcx\n    mov r10, rdx\n"
    "1:  lea rsi, [r8 + 0x100001]\n    lea rdi, [r8 + 3]\n    mov rcx, r10\n    rep movsb\n"
    "    dec r9\n    jnz 1b\n2:  ret\n"

    /* rep movsb of p bytes backwards (DF = 1), overlapping by one byte. */
    METHOD(k_rep_movsb_back)
    PROLOGUE GUARD
    "    mov r9, rcx\n    mov r10, rdx\n"
    "1:  lea rsi, [r8 + r10 - 1]\n    lea rdi, [r8 + r10]\n    mov rcx, r10\n    std\n    rep movsb\n    cld\n"
    "    dec r9\n    jnz 1b\n2:  ret\n"

    /* rep stosq of p qwords. */
    METHOD(k_rep_stosq)
    PROLOGUE GUARD
    "    mov r9, rcx\n    mov r10, rdx\n    xor eax, eax\n"
    "1:  mov rdi, r8\n    mov rcx, r10\n    rep stosq\n"
    "    dec r9\n    jnz 1b\n2:  ret\n"

    /* rep stosb of p bytes. */
    METHOD(k_rep_stosb)
    PROLOGUE GUARD
    "    mov r9, rcx\n    mov r10, rdx\n    xor eax, eax\n"
    "1:  lea rdi, [r8 + 1]\n    mov rcx, r10\n    rep stosb\n"
    "    dec r9\n    jnz 1b\n2:  ret\n"

    /* rep lodsb of p bytes. */
    METHOD(k_rep_lodsb)
    PROLOGUE GUARD
    "    mov r9, rcx\n    mov r10, rdx\n"
    "1:  mov rsi, r8\n    mov rcx, r10\n    rep lodsb\n"
    "    dec r9\n    jnz 1b\n2:  ret\n"

    /* repe cmpsb over two equal (zero) buffers of p bytes: runs to the end. */
    METHOD(k_repe_cmpsb)
    PROLOGUE GUARD
    "    mov r9, rcx\n    mov r10, rdx\n"
    "1:  mov rsi, r8\n    lea rdi, [r8 + 0x100000]\n    mov rcx, r10\n    repe cmpsb\n"
    "    dec r9\n    jnz 1b\n2:  ret\n"

    /* repne scasb for a 1 in p zero bytes: runs to the end. */
    METHOD(k_repne_scasb)
    PROLOGUE GUARD
    "    mov r9, rcx\n    mov r10, rdx\n    mov eax, 1\n"
    "1:  mov rdi, r8\n    mov rcx, r10\n    repne scasb\n"
    "    dec r9\n    jnz 1b\n2:  ret\n"

    /* pushfq; popfq. */
    METHOD(k_pushf_popf)
    PROLOGUE GUARD
    "    cmp eax, eax\n"
    "1:\n" X8("    pushfq\n    popfq\n")
    LOOP_END

    /* bts with a register bit offset into memory (bit-string addressing). */
    METHOD(k_bts_mem)
    PROLOGUE GUARD
    "    mov eax, 77\n"
    "1:\n" X8("    bts qword ptr [r8], rax\n")
    LOOP_END

    /* A 4-byte store, then an 8-byte load of it (store forwarding fails). */
    METHOD(k_store_forward)
    PROLOGUE GUARD
    "    xor eax, eax\n"
    "1:\n" X8("    mov dword ptr [r8 + rax], eax\n    mov rax, qword ptr [r8 + rax]\n")
    LOOP_END

    /* A dependent chain of loads that cross a 4 KiB page boundary. */
    METHOD(k_split_load)
    PROLOGUE GUARD
    "    xor eax, eax\n"
    "1:\n" X8("    mov rax, qword ptr [r8 + rax + 4092]\n")
    LOOP_END

    /* sqrtsd chain. */
    METHOD(k_sqrtsd)
    PROLOGUE GUARD
    "    mov rax, 0x4000000000000000\n    movq xmm0, rax\n"
    "1:\n" X8("    sqrtsd xmm0, xmm0\n")
    LOOP_END

    /* sqrtpd chain. */
    METHOD(k_sqrtpd)
    PROLOGUE GUARD
    "    mov rax, 0x4000000000000000\n    movq xmm0, rax\n    unpcklpd xmm0, xmm0\n"
    "1:\n" X8("    sqrtpd xmm0, xmm0\n")
    LOOP_END

    /* divsd chain. */
    METHOD(k_divsd)
    PROLOGUE GUARD
    "    mov rax, 0x4000000000000000\n    movq xmm0, rax\n    mov rax, 0x3ff0000000000001\n    movq xmm1, rax\n"
    "1:\n" X8("    divsd xmm0, xmm1\n")
    LOOP_END

    /* divpd chain. */
    METHOD(k_divpd)
    PROLOGUE GUARD
    "    mov rax, 0x4000000000000000\n    movq xmm0, rax\n    unpcklpd xmm0, xmm0\n"
    "    mov rax, 0x3ff0000000000001\n    movq xmm1, rax\n    unpcklpd xmm1, xmm1\n"
    "1:\n" X8("    divpd xmm0, xmm1\n")
    LOOP_END

    /* mulsd chain on a denormal (times 1.0: stays denormal). */
    METHOD(k_denormal_mulsd)
    PROLOGUE GUARD
    "    mov eax, 1\n    movq xmm0, rax\n    mov rax, 0x3ff0000000000000\n    movq xmm1, rax\n"
    "1:\n" X8("    mulsd xmm0, xmm1\n")
    LOOP_END

    /* mulps chain producing denormals from normals (underflow each time). */
    METHOD(k_denormal_mulps)
    PROLOGUE GUARD
    "    mov eax, 0x00800000\n    movd xmm0, eax\n    pshufd xmm0, xmm0, 0\n"
    "    mov eax, 0x3f000000\n    movd xmm1, eax\n    pshufd xmm1, xmm1, 0\n"
    "    mov eax, 0x40000000\n    movd xmm2, eax\n    pshufd xmm2, xmm2, 0\n"
    "1:\n" X8("    mulps xmm0, xmm1\n    mulps xmm0, xmm2\n")
    LOOP_END

    /* addsd chain of denormals. */
    METHOD(k_denormal_addsd)
    PROLOGUE GUARD
    "    mov eax, 1\n    movq xmm0, rax\n    movq xmm1, rax\n"
    "1:\n" X8("    addsd xmm0, xmm1\n")
    LOOP_END

    /* pdep/pext with a dense mask. */
    METHOD(k_pdep)
    PROLOGUE GUARD
    "    mov r9, 0x5555555555555555\n    mov rax, -1\n"
    "1:\n" X8("    pdep rax, rax, r9\n    pext rax, rax, r9\n")
    LOOP_END

    /* rcl by cl. */
    METHOD(k_rcl_cl)
    PROLOGUE GUARD
    "    mov r9, rcx\n    mov ecx, 13\n"
    "1:\n" X8("    rcl rax, cl\n")
    "    dec r9\n    jnz 1b\n2:  ret\n"

    /* Pointer chase through p bytes of heap (a power of two, at most the
     * heap): first a set-up pass links every 64-byte line to the next in a
     * full-period LCG order (line' = line * A + C mod lines), then n times
     * 8 dependent loads. */
    METHOD(k_chase)
    PROLOGUE
    "    mov r9, rdx\n    shr r9, 6\n    dec r9\n"           /* line mask */
    "    mov r10, 6364136223846793005\n    mov r11, 1442695040888963407\n"
    "    xor esi, esi\n"                                      /* line */
    "3:  mov rax, rsi\n    imul rax, r10\n    add rax, r11\n    and rax, r9\n"
    "    shl rax, 6\n    add rax, r8\n    mov rdi, rsi\n    shl rdi, 6\n"
    "    mov [r8 + rdi], rax\n    inc rsi\n    cmp rsi, r9\n    jbe 3b\n"
    "    mov rax, r8\n"
    GUARD
    "1:\n" X8("    mov rax, [rax]\n")
    LOOP_END

    /* The same chase through `pop rsp`... as `leave` chains through rbp:
     * rbp = [rbp] per step, over the same links. */
    METHOD(k_chase_leave)
    PROLOGUE
    "    push rbp\n    mov r9, rdx\n    shr r9, 6\n    dec r9\n"
    "    mov r10, 6364136223846793005\n    mov r11, 1442695040888963407\n"
    "    xor esi, esi\n"
    "3:  mov rax, rsi\n    imul rax, r10\n    add rax, r11\n    and rax, r9\n"
    "    shl rax, 6\n    add rax, r8\n    mov rdi, rsi\n    shl rdi, 6\n"
    "    mov [r8 + rdi], rax\n    inc rsi\n    cmp rsi, r9\n    jbe 3b\n"
    "    mov rsi, rsp\n    mov rbp, r8\n"
    "    test rcx, rcx\n    jz 4f\n"
    "1:\n" X8("    leave\n")
    "    dec rcx\n    jnz 1b\n4:  mov rsp, rsi\n    pop rbp\n    ret\n"

    /* Writes one byte to each of n pages of the heap (from page p). */
    METHOD(k_touch_write)
    PROLOGUE GUARD
    "    shl rdx, 12\n    add r8, rdx\n"
    "1:  mov byte ptr [r8], 1\n    add r8, 4096\n"
    LOOP_END

    /* Reads one byte of each of n pages of the heap (from page p). */
    METHOD(k_touch_read)
    PROLOGUE GUARD
    "    shl rdx, 12\n    add r8, rdx\n"
    "1:  add al, byte ptr [r8]\n    add r8, 4096\n"
    LOOP_END

    /* Writes one byte to each of n pages of the stack, downwards. */
    METHOD(k_touch_stack)
    PROLOGUE GUARD
    "    mov r9, rsp\n    sub r9, 8192\n"
    "1:  mov byte ptr [r9], 1\n    sub r9, 4096\n"
    LOOP_END

    ".text\n"
    ".att_syntax prefix\n");
