/*
** Q4_K and Q5_K: super-blocks of 256 values in 8 sub-blocks of 32, each
** with a 6-bit scale and a 6-bit min against the f16 super-scales d and
** dmin: y = (d * sc) * q - (dmin * m), q in [0, 15] (Q4_K) or [0, 31]
** (Q5_K, whose fifth bit sits in qh).
**
** Scale bytes (ggml's get_scale_min_k4): sub-blocks 0..3 keep scale and
** min in the low 6 bits of bytes j and j + 4; sub-blocks 4..7 keep their
** low 4 bits in the nibbles of byte j + 4 and their top 2 bits in bits 6..7
** of bytes j - 4 (scale) and j (min).
**
** Quantization: ggml's own algorithm first (quantize_row_q4_K_ref: per
** sub-block make_qkx2_quants with weights av_x + |x|, scales rounded
** against the largest; with importance, the imatrix path: make_qkx3_quants
** with weights importance * sqrt(sigma^2 + x^2) and make_qp_quants for the
** 6-bit scales), and a second start (that search with unit weights, or
** ggml's reference path when importance is given), both refined
** (ggml_kquant.c); the block keeps whichever decodes with the lower
** (importance-weighted) squared error. So it is never worse than ggml's.
*/
#include <string.h> /* memcpy */

#include "quant/ggml_internal.h"

static const qk_ggml_kparams Q4K_PARAMS = {8, 32, 0, 15, 0, 63, 63, NULL};
static const qk_ggml_kparams Q5K_PARAMS = {8, 32, 0, 31, 0, 63, 63, NULL};

static void get_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void set_scales_mins(uint8_t *q, const uint8_t *ls, const uint8_t *lm) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
    }
}

/* The common part of one super-block of either type. */
typedef struct k45_block {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t L[QK_GGML_QK_K];
} k45_block;

/* Quants given the stored scales (ggml keeps the search's quants where a
** sub-block's scale is zero). */
static void requantize(const float *x, k45_block *y, int nmax) {
    for (int j = 0; j < 8; j++) {
        int sc, m;
        get_scale_min(j, y->scales, &sc, &m);
        const float d = qk_f16_to_f32(y->d) * (float)sc;
        if (d == 0.0f) continue;
        const float dm = qk_f16_to_f32(y->dmin) * (float)m;
        for (int i = 32 * j; i < 32 * j + 32; i++)
            y->L[i] =
                (uint8_t)QK_GGML_MAX(0, QK_GGML_MIN(nmax, qk_ggml_nearest_int((x[i] + dm) / d)));
    }
}

/* quantize_row_q4_K_ref / quantize_row_q5_K_ref */
static void block_ref(const float *x, k45_block *y, int nmax) {
    const float rmin = nmax == 15 ? -1.0f : -0.5f;
    const int nstep = nmax == 15 ? 20 : 15;
    float scales[8], mins[8], weights[32];
    uint8_t Laux[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xs[l]);
        scales[j] = qk_ggml_make_qkx2_quants(32, nmax, xs, weights, y->L + 32 * j, &mins[j], Laux,
                                             rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)QK_GGML_MIN(63, (uint8_t)qk_ggml_nearest_int(inv_scale * scales[j]));
        lm[j] = (uint8_t)QK_GGML_MIN(63, (uint8_t)qk_ggml_nearest_int(inv_min * mins[j]));
    }
    set_scales_mins(y->scales, ls, lm);
    y->d = qk_f32_to_f16(max_scale / 63.0f);
    y->dmin = qk_f32_to_f16(max_min / 63.0f);
    requantize(x, y, nmax);
}

/* quantize_row_q4_K_impl / quantize_row_q5_K_impl; qw NULL gives unit
** weights (a plain least-squares start, not one of ggml's paths) */
static void block_impl(const float *x, k45_block *y, int nmax, const float *qw) {
    float scales[8], mins[8], weights[32], sw[8];
    uint8_t Laux[32], ls[8], lm[8];
    float sum_x2 = 0;
    for (int l = 0; l < QK_GGML_QK_K; l++) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / QK_GGML_QK_K;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        for (int l = 0; l < 32; l++)
            weights[l] = qw ? qw[32 * j + l] * sqrtf(sigma2 + xs[l] * xs[l]) : 1.0f;
        float sumw = 0;
        for (int l = 0; l < 32; l++) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = qk_ggml_make_qkx3_quants(32, nmax, xs, weights, y->L + 32 * j, &mins[j], Laux,
                                             -0.9f, 0.05f, 36, false);
    }
    const float d_block = qk_ggml_make_qp_quants(8, 63, scales, ls, sw);
    const float m_block = qk_ggml_make_qp_quants(8, 63, mins, lm, sw);
    set_scales_mins(y->scales, ls, lm);
    y->d = qk_f32_to_f16(d_block);
    y->dmin = qk_f32_to_f16(m_block);
    requantize(x, y, nmax);
}

/* ------------------------------------------------------------------------
** Byte layouts
*/
static void pack_q4(const k45_block *b, qk_block_q4_k *y) {
    y->d = b->d;
    y->dmin = b->dmin;
    memcpy(y->scales, b->scales, 12);
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++)
            y->qs[32 * g + l] = (uint8_t)(b->L[64 * g + l] | (b->L[64 * g + 32 + l] << 4));
}

