/*
 * attack:   write "k" through the gate, then read it back into the
 *           read-only CallInfo page, for the gate to write where the host
 *           would refuse to.
 * targets:  the gate checks the buffer against the host's list of writable
 *           ranges and leaves it to the host, which refuses it by name.
 * expected: trap host_call
 * message:  value buffer
 */
#include "redteam.h"

METHOD attack
    sub rsp, 24
    mov byte ptr [rsp], 0x6b
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rsp]
    mov edx, 1
    lea rcx, [rsp]
    mov r8d, 1
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rsp]
    mov edx, 1
    mov ecx, CALL_INFO
    mov r8d, 8
    call HOSTCALL
    add rsp, 24
    ret
