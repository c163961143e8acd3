/*
** quantkit sensitivity (algo layer): how much each weight tensor of a
** Llama-family model suffers in each candidate storage format, for
** reports and for mixed-precision allocation (quantkit/mixed.h).
**
** For a weight W [rows = out_features, cols = in_features] (y = W x), its
** quantize-dequantize W' in a format and dW = W - W', with calibration
** inputs x_t (t = 1..n) summarised by
**   m_j   = (1/n) sum_t x_tj^2          (llama.cpp's imatrix / n_rows)
**   S     = (1/n) sum_t x_t x_t^T        (X^T X / n, when it was captured)
** the numbers per (tensor, format) are:
**   mse, sqnr_db, cosine   of W' against W (quantkit/metrics.h)
**   imatrix_err = sum_j m_j sum_i dW_ij^2   (diagonal-Hessian estimate of
**                 the mean squared output error per token)
**   hawq        = (sum_j m_j / cols) * sum_ij dW_ij^2   (HAWQ-v2: average
**                 Hessian trace per weight, tr(S)/cols, times ||Q(W)-W||^2)
**   output_err  = tr(dW S dW^T) = (1/n) sum_t ||dW x_t||^2: the mean
**                 squared output error on the captured activations, exact
**                 (needs S)
**   output_rel  = tr(dW S dW^T) / tr(W S W^T) = ||WX^T - W'X^T||^2 /
**                 ||WX^T||^2 on the captured activations (needs S)
**   kl          = measured: mean KL(model || model with only this tensor in
**                 this format) over the scored positions of a few
**                 calibration windows (optional; see qk_sens_kl_mode)
** token_embd has no linear input; its "input" is the one-hot token, so m_v
** is the frequency of token v in the calibration windows and S = diag(m):
** every number above is defined the same way (output_err = imatrix_err).
**
** W' is exactly what `quantkit quantize` would write for the tensor in that
** format: the same reference quantizer with the same importance (the
** statistics' mean x^2 where the tensor has an entry, none otherwise).
**
** The predicted loss the allocator minimises is, per (tensor, format):
**   QK_SENS_KL_NONE       predicted = proxy (one of imatrix_err, hawq,
**                         output_err: qk_sens_proxy)
**   QK_SENS_KL_CALIBRATE  predicted = gain * proxy, with one gain per tensor
**                         from the KL measured in one format (kl_format):
**                         gain = kl / proxy there. The proxy ranks formats
**                         within a tensor; the measured KL puts the tensors
**                         on one scale (KL in nats), which the layer-local
**                         proxies cannot (they ignore how an output error
**                         propagates to the logits).
**   QK_SENS_KL_ALL        predicted = the KL measured in every format
** Summing predicted losses over tensors assumes the tensors' effects add
** up, which holds to first order for small perturbations.
*/
#ifndef QUANTKIT_SENSITIVITY_H
#define QUANTKIT_SENSITIVITY_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct qk_calib_stats;
struct qk_quantize_options;

#define QK_SENS_MAX_FORMATS 8

typedef enum qk_sens_proxy {
    QK_SENS_PROXY_IMATRIX = 0, /* imatrix_err (default) */
    QK_SENS_PROXY_HAWQ = 1,    /* hawq */
    QK_SENS_PROXY_OUTPUT = 2   /* output_err (statistics with X^T X) */
} qk_sens_proxy;

/* "imatrix", "hawq", "output". */
const char *qk_sens_proxy_name(qk_sens_proxy proxy);
qk_status qk_sens_proxy_parse(const char *text, qk_sens_proxy *out);

typedef enum qk_sens_kl_mode {
    QK_SENS_KL_NONE = 0,      /* no end-to-end measurement */
    QK_SENS_KL_CALIBRATE = 1, /* measure in kl_format only; scale the proxy */
    QK_SENS_KL_ALL = 2        /* measure in every format */
} qk_sens_kl_mode;

/* "none", "calibrate", "all". */
const char *qk_sens_kl_mode_name(qk_sens_kl_mode mode);
qk_status qk_sens_kl_mode_parse(const char *text, qk_sens_kl_mode *out);

/* One tensor in one format. Numbers that were not computed are NaN. */
typedef struct qk_sens_entry {
    qk_type type;
    bool available; /* the format holds the tensor's row length */
    uint64_t bytes; /* tensor data bytes in this format */
    double mse;
    double sqnr_db;
    double cosine;
    double imatrix_err;
    double hawq;
    double output_err; /* NaN without X^T X */
    double output_rel; /* NaN without X^T X */
    double kl;         /* NaN when not measured */
    double predicted;  /* the allocator's cost (see above) */
} qk_sens_entry;

