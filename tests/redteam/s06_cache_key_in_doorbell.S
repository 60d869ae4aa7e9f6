/*
 * attack:   storage_write with its key in the doorbell page, for the gate's
 *           copy of the key to touch the doorbell (a forged exit).
 * targets:  the doorbell is not in the gate's ranges: the call goes to the
 *           host, which refuses the key by name.
 * expected: trap host_call
 * message:  key
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov edi, HC_STORAGE_WRITE
    mov esi, DOORBELL
    mov edx, 8
    lea rcx, [rsp]
    mov r8d, 1
    call HOSTCALL
    add rsp, 8
    ret
