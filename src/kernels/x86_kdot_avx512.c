/*
** AVX-512 (BW, VNNI) kernels of the K formats: Q8_K activation rows,
** dequantization of Q2_K..Q6_K, and their dot products with Q8_K rows and
** with f32 rows.
**
** Dot products, per super-block of 256: the quants of 64 weights are laid
** out in one register in element order (the low/high nibbles or 2-bit
** fields of a byte go to the two halves, matching the contiguous Q8_K
** quants), made unsigned (Q3_K: low + 4 high bit; Q6_K: as stored),
** multiplied with the activation quants by VPMADDUBSW (no 16-bit overflow:
** q <= 63, |y| <= 127) and summed with the sub-block scales by VPDPWSSD
** into int32 lanes; offsets (Q3_K 4, Q6_K 32) and mins use Q8_K's sums of
** 16. All integer and exact up to the super-block's total (an offset is
** taken off the reduced total, so no cancellation happens in f32); then
** one f32 multiply-add per super-block.
**
** Dequantization forms ggml's products in ggml's order: (d * sc) then
** times q, minus (dmin * m); no fused multiply-add.
*/
#include <immintrin.h>

#include "kernels/kernels_internal.h"
#include "kernels/x86_prefetch.h"

/* ---- Q8_K activations (bit for bit qk_quantize_row(QK_TYPE_Q8_K)) ------ */

static void quantize_q8_k(const float *x, void *act, int64_t n) {
    qk_block_q8_k *y = act;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++, x += QK_GGML_QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int k = 0; k < 16; k++)
            m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * k)));
        const float amax = _mm512_reduce_max_ps(m);
        memset(&y[i], 0, sizeof y[i]);
        if (amax == 0.0f) continue;
        int first = 0;
        for (int k = 0; k < 16; k++) {
            const __mmask16 e = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * k)),
                                                   _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (e) {
                first = 16 * k + __builtin_ctz(e);
                break;
            }
        }
        const float iscale = -127.0f / x[first];
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int k = 0; k < 16; k++) {
            /* nearest even, clamped in float to [-128, 127] (so +-Inf from an
            ** overflowed inverse scale clamps like ggml's nearest_int), NaN -> 0 */
            const __m512 v = _mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * k));
            const __mmask16 ord = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
            const __m512 r =
                _mm512_min_ps(_mm512_max_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT |
                                                                        _MM_FROUND_NO_EXC),
                                            _mm512_set1_ps(-128.0f)),
                              _mm512_set1_ps(127.0f));
            const __m512i q = _mm512_maskz_cvtps_epi32(ord, r);
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * k), _mm512_cvtepi32_epi8(q));
            y[i].bsums[k] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- scale unpacking ----------------------------------------------------- */

/* Q4_K/Q5_K: the 8 6-bit scales (bytes 0..7) and mins (bytes 8..15). */
static inline __m128i k4_scales(const uint8_t *q) {
    uint32_t u[3], o[4];
    memcpy(u, q, 12);
    o[0] = u[0] & 0x3f3f3f3fu;
    o[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    o[2] = u[1] & 0x3f3f3f3fu;
    o[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    return _mm_loadu_si128((const __m128i *)o);
}

/* Q3_K: the 16 scales, 6-bit, minus 32. */
static inline __m128i k3_scales(const uint8_t *s) {
    uint32_t u[3], o[4];
    memcpy(u, s, 12);
    o[0] = (u[0] & 0x0f0f0f0fu) | ((u[2] & 0x03030303u) << 4);
    o[1] = (u[1] & 0x0f0f0f0fu) | (((u[2] >> 2) & 0x03030303u) << 4);
    o[2] = ((u[0] >> 4) & 0x0f0f0f0fu) | (((u[2] >> 4) & 0x03030303u) << 4);
    o[3] = ((u[1] >> 4) & 0x0f0f0f0fu) | (((u[2] >> 6) & 0x03030303u) << 4);
    return _mm_sub_epi8(_mm_loadu_si128((const __m128i *)o), _mm_set1_epi8(32));
}

static inline float load_f16(const void *p) {
    return _cvtsh_ss(qk_k_load_u16(p));
}

/* Sum over the 16 sub-blocks of 16 of coef[j] * bsums[j] (coef int16). */
static inline int32_t bsum_dot16(const int16_t *bsums, __m256i coef) {
    const __m256i p = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), coef);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* Word index: words 0..15 take word a of the source, 16..31 word b. */
static inline __m512i two_words(int a, int b) {
    return _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16((short)a),
                                   _mm512_set1_epi16((short)b));
}
/* Words 8k..8k+7 take word a + k (four 16-element sub-blocks). */
static inline __m512i four_words(int a) {
    return _mm512_add_epi16(_mm512_set1_epi16((short)a),
                            _mm512_setr_epi64(0, 0, 0x0001000100010001LL, 0x0001000100010001LL,
                                              0x0002000200020002LL, 0x0002000200020002LL,
                                              0x0003000300030003LL, 0x0003000300030003LL));
}

