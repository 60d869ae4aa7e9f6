/*
 * attack:   a call whose method name is not UTF-8 (0xff 0xfe), for the host
 *           to look it up or print it unchecked.
 * targets:  method names are checked: a trap saying so.
 * expected: trap host_call
 * message:  not UTF-8
 */
#include "redteam.h"

METHOD attack
    sub rsp, 136
    lea rax, [rsp + 96]
    mov qword ptr [rsp], rax
    mov word ptr [rsp + 128], 0xfeff
    lea rax, [rsp + 128]
    mov qword ptr [rsp + 8], rax
    mov qword ptr [rsp + 16], 2
    mov qword ptr [rsp + 24], rax
    mov qword ptr [rsp + 32], 0
    mov qword ptr [rsp + 40], 1000
    mov qword ptr [rsp + 48], rax
    mov qword ptr [rsp + 56], 0
    mov edi, HC_CALL
    lea rsi, [rsp]
    call HOSTCALL
    add rsp, 136
    ret
