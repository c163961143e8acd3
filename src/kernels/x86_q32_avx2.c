/*
** AVX2 (with FMA, F16C) quantizers and dequantizers of the 32-element block
** formats and the float types, and the 32-element activation quantizer.
** Same rules as x86_q32_avx512.c: the reference's float operations in its
** order, one block (four 8-lane vectors) at a time, no fused multiply-add;
** roundf as trunc(v + copysign(0.5 - 2^-25, v)).
*/
#include <immintrin.h>

#include "kernels/kernels_internal.h"

/* ---- helpers ------------------------------------------------------------ */

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
static inline float hmin8(__m256 v) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
static inline int hsum8_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

static inline __m256 abs8(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

/* One block as four vectors. */
typedef struct blk32 {
    __m256 v[4];
} blk32;

static inline blk32 load_blk(const float *x) {
    blk32 b;
    for (int k = 0; k < 4; k++) b.v[k] = _mm256_loadu_ps(x + 8 * k);
    return b;
}

static inline float absmax_blk(const blk32 *b) {
    const __m256 m = _mm256_max_ps(_mm256_max_ps(abs8(b->v[0]), abs8(b->v[1])),
                                   _mm256_max_ps(abs8(b->v[2]), abs8(b->v[3])));
    return hmax8(m);
}

/* The value of largest magnitude, the first on ties; +0 for all zeros. */
static inline float signed_absmax_blk(const float *xb, const blk32 *b) {
    const float amax = absmax_blk(b);
    if (amax == 0.0f) return 0.0f;
    const __m256 m = _mm256_set1_ps(amax);
    uint32_t k = 0;
    for (int i = 0; i < 4; i++)
        k |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(abs8(b->v[i]), m, _CMP_EQ_OQ)) << (8 * i);
    return xb[__builtin_ctz(k)];
}

static inline uint16_t f32_to_f16(float v) {
    return (uint16_t)_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* roundf(v) as int32 when the result is in [-128, 127], else 0. */
static inline __m256i round_i8(__m256 v) {
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 t = _mm256_add_ps(v, _mm256_or_ps(_mm256_set1_ps(0.49999997f), sign));
    const __m256 r = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(r, _mm256_set1_ps(-128.0f), _CMP_GE_OQ),
                                    _mm256_cmp_ps(r, _mm256_set1_ps(127.0f), _CMP_LE_OQ));
    return _mm256_and_si256(_mm256_cvttps_epi32(r), _mm256_castps_si256(ok));
}

/* (int)v for v in [0, 128), else 0. */
static inline __m256i trunc_small(__m256 v) {
    const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ),
                                    _mm256_cmp_ps(v, _mm256_set1_ps(128.0f), _CMP_LT_OQ));
    return _mm256_and_si256(_mm256_cvttps_epi32(v), _mm256_castps_si256(ok));
}

/* Four vectors of int32 in [-128, 255] to 32 bytes in element order. */
static inline __m256i pack32(const __m256i *q) {
    const __m256i a = _mm256_packs_epi32(q[0], q[1]); /* 0-3 8-11 4-7 12-15 (per lane) */
    const __m256i b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i c = _mm256_packs_epi16(a, b);
    return _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* ---- quantization ------------------------------------------------------- */

static void quantize_q8_0(const float *x, void *dst, int64_t n) {
    qk_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        const blk32 v = load_blk(x + b * QK_GGML_QK);
        const float d = absmax_blk(&v) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = f32_to_f16(d);
        memcpy(&y[b].d, &h, 2);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = round_i8(_mm256_mul_ps(v.v[k], vid));
        _mm256_storeu_si256((__m256i *)y[b].qs, pack32(q));
    }
}

void qk_kernels_avx2_quantize_act32(const float *x, void *act, int64_t n) {
    const int64_t nb = n / QK_GGML_QK, G = qk_act32_groups(n);
    unsigned char *qs = act;
    for (int64_t b = 0; b < nb; b++) {
        const blk32 v = load_blk(x + b * QK_GGML_QK);
        const float d = absmax_blk(&v) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = round_i8(_mm256_mul_ps(v.v[k], vid));
        const __m256i packed = pack32(q);
        unsigned char *p = qs + qk_act32_offset(b, 0);
        _mm_storeu_si128((__m128i *)p, _mm256_castsi256_si128(packed));
        _mm_storeu_si128((__m128i *)(p + 64), _mm256_extracti128_si256(packed, 1));
        *qk_act32_d(act, b) = d;
        *qk_act32_sum(act, b) = hsum8_epi32(
            _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    }
    for (int64_t b = nb; b < 4 * G; b++) {
        unsigned char *p = qs + qk_act32_offset(b, 0);
        memset(p, 0, 16);
        memset(p + 64, 0, 16);
        *qk_act32_d(act, b) = 0.0f;
        *qk_act32_sum(act, b) = 0;
    }
    qk_act32_finish(act, n);
}

/* Q4_0 (nmax 8) / Q5_0 (16): q = min(qmax, trunc(x id + nmax + 0.5)). */
static inline uint16_t quantize_sym(const float *xb, float nmax, int qmax, __m256i *q) {
    const blk32 v = load_blk(xb);
    const float d = signed_absmax_blk(xb, &v) / -nmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id), off = _mm256_set1_ps(nmax + 0.5f);
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_min_epi32(_mm256_set1_epi32(qmax),
                                trunc_small(_mm256_add_ps(_mm256_mul_ps(v.v[k], vid), off)));
    return f32_to_f16(d);
}

