/*
** Internal: the per-element fake-quantization arithmetic shared by the qat
** files (fake_quant.c, lsq.c, the QAT layers and the integer path), so that
** every path rounds exactly the same way.
*/
#ifndef QK_QAT_FAKE_QUANT_H
#define QK_QAT_FAKE_QUANT_H

#include <math.h> /* nearbyintf */

#include "quantkit/core.h"

/* qval = zp + nearbyintf(x * inv_scale), all f32, as torch's CPU kernel. */
static inline float qk_fq_qval(float x, float inv_scale, float zp) {
    return zp + nearbyintf(x * inv_scale);
}

/* qmin <= q <= qmax (false for NaN). */
static inline uint8_t qk_fq_inside(float q, float lo, float hi) {
    return (uint8_t)(q >= lo && q <= hi);
}

/* clamp(q, lo, hi); NaN gives lo (torch/x86 turns NaN into INT64_MIN). */
static inline float qk_fq_clamp(float q, float lo, float hi) {
    return !(q >= lo) ? lo : (q > hi ? hi : q);
}

/* Checks shared by the qat files; they set the error message. */
qk_status qk_fq_check_range(int32_t qmin, int32_t qmax, const char *what);
qk_status qk_fq_check_scale(float scale, const char *what, int64_t channel);

#endif
