/*
** AWQ, activation-aware weight quantization (Lin et al. 2023; constants of
** llm-awq's auto_scale.py and AutoAWQ's quantizer.py): per decoder layer,
** search per-input-channel scales s = f(mean |x|)^r that minimise the
** output error of the quantized sub-block, fold them into the preceding
** norm or linear (the float function is unchanged), then search per-group
** clipping ranges (awq_clip.c). The weights are left in f32, scaled and
** clipped, for the caller to quantize (round-to-nearest or GPTQ).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/awq_internal.h"
#include "core/error.h"
#include "quantkit/kernels.h"

void qk_awq_options_default(qk_awq_options *o) {
    memset(o, 0, sizeof *o);
    o->group_size = 128;
    o->n_grid = 20;
    o->duo_scaling = true;
    o->scale_vo_gqa = true;
    o->keep_identity = true;
    o->clip = true;
    o->clip_max_shrink = 0.5f;
    o->clip_n_grid = 20;
    o->clip_n_tokens = 512;
    o->search_n_seq = 0;
}

/* ---- statistics and scales ---------------------------------------------- */

void qk_awq_x_mean(const float *x, int64_t n_rows, int64_t n_cols, float *out) {
#pragma omp parallel for schedule(static) if (n_rows * n_cols > (1 << 20))
    for (int64_t c = 0; c < n_cols; c++) {
        double sum = 0.0;
        for (int64_t r = 0; r < n_rows; r++) sum += fabs((double)x[(size_t)r * n_cols + c]);
        out[c] = n_rows > 0 ? (float)(sum / (double)n_rows) : 0.0f;
    }
}

qk_status qk_awq_w_mean(const float *const *w, const int64_t *rows, int n_mats, int64_t cols,
                        int32_t group_size, float *out) {
    double *acc = calloc((size_t)cols, sizeof *acc);
    if (!acc) return qk_error_set(QK_ERR_NOMEM, "awq: no memory for weight means");
    const int64_t g = group_size > 0 && group_size < cols ? group_size : cols;
    int64_t total = 0;
    for (int m = 0; m < n_mats; m++) {
        for (int64_t r = 0; r < rows[m]; r++) {
            const float *row = w[m] + (size_t)r * (size_t)cols;
            for (int64_t c0 = 0; c0 < cols; c0 += g) {
                const int64_t n = cols - c0 < g ? cols - c0 : g;
                float amax = 0.0f;
                for (int64_t c = 0; c < n; c++) amax = fmaxf(amax, fabsf(row[c0 + c]));
                const float denom = amax + 1e-6f;
                for (int64_t c = 0; c < n; c++) acc[c0 + c] += fabsf(row[c0 + c]) / denom;
            }
        }
        total += rows[m];
    }
    for (int64_t c = 0; c < cols; c++) out[c] = total > 0 ? (float)(acc[c] / (double)total) : 0.0f;
    free(acc);
    return QK_OK;
}

void qk_awq_scales(const float *x_mean, const float *w_mean, int64_t n, float ratio, bool duo,
                   float *s) {
    float mx = 0.0f, mn = INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float v = powf(x_mean[i], ratio);
        if (duo) v = v / (powf(w_mean[i], 1.0f - ratio) + 1e-4f);
        v = v < 1e-4f ? 1e-4f : v; /* also turns a NaN into 1e-4 */
        s[i] = v;
        mx = fmaxf(mx, v);
        mn = fminf(mn, v);
    }
    const float norm = sqrtf(mx * mn);
    for (int64_t i = 0; i < n; i++) s[i] = s[i] / norm;
}

/* ---- the layer ---------------------------------------------------------- */

/* Captured linear inputs. */
enum { IN_ATTN = 0, IN_ATTN_OUT, IN_FFN, IN_DOWN, IN_COUNT };

typedef struct group_def {
    qk_llama_linear lin[3];
    int n_lin;
    int input;
    int block; /* qk_llama_block, or -1: the output of the one linear */
} group_def;

static const group_def GROUPS[QK_AWQ_GROUP_COUNT] = {
    [QK_AWQ_QKV] = {{QK_LINEAR_Q, QK_LINEAR_K, QK_LINEAR_V}, 3, IN_ATTN, QK_LLAMA_BLOCK_ATTN},
    [QK_AWQ_O] = {{QK_LINEAR_O}, 1, IN_ATTN_OUT, -1},
    [QK_AWQ_GATE_UP] = {{QK_LINEAR_GATE, QK_LINEAR_UP}, 2, IN_FFN, QK_LLAMA_BLOCK_MLP},
    [QK_AWQ_DOWN] = {{QK_LINEAR_DOWN}, 1, IN_DOWN, -1},
};

