/*
** IQ4_NL: blocks of 32 with an f16 scale d and 4-bit indices into a fixed
** non-linear codebook (qk_iq4nl_values, denser near zero):
** y = d * kvalues[q]. Byte j holds index j (low nibble) and j + 16 (high).
**
** Quantization: ggml's own (quantize_iq4_nl as llama-quantize calls it:
** weights x^2, or importance * sqrt(sigma^2 + x^2) with sigma^2 twice the
** block's mean square; the first scale maps the value of largest magnitude
** to -127, then 15 inverse scales (k - 127) / max, k in [-7, 7], each fitted
** by weighted least squares, the best kept; indices re-picked with the final
** scale), and a second start (unit weights, or no importance when it is
** given), both refined (ggml_kquant.c: indices given the f16 scale, the
** scale given the indices); the block keeps the lower (weighted) squared
** error.
*/
#include <string.h> /* memset */

#include "quant/ggml_internal.h"

static const qk_ggml_kparams IQ4NL_PARAMS = {1, 32, 0, 15, 0, 0, -1, qk_iq4nl_values};

/* ggml's block: the f32 scale and the indices. `unit` (with qw NULL)
** replaces ggml's default weights x^2 by 1, for quantkit's second start. */
static float block_search(const float *x, uint8_t *L, const float *qw, bool unit) {
    const int8_t *values = qk_iq4nl_values;
    const int ntry = 7;
    float weight[32];
    float sigma2 = 0;
    for (int j = 0; j < 32; j++) sigma2 += x[j] * x[j];
    sigma2 *= 2.0f / 32.0f;
    for (int j = 0; j < 32; j++) weight[j] = qw ? qw[j] * sqrtf(sigma2 + x[j] * x[j]) : x[j] * x[j];
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    float d = 0.0f;
    if (amax >= QK_GGML_GROUP_MAX_EPS) {
        d = -max / (float)values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            const int l = qk_ggml_best_index_int8(16, values, id * x[j]);
            const float q = values[l];
            sumqx += weight[j] * q * x[j];
            sumq2 += weight[j] * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = (float)(itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                const int l = qk_ggml_best_index_int8(16, values, id * x[j]);
                const float q = values[l];
                sumqx += weight[j] * q * x[j];
                sumq2 += weight[j] * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
    }
    const float id = d != 0.0f ? 1 / d : 0.0f;
    for (int j = 0; j < 32; j++) L[j] = (uint8_t)qk_ggml_best_index_int8(16, values, id * x[j]);
    return d;
}

static void pack(uint16_t d, const uint8_t *L, qk_block_iq4_nl *y) {
    y->d = d;
    for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

void qk_ggml_iq4_nl_block_ggml(const float *x, qk_block_iq4_nl *y, const float *imp) {
    uint8_t L[32];
    const float d = block_search(x, L, imp, false);
    pack(qk_f32_to_f16(d), L, y);
}

/* Start 0: ggml's block; start 1: unit weights, or no importance. */
static void start_iq4nl(const float *x, const float *w, int s, void *packed, qk_ggml_kblock *k) {
    uint8_t L[32];
    const float d = block_search(x, L, s == 0 ? w : NULL, s == 1 && !w);
    memset(k, 0, sizeof *k);
    k->d = qk_f32_to_f16(d);
    for (int j = 0; j < 32; j++) k->L[j] = (int8_t)L[j];
    pack(k->d, L, packed);
}

static void pack_iq4nl(const qk_ggml_kblock *k, void *packed) {
    uint8_t L[32];
    for (int j = 0; j < 32; j++) L[j] = (uint8_t)k->L[j];
    pack(k->d, L, packed);
}

void qk_ggml_quantize_iq4_nl(const float *x, void *dst, int64_t n, const float *imp) {
    /* a block whose scale is 0 stays as ggml writes it */
    static const qk_ggml_kformat F = {&IQ4NL_PARAMS, QK_GGML_QK, sizeof(qk_block_iq4_nl),
                                      start_iq4nl,   pack_iq4nl, false};
    qk_ggml_quantize_two_starts(&F, x, dst, n, imp);
}

void qk_ggml_dequantize_iq4_nl(const void *src, float *y, int64_t n) {
    const qk_block_iq4_nl *x = src;
    for (int64_t i = 0; i < n / QK_GGML_QK; i++, y += QK_GGML_QK) {
        const float d = qk_f16_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)qk_iq4nl_values[x[i].qs[j] & 0xF];
            y[j + 16] = d * (float)qk_iq4nl_values[x[i].qs[j] >> 4];
        }
    }
}
