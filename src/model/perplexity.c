/*
** Perplexity as llama.cpp's llama-perplexity computes it, plus KL
** divergence and top-1 agreement against a reference model's logits.
*/
#include <math.h>
#include <stdio.h>
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

/* One evaluator: a context of the model (and of the reference) with its
** buffers. Thread 0 uses the caller's contexts. */
typedef struct worker {
    qk_llama_context *ctx, *ref;
    bool own_ctx, own_ref;
    int32_t *chunk;
    float *logits, *ref_logits;
} worker;

static qk_status worker_init(worker *w, qk_llama_context *ctx, qk_llama_context *ref,
                             const qk_llama_model *model, const qk_llama_model *ref_model,
                             int32_t n_ctx, int32_t n_vocab) {
    memset(w, 0, sizeof *w);
    qk_status st = QK_OK;
    w->ctx = ctx;
    w->ref = ref;
    if (!ctx) {
        st = qk_llama_context_create(model, n_ctx, &w->ctx);
        w->own_ctx = st == QK_OK;
    }
    if (st == QK_OK && ref_model && !ref) {
        st = qk_llama_context_create(ref_model, n_ctx, &w->ref);
        w->own_ref = st == QK_OK;
    }
    if (st != QK_OK) return st;
    w->chunk = malloc((size_t)n_ctx * sizeof *w->chunk);
    w->logits = malloc((size_t)n_ctx * n_vocab * sizeof *w->logits);
    w->ref_logits = ref_model ? malloc((size_t)n_ctx * n_vocab * sizeof *w->ref_logits) : NULL;
    if (!w->chunk || !w->logits || (ref_model && !w->ref_logits))
        return qk_error_set(QK_ERR_NOMEM, "perplexity: no memory for %d x %d logits", n_ctx,
                            n_vocab);
    return QK_OK;
}

static void worker_free(worker *w) {
    if (w->own_ctx) qk_llama_context_free(w->ctx);
    if (w->own_ref) qk_llama_context_free(w->ref);
    free(w->chunk);
    free(w->logits);
    free(w->ref_logits);
}

static void add_sums(ppl_sums *a, const ppl_sums *b) {
    a->nll += b->nll;
    a->nll2 += b->nll2;
    a->ref_nll += b->ref_nll;
    a->kl += b->kl;
    a->kl2 += b->kl2;
    a->agree += b->agree;
    a->count += b->count;
}

/* Evaluate one chunk (its first token replaced by BOS when bos >= 0) and
** score positions n_ctx/2 .. n_ctx-2, each predicting the next token. */
static qk_status score_chunk(worker *w, const int32_t *tokens, int32_t n_ctx, int32_t n_vocab,
                             int32_t bos, ppl_sums *out) {
    memset(out, 0, sizeof *out);
    memcpy(w->chunk, tokens, (size_t)n_ctx * sizeof *w->chunk);
    if (bos >= 0) w->chunk[0] = bos;
    qk_llama_context_reset(w->ctx);
    qk_status st = qk_llama_decode(w->ctx, w->chunk, n_ctx, w->logits, true);
    if (st != QK_OK) return st;
    if (w->ref) {
        qk_llama_context_reset(w->ref);
        st = qk_llama_decode(w->ref, w->chunk, n_ctx, w->ref_logits, true);
        if (st != QK_OK) return qk_error_prefix("reference model");
    }
    for (int32_t j = n_ctx / 2; j < n_ctx - 1; j++) {
        const float *row = w->logits + (size_t)j * n_vocab;
        const int32_t next = w->chunk[j + 1];
        const double lp = log_prob(row, n_vocab, next);
        out->nll -= lp;
        out->nll2 += lp * lp;
        out->count++;
        if (w->ref) {
            const float *rrow = w->ref_logits + (size_t)j * n_vocab;
            double kl;
            st = qk_kl_divergence_logits(rrow, row, (size_t)n_vocab, &kl);
            if (st != QK_OK) return qk_error_prefix("position %d", j);
            out->kl += kl;
            out->kl2 += kl * kl;
            out->ref_nll -= log_prob(rrow, n_vocab, next);
            out->agree += argmax(rrow, n_vocab) == argmax(row, n_vocab);
        }
    }
    return QK_OK;
}

