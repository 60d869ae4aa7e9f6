/*
 * nativm.h - the nativm contract ABI (version 1) for C contracts.
 *
 * This header mirrors abi/src/lib.rs (crate nativm-abi), which is the single
 * definition of the ABI. Every NATIVM_<NAME> macro below has the value of the
 * Rust constant of the same name (module prefixes: hostcall:: -> HOSTCALL_,
 * call_info:: -> CALL_INFO_; limits:: has none), and
 * the test images/tests/header.rs checks them against the crate. Keep every
 * numeric #define a plain literal so that test can read it.
 *
 * A contract is a static, non-PIE x86-64 ELF executable. A method is an
 * exported (global, default-visibility) function
 *
 *     void method(const uint8_t *input, uint64_t input_len);
 *
 * (write it with NATIVM_METHOD(name)). Build with gcc:
 *
 *     gcc -O2 -ffreestanding -fno-builtin -nostdlib -static -no-pie -fno-pic
 *         -mno-red-zone -fno-stack-protector -fno-asynchronous-unwind-tables
 *         -fcf-protection=none -Wl,--build-id=none -Wl,-e,0 -I images/sdk-c
 *         counter.c -o counter.elf
 *     objcopy --localize-hidden counter.elf
 *
 * Keep helper functions `static`: every global function is a method.
 */
#ifndef NATIVM_H
#define NATIVM_H

#include <stdint.h>
#include <stddef.h>

/* ---- version and memory map ------------------------------------------ */
#define NATIVM_ABI_VERSION 3
#define NATIVM_PAGE_SIZE 0x1000ULL

#define NATIVM_SHIM_SYSTEM_BASE 0x10000ULL
#define NATIVM_PAGE_TABLE_BASE 0x20000ULL
#define NATIVM_PAGE_TABLE_END 0x100000ULL
#define NATIVM_SHIM_BASE 0x100000ULL
#define NATIVM_SHIM_END 0x200000ULL

#define NATIVM_RUNTIME_BASE 0x200000ULL
#define NATIVM_HOSTCALL_ENTRY 0x200000ULL
#define NATIVM_CALL_INFO 0x201000ULL

#define NATIVM_CONTRACT_WINDOW_START 0x400000ULL
#define NATIVM_CONTRACT_WINDOW_END 0x40000000ULL

#define NATIVM_HEAP_BASE 0x40000000ULL
#define NATIVM_MAX_HEAP_SIZE 0x20000000ULL

#define NATIVM_INPUT_BASE 0x60000000ULL
#define NATIVM_MAX_INPUT_LEN 0x1000000ULL

#define NATIVM_STACK_TOP 0x70000000ULL
#define NATIVM_MAX_STACK_SIZE 0x4000000ULL

#define NATIVM_DOORBELL_GPA 0x100000000ULL
#define NATIVM_DOORBELL_VA 0x7ffff000ULL

/* Prepared code and the run-time branch checks (see nativm-abi). */
#define NATIVM_PREPARED_CODE_BASE 0x71000000ULL
#define NATIVM_PREPARED_CODE_END 0x7f000000ULL
#define NATIVM_CODE_TABLE_BASE 0x10000000000ULL
#define NATIVM_CODE_TABLE_LIMIT 0x7f000000ULL
#define NATIVM_CODE_TABLE_WINDOW 0x3f8000000ULL
#define NATIVM_INVALID_TARGET_BASE 0x30000000000ULL
#define NATIVM_SET_RETURN_GAS_BASE 100
#define NATIVM_SET_RETURN_GAS_PER_BYTE 1
#define NATIVM_MAX_GAS_LIMIT 0x4000000000000000ULL

#define NATIVM_RETURN_BUFFER 0x62000000ULL

/* ---- CallInfo (the read-only page at NATIVM_CALL_INFO) ---------------- */
#define NATIVM_CALL_INFO_ABI_VERSION 0
#define NATIVM_CALL_INFO_ENTRY 8
#define NATIVM_CALL_INFO_INPUT_PTR 16
#define NATIVM_CALL_INFO_INPUT_LEN 24
#define NATIVM_CALL_INFO_HEAP_BASE 32
#define NATIVM_CALL_INFO_HEAP_SIZE 40
#define NATIVM_CALL_INFO_STACK_TOP 48
#define NATIVM_CALL_INFO_STACK_SIZE 56
#define NATIVM_CALL_INFO_CALLER 64
#define NATIVM_CALL_INFO_GAS_LIMIT 96
#define NATIVM_CALL_INFO_SIZE 104

