/*
** Fake quantization with straight-through gradients, per tensor and per
** channel, with the arithmetic of torch.ao's ATen CPU kernels (see qat.h):
** inv_scale = 1.0f / scale in f32, qval = zp + nearbyintf(x * inv_scale) in
** f32 (half to even under the default rounding mode), y = (clamp(qval) - zp)
** * scale. (clamp(qval) - zp) is an exact integer, so the one f32 product
** rounds exactly as torch's double product converted to f32.
*/
#include <math.h> /* nearbyintf, isfinite */

#include "core/error.h"
#include "qat/fake_quant.h"
#include "quantkit/qat.h"

qk_status qk_fq_check_range(int32_t qmin, int32_t qmax, const char *what) {
    if (qmin >= qmax)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: qmin %d >= qmax %d", what, (int)qmin,
                            (int)qmax);
    if (qmin < -(1 << 24) || qmax > (1 << 24))
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: range [%d, %d] beyond +-2^24", what, (int)qmin,
                            (int)qmax);
    return QK_OK;
}

qk_status qk_fq_check_scale(float scale, const char *what, int64_t channel) {
    if (!(scale > 0.0f) || !isfinite(scale) || !isfinite(1.0f / scale)) {
        if (channel >= 0)
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "%s: scale %g of channel %lld is not a positive finite number "
                                "with a finite inverse",
                                what, (double)scale, (long long)channel);
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "%s: scale %g is not a positive finite number with a finite inverse",
                            what, (double)scale);
    }
    return QK_OK;
}

static qk_status check_params(const qk_affine_params *p, const char *what) {
    if (!p) return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL parameters", what);
    qk_status st = qk_fq_check_range(p->qmin, p->qmax, what);
    if (st != QK_OK) return st;
    if (p->zero_point < p->qmin || p->zero_point > p->qmax)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: zero point %d outside [%d, %d]", what,
                            (int)p->zero_point, (int)p->qmin, (int)p->qmax);
    return qk_fq_check_scale(p->scale, what, -1);
}

static qk_status check_layout(qk_channel_layout l, const char *what) {
    if (l.outer < 0 || l.channels < 0 || l.inner < 0)
        return qk_error_set(QK_ERR_SHAPE, "%s: negative layout {%lld, %lld, %lld}", what,
                            (long long)l.outer, (long long)l.channels, (long long)l.inner);
    size_t a, b;
    if (!qk_mul_size((size_t)l.outer, (size_t)l.channels, &a) ||
        !qk_mul_size(a, (size_t)l.inner, &b))
        return qk_error_set(QK_ERR_OVERFLOW, "%s: layout {%lld, %lld, %lld} overflows", what,
                            (long long)l.outer, (long long)l.channels, (long long)l.inner);
    return QK_OK;
}

static qk_status check_channels(const float *scale, const int32_t *zero_point, int64_t channels,
                                int32_t qmin, int32_t qmax, const char *what) {
    qk_status st = qk_fq_check_range(qmin, qmax, what);
    if (st != QK_OK) return st;
    if (channels > 0 && (!scale || !zero_point))
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL scales or zero points", what);
    for (int64_t c = 0; c < channels; c++) {
        st = qk_fq_check_scale(scale[c], what, c);
        if (st != QK_OK) return st;
        if (zero_point[c] < qmin || zero_point[c] > qmax)
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "%s: zero point %d of channel %lld outside "
                                "[%d, %d]",
                                what, (int)zero_point[c], (long long)c, (int)qmin, (int)qmax);
    }
    return QK_OK;
}

