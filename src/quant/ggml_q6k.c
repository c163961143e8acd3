/*
** Q6_K: super-blocks of 256 values in 16 sub-blocks of 16 with int8 scales
** against one f16 d: y = (d * sc) * (q - 32), q 6 bits (low 4 in ql, high
** 2 in qh). And Q8_K, the activation format of the K-quant dot products:
** f32 d, int8 quants, and the sum of each 16 quants.
**
** Byte layout of Q6_K, per half of 128 values (ql advances 64 bytes, qh 32):
** value l (l < 32) has its low nibble in ql[l], value l + 32 in ql[l + 32],
** l + 64 in the high nibble of ql[l], l + 96 in the high nibble of
** ql[l + 32]; the four values' top 2 bits are bits 0-1, 2-3, 4-5, 6-7 of
** qh[l].
**
** Quantization: ggml's own (quantize_row_q6_K_ref: make_qx_quants per
** sub-block with weights x^2, or the importance with it; the largest scale
** maps to -128), and a second start (unit weights, or without the
** importance when it is given), both refined (ggml_kquant.c); the block
** keeps the lower (importance-weighted) squared error.
*/
#include <string.h> /* memset */

#include "quant/ggml_internal.h"

static const qk_ggml_kparams Q6K_PARAMS = {16, 16, -32, 31, -128, 127, -1, NULL};

/* ggml's Q6_K block with make_qx_quants(16, 32, ., ., rmse_type, qw).
** L receives the quants offset by 32 (0..63). */
static void block_qx(const float *x, qk_block_q6_k *y, int8_t *L, int rmse_type, const float *qw) {
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ib++) {
        const float scale = qk_ggml_make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, rmse_type,
                                                   qw ? qw + 16 * ib : NULL);
        scales[ib] = scale;
        if (fabsf(scale) > max_abs_scale) {
            max_abs_scale = fabsf(scale);
            max_scale = scale;
        }
    }
    memset(y, 0, sizeof *y);
    if (max_abs_scale < QK_GGML_GROUP_MAX_EPS) {
        memset(L, 0, QK_GGML_QK_K); /* ggml writes an all-zero block */
        return;
    }
    const float iscale = -128.0f / max_scale;
    y->d = qk_f32_to_f16(1 / iscale);
    for (int ib = 0; ib < 16; ib++)
        y->scales[ib] = (int8_t)QK_GGML_MIN(127, qk_ggml_nearest_int(iscale * scales[ib]));
    for (int j = 0; j < 16; j++) {
        const float d = qk_f16_to_f32(y->d) * (float)y->scales[j];
        if (d == 0.0f) continue;
        for (int i = 16 * j; i < 16 * j + 16; i++) {
            const int l = QK_GGML_MAX(-32, QK_GGML_MIN(31, qk_ggml_nearest_int(x[i] / d)));
            L[i] = (int8_t)(l + 32);
        }
    }
}

/* Quants 0..63 into ql/qh. */
static void pack_quants(const int8_t *L, qk_block_q6_k *y) {
    for (int h = 0; h < 2; h++) {
        const int8_t *Lh = L + 128 * h;
        uint8_t *ql = y->ql + 64 * h, *qh = y->qh + 32 * h;
        for (int l = 0; l < 32; l++) {
            const int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
            ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
            ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
            qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
    }
}

static void to_kblock(const qk_block_q6_k *y, const int8_t *L, qk_ggml_kblock *k) {
    k->d = y->d;
    k->dmin = 0;
    for (int j = 0; j < 16; j++) k->s[j] = y->scales[j], k->m[j] = 0;
    for (int i = 0; i < QK_GGML_QK_K; i++) k->L[i] = (int8_t)(L[i] - 32);
}

static void from_kblock(const qk_ggml_kblock *k, qk_block_q6_k *y) {
    int8_t L[QK_GGML_QK_K];
    y->d = k->d;
    for (int j = 0; j < 16; j++) y->scales[j] = (int8_t)k->s[j];
    for (int i = 0; i < QK_GGML_QK_K; i++) L[i] = (int8_t)(k->L[i] + 32);
    pack_quants(L, y);
}

void qk_ggml_q6_k_block_ggml(const float *x, qk_block_q6_k *y, const float *imp) {
    int8_t L[QK_GGML_QK_K];
    block_qx(x, y, L, 1, imp);
    pack_quants(L, y);
}

/* Start 0: ggml's block; start 1: unit weights, or no importance. */
static void start_q6(const float *x, const float *w, int s, void *packed, qk_ggml_kblock *k) {
    qk_block_q6_k *y = packed;
    int8_t L[QK_GGML_QK_K];
    if (s == 0)
        block_qx(x, y, L, 1, w);
    else
        block_qx(x, y, L, w ? 1 : 2, NULL);
    pack_quants(L, y);
    to_kblock(y, L, k);
}

static void pack_q6(const qk_ggml_kblock *k, void *packed) {
    from_kblock(k, packed);
}

void qk_ggml_quantize_q6_k(const float *x, void *dst, int64_t n, const float *imp) {
    /* an all-zero block (D = 0) stays as ggml writes it */
    static const qk_ggml_kformat F = {&Q6K_PARAMS, QK_GGML_QK_K, sizeof(qk_block_q6_k),
                                      start_q6,    pack_q6,      false};
    qk_ggml_quantize_two_starts(&F, x, dst, n, imp);
}

/* As ggml's dequantize_row_q6_K: y = d * sc * q, products left to right. */
void qk_ggml_dequantize_q6_k(const void *src, float *y, int64_t n) {
    const qk_block_q6_k *x = src;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        const float d = qk_f16_to_f32(x[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

/* ------------------------------------------------------------------------
** Q8_K (quantize_row_q8_K_ref): the value of largest magnitude maps to
** -127 (iscale = -127 / max), q = min(127, nearest(iscale * x)) with ties
** to even, d = 1 / iscale in f32. Importance is not used.
*/
void qk_ggml_quantize_q8_k(const float *x, void *dst, int64_t n, const float *imp) {
    (void)imp;
    qk_block_q8_k *y = dst;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++, x += QK_GGML_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_GGML_QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        memset(&y[i], 0, sizeof y[i]);
        if (amax == 0.0f) continue;
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_GGML_QK_K; j++) {
            const int v = QK_GGML_MIN(127, qk_ggml_nearest_int(iscale * x[j]));
            y[i].qs[j] = (int8_t)QK_GGML_MAX(-128, v);
        }
        for (int j = 0; j < QK_GGML_QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void qk_ggml_dequantize_q8_k(const void *src, float *y, int64_t n) {
    const qk_block_q8_k *x = src;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++)
        for (int j = 0; j < QK_GGML_QK_K; j++) *y++ = x[i].d * (float)x[i].qs[j];
}
