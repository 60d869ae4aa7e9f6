/*
 * attack:   write the old ABI-2 mailbox (0x202000): forge the set_return
 *           length / gas words the host used to read from there.
 * targets:  ABI 3 leaves the mailbox page unmapped.
 * expected: trap page_fault
 */
#include "redteam.h"

METHOD attack
    mov eax, OLD_MAILBOX
    mov qword ptr [rax + 56], 0x100000  /* old RETURN_LEN */
    mov rcx, 0x4000000000000000
    mov [rax + 64], rcx                 /* old GAS */
    ret
