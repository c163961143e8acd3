/*
** Internal: the body of quantkit's fast K-quant algorithm (kquant.h),
** included by kquant_fast.c (the plain-C reference), kquant_avx2.c and
** kquant_avx512.c. It is written once on `kv`, 16 float lanes, whose
** operations are single IEEE operations per lane (add, sub, mul, div,
** fused multiply-add (fmaf), max/min as `a > b ? a : b` / `a < b ? a : b`, round to nearest even,
** selection): plain C loops in the reference, one AVX-512 register or two
** AVX2 registers in the others. Every variant thus computes the same
** floats and writes the same bytes. Sums over lanes use one fixed tree.
**
** The super-block is held as 16 lanes of 16 steps: lane l is sub-block l
** (16 sub-blocks of 16) or half l / 8 of sub-block l % 8 (8 sub-blocks of
** 32: per-sub-block sums add the two halves, and both lanes hold the sum).
**
** The algorithm, per super-block (asymmetric: y = D s_j q - M m_j;
** symmetric: y = D s_j q):
**  1. per sub-block: min, max, sum and sum of squares;
**  2. per sub-block, QK_KQ_CANDIDATES inverse scales (nmax + lo + step k) /
**     range; for each the quants by rounding, their sums, and the energy
**     the least-squares fit (scale, and min <= 0) for them explains; the
**     best candidate's fit gives the sub-block's continuous scale (and
**     min). Ties go to the first candidate: k ascending for asymmetric
**     types, descending (the smaller scale) for symmetric ones, where the
**     largest sub-block scale sets D (a lone outlier at level -4 rather
**     than -3 leaves the other sub-blocks finer scales);
**  3. D (and M) among 2 KQ_SUPER_C + 1 values each by the error that
**     rounding the sub-block scales (and mins) adds for those quants;
**  4. QK_KQ_ROUNDS round(s) of: per sub-block, the current scale (and min),
**     the three scales around the least-squares one for the latest quants,
**     each with the min that fits it, and (asymmetric) the least-squares
**     scale through 0 with no min (a lone large outlier), compared by the
**     exact error of their re-rounded quants (one pass for all, the error
**     from the sums); then D (and M) by least squares over the sub-blocks
**     for the winners' quants, among neighbouring f16 codes;
**  5. the quants for the final scales.
*/
#ifndef QK_KERNELS_KQUANT_LANES_H
#define QK_KERNELS_KQUANT_LANES_H

#include <float.h>

#include "kernels/kquant.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Everything is inlined into each type's row function, where the type's
** parameters are constants. */
#define KQ_FN static inline __attribute__((always_inline))
#define KQ_NEG (-3.4028235e38f)

/* ---- kv: 16 float lanes ------------------------------------------------ */

#if defined(__AVX512F__)

