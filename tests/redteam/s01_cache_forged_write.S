/*
 * attack:   write a storage entry straight into the storage cache (flags
 *           PRESENT|VALUE|DIRTY, key "k", value "v"), skipping the gate and
 *           its charge, then return the key's value as the gate reads it.
 * targets:  the host takes the cache's written entries as the call's writes
 *           and charges each at the return, so a forged entry is an ordinary
 *           (paid) write, never a free one; nothing outside the cache moves.
 * expected: ok 76
 */
#include "redteam.h"

METHOD attack
    sub rsp, 24
    mov rax, [CALL_INFO + CI_STORAGE_CACHE]
    test rax, rax
    jz 9f
    mov qword ptr [rax], 1
    mov dword ptr [rax + SC_HEADER], 7
    mov dword ptr [rax + SC_HEADER + 4], 1
    mov dword ptr [rax + SC_HEADER + 8], 1
    mov byte ptr [rax + SC_HEADER + SC_KEY], 0x6b
    mov byte ptr [rax + SC_HEADER + SC_VALUE], 0x76
    mov byte ptr [rsp], 0x6b
    mov edi, HC_STORAGE_READ
    lea rsi, [rsp]
    mov edx, 1
    lea rcx, [rsp + 8]
    mov r8d, 8
    call HOSTCALL
    SET_RETURN [rsp + 8], 1
9:  add rsp, 24
    ret
