/*
 * attack:   read the first and last 16 bytes of the return buffer (what an
 *           earlier call left there), scribble the whole 1 MiB buffer,
 *           then return the 32 bytes read.
 * targets:  reset of the return buffer (contract-writable in ABI 3).
 * expected: ok 0000000000000000000000000000000000000000000000000000000000000000
 */
#include "redteam.h"

METHOD attack
    sub rsp, 40
    mov eax, RETBUF
    movdqu xmm0, [rax]
    movdqu xmm1, [rax + RETBUF_LEN - 16]
    movdqu [rsp], xmm0
    movdqu [rsp + 16], xmm1
    mov edi, RETBUF
    mov ecx, RETBUF_LEN / 8
    mov rax, 0x5252525252525252
    cld
    rep stosq
    SET_RETURN [rsp], 32
    add rsp, 40
    ret
