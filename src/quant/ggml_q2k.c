/*
** Q2_K: super-blocks of 256 values in 16 sub-blocks of 16, each with a
** 4-bit scale (low nibble) and 4-bit min (high nibble) against the f16
** super-scales d and dmin: y = (d * sc) * q - (dmin * m), q 2 bits.
** Value i has its quant in qs[32 * (i / 128) + i % 32] at bit
** 2 * ((i % 128) / 32).
**
** Quantization: ggml's own (quantize_row_q2_K_ref: make_qkx2_quants per
** sub-block with weights |x| and absolute errors, scales and mins rounded
** against the largest; with importance, the imatrix path: make_qkx3_quants
** with importance * sqrt(sigma^2 + x^2) and make_qp_quants for the 4-bit
** scales), a second start (that search with unit weights, or the reference
** path when importance is given), both refined (ggml_kquant.c); the lower
** (weighted) squared error wins.
*/
#include <string.h> /* memset */

#include "quant/ggml_internal.h"

static const qk_ggml_kparams Q2K_PARAMS = {16, 16, 0, 3, 0, 15, 15, NULL};

/* One super-block: d, dmin, scale bytes (min << 4 | scale), quants 0..3. */
typedef struct q2_block {
    uint16_t d, dmin;
    uint8_t scales[16];
    uint8_t L[QK_GGML_QK_K];
} q2_block;

static void requantize(const float *x, q2_block *y) {
    const float dm = qk_f16_to_f32(y->d), mm = qk_f16_to_f32(y->dmin);
    for (int j = 0; j < 16; j++) {
        const float d = dm * (float)(y->scales[j] & 0xF);
        if (d == 0.0f) continue;
        const float m = mm * (float)(y->scales[j] >> 4);
        for (int i = 16 * j; i < 16 * j + 16; i++)
            y->L[i] = (uint8_t)QK_GGML_MAX(0, QK_GGML_MIN(3, qk_ggml_nearest_int((x[i] + m) / d)));
    }
}

/* quantize_row_q2_K_ref */
static void block_ref(const float *x, q2_block *y) {
    float scales[16], mins[16], weights[16];
    uint8_t Laux[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
        scales[j] = qk_ggml_make_qkx2_quants(16, 3, x + 16 * j, weights, y->L + 16 * j, &mins[j],
                                             Laux, -0.5f, 0.1f, 15, true);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
        const float iscale = 15.0f / max_scale;
        for (int j = 0; j < 16; j++)
            y->scales[j] = (uint8_t)qk_ggml_nearest_int(iscale * scales[j]);
        y->d = qk_f32_to_f16(max_scale / 15.0f);
    } else {
        memset(y->scales, 0, sizeof y->scales);
        y->d = qk_f32_to_f16(0.0f);
    }
    if (max_min > 0) {
        const float iscale = 15.0f / max_min;
        for (int j = 0; j < 16; j++)
            y->scales[j] = (uint8_t)(y->scales[j] | (qk_ggml_nearest_int(iscale * mins[j]) << 4));
        y->dmin = qk_f32_to_f16(max_min / 15.0f);
    } else {
        y->dmin = qk_f32_to_f16(0.0f);
    }
    requantize(x, y);
}

