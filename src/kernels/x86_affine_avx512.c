/*
** Affine intN per-group quantization kernels, AVX-512 (affine_kernels.h):
** sixteen lanes, the reference's operations; tails by masked loads.
*/
#include <immintrin.h>

#include "kernels/affine_kernels.h"

static inline __mmask16 nonfinite_mask16(__m512 v) {
    const __m512i e = _mm512_set1_epi32(0x7F800000);
    return _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(v), e), e);
}

static bool minmax_avx512(const float *x, int64_t n, float *lo, float *hi) {
    __m512 mn = _mm512_set1_ps(x[0]), mx = mn;
    __mmask16 bad = 0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        bad |= nonfinite_mask16(v);
        mn = _mm512_min_ps(v, mn);
        mx = _mm512_max_ps(v, mx);
    }
    if (i < n) {
        /* lanes past the end keep x[0] */
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(x[0]), m, x + i);
        bad |= nonfinite_mask16(v);
        mn = _mm512_min_ps(v, mn);
        mx = _mm512_max_ps(v, mx);
    }
    if (bad) return false;
    *lo = _mm512_reduce_min_ps(mn);
    *hi = _mm512_reduce_max_ps(mx);
    return true;
}

static inline __m512 code16(__m512 x, __m512 vinv, __m512 vzp, __m512 lo, __m512 hi) {
    const __m512 shift = _mm512_set1_ps(12582912.0f);
    __m512 v = _mm512_mul_ps(x, vinv);
    v = _mm512_sub_ps(_mm512_add_ps(v, shift), shift);
    v = _mm512_add_ps(v, vzp);
    return _mm512_min_ps(_mm512_max_ps(v, lo), hi);
}

static void quantize_avx512(const float *x, int64_t n, float inv, float zp, float qmin, float qmax,
                            uint8_t *codes) {
    const __m512 vinv = _mm512_set1_ps(inv), vzp = _mm512_set1_ps(zp);
    const __m512 lo = _mm512_set1_ps(qmin), hi = _mm512_set1_ps(qmax);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = code16(_mm512_loadu_ps(x + i), vinv, vzp, lo, hi);
        _mm_storeu_si128((__m128i *)(codes + i), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = code16(_mm512_maskz_loadu_ps(m, x + i), vinv, vzp, lo, hi);
        _mm_mask_storeu_epi8(codes + i, m, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
    }
}

const qk_affine_kern qk_affine_kern_avx512 = {minmax_avx512, quantize_avx512};
