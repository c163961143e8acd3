/*
** Internal: pieces of affine quantization shared by the tensor path
** (affine.c), the per-span entry points (affine_span.c) and the scheme
** helpers (affine_scheme.c).
*/
#ifndef QK_QUANT_AFFINE_INTERNAL_H
#define QK_QUANT_AFFINE_INTERNAL_H

#include <math.h> /* floor */

#include "quantkit/quant.h"

/* Key of the stochastic-rounding stream of `seed` (splitmix64 of the seed). */
uint64_t qk_affine_sr_key(uint64_t seed);

/* 64 random bits for flat element `index` under `key`: the splitmix64
** output function at counter key + (index + 1) * golden ratio, a
** counter-based generator (no state, any order, any thread). */
static inline uint64_t qk_affine_sr_bits(uint64_t key, uint64_t index) {
    uint64_t z = key + (index + 1u) * UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Round half to even, as nearbyintf under the default rounding mode, for
** |t| < 2^22: adding 1.5 * 2^23 moves t into [2^23, 2^24), where the float
** spacing is 1, so the addition rounds to an integer (half to even); the
** subtraction is exact. Larger |t| (and +-Inf) come back within 2 of t, far
** beyond every code range (|q| <= 255), so the clamp that follows gives
** the same code as nearbyintf would. */
static inline float qk_affine_round_even(float t) {
    const float shift = 12582912.0f; /* 1.5 * 2^23 */
    return (t + shift) - shift;
}

/* The code of x, nearest-even: clamp(round(x * inv) + zp, qmin, qmax) in
** float (so the cast that follows is exact and in range). */
static inline float qk_affine_code_nearest(float x, float inv, float zp, float qmin, float qmax) {
    const float v = qk_affine_round_even(x * inv) + zp;
    return v < qmin ? qmin : v > qmax ? qmax : v;
}

/* The code of x, stochastic: t = x / scale in double, floor(t) + [u < frac(t)]
** with u uniform in [0, 1) from the top 53 of `bits`, plus zp, clamped.
** E[code] = t + zp exactly inside the range. */
static inline double qk_affine_code_stochastic(float x, double scale, double zp, double qmin,
                                               double qmax, uint64_t bits) {
    const double t = (double)x / scale;
    const double f = floor(t);
    const double u = (double)(bits >> 11) * 0x1p-53;
    const double v = f + (u < t - f ? 1.0 : 0.0) + zp;
    return v < qmin ? qmin : v > qmax ? qmax : v;
}

/* QK_ERR_INVALID_ARG unless p has a positive finite scale with a finite
** inverse, qmin < qmax inside one byte type and zero_point in [qmin, qmax]. */
qk_status qk_affine_check_params(const qk_affine_params *p, const char *what);

/* Parameters of one group for the final range [lo, hi] (range mode already
** applied): torch's rules, then the scale rounded up to the scheme's scale
** type and the zero point recomputed, then the overflow check of the
** dequantized extremes. Sets the error message (without group context). */
qk_status qk_affine_group_params(const qk_affine_scheme *s, int32_t qmin, int32_t qmax, float lo,
                                 float hi, qk_affine_params *out);

/* [lo, hi] of a group after the scheme's range mode (MINMAX: unchanged). */
void qk_affine_apply_range_mode(const qk_affine_scheme *s, float *lo, float *hi);

/* Widen [*lo, *hi] by the values x[0..n) (all finite). */
void qk_affine_minmax_run(const float *x, size_t n, float *lo, float *hi);

/* Codes of x[0..n) (all finite, p checked) into codes[0..n) (int8_t when
** p->qmin < 0, else uint8_t). `key` is qk_affine_sr_key(seed) and x[i] uses
** the random bits of flat index first_index + i. */
void qk_affine_quantize_run(const float *x, size_t n, const qk_affine_params *p,
                            qk_rounding rounding, uint64_t key, uint64_t first_index, void *codes);

/* y[i] = (float)(codes[i] - zero_point) * scale. */
void qk_affine_dequantize_run(const void *codes, size_t n, const qk_affine_params *p, float *y);

/* Index of the first non-finite value of x[0..n), or n when all are finite. */
size_t qk_affine_first_nonfinite(const float *x, size_t n);

#endif