typedef __m512 kv;
typedef __mmask16 km;
KQ_FN kv kv_load(const float *p) {
    return _mm512_loadu_ps(p);
}
KQ_FN void kv_store(float *p, kv v) {
    _mm512_storeu_ps(p, v);
}
KQ_FN kv kv_set(float f) {
    return _mm512_set1_ps(f);
}
KQ_FN kv kv_add(kv a, kv b) {
    return _mm512_add_ps(a, b);
}
KQ_FN kv kv_sub(kv a, kv b) {
    return _mm512_sub_ps(a, b);
}
KQ_FN kv kv_mul(kv a, kv b) {
    return _mm512_mul_ps(a, b);
}
KQ_FN kv kv_div(kv a, kv b) {
    return _mm512_div_ps(a, b);
}
KQ_FN kv kv_fma(kv a, kv b, kv c) {
    return _mm512_fmadd_ps(a, b, c);
}
KQ_FN kv kv_max(kv a, kv b) {
    return _mm512_max_ps(a, b);
}
KQ_FN kv kv_min(kv a, kv b) {
    return _mm512_min_ps(a, b);
}
KQ_FN kv kv_round(kv a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
KQ_FN kv kv_neg(kv a) {
    return _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MIN)));
}
KQ_FN kv kv_abs(kv a) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MAX)));
}
KQ_FN km kv_gt(kv a, kv b) {
    return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ);
}
KQ_FN km kv_ge(kv a, kv b) {
    return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ);
}
KQ_FN km kv_ne(kv a, kv b) {
    return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ);
}
KQ_FN km km_and(km a, km b) {
    return (km)(a & b);
}
KQ_FN kv kv_sel(km m, kv a, kv b) {
    return _mm512_mask_blend_ps(m, b, a);
}
/* lanes l & 7 and (l & 7) + 8 of v */
KQ_FN kv kv_lo8(kv v) {
    return _mm512_shuffle_f32x4(v, v, 0x44);
}
KQ_FN kv kv_hi8(kv v) {
    return _mm512_shuffle_f32x4(v, v, 0xEE);
}
KQ_FN float kv_sum(kv v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}
/* integers in [0, 255] to bytes */
KQ_FN void kv_bytes(kv v, uint8_t *dst) {
    _mm_storeu_si128((__m128i *)dst, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
}

#elif defined(__AVX2__)

typedef struct {
    __m256 a, b;
} kv;
typedef kv km;
#define KV2(op)                                                                                    \
    { op(a.a, b.a), op(a.b, b.b) }
KQ_FN kv kv_load(const float *p) {
    return (kv){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
KQ_FN void kv_store(float *p, kv v) {
    _mm256_storeu_ps(p, v.a), _mm256_storeu_ps(p + 8, v.b);
}
KQ_FN kv kv_set(float f) {
    return (kv){_mm256_set1_ps(f), _mm256_set1_ps(f)};
}
KQ_FN kv kv_add(kv a, kv b) {
    return (kv)KV2(_mm256_add_ps);
}
KQ_FN kv kv_sub(kv a, kv b) {
    return (kv)KV2(_mm256_sub_ps);
}
KQ_FN kv kv_mul(kv a, kv b) {
    return (kv)KV2(_mm256_mul_ps);
}
KQ_FN kv kv_div(kv a, kv b) {
    return (kv)KV2(_mm256_div_ps);
}
KQ_FN kv kv_fma(kv a, kv b, kv c) {
    return (kv){_mm256_fmadd_ps(a.a, b.a, c.a), _mm256_fmadd_ps(a.b, b.b, c.b)};
}
KQ_FN kv kv_max(kv a, kv b) {
    return (kv)KV2(_mm256_max_ps);
}
KQ_FN kv kv_min(kv a, kv b) {
    return (kv)KV2(_mm256_min_ps);
}
KQ_FN kv kv_round(kv a) {
    /* the mode must be an integer constant expression (clang checks it) */
    return (kv){_mm256_round_ps(a.a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                _mm256_round_ps(a.b, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
KQ_FN kv kv_neg(kv a) {
    const __m256 s = _mm256_set1_ps(-0.0f);
    return (kv){_mm256_xor_ps(a.a, s), _mm256_xor_ps(a.b, s)};
}
KQ_FN kv kv_abs(kv a) {
    const __m256 s = _mm256_set1_ps(-0.0f);
    return (kv){_mm256_andnot_ps(s, a.a), _mm256_andnot_ps(s, a.b)};
}
KQ_FN km kv_gt(kv a, kv b) {
    return (km){_mm256_cmp_ps(a.a, b.a, _CMP_GT_OQ), _mm256_cmp_ps(a.b, b.b, _CMP_GT_OQ)};
}
KQ_FN km kv_ge(kv a, kv b) {
    return (km){_mm256_cmp_ps(a.a, b.a, _CMP_GE_OQ), _mm256_cmp_ps(a.b, b.b, _CMP_GE_OQ)};
}
KQ_FN km kv_ne(kv a, kv b) {
    return (km){_mm256_cmp_ps(a.a, b.a, _CMP_NEQ_UQ), _mm256_cmp_ps(a.b, b.b, _CMP_NEQ_UQ)};
}
KQ_FN km km_and(km a, km b) {
    return (km)KV2(_mm256_and_ps);
}
KQ_FN kv kv_sel(km m, kv a, kv b) {
    return (kv){_mm256_blendv_ps(b.a, a.a, m.a), _mm256_blendv_ps(b.b, a.b, m.b)};
}
KQ_FN kv kv_lo8(kv v) {
    return (kv){v.a, v.a};
}
KQ_FN kv kv_hi8(kv v) {
    return (kv){v.b, v.b};
}
KQ_FN float kv_sum(kv v) {
    const __m256 h = _mm256_add_ps(v.a, v.b);
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}
KQ_FN void kv_bytes(kv v, uint8_t *dst) {
    const __m256i a = _mm256_cvtps_epi32(v.a), b = _mm256_cvtps_epi32(v.b);
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8); /* 16 x i16 */
    const __m128i y = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128((__m128i *)dst, y);
}
#undef KV2

#else

typedef struct {
    float f[16];
} kv;
typedef struct {
    bool b[16];
} km;
#define KV_MAP(expr)                                                                               \
    kv r;                                                                                          \
    for (int l = 0; l < 16; l++) r.f[l] = (expr);                                                  \
    return r
#define KM_MAP(expr)                                                                               \
    km r;                                                                                          \
    for (int l = 0; l < 16; l++) r.b[l] = (expr);                                                  \
    return r
KQ_FN kv kv_load(const float *p) {
    KV_MAP(p[l]);
}
KQ_FN void kv_store(float *p, kv v) {
    memcpy(p, v.f, sizeof v.f);
}
KQ_FN kv kv_set(float f) {
    KV_MAP(f);
}
KQ_FN kv kv_add(kv a, kv b) {
    KV_MAP(a.f[l] + b.f[l]);
}
KQ_FN kv kv_sub(kv a, kv b) {
    KV_MAP(a.f[l] - b.f[l]);
}
KQ_FN kv kv_mul(kv a, kv b) {
    KV_MAP(a.f[l] * b.f[l]);
}
KQ_FN kv kv_div(kv a, kv b) {
    KV_MAP(a.f[l] / b.f[l]);
}
KQ_FN kv kv_fma(kv a, kv b, kv c) {
    KV_MAP(fmaf(a.f[l], b.f[l], c.f[l]));
}
KQ_FN kv kv_max(kv a, kv b) {
    KV_MAP(a.f[l] > b.f[l] ? a.f[l] : b.f[l]);
}
KQ_FN kv kv_min(kv a, kv b) {
    KV_MAP(a.f[l] < b.f[l] ? a.f[l] : b.f[l]);
}
KQ_FN kv kv_round(kv a) {
    KV_MAP(nearbyintf(a.f[l]));
}
KQ_FN kv kv_neg(kv a) {
    KV_MAP(-a.f[l]);
}
KQ_FN kv kv_abs(kv a) {
    KV_MAP(fabsf(a.f[l]));
}
KQ_FN km kv_gt(kv a, kv b) {
    KM_MAP(a.f[l] > b.f[l]);
}
KQ_FN km kv_ge(kv a, kv b) {
    KM_MAP(a.f[l] >= b.f[l]);
}
KQ_FN km kv_ne(kv a, kv b) {
    KM_MAP(a.f[l] != b.f[l]);
}
KQ_FN km km_and(km a, km b) {
    KM_MAP(a.b[l] && b.b[l]);
}
KQ_FN kv kv_sel(km m, kv a, kv b) {
    KV_MAP(m.b[l] ? a.f[l] : b.f[l]);
}
KQ_FN kv kv_lo8(kv v) {
    KV_MAP(v.f[l & 7]);
}
KQ_FN kv kv_hi8(kv v) {
    KV_MAP(v.f[(l & 7) + 8]);
}
KQ_FN float kv_sum(kv v) {
    float t[8];
    for (int l = 0; l < 8; l++) t[l] = v.f[l] + v.f[l + 8];
    for (int l = 0; l < 4; l++) t[l] = t[l] + t[l + 4];
    for (int l = 0; l < 2; l++) t[l] = t[l] + t[l + 2];
    return t[0] + t[1];
}
KQ_FN void kv_bytes(kv v, uint8_t *dst) {
    for (int l = 0; l < 16; l++) dst[l] = (uint8_t)(int)v.f[l];
}
#undef KV_MAP
#undef KM_MAP

#endif

KQ_FN km kv_lt(kv a, kv b) {
    return kv_gt(b, a);
}
/* Clamp to [lo, hi] (NaN gives lo), then round to nearest even. */
KQ_FN kv kv_rc(kv v, kv lo, kv hi) {
    return kv_round(kv_min(kv_max(v, lo), hi));
}
/* Pair mode: both halves of a sub-block get its sum (or min, max). */
KQ_FN kv kv_comb(bool pair, kv v) {
    return pair ? kv_add(kv_lo8(v), kv_hi8(v)) : v;
}

/* ---- scalars ------------------------------------------------------------- */

/* Clamp to [lo, hi] (NaN gives lo), then round to nearest even: exact for
** |lo|, |hi| < 2^22 (kv_rc for one float). */
KQ_FN float kq_rc(float v, float lo, float hi) {
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    return (v + 12582912.0f) - 12582912.0f;
}

/* 1 / v, or 0 for 0 and for non-finite v. */
KQ_FN float kq_inv(float v) {
    return v != 0.0f && isfinite(v) ? 1.0f / v : 0.0f;
}

/* f32 to IEEE binary16 bits, round to nearest even (F16C's conversion;
** NaN keeps the top of its payload, quieted). */
KQ_FN uint16_t kq_to_f16(float f) {
#if defined(__F16C__)
    return (uint16_t)_cvtss_sh(f, 0);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* 65520 and up: infinity */
    if (a < 0x38800000u) {                                   /* below 2^-14: subnormal */
        float v;
        memcpy(&v, &a, sizeof v);
        v = (v * 16777216.0f + 12582912.0f) - 12582912.0f; /* units of 2^-24, rounded */
        return (uint16_t)(sign | (uint16_t)v);
    }
    a -= 112u << 23;
    a += 0x0FFFu + ((a >> 13) & 1u);
    return (uint16_t)(sign | (a >> 13));
#endif
}

/* IEEE binary16 bits to f32, exact. */
KQ_FN float kq_f16(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    uint32_t bits;
    if (e == 0) {
        const float v = (float)mant * 5.9604644775390625e-8f; /* 2^-24 */
        return sign ? -v : v;
    }
    if (e == 31)
        bits = sign | 0x7F800000u | (mant << 13);
    else
        bits = sign | ((e + 112u) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---- the algorithm ------------------------------------------------------- */

typedef struct kq_state {
    kv X[16];   /* X[step], lanes as above */
    kv off;     /* asymmetric: min(0, min x); symmetric: 0 */
    kv rng;     /* range of the candidate search, 1 where unusable */
    km ok;      /* the sub-block has a usable range */
    kv sx, sxx; /* sum x, sum x^2 per sub-block */
} kq_state;

/* Sums of a sub-block's quants. */
typedef struct kq_sums {
    kv sq, sqq, sqx;
} kq_sums;

/* X[i] lane l = x[16 r(l) + i]: a transposition (data movement only). */
KQ_FN void kq_load(const qk_kq_params *p, const float *x, kq_state *s) {
    const bool pair = p->nsub == 8;
#if defined(__AVX512F__)
    __m512 r[16], t[16], u[16];
    for (int l = 0; l < 16; l++) r[l] = _mm512_loadu_ps(x + 16 * (pair ? 2 * (l % 8) + l / 8 : l));
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) {
        u[4 * k] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
        u[4 * k + 1] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
        u[4 * k + 2] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
        u[4 * k + 3] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
    }
    /* u[4 k + j], 128-bit lane L: element 4 L + j of rows 4 k .. 4 k + 3 */
    for (int j = 0; j < 4; j++) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
        const __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        const __m512 v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
        s->X[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        s->X[8 + j] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        s->X[4 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        s->X[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
#elif defined(__AVX2__)
    /* four 8 x 8 transpositions: lanes 8 g.., elements 8 e.. */
    for (int g = 0; g < 2; g++)
        for (int e = 0; e < 2; e++) {
            __m256 r[8], t[8], u[8];
            for (int k = 0; k < 8; k++) {
                const int l = 8 * g + k;
                r[k] = _mm256_loadu_ps(x + 16 * (pair ? 2 * (l % 8) + l / 8 : l) + 8 * e);
            }
            for (int k = 0; k < 4; k++) {
                t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
                t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
            }
            for (int k = 0; k < 2; k++) {
                u[4 * k] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
                u[4 * k + 1] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
                u[4 * k + 2] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
                u[4 * k + 3] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
            }
            for (int j = 0; j < 4; j++) {
                const __m256 lo = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
                const __m256 hi = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
                if (g == 0)
                    s->X[8 * e + j].a = lo, s->X[8 * e + 4 + j].a = hi;
                else
                    s->X[8 * e + j].b = lo, s->X[8 * e + 4 + j].b = hi;
            }
        }
#else
    float t[16][16];
    for (int l = 0; l < 16; l++) {
        const int r = pair ? 2 * (l % 8) + l / 8 : l;
        for (int i = 0; i < 16; i++) t[i][l] = x[16 * r + i];
    }
    for (int i = 0; i < 16; i++) s->X[i] = kv_load(t[i]);
#endif
}

/* Step 1. */
KQ_FN void kq_stats(const qk_kq_params *p, kq_state *s) {
    const bool pair = p->nsub == 8, asym = p->mmax >= 0;
    kv mn = s->X[0], mx = s->X[0], sx = s->X[0], sxx = kv_mul(s->X[0], s->X[0]);
    for (int i = 1; i < 16; i++) {
        const kv v = s->X[i];
        mn = kv_min(v, mn), mx = kv_max(v, mx);
        sx = kv_add(sx, v), sxx = kv_fma(v, v, sxx);
    }
    if (pair) {
        mn = kv_min(kv_hi8(mn), kv_lo8(mn)), mx = kv_max(kv_hi8(mx), kv_lo8(mx));
        sx = kv_comb(true, sx), sxx = kv_comb(true, sxx);
    }
    const kv zero = kv_set(0.0f), one = kv_set(1.0f);
    kv range;
    if (asym) {
        s->off = kv_min(mn, zero);
        range = kv_sub(mx, s->off);
        s->ok = km_and(kv_gt(range, zero), kv_ge(kv_set(FLT_MAX), range));
    } else {
        /* the signed value of largest magnitude (the positive one on a tie),
        ** negated: it maps to the top candidate level */
        const kv am = kv_sel(kv_gt(kv_neg(mn), mx), mn, mx);
        s->off = zero;
        range = kv_neg(am);
        s->ok = kv_ge(kv_abs(am), kv_set(QK_KQ_EPS));
    }
    s->rng = kv_sel(s->ok, range, one);
    s->sx = sx, s->sxx = sxx;
}

/* Step 2: the continuous scale a and min mn (<= 0) of each sub-block and
** the sums of the winning candidate's quants. */
KQ_FN void kq_search(const qk_kq_params *p, const kq_state *s, kv *a, kv *mn, kq_sums *win) {
    const bool pair = p->nsub == 8, asym = p->mmax >= 0;
    const kv lo = kv_set((float)p->qmin), hi = kv_set((float)p->qmax), n = kv_set((float)p->sublen);
    const kv zero = kv_set(0.0f), one = kv_set(1.0f), neg = kv_set(KQ_NEG);
    kv gb = neg;
    win->sq = zero, win->sqq = zero, win->sqx = zero;
    for (int k = 0; k < QK_KQ_CANDIDATES; k += 2) {
        kv is[2], sq[2], sqq[2], sqx[2];
        for (int c = 0; c < 2; c++) {
            is[c] = kv_div(
                kv_set(p->nmax +
                       (p->lo + p->step * (float)(asym ? k + c : QK_KQ_CANDIDATES - 1 - k - c))),
                s->rng);
            sq[c] = zero, sqq[c] = zero, sqx[c] = zero;
        }
        for (int i = 0; i < 16; i++) {
            const kv v = s->X[i], xs = kv_sub(v, s->off);
            for (int c = 0; c < 2; c++) {
                /* asymmetric: xs >= 0 and is > 0, so no clamp below */
                const kv t = kv_mul(xs, is[c]);
                const kv q = asym ? kv_round(kv_min(t, hi)) : kv_rc(t, lo, hi);
                if (asym) sq[c] = kv_add(sq[c], q);
                sqq[c] = kv_fma(q, q, sqq[c]);
                sqx[c] = kv_fma(q, v, sqx[c]);
            }
        }
        for (int c = 0; c < 2; c++) {
            sq[c] = kv_comb(pair, sq[c]), sqq[c] = kv_comb(pair, sqq[c]);
            sqx[c] = kv_comb(pair, sqx[c]);
            /* the energy the least-squares fit explains (unusable: -FLT_MAX) */
            const km pq = kv_gt(sqq[c], zero);
            const kv gc = kv_div(kv_mul(sqx[c], sqx[c]), kv_sel(pq, sqq[c], one));
            kv g;
            if (asym) {
                const kv det = kv_sub(kv_mul(n, sqq[c]), kv_mul(sq[c], sq[c]));
                const kv t1 = kv_sub(kv_mul(n, sqx[c]), kv_mul(sq[c], s->sx));
                const kv t2 = kv_sub(kv_mul(sqq[c], s->sx), kv_mul(sq[c], sqx[c]));
                const km pd = kv_gt(det, zero);
                const kv gu =
                    kv_div(kv_add(kv_mul(t1, sqx[c]), kv_mul(t2, s->sx)), kv_sel(pd, det, one));
                g = kv_sel(kv_gt(t2, zero), kv_sel(kv_gt(sqx[c], zero), gc, neg),
                           kv_sel(kv_gt(t1, zero), gu, neg));
                g = kv_sel(pd, g, neg);
            } else {
                g = kv_sel(pq, gc, neg);
            }
            const km better = kv_gt(g, gb);
            gb = kv_sel(better, g, gb);
            win->sq = kv_sel(better, sq[c], win->sq);
            win->sqq = kv_sel(better, sqq[c], win->sqq);
            win->sqx = kv_sel(better, sqx[c], win->sqx);
        }
    }
    const km use = km_and(kv_gt(gb, neg), s->ok);
    const kv sq = win->sq, sqq = win->sqq, sqx = win->sqx;
    const kv a1 = kv_div(sqx, kv_sel(kv_gt(sqq, zero), sqq, one));
    if (asym) {
        /* x ~ a q + mn by least squares, mn <= 0; nothing usable: the range
        ** over the levels, the min as is */
        const kv det = kv_sub(kv_mul(n, sqq), kv_mul(sq, sq));
        const kv t2 = kv_sub(kv_mul(sqq, s->sx), kv_mul(sq, sqx));
        const kv dd = kv_sel(kv_gt(det, zero), det, one);
        const kv a2 = kv_div(kv_sub(kv_mul(n, sqx), kv_mul(sq, s->sx)), dd);
        const km con = kv_gt(t2, zero);
        const kv a0 = kv_sel(s->ok, kv_div(s->rng, hi), zero);
        *a = kv_sel(use, kv_sel(con, a1, a2), a0);
        *mn = kv_sel(use, kv_sel(con, zero, kv_div(t2, dd)), s->off);
    } else {
        const kv a0 = kv_sel(s->ok, kv_div(kv_neg(s->rng), lo), zero);
        *a = kv_sel(use, a1, a0);
        *mn = zero;
    }
    win->sq = kv_sel(use, sq, zero), win->sqq = kv_sel(use, sqq, zero);
    win->sqx = kv_sel(use, sqx, zero);
}

/* f16 codes next to `target` (nearest and one each way) and `cur`, finite. */
KQ_FN int kq_f16_near(double target, uint16_t cur, uint16_t *c) {
    int n = 0;
    c[n++] = cur;
    if (!(target == target) || fabs(target) > 65504.0) return n;
    const uint16_t h = kq_to_f16((float)target);
    const int mag = h & 0x7FFF, sign = h & 0x8000;
    for (int dm = -1; dm <= 1; dm++) {
        const int m2 = mag + dm;
        if (m2 < 0 || m2 >= 0x7C00) continue;
        const uint16_t k = (uint16_t)(sign | m2);
        bool seen = false;
        for (int i = 0; i < n; i++) seen |= c[i] == k;
        if (!seen) c[n++] = k;
    }
    return n;
}

/* Step 3: D (and M) for the continuous a, mn and the winners' sums. */
KQ_FN void kq_super(const qk_kq_params *p, kv av, kv mnv, const kq_sums *win, qk_kq_block *b) {
    const bool asym = p->mmax >= 0, pair = p->nsub == 8;
    const float smin = (float)p->smin, smax = (float)p->smax;
    const float mmaxf = asym ? (float)p->mmax : 0.0f;
    float a[16], mn[16];
    kv_store(a, av), kv_store(mn, mnv);
    float amax = 0.0f, vmax = 0.0f, mmx = 0.0f;
    for (int l = 0; l < 16; l++) {
        const float m = fabsf(a[l]);
        vmax = m > amax ? a[l] : vmax;
        amax = m > amax ? m : amax;
        mmx = -mn[l] > mmx ? -mn[l] : mmx;
    }
    /* asymmetric scales are >= 0: the largest maps to smax; symmetric: the
    ** one of largest magnitude maps to smin (ggml's convention) */
    const float top = asym ? amax : vmax;
    const float range_s = asym ? smax : smin;
    b->d = kq_to_f16(amax >= QK_KQ_EPS ? top / range_s : 0.0f);
    b->dmin = asym ? kq_to_f16(mmx / mmaxf) : 0;
    /* the lanes counted once; the error of sub-block j grows by
    ** da^2 sqq - 2 da db sq + n db^2 (da, db the errors of D s, M m) */
    float wf[16];
    for (int l = 0; l < 16; l++) wf[l] = pair && l >= 8 ? 0.0f : 1.0f;
    const kv w = kv_load(wf), n = kv_set((float)p->sublen), two = kv_set(2.0f);
    const kv vsmin = kv_set(smin), vsmax = kv_set(smax), zero = kv_set(0.0f);
    const kv vmmax = kv_set(mmaxf), nmn = kv_neg(mnv);
    for (int pass = 0; pass < (asym ? 2 : 1); pass++) {
        const bool for_d = pass == 0;
        const float base = for_d ? top : mmx, levels = for_d ? range_s : mmaxf;
        if (!(fabsf(base) >= QK_KQ_EPS)) continue;
        float best = -1.0f;
        uint16_t keep = for_d ? b->d : b->dmin;
        for (int c = -KQ_SUPER_C; c <= KQ_SUPER_C; c++) {
            const uint16_t h = kq_to_f16(base / (levels + 0.25f * (float)c));
            const float D = for_d ? kq_f16(h) : kq_f16(b->d);
            const float M = asym ? (for_d ? kq_f16(b->dmin) : kq_f16(h)) : 0.0f;
            const kv vD = kv_set(D), vM = kv_set(M);
            const kv sj = kv_rc(kv_mul(av, kv_set(kq_inv(D))), vsmin, vsmax);
            const kv mj = kv_rc(kv_mul(nmn, kv_set(kq_inv(M))), zero, vmmax);
            const kv da = kv_sub(kv_mul(vD, sj), av), db = kv_add(kv_mul(vM, mj), mnv);
            const kv e = kv_add(kv_sub(kv_mul(kv_mul(da, da), win->sqq),
                                       kv_mul(kv_mul(kv_mul(two, da), db), win->sq)),
                                kv_mul(kv_mul(n, db), db));
            const float et = kv_sum(kv_mul(w, e));
            if (best < 0.0f || et < best) best = et, keep = h;
        }
        if (for_d)
            b->d = keep;
        else
            b->dmin = keep;
    }
}

/* Step 4, second half: D (and M) by least squares for the quants of u and
** the lanes' integer scales cs (and mins cm), among neighbouring f16 codes. */
KQ_FN void kq_refit_super(const qk_kq_params *p, const kq_state *s, const kq_sums *u, kv csv,
                          kv cmv, qk_kq_block *b) {
    const bool asym = p->mmax >= 0;
    const double nf = p->sublen;
    float cs[16], cm[16], sq[16], sqq[16], sqx[16], sx[16], sxxf[16];
    kv_store(cs, csv), kv_store(cm, cmv), kv_store(sq, u->sq), kv_store(sqq, u->sqq);
    kv_store(sqx, u->sqx), kv_store(sx, s->sx), kv_store(sxxf, s->sxx);
    double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0, sxx = 0;
    for (int j = 0; j < p->nsub; j++) {
        const double sj = cs[j], mj = cm[j];
        saa += sj * sj * sqq[j], sax += sj * sqx[j], sxx += sxxf[j];
        if (asym) sab += sj * mj * sq[j], sbb += mj * mj * nf, sbx += mj * sx[j];
    }
    if (!(saa > 0.0)) return;
    double Dt = sax / saa, Mt = kq_f16(b->dmin);
    const double det = saa * sbb - sab * sab;
    if (asym && sbb > 0.0 && det > 0.0) {
        Dt = (sax * sbb - sab * sbx) / det;
        Mt = (sab * sax - saa * sbx) / det;
    }
    uint16_t dc[4], mc[4];
    const int nd = kq_f16_near(Dt, b->d, dc);
    const int nm = asym ? kq_f16_near(Mt, b->dmin, mc) : (mc[0] = b->dmin, 1);
    double best = -1.0;
    uint16_t bd = b->d, bm = b->dmin;
    for (int id = 0; id < nd; id++)
        for (int im = 0; im < nm; im++) {
            const double Dc = kq_f16(dc[id]), Mc = asym ? kq_f16(mc[im]) : 0.0;
            const double e = Dc * Dc * saa - 2.0 * Dc * Mc * sab + Mc * Mc * sbb - 2.0 * Dc * sax +
                             2.0 * Mc * sbx + sxx;
            if (best < 0.0 || e < best) best = e, bd = dc[id], bm = mc[im];
        }
    b->d = bd, b->dmin = bm;
}

/* Step 4, first half: per sub-block, the current scale cs (and min cm)
** and three scales around the least-squares one for the quants of u, each
** with the min that fits it, compared by the error of their re-rounded
** quants, |x - dl q + ml|^2 from the sums; the winners into cs, cm, u. */
KQ_FN void kq_refit_subs(const qk_kq_params *p, const kq_state *s, const qk_kq_block *b, kv *cs,
                         kv *cm, kq_sums *u) {
    const bool pair = p->nsub == 8, asym = p->mmax >= 0;
    const int C = asym ? 5 : 4;
    const kv n = kv_set((float)p->sublen), zero = kv_set(0.0f), one = kv_set(1.0f);
    const kv two = kv_set(2.0f), smin = kv_set((float)p->smin), smax = kv_set((float)p->smax);
    const kv mmax = kv_set(asym ? (float)p->mmax : 0.0f);
    const kv lo = kv_set((float)p->qmin), hi = kv_set((float)p->qmax);
    const float Df = kq_f16(b->d), Mf = asym ? kq_f16(b->dmin) : 0.0f;
    const kv D = kv_set(Df), M = kv_set(Mf), iD = kv_set(kq_inv(Df)), iM = kv_set(kq_inv(Mf));
    kv ts[5], tm[5], dl[5], ml[5], idl[5], mi[5];
    ts[0] = *cs, tm[0] = *cm;
    /* the least-squares scale for the quants of u */
    const kv sq = u->sq, sqq = u->sqq, sqx = u->sqx;
    const km pq = kv_gt(sqq, zero);
    kv A = kv_sel(pq, kv_div(sqx, kv_sel(pq, sqq, one)), zero);
    if (asym) {
        const kv det = kv_sub(kv_mul(n, sqq), kv_mul(sq, sq));
        const km pd = kv_gt(det, zero);
        const kv dd = kv_sel(pd, det, one);
        const kv B = kv_div(kv_sub(kv_mul(sq, sqx), kv_mul(sqq, s->sx)), dd);
        const kv A2 = kv_div(kv_sub(kv_mul(n, sqx), kv_mul(sq, s->sx)), dd);
        A = kv_sel(km_and(pd, kv_ge(B, zero)), A2, A);
    }
    const kv f = kv_rc(kv_mul(A, iD), smin, smax);
    if (asym) {
        /* no min: the scale of the least-squares fit through 0 */
        ts[4] = kv_rc(kv_mul(kv_sel(pq, kv_div(sqx, kv_sel(pq, sqq, one)), zero), iD), smin, smax);
        tm[4] = zero;
    }
    for (int c = 1; c < 4; c++) {
        ts[c] = kv_rc(kv_add(f, kv_set((float)(c - 2))), smin, smax);
        /* the min that fits scale ts[c] for the quants of u */
        const kv mlt = kv_div(kv_sub(kv_mul(kv_mul(D, ts[c]), sq), s->sx), n);
        tm[c] = kv_rc(kv_mul(mlt, iM), zero, mmax);
    }
    kq_sums o[5];
    for (int c = 0; c < C; c++) {
        dl[c] = kv_mul(D, ts[c]), ml[c] = kv_mul(M, tm[c]);
        const km nz = kv_ne(dl[c], zero);
        idl[c] = kv_sel(nz, kv_div(one, kv_sel(nz, dl[c], one)), zero);
        mi[c] = kv_mul(ml[c], idl[c]);
        o[c].sq = zero, o[c].sqq = zero, o[c].sqx = zero;
    }
    for (int i = 0; i < 16; i++) {
        const kv v = s->X[i];
        for (int c = 0; c < C; c++) {
            const kv q = kv_rc(kv_fma(v, idl[c], mi[c]), lo, hi);
            o[c].sq = kv_add(o[c].sq, q);
            o[c].sqq = kv_fma(q, q, o[c].sqq);
            o[c].sqx = kv_fma(q, v, o[c].sqx);
        }
    }
    kv best = zero;
    for (int c = 0; c < C; c++) {
        o[c].sq = kv_comb(pair, o[c].sq), o[c].sqq = kv_comb(pair, o[c].sqq);
        o[c].sqx = kv_comb(pair, o[c].sqx);
        const kv d = dl[c], m = ml[c];
        const kv e = kv_sub(
            kv_sub(kv_add(kv_add(s->sxx, kv_mul(kv_mul(d, d), o[c].sqq)), kv_mul(kv_mul(n, m), m)),
                   kv_sub(kv_mul(kv_mul(two, d), o[c].sqx), kv_mul(kv_mul(two, m), s->sx))),
            kv_mul(kv_mul(kv_mul(two, d), m), o[c].sq));
        if (c == 0) {
            best = e, *u = o[0];
            continue;
        }
        const km better = kv_lt(e, best);
        best = kv_sel(better, e, best);
        *cs = kv_sel(better, ts[c], *cs), *cm = kv_sel(better, tm[c], *cm);
        u->sq = kv_sel(better, o[c].sq, u->sq), u->sqq = kv_sel(better, o[c].sqq, u->sqq);
        u->sqx = kv_sel(better, o[c].sqx, u->sqx);
    }
}

/* Step 5: the quants for the block's scales, in element order. */
KQ_FN void kq_final_quants(const qk_kq_params *p, const float *x, kv csv, kv cmv, qk_kq_block *b) {
    const bool pair = p->nsub == 8, asym = p->mmax >= 0;
    const float D = kq_f16(b->d), M = asym ? kq_f16(b->dmin) : 0.0f;
    float cs[16], cm[16];
    kv_store(cs, csv), kv_store(cm, cmv);
    const kv lo = kv_set((float)p->qmin), hi = kv_set((float)p->qmax);
    for (int r = 0; r < 16; r++) {
        const int l = pair ? (r % 2) * 8 + r / 2 : r;
        const float dl = D * cs[l], ml = M * cm[l];
        const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
        const kv q = kv_rc(kv_fma(kv_load(x + 16 * r), kv_set(idl), kv_set(ml * idl)), lo, hi);
        kv_bytes(kv_sub(q, lo), b->v + 16 * r);
    }
    for (int j = 0; j < p->nsub; j++) b->s[j] = (int)cs[j], b->m[j] = (int)cm[j];
}

/* The whole block. */
KQ_FN void kq_quantize_block(const qk_kq_params *p, const float *x, qk_kq_block *b) {
    const bool asym = p->mmax >= 0;
    kq_state s;
    kv a, mn;
    kq_sums u;
    b->d = 0, b->dmin = 0;
    kq_load(p, x, &s);
    kq_stats(p, &s);
    kq_search(p, &s, &a, &mn, &u);
    kq_super(p, a, mn, &u, b);
    const float D0 = kq_f16(b->d), M0 = asym ? kq_f16(b->dmin) : 0.0f;
    const kv zero = kv_set(0.0f);
    kv cs = kv_rc(kv_mul(a, kv_set(kq_inv(D0))), kv_set((float)p->smin), kv_set((float)p->smax));
    kv cm =
        asym ? kv_rc(kv_mul(kv_neg(mn), kv_set(kq_inv(M0))), zero, kv_set((float)p->mmax)) : zero;
    for (int round = 0; round < QK_KQ_ROUNDS; round++) {
        const float D = kq_f16(b->d), M = asym ? kq_f16(b->dmin) : 0.0f;
        if (!(D != 0.0f) || !isfinite(D) || !isfinite(M)) break;
        kq_refit_subs(p, &s, b, &cs, &cm, &u);
        kq_refit_super(p, &s, &u, cs, cm, b);
    }
    kq_final_quants(p, x, cs, cm, b);
}

/* ---- packing ------------------------------------------------------------- */

KQ_FN void kq_pack_scales_k4(uint8_t *q, const int *ls, const int *lm) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
    }
}

/* 2-bit fields: out[32 h + l] holds v[128 h + 32 k + l] & 3 at bit 2 k. */
KQ_FN void kq_pack2(const uint8_t *v, uint8_t *out) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *w = v + 128 * h + l;
            out[32 * h + l] = (uint8_t)((w[0] & 3) | ((w[32] & 3) << 2) | ((w[64] & 3) << 4) |
                                        ((w[96] & 3) << 6));
        }
}

/* 4-bit fields: out[32 g + l] holds v[64 g + l] and v[64 g + 32 + l]. */
KQ_FN void kq_pack4(const uint8_t *v, uint8_t *out) {
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++)
            out[32 * g + l] = (uint8_t)((v[64 * g + l] & 0xF) | ((v[64 * g + 32 + l] & 0xF) << 4));
}

/* One bit per value: bit k of out[l] is bit `bit` of v[32 k + l]. */
KQ_FN void kq_pack_bits(const uint8_t *v, int bit, uint8_t *out) {
    for (int l = 0; l < 32; l++) {
        unsigned h = 0;
        for (int k = 0; k < 8; k++) h |= (unsigned)((v[32 * k + l] >> bit) & 1) << k;
        out[l] = (uint8_t)h;
    }
}

/* Pack a block into the type's bytes (ggml's layouts). */
KQ_FN void kq_pack(qk_type type, const qk_kq_block *b, void *dst) {
    const uint8_t *v = b->v;
    switch (type) {
    case QK_TYPE_Q4_K: {
        qk_block_q4_k *y = dst;
        y->d = b->d, y->dmin = b->dmin;
        kq_pack_scales_k4(y->scales, b->s, b->m);
        kq_pack4(v, y->qs);
        return;
    }
    case QK_TYPE_Q5_K: {
        qk_block_q5_k *y = dst;
        y->d = b->d, y->dmin = b->dmin;
        kq_pack_scales_k4(y->scales, b->s, b->m);
        kq_pack4(v, y->qs);
        kq_pack_bits(v, 4, y->qh);
        return;
    }
    case QK_TYPE_Q2_K: {
        qk_block_q2_k *y = dst;
        y->d = b->d, y->dmin = b->dmin;
        for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(b->s[j] | (b->m[j] << 4));
        kq_pack2(v, y->qs);
        return;
    }
    case QK_TYPE_Q3_K: {
        qk_block_q3_k *y = dst;
        y->d = b->d;
        memset(y->scales, 0, sizeof y->scales);
        for (int j = 0; j < 16; j++) {
            const int l = b->s[j] + 32;
            if (j < 8)
                y->scales[j] = (uint8_t)(l & 0xF);
            else
                y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
            y->scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
        }
        kq_pack2(v, y->qs);
        kq_pack_bits(v, 2, y->hmask);
        return;
    }
    case QK_TYPE_Q6_K: {
        qk_block_q6_k *y = dst;
        y->d = b->d;
        for (int j = 0; j < 16; j++) y->scales[j] = (int8_t)b->s[j];
        for (int h = 0; h < 2; h++) {
            const uint8_t *L = v + 128 * h;
            uint8_t *ql = y->ql + 64 * h, *qh = y->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                const int q1 = L[l], q2 = L[l + 32], q3 = L[l + 64], q4 = L[l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] =
                    (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
        return;
    }
    default:
        return;
    }
}

/* A row of n (a multiple of 256) values. */
KQ_FN void kq_quantize_row(const qk_kq_params *p, qk_type type, const float *x, void *dst,
                           int64_t n) {
    const size_t bytes = (size_t)qk_type_get_traits(type)->block_bytes;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        qk_kq_block b;
        kq_quantize_block(p, x + i * QK_GGML_QK_K, &b);
        kq_pack(type, &b, (unsigned char *)dst + (size_t)i * bytes);
    }
}

#endif
