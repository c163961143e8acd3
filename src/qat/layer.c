/*
** QAT linear and 2-D convolution layers: f32 master weights, fake-quantized
** weights and input activations, straight-through / LSQ backward.
**
** Both kinds share one code path: a linear layer is a convolution whose
** "column" matrix is the input sample itself (k = in, p = 1). Plain loops,
** in a fixed order, so results are reproducible on any x86-64 or other
** IEEE machine (no FMA contraction under -std=c11).
*/
#include <stdlib.h> /* calloc, realloc, free */
#include <string.h> /* memcpy, memset */

#include "core/error.h"
#include "qat/conv_math.h"
#include "qat/layer.h"

qk_qat_config qk_qat_config_default(int weight_bits, int act_bits) {
    qk_qat_config c;
    c.weight = (qk_qat_quant_config){.bits = weight_bits,
                                     .range = QK_QRANGE_SIGNED_RESTRICTED,
                                     .symmetric = true,
                                     .granularity = QK_QAT_PER_CHANNEL,
                                     .mode = QK_QAT_SCALE_OBSERVER,
                                     .init = QK_QAT_INIT_MINMAX,
                                     .momentum = 1.0f,
                                     .learn_zero_point = false};
    c.act = (qk_qat_quant_config){.bits = act_bits,
                                  .range = QK_QRANGE_UNSIGNED,
                                  .symmetric = false,
                                  .granularity = QK_QAT_PER_TENSOR,
                                  .mode = QK_QAT_SCALE_OBSERVER,
                                  .init = QK_QAT_INIT_MINMAX,
                                  .momentum = 0.01f,
                                  .learn_zero_point = false};
    return c;
}

qk_channel_layout qk_qat_layer_weight_layout(const qk_qat_layer *l) {
    if (l->wq.channels > 1 || l->wq.cfg.granularity == QK_QAT_PER_CHANNEL)
        return (qk_channel_layout){1, l->out_ch, l->k};
    return (qk_channel_layout){1, 1, l->out_ch * l->k};
}

static qk_status layer_create(qk_qat_kind kind, const qk_qat_conv2d_shape *shape,
                              const qk_qat_config *cfg, qk_qat_layer **out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "qat layer: NULL output");
    *out = NULL;
    if (!cfg) return qk_error_set(QK_ERR_INVALID_ARG, "qat layer: NULL config");
    qk_status st = qk_quantizer_check_config(&cfg->weight, "weight");
    if (st == QK_OK) st = qk_quantizer_check_config(&cfg->act, "activation");
    if (st != QK_OK) return st;
    if (cfg->act.bits && cfg->act.granularity != QK_QAT_PER_TENSOR)
        return qk_error_set(QK_ERR_CONFIG, "qat activation: only per-tensor quantization");
    int64_t oh, ow;
    st = qk_conv2d_out_hw(shape, &oh, &ow);
    if (st != QK_OK) return st;
    qk_qat_layer *l = calloc(1, sizeof *l);
    if (!l) return qk_error_set(QK_ERR_NOMEM, "qat layer");
    l->kind = kind;
    l->conv = *shape;
    l->out_h = oh;
    l->out_w = ow;
    l->out_ch = shape->out_channels;
    l->k = (int64_t)shape->in_channels * shape->kernel_h * shape->kernel_w;
    l->p = oh * ow;
    l->in_size = (int64_t)shape->in_channels * shape->in_h * shape->in_w;
    l->out_size = l->out_ch * l->p;
    l->batch = -1;
    size_t nw;
    if (!qk_mul_size((size_t)l->out_ch, (size_t)l->k, &nw) || nw > ((size_t)1 << 40)) {
        const long long oc = (long long)l->out_ch, kk = (long long)l->k;
        free(l);
        return qk_error_set(QK_ERR_OVERFLOW, "qat layer: %lld x %lld weights", oc, kk);
    }
    l->weight = calloc(nw, sizeof(float));
    l->grad_weight = calloc(nw, sizeof(float));
    l->weight_fq = calloc(nw, sizeof(float));
    l->grad_weight_fq = calloc(nw, sizeof(float));
    l->bias = calloc((size_t)l->out_ch, sizeof(float));
    l->grad_bias = calloc((size_t)l->out_ch, sizeof(float));
    if (kind == QK_QAT_KIND_CONV2D) {
        l->col = calloc((size_t)(l->k * l->p), sizeof(float));
        l->dcol = calloc((size_t)(l->k * l->p), sizeof(float));
    }
    const int64_t wch = cfg->weight.granularity == QK_QAT_PER_CHANNEL ? l->out_ch : 1;
    st = qk_quantizer_init(&l->wq, &cfg->weight, wch);
    if (st == QK_OK) st = qk_quantizer_init(&l->aq, &cfg->act, 1);
    if (st == QK_OK &&
        (!l->weight || !l->grad_weight || !l->weight_fq || !l->grad_weight_fq || !l->bias ||
         !l->grad_bias || (kind == QK_QAT_KIND_CONV2D && (!l->col || !l->dcol))))
        st = qk_error_set(QK_ERR_NOMEM, "qat layer: %zu weights", nw);
    if (st != QK_OK) {
        qk_qat_layer_free(l);
        return st;
    }
    l->phase = (qk_qat_phase){true, false, l->wq.bits, l->aq.bits};
    *out = l;
    return QK_OK;
}

