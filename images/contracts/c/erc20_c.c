/* Real contract in C: an ERC-20 token (EIP-20's methods and events) with
 * 128-bit amounts. Same methods, storage layout, events and abort messages
 * as the Rust contract `erc20` (images/contracts/erc20/src/main.rs; its
 * docs are the specification), so the same calls give the same outcomes.
 *
 * Storage: "owner", "supply", "bal:" ++ account, "alw:" ++ owner ++
 * spender; amounts unsigned 128-bit little-endian (16 bytes).
 * Methods: init(supply), total_supply(), balance_of(who),
 * allowance(owner ++ spender), transfer(to ++ amount),
 * approve(spender ++ amount), transfer_from(from ++ to ++ amount).
 */
#include "nativm.h"

typedef unsigned __int128 u128;

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

/* The u128 stored under key (0 if absent). */
static u128 load(const uint8_t *key, uint64_t key_len)
{
    uint8_t buf[16];
    uint64_t n = nativm_storage_read(key, key_len, buf, sizeof buf);
    if (n == NATIVM_HOSTCALL_NOT_FOUND)
        return 0;
    if (n != 16)
        NATIVM_ABORT("erc20: stored amount is not 16 bytes");
    return get128(buf);
}

static void store(const uint8_t *key, uint64_t key_len, u128 v)
{
    uint8_t buf[16];
    put128(buf, v);
    nativm_storage_write(key, key_len, buf, sizeof buf);
}

static void bal_key(uint8_t k[36], const uint8_t *who)
{
    memcpy(k, "bal:", 4);
    memcpy(k + 4, who, 32);
}

static void alw_key(uint8_t k[68], const uint8_t *owner, const uint8_t *spender)
{
    memcpy(k, "alw:", 4);
    memcpy(k + 4, owner, 32);
    memcpy(k + 36, spender, 32);
}

static void exact(uint64_t len, uint64_t n)
{
    if (len != n)
        NATIVM_ABORT("erc20: bad input length");
}

static void event(const char name[8], const uint8_t *a, const uint8_t *b, u128 amount)
{
    uint8_t ev[8 + 32 + 32 + 16];
    memcpy(ev, name, 8);
    memcpy(ev + 8, a, 32);
    memcpy(ev + 40, b, 32);
    put128(ev + 72, amount);
    nativm_log(ev, sizeof ev);
}

static void move_tokens(const uint8_t *from, const uint8_t *to, u128 amount)
{
    uint8_t k[36];
    bal_key(k, from);
    u128 have = load(k, sizeof k);
    if (have < amount)
        NATIVM_ABORT("erc20: insufficient balance");
    store(k, sizeof k, have - amount);
    bal_key(k, to);
    store(k, sizeof k, load(k, sizeof k) + amount);
    event("Transfer", from, to, amount);
}

static void return_u128(u128 v)
{
    uint8_t out[16];
    put128(out, v);
    nativm_set_return(out, sizeof out);
}

static void return_one(void)
{
    static const uint8_t one = 1;
    nativm_set_return(&one, 1);
}

NATIVM_METHOD(init)
{
    exact(input_len, 16);
    u128 supply = get128(input);
    uint8_t me[32], k[36];
    static const uint8_t zero[32];
    nativm_caller(me);
    if (nativm_storage_read("owner", 5, me, 0) != NATIVM_HOSTCALL_NOT_FOUND)
        NATIVM_ABORT("erc20: already initialized");
    nativm_storage_write("owner", 5, me, 32);
    store((const uint8_t *)"supply", 6, supply);
    bal_key(k, me);
    store(k, sizeof k, supply);
    event("Transfer", zero, me, supply);
}

NATIVM_METHOD(total_supply)
{
    (void)input;
    (void)input_len;
    return_u128(load((const uint8_t *)"supply", 6));
}

NATIVM_METHOD(balance_of)
{
    uint8_t k[36];
    exact(input_len, 32);
    bal_key(k, input);
    return_u128(load(k, sizeof k));
}

NATIVM_METHOD(allowance)
{
    uint8_t k[68];
    exact(input_len, 64);
    alw_key(k, input, input + 32);
    return_u128(load(k, sizeof k));
}

NATIVM_METHOD(transfer)
{
    uint8_t me[32];
    exact(input_len, 48);
    nativm_caller(me);
    move_tokens(me, input, get128(input + 32));
    return_one();
}

NATIVM_METHOD(approve)
{
    uint8_t me[32], k[68];
    exact(input_len, 48);
    nativm_caller(me);
    u128 value = get128(input + 32);
    alw_key(k, me, input);
    store(k, sizeof k, value);
    event("Approval", me, input, value);
    return_one();
}

NATIVM_METHOD(transfer_from)
{
    uint8_t me[32], k[68];
    exact(input_len, 80);
    nativm_caller(me);
    u128 value = get128(input + 64);
    alw_key(k, input, me);
    u128 allowed = load(k, sizeof k);
    if (allowed < value)
        NATIVM_ABORT("erc20: insufficient allowance");
    store(k, sizeof k, allowed - value);
    move_tokens(input, input + 32, value);
    return_one();
}
