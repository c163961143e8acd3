/*
** quantkit gptq (algo layer): GPTQ (Frantar et al., arXiv 2210.17323) on
** one linear weight, onto an affine grid (2..8 bits, per channel or in
** groups, symmetric or asymmetric) or onto a llama.cpp block format, and
** the accumulation of its Hessian from captured layer inputs.
**
** The weight is W [rows = out_features, cols = in_features], y = x W^T, so
** the Hessian of the layer's squared output error is over input columns:
**   H = 2/n sum_t x_t x_t^T   (x_t one input row, n rows in all)
** GPTQ quantizes W one column at a time and spreads each column's rounding
** error over the columns not yet quantized, weighted by the upper Cholesky
** factor U of H^-1 (H^-1 = U^T U):
**   q = Q(w_i), e = (w_i - q) / U[i][i], w_k -= e * U[i][k] for k > i
** This minimises tr((W - W') H (W - W')^T), the "H-weighted error" below.
** Steps, as IST-DASLab/gptq and AutoGPTQ (FORMATS.md section 2):
**   1. dead columns (H[d][d] == 0): H[d][d] = 1 and W[:, d] = 0;
**   2. act-order: columns sorted by diag(H) descending (stable: equal
**      diagonals keep their order);
**   3. damping: damp * mean(diag H) added to the diagonal; when a Cholesky
**      factorisation fails, damp is multiplied by 10 and tried again up to
**      damp_max (the fraction used is reported);
**   4. U = upper Cholesky factor of (lower Cholesky -> inverse) of H;
**   5. lazy blocks of block_size columns: inside a block the updates are
**      applied column by column, the rest of the matrix gets one matrix
**      product per block (BLAS).
** Rows are independent given U: they are processed in fixed tiles of 64
** rows spread over the OpenMP threads, each tile with single-threaded
** BLAS, so results do not depend on the thread count. The weights are
** updated in double precision; H, its factor and the errors are double.
*/
#ifndef QUANTKIT_GPTQ_H
#define QUANTKIT_GPTQ_H

#include "quantkit/algo.h"
#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
** Hessian accumulation: a running average over batches of input rows, as
** GPTQ's add_batch: with n rows seen and a batch X of t rows,
**   H = H * n / (n + t) + (2 / (n + t)) X^T X
** X^T X is formed in f32 by single-threaded BLAS in fixed 256 x 256 tiles
** of H (spread over the threads) and added in double: the result does not
** depend on the thread count. Memory: n_cols^2 doubles.
*/
typedef struct qk_hessian qk_hessian;

qk_status qk_hessian_create(int64_t n_cols, qk_hessian **out);
void qk_hessian_free(qk_hessian *h);
/* Forget everything accumulated. */
void qk_hessian_reset(qk_hessian *h);
/* Add the rows of x [n_rows, n_cols] (row-major). Non-finite input is
** QK_ERR_NONFINITE naming the row and column. */
qk_status qk_hessian_add(qk_hessian *h, const float *x, int64_t n_rows);
int64_t qk_hessian_cols(const qk_hessian *h);
/* Rows (tokens) accumulated so far. */
int64_t qk_hessian_rows(const qk_hessian *h);
/* H [n_cols * n_cols], symmetric, row-major (borrowed until the next call
** that changes h). All zeros before any rows were added. */
const double *qk_hessian_data(const qk_hessian *h);

/* tr((A - B) H (A - B)^T) for two weights A, B [rows, cols] and H [cols,
** cols]: the H-weighted squared error of B as an approximation of A. */
qk_status qk_hessian_error(const double *h, const float *a, const float *b, int64_t rows,
                           int64_t cols, double *out);

/* ------------------------------------------------------------------------
** Options.
*/
typedef struct qk_gptq_options {
    /* affine grid (qk_gptq_quantize) */
    int32_t bits;       /* 2..8 (default 4) */
    int32_t group_size; /* input columns per group; 0: per channel (default 128) */
    bool symmetric;     /* default false (asymmetric) */
    bool mse;           /* MSE scale search (GPTQ's: grid 100, maxshrink 0.8, norm 2.4) */
    qk_type scale_type; /* QK_TYPE_F16 (default: checkpoints store f16 scales; the scale is
                           rounded up to f16 before rounding, so the grid GPTQ rounds onto is
                           the stored one) or QK_TYPE_F32 */
    /* both targets */
    bool act_order;     /* columns in order of decreasing diag(H) */
    bool static_groups; /* group parameters (block scales) from the original weights, before
                           any update; otherwise from the updated weights when GPTQ reaches
                           the group's first column ("dynamic", GPTQ's default) */
    double damp;        /* fraction of mean(diag H) added to the diagonal (default 0.01) */
    double damp_max;    /* automatic raises stop above this (default 1.0) */
    int32_t block_size; /* lazy batch columns (default 128; see qk_gptq_quantize) */
    bool refit_scales;  /* affine: refit the group scales to the final codes
                           (qk_gptq_refit_scales; default off) */
    /* block formats (qk_gptq_quantize_blocks) */
    const float *importance; /* NULL or [cols] non-negative weights for choosing each block's
                                scales (llama.cpp imatrix semantics); see below */
    bool hessian_importance; /* with importance NULL: use diag(H) as the importance */
} qk_gptq_options;

/* Defaults: 4 bits, group 128, asymmetric, f16 scales, no act-order,
** dynamic groups, damp 0.01 (max 1.0), block 128, no importance. */
void qk_gptq_options_init(qk_gptq_options *opt);