qk_status qk_qat_linear_create(int64_t in_features, int64_t out_features,
                               const qk_qat_config *config, qk_qat_layer **out) {
    if (in_features <= 0 || out_features <= 0 || in_features > INT32_MAX ||
        out_features > INT32_MAX)
        return qk_error_set(QK_ERR_SHAPE, "qat linear: %lld -> %lld features",
                            (long long)in_features, (long long)out_features);
    const qk_qat_conv2d_shape s = {
        (int32_t)in_features, (int32_t)out_features, 1, 1, 1, 1, 1, 1, 0, 0};
    return layer_create(QK_QAT_KIND_LINEAR, &s, config, out);
}

qk_status qk_qat_conv2d_create(const qk_qat_conv2d_shape *shape, const qk_qat_config *config,
                               qk_qat_layer **out) {
    if (!shape) return qk_error_set(QK_ERR_INVALID_ARG, "qat conv2d: NULL shape");
    return layer_create(QK_QAT_KIND_CONV2D, shape, config, out);
}

void qk_qat_layer_free(qk_qat_layer *l) {
    if (!l) return;
    free(l->weight);
    free(l->bias);
    free(l->grad_weight);
    free(l->grad_bias);
    free(l->weight_fq);
    free(l->grad_weight_fq);
    free(l->x_in);
    free(l->x_fq);
    free(l->x_tmp);
    free(l->col);
    free(l->dcol);
    qk_quantizer_free(&l->wq);
    qk_quantizer_free(&l->aq);
    free(l);
}

int64_t qk_qat_layer_in_size(const qk_qat_layer *l) {
    return l ? l->in_size : 0;
}
int64_t qk_qat_layer_out_size(const qk_qat_layer *l) {
    return l ? l->out_size : 0;
}
int64_t qk_qat_layer_weight_count(const qk_qat_layer *l) {
    return l ? l->out_ch * l->k : 0;
}
int64_t qk_qat_layer_out_channels(const qk_qat_layer *l) {
    return l ? l->out_ch : 0;
}

qk_status qk_qat_layer_set_weights(qk_qat_layer *l, const float *weight, const float *bias) {
    if (!l || !weight) return qk_error_set(QK_ERR_INVALID_ARG, "qat set weights: NULL argument");
    memcpy(l->weight, weight, sizeof(float) * (size_t)(l->out_ch * l->k));
    if (bias)
        memcpy(l->bias, bias, sizeof(float) * (size_t)l->out_ch);
    else
        memset(l->bias, 0, sizeof(float) * (size_t)l->out_ch);
    qk_quantizer_reset(&l->wq);
    return QK_OK;
}

