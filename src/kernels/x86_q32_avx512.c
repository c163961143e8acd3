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

static inline void quantize16_q8_0(const float *x, qk_block_q8_0 *y);

/* Rows are quantized in order (qk_kernels_quantize_rows gives each thread
** runs of consecutive rows), and each row is read first by the finiteness
** check: while a row is quantized, the same 2 KB of the next row are
** fetched into L2, so that memory is read while this row is computed. */
static inline void prefetch_next_row(const float *x, int64_t n) {
    const char *p = (const char *)(x + n);
    for (int k = 0; k < 16 * QK_GGML_QK * 4; k += 64) _mm_prefetch(p + k, _MM_HINT_T1);
}

static void quantize_q8_0(const float *x, void *dst, int64_t n) {
    qk_block_q8_0 *y = dst;
    int64_t b = 0;
    for (; b + 16 <= n / QK_GGML_QK; b += 16) {
        prefetch_next_row(x + b * QK_GGML_QK, n);
        quantize16_q8_0(x + b * QK_GGML_QK, y + b);
    }
    for (; b < n / QK_GGML_QK; b++) {
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

/* Whether x[0..n) is finite with every |x_i| <= the float whose bits are
** lim (dispatch.c's row check, 64 values per step): the largest |x| bit
** pattern as an unsigned integer (for non-negative floats the integer
** order is the float order; Inf and NaN are above every finite limit).
** It is the first read of a row in qk_kernels_quantize_rows: 2 KB ahead
** into L2. */
bool qk_kernels_avx512_row_clean(const float *x, int64_t n, uint32_t lim) {
    const __m512i abs = _mm512_set1_epi32(0x7FFFFFFF);
    __m512i m0 = _mm512_setzero_si512(), m1 = m0, m2 = m0, m3 = m0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int k = 0; k < 256; k += 64)
            _mm_prefetch((const char *)(x + i + 512) + k, _MM_HINT_T1);
        m0 = _mm512_max_epu32(m0, _mm512_and_si512(_mm512_loadu_si512(x + i), abs));
        m1 = _mm512_max_epu32(m1, _mm512_and_si512(_mm512_loadu_si512(x + i + 16), abs));
        m2 = _mm512_max_epu32(m2, _mm512_and_si512(_mm512_loadu_si512(x + i + 32), abs));
        m3 = _mm512_max_epu32(m3, _mm512_and_si512(_mm512_loadu_si512(x + i + 48), abs));
    }
    for (; i < n; i += 16) {
        const __mmask16 k = (__mmask16)(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
        m0 = _mm512_max_epu32(m0, _mm512_and_si512(_mm512_maskz_loadu_epi32(k, x + i), abs));
    }
    const __m512i m = _mm512_max_epu32(_mm512_max_epu32(m0, m1), _mm512_max_epu32(m2, m3));
    return _mm512_reduce_max_epu32(m) <= lim;
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

/* ---- 16 blocks at a time ------------------------------------------------
** The per-block maxima (or minima) of 16 blocks come from one transposing
** reduction instead of 16 horizontal ones: v[k] holds 16 partial values of
** block k; 4 rounds of shuffles and max/min halve the partials per block
** while merging blocks, leaving block c + 4 p in lane 4 c + p, which one
** permute puts in block order. */
static inline __attribute__((always_inline)) __m512 merge16(__m512 a, __m512 b, const bool is_max) {
    return is_max ? _mm512_max_ps(a, b) : _mm512_min_ps(a, b);
}

static inline __attribute__((always_inline)) __m512 reduce16(const __m512 *v, const bool is_max) {
    __m512 u[8], w[4], x[2];
    for (int k = 0; k < 8; k++) /* 128-bit chunks: 0, 1 block 2k; 2, 3 block 2k + 1 */
        u[k] = merge16(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                       _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE), is_max);
    for (int k = 0; k < 4; k++) /* chunk c: block 4k + c */
        w[k] = merge16(_mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], 0x88),
                       _mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], 0xDD), is_max);
    for (int k = 0; k < 2; k++) /* chunk c: blocks 8k + c, 8k + c, 8k + 4 + c, 8k + 4 + c */
        x[k] = merge16(_mm512_shuffle_ps(w[2 * k], w[2 * k + 1], 0x44),
                       _mm512_shuffle_ps(w[2 * k], w[2 * k + 1], 0xEE), is_max);
    const __m512 r =
        merge16(_mm512_shuffle_ps(x[0], x[1], 0x88), _mm512_shuffle_ps(x[0], x[1], 0xDD), is_max);
    /* lane 4 c + p holds block c + 4 p */
    return _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

