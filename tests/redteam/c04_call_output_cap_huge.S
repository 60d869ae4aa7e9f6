/*
 * attack:   a call whose output capacity is 2^63, for the host to allocate
 *           or copy that much.
 * targets:  the output capacity is bounded by MAX_RETURN_LEN: a trap naming
 *           the limit, nothing allocated.
 * expected: trap host_call
 * message:  output capacity
 */
#include "redteam.h"

METHOD attack
    sub rsp, 136
    lea rax, [rsp + 96]
    mov qword ptr [rsp], rax
    mov byte ptr [rsp + 128], 0x67
    lea rax, [rsp + 128]
    mov qword ptr [rsp + 8], rax
    mov qword ptr [rsp + 16], 1
    mov qword ptr [rsp + 24], rax
    mov qword ptr [rsp + 32], 0
    mov qword ptr [rsp + 40], 1000
    mov qword ptr [rsp + 48], rax
    mov rcx, 0x8000000000000000
    mov qword ptr [rsp + 56], rcx
    mov edi, HC_CALL
    lea rsi, [rsp]
    call HOSTCALL
    add rsp, 136
    ret