/* The 32 bytes at p in both halves, each half shifted right by its count. */
static inline __m512i bcast_shift(const uint8_t *p, int s0, int s1) {
    const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_srlv_epi64(v, _mm512_setr_epi64(s0, s0, s0, s0, s1, s1, s1, s1));
}

/* ---- Q4_K / Q5_K --------------------------------------------------------- */

static inline __attribute__((always_inline)) float dot_q45k(const void *w, const void *act,
                                                            int64_t n, const bool five) {
    const qk_block_q8_k *y = act;
    const __m512i m4 = _mm512_set1_epi8(15), one = _mm512_set1_epi8(1);
    __m512 acc = _mm512_setzero_ps();
    float macc = 0.0f;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const unsigned char *blk = (const unsigned char *)w + (size_t)i * (five ? 176 : 144);
        const uint8_t *scales = blk + 4, *qh = blk + 16, *qs = blk + (five ? 48 : 16);
        const __m128i sm = k4_scales(scales);
        const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sm)); /* words 0..7 */
        const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
        /* sum of the 8 sub-blocks of 32 of m_j * (bsum_2j + bsum_2j+1) */
        const __m256i mins16 = _mm256_permutexvar_epi16(
            _mm256_setr_epi16(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
            _mm256_castsi128_si256(mins));
        const int32_t msum = bsum_dot16(y[i].bsums, mins16);
        __m512i isum = _mm512_setzero_si512();
        for (int g = 0; g < 4; g++) {
            __m512i q = _mm512_and_si512(bcast_shift(qs + 32 * g, 0, 4), m4);
            if (five)
                q = _mm512_or_si512(
                    q,
                    _mm512_slli_epi16(_mm512_and_si512(bcast_shift(qh, 2 * g, 2 * g + 1), one), 4));
            const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(y[i].qs + 64 * g));
            isum = _mm512_dpwssd_epi32(isum, p,
                                       _mm512_permutexvar_epi16(two_words(2 * g, 2 * g + 1), sc16));
        }
        const float d = y[i].d * load_f16(blk), dmin = y[i].d * load_f16(blk + 2);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d), acc);
        macc += dmin * (float)msum;
    }
    return _mm512_reduce_add_ps(acc) - macc;
}

/* ---- Q4_K, several rows at a time ------------------------------------------
** Per super-block, the 128 quant bytes are read as two 64-byte vectors: the
** low nibbles of bytes 64 h .. 64 h + 63 are sub-blocks 4 h and 4 h + 2 (two
** 256-bit halves), the high nibbles sub-blocks 4 h + 1 and 4 h + 3. The
** activation quants are gathered once per super-block into that order and
** shared by all rows. VPMADDUBSW forms the pair products (|.| <= 3840, no
** saturation), VPDPWSSD adds them times each half's 6-bit scale (spread
** over the words by an in-lane byte shuffle) into int32 lanes: exact. The
** scales and mins of up to 4 rows are unpacked together, one row per
** 128-bit lane, and so are the mins terms: m_j times the activation sum of
** sub-block j (a pair of Q8_K's sums of 16), 2 sub-blocks per int32 lane
** (exact). Per super-block the lanes are scaled by d * d_y and dmin * d_y
** in f32. Every row's arithmetic is the same whatever NW. */

