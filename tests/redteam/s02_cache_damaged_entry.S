/*
 * attack:   mark a cache entry written with a key length of 1000 (over the
 *           cache's 64-byte limit), for the host to read past the entry.
 * targets:  the host checks every cache entry it reads: a damaged cache is
 *           a trap naming the entry, never a read outside it.
 * expected: trap host_call
 * message:  storage cache entry 0
 */
#include "redteam.h"

METHOD attack
    mov rax, [CALL_INFO + CI_STORAGE_CACHE]
    mov qword ptr [rax], 1
    mov dword ptr [rax + SC_HEADER], 7
    mov dword ptr [rax + SC_HEADER + 4], 1000
    mov dword ptr [rax + SC_HEADER + 8], 1
    ret
