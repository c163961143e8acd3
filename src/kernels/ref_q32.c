/*
** Reference kernels of the 32-element block formats (Q4_0, Q4_1, Q5_0,
** Q5_1, Q8_0, IQ4_NL; Q8_1 dequantization) and the plain float types (f32,
** f16, bf16): the definitions the SIMD variants are tested against.
**
** Quantization and dequantization are the quant layer's (qk_quantize_row
** without importance, qk_dequantize_row): they decide the bytes of files.
** Dot products accumulate in double, so the reference is the most accurate
** variant and the SIMD ones are held to a bound around it.
*/
#include "kernels/kernels_internal.h"

/* ---- quantize / dequantize through the quant layer ---------------------- */
#define QK_REF_ROW_FNS(name, TYPE)                                                                 \
    static void quantize_##name(const float *x, void *dst, int64_t n) {                            \
        (void)qk_quantize_row(TYPE, x, dst, n, NULL);                                              \
    }                                                                                              \
    static void dequantize_##name(const void *src, float *y, int64_t n) {                          \
        (void)qk_dequantize_row(TYPE, src, y, n);                                                  \
    }
QK_REF_ROW_FNS(q4_0, QK_TYPE_Q4_0)
QK_REF_ROW_FNS(q4_1, QK_TYPE_Q4_1)
QK_REF_ROW_FNS(q5_0, QK_TYPE_Q5_0)
QK_REF_ROW_FNS(q5_1, QK_TYPE_Q5_1)
QK_REF_ROW_FNS(q8_0, QK_TYPE_Q8_0)
QK_REF_ROW_FNS(q8_1, QK_TYPE_Q8_1)
QK_REF_ROW_FNS(iq4_nl, QK_TYPE_IQ4_NL)
QK_REF_ROW_FNS(f16, QK_TYPE_F16)
QK_REF_ROW_FNS(bf16, QK_TYPE_BF16)
#undef QK_REF_ROW_FNS

static void quantize_f32(const float *x, void *dst, int64_t n) {
    memcpy(dst, x, (size_t)n * sizeof(float));
}
static void dequantize_f32(const void *src, float *y, int64_t n) {
    memcpy(y, src, (size_t)n * sizeof(float));
}

/* ---- activation rows ------------------------------------------------------ */
void qk_kernels_ref_quantize_act32(const float *x, void *act, int64_t n) {
    const int64_t nb = n / QK_GGML_QK, G = qk_act32_groups(n);
    unsigned char *qs = act;
    for (int64_t b = 0; b < 4 * G; b++) {
        if (b >= nb) { /* padding */
            for (int j = 0; j < QK_GGML_QK; j++) qs[qk_act32_offset(b, j)] = 0;
            *qk_act32_d(act, b) = 0.0f;
            *qk_act32_sum(act, b) = 0;
            continue;
        }
        const float *xb = x + b * QK_GGML_QK;
        float amax = 0.0f;
        for (int j = 0; j < QK_GGML_QK; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int32_t sum = 0;
        for (int j = 0; j < QK_GGML_QK; j++) {
            const int8_t q = qk_k_round_i8(xb[j] * id);
            qs[qk_act32_offset(b, j)] = (unsigned char)q;
            sum += q;
        }
        *qk_act32_d(act, b) = d;
        *qk_act32_sum(act, b) = sum;
    }
    qk_act32_finish(act, n);
}

/* One block as integers: value_j = d * q[j] + m (m = 0 for symmetric
** formats), exactly the products ggml's dequantizers form. */
static void decode_block(qk_type type, const unsigned char *blk, int *q, float *d, float *m) {
    *m = 0.0f;
    switch (type) {
    case QK_TYPE_Q4_0: {
        const qk_block_q4_0 *b = (const qk_block_q4_0 *)blk;
        *d = qk_f16_to_f32(qk_k_load_u16(&b->d));
        for (int j = 0; j < 16; j++) q[j] = (b->qs[j] & 0xF) - 8, q[j + 16] = (b->qs[j] >> 4) - 8;
        return;
    }
    case QK_TYPE_Q4_1: {
        const qk_block_q4_1 *b = (const qk_block_q4_1 *)blk;
        *d = qk_f16_to_f32(qk_k_load_u16(&b->d));
        *m = qk_f16_to_f32(qk_k_load_u16(&b->m));
        for (int j = 0; j < 16; j++) q[j] = b->qs[j] & 0xF, q[j + 16] = b->qs[j] >> 4;
        return;
    }
    case QK_TYPE_Q5_0:
    case QK_TYPE_Q5_1: {
        const bool one = type == QK_TYPE_Q5_1;
        const unsigned char *qh = blk + (one ? 4 : 2), *qs = qh + 4;
        *d = qk_f16_to_f32(qk_k_load_u16(blk));
        if (one) *m = qk_f16_to_f32(qk_k_load_u16(blk + 2));
        const uint32_t h =
            (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
        for (int j = 0; j < 16; j++) {
            q[j] = (qs[j] & 0xF) | (int)((h >> j) & 1) << 4;
            q[j + 16] = (qs[j] >> 4) | (int)((h >> (j + 16)) & 1) << 4;
        }
        if (!one)
            for (int j = 0; j < 32; j++) q[j] -= 16;
        return;
    }
    case QK_TYPE_Q8_0: {
        const qk_block_q8_0 *b = (const qk_block_q8_0 *)blk;
        *d = qk_f16_to_f32(qk_k_load_u16(&b->d));
        for (int j = 0; j < 32; j++) q[j] = b->qs[j];
        return;
    }
    case QK_TYPE_IQ4_NL: {
        const qk_block_iq4_nl *b = (const qk_block_iq4_nl *)blk;
        *d = qk_f16_to_f32(qk_k_load_u16(&b->d));
        for (int j = 0; j < 16; j++)
            q[j] = qk_iq4nl_values[b->qs[j] & 0xF], q[j + 16] = qk_iq4nl_values[b->qs[j] >> 4];
        return;
    }
    default:
        *d = 0.0f;
        return;
    }
}

double qk_kernels_ref_dot_act32_blocks(qk_type type, const void *w, const void *act, int64_t n,
                                       int64_t b0) {
    const int64_t nb = n / QK_GGML_QK;
    const size_t bytes = (size_t)qk_type_get_traits(type)->block_bytes;
    const unsigned char *qa = act;
    double sum = 0.0;
    for (int64_t b = b0; b < nb; b++) {
        int q[32];
        float d, m;
        decode_block(type, (const unsigned char *)w + (size_t)b * bytes, q, &d, &m);
        int32_t isum = 0;
        for (int j = 0; j < 32; j++) isum += q[j] * (int8_t)qa[qk_act32_offset(b, j)];
        const double dx = *qk_act32_cd(act, b);
        sum += (double)d * dx * isum;
        if (m != 0.0f) sum += (double)m * dx * *qk_act32_csum(act, b);
    }
    return sum;
}

#define QK_REF_DOT_FNS(name, TYPE)                                                                 \
    static float dot_act_##name(const void *w, const void *act, int64_t n) {                       \
        return (float)qk_kernels_ref_dot_act32_blocks(TYPE, w, act, n, 0);                         \
    }                                                                                              \
    static void dot_act_rows_##name(const void *w, size_t stride, int nw, const void *act,         \
                                    int64_t n, float *out) {                                       \
        for (int r = 0; r < nw; r++)                                                               \
            out[r] = dot_act_##name((const unsigned char *)w + (size_t)r * stride, act, n);        \
    }                                                                                              \
    static float dot_f32_##name(const void *w, const float *x, int64_t n) {                        \
        const size_t bytes = sizeof(qk_block_##name);                                              \
        double sum = 0.0;                                                                          \
        for (int64_t b = 0; b < n / QK_GGML_QK; b++) {                                             \
            float y[QK_GGML_QK];                                                                   \
            dequantize_##name((const unsigned char *)w + (size_t)b * bytes, y, QK_GGML_QK);        \
            for (int j = 0; j < QK_GGML_QK; j++) sum += (double)y[j] * x[b * QK_GGML_QK + j];      \
        }                                                                                          \
        return (float)sum;                                                                         \
    }
