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
#include "quantkit/model.h"
#include "quantkit/quant.h"

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
    int64_t n_groups; /* ceil(cols / group_size) */
    uint8_t *codes;   /* [rows * cols] */
    float *scales;    /* [n_groups * rows] */
    int32_t *zeros;   /* [n_groups * rows] */
    int32_t *g_idx;   /* [cols] or NULL */
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

/* ------------------------------------------------------------------------
** Simulated weight formats: quantize a weight matrix and dequantize it
** again in place ("fake quantization"), so that an f32 forward pass sees
** exactly the values a quantized file would hold. Used by AWQ's searches
** and by `quantkit eval --simulate`.
*/
typedef enum qk_weight_format_kind {
    QK_WFORMAT_AFFINE = 0,    /* affine intN in groups of input columns (GPTQ/AWQ) */
    QK_WFORMAT_BLOCKWISE = 1, /* bitsandbytes 4-bit blockwise (NF4/FP4, double quant) */
    QK_WFORMAT_GGML = 2       /* a llama.cpp block type, row by row */
} qk_weight_format_kind;

typedef struct qk_weight_format {
    qk_weight_format_kind kind;
    /* affine: torch/GPTQ conventions. Asymmetric: range widened to include
    ** 0, scale = (max - min) / (2^b - 1), zero = round(-min / scale) on
    ** [0, 2^b - 1]; symmetric: GPTQ's sym (zero 2^(b-1), scale = 2 amax /
    ** (2^b - 1)). f32 scales, rounding half to even. */
    int32_t bits;       /* 2..8 */
    int32_t group_size; /* input columns per group; 0 = one group per row */
    bool symmetric;
    /* blockwise: over the flattened row-major matrix, as bitsandbytes */
    qk_blockwise_config blockwise;
    /* ggml: any block type (q4_0, q4_k, ...) or float type (f16, bf16) */
    qk_type ggml_type;
} qk_weight_format;

/* Parse a format name: "w4g128", "w3g128", "w4" (per channel), "w4g128s"
** (symmetric); "nf4" (block 64 + double quant), "nf4b128", "nf4nodq",
** "fp4" (bitsandbytes' FP4), "fp4b64nodq"; or a ggml type name ("q4_0",
** "q4_k", "q8_0", "f16").
** QK_ERR_INVALID_ARG naming the text when unknown. */
qk_status qk_weight_format_parse(const char *spec, qk_weight_format *out);
/* Canonical name of a format into buf ("w4g128", "nf4", "q4_k"). */
const char *qk_weight_format_name(const qk_weight_format *f, char *buf, size_t size);
/* Quantize-dequantize the row-major matrix w [rows, cols] in place.
** QK_ERR_SHAPE when cols does not fit the format (a ggml block size). */
qk_status qk_weight_format_qdq(const qk_weight_format *f, float *w, int64_t rows, int64_t cols);
/* The number of consecutive input columns that share one scale under the
** format (affine group or row, blockwise block, ggml (sub-)block): the
** group AWQ measures weight magnitudes and searches clipping over. */
int32_t qk_weight_format_group(const qk_weight_format *f, int64_t cols);

/* A weight quantize-dequantize callback: replace w [rows, cols] (linear
** `which` of decoder layer `layer`) by its quantized-dequantized values in
** the target format, in place. */
typedef qk_status (*qk_weight_qdq_fn)(void *user, int32_t layer, qk_llama_linear which, float *w,
                                      int64_t rows, int64_t cols);
/* A qk_weight_qdq_fn whose user is a const qk_weight_format *. */
qk_status qk_weight_format_qdq_callback(void *user, int32_t layer, qk_llama_linear which, float *w,
                                        int64_t rows, int64_t cols);

