/*
 * attack:   read a stack slot 16 KiB below the frame (and return it),
 *           then have the host write storage data there with
 *           storage_read. The next call must find zeros again.
 * targets:  reset of stack pages written only by the host.
 * expected: ok 0000000000000000000000000000000000000000000000000000000000000000
 */
#include "redteam.h"

    .section .rodata
key: .ascii "k"
val: .fill 32, 1, 0x99

METHOD attack
    sub rsp, 40
    movdqu xmm0, [rsp - 0x4000]
    movdqu xmm1, [rsp - 0x4000 + 16]
    movdqu [rsp], xmm0
    movdqu [rsp + 16], xmm1
    SET_RETURN [rsp], 32
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + val]
    mov r8d, 32
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rsp - 0x4000]
    mov r8d, 32
    call HOSTCALL
    add rsp, 40
    ret
