/*
** Calibration statistics: sampling windows from a token stream, running
** the model over them, and accumulating per-input statistics of every
** linear layer (count, sum x^2, sum |x|, optional X^T X) in double.
*/
#include <cblas.h> /* cblas_ssyrk */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/calibrate_internal.h"
#include "quantkit/gguf.h"
#include "quantkit/kernels.h"

/* The inputs of one decoder layer, plus the output projection's. */
enum { IN_ATTN = 0, IN_ATTN_OUT, IN_FFN, IN_FFN_DOWN, IN_PER_LAYER };

typedef struct input_stats {
    int64_t n_cols;
    int64_t n_rows;
    double *sum_x2;
    double *sum_abs;
    double *max_abs; /* max |x| per column (SmoothQuant) */
    bool has_max;    /* false after loading a file without it */
    double *xtx;     /* NULL unless kept */
} input_stats;

struct qk_calib_stats {
    qk_llama_hparams hp;
    bool with_xtx;
    input_stats *inputs; /* n_layer * IN_PER_LAYER + 1 (output) */
    size_t n_inputs;
    float *syrk_buf; /* scratch for X^T X of one batch */
    size_t syrk_cap;
    qk_status deferred; /* an error inside the hook, reported by collect */
};

/* ---- sampling ---------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

qk_status qk_calib_sample(const int32_t *tokens, int64_t n_tokens, const qk_calib_sampling *s,
                          int32_t *out, int32_t *out_n_samples) {
    if (!tokens || !s || !out_n_samples)
        return qk_error_set(QK_ERR_INVALID_ARG, "calibration sampling: NULL argument");
    if (s->sample_len <= 0 || s->n_samples < 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "calibration sampling: %d samples of %d tokens",
                            s->n_samples, s->sample_len);
    if (n_tokens < s->sample_len)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "calibration text has %lld tokens, fewer than one sample of %d",
                            (long long)n_tokens, s->sample_len);
    int64_t n = s->n_samples;
    if (n == 0) n = n_tokens / s->sample_len;
    if (n > INT32_MAX) n = INT32_MAX;
    *out_n_samples = (int32_t)n;
    if (!out) return QK_OK;
    const uint64_t n_starts = (uint64_t)(n_tokens - s->sample_len) + 1;
    uint64_t state = s->seed;
    for (int64_t i = 0; i < n; i++) {
        int64_t start;
        if (s->n_samples == 0) {
            start = i * s->sample_len;
        } else {
            /* multiply-shift maps 64 random bits onto [0, n_starts) */
            start = (int64_t)(((unsigned __int128)splitmix64(&state) * n_starts) >> 64);
        }
        int32_t *w = out + (size_t)i * s->sample_len;
        memcpy(w, tokens + start, (size_t)s->sample_len * sizeof *w);
        if (s->bos >= 0) w[0] = s->bos;
    }
    return QK_OK;
}

/* ---- statistics object -------------------------------------------------- */

static int64_t input_cols(const qk_llama_hparams *hp, int kind) {
    switch (kind) {
    case IN_ATTN_OUT:
        return (int64_t)hp->n_head * hp->head_dim;
    case IN_FFN_DOWN:
        return hp->n_ff;
    default:
        return hp->n_embd;
    }
}

void qk_calib_stats_free(qk_calib_stats *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_inputs; i++) {
        free(st->inputs[i].sum_x2);
        free(st->inputs[i].sum_abs);
        free(st->inputs[i].max_abs);
        free(st->inputs[i].xtx);
    }
    free(st->inputs);
    free(st->syrk_buf);
    free(st);
}

qk_status qk_calib_stats_create(const qk_llama_hparams *hp, bool with_xtx, qk_calib_stats **out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "calibration stats: NULL output");
    *out = NULL;
    qk_status status = qk_llama_hparams_validate(hp);
    if (status != QK_OK) return status;
    qk_calib_stats *st = calloc(1, sizeof *st);
    if (!st) return qk_error_set(QK_ERR_NOMEM, "calibration stats: no memory");
    st->hp = *hp;
    st->with_xtx = with_xtx;
    st->n_inputs = (size_t)hp->n_layer * IN_PER_LAYER + 1;
    st->inputs = calloc(st->n_inputs, sizeof *st->inputs);
    bool ok = st->inputs != NULL;
    for (size_t i = 0; ok && i < st->n_inputs; i++) {
        input_stats *in = &st->inputs[i];
        in->n_cols = i + 1 == st->n_inputs ? hp->n_embd : input_cols(hp, (int)(i % IN_PER_LAYER));
        in->sum_x2 = calloc((size_t)in->n_cols, sizeof(double));
        in->sum_abs = calloc((size_t)in->n_cols, sizeof(double));
        in->max_abs = calloc((size_t)in->n_cols, sizeof(double));
        in->has_max = true;
        ok = in->sum_x2 && in->sum_abs && in->max_abs;
        if (ok && with_xtx) {
            in->xtx = calloc((size_t)in->n_cols * (size_t)in->n_cols, sizeof(double));
            ok = in->xtx != NULL;
        }
    }
    if (!ok) {
        qk_calib_stats_free(st);
        return qk_error_set(QK_ERR_NOMEM, "calibration stats: no memory%s",
                            with_xtx ? " (X^T X for every input needs n_cols^2 doubles each)" : "");
    }
    *out = st;
    return QK_OK;
}

