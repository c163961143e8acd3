/*
** Internal: end-to-end KL measurement for the sensitivity analysis. The
** model is loaded once; the reference logits of the scored positions are
** kept; then one tensor at a time is swapped for its quantize-dequantize,
** the windows are run again, and the original is put back.
*/
#ifndef QK_ALGO_SENSITIVITY_INTERNAL_H
#define QK_ALGO_SENSITIVITY_INTERNAL_H

#include "quantkit/model.h"
#include "quantkit/sensitivity.h"

typedef struct qk_sens_kl qk_sens_kl;

/* Load the model at model_path and compute the reference logits of the
** scored positions (the second half of each window, as llama-perplexity). */
qk_status qk_sens_kl_create(const char *model_path, const int32_t *tokens, int32_t n_chunks,
                            int32_t chunk_len, qk_sens_kl **out);
void qk_sens_kl_free(qk_sens_kl *kl);

/* Mean KL(reference || model with tensor `name` replaced by w [rows, cols]
** f32) over the scored positions; the model is restored afterwards. */
qk_status qk_sens_kl_measure(qk_sens_kl *kl, const char *name, const float *w, int64_t rows,
                             int64_t cols, double *out);

#endif
