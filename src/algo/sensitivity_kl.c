/*
** End-to-end KL of one quantized tensor: the model with only that tensor
** replaced by its quantize-dequantize, against the model as loaded, on a
** few windows scored as llama-perplexity scores a chunk (positions
** len/2 .. len-2, each predicting the next token).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/sensitivity_internal.h"
#include "core/error.h"
#include "quantkit/metrics.h"

struct qk_sens_kl {
    qk_llama_model *model;
    qk_llama_context *ctx;
    const int32_t *tokens;
    int32_t n_chunks, chunk_len;
    int32_t first, n_scored; /* scored positions per chunk: first .. first + n_scored - 1 */
    int32_t n_vocab;
    float *ref;     /* [n_chunks * n_scored * n_vocab] reference logits */
    float *logits;  /* [chunk_len * n_vocab] */
    double *kl_pos; /* [n_scored] per-position KL of one chunk */
};

void qk_sens_kl_free(qk_sens_kl *kl) {
    if (!kl) return;
    qk_llama_context_free(kl->ctx);
    qk_llama_model_free(kl->model);
    free(kl->ref);
    free(kl->logits);
    free(kl->kl_pos);
    free(kl);
}

/* Run chunk c; its scored logits are at kl->logits + first * n_vocab. */
static qk_status run_chunk(qk_sens_kl *kl, int32_t c) {
    qk_llama_context_reset(kl->ctx);
    qk_status st = qk_llama_decode(kl->ctx, kl->tokens + (size_t)c * kl->chunk_len, kl->chunk_len,
                                   kl->logits, true);
    if (st != QK_OK) return qk_error_prefix("sensitivity: KL window %d", (int)c);
    return QK_OK;
}

qk_status qk_sens_kl_create(const char *model_path, const int32_t *tokens, int32_t n_chunks,
                            int32_t chunk_len, qk_sens_kl **out) {
    *out = NULL;
    if (!tokens || n_chunks <= 0 || chunk_len < 4)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "sensitivity: KL needs windows (%d windows of %d tokens given)",
                            (int)n_chunks, (int)chunk_len);
    qk_sens_kl *kl = calloc(1, sizeof *kl);
    if (!kl) return qk_error_set(QK_ERR_NOMEM, "sensitivity: no memory");
    kl->tokens = tokens;
    kl->n_chunks = n_chunks;
    kl->chunk_len = chunk_len;
    kl->first = chunk_len / 2;
    kl->n_scored = chunk_len - 1 - kl->first;
    qk_status st = qk_llama_model_load(model_path, &kl->model);
    if (st == QK_OK) st = qk_llama_context_create(kl->model, chunk_len, &kl->ctx);
    if (st != QK_OK) {
        qk_sens_kl_free(kl);
        return st;
    }
    kl->n_vocab = qk_llama_model_hparams(kl->model)->n_vocab;
    const size_t v = (size_t)kl->n_vocab;
    kl->ref = malloc((size_t)n_chunks * (size_t)kl->n_scored * v * sizeof *kl->ref);
    kl->logits = malloc((size_t)chunk_len * v * sizeof *kl->logits);
    kl->kl_pos = malloc((size_t)kl->n_scored * sizeof *kl->kl_pos);
    if (!kl->ref || !kl->logits || !kl->kl_pos) {
        qk_sens_kl_free(kl);
        return qk_error_set(QK_ERR_NOMEM, "sensitivity: no memory for %d x %d reference logits",
                            (int)n_chunks, (int)kl->n_scored);
    }
    for (int32_t c = 0; c < n_chunks; c++) {
        if ((st = run_chunk(kl, c)) != QK_OK) {
            qk_sens_kl_free(kl);
            return st;
        }
        memcpy(kl->ref + (size_t)c * kl->n_scored * v, kl->logits + (size_t)kl->first * v,
               (size_t)kl->n_scored * v * sizeof *kl->ref);
    }
    *out = kl;
    return QK_OK;
}

