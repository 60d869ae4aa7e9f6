/*
 * attack:   (honest) have the host write the caller id straight into the
 *           return buffer (contract memory in ABI 3) and return it from
 *           there: set_return(RETBUF, 32).
 * targets:  the return buffer is a valid host-call output; the reset
 *           restores it afterwards.
 * expected: ok 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_CALLER
    mov esi, RETBUF
    call HOSTCALL
    SET_RETURN [RETBUF], 32
    add rsp, 8
    ret