qk_status qk_qat_layer_params(qk_qat_layer *l, qk_qat_param *out, size_t capacity, size_t *n) {
    if (!l || !n || (!out && capacity)) return qk_error_set(QK_ERR_INVALID_ARG, "qat params: NULL");
    qk_qat_param all[QK_QAT_MAX_PARAMS];
    size_t k = 0;
    all[k++] =
        (qk_qat_param){"weight", l->weight, l->grad_weight, (size_t)(l->out_ch * l->k), false};
    all[k++] = (qk_qat_param){"bias", l->bias, l->grad_bias, (size_t)l->out_ch, false};
    const qk_quantizer *qs[2] = {&l->wq, &l->aq};
    const char *names[2][2] = {{"weight_scale", "weight_zero_point"},
                               {"act_scale", "act_zero_point"}};
    for (int i = 0; i < 2; i++) {
        const qk_quantizer *q = qs[i];
        if (q->bits == 0 || q->cfg.mode != QK_QAT_SCALE_LSQ) continue;
        all[k++] = (qk_qat_param){names[i][0], q->scale, q->grad_scale, (size_t)q->channels, true};
        if (q->cfg.learn_zero_point)
            all[k++] = (qk_qat_param){names[i][1], q->zero_point, q->grad_zero_point,
                                      (size_t)q->channels, true};
    }
    if (k > capacity)
        return qk_error_set(QK_ERR_INVALID_ARG, "qat params: %zu parameters, capacity %zu", k,
                            capacity);
    memcpy(out, all, k * sizeof *out);
    *n = k;
    return QK_OK;
}

void qk_qat_layer_zero_grad(qk_qat_layer *l) {
    if (!l) return;
    memset(l->grad_weight, 0, sizeof(float) * (size_t)(l->out_ch * l->k));
    memset(l->grad_bias, 0, sizeof(float) * (size_t)l->out_ch);
    const qk_quantizer *qs[2] = {&l->wq, &l->aq};
    for (int i = 0; i < 2; i++) {
        if (qs[i]->bits == 0) continue;
        memset(qs[i]->grad_scale, 0, sizeof(float) * (size_t)qs[i]->channels);
        memset(qs[i]->grad_zero_point, 0, sizeof(float) * (size_t)qs[i]->channels);
    }
}

qk_status qk_qat_layer_set_phase(qk_qat_layer *l, const qk_qat_phase *phase) {
    if (!l || !phase) return qk_error_set(QK_ERR_INVALID_ARG, "qat set phase: NULL argument");
    qk_status st = qk_quantizer_set_bits(&l->wq, phase->weight_bits);
    if (st == QK_OK) st = qk_quantizer_set_bits(&l->aq, phase->act_bits);
    if (st != QK_OK) return st;
    l->phase = *phase;
    l->phase.weight_bits = l->wq.bits;
    l->phase.act_bits = l->aq.bits;
    return QK_OK;
}

qk_qat_phase qk_qat_layer_phase(const qk_qat_layer *l) {
    return l->phase;
}

static qk_status ensure_capacity(qk_qat_layer *l, size_t n) {
    if (n <= l->cap) return QK_OK;
    float *bufs[3] = {l->x_in, l->x_fq, l->x_tmp};
    for (int i = 0; i < 3; i++) {
        float *p = realloc(bufs[i], n * sizeof(float));
        if (!p) {
            l->x_in = bufs[0], l->x_fq = bufs[1], l->x_tmp = bufs[2];
            return qk_error_set(QK_ERR_NOMEM, "qat layer: batch of %zu floats", n);
        }
        bufs[i] = p;
    }
    l->x_in = bufs[0], l->x_fq = bufs[1], l->x_tmp = bufs[2];
    l->cap = n;
    l->batch = -1; /* the cache moved */
    return QK_OK;
}

/* y = conv(x, w) + b for `batch` samples. */
static void compute_forward(qk_qat_layer *l, const float *x, int64_t batch, const float *w,
                            float *y) {
    const int64_t K = l->k, P = l->p;
    for (int64_t n = 0; n < batch; n++) {
        const float *xs = x + n * l->in_size;
        float *ys = y + n * l->out_size;
        if (l->kind == QK_QAT_KIND_LINEAR) {
            for (int64_t o = 0; o < l->out_ch; o++) {
                const float *wr = w + o * K;
                float acc = 0.0f;
                for (int64_t k = 0; k < K; k++) acc += wr[k] * xs[k];
                ys[o] = acc + l->bias[o];
            }
            continue;
        }
        qk_im2col_f32(xs, &l->conv, l->out_h, l->out_w, l->col);
        for (int64_t o = 0; o < l->out_ch; o++) {
            float *yc = ys + o * P;
            for (int64_t p = 0; p < P; p++) yc[p] = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                const float wv = w[o * K + k];
                const float *row = l->col + k * P;
                for (int64_t p = 0; p < P; p++) yc[p] += wv * row[p];
            }
            for (int64_t p = 0; p < P; p++) yc[p] += l->bias[o];
        }
    }
}