typedef struct nativm_call_info {
    uint64_t abi_version; /* NATIVM_ABI_VERSION of the host */
    uint64_t entry;       /* address of the method being called */
    uint64_t input_ptr;   /* NATIVM_INPUT_BASE */
    uint64_t input_len;   /* input length in bytes */
    uint64_t heap_base;   /* NATIVM_HEAP_BASE */
    uint64_t heap_size;   /* heap size in bytes (multiple of a page, may be 0) */
    uint64_t stack_top;   /* NATIVM_STACK_TOP */
    uint64_t stack_size;  /* stack size in bytes */
    uint8_t caller[32];   /* identity of the caller */
    uint64_t gas_limit;   /* gas limit of the call */
} nativm_call_info;

_Static_assert(offsetof(nativm_call_info, entry) == NATIVM_CALL_INFO_ENTRY, "CallInfo.entry");
_Static_assert(offsetof(nativm_call_info, input_ptr) == NATIVM_CALL_INFO_INPUT_PTR, "CallInfo.input_ptr");
_Static_assert(offsetof(nativm_call_info, input_len) == NATIVM_CALL_INFO_INPUT_LEN, "CallInfo.input_len");
_Static_assert(offsetof(nativm_call_info, stack_top) == NATIVM_CALL_INFO_STACK_TOP, "CallInfo.stack_top");
_Static_assert(offsetof(nativm_call_info, abi_version) == NATIVM_CALL_INFO_ABI_VERSION, "CallInfo.abi_version");
_Static_assert(offsetof(nativm_call_info, heap_base) == NATIVM_CALL_INFO_HEAP_BASE, "CallInfo.heap_base");
_Static_assert(offsetof(nativm_call_info, heap_size) == NATIVM_CALL_INFO_HEAP_SIZE, "CallInfo.heap_size");
_Static_assert(offsetof(nativm_call_info, stack_size) == NATIVM_CALL_INFO_STACK_SIZE, "CallInfo.stack_size");
_Static_assert(offsetof(nativm_call_info, caller) == NATIVM_CALL_INFO_CALLER, "CallInfo.caller");
_Static_assert(sizeof(nativm_call_info) == NATIVM_CALL_INFO_SIZE, "sizeof CallInfo");
_Static_assert(offsetof(nativm_call_info, gas_limit) == NATIVM_CALL_INFO_GAS_LIMIT, "CallInfo.gas_limit");
_Static_assert(sizeof(nativm_call_info) == 104, "CallInfo size");

/* ---- host-call numbers ------------------------------------------------ */
#define NATIVM_HOSTCALL_RETURN 0 /* reserved: refused as unknown (a trap) */
#define NATIVM_HOSTCALL_CALLER 1
#define NATIVM_HOSTCALL_SET_RETURN 2
#define NATIVM_HOSTCALL_STORAGE_READ 3
#define NATIVM_HOSTCALL_STORAGE_WRITE 4
#define NATIVM_HOSTCALL_STORAGE_REMOVE 5
#define NATIVM_HOSTCALL_LOG 6
#define NATIVM_HOSTCALL_ABORT 7
#define NATIVM_HOSTCALL_CALL 8
/* Result of STORAGE_READ for an absent key. */
#define NATIVM_HOSTCALL_NOT_FOUND 0xFFFFFFFFFFFFFFFFULL

/* ---- limits (bytes unless stated) ------------------------------------- */
#define NATIVM_MAX_KEY_LEN 1024ULL
#define NATIVM_MAX_VALUE_LEN 0x100000ULL
#define NATIVM_MAX_RETURN_LEN 0x100000ULL
#define NATIVM_MAX_LOG_LEN 0x10000ULL
#define NATIVM_MAX_LOGS 1024ULL /* a count */
#define NATIVM_MAX_ABORT_MESSAGE_LEN 4096ULL

/* ---- contract-to-contract calls (NATIVM_HOSTCALL_CALL) ---------------- */
typedef struct nativm_call {
    uint64_t address_ptr; /* the callee's 32-byte address */
    uint64_t method_ptr;  /* method name, not NUL-terminated */
    uint64_t method_len;  /* <= NATIVM_CONTRACT_CALL_MAX_METHOD_LEN */
    uint64_t input_ptr;
    uint64_t input_len;   /* <= NATIVM_MAX_INPUT_LEN */
    uint64_t gas;         /* gas limit given to the callee */
    uint64_t output_ptr;  /* buffer for the callee's return data */
    uint64_t output_cap;
    uint64_t output_len;  /* written by the host: full return-data length */
    uint64_t gas_used;    /* written by the host: gas the callee used */
} nativm_call;