static void pack_q5(const k45_block *b, qk_block_q5_k *y) {
    y->d = b->d;
    y->dmin = b->dmin;
    memcpy(y->scales, b->scales, 12);
    memset(y->qh, 0, sizeof y->qh);
    for (int g = 0; g < 4; g++) {
        for (int l = 0; l < 32; l++) {
            const int l1 = b->L[64 * g + l], l2 = b->L[64 * g + 32 + l];
            y->qs[32 * g + l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            y->qh[l] |= (uint8_t)(((l1 >> 4) << (2 * g)) | ((l2 >> 4) << (2 * g + 1)));
        }
    }
}

static void to_kblock(const k45_block *b, qk_ggml_kblock *k) {
    k->d = b->d;
    k->dmin = b->dmin;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        get_scale_min(j, b->scales, &sc, &m);
        k->s[j] = (int16_t)sc;
        k->m[j] = (int16_t)m;
    }
    for (int i = 0; i < QK_GGML_QK_K; i++) k->L[i] = (int8_t)b->L[i];
}

static void from_kblock(const qk_ggml_kblock *k, k45_block *b) {
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) ls[j] = (uint8_t)k->s[j], lm[j] = (uint8_t)k->m[j];
    b->d = k->d;
    b->dmin = k->dmin;
    set_scales_mins(b->scales, ls, lm);
    for (int i = 0; i < QK_GGML_QK_K; i++) b->L[i] = (uint8_t)k->L[i];
}

static void block_ggml(const float *x, k45_block *y, int nmax, const float *imp) {
    if (imp)
        block_impl(x, y, nmax, imp);
    else
        block_ref(x, y, nmax);
}

void qk_ggml_q4_k_block_ggml(const float *x, qk_block_q4_k *y, const float *imp) {
    k45_block b;
    block_ggml(x, &b, 15, imp);
    pack_q4(&b, y);
}

void qk_ggml_q5_k_block_ggml(const float *x, qk_block_q5_k *y, const float *imp) {
    k45_block b;
    block_ggml(x, &b, 31, imp);
    pack_q5(&b, y);
}

/* Start 0: ggml's block; start 1: the other path (the reference search
** when importance is given, the importance search with unit weights when
** not). */
static void start_k45(const float *x, const float *w, int s, int nmax, k45_block *b,
                      qk_ggml_kblock *k) {
    if (s == 0)
        block_ggml(x, b, nmax, w);
    else if (w)
        block_ref(x, b, nmax);
    else
        block_impl(x, b, nmax, NULL);
    to_kblock(b, k);
}

static void start_q4(const float *x, const float *w, int s, void *packed, qk_ggml_kblock *k) {
    k45_block b;
    start_k45(x, w, s, 15, &b, k);
    pack_q4(&b, packed);
}

static void start_q5(const float *x, const float *w, int s, void *packed, qk_ggml_kblock *k) {
    k45_block b;
    start_k45(x, w, s, 31, &b, k);
    pack_q5(&b, packed);
}

static void pack_k_q4(const qk_ggml_kblock *k, void *packed) {
    k45_block b;
    from_kblock(k, &b);
    pack_q4(&b, packed);
}

static void pack_k_q5(const qk_ggml_kblock *k, void *packed) {
    k45_block b;
    from_kblock(k, &b);
    pack_q5(&b, packed);
}

void qk_ggml_quantize_q4_k(const float *x, void *dst, int64_t n, const float *imp) {
    static const qk_ggml_kformat F = {&Q4K_PARAMS, QK_GGML_QK_K, sizeof(qk_block_q4_k),
                                      start_q4,    pack_k_q4,    true};
    qk_ggml_quantize_two_starts(&F, x, dst, n, imp);
}

void qk_ggml_quantize_q5_k(const float *x, void *dst, int64_t n, const float *imp) {
    static const qk_ggml_kformat F = {&Q5K_PARAMS, QK_GGML_QK_K, sizeof(qk_block_q5_k),
                                      start_q5,    pack_k_q5,    true};
    qk_ggml_quantize_two_starts(&F, x, dst, n, imp);
}

/* ------------------------------------------------------------------------
** Dequantization, as ggml's dequantize_row_q4_K / _q5_K: per 64 values,
** d1 = d * sc, m1 = dmin * m, y = d1 * q - m1.
*/
void qk_ggml_dequantize_q4_k(const void *src, float *y, int64_t n) {
    const qk_block_q4_k *x = src;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const float d = qk_f16_to_f32(x[i].d), min = qk_f16_to_f32(x[i].dmin);
        for (int g = 0; g < 4; g++) {
            int sc, m;
            get_scale_min(2 * g, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = min * (float)m;
            get_scale_min(2 * g + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = min * (float)m;
            const uint8_t *q = x[i].qs + 32 * g;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void qk_ggml_dequantize_q5_k(const void *src, float *y, int64_t n) {
    const qk_block_q5_k *x = src;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const float d = qk_f16_to_f32(x[i].d), min = qk_f16_to_f32(x[i].dmin);
        for (int g = 0; g < 4; g++) {
            int sc, m;
            get_scale_min(2 * g, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = min * (float)m;
            get_scale_min(2 * g + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = min * (float)m;
            const uint8_t *ql = x[i].qs + 32 * g, *qh = x[i].qh;
            const uint8_t u1 = (uint8_t)(1u << (2 * g)), u2 = (uint8_t)(2u << (2 * g));
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}
