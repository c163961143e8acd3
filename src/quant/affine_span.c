/*
** Affine quantization of contiguous spans: the element kernels (nearest-even
** and stochastic rounding), parameter checks, and the public per-span entry
** points that GPTQ, AWQ and the model layer call one row or group at a time.
*/
#include <math.h>   /* isfinite */
#include <string.h> /* memcpy */

#include "core/error.h"
#include "quant/affine_internal.h"

uint64_t qk_affine_sr_key(uint64_t seed) {
    uint64_t z = seed + UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

qk_status qk_affine_check_params(const qk_affine_params *p, const char *what) {
    if (!p) return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL parameters", what);
    if (p->qmin >= p->qmax)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: qmin %d >= qmax %d", what, (int)p->qmin,
                            (int)p->qmax);
    const bool byte_range = p->qmin < 0 ? (p->qmin >= -128 && p->qmax <= 127) : (p->qmax <= 255);
    if (!byte_range)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "%s: range [%d, %d] does not fit int8 or uint8 codes", what,
                            (int)p->qmin, (int)p->qmax);
    if (p->zero_point < p->qmin || p->zero_point > p->qmax)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: zero point %d outside [%d, %d]", what,
                            (int)p->zero_point, (int)p->qmin, (int)p->qmax);
    if (!(p->scale > 0.0f) || !isfinite(p->scale) || !isfinite(1.0f / p->scale))
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "%s: scale %g is not positive and finite with a finite inverse", what,
                            (double)p->scale);
    /* the dequantized extremes must be finite, so dequantization never makes an Inf */
    const float lo = (float)(p->qmin - p->zero_point) * p->scale;
    const float hi = (float)(p->qmax - p->zero_point) * p->scale;
    if (!isfinite(lo) || !isfinite(hi))
        return qk_error_set(QK_ERR_OVERFLOW,
                            "%s: scale %g with codes [%d, %d] and zero point %d dequantizes "
                            "beyond the f32 range",
                            what, (double)p->scale, (int)p->qmin, (int)p->qmax, (int)p->zero_point);
    return QK_OK;
}

size_t qk_affine_first_nonfinite(const float *x, size_t n) {
    /* blocks of 64 checked branch-free on the exponent bits (all ones: Inf or
    ** NaN), then the flagged block element by element */
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t any = 0;
        for (size_t k = 0; k < 64; k++) {
            uint32_t b;
            memcpy(&b, &x[i + k], sizeof b);
            any |= (b & 0x7F800000u) == 0x7F800000u;
        }
        if (any) break;
    }
    for (; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n;
}

void qk_affine_minmax_run(const float *x, size_t n, float *lo, float *hi) {
    /* eight independent lanes (x < m ? x : m is exactly what minps does) */
    float mn[8], mx[8];
    for (int k = 0; k < 8; k++) mn[k] = *lo, mx[k] = *hi;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            mn[k] = x[i + k] < mn[k] ? x[i + k] : mn[k];
            mx[k] = x[i + k] > mx[k] ? x[i + k] : mx[k];
        }
    for (; i < n; i++) {
        mn[0] = x[i] < mn[0] ? x[i] : mn[0];
        mx[0] = x[i] > mx[0] ? x[i] : mx[0];
    }
    for (int k = 1; k < 8; k++) {
        mn[0] = mn[k] < mn[0] ? mn[k] : mn[0];
        mx[0] = mx[k] > mx[0] ? mx[k] : mx[0];
    }
    *lo = mn[0];
    *hi = mx[0];
}

