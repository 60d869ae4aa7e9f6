/*
 * attack:   storage_read into a buffer that starts 8 bytes below the stack
 *           top and runs 24 bytes past it (only partly writable): the
 *           host must refuse the whole range, not write the valid part.
 * targets:  host-call range checks at the end of a writable region.
 * expected: trap host_call
 */
#include "redteam.h"

    .section .rodata
key: .ascii "k"
val: .fill 32, 1, 0x77

METHOD attack
    sub rsp, 8
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + val]
    mov r8d, 32
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rip + key]
    mov edx, 1
    mov ecx, STACK_TOP - 8
    mov r8d, 32
    call HOSTCALL
    add rsp, 8
    ret