/* Byte-shuffle control: in 128-bit lanes 0, 1 the words take scale byte s0,
** in lanes 2, 3 scale byte s1 (zero-extended). */
static inline __m512i scale_words(int s0, int s1) {
    const __m512i s = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16((short)s0),
                                              _mm512_set1_epi16((short)s1));
    return _mm512_or_si512(_mm512_set1_epi16((short)0xFF00), s);
}

static inline __attribute__((always_inline)) void dot_q4k_rows(const unsigned char *w,
                                                               size_t stride, const int NW,
                                                               const void *act, int64_t n,
                                                               float *out) {
    const qk_block_q8_k *y = act;
    const int64_t nb = n / QK_GGML_QK_K;
    const __m512i m4 = _mm512_set1_epi8(15), zero = _mm512_setzero_si512();
    const __m512i ctl[2][2] = {{scale_words(0, 2), scale_words(1, 3)},
                               {scale_words(4, 6), scale_words(5, 7)}};
    /* k4_scales per 128-bit lane on the 16 header bytes (d, dmin, scales) */
    const __m512i sh_a = _mm512_broadcast_i32x4(
        _mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i sh_b = _mm512_broadcast_i32x4(
        _mm_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11));
    const __m512i mk_lo =
        _mm512_broadcast_i32x4(_mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0));
    const __m512i mk_hi = _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0, 0, 0x0f0f0f0f));
    const __m512i x30 = _mm512_set1_epi8(0x30);
    const __m512i heads = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i dmin_idx = _mm512_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7);
    __m512 acc[4], macc = _mm512_setzero_ps();
    for (int r = 0; r < NW; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *qa = y[i].qs;
        __m512i ya[2][2];
        for (int h = 0; h < 2; h++) {
            ya[h][0] = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(qa + 128 * h))),
                _mm256_loadu_si256((const __m256i *)(qa + 128 * h + 64)), 1);
            ya[h][1] = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(qa + 128 * h + 32))),
                _mm256_loadu_si256((const __m256i *)(qa + 128 * h + 96)), 1);
        }
        /* the activation sums of the 8 sub-blocks of 32 as words, in every lane */
        const __m256i bsp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums),
                                              _mm256_set1_epi16(1));
        const __m512i bs4 = _mm512_broadcast_i32x4(
            _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packs_epi32(bsp, bsp), 0x08)));
        qk_prefetch_rows(w, stride, NW, i * 144, nb * 144, 144);
        /* the rows' headers, row r in lane r (lanes past NW repeat row 0) */
        const unsigned char *b0 = w + (size_t)i * 144;
        __m512i hv = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)b0));
        if (NW > 1) hv = _mm512_inserti32x4(hv, _mm_loadu_si128((const __m128i *)(b0 + stride)), 1);
        if (NW > 2)
            hv = _mm512_inserti32x4(hv, _mm_loadu_si128((const __m128i *)(b0 + 2 * stride)), 2);
        if (NW > 3)
            hv = _mm512_inserti32x4(hv, _mm_loadu_si128((const __m128i *)(b0 + 3 * stride)), 3);
        const __m512i a = _mm512_shuffle_epi8(hv, sh_a), b = _mm512_shuffle_epi8(hv, sh_b);
        const __m512i sm =
            _mm512_or_si512(_mm512_or_si512(_mm512_and_si512(a, mk_lo),
                                            _mm512_and_si512(_mm512_srli_epi16(a, 4), mk_hi)),
                            _mm512_and_si512(_mm512_srli_epi16(b, 2), x30));
        /* [d * d_y, dmin * d_y] of each row */
        const __m512 dd = _mm512_castps256_ps512(_mm256_mul_ps(
            _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi32(heads, hv))),
            _mm256_set1_ps(y[i].d)));
        const __m512i mp = _mm512_madd_epi16(_mm512_unpackhi_epi8(sm, zero), bs4);
        macc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mp), _mm512_permutexvar_ps(dmin_idx, dd), macc);
        for (int r = 0; r < NW; r++) {
            const unsigned char *blk = b0 + (size_t)r * stride;
            const __m512i smr = _mm512_permutexvar_epi32(
                _mm512_add_epi32(_mm512_set1_epi32(4 * r),
                                 _mm512_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3)),
                sm);
            __m512i isum = _mm512_setzero_si512();
            for (int h = 0; h < 2; h++) {
                const __m512i q = _mm512_loadu_si512(blk + 16 + 64 * h);
                const __m512i lo = _mm512_and_si512(q, m4);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
                isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(lo, ya[h][0]),
                                           _mm512_shuffle_epi8(smr, ctl[h][0]));
                isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(hi, ya[h][1]),
                                           _mm512_shuffle_epi8(smr, ctl[h][1]));
            }
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum),
                                     _mm512_permutexvar_ps(_mm512_set1_epi32(2 * r), dd), acc[r]);
        }
    }
    float m[16];
    _mm512_storeu_ps(m, macc);
    for (int r = 0; r < NW; r++)
        out[r] = _mm512_reduce_add_ps(acc[r]) -
                 ((m[4 * r] + m[4 * r + 2]) + (m[4 * r + 1] + m[4 * r + 3]));
}

