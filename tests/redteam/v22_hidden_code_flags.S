/*
 * attack:   hide rdtsc in bytes of the executable segment whose section
 *           header claims they are not code: the section `.hid` is linked
 *           as code ("ax") into the RX segment, then objcopy clears its
 *           SHF_EXECINSTR, so a verifier that sweeps only executable
 *           sections never decodes it (an indirect jump could still run it
 *           if the loader mapped it executable).
 * targets:  verifier rule 1 (executable-segment bytes outside executable
 *           sections must be padding).
 * expected: rejected hidden-code
 * objcopy: --set-section-flags .hid=alloc,readonly
 */
#include "redteam.h"

METHOD attack
    xor eax, eax
    ret

    .section .hid, "ax"
hidden:
    rdtsc
    ret
