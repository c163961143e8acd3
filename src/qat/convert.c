/*
** Conversion of a trained QAT layer into an integer layer, and the integer
** forward path: packed weight codes, per-channel (or per-tensor) scales and
** zero points, input quantized with the frozen activation parameters, int32
** accumulation of (qx - zx) (qw - zw), one f32 rescale per output.
*/
#include <limits.h> /* INT32_MAX */
#include <stdlib.h> /* calloc, malloc, free */
#include <string.h> /* memcpy */

#include "core/error.h"
#include "qat/conv_math.h"
#include "qat/fake_quant.h"
#include "qat/layer.h"

struct qk_qlayer {
    qk_qat_kind kind;
    qk_qat_conv2d_shape conv;
    int64_t out_h, out_w, in_size, out_size, out_ch, k, p;
    int bits;
    int32_t qmin, qmax;
    uint8_t *packed; /* codes - qmin, `bits` each, LSB first */
    size_t packed_bytes;
    int64_t w_channels; /* 1 (per tensor) or out_ch */
    float *w_scale;
    int32_t *w_zp;
    float *bias;
    bool act;
    qk_affine_params act_p;
};

void qk_qlayer_free(qk_qlayer *q) {
    if (!q) return;
    free(q->packed);
    free(q->w_scale);
    free(q->w_zp);
    free(q->bias);
    free(q);
}

int64_t qk_qlayer_in_size(const qk_qlayer *q) {
    return q ? q->in_size : 0;
}
int64_t qk_qlayer_out_size(const qk_qlayer *q) {
    return q ? q->out_size : 0;
}

size_t qk_qlayer_bytes(const qk_qlayer *q) {
    if (!q) return 0;
    return q->packed_bytes + (size_t)q->w_channels * (sizeof(float) + sizeof(int32_t)) +
           (size_t)q->out_ch * sizeof(float) + (q->act ? sizeof(float) + sizeof(int32_t) : 0);
}

static void pack_code(uint8_t *dst, size_t index, int bits, uint32_t u) {
    size_t bit = index * (size_t)bits;
    for (int b = 0; b < bits; b++, bit++)
        if (u & (1u << b)) dst[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}

static uint32_t unpack_code(const uint8_t *src, size_t index, int bits) {
    size_t bit = index * (size_t)bits;
    uint32_t u = 0;
    for (int b = 0; b < bits; b++, bit++) u |= (uint32_t)((src[bit >> 3] >> (bit & 7)) & 1u) << b;
    return u;
}

qk_status qk_qlayer_weight_codes(const qk_qlayer *q, int32_t *codes) {
    if (!q || !codes) return qk_error_set(QK_ERR_INVALID_ARG, "qlayer codes: NULL argument");
    const size_t n = (size_t)(q->out_ch * q->k);
    for (size_t i = 0; i < n; i++) codes[i] = q->qmin + (int32_t)unpack_code(q->packed, i, q->bits);
    return QK_OK;
}

qk_status qk_qat_layer_convert(const qk_qat_layer *l, qk_qlayer **out) {
    if (!l || !out) return qk_error_set(QK_ERR_INVALID_ARG, "qat convert: NULL argument");
    *out = NULL;
    if (l->wq.bits == 0 || !l->wq.ready)
        return qk_error_set(QK_ERR_STATE, "qat convert: the weights are not quantized (bits 0, or "
                                          "no forward with fake quantization yet)");
    const bool act = l->aq.bits > 0;
    if (act && !l->aq.ready)
        return qk_error_set(QK_ERR_STATE, "qat convert: the activation quantizer has no "
                                          "parameters yet (observe some batches first)");
    /* int32 accumulation bound: K * max|qw - zw| * max|qx - zx| */
    if (act) {
        const double bound =
            (double)l->k * (double)(l->wq.qmax - l->wq.qmin) * (double)(l->aq.qmax - l->aq.qmin);
        if (bound > (double)INT32_MAX)
            return qk_error_set(QK_ERR_OVERFLOW,
                                "qat convert: %lld products per output may "
                                "overflow int32",
                                (long long)l->k);
    }
    qk_qlayer *q = calloc(1, sizeof *q);
    if (!q) return qk_error_set(QK_ERR_NOMEM, "qat convert");
    q->kind = l->kind;
    q->conv = l->conv;
    q->out_h = l->out_h;
    q->out_w = l->out_w;
    q->in_size = l->in_size;
    q->out_size = l->out_size;
    q->out_ch = l->out_ch;
    q->k = l->k;
    q->p = l->p;
    q->bits = l->wq.bits;
    q->qmin = l->wq.qmin;
    q->qmax = l->wq.qmax;
    q->w_channels = l->wq.channels;
    const size_t nw = (size_t)(l->out_ch * l->k);
    q->packed_bytes = (nw * (size_t)q->bits + 7) / 8;
    q->packed = calloc(q->packed_bytes ? q->packed_bytes : 1, 1);
    q->w_scale = calloc((size_t)q->w_channels, sizeof(float));
    q->w_zp = calloc((size_t)q->w_channels, sizeof(int32_t));
    q->bias = malloc(sizeof(float) * (size_t)q->out_ch);
    int32_t *codes = malloc(nw * sizeof(int32_t));
    if (!q->packed || !q->w_scale || !q->w_zp || !q->bias || !codes) {
        free(codes);
        qk_qlayer_free(q);
        return qk_error_set(QK_ERR_NOMEM, "qat convert: %zu weights", nw);
    }
    for (int64_t c = 0; c < q->w_channels; c++) {
        const qk_affine_params p = qk_quantizer_params(&l->wq, c);
        q->w_scale[c] = p.scale;
        q->w_zp[c] = p.zero_point;
    }
    qk_status st = qk_fake_quant_per_channel_codes(l->weight, qk_qat_layer_weight_layout(l),
                                                   q->w_scale, q->w_zp, q->qmin, q->qmax, codes);
    if (st != QK_OK) {
        free(codes);
        qk_qlayer_free(q);
        return qk_error_prefix("qat convert");
    }
    for (size_t i = 0; i < nw; i++)
        pack_code(q->packed, i, q->bits, (uint32_t)(codes[i] - q->qmin));
    free(codes);
    memcpy(q->bias, l->bias, sizeof(float) * (size_t)q->out_ch);
    q->act = act;
    if (act) q->act_p = qk_quantizer_params(&l->aq, 0);
    *out = q;
    return QK_OK;
}

/* Integer path: per sample, codes of x minus zx, int32 products. */
static void forward_int(const qk_qlayer *q, const float *x, int64_t batch, const int32_t *wc,
                        int32_t *xc, int32_t *col, int32_t *acc, float *y) {
    const int64_t K = q->k, P = q->p;
    const float inv = 1.0f / q->act_p.scale, zx = (float)q->act_p.zero_point;
    const float lo = (float)q->act_p.qmin, hi = (float)q->act_p.qmax;
    for (int64_t n = 0; n < batch; n++) {
        const float *xs = x + n * q->in_size;
        float *ys = y + n * q->out_size;
        for (int64_t i = 0; i < q->in_size; i++)
            xc[i] = (int32_t)(qk_fq_clamp(qk_fq_qval(xs[i], inv, zx), lo, hi) - zx);
        const int32_t *cols = xc;
        if (q->kind == QK_QAT_KIND_CONV2D) {
            qk_im2col_i32(xc, &q->conv, q->out_h, q->out_w, col);
            cols = col;
        }
        for (int64_t o = 0; o < q->out_ch; o++) {
            for (int64_t p = 0; p < P; p++) acc[p] = 0;
            const int32_t *wr = wc + o * K;
            for (int64_t k = 0; k < K; k++) {
                const int32_t wv = wr[k];
                const int32_t *row = cols + k * P;
                for (int64_t p = 0; p < P; p++) acc[p] += wv * row[p];
            }
            const float s = q->act_p.scale * q->w_scale[q->w_channels > 1 ? o : 0];
            for (int64_t p = 0; p < P; p++) ys[o * P + p] = (float)acc[p] * s + q->bias[o];
        }
    }
}

/* Weight-only path: f32 inputs times dequantized codes. */
static void forward_f32(const qk_qlayer *q, const float *x, int64_t batch, const float *wd,
                        float *col, float *y) {
    const int64_t K = q->k, P = q->p;
    for (int64_t n = 0; n < batch; n++) {
        const float *xs = x + n * q->in_size;
        float *ys = y + n * q->out_size;
        const float *cols = xs;
        if (q->kind == QK_QAT_KIND_CONV2D) {
            qk_im2col_f32(xs, &q->conv, q->out_h, q->out_w, col);
            cols = col;
        }
        for (int64_t o = 0; o < q->out_ch; o++) {
            float *yc = ys + o * P;
            for (int64_t p = 0; p < P; p++) yc[p] = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                const float wv = wd[o * K + k];
                const float *row = cols + k * P;
                for (int64_t p = 0; p < P; p++) yc[p] += wv * row[p];
            }
            for (int64_t p = 0; p < P; p++) yc[p] += q->bias[o];
        }
    }
}