/* ------------------------------------------------------------------------
** AWQ (activation-aware weight quantization; llm-awq, AutoAWQ).
**
** For one decoder layer, given its input hidden states: per-input-channel
** mean |x| of each scaled group's input; for r in {0, 1/n_grid, ...,
** (n_grid-1)/n_grid}: s = xbar^r (or with duo_scaling s = xbar^r /
** (wbar^(1-r) + 1e-4), wbar = mean over output rows of |w| / max|w| of its
** group), clamped to >= 1e-4 and divided by sqrt(max(s) min(s)); the
** group's weights become qdq(W * s) / s and the sub-block is run; the r
** with the lowest output MSE against the float sub-block wins. Groups and
** where 1/s is folded (the float function is unchanged by the folding):
**   QK_AWQ_QKV:     q, k, v against attn_norm; output: the attention block
**                   (q/k/v, rotary, attention, o) on the normalised input.
**   QK_AWQ_O:       o against v (v's rows / s, o's columns * s); output: o.
**                   With grouped-query attention v has n_head_kv * head_dim
**                   rows and o n_head * head_dim columns: llm-awq/AutoAWQ
**                   skip this group then; with scale_vo_gqa the scale of v
**                   channel c is shared by the o columns of every query
**                   head reading it (mean |x| over those columns).
**   QK_AWQ_GATE_UP: gate, up against ffn_norm; output: the MLP.
**   QK_AWQ_DOWN:    down against up (up's rows / s, down's columns * s);
**                   output: down.
** Then the clip search (AutoAWQ's auto_clip) on every linear but q and k:
** per output row and group, max = max|w| * (1 - i / clip_n_grid) for i <
** clip_n_grid * clip_max_shrink, weights clamped to [-max, max], and the
** candidate with the lowest output MSE of that row and group, over
** clip_n_tokens tokens of its (scaled) input, is kept.
**
** Weights are only scaled and clipped, not quantized: quantize them
** afterwards (round-to-nearest or GPTQ) with the same format.
*/
typedef enum qk_awq_group {
    QK_AWQ_QKV = 0,
    QK_AWQ_O,
    QK_AWQ_GATE_UP,
    QK_AWQ_DOWN,
    QK_AWQ_GROUP_COUNT
} qk_awq_group;

typedef struct qk_awq_options {
    qk_weight_qdq_fn qdq; /* required: the target format */
    void *qdq_user;
    int32_t group_size;    /* columns per weight group for wbar and the clip
                              search (qk_weight_format_group); default 128 */
    int32_t n_grid;        /* scale ratios; default 20 */
    bool duo_scaling;      /* AutoAWQ's default: true */
    bool scale_vo_gqa;     /* scale v -> o also under grouped-query attention */
    bool keep_identity;    /* also consider s = 1 (never worse than plain
                              quantization on the searched output) */
    bool clip;             /* run the clip search; default true */
    float clip_max_shrink; /* default 0.5 */
    int32_t clip_n_grid;   /* default 20 (10 candidates) */
    int32_t clip_n_tokens; /* tokens for the clip search, evenly strided; 512 */
    int32_t search_n_seq;  /* sequences (of n_seq) used for the scale search;
                              0 = all */
} qk_awq_options;

/* Defaults: group 128, n_grid 20, duo_scaling, scale_vo_gqa, keep_identity,
** clip with max_shrink 0.5, grid 20, 512 tokens, every sequence. qdq NULL. */
void qk_awq_options_default(qk_awq_options *opt);

typedef struct qk_awq_group_report {
    bool searched;              /* false: skipped (e.g. v -> o with GQA, scale_vo_gqa off) */
    int32_t best;               /* chosen grid index r * n_grid, -1 for the identity */
    float ratio;                /* chosen r (0 for the identity) */
    double err_plain;           /* sub-block output MSE with s = 1 (plain quantization) */
    double err_best;            /* with the chosen scales */
    float scale_min, scale_max; /* of the chosen s */
} qk_awq_group_report;

typedef struct qk_awq_clip_report {
    bool searched;     /* false for q and k */
    double err_before; /* summed per-group output MSE before clipping */
    double err_after;  /* with the chosen clip ratios */
    float mean_ratio;  /* mean chosen max / original max over row groups */
    int64_t n_clipped; /* row groups with a ratio below 1 */
} qk_awq_clip_report;

typedef struct qk_awq_report {
    qk_awq_group_report groups[QK_AWQ_GROUP_COUNT];
    qk_awq_clip_report clip[QK_LINEAR_OUTPUT]; /* by qk_llama_linear (q..down) */
    double seconds;
} qk_awq_report;

/* AWQ for decoder layer `layer`: `lw` holds f32 views (norms, linears,
** biases) that are modified in place (scales folded, weights clipped);
** x_in is the layer's input hidden states [n_seq * seq_len, n_embd]
** (not modified). report may be NULL. */
qk_status qk_awq_apply_layer(const qk_llama_hparams *hp, int32_t layer, qk_llama_layer_weights *lw,
                             const float *x_in, int32_t n_seq, int32_t seq_len,
                             const qk_awq_options *opt, qk_awq_report *report);

