/*
 * attack:   ring the doorbell with a 16-byte SSE store (movdqu), an access
 *           size and instruction the host's MMIO path may not expect.
 * targets:  the host's doorbell-RIP check for any store width.
 * expected: trap forged_exit
 */
#include "redteam.h"

METHOD attack
    pxor xmm0, xmm0
    mov eax, DOORBELL
    movdqu [rax], xmm0
    ret