#define NATIVM_CONTRACT_CALL_ADDRESS_PTR 0
#define NATIVM_CONTRACT_CALL_METHOD_PTR 8
#define NATIVM_CONTRACT_CALL_METHOD_LEN 16
#define NATIVM_CONTRACT_CALL_INPUT_PTR 24
#define NATIVM_CONTRACT_CALL_INPUT_LEN 32
#define NATIVM_CONTRACT_CALL_GAS 40
#define NATIVM_CONTRACT_CALL_OUTPUT_PTR 48
#define NATIVM_CONTRACT_CALL_OUTPUT_CAP 56
#define NATIVM_CONTRACT_CALL_OUTPUT_LEN 64
#define NATIVM_CONTRACT_CALL_GAS_USED 72
#define NATIVM_CONTRACT_CALL_SIZE 80
#define NATIVM_CONTRACT_CALL_MAX_METHOD_LEN 256ULL
#define NATIVM_CONTRACT_CALL_MAX_CALL_DEPTH 64ULL /* a count of frames */
/* Statuses of nativm_contract_call. */
#define NATIVM_CONTRACT_CALL_OK 0
#define NATIVM_CONTRACT_CALL_REVERTED 1
#define NATIVM_CONTRACT_CALL_TRAPPED 2
#define NATIVM_CONTRACT_CALL_OUT_OF_GAS 3
#define NATIVM_CONTRACT_CALL_DEPTH_EXCEEDED 4
#define NATIVM_CONTRACT_CALL_NO_ACCOUNT 5
#define NATIVM_CONTRACT_CALL_UNKNOWN_METHOD 6

_Static_assert(offsetof(nativm_call, address_ptr) == NATIVM_CONTRACT_CALL_ADDRESS_PTR, "call.address_ptr");
_Static_assert(offsetof(nativm_call, method_len) == NATIVM_CONTRACT_CALL_METHOD_LEN, "call.method_len");
_Static_assert(offsetof(nativm_call, gas) == NATIVM_CONTRACT_CALL_GAS, "call.gas");
_Static_assert(offsetof(nativm_call, output_len) == NATIVM_CONTRACT_CALL_OUTPUT_LEN, "call.output_len");
_Static_assert(offsetof(nativm_call, gas_used) == NATIVM_CONTRACT_CALL_GAS_USED, "call.gas_used");
_Static_assert(sizeof(nativm_call) == NATIVM_CONTRACT_CALL_SIZE, "sizeof nativm_call");

/* ---- methods ---------------------------------------------------------- */

/* Declares an exported method: NATIVM_METHOD(fib) { ... } with parameters
 * `input` and `input_len`. */
#define NATIVM_METHOD(name)                                                   \
    __attribute__((visibility("default"), used)) void name(                   \
        const uint8_t *input, uint64_t input_len)

/* ---- host calls ------------------------------------------------------- */

typedef uint64_t (*nativm_hostcall_fn)(uint64_t nr, uint64_t a0, uint64_t a1,
                                       uint64_t a2, uint64_t a3);

/* A plain System V call to the runtime's entry at NATIVM_HOSTCALL_ENTRY. */
static inline uint64_t nativm_hostcall(uint64_t nr, uint64_t a0, uint64_t a1,
                                       uint64_t a2, uint64_t a3)
{
    return ((nativm_hostcall_fn)(uintptr_t)NATIVM_HOSTCALL_ENTRY)(nr, a0, a1, a2, a3);
}

/* Empty buffers are passed as addresses that are always accessible (the
 * CallInfo page for reads, the return buffer for writes), never as NULL. */
static inline uint64_t nativm__rd(const void *p, uint64_t len)
{
    return len ? (uint64_t)(uintptr_t)p : NATIVM_CALL_INFO;
}
static inline uint64_t nativm__wr(void *p, uint64_t len)
{
    return len ? (uint64_t)(uintptr_t)p : NATIVM_RETURN_BUFFER;
}

/* The CallInfo page of the current call. */
static inline const volatile nativm_call_info *nativm_call_info_page(void)
{
    return (const volatile nativm_call_info *)(uintptr_t)NATIVM_CALL_INFO;
}

/* The call input (also the method's `input`, `input_len` arguments). */
static inline const uint8_t *nativm_input(uint64_t *len)
{
    const volatile nativm_call_info *ci = nativm_call_info_page();
    *len = ci->input_len;
    return (const uint8_t *)(uintptr_t)ci->input_ptr;
}

/* Writes the caller's 32-byte identity to out. */
static inline void nativm_caller(uint8_t out[32])
{
    nativm_hostcall(NATIVM_HOSTCALL_CALLER, (uint64_t)(uintptr_t)out, 0, 0, 0);
}

/* Sets the call's return data (replacing any earlier value). */
static inline void nativm_set_return(const void *data, uint64_t len)
{
    nativm_hostcall(NATIVM_HOSTCALL_SET_RETURN, nativm__rd(data, len), len, 0, 0);
}

/* Reads the value under key into val (at most cap bytes). Returns
 * NATIVM_HOSTCALL_NOT_FOUND if absent, else the value's full length. */
static inline uint64_t nativm_storage_read(const void *key, uint64_t key_len,
                                           void *val, uint64_t cap)
{
    return nativm_hostcall(NATIVM_HOSTCALL_STORAGE_READ, nativm__rd(key, key_len),
                           key_len, nativm__wr(val, cap), cap);
}

