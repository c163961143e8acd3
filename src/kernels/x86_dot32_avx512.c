/*
** AVX-512 VNNI dot products of the 32-element block formats with activation
** rows (kernels_internal.h's layout) and with f32 activations.
**
** Activation rows, per group of 4 blocks: per group the 4 blocks' weight
** bytes are gathered from two masked loads with one word permute (every
** format's quants start at an even offset of an even-sized block), split
** into the low-half and high-half quants (bytes 0..15 and 16..31 of each
** block, the activation layout's two halves), made unsigned (Q4/Q5: as
** stored; Q8_0: w + 128; IQ4_NL: codebook + 128 by a byte shuffle) and
** multiplied with the activation quants by VPDPBUSD: 4 int32 lanes per
** block, started from -offset (8, 16 or 128) times the lane's activation
** sum (kept in the activation row), so every lane is the exact integer dot
** of 8 signed weights with their activations before it is scaled by
** d_w * d_x in f32: weights that decode to zero give exactly zero. The
** block scales come from the same loads (a word permute, f16 -> f32), so
** no gathers. Q4_1/Q5_1 add m_w * d_x * (lane sums) per lane.
*/
#include <immintrin.h>

#include "kernels/kernels_internal.h"
#include "kernels/x86_prefetch.h"

enum { KIND_NIBBLE = 0, KIND_LUT = 1, KIND_BYTES = 2 };

/* Mask of the first v bytes of a 64-byte load (v may be <= 0 or >= 64). */
static inline __mmask64 bytes_mask(int v) {
    if (v <= 0) return 0;
    if (v >= 64) return ~(__mmask64)0;
    return ((__mmask64)1 << v) - 1;
}

/* Word index vector: word i of the result is bytes (i / 8) * S + off + 2 (i % 8)
** (+1), i.e. 16 bytes from each of 4 blocks of stride S. */
static inline __m512i gather16_index(int S, int off) {
    int16_t idx[32];
    for (int i = 0; i < 32; i++) idx[i] = (int16_t)(((i / 8) * S + off) / 2 + (i % 8));
    return _mm512_loadu_si512(idx);
}

/* Words [lo16(h_0) lo16(h_1) lo16(h_2) lo16(h_3) hi16(h_0) ... hi16(h_3)] of the
** 4 blocks' qh (at byte oh of each block). */
static inline __m512i qh_index(int S, int oh) {
    int16_t idx[32] = {0};
    for (int i = 0; i < 8; i++) idx[i] = (int16_t)(((i % 4) * S + oh) / 2 + (i / 4));
    return _mm512_loadu_si512(idx);
}

/* Words j = 0..15 of the result: the f16 at byte (j / 4) * S + off, i.e.
** each of the 4 blocks' scale repeated for its 4 lanes. */
static inline __m512i scale_index(int S, int off) {
    int16_t idx[32] = {0};
    for (int j = 0; j < 16; j++) idx[j] = (int16_t)(((j / 4) * S + off) / 2);
    return _mm512_loadu_si512(idx);
}

typedef struct fmt_index {
    __m512i lo, hi, h, d, m;
} fmt_index;

/* One group of 4 blocks at p (`valid` bytes of it exist; masked loads
** unless whole vectors stay inside): the unsigned weights (lo = quants
** 0..15 of each block, hi = 16..31) and the lanes' f16 scales d (and m). */
static inline __attribute__((always_inline)) void
group_weights(const unsigned char *p, int valid, const int S, const int o, const int oh,
              const int om, const int kind, const fmt_index *ix, __m512i *lo, __m512i *hi,
              __m512 *d, __m512 *m) {
    const __m512i m4 = _mm512_set1_epi8(15), b16 = _mm512_set1_epi8(16);
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    const __m512i lut = _mm512_broadcast_i32x4(
        _mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, (char)129, (char)141, (char)153, (char)166,
                      (char)181, (char)197, (char)217, (char)241)); /* IQ4_NL codebook + 128 */
    const bool whole = valid >= 128 + (kind == KIND_BYTES ? o + 16 : 0);
    const __m512i l0 =
        whole ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(bytes_mask(valid), p);
    const __m512i l1 = whole ? _mm512_loadu_si512(p + 64)
                             : _mm512_maskz_loadu_epi8(bytes_mask(valid - 64), p + 64);
    *d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(l0, ix->d, l1)));
    if (om >= 0)
        *m = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(l0, ix->m, l1)));
    if (kind == KIND_BYTES) {
        const int vh = valid - o - 16;
        const __m512i h0 = whole ? _mm512_loadu_si512(p + o + 16)
                                 : _mm512_maskz_loadu_epi8(bytes_mask(vh), p + o + 16);
        const __m512i h1 = whole ? _mm512_loadu_si512(p + o + 80)
                                 : _mm512_maskz_loadu_epi8(bytes_mask(vh - 64), p + o + 80);
        *lo = _mm512_xor_si512(_mm512_permutex2var_epi16(l0, ix->lo, l1), x80);
        *hi = _mm512_xor_si512(_mm512_permutex2var_epi16(h0, ix->hi, h1), x80);
        return;
    }
    const __m512i q = _mm512_permutex2var_epi16(l0, ix->lo, l1);
    *lo = _mm512_and_si512(q, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    if (oh > 0) {
        const __m128i h = _mm512_castsi512_si128(_mm512_permutex2var_epi16(l0, ix->h, l1));
        *lo = _mm512_mask_add_epi8(*lo, (__mmask64)_mm_cvtsi128_si64(h), *lo, b16);
        *hi = _mm512_mask_add_epi8(*hi, (__mmask64)_mm_extract_epi64(h, 1), *hi, b16);
    }
    if (kind == KIND_LUT) {
        *lo = _mm512_shuffle_epi8(lut, *lo);
        *hi = _mm512_shuffle_epi8(lut, *hi);
    }
}