qk_status qk_channel_layout_from_shape(int32_t ndim, const int64_t *shape, int32_t axis,
                                       qk_channel_layout *out) {
    if (!out || (!shape && ndim > 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "channel layout: NULL argument");
    if (ndim < 1 || ndim > QK_MAX_DIMS)
        return qk_error_set(QK_ERR_SHAPE, "channel layout: %d dimensions (1..%d)", (int)ndim,
                            QK_MAX_DIMS);
    if (axis < 0) axis += ndim;
    if (axis < 0 || axis >= ndim)
        return qk_error_set(QK_ERR_SHAPE, "channel layout: axis out of range for %d dimensions",
                            (int)ndim);
    qk_channel_layout l = {1, shape[axis], 1};
    for (int32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return qk_error_set(QK_ERR_SHAPE, "channel layout: dimension %d is negative", (int)d);
        size_t v;
        if (d < axis) {
            if (!qk_mul_size((size_t)l.outer, (size_t)shape[d], &v) || v > INT64_MAX)
                return qk_error_set(QK_ERR_OVERFLOW, "channel layout: shape overflows");
            l.outer = (int64_t)v;
        } else if (d > axis) {
            if (!qk_mul_size((size_t)l.inner, (size_t)shape[d], &v) || v > INT64_MAX)
                return qk_error_set(QK_ERR_OVERFLOW, "channel layout: shape overflows");
            l.inner = (int64_t)v;
        }
    }
    qk_status st = check_layout(l, "channel layout");
    if (st != QK_OK) return st;
    *out = l;
    return QK_OK;
}

/* ---- per tensor ------------------------------------------------------ */

qk_status qk_fake_quant_forward(const float *x, size_t n, const qk_affine_params *p, float *y,
                                uint8_t *mask) {
    qk_status st = check_params(p, "fake quant");
    if (st != QK_OK) return st;
    if (n > 0 && (!x || !y)) return qk_error_set(QK_ERR_INVALID_ARG, "fake quant: NULL array");
    const float inv = 1.0f / p->scale;
    const float zp = (float)p->zero_point, lo = (float)p->qmin, hi = (float)p->qmax;
    for (size_t i = 0; i < n; i++) {
        const float q = qk_fq_qval(x[i], inv, zp);
        if (mask) mask[i] = qk_fq_inside(q, lo, hi);
        y[i] = (qk_fq_clamp(q, lo, hi) - zp) * p->scale;
    }
    return QK_OK;
}

qk_status qk_fake_quant_backward(const float *x, const float *dy, size_t n,
                                 const qk_affine_params *p, float *dx) {
    qk_status st = check_params(p, "fake quant backward");
    if (st != QK_OK) return st;
    if (n > 0 && (!x || !dy || !dx))
        return qk_error_set(QK_ERR_INVALID_ARG, "fake quant backward: NULL array");
    const float inv = 1.0f / p->scale;
    const float zp = (float)p->zero_point, lo = (float)p->qmin, hi = (float)p->qmax;
    for (size_t i = 0; i < n; i++) {
        const float q = qk_fq_qval(x[i], inv, zp);
        dx[i] = dy[i] * (qk_fq_inside(q, lo, hi) ? 1.0f : 0.0f);
    }
    return QK_OK;
}

qk_status qk_fake_quant_codes(const float *x, size_t n, const qk_affine_params *p, int32_t *q) {
    qk_status st = check_params(p, "fake quant codes");
    if (st != QK_OK) return st;
    if (n > 0 && (!x || !q))
        return qk_error_set(QK_ERR_INVALID_ARG, "fake quant codes: NULL array");
    const float inv = 1.0f / p->scale;
    const float zp = (float)p->zero_point, lo = (float)p->qmin, hi = (float)p->qmax;
    for (size_t i = 0; i < n; i++) q[i] = (int32_t)qk_fq_clamp(qk_fq_qval(x[i], inv, zp), lo, hi);
    return QK_OK;
}

/* ---- per channel ----------------------------------------------------- */

qk_status qk_fake_quant_per_channel_forward(const float *x, qk_channel_layout l, const float *scale,
                                            const int32_t *zero_point, int32_t qmin, int32_t qmax,
                                            float *y, uint8_t *mask) {
    const char *what = "per-channel fake quant";
    qk_status st = check_layout(l, what);
    if (st == QK_OK) st = check_channels(scale, zero_point, l.channels, qmin, qmax, what);
    if (st != QK_OK) return st;
    if (l.outer * l.channels * l.inner > 0 && (!x || !y))
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL array", what);
    const float lo = (float)qmin, hi = (float)qmax;
    size_t i = 0;
    for (int64_t o = 0; o < l.outer; o++) {
        for (int64_t c = 0; c < l.channels; c++) {
            const float inv = 1.0f / scale[c], s = scale[c], zp = (float)zero_point[c];
            for (int64_t k = 0; k < l.inner; k++, i++) {
                const float q = qk_fq_qval(x[i], inv, zp);
                if (mask) mask[i] = qk_fq_inside(q, lo, hi);
                y[i] = (qk_fq_clamp(q, lo, hi) - zp) * s;
            }
        }
    }
    return QK_OK;
}

qk_status qk_fake_quant_per_channel_backward(const float *x, const float *dy, qk_channel_layout l,
                                             const float *scale, const int32_t *zero_point,
                                             int32_t qmin, int32_t qmax, float *dx) {
    const char *what = "per-channel fake quant backward";
    qk_status st = check_layout(l, what);
    if (st == QK_OK) st = check_channels(scale, zero_point, l.channels, qmin, qmax, what);
    if (st != QK_OK) return st;
    if (l.outer * l.channels * l.inner > 0 && (!x || !dy || !dx))
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL array", what);
    const float lo = (float)qmin, hi = (float)qmax;
    size_t i = 0;
    for (int64_t o = 0; o < l.outer; o++) {
        for (int64_t c = 0; c < l.channels; c++) {
            const float inv = 1.0f / scale[c], zp = (float)zero_point[c];
            for (int64_t k = 0; k < l.inner; k++, i++) {
                const float q = qk_fq_qval(x[i], inv, zp);
                dx[i] = dy[i] * (qk_fq_inside(q, lo, hi) ? 1.0f : 0.0f);
            }
        }
    }
    return QK_OK;
}

qk_status qk_fake_quant_per_channel_codes(const float *x, qk_channel_layout l, const float *scale,
                                          const int32_t *zero_point, int32_t qmin, int32_t qmax,
                                          int32_t *q) {
    const char *what = "per-channel fake quant codes";
    qk_status st = check_layout(l, what);
    if (st == QK_OK) st = check_channels(scale, zero_point, l.channels, qmin, qmax, what);
    if (st != QK_OK) return st;
    if (l.outer * l.channels * l.inner > 0 && (!x || !q))
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL array", what);
    const float lo = (float)qmin, hi = (float)qmax;
    size_t i = 0;
    for (int64_t o = 0; o < l.outer; o++) {
        for (int64_t c = 0; c < l.channels; c++) {
            const float inv = 1.0f / scale[c], zp = (float)zero_point[c];
            for (int64_t k = 0; k < l.inner; k++, i++)
                q[i] = (int32_t)qk_fq_clamp(qk_fq_qval(x[i], inv, zp), lo, hi);
        }
    }
    return QK_OK;
}
