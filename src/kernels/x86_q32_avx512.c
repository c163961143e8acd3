/*
** AVX-512 (F, BW, VL, DQ, VNNI) kernels of the 32-element block formats and
** the float types. Compiled with the AVX-512 flags (file name); called only
** after qk_isa_get() / qk_kernels_get() found the features.
**
** Quantizers reproduce the reference bytes: the same float operations in
** the same order, one block at a time (no fused multiply-add), roundf's
** ties-away rounding as trunc(v + copysign(0.5 - 2^-25, v)), which equals
** roundf for every float (checked exhaustively while writing this, and by
** the tests on ties and their neighbours).
**
** Dot products with activation rows (kernels_internal.h's layout), per
** group of 4 blocks: the 64 low and 64 high 4-bit (or 8-bit) weights are
** gathered with one byte permute, made unsigned (Q8_0: w + 128; IQ4_NL: its
** codebook + 128), multiplied with the activation quants by VPDPBUSD into
** 4 int32 lanes per block, the offset times the block's activation sum is
** subtracted in integers (exact), and each lane is scaled by the block's
** d_w * d_x in f32. The minimum terms of Q4_1/Q5_1 are one f32 product per
** block, 16 blocks at a time.
*/
#include <immintrin.h>

#include "kernels/kernels_internal.h"

/* ---- quantization ------------------------------------------------------- */

/* roundf(v) as int32 for |round(v)| <= 127 or -128, else 0 (qk_k_round_i8). */
static inline __m512i round_i8(__m512 v) {
    const __m512 half = _mm512_set1_ps(0.49999997f); /* 0.5 - 2^-25 */
    const __m512 sign = _mm512_and_ps(v, _mm512_set1_ps(-0.0f));
    const __m512 t = _mm512_add_ps(v, _mm512_or_ps(half, sign));
    const __m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 ok = _mm512_cmp_ps_mask(r, _mm512_set1_ps(-128.0f), _CMP_GE_OQ) &
                         _mm512_cmp_ps_mask(r, _mm512_set1_ps(127.0f), _CMP_LE_OQ);
    return _mm512_maskz_cvttps_epi32(ok, r);
}

/* qk_k_trunc_small: (int)v for v in [0, 128), else 0. */
static inline __m512i trunc_small(__m512 v) {
    const __mmask16 ok = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ) &
                         _mm512_cmp_ps_mask(v, _mm512_set1_ps(128.0f), _CMP_LT_OQ);
    return _mm512_maskz_cvttps_epi32(ok, v);
}

static inline uint16_t f32_to_f16(float v) {
    return (uint16_t)_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static inline float absmax32(__m512 a, __m512 c) {
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(c)));
}

/* The value of largest magnitude, the first one on ties (ggml's loop with a
** strict comparison); +0 for an all-zero block. */
static inline float signed_absmax32(const float *xb, __m512 a, __m512 c) {
    const float amax = absmax32(a, c);
    if (amax == 0.0f) return 0.0f;
    const __m512 m = _mm512_set1_ps(amax);
    const uint32_t k = (uint32_t)_mm512_cmp_ps_mask(_mm512_abs_ps(a), m, _CMP_EQ_OQ) |
                       (uint32_t)_mm512_cmp_ps_mask(_mm512_abs_ps(c), m, _CMP_EQ_OQ) << 16;
    return xb[__builtin_ctz(k)];
}

static void quantize_q8_0(const float *x, void *dst, int64_t n) {
    qk_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        const float *xb = x + b * QK_GGML_QK;
        const __m512 a = _mm512_loadu_ps(xb), c = _mm512_loadu_ps(xb + 16);
        const float d = absmax32(a, c) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = f32_to_f16(d);
        memcpy(&y[b].d, &h, 2);
        const __m512 vid = _mm512_set1_ps(id);
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtepi32_epi8(round_i8(_mm512_mul_ps(a, vid))));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16),
                         _mm512_cvtepi32_epi8(round_i8(_mm512_mul_ps(c, vid))));
    }
}

void qk_kernels_avx512_quantize_act32(const float *x, void *act, int64_t n) {
    const int64_t nb = n / QK_GGML_QK, G = qk_act32_groups(n);
    unsigned char *qs = act;
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + b * QK_GGML_QK;
        const __m512 a = _mm512_loadu_ps(xb), c = _mm512_loadu_ps(xb + 16);
        const float d = absmax32(a, c) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        const __m512i qa = round_i8(_mm512_mul_ps(a, vid)), qc = round_i8(_mm512_mul_ps(c, vid));
        unsigned char *p = qs + qk_act32_offset(b, 0);
        _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(qa));
        _mm_storeu_si128((__m128i *)(p + 64), _mm512_cvtepi32_epi8(qc));
        *qk_act32_d(act, b) = d;
        *qk_act32_sum(act, b) = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qc));
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

