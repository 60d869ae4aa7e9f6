/* Example contract for isolation tests: one method writes secrets
 * everywhere a contract can reach, two read everything back.
 *
 *   scribble   writes data, bss, the whole heap, 64 KiB of stack, every
 *              XMM register, the callee-saved and scratch general registers
 *              and the AC flag, then returns
 *   inspect    returns an FNV-1a hash (u64 LE) of its data and bss, the
 *              whole heap, the return buffer and the
 *              stack below its own frame
 *   regs       returns the general registers, XMM0-15, RFLAGS and MXCSR as
 *              the method sees them on entry (400 bytes)
 *
 * tests/tests/isolation.rs runs `scribble` of one contract and then
 * `inspect`/`regs` of another (a copy with a different code hash: `tag`
 * below is patched) on the same worker, and of the same contract, and
 * checks that both read what a pristine guest reads.
 */
#include "nativm.h"

typedef unsigned char u8;
typedef uint64_t u64;

__attribute__((used)) const char tag[16] = "isolation-A";
u64 data_secret = 0x1111111111111111UL;
u64 bss_secret[512];

static u64 fnv(u64 h, const volatile u8 *p, u64 n)
{
    for (u64 i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211UL;
    }
    return h;
}

NATIVM_METHOD(scribble)
{
    (void)input; (void)input_len;
    const volatile nativm_call_info *info = nativm_call_info_page();
    volatile u8 *heap = (volatile u8 *)(uintptr_t)info->heap_base;
    u64 heap_size = info->heap_size;
    data_secret = 0xdeadbeefdeadbeefUL;
    for (int i = 0; i < 512; i++)
        bss_secret[i] = 0xabad1deaUL * (u64)(i + 1);
    for (u64 i = 0; i < heap_size; i += 512)
        heap[i] = (u8)(i >> 9) | 1;
    volatile u8 deep[64 * 1024];
    for (u64 i = 0; i < sizeof deep; i += 64)
        deep[i] = 0x5a;
    __asm__ volatile(
        "mov $0x77, %%eax\n movq %%rax, %%xmm0\n pshufd $0, %%xmm0, %%xmm0\n"
        "movdqa %%xmm0, %%xmm1\n movdqa %%xmm0, %%xmm2\n movdqa %%xmm0, %%xmm3\n movdqa %%xmm0, %%xmm4\n"
        "movdqa %%xmm0, %%xmm5\n movdqa %%xmm0, %%xmm6\n movdqa %%xmm0, %%xmm7\n movdqa %%xmm0, %%xmm8\n"
        "movdqa %%xmm0, %%xmm9\n movdqa %%xmm0, %%xmm10\n movdqa %%xmm0, %%xmm11\n movdqa %%xmm0, %%xmm12\n"
        "movdqa %%xmm0, %%xmm13\n movdqa %%xmm0, %%xmm14\n movdqa %%xmm0, %%xmm15\n"
        "pushfq\n orq $0x40000, (%%rsp)\n popfq\n"
        "mov $0x99, %%ebx\n mov $0x99, %%r12d\n mov $0x99, %%r13d\n mov $0x99, %%r14d\n mov $0x99, %%r15d\n"
        "mov $0x99, %%r8d\n mov $0x99, %%r9d\n mov $0x99, %%r10d\n mov $0x99, %%r11d\n"
        ::: "rax", "rbx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory",
            "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
            "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

NATIVM_METHOD(inspect)
{
    (void)input; (void)input_len;
    const volatile nativm_call_info *info = nativm_call_info_page();
    u64 h = 1469598103934665603UL;
    h = fnv(h, (const volatile u8 *)&data_secret, 8);
    h = fnv(h, (const volatile u8 *)bss_secret, sizeof bss_secret);
    h = fnv(h, (const volatile u8 *)(uintptr_t)info->heap_base, info->heap_size);
    h = fnv(h, (const volatile u8 *)(uintptr_t)NATIVM_RETURN_BUFFER, NATIVM_MAX_RETURN_LEN);
    u64 stack_bottom = info->stack_top - info->stack_size;
    u8 here;
    u64 below = (u64)(uintptr_t)&here - 256;
    h = fnv(h, (const volatile u8 *)(uintptr_t)stack_bottom, below - stack_bottom);
    nativm_set_return(&h, 8);
}

u64 regs_out[16 + 32 + 2];
__asm__(
    ".globl regs\n.type regs,@function\nregs:\n"
    " mov %rax, regs_out+0(%rip)\n mov %rbx, regs_out+8(%rip)\n mov %rcx, regs_out+16(%rip)\n mov %rdx, regs_out+24(%rip)\n"
    " mov %rbp, regs_out+32(%rip)\n mov %r8, regs_out+40(%rip)\n mov %r9, regs_out+48(%rip)\n mov %r10, regs_out+56(%rip)\n"
    " mov %r11, regs_out+64(%rip)\n mov %r12, regs_out+72(%rip)\n mov %r13, regs_out+80(%rip)\n mov %r14, regs_out+88(%rip)\n"
    " mov %r15, regs_out+96(%rip)\n"
    " movdqu %xmm0, regs_out+128(%rip)\n movdqu %xmm1, regs_out+144(%rip)\n movdqu %xmm2, regs_out+160(%rip)\n"
    " movdqu %xmm3, regs_out+176(%rip)\n movdqu %xmm4, regs_out+192(%rip)\n movdqu %xmm5, regs_out+208(%rip)\n"
    " movdqu %xmm6, regs_out+224(%rip)\n movdqu %xmm7, regs_out+240(%rip)\n movdqu %xmm8, regs_out+256(%rip)\n"
    " movdqu %xmm9, regs_out+272(%rip)\n movdqu %xmm10, regs_out+288(%rip)\n movdqu %xmm11, regs_out+304(%rip)\n"
    " movdqu %xmm12, regs_out+320(%rip)\n movdqu %xmm13, regs_out+336(%rip)\n movdqu %xmm14, regs_out+352(%rip)\n"
    " movdqu %xmm15, regs_out+368(%rip)\n"
    " pushfq\n pop %rax\n mov %rax, regs_out+384(%rip)\n stmxcsr regs_out+392(%rip)\n"
    " sub $8, %rsp\n mov $2, %edi\n lea regs_out(%rip), %rsi\n mov $400, %edx\n xor %ecx, %ecx\n xor %r8d, %r8d\n"
    " mov $0x200000, %eax\n call *%rax\n add $8, %rsp\n ret\n");
