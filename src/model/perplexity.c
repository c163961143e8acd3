/*
** Perplexity as llama.cpp's llama-perplexity computes it, plus KL
** divergence and top-1 agreement against a reference model's logits.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/llama_internal.h"
#include "quantkit/metrics.h"

/* log p(tok) from one row of logits, the normaliser summed in double. */
static double log_prob(const float *logits, int32_t n_vocab, int32_t tok) {
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - max);
    return (double)logits[tok] - max - log(sum);
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

typedef struct ppl_sums {
    double nll, nll2;
    double ref_nll;
    double kl, kl2;
    int64_t agree;
    int64_t count;
} ppl_sums;

static void fill_result(const ppl_sums *s, bool has_ref, qk_ppl_result *r) {
    const double n = (double)s->count;
    r->n_scored = s->count;
    r->nll_mean = s->count ? s->nll / n : 0.0;
    r->ppl = exp(r->nll_mean);
    double var = s->count > 1 ? s->nll2 / n - r->nll_mean * r->nll_mean : 0.0;
    r->ppl_stderr = var > 0 && s->count > 1 ? sqrt(var / (n - 1)) * r->ppl : 0.0;
    r->has_ref = has_ref;
    if (has_ref && s->count) {
        r->kl_mean = s->kl / n;
        double kvar = s->kl2 / n - r->kl_mean * r->kl_mean;
        r->kl_stderr = kvar > 0 && s->count > 1 ? sqrt(kvar / (n - 1)) : 0.0;
        r->top1_agree = (double)s->agree / n;
        r->ref_ppl = exp(s->ref_nll / n);
    }
}

qk_status qk_perplexity(qk_llama_context *ctx, qk_llama_context *ref, const int32_t *tokens,
                        int64_t n_tokens, int32_t n_ctx, int32_t n_chunks, int32_t bos,
                        qk_ppl_progress progress, void *progress_user, qk_ppl_result *out) {
    if (!ctx || !tokens || !out) return qk_error_set(QK_ERR_INVALID_ARG, "perplexity: NULL argument");
    memset(out, 0, sizeof *out);
    if (n_ctx < 4 || n_ctx > ctx->n_ctx)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "perplexity: chunk size %d must be in [4, %d] (the context size)", n_ctx,
                            ctx->n_ctx);
    if (ref && n_ctx > ref->n_ctx)
        return qk_error_set(QK_ERR_INVALID_ARG, "perplexity: reference context smaller than %d", n_ctx);
    const int32_t n_vocab = ctx->model->hp.n_vocab;
    if (ref && ref->model->hp.n_vocab != n_vocab)
        return qk_error_set(QK_ERR_SHAPE, "perplexity: reference vocabulary %d != %d",
                            ref->model->hp.n_vocab, n_vocab);
    /* llama-perplexity refuses fewer than two chunks' worth of tokens */
    if (n_tokens < 2 * (int64_t)n_ctx)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "perplexity: %lld tokens; at least %d are needed for a context of %d",
                            (long long)n_tokens, 2 * n_ctx, n_ctx);
    int64_t max_chunks = n_tokens / n_ctx;
    int32_t chunks = (n_chunks <= 0 || n_chunks > max_chunks) ? (int32_t)max_chunks : n_chunks;
    const int32_t first = n_ctx / 2;

    int32_t *chunk = malloc((size_t)n_ctx * sizeof *chunk);
    float *logits = malloc((size_t)n_ctx * n_vocab * sizeof *logits);
    float *ref_logits = ref ? malloc((size_t)n_ctx * n_vocab * sizeof *ref_logits) : NULL;
    if (!chunk || !logits || (ref && !ref_logits)) {
        free(chunk);
        free(logits);
        free(ref_logits);
        return qk_error_set(QK_ERR_NOMEM, "perplexity: no memory for %d x %d logits", n_ctx, n_vocab);
    }
    ppl_sums sums = {0};
    qk_status st = QK_OK;
    double model_seconds = 0.0;
    const double t_start = qk_time_seconds();
    for (int32_t ci = 0; ci < chunks && st == QK_OK; ci++) {
        memcpy(chunk, tokens + (size_t)ci * n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (bos >= 0) chunk[0] = bos;
        qk_llama_context_reset(ctx);
        const double t0 = qk_time_seconds();
        st = qk_llama_decode(ctx, chunk, n_ctx, logits, true);
        model_seconds += qk_time_seconds() - t0;
        if (st != QK_OK) break;
        if (ref) {
            qk_llama_context_reset(ref);
            st = qk_llama_decode(ref, chunk, n_ctx, ref_logits, true);
            if (st != QK_OK) {
                qk_error_prefix("reference model");
                break;
            }
        }
        /* score positions first .. n_ctx-2, each predicting the next token */
        for (int32_t j = first; j < n_ctx - 1; j++) {
            const float *row = logits + (size_t)j * n_vocab;
            const int32_t next = chunk[j + 1];
            const double lp = log_prob(row, n_vocab, next);
            sums.nll -= lp;
            sums.nll2 += lp * lp;
            sums.count++;
            if (ref) {
                const float *rrow = ref_logits + (size_t)j * n_vocab;
                double kl;
                st = qk_kl_divergence_logits(rrow, row, (size_t)n_vocab, &kl);
                if (st != QK_OK) {
                    qk_error_prefix("chunk %d position %d", ci, j);
                    break;
                }
                sums.kl += kl;
                sums.kl2 += kl * kl;
                sums.ref_nll -= log_prob(rrow, n_vocab, next);
                sums.agree += argmax(rrow, n_vocab) == argmax(row, n_vocab);
            }
        }
        out->n_chunks = ci + 1;
        if (progress) {
            fill_result(&sums, ref != NULL, out);
            progress(progress_user, ci + 1, chunks, out);
        }
    }
    free(chunk);
    free(logits);
    free(ref_logits);
    if (st != QK_OK) return st;
    fill_result(&sums, ref != NULL, out);
    out->n_chunks = chunks;
    out->seconds = qk_time_seconds() - t_start;
    out->tokens_per_second = model_seconds > 0 ? (double)chunks * n_ctx / model_seconds : 0.0;
    return QK_OK;
}
