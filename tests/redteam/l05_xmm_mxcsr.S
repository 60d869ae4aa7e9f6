/*
 * attack:   return the OR of xmm0-xmm15 and MXCSR as found at entry, then
 *           leave every xmm register holding 0x77.. (and the flags with
 *           DF and AC set) for the next call to find.
 * targets:  the per-call reset of SSE state and RFLAGS.
 * expected: ok 00000000000000000000000000000000801f0000
 */
#include "redteam.h"

METHOD attack
    sub rsp, 40
    por xmm0, xmm1
    por xmm0, xmm2
    por xmm0, xmm3
    por xmm0, xmm4
    por xmm0, xmm5
    por xmm0, xmm6
    por xmm0, xmm7
    por xmm0, xmm8
    por xmm0, xmm9
    por xmm0, xmm10
    por xmm0, xmm11
    por xmm0, xmm12
    por xmm0, xmm13
    por xmm0, xmm14
    por xmm0, xmm15
    movdqu [rsp], xmm0
    stmxcsr [rsp + 16]
    SET_RETURN [rsp], 20
    mov eax, 0x77
    movq xmm0, rax
    pshufd xmm0, xmm0, 0
    movdqa xmm1, xmm0
    movdqa xmm2, xmm0
    movdqa xmm3, xmm0
    movdqa xmm4, xmm0
    movdqa xmm5, xmm0
    movdqa xmm6, xmm0
    movdqa xmm7, xmm0
    movdqa xmm8, xmm0
    movdqa xmm9, xmm0
    movdqa xmm10, xmm0
    movdqa xmm11, xmm0
    movdqa xmm12, xmm0
    movdqa xmm13, xmm0
    movdqa xmm14, xmm0
    movdqa xmm15, xmm0
    /* divide by zero in SSE sets a sticky exception flag in MXCSR */
    xorps xmm1, xmm1
    divss xmm0, xmm1
    pushfq
    or qword ptr [rsp], 0x40000
    popfq
    add rsp, 40
    ret
