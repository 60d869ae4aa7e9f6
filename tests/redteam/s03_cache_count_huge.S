/*
 * attack:   set the cache's entry count to 2^63 and read a key, for the
 *           gate (and the host) to scan entries far past the cache.
 * targets:  the count is clamped to the cache's 64 entries on both sides;
 *           the read falls back to the host, which finds the key absent.
 * expected: ok ffffffffffffffff
 */
#include "redteam.h"

METHOD attack
    sub rsp, 24
    mov rax, [CALL_INFO + CI_STORAGE_CACHE]
    mov rcx, 0x8000000000000000
    mov [rax], rcx
    mov byte ptr [rsp], 0x6b
    mov edi, HC_STORAGE_READ
    lea rsi, [rsp]
    mov edx, 1
    lea rcx, [rsp + 8]
    mov r8d, 8
    call HOSTCALL
    mov [rsp + 8], rax
    SET_RETURN [rsp + 8], 8
    add rsp, 24
    ret
