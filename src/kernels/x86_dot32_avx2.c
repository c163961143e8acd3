/*
** AVX2 dot products of the 32-element block formats with activation rows
** (kernels_internal.h's layout) and with f32 activations.
**
** Activation rows: two blocks per 256-bit register, matching the layout's
** halves ([block 0 | block 1] low quants, then high quants). The weights
** are made signed (Q4_0: q - 8, Q5_0: q - 16, Q8_0 and IQ4_NL as they are)
** and multiplied with VPMADDUBSW on |w| and sign(y, w) (no 16-bit overflow:
** |w| <= 128, |y| <= 127), or unsigned as stored (Q4_1, Q5_1) directly;
** VPMADDWD sums to 4 int32 lanes per block, exact; each block is scaled by
** d_w * d_x in f32. Blocks after the last whole group of 4 use the
** reference code.
*/
#include <immintrin.h>

#include "kernels/kernels_internal.h"

enum { KIND_NIBBLE = 0, KIND_LUT = 1, KIND_BYTES = 2 };

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Bytes of the 32-bit value h, spread: byte j of the result is 0x10 when
** bit (j + 16 * half) ... of h; here for the 16 bits `bits` of one half of
** a block: a 128-bit vector of 16 bytes, 16 where the bit is set. */
static inline __m128i bits_to_16(uint32_t bits16) {
    const __m128i v = _mm_set1_epi16((short)bits16);
    const __m128i shuf = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m128i bytes = _mm_shuffle_epi8(v, shuf);
    const __m128i bit =
        _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 1, 2, 4, 8, 16, 32, 64, (char)128);
    return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(bytes, bit), bit), _mm_set1_epi8(16));
}

/* Signed 8-bit dot of w (signed) and y, 8 int32 lanes. */
static inline __m256i dot_signed(__m256i w, __m256i y) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}
/* Unsigned w (<= 127) with signed y. */
static inline __m256i dot_unsigned(__m256i w, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, y), _mm256_set1_epi16(1));
}

static inline __m256i load2x128(const unsigned char *a, const unsigned char *b) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                   _mm_loadu_si128((const __m128i *)b), 1);
}

static inline __attribute__((always_inline)) float
dot_act32(qk_type type, const unsigned char *w, const void *act, int64_t n, const int S,
          const int o, const int oh, const int om, const int kind, const int off) {
    const int64_t nb = n / QK_GGML_QK, nfull = nb / 4 * 4;
    const unsigned char *qa = act;
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i lut =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qk_iq4nl_values));
    const __m256i offv = _mm256_set1_epi8((char)off);
    const __m256i lanes01 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    const __m256i lanes23 = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
    __m256 acc = _mm256_setzero_ps();
    __m128 macc = _mm_setzero_ps();
    for (int64_t b = 0; b < nfull; b += 4) {
        const unsigned char *p = w + (size_t)b * (size_t)S;
        const unsigned char *y = qa + (size_t)(b / 4) * QK_ACT32_GROUP_BYTES;
        __m256i lo[2], hi[2];
        for (int h = 0; h < 2; h++) {
            const unsigned char *p0 = p + 2 * h * S, *p1 = p0 + S;
            if (kind == KIND_BYTES) {
                lo[h] = load2x128(p0 + o, p1 + o);
                hi[h] = load2x128(p0 + o + 16, p1 + o + 16);
                continue;
            }
            const __m256i q = load2x128(p0 + o, p1 + o);
            lo[h] = _mm256_and_si256(q, m4);
            hi[h] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (oh > 0) {
                uint32_t h0, h1;
                memcpy(&h0, p0 + oh, 4);
                memcpy(&h1, p1 + oh, 4);
                const __m256i blo = _mm256_inserti128_si256(
                    _mm256_castsi128_si256(bits_to_16(h0 & 0xFFFF)), bits_to_16(h1 & 0xFFFF), 1);
                const __m256i bhi = _mm256_inserti128_si256(
                    _mm256_castsi128_si256(bits_to_16(h0 >> 16)), bits_to_16(h1 >> 16), 1);
                lo[h] = _mm256_or_si256(lo[h], blo);
                hi[h] = _mm256_or_si256(hi[h], bhi);
            }
            if (kind == KIND_LUT) {
                lo[h] = _mm256_shuffle_epi8(lut, lo[h]);
                hi[h] = _mm256_shuffle_epi8(lut, hi[h]);
            } else if (off) {
                lo[h] = _mm256_sub_epi8(lo[h], offv);
                hi[h] = _mm256_sub_epi8(hi[h], offv);
            }
        }
        /* block scales d_w * d_x of the 4 blocks */
        const __m128i dh = _mm_setr_epi16((short)qk_k_load_u16(p), (short)qk_k_load_u16(p + S),
                                          (short)qk_k_load_u16(p + 2 * S),
                                          (short)qk_k_load_u16(p + 3 * S), 0, 0, 0, 0);
        const __m128 dxv = _mm_loadu_ps(qk_act32_cd(act, b));
        const __m128 s4 = _mm_mul_ps(_mm_cvtph_ps(dh), dxv);
        if (om >= 0) {
            const __m128i mh =
                _mm_setr_epi16((short)qk_k_load_u16(p + om), (short)qk_k_load_u16(p + S + om),
                               (short)qk_k_load_u16(p + 2 * S + om),
                               (short)qk_k_load_u16(p + 3 * S + om), 0, 0, 0, 0);
            macc = _mm_add_ps(macc, _mm_mul_ps(_mm_mul_ps(_mm_cvtph_ps(mh), dxv),
                                               _mm_cvtepi32_ps(_mm_loadu_si128(
                                                   (const __m128i *)qk_act32_csum(act, b)))));
        }
        const __m256 s8 = _mm256_castps128_ps256(s4);
        for (int h = 0; h < 2; h++) {
            const __m256i ylo = _mm256_loadu_si256((const __m256i *)(y + 32 * h));
            const __m256i yhi = _mm256_loadu_si256((const __m256i *)(y + 64 + 32 * h));
            __m256i dot;
            if (kind == KIND_NIBBLE && off == 0)
                dot = _mm256_add_epi32(dot_unsigned(lo[h], ylo), dot_unsigned(hi[h], yhi));
            else
                dot = _mm256_add_epi32(dot_signed(lo[h], ylo), dot_signed(hi[h], yhi));
            const __m256 sc = _mm256_permutevar8x32_ps(s8, h ? lanes23 : lanes01);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), sc, acc);
        }
    }
    __m128 m2 = _mm_add_ps(macc, _mm_movehl_ps(macc, macc));
    m2 = _mm_add_ss(m2, _mm_movehdup_ps(m2));
    float sum = hsum8(acc) + _mm_cvtss_f32(m2);
    if (nfull < nb) sum += (float)qk_kernels_ref_dot_act32_blocks(type, w, act, n, nfull);
    return sum;
}