typedef struct awq_state {
    const qk_llama_hparams *hp;
    int32_t layer;
    qk_llama_layer_weights *lw;
    const qk_awq_options *opt;
    int32_t n_seq, seq_len; /* the searched sequences */
    int64_t N;              /* their tokens */
    float *in[IN_COUNT];
    int64_t in_cols[IN_COUNT];
    int64_t fill[IN_COUNT];
    qk_status deferred;
    float *wbuf[3]; /* scaled, quantized copies of a group's weights */
    float *ref;     /* [N, n_embd] float output of the searched sub-block */
    float *out;     /* [N, n_embd] output with the candidate weights */
    int32_t *o_map; /* [n_head * head_dim] -> v channel (grouped-query attention) */
} awq_state;

static void capture_hook(void *user, int32_t layer, qk_llama_linear which, const float *x,
                         int64_t n_rows, int64_t n_cols) {
    awq_state *a = user;
    int idx;
    switch (which) {
    case QK_LINEAR_Q:
        idx = IN_ATTN;
        break;
    case QK_LINEAR_O:
        idx = IN_ATTN_OUT;
        break;
    case QK_LINEAR_GATE:
        idx = IN_FFN;
        break;
    case QK_LINEAR_DOWN:
        idx = IN_DOWN;
        break;
    default:
        return;
    }
    if (n_cols != a->in_cols[idx] || a->fill[idx] + n_rows > a->N) {
        a->deferred = qk_error_set(QK_ERR_INTERNAL, "awq: unexpected input to layer %d linear %d",
                                   (int)layer, (int)which);
        return;
    }
    memcpy(a->in[idx] + (size_t)a->fill[idx] * (size_t)n_cols, x,
           (size_t)n_rows * (size_t)n_cols * sizeof(float));
    a->fill[idx] += n_rows;
}

static qk_status check_f32(const qk_tensor_view *v, int32_t ndim, int64_t d0, int64_t d1,
                           const char *what, int32_t layer) {
    if (!v->data || v->type != QK_TYPE_F32 || v->ndim != ndim || v->shape[0] != d0 ||
        (ndim == 2 && v->shape[1] != d1))
        return qk_error_set(QK_ERR_SHAPE, "awq: blk.%d.%s must be an f32 view of [%lld%s%lld]",
                            (int)layer, what, (long long)d0, ndim == 2 ? ", " : "",
                            ndim == 2 ? (long long)d1 : 0LL);
    return QK_OK;
}

static qk_status check_layer(const qk_llama_hparams *hp, int32_t l,
                             const qk_llama_layer_weights *lw) {
    const int64_t E = hp->n_embd, F = hp->n_ff;
    const int64_t QD = (int64_t)hp->n_head * hp->head_dim,
                  KD = (int64_t)hp->n_head_kv * hp->head_dim;
    qk_status st;
    if ((st = check_f32(&lw->attn_norm, 1, E, 0, "attn_norm", l)) != QK_OK ||
        (st = check_f32(&lw->ffn_norm, 1, E, 0, "ffn_norm", l)) != QK_OK ||
        (st = check_f32(&lw->wq, 2, QD, E, "attn_q", l)) != QK_OK ||
        (st = check_f32(&lw->wk, 2, KD, E, "attn_k", l)) != QK_OK ||
        (st = check_f32(&lw->wv, 2, KD, E, "attn_v", l)) != QK_OK ||
        (st = check_f32(&lw->wo, 2, E, QD, "attn_output", l)) != QK_OK ||
        (st = check_f32(&lw->w_gate, 2, F, E, "ffn_gate", l)) != QK_OK ||
        (st = check_f32(&lw->w_up, 2, F, E, "ffn_up", l)) != QK_OK ||
        (st = check_f32(&lw->w_down, 2, E, F, "ffn_down", l)) != QK_OK)
        return st;
    if ((lw->bq.data && (st = check_f32(&lw->bq, 1, QD, 0, "attn_q.bias", l)) != QK_OK) ||
        (lw->bk.data && (st = check_f32(&lw->bk, 1, KD, 0, "attn_k.bias", l)) != QK_OK) ||
        (lw->bv.data && (st = check_f32(&lw->bv, 1, KD, 0, "attn_v.bias", l)) != QK_OK))
        return st;
    return QK_OK;
}

