/*
** ggml's 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the
** activation format Q8_1.
**
** Without importance the quantizers produce the bytes of llama.cpp's
** quantize_row_*_ref (ggml-quants.c), which decide what goes into its model
** files. The rules, for one block of 32 values:
**   Q4_0  m = the value of largest magnitude (its sign kept), d = m / -8,
**         id = d ? 1/d : 0, q = min(15, trunc(x * id + 8.5))
**   Q5_0  the same with d = m / -16 and q = min(31, trunc(x * id + 16.5))
**   Q4_1  d = (max - min) / 15, q = min(15, trunc((x - min) * id + 0.5))
**   Q5_1  d = (max - min) / 31, q = trunc((x - min) * id + 0.5)
**   Q8_0  d = amax / 127, q = roundf(x * id) (ties away from zero)
**   Q8_1  as Q8_0, plus s = d * sum(q)
** d and min are stored as f16 (round to nearest even); the quants use the
** f32 d before that rounding, as ggml does. The float operations below
** follow ggml's order so that every product rounds the same way.
**
** With importance (Q4_0/Q4_1/Q5_0/Q5_1) the scale comes from a weighted
** least-squares search (llama.cpp's imatrix path): weights
** importance * sqrt(sigma^2 + x^2), sigma^2 the row's mean square.
*/
#include <string.h> /* memcpy */

#include "quant/ggml_internal.h"

/* (int)v for v in [0, 128), else 0: what ggml's (int8_t) cast of a float
** gives on x86 (the conversion's "indefinite" result has a zero low byte)
** for the only out-of-range values that occur, +-Inf and NaN from a block
** whose scale underflowed. Defined behaviour here, same bytes. */
static int trunc_small(float v) {
    return v >= 0.0f && v < 128.0f ? (int)v : 0;
}

/* roundf(v) as an int8 for |v| <= 127.5; other values (Inf, NaN) give 0 as
** on x86. */
static int8_t round_i8(float v) {
    float r = roundf(v);
    return r >= -128.0f && r <= 127.0f ? (int8_t)r : 0;
}

/* Sum of squares of the row, divided by n (the imatrix path's sigma^2). */
static float row_sigma2(const float *x, int64_t n) {
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; j++) sum_x2 += x[j] * x[j];
    return sum_x2 / (float)n;
}