static float dot_act_q4_k(const void *w, const void *act, int64_t n) {
    float r;
    dot_q4k_rows(w, 0, 1, act, n, &r);
    return r;
}
static void dot_act_rows_q4_k(const void *w, size_t stride, int nw, const void *act, int64_t n,
                              float *out) {
    const unsigned char *p = w;
    for (; nw >= 4; nw -= 4, p += 4 * stride, out += 4) dot_q4k_rows(p, stride, 4, act, n, out);
    if (nw == 3) dot_q4k_rows(p, stride, 3, act, n, out);
    if (nw == 2) dot_q4k_rows(p, stride, 2, act, n, out);
    if (nw == 1) dot_q4k_rows(p, stride, 1, act, n, out);
}
static float dot_act_q5_k(const void *w, const void *act, int64_t n) {
    return dot_q45k(w, act, n, true);
}

/* ---- Q6_K ---------------------------------------------------------------- */

static float dot_act_q6_k(const void *w, const void *act, int64_t n) {
    const qk_block_q6_k *x = w;
    const qk_block_q8_k *y = act;
    const __m512i m4 = _mm512_set1_epi8(15), m3 = _mm512_set1_epi8(3);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        /* offset 32: -32 * sum_j sc_j * bsum_j */
        const int32_t off = 32 * bsum_dot16(y[i].bsums, sc16);
        __m512i isum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(x[i].ql + 64 * h);
            const uint8_t *qh = x[i].qh + 32 * h;
            const __m512i q0 =
                _mm512_or_si512(_mm512_and_si512(ql, m4),
                                _mm512_slli_epi16(_mm512_and_si512(bcast_shift(qh, 0, 2), m3), 4));
            const __m512i q1 =
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                _mm512_slli_epi16(_mm512_and_si512(bcast_shift(qh, 4, 6), m3), 4));
            const __m512i p0 = _mm512_maddubs_epi16(q0, _mm512_loadu_si512(y[i].qs + 128 * h));
            const __m512i p1 = _mm512_maddubs_epi16(q1, _mm512_loadu_si512(y[i].qs + 128 * h + 64));
            isum = _mm512_dpwssd_epi32(isum, p0, _mm512_permutexvar_epi16(four_words(8 * h), sc));
            isum =
                _mm512_dpwssd_epi32(isum, p1, _mm512_permutexvar_epi16(four_words(8 * h + 4), sc));
        }
        /* the offset is removed from the exact total, before any rounding */
        acc += y[i].d * load_f16(&x[i].d) * (float)(_mm512_reduce_add_epi32(isum) - off);
    }
    return acc;
}

/* ---- Q2_K / Q3_K --------------------------------------------------------- */

