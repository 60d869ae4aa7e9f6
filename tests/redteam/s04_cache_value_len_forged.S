/*
 * attack:   write "k" = "v" through the gate (into the cache), then raise
 *           the entry's value length to 2^32 - 1 and read "k" back, for the
 *           gate to copy 4 GiB out of the cache.
 * targets:  the gate leaves an entry with an over-long value to the host,
 *           which finds the cache damaged: a trap, no copy.
 * expected: trap host_call
 * message:  storage cache entry 0
 */
#include "redteam.h"

METHOD attack
    sub rsp, 24
    mov byte ptr [rsp], 0x6b
    mov byte ptr [rsp + 1], 0x76
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rsp]
    mov edx, 1
    lea rcx, [rsp + 1]
    mov r8d, 1
    call HOSTCALL
    mov rax, [CALL_INFO + CI_STORAGE_CACHE]
    mov dword ptr [rax + SC_HEADER + 8], 0xffffffff
    mov edi, HC_STORAGE_READ
    lea rsi, [rsp]
    mov edx, 1
    lea rcx, [rsp + 8]
    mov r8d, 8
    call HOSTCALL
    add rsp, 24
    ret
