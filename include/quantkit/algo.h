/*
** quantkit algo: calibrated post-training quantization (GPTQ, AWQ,
** LLM.int8, SmoothQuant, importance-weighted rounding), layer sensitivity
** and mixed precision.
**
** This header starts with the representation every affine weight
** quantizer produces and every checkpoint writer consumes.
*/
#ifndef QUANTKIT_ALGO_H
#define QUANTKIT_ALGO_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A linear weight W [rows = out_features, cols = in_features] quantized
** with an affine grid of 2..8 bits in groups of input columns:
**   W'[r][c] = (codes[r][c] - zeros[g][r]) * scales[g][r],  g = g_idx[c]
** codes and zero points are unsigned (0 .. 2^bits - 1; a symmetric grid
** has zero 2^(bits-1)). scales and zeros are [n_groups, rows], the
** orientation of AutoGPTQ/AutoAWQ checkpoints. g_idx is NULL when column c
** belongs to group c / group_size; with act-order it is the permuted
** assignment (AutoGPTQ's g_idx). */
typedef struct qk_quantized_linear {
    int32_t bits;       /* 2..8 */
    int32_t group_size; /* input columns per group; cols for per-channel */
    bool symmetric;     /* zeros are all 2^(bits-1) */
    int64_t rows, cols;
    int64_t n_groups;   /* ceil(cols / group_size) */
    uint8_t *codes;     /* [rows * cols] */
    float *scales;      /* [n_groups * rows] */
    int32_t *zeros;     /* [n_groups * rows] */
    int32_t *g_idx;     /* [cols] or NULL */
} qk_quantized_linear;

/* Allocate the arrays for a rows x cols weight (codes, scales, zeros
** zeroed; g_idx only when with_g_idx). */
qk_status qk_quantized_linear_alloc(qk_quantized_linear *q, int32_t bits, int32_t group_size,
                                    bool symmetric, int64_t rows, int64_t cols, bool with_g_idx);
void qk_quantized_linear_free(qk_quantized_linear *q);
/* Group of column c. */
static inline int64_t qk_quantized_linear_group(const qk_quantized_linear *q, int64_t c) {
    return q->g_idx ? q->g_idx[c] : c / q->group_size;
}
/* W' as f32 [rows * cols]. */
qk_status qk_quantized_linear_dequantize(const qk_quantized_linear *q, float *w);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_ALGO_H */
