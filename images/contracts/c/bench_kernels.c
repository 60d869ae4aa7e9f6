/* Benchmark kernels: the same C for nativm and for WebAssembly.
 *
 * benches/benches/vs_wasmtime.rs compiles this one file with clang for both
 * sides (x86-64 contract for nativm, wasm32 module for Wasmtime), so that
 * both run the same source through the same compiler. It is also a bundled
 * example contract (built by images/build.rs with gcc, like every
 * C file under contracts/c/).
 *
 * Kernels (portable C, no libc):
 *     k_trivial(n) = n
 *     k_fib(n)     = fib(n) mod 2^64, iteratively (fib(0) = 0, fib(1) = 1)
 *     k_sha256     = SHA-256 (FIPS 180-4) of a byte string
 *
 * nativm methods (x86-64 build):
 *     trivial(n: u64 LE) -> u64 LE
 *     fib(n: u64 LE) -> u64 LE
 *     sha256(bytes) -> [u8; 32]
 * (trivial and fib revert unless the input is exactly 8 bytes).
 *
 * WebAssembly exports (clang --target=wasm32-unknown-unknown):
 *     trivial(i64) -> i64, fib(i64) -> i64,
 *     sha256(ptr: i32, len: i32, out: i32): digest of memory[ptr..ptr+len]
 *         written to memory[out..out+32],
 *     input_buffer() -> i32 (INPUT_CAPACITY bytes the host may write),
 *     output_buffer() -> i32 (32 bytes), and the memory ("memory").
 */
#include <stdint.h>

/* ---- kernels ------------------------------------------------------------ */

static uint64_t k_trivial(uint64_t n)
{
    return n;
}

static uint64_t k_fib(uint64_t n)
{
    uint64_t a = 0, b = 1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }
    return a;
}

static const uint32_t SHA256_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One 64-byte block into the state h. */
static void sha256_block(uint32_t h[8], const uint8_t *block)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = load_be32(block + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t s1 = rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + s1 + ch + SHA256_K[i] + w[i];
        uint32_t s0 = rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = s0 + maj;
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

static void k_sha256(const uint8_t *in, uint64_t len, uint8_t out[32])
{
    uint32_t h[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    uint64_t full = len / 64;
    for (uint64_t i = 0; i < full; i++)
        sha256_block(h, in + 64 * i);

    /* The tail, the 0x80 marker, zero padding and the bit length: one or
     * two blocks. Filled byte by byte (no memcpy/memset). */
    uint8_t last[128];
    uint64_t rest = len - 64 * full;
    uint64_t total = rest < 56 ? 64 : 128;
    for (uint64_t i = 0; i < total; i++) {
        uint8_t v = 0;
        if (i < rest)
            v = in[64 * full + i];
        else if (i == rest)
            v = 0x80;
        last[i] = v;
    }
    uint64_t bits = len * 8;
    for (int i = 0; i < 8; i++)
        last[total - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha256_block(h, last);
    if (total == 128)
        sha256_block(h, last + 64);

    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, h[i]);
}

#ifndef __wasm__
/* ---- nativm methods ----------------------------------------------------- */
#include "nativm.h"

static uint64_t input_u64(const uint8_t *input, uint64_t input_len)
{
    if (input_len != 8)
        NATIVM_ABORT("input must be exactly 8 bytes (u64 little-endian)");
    return nativm_load_u64_le(input);
}

static void return_u64(uint64_t v)
{
    uint8_t out[8];
    nativm_store_u64_le(out, v);
    nativm_set_return(out, sizeof out);
}

NATIVM_METHOD(trivial)
{
    return_u64(k_trivial(input_u64(input, input_len)));
}

NATIVM_METHOD(fib)
{
    return_u64(k_fib(input_u64(input, input_len)));
}

NATIVM_METHOD(sha256)
{
    uint8_t digest[32];
    k_sha256(input, input_len, digest);
    nativm_set_return(digest, sizeof digest);
}

#else
/* ---- WebAssembly exports ------------------------------------------------ */

/* Largest input the host may write at input_buffer(). */
#define INPUT_CAPACITY (256 * 1024)

static uint8_t input_buf[INPUT_CAPACITY];
static uint8_t output_buf[32];

#define WASM_EXPORT(name) __attribute__((export_name(#name), visibility("default")))

WASM_EXPORT(trivial) uint64_t trivial(uint64_t n)
{
    return k_trivial(n);
}

WASM_EXPORT(fib) uint64_t fib(uint64_t n)
{
    return k_fib(n);
}

WASM_EXPORT(sha256) void sha256(const uint8_t *in, uint32_t len, uint8_t *out)
{
    k_sha256(in, len, out);
}

WASM_EXPORT(input_buffer) uint8_t *input_buffer(void)
{
    return input_buf;
}

WASM_EXPORT(output_buffer) uint8_t *output_buffer(void)
{
    return output_buf;
}
#endif
