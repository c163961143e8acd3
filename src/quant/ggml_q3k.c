/*
** Q3_K: super-blocks of 256 values in 16 sub-blocks of 16, each with a
** signed 6-bit scale (stored + 32) against one f16 d:
** y = (d * (sc - 32)) * (q - 4), q 3 bits: the low 2 in qs, the high one in
** hmask (where a set bit means q >= 4).
**
** Layouts: value i has its low 2 bits in qs[32 * (i / 128) + i % 32] at bit
** 2 * ((i % 128) / 32), its high bit in hmask[i % 32] at bit i / 32. Scale
** j has its low 4 bits in the low (j < 8) or high (j >= 8) nibble of
** scales[j % 8] and its top 2 bits at bit 2 * (j / 4) of scales[8 + j % 4].
**
** Quantization: ggml's own (quantize_row_q3_K_ref: make_q3_quants per
** sub-block, scales rounded against the largest; with importance,
** make_qx_quants with importance * sqrt(sigma^2 + x^2) for the quants and
** the sub-block weight sums for the scales), a second start (that search
** with unit weights, or the reference path when importance is given), both
** refined (ggml_kquant.c); the lower (weighted) squared error wins.
*/
#include <string.h> /* memset */

#include "quant/ggml_internal.h"

static const qk_ggml_kparams Q3K_PARAMS = {16, 16, -4, 3, -32, 31, -1, NULL};

/* One super-block: d, 16 scales 0..63, quants 0..7. */
typedef struct q3_block {
    uint16_t d;
    uint8_t sc[16];
    int8_t L[QK_GGML_QK_K];
} q3_block;

static void pack_scales(const uint8_t *sc, uint8_t *scales) {
    memset(scales, 0, 12);
    for (int j = 0; j < 16; j++) {
        const int l = sc[j];
        if (j < 8)
            scales[j] = (uint8_t)(l & 0xF);
        else
            scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
        scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
    }
}

