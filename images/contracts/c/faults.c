/* Example C contract that misbehaves on purpose: one method per fault the
 * host must contain. Each ends the call with a `trap` (or `timeout`, or
 * `reverted`) receipt; the host stays up. Used by tests/tests/faults.rs and
 * handy for trying the receipts from the command line:
 *
 *   nativm run target/contracts/faults.elf null_deref
 *
 * Methods:
 *   null_deref        store to address 0                   -> trap page_fault
 *   divide_by_zero    64-bit div by 0                      -> trap divide_error
 *   invalid_opcode    ud2                                  -> trap invalid_opcode
 *   stack_overflow    unbounded recursion                  -> trap page_fault (guard page)
 *   jump_unmapped     call an unmapped address             -> trap invalid_branch_target
 *   jump_to_data      call into a writable data array      -> trap invalid_branch_target
 *                     (the prepared code checks indirect calls before they land;
 *                     untranslated, both are page faults on the fetch)
 *   write_code        store into its own code              -> trap page_fault (write)
 *   noncanonical      load from a non-canonical address    -> trap general_protection
 *   spin              loop forever                         -> out_of_gas (timeout with a
 *                                                             short wall-clock limit)
 *   write_then_trap   storage write, then null deref       -> trap, write discarded
 *   write_then_abort  storage write, then abort            -> reverted, write discarded
 *   write_then_spin   storage write, then loop forever     -> timeout, write discarded
 *   write_ok          storage write "k" = input            -> ok, committed
 *   write_rodata      store into read-only data            -> trap page_fault (write)
 *   heap_probe        input u64 offset: write and read back the heap byte at
 *                     heap_base + offset, return it        -> ok inside the heap,
 *                                                             trap page_fault past its end
 *   bad_hostcall      input[0] selects a malformed host call -> trap host_call
 */
#include "nativm.h"

typedef void (*fn_t)(void);

static volatile uint64_t zero = 0;
static uint8_t data_area[64] = {0xc3}; /* a `ret` in a writable, NX page */

NATIVM_METHOD(null_deref)
{
    (void)input; (void)input_len;
    *(volatile uint64_t *)(uintptr_t)zero = 1;
}

NATIVM_METHOD(divide_by_zero)
{
    (void)input;
    volatile uint64_t q = input_len / zero;
    (void)q;
}

NATIVM_METHOD(invalid_opcode)
{
    (void)input; (void)input_len;
    __asm__ volatile("ud2");
}

static uint64_t recurse(uint64_t n)
{
    volatile uint8_t frame[512];
    frame[0] = (uint8_t)n;
    if (zero == 0) /* always true; hides the recursion from -Winfinite-recursion */
        return recurse(n + 1) + frame[0];
    return frame[0];
}

NATIVM_METHOD(stack_overflow)
{
    (void)input;
    volatile uint64_t r = recurse(input_len);
    (void)r;
}

NATIVM_METHOD(jump_unmapped)
{
    (void)input; (void)input_len;
    fn_t f = (fn_t)(uintptr_t)(0x12345000 + zero);
    f();
}

NATIVM_METHOD(jump_to_data)
{
    (void)input; (void)input_len;
    fn_t f = (fn_t)(uintptr_t)((uintptr_t)data_area + zero);
    f();
}

NATIVM_METHOD(write_code)
{
    (void)input; (void)input_len;
    volatile uint8_t *code = (volatile uint8_t *)(uintptr_t)((uintptr_t)&null_deref + zero);
    *code = 0x90;
}

static const uint64_t read_only_word = 0x1234;

NATIVM_METHOD(write_rodata)
{
    (void)input; (void)input_len;
    *(volatile uint64_t *)(uintptr_t)((uintptr_t)&read_only_word + zero) = 1;
}

NATIVM_METHOD(heap_probe)
{
    if (input_len != 8)
        NATIVM_ABORT("heap_probe: input must be a u64 offset");
    const volatile nativm_call_info *info = nativm_call_info_page();
    volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(info->heap_base + nativm_load_u64_le(input));
    *p = 0xa5;
    uint8_t v = *p;
    nativm_set_return(&v, 1);
}

NATIVM_METHOD(noncanonical)
{
    (void)input; (void)input_len;
    volatile uint64_t v = *(volatile uint64_t *)(uintptr_t)(0x8000000000000000ULL + zero);
    (void)v;
}

NATIVM_METHOD(spin)
{
    (void)input; (void)input_len;
    for (;;)
        __asm__ volatile("");
}

static void write_k(const uint8_t *input, uint64_t input_len)
{
    nativm_storage_write("k", 1, input, input_len);
}

NATIVM_METHOD(write_then_trap)
{
    write_k(input, input_len);
    *(volatile uint64_t *)(uintptr_t)zero = 1;
}

NATIVM_METHOD(write_then_abort)
{
    write_k(input, input_len);
    NATIVM_ABORT("aborted after writing");
}

NATIVM_METHOD(write_then_spin)
{
    write_k(input, input_len);
    for (;;)
        __asm__ volatile("");
}

NATIVM_METHOD(write_ok)
{
    write_k(input, input_len);
}

/* Raw host calls with arguments the host must refuse. */
NATIVM_METHOD(bad_hostcall)
{
    uint8_t which = input_len ? input[0] : 0;
    uint64_t z = zero;
    switch (which) {
    case 0: /* set_return from the null page */
        nativm_hostcall(NATIVM_HOSTCALL_SET_RETURN, z, 8, 0, 0);
        break;
    case 1: /* caller() into read-only code */
        nativm_hostcall(NATIVM_HOSTCALL_CALLER, (uintptr_t)&null_deref + z, 0, 0, 0);
        break;
    case 2: /* a storage key longer than the limit */
        nativm_hostcall(NATIVM_HOSTCALL_STORAGE_WRITE, (uintptr_t)input, NATIVM_MAX_KEY_LEN + 1 + z, (uintptr_t)input, 1);
        break;
    case 3: /* a log read from the shim's supervisor-only memory */
        nativm_hostcall(NATIVM_HOSTCALL_LOG, 0x100000 + z, 16, 0, 0);
        break;
    case 4: /* storage_read into the doorbell page */
        nativm_storage_write("k", 1, "v", 1);
        nativm_hostcall(NATIVM_HOSTCALL_STORAGE_READ, (uintptr_t)"k", 1, NATIVM_DOORBELL_VA + z, 8);
        break;
    case 5: /* an unknown host-call number */
        nativm_hostcall(999 + z, 0, 0, 0, 0);
        break;
    case 6: /* a range that wraps around the address space */
        nativm_hostcall(NATIVM_HOSTCALL_LOG, 0xfffffffffffffff0ULL + z, 0x20, 0, 0);
        break;
    case 7: /* caller() into the read-only input */
        nativm_hostcall(NATIVM_HOSTCALL_CALLER, (uintptr_t)input + z, 0, 0, 0);
        break;
    default: /* a return-data length far past every mapping */
        nativm_hostcall(NATIVM_HOSTCALL_SET_RETURN, (uintptr_t)input, 0x10000000 + z, 0, 0);
        break;
    }
}
