/*
 * attack:   write a value, then storage_read it with the value buffer in
 *           the prepared code's gas constants (0x71000010): zero block
 *           costs, written by the host.
 * targets:  host-call output buffers must be contract-writable memory.
 * expected: trap host_call
 */
#include "redteam.h"

    .section .rodata
key: .ascii "k"
zeros: .zero 32

METHOD attack
    sub rsp, 8
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + zeros]
    mov r8d, 32
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rip + key]
    mov edx, 1
    mov ecx, PREPARED_BASE + 16
    mov r8d, 32
    call HOSTCALL
    add rsp, 8
    ret
