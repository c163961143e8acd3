/*
** Aligned allocation and overflow-checked size arithmetic.
*/
#include <stdlib.h> /* aligned_alloc, free */

#include "quantkit/core.h"

bool qk_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

bool qk_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return false;
    *out = a + b;
    return true;
}

void *qk_aligned_alloc(size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return NULL;
    /* C11 aligned_alloc wants size to be a multiple of the alignment */
    size_t rounded;
    if (!qk_add_size(size == 0 ? 1 : size, alignment - 1, &rounded)) return NULL;
    rounded &= ~(alignment - 1);
    return aligned_alloc(alignment, rounded);
}

void qk_aligned_free(void *ptr) {
    free(ptr);
}
