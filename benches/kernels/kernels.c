/* C kernels of issue 13's benchmark (benches/benches/real_contracts.rs),
 * built twice by each compiler: as a nativm contract (the C contract
 * flags, -O2) and as a native shared object (-O2 -fPIC -shared), then
 * timed metered against native in one run.
 *
 * Methods (integers little-endian):
 *   fib(n: u64) -> u64                 recursive fib(n)
 *   sha256(bytes) -> [u8; 32]          FIPS 180-4 SHA-256 of the input
 *   keccak(rounds: u64) -> [u8; 32]    Keccak-f[1600] applied `rounds`
 *                                      times to a zero state; its first
 *                                      32 bytes
 *   sieve(n: u64) -> u64               primes below n (n <= 2^23 + 1),
 *                                      one byte per number in .bss
 *   matmul(n: u64) -> u64              C = A * B for n x n u32 matrices
 *                                      (n <= 200) filled from a xorshift;
 *                                      the wrapping sum of C's entries
 * Loops are written so that no compiler turns them into memset/memcpy
 * calls (which the two builds would serve differently).
 */
#include <stdint.h>

#ifdef KERNELS_NATIVE
#define METHOD(name) \
    __attribute__((visibility("default"))) void name(const uint8_t *input, uint64_t input_len)
__attribute__((visibility("default"))) uint8_t kernels_out[32];
__attribute__((visibility("default"))) uint64_t kernels_out_len;
static void ret(const void *p, uint64_t n)
{
    const volatile uint8_t *s = p;
    for (uint64_t i = 0; i < n; i++)
        kernels_out[i] = s[i];
    kernels_out_len = n;
}
#else
#include "nativm.h"
#define METHOD(name) NATIVM_METHOD(name)
static void ret(const void *p, uint64_t n) { nativm_set_return(p, n); }
#endif

static uint64_t arg(const uint8_t *in, uint64_t len)
{
    uint64_t v = 0;
    for (uint64_t i = 0; i < 8 && i < len; i++)
        v |= (uint64_t)in[i] << (8 * i);
    return v;
}

static void ret_u64(uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    ret(b, 8);
}

/* ---- fib ---- */
static uint64_t fib_rec(uint64_t n) { return n < 2 ? n : fib_rec(n - 1) + fib_rec(n - 2); }
METHOD(fib) { ret_u64(fib_rec(arg(input, input_len))); }

/* ---- SHA-256 ---- */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void sha_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}
METHOD(sha256)
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    uint64_t full = input_len / 64 * 64;
    for (uint64_t o = 0; o < full; o += 64)
        sha_block(h, input + o);
    uint8_t last[128];
    uint64_t rest = input_len - full, n = rest < 56 ? 64 : 128;
    for (uint64_t i = 0; i < n; i++)
        last[i] = i < rest ? input[full + i] : (i == rest ? 0x80 : 0);
    for (int i = 0; i < 8; i++)
        last[n - 1 - i] = (uint8_t)((input_len * 8) >> (8 * i));
    sha_block(h, last);
    if (n == 128)
        sha_block(h, last + 64);
    uint8_t out[32];
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
    ret(out, 32);
}

/* ---- Keccak-f[1600] (FIPS 202 section 3) ---- */
static const uint64_t RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};
static const int ROT[25] = {0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43,
                            25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14};
#define ROL(x, n) ((n) ? ((x) << (n)) | ((x) >> (64 - (n))) : (x))
static void keccak_f(uint64_t s[25])
{
    for (int r = 0; r < 24; r++) {
        uint64_t c[5], b[25];
        for (int x = 0; x < 5; x++)
            c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
        for (int x = 0; x < 5; x++) {
            uint64_t d = c[(x + 4) % 5] ^ ROL(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5)
                s[y + x] ^= d;
        }
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++)
                b[y + 5 * ((2 * x + 3 * y) % 5)] = ROL(s[x + 5 * y], ROT[x + 5 * y]);
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 25; y += 5)
                s[y + x] = b[y + x] ^ (~b[y + (x + 1) % 5] & b[y + (x + 2) % 5]);
        s[0] ^= RC[r];
    }
}
METHOD(keccak)
{
    uint64_t s[25];
    for (int i = 0; i < 25; i++)
        s[i] = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
    for (uint64_t n = arg(input, input_len); n; n--)
        keccak_f(s);
    uint8_t out[32];
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(s[i / 8] >> (8 * (i % 8)));
    ret(out, 32);
}

/* ---- sieve ---- */
#define SIEVE_MAX ((1u << 23) + 1)
static uint8_t composite[SIEVE_MAX];
METHOD(sieve)
{
    uint64_t n = arg(input, input_len), count = 0;
    if (n > SIEVE_MAX)
        n = SIEVE_MAX;
    /* Even numbers above 2 start composite, odd ones prime. */
    for (uint64_t i = 0; i < n; i++)
        composite[i] = (uint8_t)((i & 1) == 0);
    for (uint64_t i = 3; i * i < n; i += 2)
        if (!composite[i])
            for (uint64_t j = i * i; j < n; j += 2 * i)
                composite[j] = 1;
    for (uint64_t i = 3; i < n; i += 2)
        count += !composite[i];
    ret_u64(n > 2 ? count + 1 : 0);
}

/* ---- matmul ---- */
#define MAT_MAX 200
static uint32_t ma[MAT_MAX * MAT_MAX], mb[MAT_MAX * MAT_MAX], mc[MAT_MAX * MAT_MAX];
METHOD(matmul)
{
    uint64_t n = arg(input, input_len), x = 0x2545f4914f6cdd1dULL, sum = 0;
    if (n > MAT_MAX)
        n = MAT_MAX;
    for (uint64_t i = 0; i < n * n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        ma[i] = (uint32_t)x;
        mb[i] = (uint32_t)(x >> 32);
    }
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = 0; j < n; j++) {
            uint32_t acc = 0;
            for (uint64_t k = 0; k < n; k++)
                acc += ma[i * n + k] * mb[k * n + j];
            mc[i * n + j] = acc;
        }
    for (uint64_t i = 0; i < n * n; i++)
        sum += mc[i];
    ret_u64(sum);
}
