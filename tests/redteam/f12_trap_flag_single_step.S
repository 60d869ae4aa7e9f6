/*
 * attack:   set the trap flag (TF) with popfq and then call the gate: the
 *           single-step #DB lands inside the runtime page, between the
 *           doorbell store and the host's resume, or in ring 0's view of
 *           the gate; a host that resumed the guest after it would run the
 *           gate with contract-chosen flags.
 * targets:  RFLAGS control from ring 3; the shim's #DB handling.
 * expected: trap debug
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    pushfq
    or qword ptr [rsp], 0x100
    popfq
    mov edi, HC_CALLER
    lea rsi, [rip + out]
    call HOSTCALL
    add rsp, 8
    ret
    .bss
out: .zero 32
