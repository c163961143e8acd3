/*
** quantkit calibrate: run a model over calibration text and gather, for the
** input of every linear layer, the statistics calibrated quantization
** needs: the row count, per-column sum of x^2 (llama.cpp's imatrix), per-
** column sum of |x| (AWQ's mean |x|), per-column max |x| (SmoothQuant),
** and optionally the full X^T X.
**
** Linear layers that share an input share one entry: q/k/v read the
** attention input, gate/up the MLP input; attn_output, ffn_down and output
** have their own. Statistics are kept in double precision.
*/
#ifndef QUANTKIT_CALIBRATE_H
#define QUANTKIT_CALIBRATE_H

#include "quantkit/core.h"
#include "quantkit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which calibration windows to run. */
typedef struct qk_calib_sampling {
    int32_t n_samples;  /* windows; 0 = every whole non-overlapping window */
    int32_t sample_len; /* tokens per window */
    uint64_t seed;      /* window start positions come from this seed */
    int32_t bos;        /* >= 0: the first token of each window becomes BOS */
} qk_calib_sampling;

/* Pick windows from a token stream: n_samples starts drawn uniformly from
** [0, n_tokens - sample_len] by a splitmix64 stream of `seed` (GPTQ's
** random windows), or with n_samples 0 every non-overlapping window in
** order (llama.cpp imatrix's chunks). `out` receives n_samples * sample_len
** tokens (call with out NULL to learn *out_n_samples). Deterministic. */
qk_status qk_calib_sample(const int32_t *tokens, int64_t n_tokens, const qk_calib_sampling *s,
                          int32_t *out, int32_t *out_n_samples);

/* Statistics of one linear input. Borrowed from the stats object. */
typedef struct qk_calib_input {
    int64_t n_cols;
    int64_t n_rows;        /* rows (tokens) accumulated */
    const double *sum_x2;  /* [n_cols] */
    const double *sum_abs; /* [n_cols] */
    const double *max_abs; /* [n_cols] max |x| (SmoothQuant); NULL for
                              statistics loaded from a file */
    const double *xtx;     /* [n_cols * n_cols] row-major, or NULL */
} qk_calib_input;

typedef struct qk_calib_stats qk_calib_stats;

/* Empty statistics for a model's shape; with_xtx also keeps X^T X per
** input (n_cols^2 doubles each: for large models use it layer by layer). */
qk_status qk_calib_stats_create(const qk_llama_hparams *hp, bool with_xtx, qk_calib_stats **out);
void qk_calib_stats_free(qk_calib_stats *stats);

/* A qk_linear_hook that accumulates into the qk_calib_stats passed as
** `user` (use with qk_llama_context_set_hook). */
void qk_calib_stats_hook(void *user, int32_t layer, qk_llama_linear which, const float *x,
                         int64_t n_rows, int64_t n_cols);

/* Run `n_samples` windows of `sample_len` tokens through the model (a fresh
** context per window) and accumulate every linear input into `stats`.
** progress (optional) is called after each window. */
typedef void (*qk_calib_progress)(void *user, int32_t done, int32_t total);
qk_status qk_calib_collect(const qk_llama_model *model, const int32_t *windows, int32_t n_samples,
                           int32_t sample_len, qk_calib_stats *stats, qk_calib_progress progress,
                           void *progress_user);

/* The statistics seen by linear weight `which` of `layer` (layer -1 with
** QK_LINEAR_OUTPUT). QK_ERR_NOT_FOUND when nothing was accumulated. */
qk_status qk_calib_stats_get(const qk_calib_stats *stats, int32_t layer, qk_llama_linear which,
                             qk_calib_input *out);
/* The same, by llama.cpp tensor name ("blk.3.ffn_up.weight"). */
qk_status qk_calib_stats_get_by_name(const qk_calib_stats *stats, const char *tensor_name,
                                     qk_calib_input *out);
/* Importance weights for quantizing that weight: mean x^2 per column
** (sum_x2 / n_rows), as llama.cpp's imatrix; `out` has n_cols floats. */
qk_status qk_calib_stats_importance(const qk_calib_stats *stats, const char *tensor_name,
                                    float *out, int64_t n_cols);

/* Where the statistics came from, stored with them. */
typedef struct qk_calib_meta {
    const char *text_path;   /* calibration text, as given */
    const char *text_sha256; /* hex digest of its bytes, or NULL */
    qk_calib_sampling sampling;
    int32_t n_samples_used;
} qk_calib_meta;

/* Save as a GGUF file (keys quantkit.calib.*, one f64 tensor per
** statistic: "<input>.sum_x2", "<input>.sum_abs", "<input>.xtx" with
** <input> one of blk.N.attn_in, blk.N.attn_out_in, blk.N.ffn_in,
** blk.N.ffn_down_in, output_in). Written atomically. */
qk_status qk_calib_stats_save(const qk_calib_stats *stats, const qk_calib_meta *meta,
                              const char *path);
/* Load statistics saved by qk_calib_stats_save. */
qk_status qk_calib_stats_load(const char *path, qk_calib_stats **out);
/* Rows accumulated in total (tokens seen by each layer). */
int64_t qk_calib_stats_rows(const qk_calib_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_CALIBRATE_H */
