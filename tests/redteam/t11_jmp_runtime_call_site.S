/*
 * attack:   read the method-return site from [rsp] at entry and jump two
 *           bytes before it (the runtime's `call rax`), to re-enter the
 *           runtime loop's method call with contract-chosen registers.
 * targets:  code table: the method-return site is an entry, the
 *           instruction before it is not.
 * expected: trap invalid_branch_target
 */
#include "redteam.h"

METHOD attack
    mov rax, [rsp]
    sub rax, 2
    jmp rax
