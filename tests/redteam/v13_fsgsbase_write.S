/*
 * attack:   point GS at a contract-written fake code table (wrgsbase), so
 *           that every checked indirect branch goes where the contract
 *           wants; read the bases with rdgsbase/rdfsbase.
 * targets:  verifier (class fsgsbase).
 * expected: rejected fsgsbase
 * min-violations: 3
 */
#include "redteam.h"

    .bss
    .balign 4096
fake_table: .zero 4096

METHOD attack
    lea rax, [rip + fake_table]
    wrgsbase rax
    wrfsbase rax
    rdgsbase rcx
    ret
