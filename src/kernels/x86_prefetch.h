/*
** Software prefetch of the weight rows of a matrix-vector product (x86
** kernel files only).
*/
#ifndef QK_KERNELS_X86_PREFETCH_H
#define QK_KERNELS_X86_PREFETCH_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes ahead of use that the row kernels prefetch into L2. */
#define QK_PF_AHEAD 2048

/* Prefetch into L2 the `bytes` at offset pos + QK_PF_AHEAD of each of NW
** rows `stride` apart (row_len bytes used per row). With NW rows consumed
** side by side, only the row NW further on continues where a row ends:
** past its end, a row prefetches the start of that row (the next call's
** rows when rows are contiguous, as in qk_matmul), so every row of a call
** starts in cache. Measured on the 4096 x 14336 matvec (AMD EPYC, 1
** thread): Q8_0 from 66% of the read bandwidth without prefetch to 100%,
** Q4_0 from 61% to 83%. Prefetches do not fault: addresses past the
** matrix are harmless. */
static inline __attribute__((always_inline)) void qk_prefetch_rows(const unsigned char *w,
                                                                   size_t stride, const int NW,
                                                                   int64_t pos, int64_t row_len,
                                                                   const int bytes) {
    const size_t skip = pos + QK_PF_AHEAD >= row_len ? (size_t)(NW - 1) * stride : 0;
    for (int r = 0; r < NW; r++) {
        const char *p = (const char *)w + (size_t)r * stride + (size_t)pos + QK_PF_AHEAD + skip;
        for (int k = 0; k < bytes + 63; k += 64) _mm_prefetch(p + k, _MM_HINT_T1);
    }
}

#endif
