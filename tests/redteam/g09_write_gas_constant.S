/*
 * attack:   zero the block-cost constants at the start of the prepared
 *           code (0x71000010...), making every block free.
 * targets:  prepared code is read-only.
 * expected: trap page_fault
 */
#include "redteam.h"

METHOD attack
    mov eax, PREPARED_BASE + 16
    mov qword ptr [rax], 0
    ret