static float dot_act_q2_k(const void *w, const void *act, int64_t n) {
    const qk_block_q2_k *x = w;
    const qk_block_q8_k *y = act;
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512 acc = _mm512_setzero_ps();
    float macc = 0.0f;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const __m128i s8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(s8, _mm_set1_epi8(15)));
        const __m256i m16 =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(15)));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        const int32_t msum = bsum_dot16(y[i].bsums, m16);
        __m512i isum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const uint8_t *qs = x[i].qs + 32 * h;
            const __m512i q0 = _mm512_and_si512(bcast_shift(qs, 0, 2), m3);
            const __m512i q1 = _mm512_and_si512(bcast_shift(qs, 4, 6), m3);
            const __m512i p0 = _mm512_maddubs_epi16(q0, _mm512_loadu_si512(y[i].qs + 128 * h));
            const __m512i p1 = _mm512_maddubs_epi16(q1, _mm512_loadu_si512(y[i].qs + 128 * h + 64));
            isum = _mm512_dpwssd_epi32(isum, p0, _mm512_permutexvar_epi16(four_words(8 * h), sc));
            isum =
                _mm512_dpwssd_epi32(isum, p1, _mm512_permutexvar_epi16(four_words(8 * h + 4), sc));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(y[i].d * load_f16(&x[i].d)),
                              acc);
        macc += y[i].d * load_f16(&x[i].dmin) * (float)msum;
    }
    return _mm512_reduce_add_ps(acc) - macc;
}

static float dot_act_q3_k(const void *w, const void *act, int64_t n) {
    const qk_block_q3_k *x = w;
    const qk_block_q8_k *y = act;
    const __m512i m3 = _mm512_set1_epi8(3), one = _mm512_set1_epi8(1);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(k3_scales(x[i].scales));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        const int32_t off = 4 * bsum_dot16(y[i].bsums, sc16);
        __m512i isum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const uint8_t *qs = x[i].qs + 32 * h;
            /* quants 128 h + 32 k + l: low bits k of qs, high bit 4 h + k of hmask */
            const __m512i h0 = _mm512_and_si512(bcast_shift(x[i].hmask, 4 * h, 4 * h + 1), one);
            const __m512i h1 = _mm512_and_si512(bcast_shift(x[i].hmask, 4 * h + 2, 4 * h + 3), one);
            const __m512i q0 = _mm512_or_si512(_mm512_and_si512(bcast_shift(qs, 0, 2), m3),
                                               _mm512_slli_epi16(h0, 2));
            const __m512i q1 = _mm512_or_si512(_mm512_and_si512(bcast_shift(qs, 4, 6), m3),
                                               _mm512_slli_epi16(h1, 2));
            const __m512i p0 = _mm512_maddubs_epi16(q0, _mm512_loadu_si512(y[i].qs + 128 * h));
            const __m512i p1 = _mm512_maddubs_epi16(q1, _mm512_loadu_si512(y[i].qs + 128 * h + 64));
            isum = _mm512_dpwssd_epi32(isum, p0, _mm512_permutexvar_epi16(four_words(8 * h), sc));
            isum =
                _mm512_dpwssd_epi32(isum, p1, _mm512_permutexvar_epi16(four_words(8 * h + 4), sc));
        }
        acc += y[i].d * load_f16(&x[i].d) * (float)(_mm512_reduce_add_epi32(isum) - off);
    }
    return acc;
}

/* ---- dequantization ------------------------------------------------------ */

/* The 16-byte lane k (0..3) of q. The extract instruction needs an immediate;
** a variable lane index only folds to one when the caller's loop is fully
** unrolled, which the sanitizer builds do not do, so each lane is spelled out. */
static inline __m128i lane128(__m512i q, int k) {
    switch (k & 3) {
    case 0:
        return _mm512_extracti32x4_epi32(q, 0);
    case 1:
        return _mm512_extracti32x4_epi32(q, 1);
    case 2:
        return _mm512_extracti32x4_epi32(q, 2);
    default:
        return _mm512_extracti32x4_epi32(q, 3);
    }
}

