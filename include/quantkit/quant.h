/*
** quantkit quant: the numeric formats.
**
** This header starts with the affine quantization parameters shared by the
** quantizers (quant) and the observers (calib). Conventions follow
** torch.ao.quantization so that scales and zero points agree with it:
** the observed range is widened to include 0, scales are at least the f32
** machine epsilon, and rounding is half to even.
*/
#ifndef QUANTKIT_QUANT_H
#define QUANTKIT_QUANT_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parameters of one affine quantizer: q = clamp(round(x / scale) + zero_point,
** qmin, qmax); x' = (q - zero_point) * scale. */
typedef struct qk_affine_params {
    float scale;        /* > 0 */
    int32_t zero_point; /* in [qmin, qmax] */
    int32_t qmin;
    int32_t qmax;
} qk_affine_params;

/* The integer range for `bits` (2..8, or up to 16 for observers):
** signed full range [-2^(b-1), 2^(b-1)-1]; signed restricted range
** [-(2^(b-1)-1), 2^(b-1)-1] (symmetric around 0); unsigned [0, 2^b-1]. */
typedef enum qk_qrange_kind {
    QK_QRANGE_SIGNED = 0,
    QK_QRANGE_SIGNED_RESTRICTED = 1,
    QK_QRANGE_UNSIGNED = 2
} qk_qrange_kind;
qk_status qk_qrange_for_bits(int bits, qk_qrange_kind kind, int32_t *qmin, int32_t *qmax);

/* Scale and zero point from an observed range [min, max], as torch.ao's
** observers compute them:
**   min' = min(min, 0), max' = max(max, 0)
**   asymmetric: scale = (max' - min') / (qmax - qmin),
**               zero_point = clamp(qmin - round(min' / scale), qmin, qmax)
**   symmetric:  scale = max(-min', max') / ((qmax - qmin) / 2),
**               zero_point = 0 for a signed range, (qmin + qmax + 1) / 2 for
**               an unsigned one
**   scale = max(scale, FLT_EPSILON)
** All arithmetic in f32, rounding half to even. min > max, NaN or an
** infinite bound is an error (QK_ERR_NONFINITE / QK_ERR_INVALID_ARG). */
qk_status qk_affine_params_from_minmax(float min, float max, int32_t qmin, int32_t qmax,
                                       bool symmetric, qk_affine_params *out);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_QUANT_H */
