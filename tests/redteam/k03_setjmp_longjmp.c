/*
 * attack:   (honest) a C setjmp/longjmp pair: setjmp saves rsp, the
 *           callee-saved registers and its (prepared) return address;
 *           longjmp from three frames deep restores them and returns
 *           through the saved address, twice.
 * targets:  prepared return addresses are code-table entries (saved
 *           continuations work, jumped to or returned to).
 * expected: ok 0300000000000000
 */
typedef unsigned long u64;
typedef struct { u64 rbx, rbp, r12, r13, r14, r15, rsp, rip; } jmp_buf_t;

int my_setjmp(jmp_buf_t *b) __attribute__((returns_twice));
void my_longjmp(jmp_buf_t *b, int v) __attribute__((noreturn));
__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"
    ".type my_setjmp,@function\n"
    "my_setjmp:\n"
    "  mov [rdi], rbx\n mov [rdi+8], rbp\n mov [rdi+16], r12\n"
    "  mov [rdi+24], r13\n mov [rdi+32], r14\n mov [rdi+40], r15\n"
    "  lea rax, [rsp+8]\n mov [rdi+48], rax\n"
    "  mov rax, [rsp]\n mov [rdi+56], rax\n"
    "  xor eax, eax\n ret\n"
    ".type my_longjmp,@function\n"
    "my_longjmp:\n"
    "  mov rbx, [rdi]\n mov rbp, [rdi+8]\n mov r12, [rdi+16]\n"
    "  mov r13, [rdi+24]\n mov r14, [rdi+32]\n mov r15, [rdi+40]\n"
    "  mov rsp, [rdi+48]\n mov eax, esi\n"
    "  mov rcx, [rdi+56]\n jmp rcx\n"
    ".att_syntax\n");

static jmp_buf_t env;
static volatile u64 depth_sum;
static u64 out;

static void set_return(const void *p, u64 len)
{
    __asm__ volatile("mov $2, %%edi\n call 0x200000"
                     : "+S"(p), "+d"(len)
                     :
                     : "rax", "rdi", "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
}

__attribute__((noinline)) static void deep(int n, int v)
{
    depth_sum += (u64)n;
    if (n == 0)
        my_longjmp(&env, v);
    deep(n - 1, v);
}

__attribute__((noinline)) static void returner(void)
{
    /* longjmp by returning: overwrite our own return address with the
       setjmp continuation is not possible in C; use my_longjmp */
    my_longjmp(&env, 3);
}

void attack(const unsigned char *in, u64 len)
{
    (void)in; (void)len;
    volatile int round = 0;
    int v = my_setjmp(&env);
    round++;
    if (v == 0) {
        deep(3, 1);
    } else if (v == 1) {
        returner();
    }
    /* v == 3 here, after three passes through setjmp's return */
    out = (u64)round == 3 && depth_sum == 6 ? (u64)v : 0xbad;
    set_return(&out, 8);
}