/* The 16 lanes' d_x (4 per block) of group g. */
static inline __m512 lane_dx(const void *act, int64_t g) {
    const __m512i sel = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    return _mm512_permutexvar_ps(sel,
                                 _mm512_castps128_ps512(_mm_loadu_ps(qk_act32_cd(act, 4 * g))));
}

/* -8 times the lane sums of group g as f32 (for the min terms). */
static inline __m512 lane_sums(const void *act, int64_t g) {
    return _mm512_cvtepi32_ps(
        _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)qk_act32_clane8(act, g))));
}

/* Shared activation data of group g: the quants and the dot's start. */
typedef struct act_group {
    __m512i ylo, yhi, init;
} act_group;

static inline __attribute__((always_inline)) act_group load_act(const void *act, int64_t g,
                                                                const int off) {
    const unsigned char *qa = (const unsigned char *)act + (size_t)g * QK_ACT32_GROUP_BYTES;
    act_group a;
    a.ylo = _mm512_loadu_si512(qa);
    a.yhi = _mm512_loadu_si512(qa + 64);
    a.init = _mm512_setzero_si512();
    if (off) a.init = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(qa + 160)));
    if (off == 16) a.init = _mm512_slli_epi32(a.init, 1);
    if (off == 128) a.init = _mm512_slli_epi32(a.init, 4);
    return a;
}

static inline __attribute__((always_inline)) __m512i act_dot(const act_group *a, __m512i lo,
                                                             __m512i hi) {
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(a->init, lo, a->ylo), hi, a->yhi);
}