/* Index of the input read by a linear weight, or -1. */
static long input_index(const qk_calib_stats *st, int32_t layer, qk_llama_linear which) {
    if (which == QK_LINEAR_OUTPUT) return (long)st->n_inputs - 1;
    if (layer < 0 || layer >= st->hp.n_layer) return -1;
    int kind;
    switch (which) {
    case QK_LINEAR_Q:
    case QK_LINEAR_K:
    case QK_LINEAR_V:
        kind = IN_ATTN;
        break;
    case QK_LINEAR_O:
        kind = IN_ATTN_OUT;
        break;
    case QK_LINEAR_GATE:
    case QK_LINEAR_UP:
        kind = IN_FFN;
        break;
    case QK_LINEAR_DOWN:
        kind = IN_FFN_DOWN;
        break;
    default:
        return -1;
    }
    return (long)layer * IN_PER_LAYER + kind;
}

static void accumulate(qk_calib_stats *st, input_stats *in, const float *x, int64_t n_rows) {
    const int64_t n = in->n_cols;
    for (int64_t r = 0; r < n_rows; r++) {
        const float *row = x + (size_t)r * n;
        for (int64_t j = 0; j < n; j++) {
            const double v = row[j], a = fabs(v);
            in->sum_x2[j] += v * v;
            in->sum_abs[j] += a;
            if (a > in->max_abs[j]) in->max_abs[j] = a;
        }
    }
    in->n_rows += n_rows;
    if (!in->xtx) return;
    /* X^T X of this batch in f32 (BLAS), added into the double total */
    const size_t need = (size_t)n * (size_t)n;
    if (st->syrk_cap < need) {
        float *p = realloc(st->syrk_buf, need * sizeof *p);
        if (!p) {
            st->deferred = qk_error_set(QK_ERR_NOMEM, "calibration: no memory for X^T X scratch");
            return;
        }
        st->syrk_buf = p;
        st->syrk_cap = need;
    }
    qk_blas_single_thread();
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)n_rows, 1.0f, x, (int)n, 0.0f,
                st->syrk_buf, (int)n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            const double v = st->syrk_buf[(size_t)i * n + j];
            in->xtx[(size_t)i * n + j] += v;
            if (j != i) in->xtx[(size_t)j * n + i] += v;
        }
}

void qk_calib_stats_hook(void *user, int32_t layer, qk_llama_linear which, const float *x,
                         int64_t n_rows, int64_t n_cols) {
    qk_calib_stats *st = user;
    /* q/k/v and gate/up share an input: count it once, at q and gate */
    if (which == QK_LINEAR_K || which == QK_LINEAR_V || which == QK_LINEAR_UP) return;
    long idx = input_index(st, layer, which);
    if (idx < 0 || st->inputs[idx].n_cols != n_cols) {
        st->deferred =
            qk_error_set(QK_ERR_SHAPE, "calibration: unexpected input to layer %d linear %d",
                         (int)layer, (int)which);
        return;
    }
    accumulate(st, &st->inputs[idx], x, n_rows);
}

qk_status qk_calib_collect(const qk_llama_model *model, const int32_t *windows, int32_t n_samples,
                           int32_t sample_len, qk_calib_stats *stats, qk_calib_progress progress,
                           void *progress_user) {
    if (!model || !windows || !stats)
        return qk_error_set(QK_ERR_INVALID_ARG, "calibration: NULL argument");
    const qk_llama_hparams *hp = qk_llama_model_hparams(model);
    if (hp->n_embd != stats->hp.n_embd || hp->n_layer != stats->hp.n_layer ||
        hp->n_ff != stats->hp.n_ff)
        return qk_error_set(QK_ERR_SHAPE, "calibration: statistics made for another model shape");
    qk_llama_context *ctx;
    qk_status st = qk_llama_context_create(model, sample_len, &ctx);
    if (st != QK_OK) return st;
    /* logits are needed so the output projection's input is seen; all
    ** positions, as every position contributes to perplexity */
    float *logits = malloc((size_t)sample_len * hp->n_vocab * sizeof *logits);
    if (!logits) {
        qk_llama_context_free(ctx);
        return qk_error_set(QK_ERR_NOMEM, "calibration: no memory for logits");
    }
    qk_llama_context_set_hook(ctx, qk_calib_stats_hook, stats);
    stats->deferred = QK_OK;
    for (int32_t i = 0; i < n_samples && st == QK_OK; i++) {
        qk_llama_context_reset(ctx);
        st = qk_llama_decode(ctx, windows + (size_t)i * sample_len, sample_len, logits, true);
        if (st == QK_OK && stats->deferred != QK_OK) st = stats->deferred;
        if (st != QK_OK) qk_error_prefix("calibration window %d", (int)i);
        if (progress && st == QK_OK) progress(progress_user, i + 1, n_samples);
    }
    free(logits);
    qk_llama_context_free(ctx);
    return st;
}