/* Q4_1 (15) / Q5_1 (31): q = min(qmax, trunc((x - min) id + 0.5)). */
static inline void quantize_asym(const float *xb, int qmax, uint16_t *hd, uint16_t *hm,
                                 __m256i *q) {
    const blk32 v = load_blk(xb);
    const float mn =
        hmin8(_mm256_min_ps(_mm256_min_ps(v.v[0], v.v[1]), _mm256_min_ps(v.v[2], v.v[3])));
    const float mx =
        hmax8(_mm256_max_ps(_mm256_max_ps(v.v[0], v.v[1]), _mm256_max_ps(v.v[2], v.v[3])));
    const float d = (mx - mn) / (float)qmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *hd = f32_to_f16(d);
    *hm = f32_to_f16(mn);
    const __m256 vid = _mm256_set1_ps(id), vmn = _mm256_set1_ps(mn), h = _mm256_set1_ps(0.5f);
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_min_epi32(
            _mm256_set1_epi32(qmax),
            trunc_small(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v.v[k], vmn), vid), h)));
}

/* Byte j: quant j low nibble, quant j + 16 high nibble. */
static inline void store_nibbles(uint8_t *qs, const __m256i *q) {
    const __m256i p = pack32(q);
    const __m128i lo = _mm_and_si128(_mm256_castsi256_si128(p), _mm_set1_epi8(15));
    const __m128i hi = _mm_and_si128(_mm256_extracti128_si256(p, 1), _mm_set1_epi8(15));
    _mm_storeu_si128((__m128i *)qs, _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
}

static inline void store_high_bits(uint8_t *qh, const __m256i *q) {
    const __m256i p = pack32(q);
    const uint32_t h = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(p, 3)); /* bit 4 -> 7 */
    memcpy(qh, &h, 4);
}

static void quantize_q4_0(const float *x, void *dst, int64_t n) {
    qk_block_q4_0 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        __m256i q[4];
        const uint16_t h = quantize_sym(x + b * QK_GGML_QK, 8.0f, 15, q);
        memcpy(&y[b].d, &h, 2);
        store_nibbles(y[b].qs, q);
    }
}

static void quantize_q5_0(const float *x, void *dst, int64_t n) {
    qk_block_q5_0 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        __m256i q[4];
        const uint16_t h = quantize_sym(x + b * QK_GGML_QK, 16.0f, 31, q);
        memcpy(&y[b].d, &h, 2);
        store_nibbles(y[b].qs, q);
        store_high_bits(y[b].qh, q);
    }
}

static void quantize_q4_1(const float *x, void *dst, int64_t n) {
    qk_block_q4_1 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        __m256i q[4];
        uint16_t hd, hm;
        quantize_asym(x + b * QK_GGML_QK, 15, &hd, &hm, q);
        memcpy(&y[b].d, &hd, 2);
        memcpy(&y[b].m, &hm, 2);
        store_nibbles(y[b].qs, q);
    }
}

static void quantize_q5_1(const float *x, void *dst, int64_t n) {
    qk_block_q5_1 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        __m256i q[4];
        uint16_t hd, hm;
        quantize_asym(x + b * QK_GGML_QK, 31, &hd, &hm, q);
        memcpy(&y[b].d, &hd, 2);
        memcpy(&y[b].m, &hm, 2);
        store_nibbles(y[b].qs, q);
        store_high_bits(y[b].qh, q);
    }
}

/* ---- dequantization ----------------------------------------------------- */

/* The 32 quants of a 4-bit block as four vectors of int32, element order. */
static inline void nibbles32(const uint8_t *qs, __m256i *q) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs);
    const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(15));
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15));
    q[0] = _mm256_cvtepu8_epi32(lo);
    q[1] = _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8));
    q[2] = _mm256_cvtepu8_epi32(hi);
    q[3] = _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8));
}