/* ------------------------------------------------------------------------
** Int8 building blocks (LLM.int8, SmoothQuant W8A8).
**
** qk_int8_gemm: c[m, n] = a[m, k] . b[n, k]^T over int8 codes with exact
** int32 results. (Computed with sgemm on blocks of 1024 columns: every
** partial sum of at most 1024 products of magnitude <= 2^14 is an integer
** below 2^24, so exact in f32 whatever the summation order; the blocks are
** added in int32.) k <= 131072 so that the int32 total cannot overflow.
*/
qk_status qk_int8_gemm(const int8_t *a, const int8_t *b, int64_t m, int64_t n, int64_t k,
                       int32_t *c);

/* bitsandbytes' int8_vectorwise_quant on x [rows, cols]: with threshold >
** 0, elements with |x| >= threshold are outliers and every column holding
** one is an outlier column (flag 1 in outlier_cols, when not NULL; their
** count in *n_outlier_cols). Row absmax over the non-outlier elements;
** code = round(x * (127 / absmax)) (f32, half to even), 0 in outlier
** columns and for an all-zero row (absmax 0). */
qk_status qk_int8_vectorwise_quant(const float *x, int64_t rows, int64_t cols, float threshold,
                                   int8_t *codes, float *row_absmax, uint8_t *outlier_cols,
                                   int64_t *n_outlier_cols);

/* ------------------------------------------------------------------------
** LLM.int8 (Dettmers et al. 2022; bitsandbytes MatMul8bitLt): the weight
** int8 per output row (absmax / 127); at each product the batch's
** activation columns holding an |x| >= threshold go through a 16-bit path
** (activations and weight columns rounded to f16, products summed in f32),
** the rest is quantized per token (absmax over the non-outlier elements)
** and multiplied in int8 with int32 accumulation:
**   y = acc * (row_absmax * weight_absmax) / 127^2
**     + x_outlier . w_outlier^T
** Outlier columns are decided per call (per batch of rows), as bitsandbytes.
*/
typedef struct qk_llm_int8_stats {
    int64_t calls;        /* products computed */
    int64_t outlier_cols; /* outlier columns summed over the calls */
    int64_t max_outlier_cols;
} qk_llm_int8_stats;

typedef struct qk_llm_int8_options {
    float threshold;          /* 6.0; <= 0: no outlier path (plain int8 x int8) */
    bool fp16_weights;        /* outlier columns use the original weights in f16
                                 (the paper; default); false: the int8 weights
                                 dequantized (bitsandbytes' inference path) */
    bool include_output;      /* also the output projection (default false, as
                                 transformers keeps lm_head in 16 bits) */
    qk_llm_int8_stats *stats; /* optional, updated atomically by every product */
} qk_llm_int8_options;

void qk_llm_int8_options_default(qk_llm_int8_options *opt);

typedef struct qk_llm_int8_linear qk_llm_int8_linear;
/* Quantize weight w [out, in] (any storage type) for LLM.int8. */
qk_status qk_llm_int8_linear_create(const qk_tensor_view *w, const qk_llm_int8_options *opt,
                                    qk_llm_int8_linear **out);
void qk_llm_int8_linear_free(qk_llm_int8_linear *l);
/* y [n_rows, out] from x [n_rows, in]. Reentrant. */
qk_status qk_llm_int8_linear_matmul(qk_llm_int8_linear *l, const float *x, int64_t n_rows,
                                    float *y);
/* Install LLM.int8 kernels on every decoder-layer linear of the model
** (qk_llama_model_set_linear_kernel). */
qk_status qk_llm_int8_apply(qk_llama_model *model, const qk_llm_int8_options *opt);

/* ------------------------------------------------------------------------
** SmoothQuant (Xiao et al. 2022) with W8A8.
**
** Smoothing: per input channel j of the linears reading a norm's output,
**   s_j = max|X_j|^alpha / max(max_i |W_ij|, 1e-5)^(1-alpha), clamped to
**   >= 1e-5, with max|W_j| over all the linears of the group (f32, powf);
** the norm weight is divided by s and the weight columns multiplied by s
** (the float function is unchanged). Groups as the SmoothQuant repository's
** Llama recipe: [q, k, v] after attn_norm, [gate, up] after ffn_norm.
** W8A8: weights int8 per output row, scale max(absmax, 1e-5) / 127;
** activations int8 per token, dynamically, the same rule; q = round(x /
** scale) half to even; int32 accumulation, y = acc * (sx * sw).
*/
/* The smoothing scales of one group: act_max [cols], w[i] [rows[i], cols]. */
qk_status qk_smoothquant_scales(const float *act_max, const float *const *w, const int64_t *rows,
                                int n_mats, int64_t cols, float alpha, float *s);