#define QK_DOT_ACT32(name, TYPE, ...)                                                              \
    static float dot_act_##name(const void *w, const void *act, int64_t n) {                       \
        return dot_act32(TYPE, w, act, n, __VA_ARGS__);                                            \
    }                                                                                              \
    static void dot_act_rows_##name(const void *w, size_t stride, int nw, const void *act,         \
                                    int64_t n, float *out) {                                       \
        for (int r = 0; r < nw; r++)                                                               \
            out[r] = dot_act_##name((const unsigned char *)w + (size_t)r * stride, act, n);        \
    }
QK_DOT_ACT32(q4_0, QK_TYPE_Q4_0, 18, 2, -1, -1, KIND_NIBBLE, 8)
QK_DOT_ACT32(q4_1, QK_TYPE_Q4_1, 20, 4, -1, 2, KIND_NIBBLE, 0)
QK_DOT_ACT32(q5_0, QK_TYPE_Q5_0, 22, 6, 2, -1, KIND_NIBBLE, 16)
QK_DOT_ACT32(q5_1, QK_TYPE_Q5_1, 24, 8, 4, 2, KIND_NIBBLE, 0)
QK_DOT_ACT32(q8_0, QK_TYPE_Q8_0, 34, 2, -1, -1, KIND_BYTES, 0)
QK_DOT_ACT32(iq4_nl, QK_TYPE_IQ4_NL, 18, 2, -1, -1, KIND_LUT, 0)
#undef QK_DOT_ACT32

/* ---- f32 activations ------------------------------------------------------ */

static inline __attribute__((always_inline)) float
dot_f32_32(const unsigned char *w, const float *x, int64_t n, const int S, const int o,
           const int oh, const int om, const int kind, const int off) {
    const __m128i table = _mm_loadu_si128((const __m128i *)qk_iq4nl_values);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    __m256 macc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, x += 32) {
        const unsigned char *p = w + (size_t)b * (size_t)S;
        __m128i part[2]; /* 16 signed bytes: elements 0..15, 16..31 */
        if (kind == KIND_BYTES) {
            part[0] = _mm_loadu_si128((const __m128i *)(p + o));
            part[1] = _mm_loadu_si128((const __m128i *)(p + o + 16));
        } else {
            const __m128i v = _mm_loadu_si128((const __m128i *)(p + o));
            part[0] = _mm_and_si128(v, _mm_set1_epi8(15));
            part[1] = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15));
            if (oh > 0) {
                uint32_t h;
                memcpy(&h, p + oh, 4);
                part[0] = _mm_or_si128(part[0], bits_to_16(h & 0xFFFF));
                part[1] = _mm_or_si128(part[1], bits_to_16(h >> 16));
            }
            if (kind == KIND_LUT) {
                part[0] = _mm_shuffle_epi8(table, part[0]);
                part[1] = _mm_shuffle_epi8(table, part[1]);
            } else if (off) {
                part[0] = _mm_sub_epi8(part[0], _mm_set1_epi8((char)off));
                part[1] = _mm_sub_epi8(part[1], _mm_set1_epi8((char)off));
            }
        }
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(qk_k_load_u16(p)));
        for (int k = 0; k < 4; k++) {
            const __m128i bytes = k & 1 ? _mm_srli_si128(part[k / 2], 8) : part[k / 2];
            const __m256 wq = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(wq, d), _mm256_loadu_ps(x + 8 * k), acc[k]);
        }
        if (om >= 0) {
            const __m256 m = _mm256_set1_ps(_cvtsh_ss(qk_k_load_u16(p + om)));
            const __m256 xs =
                _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8)),
                              _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)));
            macc = _mm256_fmadd_ps(m, xs, macc);
        }
    }
    return hsum8(_mm256_add_ps(
        _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])), macc));
}