/* 1 / d, or 0 where d == 0 (the reference's id). */
static inline __m512 inverse_or_zero(__m512 d) {
    const __mmask16 nz = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    return _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0f), d);
}

/* Q8_0 of 16 blocks: d = amax / 127, q = roundf(x / d). */
static inline void quantize16_q8_0(const float *x, qk_block_q8_0 *y) {
    __m512 m[16];
    for (int k = 0; k < 16; k++)
        m[k] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 32 * k)),
                             _mm512_abs_ps(_mm512_loadu_ps(x + 32 * k + 16)));
    const __m512 d = _mm512_div_ps(reduce16(m, true), _mm512_set1_ps(127.0f));
    float id[16];
    uint16_t h[16];
    _mm512_storeu_ps(id, inverse_or_zero(d));
    _mm256_storeu_si256((__m256i *)h,
                        _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (int k = 0; k < 16; k++) {
        const __m512 vid = _mm512_set1_ps(id[k]);
        memcpy(&y[k].d, &h[k], 2);
        _mm_storeu_si128((__m128i *)y[k].qs, _mm512_cvtepi32_epi8(round_i8(
                                                 _mm512_mul_ps(_mm512_loadu_ps(x + 32 * k), vid))));
        _mm_storeu_si128(
            (__m128i *)(y[k].qs + 16),
            _mm512_cvtepi32_epi8(round_i8(_mm512_mul_ps(_mm512_loadu_ps(x + 32 * k + 16), vid))));
    }
}

/* Q4_0 of 16 blocks: the signed maximum from the blocks' maxima and minima
** (whichever has the larger magnitude; on equal magnitudes the first in
** the block, found by the scalar search, and +0 for an all-zero block). */
static inline void quantize16_q4_0(const float *x, qk_block_q4_0 *y) {
    __m512 mx[16], mn[16];
    for (int k = 0; k < 16; k++) {
        const __m512 a = _mm512_loadu_ps(x + 32 * k), c = _mm512_loadu_ps(x + 32 * k + 16);
        mx[k] = _mm512_max_ps(a, c);
        mn[k] = _mm512_min_ps(a, c);
    }
    const __m512 hi = reduce16(mx, true), lo = reduce16(mn, false);
    const __m512 nlo = _mm512_xor_ps(lo, _mm512_set1_ps(-0.0f));
    const __mmask16 use_hi = _mm512_cmp_ps_mask(hi, nlo, _CMP_GT_OQ);
    const __mmask16 use_lo = _mm512_cmp_ps_mask(nlo, hi, _CMP_GT_OQ);
    float m[16];
    _mm512_storeu_ps(m, _mm512_mask_blend_ps(use_lo, hi, lo));
    for (unsigned tie = (uint16_t) ~(use_hi | use_lo); tie; tie &= tie - 1) {
        const int k = __builtin_ctz(tie);
        const float amax = m[k];
        float v = 0.0f;
        if (amax != 0.0f)
            for (int j = 0; j < QK_GGML_QK; j++)
                if (fabsf(x[32 * k + j]) == amax) {
                    v = x[32 * k + j];
                    break;
                }
        m[k] = v;
    }
    const __m512 d = _mm512_div_ps(_mm512_loadu_ps(m), _mm512_set1_ps(-8.0f));
    float id[16];
    uint16_t h[16];
    _mm512_storeu_ps(id, inverse_or_zero(d));
    _mm256_storeu_si256((__m256i *)h,
                        _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m512 off = _mm512_set1_ps(8.5f);
    const __m512i top = _mm512_set1_epi32(15);
    for (int k = 0; k < 16; k++) {
        const __m512 vid = _mm512_set1_ps(id[k]);
        memcpy(&y[k].d, &h[k], 2);
        const __m512i qa = _mm512_min_epi32(
            top, trunc_small(_mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(x + 32 * k), vid), off)));
        const __m512i qc = _mm512_min_epi32(
            top,
            trunc_small(_mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(x + 32 * k + 16), vid), off)));
        store_nibbles(y[k].qs, qa, qc);
    }
}

static void quantize_q4_0(const float *x, void *dst, int64_t n) {
    qk_block_q4_0 *y = dst;
    int64_t b = 0;
    for (; b + 16 <= n / QK_GGML_QK; b += 16) {
        prefetch_next_row(x + b * QK_GGML_QK, n);
        quantize16_q4_0(x + b * QK_GGML_QK, y + b);
    }
    for (; b < n / QK_GGML_QK; b++) {
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
