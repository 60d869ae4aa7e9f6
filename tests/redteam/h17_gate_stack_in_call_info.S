/*
 * attack:   enter the gate by `jmp` (HOSTCALL_ENTRY is a code-table entry)
 *           with rsp = CALL_INFO + 8, so the gate's "return address" is call
 *           info's `entry` word: the prepared entry of `attack`, which is a
 *           valid table value because `pad` (just before `attack`) ends
 *           with a call, making attack's first block a return site. The
 *           gate would return into the method with a stack in read-only
 *           call info; its write-back of the checked slot must fault.
 * targets:  the gate's checked return with a contract-chosen rsp.
 * expected: trap page_fault
 */
#include "redteam.h"

    .text
    .type pad, @function
pad:
    call pad

METHOD attack
    mov rbx, rsp
    mov esp, CALL_INFO + 8
    mov eax, HOSTCALL
    mov edi, HC_SET_RETURN
    lea rsi, [rip + attack]
    xor edx, edx
    jmp rax
