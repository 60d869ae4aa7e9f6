/*
 * attack:   call the real gate with nr = 0 (RETURN, the number the runtime
 *           uses to report the method's return): the gate's doorbell exit
 *           would look like a method return from inside a method, ending
 *           the call ok mid-method and leaving the guest parked in the gate.
 * targets:  the host tells the gate's doorbell from the return path's by
 *           RIP, not by a number the contract chooses.
 * expected: trap host_call
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    SET_RETURN [rip + msg], 4
    xor edi, edi
    call HOSTCALL
    /* after the "return": scribble, for the next call to find */
    mov rax, 0x6969696969696969
    mov [rip + scratch], rax
    add rsp, 8
    ret
    .section .rodata
msg: .ascii "ret0"
    .bss
scratch: .zero 8