/* Length of a group's scale vector and, for v -> o under grouped-query
** attention, the map from o's input columns to it (else NULL). */
static int64_t scale_len(const awq_state *a, qk_awq_group g, const int32_t **map) {
    *map = NULL;
    const int64_t C = a->in_cols[GROUPS[g].input];
    if (g == QK_AWQ_O && a->hp->n_head != a->hp->n_head_kv) {
        *map = a->o_map;
        return (int64_t)a->hp->n_head_kv * a->hp->head_dim;
    }
    return C;
}

/* Run the group's sub-block with its weights replaced by
** qdq(W * s) / s (s_cols NULL: W unchanged; quantize false: no qdq) into
** a->out; the MSE against a->ref into *err (when err is not NULL). */
static qk_status eval_group(awq_state *a, qk_awq_group g, const float *s_cols, bool quantize,
                            double *err) {
    const group_def *d = &GROUPS[g];
    const int64_t C = a->in_cols[d->input];
    qk_llama_layer_weights tmp = *a->lw;
    qk_status st = QK_OK;
    for (int i = 0; i < d->n_lin && st == QK_OK; i++) {
        const qk_tensor_view *w = qk_llama_layer_linear(a->lw, d->lin[i]);
        const int64_t rows = w->shape[0];
        float *buf = a->wbuf[i];
        const float *src = w->data;
        memcpy(buf, src, (size_t)rows * (size_t)C * sizeof(float));
        if (s_cols)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < C; c++) buf[(size_t)r * C + c] *= s_cols[c];
        if (quantize) st = a->opt->qdq(a->opt->qdq_user, a->layer, d->lin[i], buf, rows, C);
        if (st != QK_OK)
            return qk_error_prefix("awq: quantizing blk.%d linear %d", (int)a->layer,
                                   (int)d->lin[i]);
        if (s_cols)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < C; c++) buf[(size_t)r * C + c] /= s_cols[c];
        qk_tensor_view *v = qk_llama_layer_linear(&tmp, d->lin[i]);
        v->data = buf;
    }
    if (d->block >= 0)
        st = qk_llama_block_forward(a->hp, a->layer, &tmp, (qk_llama_block)d->block,
                                    a->in[d->input], a->out, a->n_seq, a->seq_len);
    else
        st = qk_matmul(qk_llama_layer_linear(&tmp, d->lin[0]), a->in[d->input], a->N, a->out);
    if (st != QK_OK) return st;
    if (err) {
        const size_t n = (size_t)a->N * (size_t)a->hp->n_embd;
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double e = (double)a->out[i] - (double)a->ref[i];
            sum += e * e;
        }
        *err = sum / (double)n;
    }
    return QK_OK;
}

/* Mean of v[c] over the columns c mapped to each channel k (map[c] = k). */
static void reduce_mapped(const float *v, const int32_t *map, int64_t n_cols, int64_t n,
                          float *out) {
    double *acc = calloc((size_t)n, sizeof *acc);
    int64_t *cnt = calloc((size_t)n, sizeof *cnt);
    if (acc && cnt) {
        for (int64_t c = 0; c < n_cols; c++) {
            acc[map[c]] += v[c];
            cnt[map[c]]++;
        }
        for (int64_t k = 0; k < n; k++) out[k] = cnt[k] ? (float)(acc[k] / (double)cnt[k]) : 0.0f;
    }
    free(acc);
    free(cnt);
}

static void expand(const float *s, const int32_t *map, int64_t n_cols, float *s_cols) {
    for (int64_t c = 0; c < n_cols; c++) s_cols[c] = map ? s[map[c]] : s[c];
}