qk_status qk_qat_layer_forward(qk_qat_layer *l, const float *x, int64_t batch, bool training,
                               float *y) {
    if (!l || batch < 0 || (batch > 0 && (!x || !y)))
        return qk_error_set(QK_ERR_INVALID_ARG, "qat forward: NULL argument or negative batch");
    size_t n;
    if (!qk_mul_size((size_t)batch, (size_t)l->in_size, &n))
        return qk_error_set(QK_ERR_OVERFLOW, "qat forward: batch %lld", (long long)batch);
    qk_status st = ensure_capacity(l, n);
    if (st != QK_OK) return st;
    if (training) l->batch = -1; /* invalid until this forward completes */
    const qk_channel_layout al = {1, 1, (int64_t)n};
    const bool act_fq = l->aq.bits > 0 && l->phase.fake_quant;
    const bool w_fq = l->wq.bits > 0 && l->phase.fake_quant;
    if (training && l->phase.observe && batch > 0) {
        st = qk_quantizer_observe(&l->aq, x, al);
        if (st != QK_OK) return qk_error_prefix("qat activation observer");
    }
    const float *xuse = x;
    float *xbuf = training ? l->x_fq : l->x_tmp;
    if (act_fq && batch > 0) {
        st = qk_quantizer_prepare(&l->aq, x, al);
        if (st == QK_OK) st = qk_quantizer_forward(&l->aq, x, al, xbuf);
        if (st != QK_OK) return qk_error_prefix("qat activation");
        xuse = xbuf;
    } else if (training) {
        memcpy(l->x_fq, x, n * sizeof(float));
        xuse = l->x_fq;
    }
    if (training) memcpy(l->x_in, x, n * sizeof(float));

    const qk_channel_layout wl = qk_qat_layer_weight_layout(l);
    if (training && l->phase.observe && l->wq.bits > 0) {
        st = qk_quantizer_observe(&l->wq, l->weight, wl);
        if (st != QK_OK) return qk_error_prefix("qat weight observer");
    }
    if (w_fq) {
        st = qk_quantizer_prepare(&l->wq, l->weight, wl);
        if (st == QK_OK) st = qk_quantizer_forward(&l->wq, l->weight, wl, l->weight_fq);
        if (st != QK_OK) return qk_error_prefix("qat weight");
    } else {
        memcpy(l->weight_fq, l->weight, sizeof(float) * (size_t)(l->out_ch * l->k));
    }
    compute_forward(l, xuse, batch, l->weight_fq, y);
    if (training) {
        l->batch = batch;
        l->cache_act_fq = act_fq;
        l->cache_w_fq = w_fq;
    }
    return QK_OK;
}

