/*
 * attack:   set_return(0x10000, 64): make the gate (trusted code in the
 *           runtime page) copy the shim's GDT/IDT page into the return
 *           buffer for us.
 * targets:  the gate copies with ring-3 rights; a bad source is a
 *           set_return fault.
 * expected: trap host_call
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_SET_RETURN
    mov esi, 0x10000
    mov edx, 64
    call HOSTCALL
    add rsp, 8
    ret
