/*
 * attack:   a well-formed call to an address with no account, with all the
 *           gas (u64::MAX) and the result words pre-filled with garbage.
 * targets:  nothing runs; the status is NO_ACCOUNT (5), the host writes a
 *           return length and gas used of 0 over the garbage, and the gas
 *           given is capped at the caller's. Returned: the last byte of
 *           the output capacity, the two result words, 7 zero bytes, the
 *           status byte.
 * expected: ok 00000000000000000000000000000000000000000000000005
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
    mov qword ptr [rsp + 40], -1
    mov qword ptr [rsp + 48], rax
    mov qword ptr [rsp + 56], 0
    mov qword ptr [rsp + 64], -1
    mov qword ptr [rsp + 72], -1
    mov edi, HC_CALL
    lea rsi, [rsp]
    call HOSTCALL
    mov byte ptr [rsp + 87], al
    SET_RETURN [rsp + 63], 25
    add rsp, 136
    ret
