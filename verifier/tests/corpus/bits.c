/* Bit tricks: __builtin_ctz/clz/popcount/bswap/parity, rotates, 128-bit
 * multiplication, a small bitset, and Morton codes. */
#include <stddef.h>
#include <stdint.h>

static uint64_t bitset[64];

unsigned trailing(uint64_t x) { return x ? (unsigned)__builtin_ctzll(x) : 64; }
unsigned leading(uint64_t x) { return x ? (unsigned)__builtin_clzll(x) : 64; }
unsigned ones(uint64_t x) { return (unsigned)__builtin_popcountll(x); }
unsigned parity(uint64_t x) { return (unsigned)__builtin_parityll(x); }
uint64_t swap_bytes(uint64_t x) { return __builtin_bswap64(x); }
uint32_t ilog2(uint32_t x) { return 31u - (uint32_t)__builtin_clz(x | 1); }

uint64_t mulhi(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

uint64_t morton(uint32_t x, uint32_t y)
{
    uint64_t r = 0;
    for (int i = 0; i < 32; i++)
        r |= ((uint64_t)((x >> i) & 1) << (2 * i)) | ((uint64_t)((y >> i) & 1) << (2 * i + 1));
    return r;
}

void bitset_set(unsigned i) { bitset[(i / 64) & 63] |= 1ull << (i % 64); }
int bitset_test(unsigned i) { return (bitset[(i / 64) & 63] >> (i % 64)) & 1; }

long bitset_next(unsigned from)
{
    for (unsigned w = from / 64; w < 64; w++) {
        uint64_t word = bitset[w];
        if (w == from / 64)
            word &= ~0ull << (from % 64);
        if (word)
            return (long)(w * 64 + (unsigned)__builtin_ctzll(word));
    }
    return -1;
}

uint64_t bit_mix(uint64_t x, unsigned k)
{
    uint64_t acc = 0;
    for (unsigned i = 0; i < 16; i++) {
        x = (x << (k & 63)) | (x >> ((64 - k) & 63));
        acc += ones(x) + leading(x ^ acc) + trailing(x | acc);
        acc ^= swap_bytes(acc) + parity(x) + mulhi(x, acc | 1);
        int64_t sx = (int64_t)x;
        acc += (uint64_t)(sx >> (k % 64));
    }
    return acc;
}