/* Importance weights of one block: imp * sqrt(sigma2 + x^2). Returns false
** when they are all zero (the caller then uses the unweighted rule). */
static bool block_weights(const float *xb, const float *qw, float sigma2, float *w) {
    bool any = false;
    for (int j = 0; j < QK_GGML_QK; j++) {
        w[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
        any |= w[j] > 0;
    }
    return any;
}

/* ------------------------------------------------------------------------
** Q4_0
*/
static void q4_0_block_ref(const float *x, qk_block_q4_0 *y) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK_GGML_QK; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = qk_f32_to_f16(d);
    for (int j = 0; j < QK_GGML_QK / 2; j++) {
        const int q0 = QK_GGML_MIN(15, trunc_small(x[j] * id + 8.5f));
        const int q1 = QK_GGML_MIN(15, trunc_small(x[j + 16] * id + 8.5f));
        y->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

void qk_ggml_quantize_q4_0(const float *x, void *dst, int64_t n, const float *imp) {
    qk_block_q4_0 *y = dst;
    const float sigma2 = imp ? row_sigma2(x, n) : 0.0f;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        const float *xb = x + b * QK_GGML_QK;
        float w[QK_GGML_QK];
        if (!imp || !block_weights(xb, imp + b * QK_GGML_QK, sigma2, w)) {
            q4_0_block_ref(xb, &y[b]);
            continue;
        }
        int8_t L[QK_GGML_QK];
        const float d = qk_ggml_make_qx_quants(QK_GGML_QK, 8, xb, L, 1, w);
        y[b].d = qk_f32_to_f16(d);
        for (int j = 0; j < 16; j++) y[b].qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    }
}

void qk_ggml_dequantize_q4_0(const void *src, float *y, int64_t n) {
    const qk_block_q4_0 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += QK_GGML_QK) {
        const float d = qk_f16_to_f32(x[b].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((x[b].qs[j] & 0x0F) - 8) * d;
            y[j + 16] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

/* ------------------------------------------------------------------------
** Q4_1
*/
static void q4_1_block_ref(const float *x, qk_block_q4_1 *y) {
    float min = x[0], max = x[0];
    for (int j = 1; j < QK_GGML_QK; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = qk_f32_to_f16(d);
    y->m = qk_f32_to_f16(min);
    for (int j = 0; j < QK_GGML_QK / 2; j++) {
        const int q0 = QK_GGML_MIN(15, trunc_small((x[j] - min) * id + 0.5f));
        const int q1 = QK_GGML_MIN(15, trunc_small((x[j + 16] - min) * id + 0.5f));
        y->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

void qk_ggml_quantize_q4_1(const float *x, void *dst, int64_t n, const float *imp) {
    qk_block_q4_1 *y = dst;
    const float sigma2 = imp ? row_sigma2(x, n) : 0.0f;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        const float *xb = x + b * QK_GGML_QK;
        float w[QK_GGML_QK];
        if (!imp || !block_weights(xb, imp + b * QK_GGML_QK, sigma2, w)) {
            q4_1_block_ref(xb, &y[b]);
            continue;
        }
        uint8_t L[QK_GGML_QK], Laux[QK_GGML_QK];
        float the_min;
        const float d = qk_ggml_make_qkx3_quants(QK_GGML_QK, 15, xb, w, L, &the_min, Laux, -0.9f,
                                                 0.05f, 36, false);
        y[b].d = qk_f32_to_f16(d);
        y[b].m = qk_f32_to_f16(-the_min);
        for (int j = 0; j < 16; j++) y[b].qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    }
}

void qk_ggml_dequantize_q4_1(const void *src, float *y, int64_t n) {
    const qk_block_q4_1 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += QK_GGML_QK) {
        const float d = qk_f16_to_f32(x[b].d);
        const float m = qk_f16_to_f32(x[b].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(x[b].qs[j] & 0x0F) * d + m;
            y[j + 16] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}

/* ------------------------------------------------------------------------
** Q5_0 and Q5_1: the low 4 bits as in Q4, bit 4 of element j at bit j of
** the little-endian u32 qh.
*/
static void pack5(const uint8_t *q, uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
        h |= (uint32_t)((q[j] >> 4) & 1) << j;
        h |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

static void unpack5(const uint8_t *qs, const uint8_t *qh, int *q) {
    const uint32_t h =
        (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0x0F) | (int)(((h >> j) & 1) << 4);
        q[j + 16] = (qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4);
    }
}

static void q5_0_block_ref(const float *x, qk_block_q5_0 *y) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK_GGML_QK; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = qk_f32_to_f16(d);
    uint8_t q[QK_GGML_QK];
    for (int j = 0; j < QK_GGML_QK; j++)
        q[j] = (uint8_t)QK_GGML_MIN(31, trunc_small(x[j] * id + 16.5f));
    pack5(q, y->qs, y->qh);
}

void qk_ggml_quantize_q5_0(const float *x, void *dst, int64_t n, const float *imp) {
    qk_block_q5_0 *y = dst;
    const float sigma2 = imp ? row_sigma2(x, n) : 0.0f;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        const float *xb = x + b * QK_GGML_QK;
        float w[QK_GGML_QK];
        if (!imp || !block_weights(xb, imp + b * QK_GGML_QK, sigma2, w)) {
            q5_0_block_ref(xb, &y[b]);
            continue;
        }
        int8_t L[QK_GGML_QK];
        uint8_t q[QK_GGML_QK];
        const float d = qk_ggml_make_qx_quants(QK_GGML_QK, 16, xb, L, 1, w);
        y[b].d = qk_f32_to_f16(d);
        for (int j = 0; j < QK_GGML_QK; j++) q[j] = (uint8_t)L[j];
        pack5(q, y[b].qs, y[b].qh);
    }
}

void qk_ggml_dequantize_q5_0(const void *src, float *y, int64_t n) {
    const qk_block_q5_0 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += QK_GGML_QK) {
        const float d = qk_f16_to_f32(x[b].d);
        int q[QK_GGML_QK];
        unpack5(x[b].qs, x[b].qh, q);
        for (int j = 0; j < QK_GGML_QK; j++) y[j] = (float)(q[j] - 16) * d;
    }
}

static void q5_1_block_ref(const float *x, qk_block_q5_1 *y) {
    float min = x[0], max = x[0];
    for (int j = 1; j < QK_GGML_QK; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = qk_f32_to_f16(d);
    y->m = qk_f32_to_f16(min);
    uint8_t q[QK_GGML_QK];
    /* ggml has no min(31, .) here; (x - min) * id never exceeds 31 by the
    ** half unit that would need it, so the clamp changes no output. */
    for (int j = 0; j < QK_GGML_QK; j++)
        q[j] = (uint8_t)QK_GGML_MIN(31, trunc_small((x[j] - min) * id + 0.5f));
    pack5(q, y->qs, y->qh);
}

void qk_ggml_quantize_q5_1(const float *x, void *dst, int64_t n, const float *imp) {
    qk_block_q5_1 *y = dst;
    const float sigma2 = imp ? row_sigma2(x, n) : 0.0f;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        const float *xb = x + b * QK_GGML_QK;
        float w[QK_GGML_QK];
        if (!imp || !block_weights(xb, imp + b * QK_GGML_QK, sigma2, w)) {
            q5_1_block_ref(xb, &y[b]);
            continue;
        }
        uint8_t L[QK_GGML_QK], Laux[QK_GGML_QK];
        float the_min;
        const float d = qk_ggml_make_qkx3_quants(QK_GGML_QK, 31, xb, w, L, &the_min, Laux, -0.9f,
                                                 0.05f, 36, false);
        y[b].d = qk_f32_to_f16(d);
        y[b].m = qk_f32_to_f16(-the_min);
        pack5(L, y[b].qs, y[b].qh);
    }
}

void qk_ggml_dequantize_q5_1(const void *src, float *y, int64_t n) {
    const qk_block_q5_1 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += QK_GGML_QK) {
        const float d = qk_f16_to_f32(x[b].d);
        const float m = qk_f16_to_f32(x[b].m);
        int q[QK_GGML_QK];
        unpack5(x[b].qs, x[b].qh, q);
        for (int j = 0; j < QK_GGML_QK; j++) y[j] = (float)q[j] * d + m;
    }
}

/* ------------------------------------------------------------------------
** Q8_0 and Q8_1 (importance is not used: 8 bits leave nothing to trade)
*/
static float absmax32(const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < QK_GGML_QK; j++) amax = QK_GGML_MAX(amax, fabsf(x[j]));
    return amax;
}

void qk_ggml_quantize_q8_0(const float *x, void *dst, int64_t n, const float *imp) {
    (void)imp;
    qk_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        const float *xb = x + b * QK_GGML_QK;
        const float d = absmax32(xb) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = qk_f32_to_f16(d);
        for (int j = 0; j < QK_GGML_QK; j++) y[b].qs[j] = round_i8(xb[j] * id);
    }
}

void qk_ggml_dequantize_q8_0(const void *src, float *y, int64_t n) {
    const qk_block_q8_0 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += QK_GGML_QK) {
        const float d = qk_f16_to_f32(x[b].d);
        for (int j = 0; j < QK_GGML_QK; j++) y[j] = (float)x[b].qs[j] * d;
    }
}

void qk_ggml_quantize_q8_1(const float *x, void *dst, int64_t n, const float *imp) {
    (void)imp;
    qk_block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++) {
        const float *xb = x + b * QK_GGML_QK;
        const float d = absmax32(xb) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = qk_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < QK_GGML_QK; j++) {
            y[b].qs[j] = round_i8(xb[j] * id);
            sum += y[b].qs[j];
        }
        y[b].s = qk_f32_to_f16((float)sum * d);
    }
}

void qk_ggml_dequantize_q8_1(const void *src, float *y, int64_t n) {
    const qk_block_q8_1 *x = src;
    for (int64_t b = 0; b < n / QK_GGML_QK; b++, y += QK_GGML_QK) {
        const float d = qk_f16_to_f32(x[b].d);
        for (int j = 0; j < QK_GGML_QK; j++) y[j] = (float)x[b].qs[j] * d;
    }
}
