/* Example contract for gas: methods written out in assembly, so that the
 * gas each one uses can be counted by hand from the cost table
 * (nativm_gas::cost, version 2: most instructions 1, div r32 25, call/ret
 * and indirect jumps 3, rep string 40 plus its count, +2 for an explicit
 * memory operand (none below: lea touches no memory); host calls a base
 * plus a per-byte price). tests/tests/gas.rs checks every count below.
 *
 * A block is charged at its head; the runtime's own call of the method and
 * its return are not charged.
 *
 *   straight        mov eax,1; add eax,2; ret                       = 1+1+3 = 5
 *   count_down      mov ecx,10 | L: dec ecx; jnz L | ret           = 1 + 10*2 + 3 = 24
 *   divide          mov eax,100; xor edx,edx; mov ecx,7; div ecx; ret
 *                                                                   = 1+1+1+25+3 = 31
 *   rep_copy        copies the input (<= 4096 bytes) to the stack with
 *                   rep movsb: 4 movs/subs + rep (40 + len) + add + ret
 *                                                                   = 48 + len
 *   echo            set_return(input): 4 movs + call rax | ret      = 10, plus
 *                   set_return 100 + len
 *   store_input     storage_write("k", input): 6 movs/lea + call rax | ret
 *                                                                   = 12, plus
 *                   storage_write 5000 + 10 * (1 + len)
 *   echo_and_store  set_return(input), then storage_write("k", input):
 *                   2 push + 6 mov + call rax (3) | 6 mov/lea + call rax (3)
 *                   | 2 pop + ret (3)                               = 11 + 9 + 5,
 *                   plus set_return 100 + len and storage_write 5000 + 10 * (1 + len)
 *                   (the set_return is charged when the storage_write exits)
 *   spin            L: jmp L                                        -> out_of_gas
 *   spin_indirect   calls a function through a pointer forever      -> out_of_gas
 *   spin_recursive  rec: call rec                                   -> out_of_gas
 *                   (with a limit that runs out before the stack does)
 *   write_gas_constant  stores into the prepared code's constants   -> trap
 *   jump_into_prepared  jmp to an address of the prepared code     -> trap
 *   return_into_prepared  overwrites its return address, then ret  -> trap
 *   patch_site      movabs rax, 0x1122334455667788; ret: a marker the
 *                   tests overwrite with forbidden instructions (MMX,
 *                   emms, fxrstor) to check the verifier refuses them.
 */
#include "nativm.h"

#define METHOD(name) ".globl " #name "\n.type " #name ",@function\n" #name ":\n"

__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"
    METHOD(straight)
    "    mov eax, 1\n"
    "    add eax, 2\n"
    "    ret\n"

    METHOD(count_down)
    "    mov ecx, 10\n"
    "1:  dec ecx\n"
    "    jnz 1b\n"
    "    ret\n"

    METHOD(divide)
    "    mov eax, 100\n"
    "    xor edx, edx\n"
    "    mov ecx, 7\n"
    "    div ecx\n"
    "    ret\n"

    METHOD(rep_copy)
    "    mov rcx, rsi\n"
    "    mov rsi, rdi\n"
    "    sub rsp, 4096\n"
    "    mov rdi, rsp\n"
    "    rep movsb\n"
    "    add rsp, 4096\n"
    "    ret\n"

    METHOD(echo)
    "    mov rdx, rsi\n"
    "    mov rsi, rdi\n"
    "    mov edi, 2\n"            /* NATIVM_HOSTCALL_SET_RETURN */
    "    mov eax, 0x200000\n"     /* NATIVM_HOSTCALL_ENTRY */
    "    call rax\n"
    "    ret\n"

    METHOD(store_input)
    "    mov r8, rsi\n"
    "    mov rcx, rdi\n"
    "    mov edx, 1\n"
    "    lea rsi, [rip + gas_key]\n"
    "    mov edi, 4\n"            /* NATIVM_HOSTCALL_STORAGE_WRITE */
    "    mov eax, 0x200000\n"
    "    call rax\n"
    "    ret\n"

    METHOD(echo_and_store)
    "    push rbx\n"
    "    push r12\n"
    "    mov rbx, rdi\n"
    "    mov r12, rsi\n"
    "    mov rdx, rsi\n"
    "    mov rsi, rdi\n"
    "    mov edi, 2\n"
    "    mov eax, 0x200000\n"
    "    call rax\n"
    "    mov r8, r12\n"
    "    mov rcx, rbx\n"
    "    mov edx, 1\n"
    "    lea rsi, [rip + gas_key]\n"
    "    mov edi, 4\n"
    "    mov eax, 0x200000\n"
    "    call rax\n"
    "    pop r12\n"
    "    pop rbx\n"
    "    ret\n"

    METHOD(spin)
    "1:  jmp 1b\n"

    METHOD(spin_recursive)
    "    call spin_recursive\n"
    "    ret\n"

    METHOD(write_gas_constant)
    "    mov qword ptr [0x71000010], 0\n"  /* NATIVM_PREPARED_CODE_BASE + 16 */
    "    ret\n"

    METHOD(jump_into_prepared)
    "    mov eax, 0x71000040\n"
    "    jmp rax\n"

    METHOD(return_into_prepared)
    "    mov qword ptr [rsp], 0x71000040\n"
    "    ret\n"

    METHOD(patch_site)
    "    movabs rax, 0x1122334455667788\n"
    "    ret\n"

    ".section .rodata\n"
    "gas_key: .byte 'k'\n"
    ".text\n"
    ".att_syntax prefix\n");

static void nothing(void) {}

static void (*volatile target)(void) = nothing;

NATIVM_METHOD(spin_indirect)
{
    (void)input; (void)input_len;
    for (;;)
        target();
}