typedef struct qk_sens_tensor {
    char name[64]; /* llama.cpp name: "blk.3.ffn_down.weight" */
    int32_t layer; /* -1 for token_embd / output */
    int64_t rows, cols;
    qk_type stored;      /* type in the model file */
    bool has_importance; /* quantized with importance (the statistics' mean x^2) */
    bool has_xtx;        /* output_err / output_rel computed */
    double input_power;  /* sum_j m_j = tr(S) */
    double output_power; /* tr(W S W^T) (NaN without S) */
    double gain;         /* predicted = gain * proxy (QK_SENS_KL_CALIBRATE), else 1 */
    qk_sens_entry entries[QK_SENS_MAX_FORMATS]; /* in the order of qk_sensitivity.formats */
} qk_sens_tensor;

typedef struct qk_sensitivity {
    size_t n_formats;
    qk_type formats[QK_SENS_MAX_FORMATS];
    qk_sens_proxy proxy;
    qk_sens_kl_mode kl_mode;
    qk_type kl_format;
    int32_t kl_chunks, kl_chunk_len; /* windows the KL was measured on */
    size_t n_tensors;
    qk_sens_tensor *tensors; /* in the model file's order of the quantized tensors */
    double seconds;
    double kl_seconds; /* of which measuring KL */
} qk_sensitivity;

void qk_sensitivity_free(qk_sensitivity *s);
/* The entry of tensor `name`, or NULL. */
const qk_sens_tensor *qk_sensitivity_find(const qk_sensitivity *s, const char *name);
/* Index of `type` in s->formats, or -1. */
int qk_sensitivity_format_index(const qk_sensitivity *s, qk_type type);

/* Called after each tensor (done of total) and during KL measurement. */
typedef void (*qk_sens_progress)(void *user, size_t done, size_t total, const char *name);

typedef struct qk_sens_options {
    /* candidate formats (block types or f16/bf16/f32); default q2_k, q3_k,
    ** q4_k, q5_k, q6_k, q8_0, f16 */
    size_t n_formats;
    qk_type formats[QK_SENS_MAX_FORMATS];
    /* calibration statistics (mean x^2, and X^T X for output_err); borrowed.
    ** NULL: every m_j = 1 (plain squared weight error), no importance. */
    const struct qk_calib_stats *stats;
    /* how often each token id occurs in the calibration windows (n_vocab
    ** entries; NULL: uniform): token_embd's m_v */
    const int64_t *token_counts;
    int64_t n_token_counts;
    qk_sens_proxy proxy;
    qk_sens_kl_mode kl_mode;
    qk_type kl_format; /* QK_SENS_KL_CALIBRATE (default q3_k; when a tensor
                          cannot take it, its lowest-bit available format) */
    /* KL windows: kl_chunks windows of kl_chunk_len tokens, each starting
    ** with BOS as llama-perplexity's chunks; the second half of each is
    ** scored. Borrowed. */
    const int32_t *kl_tokens;
    int32_t kl_chunks, kl_chunk_len;
    /* which tensors: the quantizable 2-D weights of this plan's options
    ** (quantize.h; NULL: every 2-D "*.weight" that is not a norm) */
    const struct qk_quantize_options *quantize;
    qk_sens_progress progress;
    void *progress_user;
} qk_sens_options;

/* Defaults: the seven formats above, no statistics, proxy imatrix, no KL,
** kl_format q3_k. */
void qk_sens_options_init(qk_sens_options *opt);

/* Every number above for every quantizable 2-D weight of the model at
** `model_path` (any source qk_model_source_open accepts). KL modes load
** the model for inference and need kl_tokens. `out` is overwritten; free
** with qk_sensitivity_free. Deterministic and independent of the thread
** count. */
qk_status qk_sensitivity_compute(const char *model_path, const qk_sens_options *opt,
                                 qk_sensitivity *out);

/* The weight-side numbers of one (W, W') pair, for any caller that already
** has both (e.g. two model files): fills mse, sqnr_db, cosine,
** imatrix_err, hawq, and with xtx output_err, output_rel; the rest of
** `out` is untouched. w, wq: [rows, cols] row-major. mean_x2: [cols] m_j
** (NULL: all 1). xtx: [cols, cols] S (the mean, not the sum; NULL: not
** computed, NaN). output_power (optional) receives tr(W S W^T). */
qk_status qk_sens_weight_errors(const float *w, const float *wq, int64_t rows, int64_t cols,
                                const double *mean_x2, const double *xtx, qk_sens_entry *out,
                                double *output_power);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_SENSITIVITY_H */