qk_status qk_qlayer_forward(const qk_qlayer *q, const float *x, int64_t batch, float *y) {
    if (!q || batch < 0 || (batch > 0 && (!x || !y)))
        return qk_error_set(QK_ERR_INVALID_ARG, "qlayer forward: NULL argument or negative batch");
    const size_t nw = (size_t)(q->out_ch * q->k), ncol = (size_t)(q->k * q->p);
    int32_t *wc = malloc(nw * sizeof(int32_t));
    if (!wc) return qk_error_set(QK_ERR_NOMEM, "qlayer forward");
    for (size_t i = 0; i < nw; i++) {
        const int64_t c = q->w_channels > 1 ? (int64_t)(i / (size_t)q->k) : 0;
        wc[i] = q->qmin + (int32_t)unpack_code(q->packed, i, q->bits) - q->w_zp[c];
    }
    qk_status st = QK_OK;
    if (q->act) {
        int32_t *xc = malloc(sizeof(int32_t) * (size_t)q->in_size);
        int32_t *col = malloc(sizeof(int32_t) * ncol);
        int32_t *acc = malloc(sizeof(int32_t) * (size_t)q->p);
        if (xc && col && acc)
            forward_int(q, x, batch, wc, xc, col, acc, y);
        else
            st = qk_error_set(QK_ERR_NOMEM, "qlayer forward");
        free(xc);
        free(col);
        free(acc);
    } else {
        float *wd = malloc(nw * sizeof(float));
        float *col = malloc(sizeof(float) * ncol);
        if (wd && col) {
            for (size_t i = 0; i < nw; i++)
                wd[i] = (float)wc[i] * q->w_scale[q->w_channels > 1 ? i / (size_t)q->k : 0];
            forward_f32(q, x, batch, wd, col, y);
        } else {
            st = qk_error_set(QK_ERR_NOMEM, "qlayer forward");
        }
        free(wd);
        free(col);
    }
    free(wc);
    return st;
}