/* Q4_0 (nmax 8) and Q5_0 (nmax 16): d = max / -nmax, q = trunc(x id + nmax + .5). */
static inline void quantize_sym(const float *xb, float nmax, int qmax, uint16_t *hd, __m512i *qa,
                                __m512i *qc) {
    const __m512 a = _mm512_loadu_ps(xb), c = _mm512_loadu_ps(xb + 16);
    const float d = signed_absmax32(xb, a, c) / -nmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *hd = f32_to_f16(d);
    const __m512 vid = _mm512_set1_ps(id), off = _mm512_set1_ps(nmax + 0.5f);
    const __m512i top = _mm512_set1_epi32(qmax);
    *qa = _mm512_min_epi32(top, trunc_small(_mm512_add_ps(_mm512_mul_ps(a, vid), off)));
    *qc = _mm512_min_epi32(top, trunc_small(_mm512_add_ps(_mm512_mul_ps(c, vid), off)));
}

/* Q4_1 (15) and Q5_1 (31): d = (max - min) / qmax, q = trunc((x - min) id + .5). */
static inline void quantize_asym(const float *xb, int qmax, uint16_t *hd, uint16_t *hm, __m512i *qa,
                                 __m512i *qc) {
    const __m512 a = _mm512_loadu_ps(xb), c = _mm512_loadu_ps(xb + 16);
    const float mn = _mm512_reduce_min_ps(_mm512_min_ps(a, c));
    const float mx = _mm512_reduce_max_ps(_mm512_max_ps(a, c));
    const float d = (mx - mn) / (float)qmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *hd = f32_to_f16(d);
    *hm = f32_to_f16(mn);
    const __m512 vid = _mm512_set1_ps(id), vmn = _mm512_set1_ps(mn), h = _mm512_set1_ps(0.5f);
    const __m512i top = _mm512_set1_epi32(qmax);
    *qa = _mm512_min_epi32(
        top, trunc_small(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(a, vmn), vid), h)));
    *qc = _mm512_min_epi32(
        top, trunc_small(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(c, vmn), vid), h)));
}

static inline void store_nibbles(uint8_t *qs, __m512i qa, __m512i qc) {
    const __m512i lo = _mm512_and_si512(qa, _mm512_set1_epi32(15));
    const __m512i hi = _mm512_slli_epi32(_mm512_and_si512(qc, _mm512_set1_epi32(15)), 4);
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtepi32_epi8(_mm512_or_si512(lo, hi)));
}

static inline void store_high_bits(uint8_t *qh, __m512i qa, __m512i qc) {
    const __m512i sixteen = _mm512_set1_epi32(16);
    const uint32_t h = (uint32_t)_mm512_cmpge_epi32_mask(qa, sixteen) |
                       (uint32_t)_mm512_cmpge_epi32_mask(qc, sixteen) << 16;
    memcpy(qh, &h, 4);
}

static void quantize_q4_0(const float *x, void *dst, int64_t n) {
    qk_block_q4_0 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        __m512i qa, qc;
        uint16_t hd;
        quantize_sym(x + b * QK_GGML_QK, 8.0f, 15, &hd, &qa, &qc);
        memcpy(&y[b].d, &hd, 2);
        store_nibbles(y[b].qs, qa, qc);
    }
}

static void quantize_q5_0(const float *x, void *dst, int64_t n) {
    qk_block_q5_0 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        __m512i qa, qc;
        uint16_t hd;
        quantize_sym(x + b * QK_GGML_QK, 16.0f, 31, &hd, &qa, &qc);
        memcpy(&y[b].d, &hd, 2);
        store_nibbles(y[b].qs, qa, qc);
        store_high_bits(y[b].qh, qa, qc);
    }
}

static void quantize_q4_1(const float *x, void *dst, int64_t n) {
    qk_block_q4_1 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        __m512i qa, qc;
        uint16_t hd, hm;
        quantize_asym(x + b * QK_GGML_QK, 15, &hd, &hm, &qa, &qc);
        memcpy(&y[b].d, &hd, 2);
        memcpy(&y[b].m, &hm, 2);
        store_nibbles(y[b].qs, qa, qc);
    }
}