/* 64 unsigned quants: the first 32 times d1 minus m1, the last 32 times d2
** minus m2 (two sub-blocks of 32). */
static inline void store64(float *y, __m512i q, float d1, float m1, float d2, float m2) {
    const __m128i parts[4] = {_mm512_extracti32x4_epi32(q, 0), _mm512_extracti32x4_epi32(q, 1),
                              _mm512_extracti32x4_epi32(q, 2), _mm512_extracti32x4_epi32(q, 3)};
    for (int k = 0; k < 4; k++) {
        const __m512 vd = _mm512_set1_ps(k < 2 ? d1 : d2), vm = _mm512_set1_ps(k < 2 ? m1 : m2);
        const __m512 v = _mm512_mul_ps(vd, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(parts[k])));
        _mm512_storeu_ps(y + 16 * k, _mm512_sub_ps(v, vm));
    }
}

static inline __attribute__((always_inline)) void deq_q45k(const void *src, float *y, int64_t n,
                                                           const bool five) {
    const __m512i m4 = _mm512_set1_epi8(15), one = _mm512_set1_epi8(1);
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const unsigned char *blk = (const unsigned char *)src + (size_t)i * (five ? 176 : 144);
        const uint8_t *qh = blk + 16, *qs = blk + (five ? 48 : 16);
        const float d = load_f16(blk), dmin = load_f16(blk + 2);
        uint8_t sm[16];
        _mm_storeu_si128((__m128i *)sm, k4_scales(blk + 4));
        for (int g = 0; g < 4; g++, y += 64) {
            __m512i q = _mm512_and_si512(bcast_shift(qs + 32 * g, 0, 4), m4);
            if (five)
                q = _mm512_or_si512(
                    q,
                    _mm512_slli_epi16(_mm512_and_si512(bcast_shift(qh, 2 * g, 2 * g + 1), one), 4));
            store64(y, q, d * (float)sm[2 * g], dmin * (float)sm[8 + 2 * g],
                    d * (float)sm[2 * g + 1], dmin * (float)sm[9 + 2 * g]);
        }
    }
}
static void dequantize_q4_k(const void *src, float *y, int64_t n) {
    deq_q45k(src, y, n, false);
}
static void dequantize_q5_k(const void *src, float *y, int64_t n) {
    deq_q45k(src, y, n, true);
}

/* Q6_K and Q3_K: sub-blocks of 16 with signed quants. */
static inline void store16_signed(float *y, __m128i q, float dl) {
    _mm512_storeu_ps(
        y, _mm512_mul_ps(_mm512_set1_ps(dl), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q))));
}

static void dequantize_q6_k(const void *src, float *y, int64_t n) {
    const qk_block_q6_k *x = src;
    const __m512i m4 = _mm512_set1_epi8(15), m3 = _mm512_set1_epi8(3), o32 = _mm512_set1_epi8(32);
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const float d = load_f16(&x[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const __m512i ql = _mm512_loadu_si512(x[i].ql + 64 * h);
            const uint8_t *qh = x[i].qh + 32 * h;
            const __m512i q[2] = {
                _mm512_sub_epi8(
                    _mm512_or_si512(
                        _mm512_and_si512(ql, m4),
                        _mm512_slli_epi16(_mm512_and_si512(bcast_shift(qh, 0, 2), m3), 4)),
                    o32),
                _mm512_sub_epi8(
                    _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                        _mm512_slli_epi16(_mm512_and_si512(bcast_shift(qh, 4, 6), m3), 4)),
                    o32)};
            for (int k = 0; k < 8; k++) {
                const float dl = d * (float)x[i].scales[8 * h + k];
                store16_signed(y + 16 * k, lane128(q[k / 4], k), dl);
            }
        }
    }
}

static void dequantize_q3_k(const void *src, float *y, int64_t n) {
    const qk_block_q3_k *x = src;
    const __m512i m3 = _mm512_set1_epi8(3), one = _mm512_set1_epi8(1), four = _mm512_set1_epi8(4);
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const float d = load_f16(&x[i].d);
        int8_t sc[16];
        _mm_storeu_si128((__m128i *)sc, k3_scales(x[i].scales));
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *qs = x[i].qs + 32 * h;
            const __m512i h0 = _mm512_and_si512(bcast_shift(x[i].hmask, 4 * h, 4 * h + 1), one);
            const __m512i h1 = _mm512_and_si512(bcast_shift(x[i].hmask, 4 * h + 2, 4 * h + 3), one);
            const __m512i q[2] = {
                _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(bcast_shift(qs, 0, 2), m3),
                                                _mm512_slli_epi16(h0, 2)),
                                four),
                _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(bcast_shift(qs, 4, 6), m3),
                                                _mm512_slli_epi16(h1, 2)),
                                four)};
            for (int k = 0; k < 8; k++)
                store16_signed(y + 16 * k, lane128(q[k / 4], k), d * (float)sc[8 * h + k]);
        }
    }
}