/* The scale search of one group: the chosen scales (S = scale_len) into
** best_s, or all ones for the identity. */
static qk_status search_group(awq_state *a, qk_awq_group g, float *best_s,
                              qk_awq_group_report *rep) {
    const group_def *d = &GROUPS[g];
    const qk_awq_options *opt = a->opt;
    const int32_t *map;
    const int64_t S = scale_len(a, g, &map), C = a->in_cols[d->input];
    float *xm_c = malloc((size_t)C * sizeof(float)), *wm_c = malloc((size_t)C * sizeof(float));
    float *xm = malloc((size_t)S * sizeof(float)), *wm = malloc((size_t)S * sizeof(float));
    float *s = malloc((size_t)S * sizeof(float)), *s_cols = malloc((size_t)C * sizeof(float));
    qk_status st = QK_OK;
    if (!xm_c || !wm_c || !xm || !wm || !s || !s_cols) {
        st = qk_error_set(QK_ERR_NOMEM, "awq: no memory for the scale search");
        goto done;
    }
    qk_awq_x_mean(a->in[d->input], a->N, C, xm_c);
    const float *mats[3];
    int64_t rows[3];
    for (int i = 0; i < d->n_lin; i++) {
        const qk_tensor_view *w = qk_llama_layer_linear(a->lw, d->lin[i]);
        mats[i] = w->data;
        rows[i] = w->shape[0];
    }
    if ((st = qk_awq_w_mean(mats, rows, d->n_lin, C, opt->group_size, wm_c)) != QK_OK) goto done;
    if (map) {
        reduce_mapped(xm_c, map, C, S, xm);
        reduce_mapped(wm_c, map, C, S, wm);
    } else {
        memcpy(xm, xm_c, (size_t)C * sizeof(float));
        memcpy(wm, wm_c, (size_t)C * sizeof(float));
    }
    /* the float output, then plain quantization (s = 1) */
    if ((st = eval_group(a, g, NULL, false, NULL)) != QK_OK) goto done;
    memcpy(a->ref, a->out, (size_t)a->N * (size_t)a->hp->n_embd * sizeof(float));
    double err_plain;
    if ((st = eval_group(a, g, NULL, true, &err_plain)) != QK_OK) goto done;
    double best = INFINITY;
    int32_t best_i = -1;
    for (int32_t i = 0; i < opt->n_grid; i++) {
        const float ratio = (float)i / (float)opt->n_grid;
        qk_awq_scales(xm, wm, S, ratio, opt->duo_scaling, s);
        expand(s, map, C, s_cols);
        double err;
        if ((st = eval_group(a, g, s_cols, true, &err)) != QK_OK) goto done;
        if (err < best) { /* strict: the first of equal errors wins, as AutoAWQ */
            best = err;
            best_i = i;
            memcpy(best_s, s, (size_t)S * sizeof(float));
        }
    }
    if (best_i < 0 || (opt->keep_identity && err_plain < best)) {
        best_i = -1;
        best = err_plain;
        for (int64_t k = 0; k < S; k++) best_s[k] = 1.0f;
    }
    if (!isfinite(best)) {
        st = qk_error_set(QK_ERR_NUMERIC, "awq: blk.%d group %d: non-finite output error",
                          (int)a->layer, (int)g);
        goto done;
    }
    rep->searched = true;
    rep->best = best_i;
    rep->ratio = best_i < 0 ? 0.0f : (float)best_i / (float)opt->n_grid;
    rep->err_plain = err_plain;
    rep->err_best = best;
    rep->scale_min = INFINITY;
    rep->scale_max = 0.0f;
    for (int64_t k = 0; k < S; k++) {
        rep->scale_min = fminf(rep->scale_min, best_s[k]);
        rep->scale_max = fmaxf(rep->scale_max, best_s[k]);
    }
done:
    free(xm_c);
    free(wm_c);
    free(xm);
    free(wm);
    free(s);
    free(s_cols);
    return st;
}

static void scale_cols(float *w, int64_t rows, int64_t cols, const float *s_cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) w[(size_t)r * cols + c] *= s_cols[c];
}