/* Stores val under key. */
static inline void nativm_storage_write(const void *key, uint64_t key_len,
                                        const void *val, uint64_t val_len)
{
    nativm_hostcall(NATIVM_HOSTCALL_STORAGE_WRITE, nativm__rd(key, key_len), key_len,
                    nativm__rd(val, val_len), val_len);
}

/* Removes key; returns 1 if it was present, else 0. */
static inline int nativm_storage_remove(const void *key, uint64_t key_len)
{
    return nativm_hostcall(NATIVM_HOSTCALL_STORAGE_REMOVE, nativm__rd(key, key_len),
                           key_len, 0, 0) != 0;
}

/* Appends a log entry to the receipt. */
static inline void nativm_log(const void *data, uint64_t len)
{
    nativm_hostcall(NATIVM_HOSTCALL_LOG, nativm__rd(data, len), len, 0, 0);
}

/* Ends the call with status `reverted` and msg; never returns. */
__attribute__((noreturn)) static inline void nativm_abort(const char *msg, uint64_t len)
{
    if (len > NATIVM_MAX_ABORT_MESSAGE_LEN)
        len = NATIVM_MAX_ABORT_MESSAGE_LEN;
    nativm_hostcall(NATIVM_HOSTCALL_ABORT, nativm__rd(msg, len), len, 0, 0);
    __builtin_trap();
}

/* Calls `method` of the contract at `address` with `input`, giving it at
 * most `gas`; copies its return data (at most out_cap bytes) to out.
 * Returns a NATIVM_CONTRACT_CALL_* status; *out_len (if not NULL) gets the
 * full return-data length and *gas_used (if not NULL) the gas it used. The
 * callee's storage writes join this call's only if it returns OK. */
static inline uint64_t nativm_contract_call(const uint8_t address[32], const char *method,
                                            uint64_t method_len, const void *input,
                                            uint64_t input_len, uint64_t gas, void *out,
                                            uint64_t out_cap, uint64_t *out_len,
                                            uint64_t *gas_used)
{
    nativm_call desc = {
        (uint64_t)(uintptr_t)address, nativm__rd(method, method_len), method_len,
        nativm__rd(input, input_len), input_len, gas, nativm__wr(out, out_cap), out_cap, 0, 0,
    };
    uint64_t status = nativm_hostcall(NATIVM_HOSTCALL_CALL, (uint64_t)(uintptr_t)&desc, 0, 0, 0);
    if (out_len)
        *out_len = desc.output_len;
    if (gas_used)
        *gas_used = desc.gas_used;
    return status;
}

/* nativm_abort with a string literal. */
#define NATIVM_ABORT(lit) nativm_abort((lit), sizeof(lit) - 1)

/* Little-endian u64 helpers. */
static inline uint64_t nativm_load_u64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline void nativm_store_u64_le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Reads a u64 stored little-endian under key into *out; returns 0 if the
 * key is absent, 1 if found. Aborts if the value is not 8 bytes long. */
static inline int nativm_storage_read_u64(const void *key, uint64_t key_len, uint64_t *out)
{
    uint8_t buf[8];
    uint64_t n = nativm_storage_read(key, key_len, buf, sizeof buf);
    if (n == NATIVM_HOSTCALL_NOT_FOUND)
        return 0;
    if (n != 8)
        NATIVM_ABORT("storage value is not an 8-byte u64");
    *out = nativm_load_u64_le(buf);
    return 1;
}

/* Stores a u64 little-endian under key. */
static inline void nativm_storage_write_u64(const void *key, uint64_t key_len, uint64_t v)
{
    uint8_t buf[8];
    nativm_store_u64_le(buf, v);
    nativm_storage_write(key, key_len, buf, sizeof buf);
}

/* ---- memcpy & co -------------------------------------------------------
 * gcc may emit calls to these even with -ffreestanding -fno-builtin (struct
 * copies, large initialisers). They are weak (one copy survives however many
 * files include this header) and hidden (objcopy --localize-hidden makes them
 * local, so they are not methods). Define NATIVM_NO_MEMFUNCS to omit them. */
#ifndef NATIVM_NO_MEMFUNCS
#define NATIVM__MEMFN                                                         \
    __attribute__((weak, visibility("hidden"),                                \
                   optimize("no-tree-loop-distribute-patterns")))
NATIVM__MEMFN void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}
NATIVM__MEMFN void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if ((uintptr_t)d - (uintptr_t)s >= n) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}
NATIVM__MEMFN void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}
NATIVM__MEMFN int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return (int)*x - (int)*y;
    return 0;
}
#undef NATIVM__MEMFN
#endif /* NATIVM_NO_MEMFUNCS */

#endif /* NATIVM_H */
