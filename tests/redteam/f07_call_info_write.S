/*
 * attack:   raise the gas limit in the call-info page (0x201000), which
 *           the runtime loop loads into the gas counter for the next call.
 * targets:  call info is read-only to ring 3.
 * expected: trap page_fault
 */
#include "redteam.h"

METHOD attack
    mov rcx, 0x4000000000000000
    mov [CALL_INFO + CI_GAS_LIMIT], rcx
    ret