/* The model's current view of weight `name` (borrowed), or NULL. */
static const qk_tensor_view *model_view(const qk_llama_model *m, const char *name) {
    if (strcmp(name, "token_embd.weight") == 0) return qk_llama_model_token_embd(m);
    if (strcmp(name, "output.weight") == 0) return qk_llama_model_output(m);
    int layer = -1, consumed = 0;
    if (sscanf(name, "blk.%d.%n", &layer, &consumed) != 1 || consumed == 0 || layer < 0 ||
        layer >= qk_llama_model_hparams(m)->n_layer)
        return NULL;
    const qk_llama_layer_weights *lw = qk_llama_model_layer(m, layer);
    const char *s = name + consumed;
    const struct {
        const char *suffix;
        const qk_tensor_view *v;
    } map[] = {{"attn_q.weight", &lw->wq},       {"attn_k.weight", &lw->wk},
               {"attn_v.weight", &lw->wv},       {"attn_output.weight", &lw->wo},
               {"ffn_gate.weight", &lw->w_gate}, {"ffn_up.weight", &lw->w_up},
               {"ffn_down.weight", &lw->w_down}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i].suffix) == 0) return map[i].v;
    return NULL;
}

/* Mean KL over the scored positions of all chunks with the model as it is
** now: positions summed in order per chunk, chunks in order. */
static qk_status mean_kl(qk_sens_kl *kl, double *out) {
    const size_t v = (size_t)kl->n_vocab;
    double total = 0.0;
    for (int32_t c = 0; c < kl->n_chunks; c++) {
        qk_status st = run_chunk(kl, c);
        if (st != QK_OK) return st;
        const float *ref = kl->ref + (size_t)c * kl->n_scored * v;
        const float *q = kl->logits + (size_t)kl->first * v;
        int failed = 0;
#pragma omp parallel for schedule(static)
        for (int32_t p = 0; p < kl->n_scored; p++) {
            if (qk_kl_divergence_logits(ref + (size_t)p * v, q + (size_t)p * v, v,
                                        &kl->kl_pos[p]) != QK_OK) {
#pragma omp atomic write
                failed = 1;
            }
        }
        if (failed)
            return qk_error_set(QK_ERR_NONFINITE, "sensitivity: non-finite logits in KL window %d",
                                (int)c);
        for (int32_t p = 0; p < kl->n_scored; p++) total += kl->kl_pos[p];
    }
    *out = total / ((double)kl->n_chunks * (double)kl->n_scored);
    return QK_OK;
}

qk_status qk_sens_kl_measure(qk_sens_kl *kl, const char *name, const float *w, int64_t rows,
                             int64_t cols, double *out) {
    const qk_tensor_view *cur = model_view(kl->model, name);
    if (!cur)
        return qk_error_set(QK_ERR_NOT_FOUND, "sensitivity: the model has no weight '%s'", name);
    size_t bytes;
    qk_status st = qk_tensor_view_nbytes(cur, &bytes);
    if (st != QK_OK) return qk_error_prefix("sensitivity: '%s'", name);
    /* keep the original (the model frees it when replaced) */
    qk_tensor_view orig = *cur;
    orig.data = malloc(bytes ? bytes : 1);
    if (!orig.data) return qk_error_set(QK_ERR_NOMEM, "sensitivity: no memory for '%s'", name);
    memcpy(orig.data, cur->data, bytes);
    qk_tensor_view repl;
    const int64_t shape[2] = {rows, cols};
    st = qk_tensor_view_init(&repl, QK_TYPE_F32, 2, shape, (void *)w);
    if (st == QK_OK) st = qk_llama_model_set_tensor(kl->model, name, &repl);
    if (st == QK_OK) {
        st = mean_kl(kl, out);
        qk_status st2 = qk_llama_model_set_tensor(kl->model, name, &orig);
        if (st == QK_OK) st = st2;
    }
    free(orig.data);
    return st;
}