typedef struct qk_w8a8_linear qk_w8a8_linear;
/* Quantize weight w [out, in] (any storage type) per output row to int8. */
qk_status qk_w8a8_linear_create(const qk_tensor_view *w, qk_w8a8_linear **out);
void qk_w8a8_linear_free(qk_w8a8_linear *l);
/* y [n_rows, out] from x [n_rows, in] with per-token int8 activations. */
qk_status qk_w8a8_linear_matmul(qk_w8a8_linear *l, const float *x, int64_t n_rows, float *y);

struct qk_calib_stats;
typedef struct qk_smoothquant_options {
    float alpha;         /* migration strength, default 0.5 */
    bool smooth;         /* fold the smoothing scales (false: plain W8A8) */
    bool w8a8;           /* install the W8A8 kernels (false: smoothing only,
                            the float function is unchanged) */
    bool include_output; /* also W8A8 on the output projection (default false) */
} qk_smoothquant_options;
void qk_smoothquant_options_default(qk_smoothquant_options *opt);
/* Smooth the model with the max |x| of `stats` (qk_calib_collect on this
** model before any change), then install W8A8 kernels on every
** decoder-layer linear (defaults: alpha 0.5, smooth, w8a8). The model's norms and q/k/v/gate/up
*weights are
** replaced by their smoothed f32 versions. */
qk_status qk_smoothquant_apply(qk_llama_model *model, const struct qk_calib_stats *stats,
                               const qk_smoothquant_options *opt);

/* ------------------------------------------------------------------------
** Simulated quantization of a whole model, for evaluation (`quantkit eval
** --simulate SPEC`): the weights are transformed in memory and the f32
** forward pass runs with them (or with the int8 kernels). SPEC:
**   FORMAT                 every decoder-layer linear quantize-dequantized
**                          (qk_weight_format_parse: w4g128, w3g128, nf4,
**                          q4_0, q4_k ...)
**   awq_FORMAT             AWQ layer by layer on the calibration windows
**                          (each layer's input from the float layer before
**                          it, as AutoAWQ), then FORMAT
**   llm_int8[:T]           LLM.int8 kernels, outlier threshold T (6)
**   smoothquant_w8a8[:A]   SmoothQuant with alpha A (0.5), W8A8 kernels
**   w8a8                   W8A8 kernels without smoothing
** The output projection and the embeddings stay as they are unless
** include_output (AutoGPTQ/AutoAWQ/bitsandbytes keep lm_head in 16 bits).
*/
typedef void (*qk_simulate_progress)(void *user, const char *what, int32_t done, int32_t total);

typedef struct qk_simulate_options {
    const int32_t *calib_tokens; /* awq_* and smoothquant: n_calib windows of calib_len */
    int32_t n_calib;
    int32_t calib_len;
    bool include_output;
    int32_t awq_search_seqs;       /* windows used by AWQ's searches (0 = all) */
    qk_llm_int8_stats *int8_stats; /* llm_int8: outlier counts (optional) */
    qk_simulate_progress progress; /* optional */
    void *progress_user;
} qk_simulate_options;

typedef struct qk_simulate_report {
    char method[64];   /* the canonical spec */
    int64_t n_linears; /* linears transformed */
    double seconds;
    /* awq_*: sub-block output MSE summed over the layers, with s = 1 and
    ** with the chosen scales, per group; mean chosen ratio */
    double awq_err_plain[QK_AWQ_GROUP_COUNT];
    double awq_err_best[QK_AWQ_GROUP_COUNT];
    double awq_mean_ratio[QK_AWQ_GROUP_COUNT];
    double awq_clip_mean_ratio; /* mean over clipped linears */
} qk_simulate_report;

qk_status qk_simulate_apply(qk_llama_model *model, const char *spec, const qk_simulate_options *opt,
                            qk_simulate_report *report);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_ALGO_H */