/* Fold the scales of group g: the preceding norm or linear rows / s, the
** group's weight columns * s, the captured inputs / s. */
static void fold_group(awq_state *a, qk_awq_group g, const float *s, float *s_cols) {
    const group_def *d = &GROUPS[g];
    const int32_t *map;
    const int64_t S = scale_len(a, g, &map), C = a->in_cols[d->input];
    qk_llama_layer_weights *lw = a->lw;
    expand(s, map, C, s_cols);
    switch (g) {
    case QK_AWQ_QKV:
    case QK_AWQ_GATE_UP: {
        float *norm = (g == QK_AWQ_QKV ? lw->attn_norm : lw->ffn_norm).data;
        for (int64_t k = 0; k < S; k++) norm[k] /= s[k];
        break;
    }
    case QK_AWQ_O:
    case QK_AWQ_DOWN: {
        qk_tensor_view *prev = g == QK_AWQ_O ? &lw->wv : &lw->w_up;
        float *pw = prev->data;
        const int64_t pc = prev->shape[1];
        for (int64_t k = 0; k < S; k++)
            for (int64_t c = 0; c < pc; c++) pw[(size_t)k * pc + c] /= s[k];
        if (g == QK_AWQ_O && lw->bv.data)
            for (int64_t k = 0; k < S; k++) ((float *)lw->bv.data)[k] /= s[k];
        break;
    }
    default:
        break;
    }
    for (int i = 0; i < d->n_lin; i++) {
        qk_tensor_view *w = qk_llama_layer_linear(lw, d->lin[i]);
        scale_cols(w->data, w->shape[0], C, s_cols);
    }
    float *x = a->in[d->input];
    for (int64_t t = 0; t < a->N; t++)
        for (int64_t c = 0; c < C; c++) x[(size_t)t * C + c] /= s_cols[c];
}

/* The clip search of every linear but q and k, on an evenly strided
** subset of its (scaled) input rows, as AutoAWQ: every (N / n)-th token. */
static qk_status clip_all(awq_state *a, qk_awq_report *rep) {
    static const qk_llama_linear LIN[] = {QK_LINEAR_V, QK_LINEAR_O, QK_LINEAR_GATE, QK_LINEAR_UP,
                                          QK_LINEAR_DOWN};
    static const int INPUT[] = {IN_ATTN, IN_ATTN_OUT, IN_FFN, IN_FFN, IN_DOWN};
    const int64_t want = a->opt->clip_n_tokens > 0 ? a->opt->clip_n_tokens : 512;
    const int64_t step = a->N / want > 0 ? a->N / want : 1;
    const int64_t n_tok = (a->N + step - 1) / step;
    int64_t max_cols = 0;
    for (int i = 0; i < IN_COUNT; i++)
        max_cols = a->in_cols[i] > max_cols ? a->in_cols[i] : max_cols;
    float *x = malloc((size_t)n_tok * (size_t)max_cols * sizeof(float));
    if (!x) return qk_error_set(QK_ERR_NOMEM, "awq: no memory for the clip search");
    qk_status st = QK_OK;
    for (size_t i = 0; i < sizeof LIN / sizeof LIN[0] && st == QK_OK; i++) {
        const int64_t C = a->in_cols[INPUT[i]];
        for (int64_t t = 0; t < n_tok; t++)
            memcpy(x + (size_t)t * C, a->in[INPUT[i]] + (size_t)(t * step) * C,
                   (size_t)C * sizeof(float));
        qk_tensor_view *w = qk_llama_layer_linear(a->lw, LIN[i]);
        st = qk_awq_clip_linear(a->opt, a->layer, LIN[i], w->data, w->shape[0], C, x, n_tok,
                                rep ? &rep->clip[LIN[i]] : NULL);
    }
    free(x);
    return st;
}

static void free_state(awq_state *a) {
    for (int i = 0; i < IN_COUNT; i++) free(a->in[i]);
    for (int i = 0; i < 3; i++) free(a->wbuf[i]);
    free(a->ref);
    free(a->out);
    free(a->o_map);
}

