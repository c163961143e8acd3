/*
** Affine quantization parameters from an observed range (torch.ao rules).
*/
#include <float.h> /* FLT_EPSILON */
#include <math.h>  /* isfinite, nearbyintf */

#include "core/error.h"
#include "quantkit/quant.h"

qk_status qk_qrange_for_bits(int bits, qk_qrange_kind kind, int32_t *qmin, int32_t *qmax) {
    if (bits < 1 || bits > 16)
        return qk_error_set(QK_ERR_INVALID_ARG, "quantization range: %d bits (1..16)", bits);
    switch (kind) {
    case QK_QRANGE_SIGNED:
        *qmin = -(1 << (bits - 1));
        *qmax = (1 << (bits - 1)) - 1;
        return QK_OK;
    case QK_QRANGE_SIGNED_RESTRICTED:
        if (bits < 2)
            return qk_error_set(QK_ERR_INVALID_ARG, "restricted signed range needs >= 2 bits");
        *qmin = -((1 << (bits - 1)) - 1);
        *qmax = (1 << (bits - 1)) - 1;
        return QK_OK;
    case QK_QRANGE_UNSIGNED:
        *qmin = 0;
        *qmax = (1 << bits) - 1;
        return QK_OK;
    }
    return qk_error_set(QK_ERR_INVALID_ARG, "quantization range: unknown kind %d", (int)kind);
}

qk_status qk_affine_params_from_minmax(float min, float max, int32_t qmin, int32_t qmax,
                                       bool symmetric, qk_affine_params *out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "affine params: NULL output");
    if (!isfinite(min) || !isfinite(max))
        return qk_error_set(QK_ERR_NONFINITE, "affine params: range [%g, %g] is not finite",
                            (double)min, (double)max);
    if (min > max)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine params: min %g > max %g", (double)min,
                            (double)max);
    if (qmin >= qmax)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine params: qmin %d >= qmax %d", (int)qmin,
                            (int)qmax);
    const float min_neg = min < 0.0f ? min : 0.0f;
    const float max_pos = max > 0.0f ? max : 0.0f;
    float scale;
    int32_t zero_point;
    if (symmetric) {
        const float amax = -min_neg > max_pos ? -min_neg : max_pos;
        scale = amax / ((float)(qmax - qmin) / 2.0f);
        if (!(scale >= FLT_EPSILON)) scale = FLT_EPSILON;
        zero_point = qmin < 0 ? 0 : (qmin + qmax + 1) / 2;
    } else {
        scale = (max_pos - min_neg) / (float)(qmax - qmin);
        if (!(scale >= FLT_EPSILON)) scale = FLT_EPSILON;
        /* (max - min) may overflow to Inf for |bounds| near FLT_MAX */
        if (!isfinite(scale))
            return qk_error_set(QK_ERR_OVERFLOW, "affine params: range [%g, %g] overflows f32",
                                (double)min, (double)max);
        const float shifted = (float)qmin - nearbyintf(min_neg / scale);
        zero_point = shifted < (float)qmin ? qmin : shifted > (float)qmax ? qmax : (int32_t)shifted;
    }
    if (!isfinite(scale))
        return qk_error_set(QK_ERR_OVERFLOW, "affine params: scale of [%g, %g] overflows f32",
                            (double)min, (double)max);
    out->scale = scale;
    out->zero_point = zero_point;
    out->qmin = qmin;
    out->qmax = qmax;
    return QK_OK;
}