static int unpack_scale(const uint8_t *scales, int j) {
    const int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    return low | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

static void requantize(const float *x, q3_block *y) {
    for (int j = 0; j < 16; j++) {
        const float d = qk_f16_to_f32(y->d) * (float)(y->sc[j] - 32);
        if (d == 0.0f) continue;
        for (int i = 16 * j; i < 16 * j + 16; i++)
            y->L[i] = (int8_t)(QK_GGML_MAX(-4, QK_GGML_MIN(3, qk_ggml_nearest_int(x[i] / d))) + 4);
    }
}

/* quantize_row_q3_K_ref */
static void block_ref(const float *x, q3_block *y) {
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; j++) {
        scales[j] = qk_ggml_make_q3_quants(16, 4, x + 16 * j, y->L + 16 * j, true);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    memset(y->sc, 0, sizeof y->sc);
    if (max_scale != 0.0f) {
        const float iscale = -32.0f / max_scale;
        for (int j = 0; j < 16; j++) {
            const int l = (int8_t)qk_ggml_nearest_int(iscale * scales[j]);
            y->sc[j] = (uint8_t)(QK_GGML_MAX(-32, QK_GGML_MIN(31, l)) + 32);
        }
        y->d = qk_f32_to_f16(1 / iscale);
    } else {
        y->d = qk_f32_to_f16(0.0f);
    }
    requantize(x, y);
}

/* quantize_row_q3_K_impl; qw NULL gives unit weights (a plain
** least-squares start, not one of ggml's paths) */
static void block_impl(const float *x, q3_block *y, const float *qw) {
    float scales[16], weight[16], sw[16];
    int8_t Ls[16];
    float sumx2 = 0;
    for (int i = 0; i < QK_GGML_QK_K; i++) sumx2 += x[i] * x[i];
    const float sigma2 = 2 * sumx2 / QK_GGML_QK_K;
    for (int j = 0; j < 16; j++) {
        const float *xs = x + 16 * j;
        for (int l = 0; l < 16; l++)
            weight[l] = qw ? qw[16 * j + l] * sqrtf(sigma2 + xs[l] * xs[l]) : 1.0f;
        float sumw = 0;
        for (int l = 0; l < 16; l++) sumw += weight[l];
        sw[j] = sumw;
        scales[j] = qk_ggml_make_qx_quants(16, 4, xs, y->L + 16 * j, 1, weight);
    }
    const float d_block = qk_ggml_make_qx_quants(16, 32, scales, Ls, 1, sw);
    for (int j = 0; j < 16; j++) y->sc[j] = (uint8_t)Ls[j];
    y->d = qk_f32_to_f16(d_block);
    requantize(x, y);
}

static void pack(const q3_block *b, qk_block_q3_k *y) {
    y->d = b->d;
    pack_scales(b->sc, y->scales);
    memset(y->hmask, 0, sizeof y->hmask);
    memset(y->qs, 0, sizeof y->qs);
    for (int i = 0; i < QK_GGML_QK_K; i++) {
        const int q = b->L[i];
        if (q > 3) y->hmask[i % 32] |= (uint8_t)(1u << (i / 32));
        y->qs[32 * (i / 128) + i % 32] |= (uint8_t)((q & 3) << (2 * ((i % 128) / 32)));
    }
}

static void to_kblock(const q3_block *b, qk_ggml_kblock *k) {
    k->d = b->d;
    k->dmin = 0;
    for (int j = 0; j < 16; j++) k->s[j] = (int16_t)(b->sc[j] - 32), k->m[j] = 0;
    for (int i = 0; i < QK_GGML_QK_K; i++) k->L[i] = (int8_t)(b->L[i] - 4);
}

static void from_kblock(const qk_ggml_kblock *k, q3_block *b) {
    b->d = k->d;
    for (int j = 0; j < 16; j++) b->sc[j] = (uint8_t)(k->s[j] + 32);
    for (int i = 0; i < QK_GGML_QK_K; i++) b->L[i] = (int8_t)(k->L[i] + 4);
}

void qk_ggml_q3_k_block_ggml(const float *x, qk_block_q3_k *y, const float *imp) {
    q3_block b;
    if (imp)
        block_impl(x, &b, imp);
    else
        block_ref(x, &b);
    pack(&b, y);
}

/* Start 0: ggml's block; start 1: the other path (the reference search
** when importance is given, the importance search with unit weights when
** not). */
static void start_q3(const float *x, const float *w, int s, void *packed, qk_ggml_kblock *k) {
    q3_block b;
    if (s == 0 && w)
        block_impl(x, &b, w);
    else if (s == 1 && !w)
        block_impl(x, &b, NULL);
    else
        block_ref(x, &b);
    to_kblock(&b, k);
    pack(&b, packed);
}

static void pack_q3(const qk_ggml_kblock *k, void *packed) {
    q3_block b;
    from_kblock(k, &b);
    pack(&b, packed);
}

void qk_ggml_quantize_q3_k(const float *x, void *dst, int64_t n, const float *imp) {
    static const qk_ggml_kformat F = {&Q3K_PARAMS, QK_GGML_QK_K, sizeof(qk_block_q3_k),
                                      start_q3,    pack_q3,      true};
    qk_ggml_quantize_two_starts(&F, x, dst, n, imp);
}

/* As ggml's dequantize_row_q3_K: dl = d * (sc - 32), y = dl * (q - 4). */
void qk_ggml_dequantize_q3_k(const void *src, float *y, int64_t n) {
    const qk_block_q3_k *x = src;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const float d_all = qk_f16_to_f32(x[i].d);
        for (int e = 0; e < QK_GGML_QK_K; e++) {
            const float dl = d_all * (float)(unpack_scale(x[i].scales, e / 16) - 32);
            const int low = (x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            const int high = (x[i].hmask[e % 32] >> (e / 32)) & 1;
            *y++ = dl * (float)(low - (high ? 0 : 4));
        }
    }
}
