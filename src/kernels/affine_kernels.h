/*
** Internal: the element kernels of affine intN per-group quantization
** (qk_kernels_affine_quantize_rows), one table per instruction-set level.
** Every variant gives the reference's results bit for bit: min and max are
** order-independent for finite values (and a zero's sign never reaches the
** parameters: torch's rules use min(lo, 0) and max(hi, 0)); codes are the
** same float operations (x * inv, the 1.5 * 2^23 rounding, + zp, clamp).
*/
#ifndef QK_KERNELS_AFFINE_KERNELS_H
#define QK_KERNELS_AFFINE_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "quantkit/core.h"
#include "quantkit/quant.h"

typedef struct qk_affine_kern {
    /* lo = min, hi = max of x[0..n) (n >= 1); false (lo/hi unspecified)
    ** when an element is NaN or Inf. */
    bool (*minmax)(const float *x, int64_t n, float *lo, float *hi);
    /* codes[i] = low byte of (int)clamp(round_even(x[i] * inv) + zp, qmin,
    ** qmax), round_even as qk_affine_round_even (finite x). */
    void (*quantize)(const float *x, int64_t n, float inv, float zp, float qmin, float qmax,
                     uint8_t *codes);
} qk_affine_kern;

extern const qk_affine_kern qk_affine_kern_ref;
extern const qk_affine_kern qk_affine_kern_avx2;
extern const qk_affine_kern qk_affine_kern_avx512;

/* The table of a level (a qk_isa value), NULL when this CPU lacks it. */
const qk_affine_kern *qk_affine_kern_for(int isa);

/* qk_kernels_affine_quantize_rows with the kernels of `isa`
** (QK_ERR_UNSUPPORTED when this CPU lacks it). */
qk_status qk_kernels_affine_quantize_rows_isa(qk_isa isa, const qk_affine_scheme *scheme,
                                              const float *x, int64_t nrows, int64_t ncols,
                                              void *codes, float *scales, int32_t *zero_points);

#endif