QK_REF_DOT_FNS(q4_0, QK_TYPE_Q4_0)
QK_REF_DOT_FNS(q4_1, QK_TYPE_Q4_1)
QK_REF_DOT_FNS(q5_0, QK_TYPE_Q5_0)
QK_REF_DOT_FNS(q5_1, QK_TYPE_Q5_1)
QK_REF_DOT_FNS(q8_0, QK_TYPE_Q8_0)
QK_REF_DOT_FNS(iq4_nl, QK_TYPE_IQ4_NL)
#undef QK_REF_DOT_FNS

static float dot_f32_f32(const void *w, const float *x, int64_t n) {
    const float *wf = w;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)wf[i] * x[i];
    return (float)sum;
}
static float dot_f32_f16(const void *w, const float *x, int64_t n) {
    const unsigned char *p = w;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)qk_f16_to_f32(qk_k_load_u16(p + 2 * i)) * x[i];
    return (float)sum;
}
static float dot_f32_bf16(const void *w, const float *x, int64_t n) {
    const unsigned char *p = w;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)qk_bf16_to_f32(qk_k_load_u16(p + 2 * i)) * x[i];
    return (float)sum;
}

void qk_kernels_fill_ref(qk_kernel_ops *t) {
#define QK_SET32(TYPE, name)                                                                       \
    t[TYPE] = (qk_kernel_ops){.type = TYPE,                                                        \
                              .isa = QK_ISA_REF,                                                   \
                              .act_type = QK_TYPE_Q8_0,                                            \
                              .quantize_row = quantize_##name,                                     \
                              .dequantize_row = dequantize_##name,                                 \
                              .quantize_act = qk_kernels_ref_quantize_act32,                       \
                              .vec_dot_act = dot_act_##name,                                       \
                              .vec_dot_act_rows = dot_act_rows_##name,                             \
                              .vec_dot_f32 = dot_f32_##name}
    QK_SET32(QK_TYPE_Q4_0, q4_0);
    QK_SET32(QK_TYPE_Q4_1, q4_1);
    QK_SET32(QK_TYPE_Q5_0, q5_0);
    QK_SET32(QK_TYPE_Q5_1, q5_1);
    QK_SET32(QK_TYPE_Q8_0, q8_0);
    QK_SET32(QK_TYPE_IQ4_NL, iq4_nl);
#undef QK_SET32
    t[QK_TYPE_Q8_1] = (qk_kernel_ops){.type = QK_TYPE_Q8_1,
                                      .isa = QK_ISA_REF,
                                      .act_type = QK_TYPE_COUNT,
                                      .quantize_row = quantize_q8_1,
                                      .dequantize_row = dequantize_q8_1};
#define QK_SETF(TYPE, name)                                                                        \
    t[TYPE] = (qk_kernel_ops){.type = TYPE,                                                        \
                              .isa = QK_ISA_REF,                                                   \
                              .act_type = QK_TYPE_F32,                                             \
                              .quantize_row = quantize_##name,                                     \
                              .dequantize_row = dequantize_##name,                                 \
                              .vec_dot_f32 = dot_f32_##name}
    QK_SETF(QK_TYPE_F32, f32);
    QK_SETF(QK_TYPE_F16, f16);
    QK_SETF(QK_TYPE_BF16, bf16);
#undef QK_SETF
}
