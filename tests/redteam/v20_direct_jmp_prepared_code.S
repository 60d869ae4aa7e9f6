/*
 * attack:   a direct jump into the prepared code (0x71000100), e.g. past
 *           a block's gas charge, without going through the code table.
 * targets:  verifier rule 5 (direct targets must be verified instructions).
 * expected: rejected branch-outside-code
 */
#include "redteam.h"

METHOD attack
    jmp PREPARED_BASE + 0x100