/* What happened to one weight. */
typedef struct qk_gptq_report {
    double damp;         /* damping fraction used (> the requested one when raised) */
    int32_t damp_raises; /* times it was multiplied by 10 */
    int64_t dead_cols;   /* columns whose H diagonal was 0 */
    double loss;         /* GPTQ's loss: sum (w - q)^2 / U[i][i]^2 / 2 */
    double seconds;      /* wall time */
} qk_gptq_report;

/* ------------------------------------------------------------------------
** GPTQ onto an affine grid. w [rows, cols] f32 row-major (not modified), h
** [cols, cols] (not modified). Writes `out` (allocated here; free with
** qk_quantized_linear_free) and, when w_out is not NULL, the dequantized
** weight W' [rows, cols].
**
** The grid of each (group, row): xmin = min(min(x), 0), xmax = max(max(x),
** 0) over the group's values; asymmetric: scale = (xmax - xmin) / maxq,
** zero = round(-xmin / scale); symmetric: scale = max(-xmin, xmax) /
** (maxq / 2), zero = 2^(bits-1); scale >= FLT_EPSILON; with f16 scales the
** scale is rounded up to an f16 value and the zero recomputed
** (qk_affine_scheme_params on the unsigned range [0, maxq]). A value
** becomes q = clamp(nearbyintf(x * (1 / scale)) + zero, 0, maxq), W' = (q -
** zero) * scale. The MSE search tries the ranges p * [xmin, xmax], p = 1 -
** k / 100 for k < 80, keeping the lowest sum |W' - x|^2.4. (GPTQ's
** symmetric quantizer keeps xmin = 0 for an all-positive row and so
** clips it; here a symmetric group always spans [-amax, amax].)
**
** Groups: per channel (group_size 0) is one group of all columns whose
** parameters come from the original row. With groups, dynamic parameters
** come from the group's values once every earlier column's update has
** been applied to them: the lazy block size is made a multiple of the
** group size (or the group size when that is larger and not a multiple of
** it), so a group never starts inside a block it does not fit in. (The
** reference implementations take the group's values before the updates of
** the earlier columns of the same block when the group size is below the
** block size; with group 128 and block 128 the two agree.)
**
** Act-order and the group index (AutoGPTQ's g_idx): columns are processed
** in the order perm (diag(H) decreasing).
**   dynamic groups: group k holds the columns processed at positions
**     k*G .. k*G+G-1, so g_idx[c] = (position of column c) / G;
**   static groups: the groups are those of the original column order,
**     g_idx[c] = c / G, whatever the processing order.
** out->g_idx is filled whenever act_order is set (NULL otherwise, meaning
** c / G). Codes are stored in the original column order. */
qk_status qk_gptq_quantize(const float *w, int64_t rows, int64_t cols, const double *h,
                           const qk_gptq_options *opt, qk_quantized_linear *out, float *w_out,
                           qk_gptq_report *report);

/* With every code and zero of q fixed, set each row's group scales to
** the least-squares minimizer of tr((W - W') H (W - W')^T) (W' = scale *
** (code - zero)), rounded to scale_type; a row keeps its scales unless the
** rounded solution is positive, at least FLT_EPSILON and lowers the
** error. w [rows, cols] and h [cols, cols] are the original weight and
** Hessian (not modified). *rows_changed (may be NULL): rows that took new
** scales. Results do not depend on the thread count. */
qk_status qk_gptq_refit_scales(const float *w, const double *h, qk_type scale_type,
                               qk_quantized_linear *q, int64_t *rows_changed);

/* Round to nearest on the same grid (what GPTQ's first column does, for
** every column): the RTN baseline with identical group parameters
** (dynamic = static here, as nothing is updated). No Hessian. */
qk_status qk_rtn_quantize(const float *w, int64_t rows, int64_t cols, const qk_gptq_options *opt,
                          qk_quantized_linear *out, float *w_out);

/* ------------------------------------------------------------------------
** GPTQ onto a llama.cpp block format: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
** Q3_K, Q4_K, Q5_K, Q6_K. Each block's scale(s) and min(s) are chosen
** first by quantkit's reference quantizer (qk_quantize_row: llama.cpp's
** search, with importance when given) on the block's values -- the
** original ones with static_groups, else the updated ones when GPTQ
** reaches the block (the lazy block size is a multiple of the format's
** block) -- and then GPTQ's column-by-column error feedback rounds every
** weight to the nearest value of its block's grid, the values ggml's
** dequantizer produces (y = A * L + B per sub-block, formed in ggml's
** order). dst receives rows * qk_type_row_bytes(type, cols) bytes: blocks
** that llama.cpp reads unchanged. act_order needs static_groups here (a
** block's columns are contiguous in the original order).
** Importance for the scale search: opt->importance, else diag(H) when
** opt->hessian_importance, else none. The affine fields of opt (bits,
** group_size, symmetric, mse, scale_type) are ignored. When w_out is not
** NULL it receives the dequantized weight. */
qk_status qk_gptq_quantize_blocks(qk_type type, const float *w, int64_t rows, int64_t cols,
                                  const double *h, const qk_gptq_options *opt, void *dst,
                                  float *w_out, qk_gptq_report *report);

/* Whether qk_gptq_quantize_blocks supports `type`. */
bool qk_gptq_block_type_supported(qk_type type);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_GPTQ_H */
