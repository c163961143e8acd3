/*
** Internal to the calibrated pipeline (src/algo/calibrated_pipeline.c,
** ptq_linear.c, ptq_output.c).
*/
#ifndef QK_ALGO_PTQ_INTERNAL_H
#define QK_ALGO_PTQ_INTERNAL_H

#include "quantkit/io.h"
#include "quantkit/ptq.h"

typedef struct qk_ptq_state {
    const char *path;
    const qk_ptq_options *opt;
    qk_ptq_result *result;
    qk_model_source *src;
    qk_llama_hparams hp;
    int32_t n_samples, sample_len;
    float *x;                /* hidden states of every window [n_samples * sample_len, n_embd] */
    float *scratch;          /* one window */
    float *xf;               /* fp_target: the f32 model's hidden states, as x */
    qk_quantize_report plan; /* GGUF target: the type of every tensor */
} qk_ptq_state;

void qk_ptq_awq_defaults(qk_awq_options *o);
/* Names, shapes and (GGUF target) planned types of every layer linear. */
qk_status qk_ptq_result_init(qk_ptq_state *s);
void qk_ptq_state_free(qk_ptq_state *s);
/* Quantize one linear: w [rows, cols] f32 is replaced by its dequantized
** values; h is its input's Hessian (NULL: round to nearest). */
qk_status qk_ptq_quantize_linear(qk_ptq_state *s, qk_ptq_linear *lin, float *w, const double *h);
/* AWQ on layer l's f32 weights, in place; the replaced norms are recorded. */
qk_status qk_ptq_awq_layer(qk_ptq_state *s, int32_t l, qk_llama_layer_weights *lw);

/* Full-precision targets (ptq_fp_target.c, opt->fp_target). Add the window's
** (x_fp - x_q)^T x_q to cross [n_cols^2] (x_fp, x_q [n_rows, n_cols]; x_fp is
** overwritten with the difference; tmp: n_cols^2 floats of scratch). */
void qk_ptq_cross_add(double *cross, float *x_fp, const float *x_q, int64_t n_rows, int64_t n_cols,
                      float *tmp);
/* Replace w [rows, cols] by W + W D (H + damp)^-1, D = 2 / n_tokens * cross,
** h GPTQ's Hessian of the quantized inputs (2/n sum x x^T). */
qk_status qk_ptq_fp_target(float *w, int64_t rows, int64_t cols, const double *h,
                           const double *cross, int64_t n_tokens, double damp);

#endif
