/*
** Learnable step size (LSQ) fake quantization: forward and the gradients of
** the input, the scale and the zero point, with the arithmetic of torch's
** _fake_quantize_learnable_per_{tensor,channel}_affine CPU kernels (see
** qat.h for the formulas). The per-element terms are computed in f32 in
** torch's order; the sums over elements are accumulated in double.
*/
#include <math.h> /* sqrt, nearbyintf, isnan */

#include "core/error.h"
#include "qat/fake_quant.h"
#include "quantkit/qat.h"

float qk_lsq_grad_factor(int64_t numel, int32_t qmax) {
    if (numel <= 0 || qmax <= 0) return 1.0f;
    return (float)(1.0 / sqrt((double)numel * (double)qmax));
}

int32_t qk_lsq_zero_point(float zero_point, int32_t qmin, int32_t qmax, bool forward) {
    if (isnan(zero_point)) return qmin;
    /* forward: nearbyint; per-tensor backward: zp + 0.5f, truncated below */
    float z = forward ? nearbyintf(zero_point) : zero_point + 0.5f;
    if (z < (float)qmin) z = (float)qmin;
    if (z > (float)qmax) z = (float)qmax;
    return (int32_t)z;
}

/* Gradients of one element with the backward zero point z (an integral
** float); accumulates the scale and zero-point terms into the sums. */
static inline float lsq_element(float x, float dy, float scale, float inv, float z, float lo,
                                float hi, float g, double *sum_scale, double *sum_zp) {
    const float xq = nearbyintf(z + x * inv);
    if (xq >= lo && xq <= hi) {
        const float xfq = (xq - z) * scale;
        *sum_scale += (double)(dy * (xfq - x) * inv * g);
        return dy;
    }
    /* below the range, or NaN (torch/x86 turns NaN into INT64_MIN) */
    const float dscale = !(xq >= lo) ? dy * (lo - z) : dy * (hi - z);
    *sum_scale += (double)(dscale * g);
    *sum_zp += (double)(dy * -1.0f * scale * g);
    return dy * 0.0f;
}

qk_status qk_lsq_forward(const float *x, size_t n, float scale, float zero_point, int32_t qmin,
                         int32_t qmax, float *y, uint8_t *mask) {
    qk_status st = qk_fq_check_range(qmin, qmax, "lsq forward");
    if (st != QK_OK) return st;
    const qk_affine_params p = {scale, qk_lsq_zero_point(zero_point, qmin, qmax, true), qmin, qmax};
    return qk_fake_quant_forward(x, n, &p, y, mask);
}

qk_status qk_lsq_backward(const float *x, const float *dy, size_t n, float scale, float zero_point,
                          int32_t qmin, int32_t qmax, float grad_factor, float *dx, float *dscale,
                          float *dzero_point) {
    const char *what = "lsq backward";
    qk_status st = qk_fq_check_range(qmin, qmax, what);
    if (st == QK_OK) st = qk_fq_check_scale(scale, what, -1);
    if (st != QK_OK) return st;
    if (n > 0 && (!x || !dy)) return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL array", what);
    const float z = (float)qk_lsq_zero_point(zero_point, qmin, qmax, false);
    const float inv = 1.0f / scale, lo = (float)qmin, hi = (float)qmax;
    double sum_scale = 0.0, sum_zp = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float g =
            lsq_element(x[i], dy[i], scale, inv, z, lo, hi, grad_factor, &sum_scale, &sum_zp);
        if (dx) dx[i] = g;
    }
    if (dscale) *dscale = (float)sum_scale;
    if (dzero_point) *dzero_point = (float)sum_zp;
    return QK_OK;
}

static qk_status check_lsq_channels(qk_channel_layout l, const float *scale,
                                    const float *zero_point, int32_t qmin, int32_t qmax,
                                    const char *what) {
    qk_status st = qk_fq_check_range(qmin, qmax, what);
    if (st != QK_OK) return st;
    if (l.outer < 0 || l.channels < 0 || l.inner < 0)
        return qk_error_set(QK_ERR_SHAPE, "%s: negative layout", what);
    size_t a, b;
    if (!qk_mul_size((size_t)l.outer, (size_t)l.channels, &a) ||
        !qk_mul_size(a, (size_t)l.inner, &b))
        return qk_error_set(QK_ERR_OVERFLOW, "%s: layout overflows", what);
    if (l.channels > 0 && (!scale || !zero_point))
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL scales or zero points", what);
    for (int64_t c = 0; c < l.channels; c++) {
        st = qk_fq_check_scale(scale[c], what, c);
        if (st != QK_OK) return st;
    }
    return QK_OK;
}

qk_status qk_lsq_per_channel_forward(const float *x, qk_channel_layout l, const float *scale,
                                     const float *zero_point, int32_t qmin, int32_t qmax, float *y,
                                     uint8_t *mask) {
    const char *what = "per-channel lsq forward";
    qk_status st = check_lsq_channels(l, scale, zero_point, qmin, qmax, what);
    if (st != QK_OK) return st;
    if (l.outer * l.channels * l.inner > 0 && (!x || !y))
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL array", what);
    const float lo = (float)qmin, hi = (float)qmax;
    size_t i = 0;
    for (int64_t o = 0; o < l.outer; o++) {
        for (int64_t c = 0; c < l.channels; c++) {
            const float s = scale[c], inv = 1.0f / s;
            const float zp = (float)qk_lsq_zero_point(zero_point[c], qmin, qmax, true);
            for (int64_t k = 0; k < l.inner; k++, i++) {
                const float q = qk_fq_qval(x[i], inv, zp);
                if (mask) mask[i] = qk_fq_inside(q, lo, hi);
                y[i] = (qk_fq_clamp(q, lo, hi) - zp) * s;
            }
        }
    }
    return QK_OK;
}

qk_status qk_lsq_per_channel_backward(const float *x, const float *dy, qk_channel_layout l,
                                      const float *scale, const float *zero_point, int32_t qmin,
                                      int32_t qmax, float grad_factor, float *dx, float *dscale,
                                      float *dzero_point) {
    const char *what = "per-channel lsq backward";
    qk_status st = check_lsq_channels(l, scale, zero_point, qmin, qmax, what);
    if (st != QK_OK) return st;
    if (l.outer * l.channels * l.inner > 0 && (!x || !dy))
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL array", what);
    const float lo = (float)qmin, hi = (float)qmax;
    for (int64_t c = 0; c < l.channels; c++) {
        const float s = scale[c], inv = 1.0f / s;
        const float z = (float)qk_lsq_zero_point(zero_point[c], qmin, qmax, true);
        double sum_scale = 0.0, sum_zp = 0.0;
        for (int64_t o = 0; o < l.outer; o++) {
            const size_t base = ((size_t)o * (size_t)l.channels + (size_t)c) * (size_t)l.inner;
            for (int64_t k = 0; k < l.inner; k++) {
                const size_t i = base + (size_t)k;
                const float g =
                    lsq_element(x[i], dy[i], s, inv, z, lo, hi, grad_factor, &sum_scale, &sum_zp);
                if (dx) dx[i] = g;
            }
        }
        if (dscale) dscale[c] = (float)sum_scale;
        if (dzero_point) dzero_point[c] = (float)sum_zp;
    }
    return QK_OK;
}
