/*
 * attack:   loop forever through the gate without calling it: push the
 *           loop head and HOSTCALL_ENTRY and `ret` with rdi = set_return,
 *           len 0. Nothing of the loop runs as a normal call/return pair.
 * targets:  gas charged for set_return inside the gate (100 per call) and
 *           for blocks entered from the gate's return.
 * expected: out_of_gas
 */
#include "redteam.h"

METHOD attack
    lea rbx, [rip + loop]
loop:
    push rbx
    push HOSTCALL
    mov edi, HC_SET_RETURN
    lea rsi, [rip + loop]
    xor edx, edx
    ret
