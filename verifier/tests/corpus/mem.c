/* memcpy, memmove, memset and memcmp for the compiler-output corpus:
 * gcc emits calls to them for struct copies and loop idioms even with
 * -ffreestanding. Plain byte loops; loop-idiom recognition is off so that
 * they do not become calls to themselves. Hidden: helpers, not methods. */
#include <stddef.h>

#define HELPER __attribute__((visibility("hidden"), optimize("no-tree-loop-distribute-patterns")))

HELPER void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

HELPER void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

HELPER void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

HELPER int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}
