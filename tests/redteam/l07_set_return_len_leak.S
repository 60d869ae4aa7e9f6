/*
 * attack:   leave a set_return length behind: `attack` writes 8 bytes into
 *           the return buffer and sets them as return data; `check` (run
 *           next on the same warm guest) returns without set_return. If
 *           mm7 or the buffer survived the reset, `check` would return
 *           attack's bytes.
 * targets:  per-call reset of mm7 (set_return length) and the buffer.
 * expected: ok abababababababab
 * check: ok
 */
#include "redteam.h"

METHOD attack
    sub rsp, 8
    mov eax, RETBUF
    mov rcx, 0xabababababababab
    mov [rax], rcx
    SET_RETURN [RETBUF], 8
    add rsp, 8
    ret

METHOD check
    ret
