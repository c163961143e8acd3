/*
** One fake quantizer of a QAT layer: observer with momentum, parameters,
** LSQ initialisation and gradients, bit-width changes (see quantizer.h).
*/
#include <float.h>  /* FLT_EPSILON */
#include <math.h>   /* fabs, sqrt, isnan, nearbyintf */
#include <stdlib.h> /* calloc, free */

#include "core/error.h"
#include "qat/quantizer.h"

qk_status qk_quantizer_check_config(const qk_qat_quant_config *cfg, const char *what) {
    if (cfg->bits == 0) return QK_OK;
    if (cfg->bits < 2 || cfg->bits > 8)
        return qk_error_set(QK_ERR_CONFIG, "qat %s: %d bits (0 or 2..8)", what, cfg->bits);
    if (cfg->range != QK_QRANGE_SIGNED && cfg->range != QK_QRANGE_SIGNED_RESTRICTED &&
        cfg->range != QK_QRANGE_UNSIGNED)
        return qk_error_set(QK_ERR_CONFIG, "qat %s: unknown range kind %d", what, (int)cfg->range);
    if (cfg->granularity != QK_QAT_PER_TENSOR && cfg->granularity != QK_QAT_PER_CHANNEL)
        return qk_error_set(QK_ERR_CONFIG, "qat %s: unknown granularity %d", what,
                            (int)cfg->granularity);
    if (cfg->mode != QK_QAT_SCALE_OBSERVER && cfg->mode != QK_QAT_SCALE_LSQ)
        return qk_error_set(QK_ERR_CONFIG, "qat %s: unknown scale mode %d", what, (int)cfg->mode);
    if (cfg->init != QK_QAT_INIT_MINMAX && cfg->init != QK_QAT_INIT_LSQ)
        return qk_error_set(QK_ERR_CONFIG, "qat %s: unknown init %d", what, (int)cfg->init);
    if (!(cfg->momentum > 0.0f && cfg->momentum <= 1.0f))
        return qk_error_set(QK_ERR_CONFIG, "qat %s: observer momentum %g not in (0, 1]", what,
                            (double)cfg->momentum);
    if (cfg->learn_zero_point && (cfg->symmetric || cfg->mode != QK_QAT_SCALE_LSQ))
        return qk_error_set(QK_ERR_CONFIG,
                            "qat %s: a learnable zero point needs LSQ mode and an asymmetric "
                            "quantizer",
                            what);
    return QK_OK;
}

qk_status qk_quantizer_init(qk_quantizer *q, const qk_qat_quant_config *cfg, int64_t channels) {
    *q = (qk_quantizer){0};
    q->cfg = *cfg;
    q->channels = channels;
    if (cfg->bits == 0) return QK_OK;
    qk_status st = qk_qrange_for_bits(cfg->bits, cfg->range, &q->qmin, &q->qmax);
    if (st != QK_OK) return st;
    q->bits = cfg->bits;
    const size_t c = (size_t)channels;
    q->scale = calloc(c, sizeof(float));
    q->zero_point = calloc(c, sizeof(float));
    q->grad_scale = calloc(c, sizeof(float));
    q->grad_zero_point = calloc(c, sizeof(float));
    q->zp_int = calloc(c, sizeof(int32_t));
    q->scratch = calloc(2 * c, sizeof(float));
    if (!q->scale || !q->zero_point || !q->grad_scale || !q->grad_zero_point || !q->zp_int ||
        !q->scratch) {
        qk_quantizer_free(q);
        return qk_error_set(QK_ERR_NOMEM, "qat quantizer: %lld channels", (long long)channels);
    }
    qk_observer_config oc;
    qk_observer_config_default(&oc, QK_OBSERVER_MOVING_AVERAGE);
    oc.per_channel = channels > 1 || cfg->granularity == QK_QAT_PER_CHANNEL;
    oc.ch_axis = 0;
    oc.averaging_constant = cfg->momentum;
    st = qk_observer_create(&oc, &q->obs);
    if (st != QK_OK) qk_quantizer_free(q);
    return st;
}