/* Dots of NW weight rows (stride `stride` bytes) with one activation row:
** the activation is loaded once per group for all rows, so the weights
** are the only stream. Each row's arithmetic is the same whatever NW. */
static inline __attribute__((always_inline)) void
dot_act32_rows(const unsigned char *w, size_t stride, const int NW, const void *act, int64_t n,
               float *out, const int S, const int o, const int oh, const int om, const int kind,
               const int off) {
    const int64_t nb = n / QK_GGML_QK, G = qk_act32_groups(n);
    fmt_index ix;
    ix.lo = gather16_index(S, o);
    ix.hi = gather16_index(S, kind == KIND_BYTES ? 0 : o);
    ix.h = qh_index(S, oh > 0 ? oh : 0);
    ix.d = scale_index(S, 0);
    ix.m = scale_index(S, om > 0 ? om : 0);
    __m512 acc[4][2], macc[4];
    for (int r = 0; r < NW; r++) acc[r][0] = acc[r][1] = macc[r] = _mm512_setzero_ps();
    const int64_t span = 128 + (kind == KIND_BYTES ? o + 16 : 0);
    int64_t g = 0;
    if (S <= 21) {
        /* 16 blocks at a time: block b of a group has its scale bytes in
        ** 128-bit lane b (at (S - 16) b), so in-lane byte shuffles collect
        ** the 16 scales: word gg of lane b = scale of block b of group gg. */
        __m512i shuf[4];
        for (int gg = 0; gg < 4; gg++) {
            int8_t t[64];
            for (int i = 0; i < 64; i++) {
                const int lane = i / 16, wd = (i % 16) / 2;
                t[i] = (int8_t)(wd == gg ? (S - 16) * lane + (i & 1) : -1);
            }
            shuf[gg] = _mm512_loadu_si512(t);
        }
        const __m512i lanebase =
            _mm512_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
        const __m512i pack = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
        /* d_x in the same order: index 4 b + gg <- block 4 gg + b */
        const __m512i tr = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        const __m512i m4 = _mm512_set1_epi8(15);
        const __m512i lut = _mm512_broadcast_i32x4(
            _mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, (char)129, (char)141, (char)153,
                          (char)166, (char)181, (char)197, (char)217, (char)241));
        for (; g + 3 < G && (g + 3) * 4 * S + span <= nb * S; g += 4) {
            __m512 dx16 = _mm512_castps128_ps512(_mm_loadu_ps(qk_act32_cd(act, 4 * g)));
            dx16 = _mm512_insertf32x4(dx16, _mm_loadu_ps(qk_act32_cd(act, 4 * g + 4)), 1);
            dx16 = _mm512_insertf32x4(dx16, _mm_loadu_ps(qk_act32_cd(act, 4 * g + 8)), 2);
            dx16 = _mm512_insertf32x4(dx16, _mm_loadu_ps(qk_act32_cd(act, 4 * g + 12)), 3);
            const __m512 dxt = _mm512_permutexvar_ps(tr, dx16);
            __m512 s16[4], m16[4];
            qk_prefetch_rows(w, stride, NW, 4 * g * S, nb * S, 16 * S);
            for (int r = 0; r < NW; r++) {
                const unsigned char *p = w + (size_t)r * stride + (size_t)(4 * g * S);
                __m512i dv = _mm512_setzero_si512(), mv = _mm512_setzero_si512();
                for (int gg = 0; gg < 4; gg++) {
                    const __m512i l0 = _mm512_loadu_si512(p + 4 * gg * S);
                    dv = _mm512_or_si512(dv, _mm512_shuffle_epi8(l0, shuf[gg]));
                    if (om >= 0)
                        mv = _mm512_or_si512(
                            mv, _mm512_shuffle_epi8(_mm512_srli_epi64(l0, 8 * om), shuf[gg]));
                }
                s16[r] = _mm512_mul_ps(
                    _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi64(pack, dv))),
                    dxt);
                if (om >= 0)
                    m16[r] = _mm512_mul_ps(
                        _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi64(pack, mv))),
                        dxt);
            }
            for (int gg = 0; gg < 4; gg++) {
                const act_group a = load_act(act, g + gg, off);
                const __m512i sel = _mm512_add_epi32(lanebase, _mm512_set1_epi32(gg));
                __m512 ls = _mm512_setzero_ps();
                if (om >= 0) ls = lane_sums(act, g + gg);
                for (int r = 0; r < NW; r++) {
                    const unsigned char *p = w + (size_t)r * stride + (size_t)(4 * (g + gg) * S);
                    const __m512i q = _mm512_permutex2var_epi16(_mm512_loadu_si512(p), ix.lo,
                                                                _mm512_loadu_si512(p + 64));
                    __m512i lo = _mm512_and_si512(q, m4);
                    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
                    if (kind == KIND_LUT) {
                        lo = _mm512_shuffle_epi8(lut, lo);
                        hi = _mm512_shuffle_epi8(lut, hi);
                    }
                    acc[r][gg & 1] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(act_dot(&a, lo, hi)),
                                        _mm512_permutexvar_ps(sel, s16[r]), acc[r][gg & 1]);
                    if (om >= 0)
                        macc[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(sel, m16[r]), ls, macc[r]);
                }
            }
        }
    }
    /* the remaining groups one at a time (masked loads near the row's end) */
    for (; g < G; g++) {
        const int64_t left = (nb - 4 * g) * S;
        const int valid = left >= span ? 1 << 20 : (int)left;
        const act_group a = load_act(act, g, off);
        const __m512 dx = lane_dx(act, g);
        __m512 ls = _mm512_setzero_ps();
        if (om >= 0) ls = lane_sums(act, g);
        qk_prefetch_rows(w, stride, NW, 4 * g * S, nb * S, 4 * S);
        for (int r = 0; r < NW; r++) {
            __m512i lo, hi;
            __m512 d, m;
            group_weights(w + (size_t)r * stride + (size_t)(4 * g * S), valid, S, o, oh, om, kind,
                          &ix, &lo, &hi, &d, &m);
            acc[r][g & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(act_dot(&a, lo, hi)),
                                            _mm512_mul_ps(d, dx), acc[r][g & 1]);
            if (om >= 0) macc[r] = _mm512_fmadd_ps(_mm512_mul_ps(m, dx), ls, macc[r]);
        }
    }
    /* lane8 holds -8 x the lane sums: the min term is -1/8 of macc (exact) */
    for (int r = 0; r < NW; r++)
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1])) -
                 0.125f * _mm512_reduce_add_ps(macc[r]);
}