/* ---- access ------------------------------------------------------------- */

static void fill_input(const input_stats *in, qk_calib_input *out) {
    out->n_cols = in->n_cols;
    out->n_rows = in->n_rows;
    out->sum_x2 = in->sum_x2;
    out->sum_abs = in->sum_abs;
    out->max_abs = in->has_max ? in->max_abs : NULL;
    out->xtx = in->xtx;
}

qk_status qk_calib_stats_get(const qk_calib_stats *st, int32_t layer, qk_llama_linear which,
                             qk_calib_input *out) {
    if (!st || !out) return qk_error_set(QK_ERR_INVALID_ARG, "calibration stats: NULL argument");
    long idx = input_index(st, layer, which);
    if (idx < 0)
        return qk_error_set(QK_ERR_NOT_FOUND, "calibration stats: no input for layer %d linear %d",
                            (int)layer, (int)which);
    if (st->inputs[idx].n_rows == 0)
        return qk_error_set(QK_ERR_NOT_FOUND, "calibration stats: layer %d linear %d saw no rows",
                            (int)layer, (int)which);
    fill_input(&st->inputs[idx], out);
    return QK_OK;
}

/* Parse a llama.cpp linear weight name into (layer, which). */
static bool parse_linear_name(const char *name, int32_t *layer, qk_llama_linear *which) {
    if (strcmp(name, "output.weight") == 0) {
        *layer = -1;
        *which = QK_LINEAR_OUTPUT;
        return true;
    }
    int l = -1, consumed = 0;
    if (sscanf(name, "blk.%d.%n", &l, &consumed) != 1 || consumed == 0) return false;
    char buf[64];
    for (int w = 0; w < QK_LINEAR_OUTPUT; w++) {
        qk_llama_linear_name(l, (qk_llama_linear)w, buf, sizeof buf);
        if (strcmp(buf, name) == 0) {
            *layer = l;
            *which = (qk_llama_linear)w;
            return true;
        }
    }
    return false;
}

qk_status qk_calib_stats_get_by_name(const qk_calib_stats *st, const char *name,
                                     qk_calib_input *out) {
    int32_t layer;
    qk_llama_linear which;
    if (!name || !parse_linear_name(name, &layer, &which))
        return qk_error_set(QK_ERR_NOT_FOUND, "calibration stats: '%s' is not a linear weight",
                            name ? name : "(null)");
    return qk_calib_stats_get(st, layer, which, out);
}

qk_status qk_calib_stats_importance(const qk_calib_stats *st, const char *name, float *out,
                                    int64_t n_cols) {
    qk_calib_input in;
    qk_status s = qk_calib_stats_get_by_name(st, name, &in);
    if (s != QK_OK) return s;
    if (in.n_cols != n_cols)
        return qk_error_set(QK_ERR_SHAPE,
                            "calibration stats: '%s' has %lld columns, asked for %lld", name,
                            (long long)in.n_cols, (long long)n_cols);
    for (int64_t j = 0; j < n_cols; j++) out[j] = (float)(in.sum_x2[j] / (double)in.n_rows);
    return QK_OK;
}

int64_t qk_calib_stats_rows(const qk_calib_stats *st) {
    return st->inputs[0].n_rows;
}

const qk_llama_hparams *qk_calib_stats_hparams(const qk_calib_stats *st) {
    return &st->hp;
}

qk_status qk_calib_stats_fill(qk_calib_stats *st, int64_t index, int64_t n_rows, const void *sum_x2,
                              const void *sum_abs, const void *xtx) {
    if (index < 0 || (size_t)index >= st->n_inputs || n_rows < 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "calibration stats: input %lld / rows %lld",
                            (long long)index, (long long)n_rows);
    input_stats *in = &st->inputs[index];
    const size_t n = (size_t)in->n_cols;
    in->n_rows = n_rows;
    memcpy(in->sum_x2, sum_x2, n * sizeof(double));
    memcpy(in->sum_abs, sum_abs, n * sizeof(double));
    in->has_max = false; /* not stored in statistics files */
    if (xtx && in->xtx) memcpy(in->xtx, xtx, n * n * sizeof(double));
    return QK_OK;
}
