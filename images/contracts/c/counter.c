/* Example C contract: a counter in storage.
 *
 * increment(delta: u64 LE) -> u64 LE: adds delta (wrapping) to the u64
 *     stored under key "count" (0 if absent), stores and returns the sum.
 * get() -> u64 LE: the current count (0 if absent); ignores its input.
 */
#include "nativm.h"

static const char KEY[] = "count";

static uint64_t load_count(void)
{
    uint64_t v = 0;
    if (!nativm_storage_read_u64(KEY, sizeof KEY - 1, &v))
        v = 0;
    return v;
}

static void return_u64(uint64_t v)
{
    uint8_t out[8];
    nativm_store_u64_le(out, v);
    nativm_set_return(out, sizeof out);
}

NATIVM_METHOD(increment)
{
    if (input_len != 8)
        NATIVM_ABORT("increment: input must be exactly 8 bytes (u64 little-endian delta)");
    uint64_t v = load_count() + nativm_load_u64_le(input);
    nativm_storage_write_u64(KEY, sizeof KEY - 1, v);
    return_u64(v);
}

NATIVM_METHOD(get)
{
    (void)input;
    (void)input_len;
    return_u64(load_count());
}
