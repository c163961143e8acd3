/*
** quantkit quantize --budget SIZE | --max-kl X: mixed precision by
** sensitivity (quantkit/sensitivity.h, quantkit/mixed.h). Collects the
** calibration statistics (--calib), measures every quantized tensor in
** every candidate format, allocates one format per tensor and fills the
** quantize options with the explicit types and the size limit.
*/
#ifndef QK_QUANTIZE_MIXED_H
#define QK_QUANTIZE_MIXED_H

#include "cli.h"

typedef struct quantize_mixed_args {
    const char *in_path, *output, *tokenizer_path;
    const char *budget;     /* "4.5MB", "4331456", "4.8bpw"; NULL: use max_kl */
    double max_kl;          /* NaN: none */
    const char *calib_path; /* NULL: no statistics unless stats given */
    int64_t samples, len, seed;
    const char *formats; /* "q2_k,q3_k,..." or NULL */
    const char *proxy;   /* imatrix, hawq, output */
    const char *kl_mode; /* none, calibrate, all (default calibrate with --calib) */
    int64_t kl_chunks;
    bool quiet; /* --json: no table */
} quantize_mixed_args;

/* Calibration windows drawn from a text and the statistics collected on
** them (with X^T X), as `quantize --calib` and a replayed config use them. */
typedef struct quantize_calib {
    qk_calib_stats *stats;
    char sha256[65]; /* of the text */
    int32_t *windows;
    int32_t n_windows, sample_len;
    int64_t *counts; /* token frequencies [n_vocab] */
    int32_t n_vocab;
} quantize_calib;

/* len <= 0: min(512, the model's context). Returns 0 or the exit code
** after printing the error. */
int quantize_calibrate(const char *in_path, const char *tokenizer_path, const char *calib_path,
                       int64_t samples, int64_t len, uint64_t seed, bool quiet,
                       quantize_calib *out);
void quantize_calib_free(quantize_calib *c);

/* What the allocation produced; owned here, released by _free. */
typedef struct quantize_mixed_state {
    quantize_calib calib; /* from --calib (its statistics are also the importance) */
    qk_sensitivity sens;
    qk_mixed_result result;
    qk_tensor_type *types;
    size_t n_types;
    uint64_t budget_bytes; /* 0 with --max-kl */
} quantize_mixed_state;

/* Parse "1234", "4.5MB", "3MiB" (cli_parse_size) or "4.8bpw" (bits per
** weight of the whole file over n_weights). */
bool quantize_parse_budget(const char *text, uint64_t n_weights, uint64_t *out);

/* Run it: on success opt->tensor_types / max_output_bytes / importance point
** into `state` (keep it alive while opt is used). Returns 0 or the exit
** code after printing the error. */
int quantize_mixed_prepare(const quantize_mixed_args *a, qk_quantize_options *opt,
                           quantize_mixed_state *state);
/* The allocation as a table (text) or JSON value. */
void quantize_mixed_print(const quantize_mixed_state *state);
void *quantize_mixed_json(const quantize_mixed_state *state);
void quantize_mixed_free(quantize_mixed_state *state);

#endif