qk_status qk_perplexity(qk_llama_context *ctx, qk_llama_context *ref, const int32_t *tokens,
                        int64_t n_tokens, int32_t n_ctx, int32_t n_chunks, int32_t bos,
                        qk_ppl_progress progress, void *progress_user, qk_ppl_result *out) {
    if (!ctx || !tokens || !out)
        return qk_error_set(QK_ERR_INVALID_ARG, "perplexity: NULL argument");
    memset(out, 0, sizeof *out);
    if (n_ctx < 4 || n_ctx > ctx->n_ctx)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "perplexity: chunk size %d must be in [4, %d] (the context size)",
                            n_ctx, ctx->n_ctx);
    if (ref && n_ctx > ref->n_ctx)
        return qk_error_set(QK_ERR_INVALID_ARG, "perplexity: reference context smaller than %d",
                            n_ctx);
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

    /* Chunks are independent: each thread evaluates whole chunks with its own
    ** context (the given one serves thread 0) and the per-chunk sums are added
    ** in chunk order, so the result does not depend on the thread count. Inside
    ** a chunk the kernels then run single-threaded (OpenMP does not nest). */
    int n_par = qk_threads_get();
    if (n_par > chunks) n_par = chunks;
    if (n_par < 1) n_par = 1;
    worker *w = calloc((size_t)n_par, sizeof *w);
    ppl_sums *per_chunk = calloc((size_t)n_par, sizeof *per_chunk);
    qk_status st = w && per_chunk ? QK_OK : qk_error_set(QK_ERR_NOMEM, "perplexity: no memory");
    for (int k = 0; k < n_par && st == QK_OK; k++) {
        st = worker_init(&w[k], k == 0 ? ctx : NULL, k == 0 ? ref : NULL, ctx->model,
                         ref ? ref->model : NULL, n_ctx, n_vocab);
    }
    ppl_sums sums = {0};
    double busy_seconds = 0.0;
    const double t_start = qk_time_seconds();
    for (int32_t base = 0; base < chunks && st == QK_OK; base += n_par) {
        qk_status round_status = QK_OK;
        char round_message[768] = "";
        const double t0 = qk_time_seconds();
#pragma omp parallel for num_threads(n_par) schedule(static, 1)
        for (int k = 0; k < n_par; k++) {
            const int32_t ci = base + k;
            if (ci >= chunks) continue;
            qk_status s =
                score_chunk(&w[k], tokens + (size_t)ci * n_ctx, n_ctx, n_vocab, bos, &per_chunk[k]);
            if (s != QK_OK) {
#pragma omp critical(qk_ppl_status)
                if (round_status == QK_OK) {
                    /* the message is thread-local: keep it for the caller's thread */
                    snprintf(round_message, sizeof round_message, "chunk %d: %s", ci,
                             qk_last_error());
                    round_status = s;
                }
            }
        }
        busy_seconds += qk_time_seconds() - t0;
        st = round_status;
        if (st != QK_OK) qk_error_set(st, "%s", round_message);
        for (int k = 0; k < n_par && st == QK_OK && base + k < chunks; k++) {
            add_sums(&sums, &per_chunk[k]);
            out->n_chunks = base + k + 1;
            if (progress) {
                fill_result(&sums, ref != NULL, out);
                progress(progress_user, base + k + 1, chunks, out);
            }
        }
    }
    for (int k = 0; w && k < n_par; k++) worker_free(&w[k]);
    free(w);
    free(per_chunk);
    if (st != QK_OK) return st;
    fill_result(&sums, ref != NULL, out);
    out->n_chunks = chunks;
    out->seconds = qk_time_seconds() - t_start;
    /* tokens evaluated by the model (and the reference, when given) per second */
    out->tokens_per_second = busy_seconds > 0 ? (double)chunks * n_ctx / busy_seconds : 0.0;
    return QK_OK;
}