static void dequantize_q2_k(const void *src, float *y, int64_t n) {
    const qk_block_q2_k *x = src;
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const float d = load_f16(&x[i].d), dmin = load_f16(&x[i].dmin);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *qs = x[i].qs + 32 * h;
            const __m512i q[2] = {_mm512_and_si512(bcast_shift(qs, 0, 2), m3),
                                  _mm512_and_si512(bcast_shift(qs, 4, 6), m3)};
            for (int k = 0; k < 8; k++) {
                const uint8_t s = x[i].scales[8 * h + k];
                const __m512 dl = _mm512_set1_ps(d * (float)(s & 0xF));
                const __m512 ml = _mm512_set1_ps(dmin * (float)(s >> 4));
                const __m512i qk = _mm512_cvtepu8_epi32(lane128(q[k / 4], k));
                _mm512_storeu_ps(y + 16 * k,
                                 _mm512_sub_ps(_mm512_mul_ps(dl, _mm512_cvtepi32_ps(qk)), ml));
            }
        }
    }
}

/* ---- f32 activations: dequantize a super-block, then multiply-add -------- */
#define QK_DOT_F32_K(name, bytes)                                                                  \
    static float dot_f32_##name(const void *w, const float *x, int64_t n) {                        \
        __m512 acc = _mm512_setzero_ps();                                                          \
        float v[QK_GGML_QK_K];                                                                     \
        for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {                                           \
            dequantize_##name((const unsigned char *)w + (size_t)i * (bytes), v, QK_GGML_QK_K);    \
            for (int k = 0; k < 16; k++)                                                           \
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(v + 16 * k),                                 \
                                      _mm512_loadu_ps(x + i * QK_GGML_QK_K + 16 * k), acc);        \
        }                                                                                          \
        return _mm512_reduce_add_ps(acc);                                                          \
    }
QK_DOT_F32_K(q2_k, 84)
QK_DOT_F32_K(q3_k, 110)
QK_DOT_F32_K(q4_k, 144)
QK_DOT_F32_K(q5_k, 176)
QK_DOT_F32_K(q6_k, 210)
#undef QK_DOT_F32_K

#define QK_ROWS(name)                                                                              \
    static void dot_act_rows_##name(const void *w, size_t stride, int nw, const void *act,         \
                                    int64_t n, float *out) {                                       \
        for (int r = 0; r < nw; r++)                                                               \
            out[r] = dot_act_##name((const unsigned char *)w + (size_t)r * stride, act, n);        \
    }
QK_ROWS(q2_k)
QK_ROWS(q3_k)
QK_ROWS(q5_k)
QK_ROWS(q6_k)
#undef QK_ROWS

void qk_kernels_fill_avx512_k(qk_kernel_ops *t) {
#define QK_SETK(TYPE, name)                                                                        \
    t[TYPE].dequantize_row = dequantize_##name;                                                    \
    t[TYPE].quantize_act = quantize_q8_k;                                                          \
    t[TYPE].vec_dot_act = dot_act_##name;                                                          \
    t[TYPE].vec_dot_act_rows = dot_act_rows_##name;                                                \
    t[TYPE].vec_dot_f32 = dot_f32_##name
    QK_SETK(QK_TYPE_Q2_K, q2_k);
    QK_SETK(QK_TYPE_Q3_K, q3_k);
    QK_SETK(QK_TYPE_Q4_K, q4_k);
    QK_SETK(QK_TYPE_Q5_K, q5_k);
    QK_SETK(QK_TYPE_Q6_K, q6_k);
#undef QK_SETK
    t[QK_TYPE_Q8_K].quantize_row = quantize_q8_k;
}