static float dot_f32_q4_0(const void *w, const float *x, int64_t n) {
    return dot_f32_32(w, x, n, 18, 2, -1, -1, KIND_NIBBLE, 8);
}
static float dot_f32_q4_1(const void *w, const float *x, int64_t n) {
    return dot_f32_32(w, x, n, 20, 4, -1, 2, KIND_NIBBLE, 0);
}
static float dot_f32_q5_0(const void *w, const float *x, int64_t n) {
    return dot_f32_32(w, x, n, 22, 6, 2, -1, KIND_NIBBLE, 16);
}
static float dot_f32_q5_1(const void *w, const float *x, int64_t n) {
    return dot_f32_32(w, x, n, 24, 8, 4, 2, KIND_NIBBLE, 0);
}
static float dot_f32_q8_0(const void *w, const float *x, int64_t n) {
    return dot_f32_32(w, x, n, 34, 2, -1, -1, KIND_BYTES, 0);
}
static float dot_f32_iq4_nl(const void *w, const float *x, int64_t n) {
    return dot_f32_32(w, x, n, 18, 2, -1, -1, KIND_LUT, 0);
}

/* ---- float weights ------------------------------------------------------- */
static float dot_f32_f32(const void *w, const float *x, int64_t n) {
    const float *wf = w;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wf + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wf + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    float sum = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) sum += wf[i] * x[i];
    return sum;
}

static float dot_f32_f16(const void *w, const float *x, int64_t n) {
    const uint16_t *h = w;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))),
                             _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i + 8))),
                             _mm256_loadu_ps(x + i + 8), a1);
    }
    float sum = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) sum += _cvtsh_ss(h[i]) * x[i];
    return sum;
}

static inline __m256 load8_bf16(const uint16_t *h) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)h));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static float dot_f32_bf16(const void *w, const float *x, int64_t n) {
    const uint16_t *h = w;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(load8_bf16(h + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(load8_bf16(h + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    float sum = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) sum += qk_bf16_to_f32(h[i]) * x[i];
    return sum;
}

void qk_kernels_fill_avx2_dot32(qk_kernel_ops *t) {
    t[QK_TYPE_Q4_0].vec_dot_act = dot_act_q4_0;
    t[QK_TYPE_Q4_1].vec_dot_act = dot_act_q4_1;
    t[QK_TYPE_Q5_0].vec_dot_act = dot_act_q5_0;
    t[QK_TYPE_Q5_1].vec_dot_act = dot_act_q5_1;
    t[QK_TYPE_Q8_0].vec_dot_act = dot_act_q8_0;
    t[QK_TYPE_IQ4_NL].vec_dot_act = dot_act_iq4_nl;
    t[QK_TYPE_Q4_0].vec_dot_act_rows = dot_act_rows_q4_0;
    t[QK_TYPE_Q4_1].vec_dot_act_rows = dot_act_rows_q4_1;
    t[QK_TYPE_Q5_0].vec_dot_act_rows = dot_act_rows_q5_0;
    t[QK_TYPE_Q5_1].vec_dot_act_rows = dot_act_rows_q5_1;
    t[QK_TYPE_Q8_0].vec_dot_act_rows = dot_act_rows_q8_0;
    t[QK_TYPE_IQ4_NL].vec_dot_act_rows = dot_act_rows_iq4_nl;
    t[QK_TYPE_Q4_0].vec_dot_f32 = dot_f32_q4_0;
    t[QK_TYPE_Q4_1].vec_dot_f32 = dot_f32_q4_1;
    t[QK_TYPE_Q5_0].vec_dot_f32 = dot_f32_q5_0;
    t[QK_TYPE_Q5_1].vec_dot_f32 = dot_f32_q5_1;
    t[QK_TYPE_Q8_0].vec_dot_f32 = dot_f32_q8_0;
    t[QK_TYPE_IQ4_NL].vec_dot_f32 = dot_f32_iq4_nl;
    t[QK_TYPE_F32].vec_dot_f32 = dot_f32_f32;
    t[QK_TYPE_F16].vec_dot_f32 = dot_f32_f16;
    t[QK_TYPE_BF16].vec_dot_f32 = dot_f32_bf16;
}