void qk_quantizer_free(qk_quantizer *q) {
    free(q->scale);
    free(q->zero_point);
    free(q->grad_scale);
    free(q->grad_zero_point);
    qk_observer_free(q->obs);
    free(q->zp_int);
    free(q->scratch);
    *q = (qk_quantizer){0};
}

void qk_quantizer_reset(qk_quantizer *q) {
    q->observed = q->ready = q->learning = false;
    if (q->obs) qk_observer_reset(q->obs);
}

static qk_status params_from_minmax(qk_quantizer *q, const float *lo, const float *hi) {
    for (int64_t c = 0; c < q->channels; c++) {
        qk_affine_params p;
        qk_status st =
            qk_affine_params_from_minmax(lo[c], hi[c], q->qmin, q->qmax, q->cfg.symmetric, &p);
        if (st != QK_OK) return qk_error_prefix("qat channel %lld", (long long)c);
        q->scale[c] = p.scale;
        q->zero_point[c] = (float)p.zero_point;
    }
    q->ready = true;
    return QK_OK;
}

/* Parameters for the current width from the observer's averaged range. */
static qk_status params_from_observer(qk_quantizer *q) {
    const qk_observer_target t = {q->bits, q->cfg.range, q->cfg.symmetric};
    float *lo = q->scratch, *hi = q->scratch + q->channels;
    qk_status st = qk_observer_range(q->obs, &t, lo, hi, (size_t)q->channels);
    return st == QK_OK ? params_from_minmax(q, lo, hi) : st;
}

qk_status qk_quantizer_observe(qk_quantizer *q, const float *x, qk_channel_layout l) {
    if (q->bits == 0) return QK_OK;
    /* the observer sees [outer * channels, inner] rows per channel as a 2-D or 3-D view */
    qk_tensor_view v;
    const int64_t shape[3] = {l.outer, l.channels, l.inner};
    qk_status st = l.outer == 1 ? qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape + 1, (void *)x)
                                : qk_tensor_view_init(&v, QK_TYPE_F32, 3, shape, (void *)x);
    if (st != QK_OK) return st;
    if (l.outer != 1 && q->channels > 1)
        return qk_error_set(QK_ERR_SHAPE, "qat observer: per-channel layouts with outer > 1");
    st = qk_observer_observe(q->obs, &v);
    if (st != QK_OK) return st;
    q->observed = true;
    if (q->cfg.mode == QK_QAT_SCALE_OBSERVER || !q->learning) return params_from_observer(q);
    return QK_OK;
}

/* LSQ paper initialisation: s = 2 mean|x| / sqrt(qmax) per channel. */
static void lsq_init(qk_quantizer *q, const float *x, qk_channel_layout l) {
    double *sum = calloc((size_t)l.channels, sizeof(double));
    if (!sum) return; /* keep the min-max parameters */
    size_t i = 0;
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t c = 0; c < l.channels; c++)
            for (int64_t k = 0; k < l.inner; k++, i++) sum[c] += fabs((double)x[i]);
    const double per = (double)l.outer * (double)l.inner;
    for (int64_t c = 0; c < l.channels; c++) {
        double s = per > 0 ? 2.0 * (sum[c] / per) / sqrt((double)q->qmax) : 0.0;
        q->scale[c] = s > FLT_EPSILON ? (float)s : FLT_EPSILON;
        if (q->cfg.symmetric)
            q->zero_point[c] = q->qmin < 0 ? 0.0f : (float)((q->qmin + q->qmax + 1) / 2);
    }
    free(sum);
}

qk_status qk_quantizer_prepare(qk_quantizer *q, const float *x, qk_channel_layout l) {
    if (q->bits == 0) return QK_OK;
    if (!q->ready) {
        /* nothing observed yet: the tensor at hand is the first observation */
        qk_status st = qk_quantizer_observe(q, x, l);
        if (st == QK_OK && !q->ready) st = params_from_observer(q);
        if (st != QK_OK) return st;
    }
    if (q->cfg.mode == QK_QAT_SCALE_LSQ && !q->learning) {
        if (q->cfg.init == QK_QAT_INIT_LSQ) lsq_init(q, x, l);
        q->learning = true;
    }
    return QK_OK;
}

