/*
 * attack:   storage_read into the code table (GS base, 0x100_0000_0000 +
 *           8 * 0x401000): plant a prepared address as the entry of an
 *           original address, redirecting checked branches.
 * targets:  host-call output buffers must be contract-writable memory.
 * expected: trap host_call
 */
#include "redteam.h"

    .section .rodata
key: .ascii "k"
val: .quad 0x71000000

METHOD attack
    sub rsp, 8
    mov edi, HC_STORAGE_WRITE
    lea rsi, [rip + key]
    mov edx, 1
    lea rcx, [rip + val]
    mov r8d, 8
    call HOSTCALL
    mov edi, HC_STORAGE_READ
    lea rsi, [rip + key]
    mov edx, 1
    mov rcx, CODE_TABLE + 8 * 0x401000
    mov r8d, 8
    call HOSTCALL
    add rsp, 8
    ret
