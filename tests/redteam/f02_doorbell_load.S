/*
 * attack:   read the doorbell page (an MMIO exit on a load): probe what
 *           the host answers, or get an exit without a store.
 * targets:  the host's handling of MMIO reads (no memslot).
 * expected: trap forged_exit
 */
#include "redteam.h"

METHOD attack
    mov rax, [DOORBELL]
    mov [rip + out], rax
    sub rsp, 8
    SET_RETURN [rip + out], 8
    add rsp, 8
    ret
    .bss
out: .zero 8