void qk_affine_quantize_run(const float *x, size_t n, const qk_affine_params *p,
                            qk_rounding rounding, uint64_t key, uint64_t first_index, void *codes) {
    const float qmin = (float)p->qmin, qmax = (float)p->qmax, zp = (float)p->zero_point;
    int8_t *c8 = (int8_t *)codes;
    uint8_t *u8 = (uint8_t *)codes;
    if (rounding == QK_ROUND_STOCHASTIC) {
        for (size_t i = 0; i < n; i++) {
            const double v = qk_affine_code_stochastic(x[i], (double)p->scale, zp, qmin, qmax,
                                                       qk_affine_sr_bits(key, first_index + i));
            if (p->qmin < 0)
                c8[i] = (int8_t)v;
            else
                u8[i] = (uint8_t)v;
        }
        return;
    }
    /* torch's quantize_per_tensor: zero_point + nearbyint(x * (1.0f / scale)) */
    const float inv = 1.0f / p->scale;
    if (p->qmin < 0) {
        for (size_t i = 0; i < n; i++)
            c8[i] = (int8_t)qk_affine_code_nearest(x[i], inv, zp, qmin, qmax);
    } else {
        for (size_t i = 0; i < n; i++)
            u8[i] = (uint8_t)qk_affine_code_nearest(x[i], inv, zp, qmin, qmax);
    }
}

void qk_affine_dequantize_run(const void *codes, size_t n, const qk_affine_params *p, float *y) {
    const float scale = p->scale;
    const int32_t zp = p->zero_point;
    if (p->qmin < 0) {
        const int8_t *c = (const int8_t *)codes;
        for (size_t i = 0; i < n; i++) y[i] = (float)((int32_t)c[i] - zp) * scale;
    } else {
        const uint8_t *c = (const uint8_t *)codes;
        for (size_t i = 0; i < n; i++) y[i] = (float)((int32_t)c[i] - zp) * scale;
    }
}

qk_status qk_affine_span_params(const float *x, size_t n, const qk_affine_scheme *scheme,
                                qk_affine_params *out) {
    if (!out || !scheme || (n > 0 && !x))
        return qk_error_set(QK_ERR_INVALID_ARG, "affine span params: NULL argument");
    const size_t bad = qk_affine_first_nonfinite(x, n);
    if (bad < n)
        return qk_error_set(QK_ERR_NONFINITE, "affine span params: element %zu is %g", bad,
                            (double)x[bad]);
    float lo = 0.0f, hi = 0.0f;
    if (n > 0) {
        lo = hi = x[0];
        qk_affine_minmax_run(x, n, &lo, &hi);
    }
    return qk_affine_scheme_params(scheme, lo, hi, out);
}

qk_status qk_affine_quantize_span(const float *x, size_t n, const qk_affine_params *params,
                                  qk_rounding rounding, uint64_t seed, uint64_t first_index,
                                  void *codes) {
    qk_status st = qk_affine_check_params(params, "affine quantize span");
    if (st != QK_OK) return st;
    if (n > 0 && (!x || !codes))
        return qk_error_set(QK_ERR_INVALID_ARG, "affine quantize span: NULL array");
    if (rounding != QK_ROUND_NEAREST_EVEN && rounding != QK_ROUND_STOCHASTIC)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine quantize span: unknown rounding %d",
                            (int)rounding);
    const size_t bad = qk_affine_first_nonfinite(x, n);
    if (bad < n)
        return qk_error_set(QK_ERR_NONFINITE,
                            "affine quantize span: element %zu (flat index %llu) is %g", bad,
                            (unsigned long long)(first_index + bad), (double)x[bad]);
    qk_affine_quantize_run(x, n, params, rounding, qk_affine_sr_key(seed), first_index, codes);
    return QK_OK;
}

qk_status qk_affine_dequantize_span(const void *codes, size_t n, const qk_affine_params *params,
                                    float *y) {
    qk_status st = qk_affine_check_params(params, "affine dequantize span");
    if (st != QK_OK) return st;
    if (n > 0 && (!codes || !y))
        return qk_error_set(QK_ERR_INVALID_ARG, "affine dequantize span: NULL array");
    qk_affine_dequantize_run(codes, n, params, y);
    return QK_OK;
}