static inline void high_bits32(const uint8_t *qh, __m256i *q) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    for (int k = 0; k < 4; k++) {
        const __m256i hb = _mm256_and_si256(_mm256_set1_epi32((int)((h >> (8 * k)) & 0xFF)), bit);
        q[k] = _mm256_add_epi32(
            q[k], _mm256_and_si256(_mm256_cmpeq_epi32(hb, bit), _mm256_set1_epi32(16)));
    }
}

static inline float load_f16(const void *p) {
    return _cvtsh_ss(qk_k_load_u16(p));
}

static void dequantize_q4_0(const void *src, float *y, int64_t n) {
    const qk_block_q4_0 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m256 d = _mm256_set1_ps(load_f16(&x[b].d));
        __m256i q[4];
        nibbles32(x[b].qs, q);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(
                y + 8 * k,
                _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q[k], _mm256_set1_epi32(8))), d));
    }
}

static void dequantize_q5_0(const void *src, float *y, int64_t n) {
    const qk_block_q5_0 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m256 d = _mm256_set1_ps(load_f16(&x[b].d));
        __m256i q[4];
        nibbles32(x[b].qs, q);
        high_bits32(x[b].qh, q);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(
                y + 8 * k,
                _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q[k], _mm256_set1_epi32(16))),
                              d));
    }
}

static void dequantize_q4_1(const void *src, float *y, int64_t n) {
    const qk_block_q4_1 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m256 d = _mm256_set1_ps(load_f16(&x[b].d)), m = _mm256_set1_ps(load_f16(&x[b].m));
        __m256i q[4];
        nibbles32(x[b].qs, q);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(y + 8 * k,
                             _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q[k]), d), m));
    }
}

static void dequantize_q5_1(const void *src, float *y, int64_t n) {
    const qk_block_q5_1 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m256 d = _mm256_set1_ps(load_f16(&x[b].d)), m = _mm256_set1_ps(load_f16(&x[b].m));
        __m256i q[4];
        nibbles32(x[b].qs, q);
        high_bits32(x[b].qh, q);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(y + 8 * k,
                             _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q[k]), d), m));
    }
}

static void dequantize_q8_0(const void *src, float *y, int64_t n) {
    const qk_block_q8_0 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m256 d = _mm256_set1_ps(load_f16(&x[b].d));
        for (int k = 0; k < 4; k++) {
            const __m256i q =
                _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x[b].qs + 8 * k)));
            _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

static void dequantize_iq4_nl(const void *src, float *y, int64_t n) {
    const qk_block_iq4_nl *x = src;
    const __m128i table = _mm_loadu_si128((const __m128i *)qk_iq4nl_values);
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m256 d = _mm256_set1_ps(load_f16(&x[b].d));
        const __m128i v = _mm_loadu_si128((const __m128i *)x[b].qs);
        const __m128i lo = _mm_shuffle_epi8(table, _mm_and_si128(v, _mm_set1_epi8(15)));
        const __m128i hi =
            _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15)));
        const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(y + 8 * k,
                             _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k]))));
    }
}

static void dequantize_f16(const void *src, float *y, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) y[i] = _cvtsh_ss(h[i]);
}

static void dequantize_bf16(const void *src, float *y, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++) y[i] = qk_bf16_to_f32(h[i]);
}

void qk_kernels_fill_avx2(qk_kernel_ops *t) {
    t[QK_TYPE_Q4_0].quantize_row = quantize_q4_0;
    t[QK_TYPE_Q4_1].quantize_row = quantize_q4_1;
    t[QK_TYPE_Q5_0].quantize_row = quantize_q5_0;
    t[QK_TYPE_Q5_1].quantize_row = quantize_q5_1;
    t[QK_TYPE_Q8_0].quantize_row = quantize_q8_0;
    t[QK_TYPE_Q4_0].dequantize_row = dequantize_q4_0;
    t[QK_TYPE_Q4_1].dequantize_row = dequantize_q4_1;
    t[QK_TYPE_Q5_0].dequantize_row = dequantize_q5_0;
    t[QK_TYPE_Q5_1].dequantize_row = dequantize_q5_1;
    t[QK_TYPE_Q8_0].dequantize_row = dequantize_q8_0;
    t[QK_TYPE_IQ4_NL].dequantize_row = dequantize_iq4_nl;
    t[QK_TYPE_F16].dequantize_row = dequantize_f16;
    t[QK_TYPE_BF16].dequantize_row = dequantize_bf16;
    const qk_type q32[] = {QK_TYPE_Q4_0, QK_TYPE_Q4_1, QK_TYPE_Q5_0,
                           QK_TYPE_Q5_1, QK_TYPE_Q8_0, QK_TYPE_IQ4_NL};
    for (size_t i = 0; i < sizeof q32 / sizeof q32[0]; i++)
        t[q32[i]].quantize_act = qk_kernels_avx2_quantize_act32;
}
