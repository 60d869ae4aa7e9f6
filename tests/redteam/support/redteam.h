/* Shared definitions of the red-team contracts (tests/redteam/*.S).
 * Numbers are those of nativm-abi (ABI 3): host calls take rdi = nr and
 * rsi, rdx, rcx, r8 = a0..a3, entered only by `call HOSTCALL`. */
#ifndef REDTEAM_H
#define REDTEAM_H

#define HOSTCALL        0x200000
#define RUNTIME_BASE    0x200000
#define CALL_INFO       0x201000
#define OLD_MAILBOX     0x202000
#define INPUT_BASE      0x60000000
#define RETBUF          0x62000000
#define RETBUF_LEN      0x100000
#define STACK_TOP       0x70000000
#define PREPARED_BASE   0x71000000
#define DOORBELL        0x7ffff000
#define CODE_TABLE      0x10000000000

#define CI_HEAP_BASE    32
#define CI_HEAP_SIZE    40
#define CI_STACK_TOP    48
#define CI_STACK_SIZE   56
#define CI_GAS_LIMIT    96

#define HC_CALLER        1
#define HC_SET_RETURN    2
#define HC_STORAGE_READ  3
#define HC_STORAGE_WRITE 4
#define HC_LOG           6
#define HC_ABORT         7
#define HC_STORAGE_REMOVE 5
#define HC_CALL          8
/* CallInfo: the storage cache's address (nativm_abi::storage_cache). */
#define CI_STORAGE_CACHE 104
#define SC_HEADER        256
#define SC_ENTRY         384
#define SC_KEY           16
#define SC_VALUE         80

#ifdef __ASSEMBLER__
    .intel_syntax noprefix
/* An exported method: global STT_FUNC. */
    .macro METHOD name
    .text
    .globl \name
    .type \name, @function
\name:
    .endm
/* set_return(ptr, len), ptr an address expression usable by lea. */
    .macro SET_RETURN ptr, len
    lea rsi, \ptr
    mov rdx, \len
    mov edi, HC_SET_RETURN
    call HOSTCALL
    .endm
#endif
#endif
