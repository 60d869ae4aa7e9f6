/*
 * attack:   return the 32 bytes of a .data buffer as found, then have the
 *           HOST write into .data: caller(out = buf) (the harness calls
 *           with caller id 5a..5a) and storage_read of a 32-byte value
 *           into buf2. Pages written by the host must be restored too.
 * targets:  reset of host-written pages (not only guest-dirtied ones).
 * expected: ok 444154412d444154412d444154412d444154412d444154412d444154412d3132
 */
#include "redteam.h"

    .data
    .balign 4096
buf:  .ascii "DATA-DATA-DATA-DATA-DATA-DATA-12"
    .balign 4096
buf2: .ascii "DATA-DATA-DATA-DATA-DATA-DATA-12"
    .section .rodata
key: .ascii "k"
val: .fill 32, 1, 0xee

METHOD attack
    sub rsp, 40
    /* what this call sees */
    movdqu xmm0, [rip + buf]
    movdqu xmm1, [rip + buf2]
    pxor xmm0, xmm1
    movdqu xmm2, [rip + buf]
    movdqu xmm3, [rip + buf + 16]
    movdqu xmm4, [rip + buf2 + 16]
    pxor xmm4, xmm3
    por xmm4, xmm0
    /* buf must equal buf2; if not, return buf ^ buf2 mixed in */
    pxor xmm2, xmm4
    pxor xmm3, xmm4
    movdqu [rsp], xmm2
    movdqu [rsp + 16], xmm3
    SET_RETURN [rsp], 32
    mov edi, HC_CALLER
    lea rsi, [rip + buf]
    call HOSTCALL
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + val]
    mov r8d, 32
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + buf2]
    mov r8d, 32
    call HOSTCALL
    add rsp, 40
    ret
