/*
 * attack:   storage_read whose value buffer is the stack slot of the
 *           gate's own return address (rsp - 8 at the call): the host
 *           overwrites it with 0x4141414141414141 while the gate waits at
 *           its doorbell, so the gate "returns" wherever the value says.
 * targets:  the gate's checked ret.
 * expected: trap invalid_return
 * message: to 0x4141414141414141,
 */
#include "redteam.h"

    .section .rodata
key: .ascii "k"
val: .quad 0x4141414141414141

METHOD attack
    sub rsp, 8
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + val]
    mov r8d, 8
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rsp - 8]
    mov r8d, 8
    call HOSTCALL
    add rsp, 8
    ret
