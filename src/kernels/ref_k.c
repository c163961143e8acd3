/*
** Reference kernels of the K formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K; Q8_K
** dequantization): dequantization through the quant layer, quantization by
** the fast K-quant algorithm (kquant_fast.c), activation rows as ggml's
** Q8_K, and dot products that form exact integer sums per sub-block and
** accumulate the scaled sums in double.
*/
#include "kernels/kernels_internal.h"
#include "kernels/kquant.h"

/* One super-block as integers: value i of sub-block j is
** d * s[j] * q[i] - dmin * m[j]. */
typedef struct kdec {
    int nsub, sublen;
    float d, dmin;
    int s[16], m[16];
    int q[QK_GGML_QK_K];
} kdec;

static void get_scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static int q3_scale(const uint8_t *scales, int j) {
    const int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    return (low | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

static void decode(qk_type type, const void *blk, kdec *k) {
    memset(k->m, 0, sizeof k->m);
    k->dmin = 0.0f;
    switch (type) {
    case QK_TYPE_Q2_K: {
        const qk_block_q2_k *b = blk;
        k->nsub = 16, k->sublen = 16;
        k->d = qk_f16_to_f32(b->d), k->dmin = qk_f16_to_f32(b->dmin);
        for (int j = 0; j < 16; j++) k->s[j] = b->scales[j] & 0xF, k->m[j] = b->scales[j] >> 4;
        for (int i = 0; i < 256; i++)
            k->q[i] = (b->qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
        return;
    }
    case QK_TYPE_Q3_K: {
        const qk_block_q3_k *b = blk;
        k->nsub = 16, k->sublen = 16;
        k->d = qk_f16_to_f32(b->d);
        for (int j = 0; j < 16; j++) k->s[j] = q3_scale(b->scales, j);
        for (int i = 0; i < 256; i++) {
            const int low = (b->qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
            const int high = (b->hmask[i % 32] >> (i / 32)) & 1;
            k->q[i] = low - (high ? 0 : 4);
        }
        return;
    }
    case QK_TYPE_Q4_K:
    case QK_TYPE_Q5_K: {
        const bool five = type == QK_TYPE_Q5_K;
        const qk_block_q4_k *b4 = blk;
        const qk_block_q5_k *b5 = blk;
        const uint8_t *scales = five ? b5->scales : b4->scales;
        const uint8_t *qs = five ? b5->qs : b4->qs;
        k->nsub = 8, k->sublen = 32;
        k->d = qk_f16_to_f32(five ? b5->d : b4->d),
        k->dmin = qk_f16_to_f32(five ? b5->dmin : b4->dmin);
        for (int j = 0; j < 8; j++) get_scale_min_k4(j, scales, &k->s[j], &k->m[j]);
        for (int g = 0; g < 4; g++) {
            for (int l = 0; l < 32; l++) {
                int q1 = qs[32 * g + l] & 0xF, q2 = qs[32 * g + l] >> 4;
                if (five) {
                    q1 |= ((b5->qh[l] >> (2 * g)) & 1) << 4;
                    q2 |= ((b5->qh[l] >> (2 * g + 1)) & 1) << 4;
                }
                k->q[64 * g + l] = q1;
                k->q[64 * g + 32 + l] = q2;
            }
        }
        return;
    }
    case QK_TYPE_Q6_K: {
        const qk_block_q6_k *b = blk;
        k->nsub = 16, k->sublen = 16;
        k->d = qk_f16_to_f32(b->d);
        for (int j = 0; j < 16; j++) k->s[j] = b->scales[j];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            int *q = k->q + 128 * h;
            for (int l = 0; l < 32; l++) {
                q[l] = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                q[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                q[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                q[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            }
        }
        return;
    }
    default:
        memset(k, 0, sizeof *k);
        return;
    }
}

static float dot_act_k(qk_type type, const void *w, const void *act, int64_t n) {
    const size_t bytes = (size_t)qk_type_get_traits(type)->block_bytes;
    const qk_block_q8_k *y = act;
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK_GGML_QK_K; b++) {
        kdec k;
        decode(type, (const unsigned char *)w + (size_t)b * bytes, &k);
        double sb = 0.0;
        for (int j = 0; j < k.nsub; j++) {
            int32_t isum = 0, ysum = 0;
            for (int i = j * k.sublen; i < (j + 1) * k.sublen; i++)
                isum += k.q[i] * y[b].qs[i], ysum += y[b].qs[i];
            sb += (double)k.d * k.s[j] * isum - (double)k.dmin * k.m[j] * ysum;
        }
        sum += (double)y[b].d * sb;
    }
    return (float)sum;
}

static float dot_f32_k(qk_type type, const void *w, const float *x, int64_t n) {
    const size_t bytes = (size_t)qk_type_get_traits(type)->block_bytes;
    double sum = 0.0;
    for (int64_t b = 0; b < n / QK_GGML_QK_K; b++) {
        float v[QK_GGML_QK_K];
        (void)qk_dequantize_row(type, (const unsigned char *)w + (size_t)b * bytes, v,
                                QK_GGML_QK_K);
        for (int i = 0; i < QK_GGML_QK_K; i++) sum += (double)v[i] * x[b * QK_GGML_QK_K + i];
    }
    return (float)sum;
}

static void quantize_act_q8_k(const float *x, void *act, int64_t n) {
    (void)qk_quantize_row(QK_TYPE_Q8_K, x, act, n, NULL);
}

#define QK_REF_K_FNS(name, TYPE)                                                                   \
    static void dequantize_##name(const void *src, float *y, int64_t n) {                          \
        (void)qk_dequantize_row(TYPE, src, y, n);                                                  \
    }                                                                                              \
    static float dot_act_##name(const void *w, const void *act, int64_t n) {                       \
        return dot_act_k(TYPE, w, act, n);                                                         \
    }                                                                                              \
    static void dot_act_rows_##name(const void *w, size_t stride, int nw, const void *act,         \
                                    int64_t n, float *out) {                                       \
        for (int r = 0; r < nw; r++)                                                               \
            out[r] = dot_act_k(TYPE, (const unsigned char *)w + (size_t)r * stride, act, n);       \
    }                                                                                              \
    static float dot_f32_##name(const void *w, const float *x, int64_t n) {                        \
        return dot_f32_k(TYPE, w, x, n);                                                           \
    }
QK_REF_K_FNS(q2_k, QK_TYPE_Q2_K)
QK_REF_K_FNS(q3_k, QK_TYPE_Q3_K)
QK_REF_K_FNS(q4_k, QK_TYPE_Q4_K)
QK_REF_K_FNS(q5_k, QK_TYPE_Q5_K)
QK_REF_K_FNS(q6_k, QK_TYPE_Q6_K)
#undef QK_REF_K_FNS

static void dequantize_q8_k(const void *src, float *y, int64_t n) {
    (void)qk_dequantize_row(QK_TYPE_Q8_K, src, y, n);
}
static void quantize_q8_k(const float *x, void *dst, int64_t n) {
    (void)qk_quantize_row(QK_TYPE_Q8_K, x, dst, n, NULL);
}

void qk_kernels_fill_ref_k(qk_kernel_ops *t) {
#define QK_SETK(TYPE, name, quant)                                                                 \
    t[TYPE] = (qk_kernel_ops){.type = TYPE,                                                        \
                              .isa = QK_ISA_REF,                                                   \
                              .act_type = QK_TYPE_Q8_K,                                            \
                              .quantize_row = quant,                                               \
                              .dequantize_row = dequantize_##name,                                 \
                              .quantize_act = quantize_act_q8_k,                                   \
                              .vec_dot_act = dot_act_##name,                                       \
                              .vec_dot_act_rows = dot_act_rows_##name,                             \
                              .vec_dot_f32 = dot_f32_##name}
    QK_SETK(QK_TYPE_Q2_K, q2_k, qk_kquant_q2_k_ref);
    QK_SETK(QK_TYPE_Q3_K, q3_k, qk_kquant_q3_k_ref);
    QK_SETK(QK_TYPE_Q4_K, q4_k, qk_kquant_q4_k_ref);
    QK_SETK(QK_TYPE_Q5_K, q5_k, qk_kquant_q5_k_ref);
    QK_SETK(QK_TYPE_Q6_K, q6_k, qk_kquant_q6_k_ref);
#undef QK_SETK
    t[QK_TYPE_Q8_K] = (qk_kernel_ops){.type = QK_TYPE_Q8_K,
                                      .isa = QK_ISA_REF,
                                      .act_type = QK_TYPE_COUNT,
                                      .quantize_row = quantize_q8_k,
                                      .dequantize_row = dequantize_q8_k};
}