#define QK_DOT_ACT32(name, ...)                                                                    \
    static float dot_act_##name(const void *w, const void *act, int64_t n) {                       \
        float r;                                                                                   \
        dot_act32_rows(w, 0, 1, act, n, &r, __VA_ARGS__);                                          \
        return r;                                                                                  \
    }                                                                                              \
    static void dot_act_rows_##name(const void *w, size_t stride, int nw, const void *act,         \
                                    int64_t n, float *out) {                                       \
        for (; nw >= 4; nw -= 4, w = (const unsigned char *)w + 4 * stride, out += 4)              \
            dot_act32_rows(w, stride, 4, act, n, out, __VA_ARGS__);                                \
        if (nw == 3) dot_act32_rows(w, stride, 3, act, n, out, __VA_ARGS__);                       \
        if (nw == 2) dot_act32_rows(w, stride, 2, act, n, out, __VA_ARGS__);                       \
        if (nw == 1) dot_act32_rows(w, stride, 1, act, n, out, __VA_ARGS__);                       \
    }
QK_DOT_ACT32(q4_0, 18, 2, -1, -1, KIND_NIBBLE, 8)
QK_DOT_ACT32(q4_1, 20, 4, -1, 2, KIND_NIBBLE, 0)
QK_DOT_ACT32(q5_0, 22, 6, 2, -1, KIND_NIBBLE, 16)
QK_DOT_ACT32(q5_1, 24, 8, 4, 2, KIND_NIBBLE, 0)
QK_DOT_ACT32(q8_0, 34, 2, -1, -1, KIND_BYTES, 128)
QK_DOT_ACT32(iq4_nl, 18, 2, -1, -1, KIND_LUT, 128)
#undef QK_DOT_ACT32

/* ---- f32 activations: each block's weights formed in registers ---------- */

static inline __attribute__((always_inline)) float
dot_f32_32(const unsigned char *w, const float *x, int64_t n, const int S, const int o,
           const int oh, const int om, const int kind, const int off) {
    const __m512i table = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qk_iq4nl_values));
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 macc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, x += 32) {
        const unsigned char *p = w + (size_t)b * (size_t)S;
        const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        __m512i lo, hi;
        if (kind == KIND_BYTES) {
            lo = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + o)));
            hi = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + o + 16)));
        } else {
            const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + o)));
            lo = _mm512_and_si512(v, _mm512_set1_epi32(15));
            hi = _mm512_srli_epi32(v, 4);
            if (oh > 0) {
                uint32_t h;
                memcpy(&h, p + oh, 4);
                lo = _mm512_mask_add_epi32(lo, (__mmask16)(h & 0xFFFF), lo, _mm512_set1_epi32(16));
                hi = _mm512_mask_add_epi32(hi, (__mmask16)(h >> 16), hi, _mm512_set1_epi32(16));
            }
            if (kind == KIND_LUT) {
                lo = _mm512_permutexvar_epi32(lo, table);
                hi = _mm512_permutexvar_epi32(hi, table);
            } else if (off) {
                lo = _mm512_sub_epi32(lo, _mm512_set1_epi32(off));
                hi = _mm512_sub_epi32(hi, _mm512_set1_epi32(off));
            }
        }
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(qk_k_load_u16(p)));
        acc0 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo), d), x0, acc0);
        acc1 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), d), x1, acc1);
        if (om >= 0) {
            const __m512 m = _mm512_set1_ps(_cvtsh_ss(qk_k_load_u16(p + om)));
            macc = _mm512_fmadd_ps(m, _mm512_add_ps(x0, x1), macc);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), macc));
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
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(wf + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(wf + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = (__mmask16)(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, wf + i), _mm512_maskz_loadu_ps(k, x + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

static inline __m512 load16_f16(const uint16_t *h, __mmask16 k) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, h));
}
static inline __m512 load16_bf16(const uint16_t *h, __mmask16 k) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, h));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

static float dot_f32_f16(const void *w, const float *x, int64_t n) {
    const uint16_t *h = w;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(load16_f16(h + i, 0xFFFF), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(load16_f16(h + i + 16, 0xFFFF), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = (__mmask16)(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
        a0 = _mm512_fmadd_ps(load16_f16(h + i, k), _mm512_maskz_loadu_ps(k, x + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

static float dot_f32_bf16(const void *w, const float *x, int64_t n) {
    const uint16_t *h = w;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(load16_bf16(h + i, 0xFFFF), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(load16_bf16(h + i + 16, 0xFFFF), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = (__mmask16)(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
        a0 = _mm512_fmadd_ps(load16_bf16(h + i, k), _mm512_maskz_loadu_ps(k, x + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

void qk_kernels_fill_avx512_dot32(qk_kernel_ops *t) {
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
