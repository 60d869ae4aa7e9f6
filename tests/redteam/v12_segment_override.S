/*
 * attack:   read the code table (GS base) and FS-based memory with segment
 *           overrides, to learn prepared addresses of the code table.
 * targets:  verifier (class segment-override): FS/GS are the runtime's.
 * expected: rejected segment-override
 * min-violations: 2
 */
#include "redteam.h"

METHOD attack
    mov rax, gs:[0x401000 * 8]
    mov rcx, fs:[8]
    ret