static void quantize_q5_1(const float *x, void *dst, int64_t n) {
    qk_block_q5_1 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        __m512i qa, qc;
        uint16_t hd, hm;
        quantize_asym(x + b * QK_GGML_QK, 31, &hd, &hm, &qa, &qc);
        memcpy(&y[b].d, &hd, 2);
        memcpy(&y[b].m, &hm, 2);
        store_nibbles(y[b].qs, qa, qc);
        store_high_bits(y[b].qh, qa, qc);
    }
}

/* ---- dequantization ----------------------------------------------------- */

static inline float load_f16(const void *p) {
    return _cvtsh_ss(qk_k_load_u16(p));
}

/* The 32 quants of a 4-bit block as int32: elements 0..15 and 16..31. */
static inline void nibbles32(const uint8_t *qs, __m512i *lo, __m512i *hi) {
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qs));
    *lo = _mm512_and_si512(v, _mm512_set1_epi32(15));
    *hi = _mm512_srli_epi32(v, 4);
}

/* Add 16 to the quants whose bit is set in the block's qh. */
static inline void high_bits32(const uint8_t *qh, __m512i *lo, __m512i *hi) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m512i sixteen = _mm512_set1_epi32(16);
    *lo = _mm512_mask_add_epi32(*lo, (__mmask16)(h & 0xFFFF), *lo, sixteen);
    *hi = _mm512_mask_add_epi32(*hi, (__mmask16)(h >> 16), *hi, sixteen);
}

static void dequantize_q4_0(const void *src, float *y, int64_t n) {
    const qk_block_q4_0 *x = src;
    const __m512i eight = _mm512_set1_epi32(8);
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m512 d = _mm512_set1_ps(load_f16(&x[b].d));
        __m512i lo, hi;
        nibbles32(x[b].qs, &lo, &hi);
        _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(lo, eight)), d));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(hi, eight)), d));
    }
}

static void dequantize_q4_1(const void *src, float *y, int64_t n) {
    const qk_block_q4_1 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m512 d = _mm512_set1_ps(load_f16(&x[b].d)), m = _mm512_set1_ps(load_f16(&x[b].m));
        __m512i lo, hi;
        nibbles32(x[b].qs, &lo, &hi);
        _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo), d), m));
        _mm512_storeu_ps(y + 16, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), d), m));
    }
}

static void dequantize_q5_0(const void *src, float *y, int64_t n) {
    const qk_block_q5_0 *x = src;
    const __m512i sixteen = _mm512_set1_epi32(16);
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m512 d = _mm512_set1_ps(load_f16(&x[b].d));
        __m512i lo, hi;
        nibbles32(x[b].qs, &lo, &hi);
        high_bits32(x[b].qh, &lo, &hi);
        _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(lo, sixteen)), d));
        _mm512_storeu_ps(y + 16,
                         _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(hi, sixteen)), d));
    }
}

static void dequantize_q5_1(const void *src, float *y, int64_t n) {
    const qk_block_q5_1 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m512 d = _mm512_set1_ps(load_f16(&x[b].d)), m = _mm512_set1_ps(load_f16(&x[b].m));
        __m512i lo, hi;
        nibbles32(x[b].qs, &lo, &hi);
        high_bits32(x[b].qh, &lo, &hi);
        _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo), d), m));
        _mm512_storeu_ps(y + 16, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), d), m));
    }
}

static void dequantize_q8_0(const void *src, float *y, int64_t n) {
    const qk_block_q8_0 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m512 d = _mm512_set1_ps(load_f16(&x[b].d));
        const __m512i lo = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)x[b].qs));
        const __m512i hi = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(x[b].qs + 16)));
        _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d));
    }
}

static void dequantize_iq4_nl(const void *src, float *y, int64_t n) {
    const qk_block_iq4_nl *x = src;
    const __m512i table = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qk_iq4nl_values));
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += 32) {
        const __m512 d = _mm512_set1_ps(load_f16(&x[b].d));
        __m512i lo, hi;
        nibbles32(x[b].qs, &lo, &hi);
        lo = _mm512_permutexvar_epi32(lo, table);
        hi = _mm512_permutexvar_epi32(hi, table);
        _mm512_storeu_ps(y, _mm512_mul_ps(d, _mm512_cvtepi32_ps(lo)));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(hi)));
    }
}

static void dequantize_f16(const void *src, float *y, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
    for (; i < n; i++) y[i] = _cvtsh_ss(h[i]);
}

static void dequantize_bf16(const void *src, float *y, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(h + i)));
        _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
    for (; i < n; i++) y[i] = qk_bf16_to_f32(h[i]);
}

void qk_kernels_fill_avx512(qk_kernel_ops *t) {
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
        t[q32[i]].quantize_act = qk_kernels_avx512_quantize_act32;
}
