/*
** quantkit metrics: how far an approximation y (dequantized weights,
** outputs of a quantized model) is from a reference x.
**
** Every sum is taken in double. Element-wise error sums are formed per block
** of QK_METRICS_BLOCK elements (block k holds the elements with global index
** in [k*B, (k+1)*B)), each block summed in index order, and the block sums
** are added in block order with Neumaier compensation. Results therefore do
** not depend on how a tensor is split into chunks nor on the thread count
** (blocks may be summed in parallel; they are always combined in order).
**
** Inputs must be finite: a NaN or +-Inf fails with QK_ERR_NONFINITE naming
** the element index (counted from the start of the stream for the
** accumulator) and changes nothing.
*/
#ifndef QUANTKIT_METRICS_H
#define QUANTKIT_METRICS_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QK_METRICS_BLOCK 4096

/* Error statistics of y against a reference x over n elements.
**   mse  = sum (x-y)^2 / n          mae = sum |x-y| / n
**   max_abs_error = max |x-y|, at max_abs_index (the first index reaching it)
**   sqnr_db = 10 log10(sum x^2 / sum (x-y)^2): +Inf when the error is 0
**             (even for an all-zero x), -Inf when x is all zero but y is not.
**   cosine  = sum xy / (sqrt(sum x^2) sqrt(sum y^2)), clamped to [-1, 1];
**             1 when both are all zero, 0 when exactly one is.
** With n = 0: mse = mae = max_abs_error = 0, sqnr_db = +Inf, cosine = 1. */
typedef struct qk_error_stats {
    uint64_t n;
    double mse;
    double mae;
    double max_abs_error;
    uint64_t max_abs_index;
    double sqnr_db;
    double cosine;
    double sum_sq_ref;   /* sum x^2 */
    double sum_sq_test;  /* sum y^2 */
    double sum_sq_error; /* sum (x-y)^2 */
    double dot;          /* sum x*y */
} qk_error_stats;

/* Streaming accumulator: add chunks in order, read totals at any time.
** Plain data (copy it to snapshot); treat the fields as private. */
typedef struct qk_error_accum {
    uint64_t n;             /* elements added */
    double block[5];        /* sums of the current (incomplete) block */
    double total[5];        /* completed blocks: Neumaier sums ... */
    double comp[5];         /* ... and their compensations */
    double max_abs_error;   /* largest |x-y| so far */
    uint64_t max_abs_index; /* its first index */
} qk_error_accum;

void qk_error_accum_init(qk_error_accum *acc);
/* Add the next n elements of the stream (x reference, y approximation). */
qk_status qk_error_accum_add(qk_error_accum *acc, const float *x, const float *y, size_t n);
/* Statistics of everything added so far (the accumulator is unchanged). */
void qk_error_accum_result(const qk_error_accum *acc, qk_error_stats *out);
/* One-shot: init, add, result. */
qk_status qk_error_stats_compute(const float *x, const float *y, size_t n, qk_error_stats *out);

/* KL(p||q) = sum p_i ln(p_i / q_i) in nats between two discrete
** distributions given as non-negative weights (each normalised to sum 1
** first, as scipy.stats.entropy does). Terms with p_i = 0 are 0; a q_i = 0
** with p_i > 0 gives +Inf. Negative or non-finite weights, or a zero total,
** fail (QK_ERR_INVALID_ARG / QK_ERR_NONFINITE, naming the index). The sum is
** compensated and clamped at 0 against rounding. */
qk_status qk_kl_divergence(const double *p, const double *q, size_t n, double *out);
/* KL(softmax(a) || softmax(b)) from logits, in double:
** log-softmax l_i = a_i - max(a) - ln(sum exp(a_j - max(a))), KL = sum
** exp(la_i) (la_i - lb_i). -Inf logits are allowed (probability 0); NaN,
** +Inf, or all -Inf fail. */
qk_status qk_kl_divergence_logits(const float *logits_p, const float *logits_q, size_t n,
                                  double *out);

/* Outliers of x: elements with |x - mean| > k * std (mean and population
** standard deviation, two-pass, compensated, in double). */
typedef struct qk_outlier_stats {
    uint64_t n;
    double mean;
    double std; /* sqrt(sum (x-mean)^2 / n) */
    double k;
    double lo, hi;    /* mean - k*std, mean + k*std */
    uint64_t count;   /* outliers */
    double fraction;  /* count / n (0 when n = 0) */
    double max_abs_z; /* max |x - mean| / std (0 when std = 0) */
} qk_outlier_stats;

/* Find the outliers. Writes the first min(count, capacity) outlier indices
** in increasing order to `indices` (may be NULL when capacity is 0; call
** once with capacity 0 to learn the count). k must be finite and >= 0. */
qk_status qk_outliers_find(const float *x, size_t n, double k, qk_outlier_stats *out,
                           uint64_t *indices, size_t capacity);

/* What clipping the outliers to [lo, hi] does to the quantization error:
** `plain` compares x with its quantize-dequantize y_plain; `clipped`
** compares x (the original) with y_clipped, the quantize-dequantize of x with
** every outlier replaced by the nearer of lo, hi (as f32). The inlier and
** outlier MSEs split each error by the outlier mask (0 for an empty set). */
typedef struct qk_outlier_clip_report {
    qk_outlier_stats outliers;
    qk_error_stats plain;
    qk_error_stats clipped;
    double plain_inlier_mse, clipped_inlier_mse;
    double plain_outlier_mse, clipped_outlier_mse;
} qk_outlier_clip_report;

/* The report from two ready dequantized versions. */
qk_status qk_outlier_clip_compare(const float *x, const float *y_plain, const float *y_clipped,
                                  size_t n, double k, qk_outlier_clip_report *out);

/* A quantize-dequantize function: writes n values to `out` from `in`
** (choosing its parameters from `in` as it likes). */
typedef qk_status (*qk_qdq_fn)(void *user, const float *in, float *out, size_t n);

/* The report with y_plain = qdq(x) and y_clipped = qdq(clip(x)); allocates
** 3n floats of scratch (qdq never works in place). */
qk_status qk_outlier_clip_effect(const float *x, size_t n, double k, qk_qdq_fn qdq, void *user,
                                 qk_outlier_clip_report *out);

/* Clip x's outliers (as qk_outlier_clip_report defines) into dst; returns
** the statistics used. dst may equal x. */
qk_status qk_outliers_clip(const float *x, float *dst, size_t n, double k, qk_outlier_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_METRICS_H */
