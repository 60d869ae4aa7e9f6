/*
 * attack:   (honest) read the bytes of the method's own code with a
 *           RIP-relative load (`mov rax, [rip + here]`, here in .text):
 *           they must be the ORIGINAL bytes (b8 44 33 22 11 90 90 90), not
 *           the prepared code.
 * targets:  RIP-relative operands rewritten to absolute original
 *           addresses; original code pages mapped readable.
 * expected: ok b84433221190909090909090cccccccc
 */
#include "redteam.h"

    .bss
    .balign 8
outb: .zero 16

METHOD attack
    mov rax, [rip + here]
    mov [rip + outb], rax
    mov eax, [rip + here + 8]
    mov [rip + outb + 8], eax
    mov eax, [rip + tail]
    mov [rip + outb + 12], eax
    sub rsp, 8
    SET_RETURN [rip + outb], 16
    add rsp, 8
    ret
here:
    mov eax, 0x11223344
    nop
    nop
    nop
    nop
    nop
    nop
    nop
    ret
tail:
    int3
    int3
    int3
    int3
