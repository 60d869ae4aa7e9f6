/* Sorting: insertion sort, an in-place heap sort and a merge sort over a
 * fixed buffer, plus a binary search. Integer-only, branchy, loop-heavy. */
#include <stddef.h>
#include <stdint.h>

static int64_t scratch[1024];

static void sift_down(int64_t *a, size_t start, size_t end)
{
    size_t root = start;
    while (2 * root + 1 <= end) {
        size_t child = 2 * root + 1, swap = root;
        if (a[swap] < a[child])
            swap = child;
        if (child + 1 <= end && a[swap] < a[child + 1])
            swap = child + 1;
        if (swap == root)
            return;
        int64_t t = a[root];
        a[root] = a[swap];
        a[swap] = t;
        root = swap;
    }
}

void heap_sort(int64_t *a, size_t n)
{
    if (n < 2)
        return;
    for (size_t start = (n - 2) / 2 + 1; start-- > 0;)
        sift_down(a, start, n - 1);
    for (size_t end = n - 1; end > 0; end--) {
        int64_t t = a[end];
        a[end] = a[0];
        a[0] = t;
        sift_down(a, 0, end - 1);
    }
}

void insertion_sort(uint32_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

static void merge(int64_t *a, size_t lo, size_t mid, size_t hi)
{
    size_t i = lo, j = mid, k = lo;
    while (i < mid && j < hi)
        scratch[k++] = a[i] <= a[j] ? a[i++] : a[j++];
    while (i < mid)
        scratch[k++] = a[i++];
    while (j < hi)
        scratch[k++] = a[j++];
    for (k = lo; k < hi; k++)
        a[k] = scratch[k];
}

void merge_sort(int64_t *a, size_t n)
{
    if (n > 1024)
        n = 1024;
    for (size_t width = 1; width < n; width *= 2)
        for (size_t lo = 0; lo < n - width; lo += 2 * width) {
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            merge(a, lo, lo + width, hi);
        }
}

long binary_search(const int64_t *a, size_t n, int64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else if (a[mid] > key)
            hi = mid;
        else
            return (long)mid;
    }
    return -1;
}

int64_t sort_and_checksum(int64_t *a, size_t n, int which)
{
    int64_t copy[64];
    size_t m = n < 64 ? n : 64;
    for (size_t i = 0; i < m; i++)
        copy[i] = a[i];
    if (which & 1)
        heap_sort(copy, m);
    else
        merge_sort(copy, m);
    int64_t h = 0;
    for (size_t i = 0; i < m; i++)
        h = h * 31 + copy[i];
    return h ^ binary_search(copy, m, a[0]);
}
