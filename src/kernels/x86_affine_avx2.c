/*
** Affine intN per-group quantization kernels, AVX2 (affine_kernels.h):
** eight lanes, the reference's operations.
*/
#include <immintrin.h>
#include <math.h>

#include "kernels/affine_kernels.h"

/* lanes whose exponent is all ones (NaN, Inf) */
static inline int nonfinite_mask8(__m256 v) {
    const __m256i e = _mm256_set1_epi32(0x7F800000);
    const __m256i b = _mm256_and_si256(_mm256_castps_si256(v), e);
    return _mm256_movemask_epi8(_mm256_cmpeq_epi32(b, e));
}

static bool minmax_avx2(const float *x, int64_t n, float *lo, float *hi) {
    __m256 mn = _mm256_set1_ps(x[0]), mx = mn;
    int bad = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        bad |= nonfinite_mask8(v);
        mn = _mm256_min_ps(v, mn);
        mx = _mm256_max_ps(v, mx);
    }
    if (bad) return false;
    float l[8], h[8];
    _mm256_storeu_ps(l, mn);
    _mm256_storeu_ps(h, mx);
    for (; i < n; i++) {
        if (!isfinite(x[i])) return false;
        l[0] = x[i] < l[0] ? x[i] : l[0];
        h[0] = x[i] > h[0] ? x[i] : h[0];
    }
    for (int k = 1; k < 8; k++) {
        l[0] = l[k] < l[0] ? l[k] : l[0];
        h[0] = h[k] > h[0] ? h[k] : h[0];
    }
    *lo = l[0], *hi = h[0];
    return true;
}

static void quantize_avx2(const float *x, int64_t n, float inv, float zp, float qmin, float qmax,
                          uint8_t *codes) {
    const __m256 vinv = _mm256_set1_ps(inv), vzp = _mm256_set1_ps(zp);
    const __m256 lo = _mm256_set1_ps(qmin), hi = _mm256_set1_ps(qmax);
    const __m256 shift = _mm256_set1_ps(12582912.0f);
    /* byte 0 of each dword of a 128-bit lane to bytes 0..3 */
    const __m256i pick =
        _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i join = _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv);
        v = _mm256_sub_ps(_mm256_add_ps(v, shift), shift);
        v = _mm256_add_ps(v, vzp);
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        __m256i q = _mm256_shuffle_epi8(_mm256_cvtps_epi32(v), pick);
        q = _mm256_permutevar8x32_epi32(q, join);
        _mm_storel_epi64((__m128i *)(codes + i), _mm256_castsi256_si128(q));
    }
    for (; i < n; i++) {
        float v = x[i] * inv;
        v = (v + 12582912.0f) - 12582912.0f;
        v = v + zp;
        v = v < qmin ? qmin : v > qmax ? qmax : v;
        codes[i] = (uint8_t)(int32_t)v;
    }
}

const qk_affine_kern qk_affine_kern_avx2 = {minmax_avx2, quantize_avx2};
