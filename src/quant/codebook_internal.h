/*
** Internal: fast nearest-code search for the 16-value codebooks, shared by
** the public encoder (codebook.c) and the blockwise quantizer.
**
** The midpoint m of two neighbouring values is exact in double; for a float
** v, v <= m exactly when v <= the largest float not above m. So the
** thresholds are those floats, and the index of v among the ascending values
** is the number of thresholds below it: a tie (v == m) stays on the lower
** side.
*/
#ifndef QK_QUANT_CODEBOOK_INTERNAL_H
#define QK_QUANT_CODEBOOK_INTERNAL_H

#include <math.h> /* fabsf, isnan */

#include "quantkit/quant.h"

typedef struct qk_codebook_encoder {
    float thr[15];       /* ascending thresholds between neighbouring values */
    uint8_t code[16];    /* code of the k-th smallest value (magnitude) */
    int n_thr;           /* 15 (NF4) or 7 (sign-magnitude FP4 codes) */
    bool sign_magnitude; /* bit 3 is the sign, set when v < 0 */
} qk_codebook_encoder;

/* Thresholds of a known codebook (cb < QK_CODEBOOK_COUNT). */
void qk_codebook_encoder_init(qk_codebook cb, qk_codebook_encoder *e);

/* The code of v (clamped to [-1, 1], NaN as 0): see
** qk_codebook_encode_normalized. */
static inline uint8_t qk_codebook_encoder_encode(const qk_codebook_encoder *e, float v) {
    if (isnan(v)) v = 0.0f;
    v = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
    if (e->sign_magnitude) {
        const float a = fabsf(v);
        int k = 0;
        for (int j = 0; j < 7; j++) k += a > e->thr[j];
        return (uint8_t)(e->code[k] | (v < 0.0f ? 8u : 0u));
    }
    int k = 0;
    for (int j = 0; j < 15; j++) k += v > e->thr[j];
    return e->code[k];
}

#endif
