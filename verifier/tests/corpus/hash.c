/* Hashing and a tiny bytecode interpreter: FNV-1a, a SipHash-like mixer,
 * a CRC-32 table, and a dense switch that gcc turns into a jump table. */
#include <stddef.h>
#include <stdint.h>

static uint32_t crc_table[256];

uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

uint64_t mix(uint64_t a, uint64_t b, unsigned rounds)
{
    uint64_t v0 = a ^ 0x736f6d6570736575ull, v1 = b ^ 0x646f72616e646f6dull;
    uint64_t v2 = a ^ 0x6c7967656e657261ull, v3 = b ^ 0x7465646279746573ull;
    for (unsigned r = 0; r < rounds; r++) {
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    }
    return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t crc32(const uint8_t *p, size_t n)
{
    if (crc_table[1] == 0)
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

int64_t interpret(const uint8_t *code, size_t n, int64_t x)
{
    int64_t stack[32];
    int sp = 0;
    stack[sp++] = x;
    for (size_t pc = 0; pc < n; pc++) {
        int64_t a = sp > 0 ? stack[sp - 1] : 0;
        switch (code[pc]) {
        case 0: stack[sp - 1] = a + 1; break;
        case 1: stack[sp - 1] = a - 1; break;
        case 2: stack[sp - 1] = a * 3; break;
        case 3: stack[sp - 1] = a / 7; break;
        case 4: stack[sp - 1] = a % 11; break;
        case 5: stack[sp - 1] = a << 2; break;
        case 6: stack[sp - 1] = a >> 1; break;
        case 7: stack[sp - 1] = ~a; break;
        case 8: if (sp < 32) stack[sp++] = a; break;
        case 9: if (sp > 1) { sp--; stack[sp - 1] += a; } break;
        case 10: if (sp > 1) { sp--; stack[sp - 1] ^= a; } break;
        case 11: if (a == 0) pc++; break;
        case 12: stack[sp - 1] = (int64_t)fnv1a((const uint8_t *)&a, sizeof a); break;
        case 13: stack[sp - 1] = a < 0 ? -a : a; break;
        default: return -1;
        }
    }
    return stack[sp - 1];
}

uint64_t hash_words(const char *s, size_t n)
{
    uint64_t total = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ' ' || s[i] == '\n' || s[i] == '\t') {
            if (i > start)
                total = mix(total, fnv1a((const uint8_t *)s + start, i - start), 2);
            start = i + 1;
        }
    }
    return total ^ crc32((const uint8_t *)s, n);
}