qk_status qk_qat_layer_backward(qk_qat_layer *l, const float *dy, float *dx) {
    if (!l) return qk_error_set(QK_ERR_INVALID_ARG, "qat backward: NULL layer");
    if (l->batch < 0)
        return qk_error_set(QK_ERR_STATE, "qat backward: no training forward to go back through");
    const int64_t batch = l->batch, K = l->k, P = l->p;
    if (batch > 0 && !dy) return qk_error_set(QK_ERR_INVALID_ARG, "qat backward: NULL dy");
    const size_t n = (size_t)(batch * l->in_size);
    const bool act_lsq = l->cache_act_fq && l->aq.cfg.mode == QK_QAT_SCALE_LSQ;
    const bool need_dx = dx != NULL || act_lsq;
    float *dxq = l->x_tmp; /* dL/d(fake-quantized input) */
    float *gw = l->grad_weight_fq;
    memset(gw, 0, sizeof(float) * (size_t)(l->out_ch * K));
    const float *w = l->weight_fq;
    for (int64_t s = 0; s < batch; s++) {
        const float *dys = dy + s * l->out_size;
        const float *xs = l->x_fq + s * l->in_size;
        float *dxs = dxq + s * l->in_size;
        if (l->kind == QK_QAT_KIND_LINEAR) {
            if (need_dx) memset(dxs, 0, sizeof(float) * (size_t)K);
            for (int64_t o = 0; o < l->out_ch; o++) {
                const float g = dys[o];
                l->grad_bias[o] += g;
                float *gr = gw + o * K;
                const float *wr = w + o * K;
                for (int64_t k = 0; k < K; k++) gr[k] += g * xs[k];
                if (need_dx)
                    for (int64_t k = 0; k < K; k++) dxs[k] += g * wr[k];
            }
            continue;
        }
        qk_im2col_f32(xs, &l->conv, l->out_h, l->out_w, l->col);
        if (need_dx) memset(l->dcol, 0, sizeof(float) * (size_t)(K * P));
        for (int64_t o = 0; o < l->out_ch; o++) {
            const float *dyc = dys + o * P;
            float gb = 0.0f;
            for (int64_t p = 0; p < P; p++) gb += dyc[p];
            l->grad_bias[o] += gb;
            for (int64_t k = 0; k < K; k++) {
                const float *row = l->col + k * P;
                float acc = 0.0f;
                for (int64_t p = 0; p < P; p++) acc += dyc[p] * row[p];
                gw[o * K + k] += acc;
                if (need_dx) {
                    const float wv = w[o * K + k];
                    float *drow = l->dcol + k * P;
                    for (int64_t p = 0; p < P; p++) drow[p] += wv * dyc[p];
                }
            }
        }
        if (need_dx) qk_col2im_f32(l->dcol, &l->conv, l->out_h, l->out_w, dxs);
    }
    /* weights: straight-through (or LSQ) from d(weight_fq) to d(weight) */
    qk_status st;
    if (l->cache_w_fq) {
        st = qk_quantizer_backward(&l->wq, l->weight, gw, qk_qat_layer_weight_layout(l), gw);
        if (st != QK_OK) return qk_error_prefix("qat weight backward");
    }
    for (int64_t i = 0; i < l->out_ch * K; i++) l->grad_weight[i] += gw[i];
    if (!need_dx || batch == 0) return QK_OK;
    if (l->cache_act_fq) {
        st = qk_quantizer_backward(&l->aq, l->x_in, dxq, (qk_channel_layout){1, 1, (int64_t)n},
                                   dx ? dx : dxq);
        if (st != QK_OK) return qk_error_prefix("qat activation backward");
    } else if (dx) {
        memcpy(dx, dxq, n * sizeof(float));
    }
    return QK_OK;
}

qk_status qk_qat_layer_weight_params(const qk_qat_layer *l, int64_t c, qk_affine_params *out) {
    if (!l || !out) return qk_error_set(QK_ERR_INVALID_ARG, "qat weight params: NULL argument");
    if (l->wq.bits == 0 || !l->wq.ready)
        return qk_error_set(QK_ERR_STATE, "qat weight params: weights are not quantized (yet)");
    if (c < 0 || c >= l->wq.channels)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS, "qat weight params: channel %lld of %lld",
                            (long long)c, (long long)l->wq.channels);
    *out = qk_quantizer_params(&l->wq, c);
    return QK_OK;
}

qk_status qk_qat_layer_act_params(const qk_qat_layer *l, qk_affine_params *out) {
    if (!l || !out) return qk_error_set(QK_ERR_INVALID_ARG, "qat act params: NULL argument");
    if (l->aq.bits == 0 || !l->aq.ready)
        return qk_error_set(QK_ERR_STATE, "qat act params: activations are not quantized (yet)");
    *out = qk_quantizer_params(&l->aq, 0);
    return QK_OK;
}

qk_status qk_qat_layer_fold_batchnorm(qk_qat_layer *l, const float *gamma, const float *beta,
                                      const float *mean, const float *var, float eps) {
    if (!l) return qk_error_set(QK_ERR_INVALID_ARG, "qat fold batchnorm: NULL layer");
    qk_status st =
        qk_qat_fold_batchnorm(l->weight, l->bias, l->out_ch, l->k, gamma, beta, mean, var, eps);
    if (st == QK_OK) qk_quantizer_reset(&l->wq);
    return st;
}