/* quantize_row_q2_K_impl; qw NULL gives unit weights (a plain
** least-squares start, not one of ggml's paths) */
static void block_impl(const float *x, q2_block *y, const float *qw) {
    float scales[16], mins[16], weight[16], sw[16];
    uint8_t Laux[16], Ls[16], Lm[16];
    float sumx2 = 0;
    for (int i = 0; i < QK_GGML_QK_K; i++) sumx2 += x[i] * x[i];
    const float sigma2 = sumx2 / QK_GGML_QK_K;
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++) {
            const float xl = x[16 * j + l];
            weight[l] = qw ? qw[16 * j + l] * sqrtf(sigma2 + xl * xl) : 1.0f;
        }
        sw[j] = 0;
        for (int l = 0; l < 16; l++) sw[j] += weight[l];
        scales[j] = qk_ggml_make_qkx3_quants(16, 3, x + 16 * j, weight, y->L + 16 * j, &mins[j],
                                             Laux, -0.9f, 0.05f, 36, false);
    }
    const float dm = qk_ggml_make_qp_quants(16, 15, scales, Ls, sw);
    const float mm = qk_ggml_make_qp_quants(16, 15, mins, Lm, sw);
    y->d = qk_f32_to_f16(dm);
    y->dmin = qk_f32_to_f16(mm);
    for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    requantize(x, y);
}

static void pack(const q2_block *b, qk_block_q2_k *y) {
    y->d = b->d;
    y->dmin = b->dmin;
    memcpy(y->scales, b->scales, 16);
    memset(y->qs, 0, sizeof y->qs);
    for (int i = 0; i < QK_GGML_QK_K; i++)
        y->qs[32 * (i / 128) + i % 32] |= (uint8_t)((b->L[i] & 3) << (2 * ((i % 128) / 32)));
}

static void to_kblock(const q2_block *b, qk_ggml_kblock *k) {
    k->d = b->d;
    k->dmin = b->dmin;
    for (int j = 0; j < 16; j++) k->s[j] = b->scales[j] & 0xF, k->m[j] = b->scales[j] >> 4;
    for (int i = 0; i < QK_GGML_QK_K; i++) k->L[i] = (int8_t)b->L[i];
}

static void from_kblock(const qk_ggml_kblock *k, q2_block *b) {
    b->d = k->d;
    b->dmin = k->dmin;
    for (int j = 0; j < 16; j++) b->scales[j] = (uint8_t)(k->s[j] | (k->m[j] << 4));
    for (int i = 0; i < QK_GGML_QK_K; i++) b->L[i] = (uint8_t)k->L[i];
}

void qk_ggml_q2_k_block_ggml(const float *x, qk_block_q2_k *y, const float *imp) {
    q2_block b;
    if (imp)
        block_impl(x, &b, imp);
    else
        block_ref(x, &b);
    pack(&b, y);
}

/* Start 0: ggml's block; start 1: the other path (the reference search
** when importance is given, the importance search with unit weights when
** not). */
static void start_q2(const float *x, const float *w, int s, void *packed, qk_ggml_kblock *k) {
    q2_block b;
    if (s == 0 && w)
        block_impl(x, &b, w);
    else if (s == 1 && !w)
        block_impl(x, &b, NULL);
    else
        block_ref(x, &b);
    to_kblock(&b, k);
    pack(&b, packed);
}

static void pack_q2(const qk_ggml_kblock *k, void *packed) {
    q2_block b;
    from_kblock(k, &b);
    pack(&b, packed);
}

void qk_ggml_quantize_q2_k(const float *x, void *dst, int64_t n, const float *imp) {
    static const qk_ggml_kformat F = {&Q2K_PARAMS, QK_GGML_QK_K, sizeof(qk_block_q2_k),
                                      start_q2,    pack_q2,      true};
    qk_ggml_quantize_two_starts(&F, x, dst, n, imp);
}

/* As ggml's dequantize_row_q2_K: dl = d * sc, ml = dmin * m, y = dl * q - ml. */
void qk_ggml_dequantize_q2_k(const void *src, float *y, int64_t n) {
    const qk_block_q2_k *x = src;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const float d = qk_f16_to_f32(x[i].d), min = qk_f16_to_f32(x[i].dmin);
        for (int e = 0; e < QK_GGML_QK_K; e++) {
            const uint8_t sc = x[i].scales[e / 16];
            const float dl = d * (float)(sc & 0xF), ml = min * (float)(sc >> 4);
            const int q = (x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            *y++ = dl * (float)q - ml;
        }
    }
}