qk_status qk_quantizer_set_bits(qk_quantizer *q, int bits) {
    if (q->cfg.bits == 0 || bits == 0 || bits == q->bits) return QK_OK;
    if (bits < 2 || bits > 8) return qk_error_set(QK_ERR_CONFIG, "qat: %d bits (2..8)", bits);
    int32_t qmin, qmax;
    qk_status st = qk_qrange_for_bits(bits, q->cfg.range, &qmin, &qmax);
    if (st != QK_OK) return st;
    const int32_t old_min = q->qmin, old_max = q->qmax;
    q->bits = bits;
    q->qmin = qmin;
    q->qmax = qmax;
    if (!q->ready) return QK_OK;
    if (q->cfg.mode == QK_QAT_SCALE_OBSERVER && q->observed) return params_from_observer(q);
    /* keep the float range [(qmin - zp) s, (qmax - zp) s] */
    const float ratio = (float)(old_max - old_min) / (float)(qmax - qmin);
    for (int64_t c = 0; c < q->channels; c++) {
        if (!(q->scale[c] >= FLT_EPSILON)) q->scale[c] = FLT_EPSILON; /* as the forward does */
        const float lo = ((float)old_min - q->zero_point[c]) * q->scale[c];
        q->scale[c] *= ratio;
        if (q->cfg.symmetric)
            q->zero_point[c] = qmin < 0 ? 0.0f : (float)((qmin + qmax + 1) / 2);
        else
            q->zero_point[c] = (float)qmin - lo / q->scale[c];
        if (q->cfg.mode == QK_QAT_SCALE_OBSERVER) q->zero_point[c] = nearbyintf(q->zero_point[c]);
    }
    return QK_OK;
}

static void round_zero_points(qk_quantizer *q) {
    for (int64_t c = 0; c < q->channels; c++) {
        if (!(q->scale[c] >= FLT_EPSILON) && !isnan(q->scale[c])) q->scale[c] = FLT_EPSILON;
        q->zp_int[c] = qk_lsq_zero_point(q->zero_point[c], q->qmin, q->qmax, true);
    }
}

qk_status qk_quantizer_forward(qk_quantizer *q, const float *x, qk_channel_layout l, float *y) {
    if (!q->ready) return qk_error_set(QK_ERR_STATE, "qat: fake quantizer used before set up");
    round_zero_points(q);
    return qk_fake_quant_per_channel_forward(x, l, q->scale, q->zp_int, q->qmin, q->qmax, y, NULL);
}

qk_status qk_quantizer_backward(qk_quantizer *q, const float *x, const float *dy,
                                qk_channel_layout l, float *dx) {
    if (!q->ready) return qk_error_set(QK_ERR_STATE, "qat: fake quantizer used before set up");
    round_zero_points(q);
    if (q->cfg.mode == QK_QAT_SCALE_OBSERVER)
        return qk_fake_quant_per_channel_backward(x, dy, l, q->scale, q->zp_int, q->qmin, q->qmax,
                                                  dx);
    const int64_t numel = l.outer * l.channels * l.inner;
    const float g = qk_lsq_grad_factor(numel, q->qmax);
    float *ds = q->scratch, *dz = q->scratch + q->channels;
    qk_status st = qk_lsq_per_channel_backward(x, dy, l, q->scale, q->zero_point, q->qmin, q->qmax,
                                               g, dx, ds, dz);
    if (st != QK_OK) return st;
    for (int64_t c = 0; c < q->channels; c++) {
        q->grad_scale[c] += ds[c];
        if (q->cfg.learn_zero_point) q->grad_zero_point[c] += dz[c];
    }
    return QK_OK;
}

qk_affine_params qk_quantizer_params(const qk_quantizer *q, int64_t c) {
    float s = q->scale[c];
    if (!(s >= FLT_EPSILON) && !isnan(s)) s = FLT_EPSILON;
    return (qk_affine_params){s, qk_lsq_zero_point(q->zero_point[c], q->qmin, q->qmax, true),
                              q->qmin, q->qmax};
}