qk_status qk_awq_apply_layer(const qk_llama_hparams *hp, int32_t layer, qk_llama_layer_weights *lw,
                             const float *x_in, int32_t n_seq, int32_t seq_len,
                             const qk_awq_options *opt, qk_awq_report *report) {
    const double t0 = qk_time_seconds();
    if (!hp || !lw || !x_in || !opt || !opt->qdq)
        return qk_error_set(QK_ERR_INVALID_ARG, "awq: NULL argument (a qdq callback is required)");
    if (n_seq <= 0 || seq_len <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "awq: %d sequences of %d tokens", n_seq, seq_len);
    if (opt->n_grid <= 0 || opt->n_grid > 1000 || opt->clip_n_grid <= 0 ||
        !(opt->clip_max_shrink >= 0.0f && opt->clip_max_shrink < 1.0f))
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "awq: n_grid %d, clip_n_grid %d, clip_max_shrink %g out of range",
                            opt->n_grid, opt->clip_n_grid, (double)opt->clip_max_shrink);
    qk_status st = qk_llama_hparams_validate(hp);
    if (st != QK_OK) return st;
    if ((st = check_layer(hp, layer, lw)) != QK_OK) return st;
    if (report) memset(report, 0, sizeof *report);

    awq_state a;
    memset(&a, 0, sizeof a);
    a.hp = hp;
    a.layer = layer;
    a.lw = lw;
    a.opt = opt;
    a.n_seq = opt->search_n_seq > 0 && opt->search_n_seq < n_seq ? opt->search_n_seq : n_seq;
    a.seq_len = seq_len;
    a.N = (int64_t)a.n_seq * seq_len;
    const int64_t E = hp->n_embd, F = hp->n_ff, QD = (int64_t)hp->n_head * hp->head_dim;
    a.in_cols[IN_ATTN] = E;
    a.in_cols[IN_ATTN_OUT] = QD;
    a.in_cols[IN_FFN] = E;
    a.in_cols[IN_DOWN] = F;
    bool ok = true;
    for (int i = 0; i < IN_COUNT; i++) {
        size_t n;
        ok = ok && qk_mul_size((size_t)a.N, (size_t)a.in_cols[i], &n) &&
             qk_mul_size(n, sizeof(float), &n) && (a.in[i] = malloc(n)) != NULL;
    }
    const int64_t max_w = E * (F > QD ? F : QD); /* the largest weight of the layer */
    for (int i = 0; i < 3 && ok; i++)
        ok = (a.wbuf[i] = malloc((size_t)max_w * sizeof(float))) != NULL;
    ok = ok && (a.ref = malloc((size_t)a.N * E * sizeof(float))) != NULL;
    ok = ok && (a.out = malloc((size_t)a.N * E * sizeof(float))) != NULL;
    ok = ok && (a.o_map = malloc((size_t)QD * sizeof(int32_t))) != NULL;
    if (!ok) {
        free_state(&a);
        return qk_error_set(QK_ERR_NOMEM, "awq: no memory for blk.%d (%lld tokens)", (int)layer,
                            (long long)a.N);
    }
    const int32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    for (int64_t j = 0; j < QD; j++) a.o_map[j] = (int32_t)((j / hd) / group * hd + j % hd);

    /* the inputs of every linear: run the float layer on a copy of x_in */
    float *x = a.ref; /* [N, E] scratch until the search */
    memcpy(x, x_in, (size_t)a.N * E * sizeof(float));
    st = qk_llama_layer_forward(hp, layer, lw, x, a.n_seq, seq_len, capture_hook, &a);
    if (st == QK_OK && a.deferred != QK_OK) st = a.deferred;

    /* search every group on the original weights, then fold them all */
    float *scales[QK_AWQ_GROUP_COUNT] = {0};
    float *s_cols =
        st == QK_OK ? malloc((size_t)(QD > F ? QD : (F > E ? F : E)) * sizeof(float)) : NULL;
    if (st == QK_OK && !s_cols) st = qk_error_set(QK_ERR_NOMEM, "awq: no memory");
    bool searched[QK_AWQ_GROUP_COUNT] = {false};
    for (int g = 0; g < QK_AWQ_GROUP_COUNT && st == QK_OK; g++) {
        if (g == QK_AWQ_O && hp->n_head != hp->n_head_kv && !opt->scale_vo_gqa) continue;
        const int32_t *map;
        const int64_t S = scale_len(&a, (qk_awq_group)g, &map);
        if (!(scales[g] = malloc((size_t)S * sizeof(float)))) {
            st = qk_error_set(QK_ERR_NOMEM, "awq: no memory");
            break;
        }
        qk_awq_group_report gr;
        memset(&gr, 0, sizeof gr);
        st = search_group(&a, (qk_awq_group)g, scales[g], &gr);
        searched[g] = st == QK_OK;
        if (report) report->groups[g] = gr;
    }
    for (int g = 0; g < QK_AWQ_GROUP_COUNT && st == QK_OK; g++)
        if (searched[g]) fold_group(&a, (qk_awq_group)g, scales[g], s_cols);
    if (st == QK_OK && opt->clip) st = clip_all(&a, report);
    for (int g = 0; g < QK_AWQ_GROUP_COUNT; g++) free(scales[g]);
    free(s_cols);
    free_state(&a);
    if (report) report->seconds = qk_time_seconds() - t0;
    if (st != QK_OK) return qk_error_prefix("awq blk.%d", (int)layer);
    return QK_OK;
}
