/* Real contract in C: a constant-product market maker (Uniswap V2's
 * rules). Same methods, storage, events and abort messages as the Rust
 * contract `amm` (images/contracts/amm/src/main.rs; its docs are the
 * specification), so the same calls give the same outcomes.
 *
 * Storage: "r0", "r1", "shares", "lp:" ++ account; u128 little-endian.
 * Methods: add_liquidity(a0 ++ a1 ++ min_shares) -> shares,
 * swap(dir ++ amount_in ++ min_out) -> amount_out,
 * remove_liquidity(shares ++ min0 ++ min1) -> a0 ++ a1,
 * reserves() -> r0 ++ r1 ++ shares, shares_of(who) -> shares.
 */
#include "nativm.h"

typedef unsigned __int128 u128;

#define MIN_LIQUIDITY ((u128)1000)
#define RESERVE_LIMIT ((u128)1 << 112)
#define MASK64 ((u128)UINT64_MAX)

static u128 get128(const uint8_t *p)
{
    u128 v = 0;
    for (int i = 15; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put128(uint8_t *p, u128 v)
{
    for (int i = 0; i < 16; i++) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Full 256-bit product a * b as *hi, *lo. */
static void mul_wide(u128 a, u128 b, u128 *hi, u128 *lo)
{
    u128 a0 = a & MASK64, a1 = a >> 64, b0 = b & MASK64, b1 = b >> 64;
    u128 p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    u128 mid = (p00 >> 64) + (p01 & MASK64) + (p10 & MASK64);
    *lo = (p00 & MASK64) | (mid << 64);
    *hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
}

/* floor(a * b / d) into *q; 0 if d is 0 or the quotient needs > 128 bits. */
static int mul_div(u128 a, u128 b, u128 d, u128 *q)
{
    u128 hi, lo;
    mul_wide(a, b, &hi, &lo);
    if (d == 0 || hi >= d)
        return 0;
    u128 rem = hi, quo = 0;
    for (int i = 127; i >= 0; i--) {
        u128 carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        quo <<= 1;
        if (carry != 0 || rem >= d) {
            rem -= d;
            quo |= 1;
        }
    }
    *q = quo;
    return 1;
}

static u128 mul_div_or0(u128 a, u128 b, u128 d)
{
    u128 q;
    return mul_div(a, b, d, &q) ? q : 0;
}

/* floor(sqrt(a * b)) for a, b < 2^112. */
static u128 isqrt_product(u128 a, u128 b)
{
    u128 th, tl, root = 0;
    mul_wide(a, b, &th, &tl);
    for (int bit = 111; bit >= 0; bit--) {
        u128 cand = root | ((u128)1 << bit), ch, cl;
        mul_wide(cand, cand, &ch, &cl);
        if (ch < th || (ch == th && cl <= tl))
            root = cand;
    }
    return root;
}

static u128 load(const char *key, uint64_t key_len)
{
    uint8_t buf[16];
    uint64_t n = nativm_storage_read(key, key_len, buf, sizeof buf);
    if (n == NATIVM_HOSTCALL_NOT_FOUND)
        return 0;
    if (n != 16)
        NATIVM_ABORT("amm: stored amount is not 16 bytes");
    return get128(buf);
}

static void store(const char *key, uint64_t key_len, u128 v)
{
    uint8_t buf[16];
    put128(buf, v);
    nativm_storage_write(key, key_len, buf, sizeof buf);
}

static void lp_key(char k[35], const uint8_t *who)
{
    memcpy(k, "lp:", 3);
    memcpy(k + 3, who, 32);
}

static void exact(uint64_t len, uint64_t n)
{
    if (len != n)
        NATIVM_ABORT("amm: bad input length");
}

static u128 add_reserve(u128 a, u128 b)
{
    u128 s = a + b;
    if (s < a || s >= RESERVE_LIMIT)
        NATIVM_ABORT("amm: reserve overflow");
    return s;
}

/* Logs name ++ who ++ [dir] ++ x ++ y (++ z): with dir < 0 there is no
 * direction byte, with has_z == 0 no z. */
static void event(const char name[4], const uint8_t who[32], int dir, u128 x, u128 y,
                  int has_z, u128 z)
{
    uint8_t ev[4 + 32 + 1 + 3 * 16];
    uint64_t n = 36;
    memcpy(ev, name, 4);
    memcpy(ev + 4, who, 32);
    if (dir >= 0)
        ev[n++] = (uint8_t)dir;
    put128(ev + n, x);
    put128(ev + n + 16, y);
    n += 32;
    if (has_z) {
        put128(ev + n, z);
        n += 16;
    }
    nativm_log(ev, n);
}

static void return_u128(u128 v)
{
    uint8_t out[16];
    put128(out, v);
    nativm_set_return(out, sizeof out);
}

NATIVM_METHOD(add_liquidity)
{
    exact(input_len, 48);
    u128 a0 = get128(input), a1 = get128(input + 16), min = get128(input + 32);
    u128 r0 = load("r0", 2), r1 = load("r1", 2), total = load("shares", 6), minted;
    u128 n0 = add_reserve(r0, a0), n1 = add_reserve(r1, a1);
    uint8_t me[32];
    char k[35];
    nativm_caller(me);
    if (total == 0) {
        u128 root = isqrt_product(a0, a1);
        if (root <= MIN_LIQUIDITY)
            NATIVM_ABORT("amm: insufficient liquidity minted");
        store("shares", 6, root);
        minted = root - MIN_LIQUIDITY;
    } else {
        /* A quotient past 128 bits is larger than any share count:
         * saturate it, so the other one decides (r0, r1 > 0 here). */
        u128 by0, by1;
        if (!mul_div(a0, total, r0, &by0))
            by0 = ~(u128)0;
        if (!mul_div(a1, total, r1, &by1))
            by1 = ~(u128)0;
        minted = by0 < by1 ? by0 : by1;
        if (total + minted < total)
            NATIVM_ABORT("amm: share overflow");
        store("shares", 6, total + minted);
    }
    if (minted == 0 || minted < min)
        NATIVM_ABORT("amm: insufficient liquidity minted");
    store("r0", 2, n0);
    store("r1", 2, n1);
    lp_key(k, me);
    store(k, sizeof k, load(k, sizeof k) + minted);
    event("Mint", me, -1, a0, a1, 1, minted);
    return_u128(minted);
}

NATIVM_METHOD(swap)
{
    exact(input_len, 33);
    int dir = input[0];
    u128 amount_in = get128(input + 1), min_out = get128(input + 17);
    const char *k_in, *k_out;
    if (dir == 0) {
        k_in = "r0";
        k_out = "r1";
    } else if (dir == 1) {
        k_in = "r1";
        k_out = "r0";
    } else {
        NATIVM_ABORT("amm: direction must be 0 or 1");
    }
    u128 r_in = load(k_in, 2), r_out = load(k_out, 2);
    if (r_in == 0 || r_out == 0)
        NATIVM_ABORT("amm: empty pool");
    u128 new_in = add_reserve(r_in, amount_in);
    u128 with_fee = amount_in * 997;
    u128 out = mul_div_or0(with_fee, r_out, r_in * 1000 + with_fee);
    if (out == 0 || out < min_out)
        NATIVM_ABORT("amm: insufficient output");
    store(k_in, 2, new_in);
    store(k_out, 2, r_out - out);
    uint8_t me[32];
    nativm_caller(me);
    event("Swap", me, dir, amount_in, out, 0, 0);
    return_u128(out);
}

NATIVM_METHOD(remove_liquidity)
{
    exact(input_len, 48);
    u128 shares = get128(input), min0 = get128(input + 16), min1 = get128(input + 32);
    uint8_t me[32], out[32];
    char k[35];
    nativm_caller(me);
    lp_key(k, me);
    u128 held = load(k, sizeof k);
    if (shares == 0 || held < shares)
        NATIVM_ABORT("amm: insufficient shares");
    u128 r0 = load("r0", 2), r1 = load("r1", 2), total = load("shares", 6);
    u128 a0 = mul_div_or0(shares, r0, total), a1 = mul_div_or0(shares, r1, total);
    if (a0 < min0 || a1 < min1)
        NATIVM_ABORT("amm: insufficient output");
    store(k, sizeof k, held - shares);
    store("shares", 6, total - shares);
    store("r0", 2, r0 - a0);
    store("r1", 2, r1 - a1);
    event("Burn", me, -1, a0, a1, 1, shares);
    put128(out, a0);
    put128(out + 16, a1);
    nativm_set_return(out, sizeof out);
}

NATIVM_METHOD(reserves)
{
    uint8_t out[48];
    (void)input;
    (void)input_len;
    put128(out, load("r0", 2));
    put128(out + 16, load("r1", 2));
    put128(out + 32, load("shares", 6));
    nativm_set_return(out, sizeof out);
}

NATIVM_METHOD(shares_of)
{
    char k[35];
    exact(input_len, 32);
    lp_key(k, input);
    return_u128(load(k, sizeof k));
}
