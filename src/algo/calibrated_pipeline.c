/*
** The calibrated pipeline (ptq.h): embed the calibration windows, then per
** decoder layer read its f32 weights, apply AWQ, quantize its linears in
** true-sequential groups with GPTQ (H from a forward pass per group) or
** round-to-nearest, put the dequantized values back into the layer and run
** it to get the next layer's inputs.
*/
#include <math.h> /* sqrtf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/ptq_internal.h"
#include "core/error.h"
#include "quantkit/calibrate.h"
#include "quantkit/ggml.h"
#include "quantkit/io.h"

/* The true-sequential groups: members, and the linear whose input the
** group's Hessian is taken from. */
static const qk_llama_linear k_members[4][3] = {
    {QK_LINEAR_Q, QK_LINEAR_K, QK_LINEAR_V},
    {QK_LINEAR_O},
    {QK_LINEAR_GATE, QK_LINEAR_UP},
    {QK_LINEAR_DOWN},
};
static const int k_n_members[4] = {3, 1, 2, 1};
static const char *const k_group_names[4] = {"q/k/v", "o", "gate/up", "down"};

void qk_ptq_options_init(qk_ptq_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->method = QK_PTQ_RTN;
    qk_gptq_options_init(&opt->gptq);
    qk_ptq_awq_defaults(&opt->awq);
    opt->true_sequential = true;
}

const char *qk_ptq_method_name(qk_ptq_method m) {
    switch (m) {
    case QK_PTQ_RTN:
        return "rtn";
    case QK_PTQ_GPTQ:
        return "gptq";
    case QK_PTQ_AWQ:
        return "awq";
    case QK_PTQ_AWQ_GPTQ:
        return "awq+gptq";
    }
    return "?";
}

qk_status qk_ptq_method_parse(const char *text, qk_ptq_method *out) {
    for (int m = QK_PTQ_RTN; m <= QK_PTQ_AWQ_GPTQ; m++)
        if (text && strcmp(text, qk_ptq_method_name((qk_ptq_method)m)) == 0) {
            *out = (qk_ptq_method)m;
            return QK_OK;
        }
    return qk_error_set(QK_ERR_INVALID_ARG, "unknown method '%s' (rtn, gptq, awq, awq+gptq)",
                        text ? text : "(null)");
}

static bool uses_gptq(qk_ptq_method m) {
    return m == QK_PTQ_GPTQ || m == QK_PTQ_AWQ_GPTQ;
}
static bool uses_awq(qk_ptq_method m) {
    return m == QK_PTQ_AWQ || m == QK_PTQ_AWQ_GPTQ;
}

/* ---- one layer's f32 weights -------------------------------------------- */

typedef struct layer_buf {
    float *data[12]; /* k_layer_tensors order */
    qk_llama_layer_weights lw;
} layer_buf;

static void layer_free(layer_buf *b) {
    for (int i = 0; i < 12; i++) free(b->data[i]);
    memset(b, 0, sizeof *b);
}

/* Read "blk.<l>.<suffix>" as f32 into a new buffer and a view. `optional`
** tensors that are absent leave the view empty. */
static qk_status read_tensor(const qk_model_source *src, int32_t l, const char *suffix,
                             bool optional, float **buf, qk_tensor_view *v) {
    char name[80];
    snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
    const int64_t idx = qk_model_source_find_tensor(src, name);
    if (idx < 0) {
        if (optional) return QK_OK;
        return qk_error_set(QK_ERR_NOT_FOUND, "ptq: tensor '%s' is missing", name);
    }
    qk_model_tensor t;
    qk_status st = qk_model_source_tensor_info(src, (size_t)idx, &t);
    if (st != QK_OK) return st;
    int64_t n = 1;
    for (int32_t d = 0; d < t.ndim; d++) n *= t.shape[d];
    *buf = malloc((size_t)n * sizeof **buf);
    if (!*buf) return qk_error_set(QK_ERR_NOMEM, "ptq: no memory for '%s'", name);
    if ((st = qk_model_source_read_f32(src, (size_t)idx, *buf, n, NULL, 0)) != QK_OK) return st;
    return qk_tensor_view_init(v, QK_TYPE_F32, t.ndim, t.shape, *buf);
}

/* The layer's tensors in the order of layer_buf.data. */
enum { LAYER_TENSORS = 12 };
static const struct {
    const char *suffix;
    bool optional;
} k_layer_tensors[LAYER_TENSORS] = {
    {"attn_norm.weight", false}, {"attn_q.weight", false},      {"attn_k.weight", false},
    {"attn_v.weight", false},    {"attn_output.weight", false}, {"attn_q.bias", true},
    {"attn_k.bias", true},       {"attn_v.bias", true},         {"ffn_norm.weight", false},
    {"ffn_gate.weight", false},  {"ffn_up.weight", false},      {"ffn_down.weight", false},
};

static void layer_views(qk_llama_layer_weights *lw, qk_tensor_view *v[LAYER_TENSORS]) {
    qk_tensor_view *const all[LAYER_TENSORS] = {
        &lw->attn_norm, &lw->wq, &lw->wk,       &lw->wv,     &lw->wo,   &lw->bq,
        &lw->bk,        &lw->bv, &lw->ffn_norm, &lw->w_gate, &lw->w_up, &lw->w_down};
    memcpy(v, all, sizeof all);
}

static qk_status read_layer(const qk_model_source *src, int32_t l, layer_buf *b) {
    memset(b, 0, sizeof *b);
    qk_tensor_view *v[LAYER_TENSORS];
    layer_views(&b->lw, v);
    for (int i = 0; i < LAYER_TENSORS; i++) {
        qk_status st = read_tensor(src, l, k_layer_tensors[i].suffix, k_layer_tensors[i].optional,
                                   &b->data[i], v[i]);
        if (st != QK_OK) {
            layer_free(b);
            return st;
        }
    }
    return QK_OK;
}

/* A deep copy of a layer (the f32 reference of fp_target). */
static qk_status layer_copy(const layer_buf *src, layer_buf *dst) {
    memset(dst, 0, sizeof *dst);
    dst->lw = src->lw; /* shapes; the data pointers are replaced below */
    qk_tensor_view *v[LAYER_TENSORS];
    layer_views(&dst->lw, v);
    for (int i = 0; i < LAYER_TENSORS; i++) {
        if (!src->data[i]) continue;
        const size_t n = (size_t)qk_tensor_view_numel(v[i]) * sizeof(float);
        if (!(dst->data[i] = malloc(n))) {
            layer_free(dst);
            return qk_error_set(QK_ERR_NOMEM, "ptq: no memory for a copy of the layer");
        }
        memcpy(dst->data[i], src->data[i], n);
        v[i]->data = dst->data[i];
    }
    return QK_OK;
}

/* ---- Hessian capture ---------------------------------------------------- */

typedef struct capture {
    qk_hessian *h[QK_LINEAR_COUNT]; /* by the linear whose input is captured */
    /* fp_target: the f32 layer's input of `paired` for the current window
    ** (stored while store_fp is set) and the cross sum of the group */
    qk_llama_linear paired;
    bool store_fp;
    float *x_fp;   /* [sample_len * cols] */
    double *cross; /* [cols * cols] or NULL */
    float *tmp;    /* [cols * cols] */
    qk_status st;
    char msg[256];
} capture;

static void capture_hook(void *user, int32_t layer, qk_llama_linear which, const float *x,
                         int64_t n_rows, int64_t n_cols) {
    capture *c = user;
    (void)layer;
    if (c->st != QK_OK || which < 0 || which >= QK_LINEAR_COUNT) return;
    if (c->store_fp) {
        if (which == c->paired) memcpy(c->x_fp, x, (size_t)n_rows * (size_t)n_cols * sizeof(float));
        return;
    }
    if (!c->h[which]) return;
    c->st = qk_hessian_add(c->h[which], x, n_rows);
    if (c->st != QK_OK)
        snprintf(c->msg, sizeof c->msg, "%s", qk_last_error());
    else if (c->cross && which == c->paired)
        qk_ptq_cross_add(c->cross, c->x_fp, x, n_rows, n_cols, c->tmp);
}

/* Run layer l (weights lw) on every window, one at a time on a copy, with
** the capture hook. */
static qk_status capture_pass(qk_ptq_state *s, int32_t l, const qk_llama_layer_weights *lw,
                              const qk_llama_layer_weights *lw_fp, capture *cap) {
    const double t0 = qk_time_seconds();
    const size_t row = (size_t)s->sample_len * (size_t)s->hp.n_embd;
    qk_status st = QK_OK;
    for (int32_t i = 0; i < s->n_samples && st == QK_OK; i++) {
        if (cap->cross) { /* the f32 layer on the f32 hidden states first */
            memcpy(s->scratch, s->xf + (size_t)i * row, row * sizeof(float));
            cap->store_fp = true;
            st = qk_llama_layer_forward(&s->hp, l, lw_fp, s->scratch, 1, s->sample_len,
                                        capture_hook, cap);
            cap->store_fp = false;
            if (st != QK_OK) break;
        }
        memcpy(s->scratch, s->x + (size_t)i * row, row * sizeof(float));
        st = qk_llama_layer_forward(&s->hp, l, lw, s->scratch, 1, s->sample_len, capture_hook, cap);
        if (st == QK_OK && cap->st != QK_OK) st = qk_error_set(cap->st, "%s", cap->msg);
    }
    s->result->hessian_seconds += qk_time_seconds() - t0;
    return st;
}

/* The q/k/v input is the attention norm of the layer's input: formed here
** as the forward pass forms it (llama_forward.c's rms_norm: the sum of
** squares in double, y = x * (1 / sqrt(mean + eps)) * w in f32), so no
** layer pass is needed for it. */
static void norm_rows(const qk_ptq_state *s, const float *x, const float *norm_w, float *y) {
    const int32_t E = s->hp.n_embd;
    for (int32_t t = 0; t < s->sample_len; t++) {
        const float *xr = x + (size_t)t * E;
        float *yr = y + (size_t)t * E;
        double sum = 0.0;
        for (int32_t k = 0; k < E; k++) sum += (double)xr[k] * xr[k];
        const float scale = 1.0f / sqrtf((float)(sum / E) + s->hp.rms_eps);
        for (int32_t k = 0; k < E; k++) yr[k] = xr[k] * scale * norm_w[k];
    }
}

static qk_status norm_capture(qk_ptq_state *s, const float *norm_w, const float *norm_w_fp,
                              qk_hessian *h, capture *cap) {
    const double t0 = qk_time_seconds();
    const size_t row = (size_t)s->sample_len * (size_t)s->hp.n_embd;
    qk_status st = QK_OK;
    for (int32_t i = 0; i < s->n_samples && st == QK_OK; i++) {
        norm_rows(s, s->x + (size_t)i * row, norm_w, s->scratch);
        st = qk_hessian_add(h, s->scratch, s->sample_len);
        if (st == QK_OK && cap->cross) {
            norm_rows(s, s->xf + (size_t)i * row, norm_w_fp, cap->x_fp);
            qk_ptq_cross_add(cap->cross, cap->x_fp, s->scratch, s->sample_len, s->hp.n_embd,
                             cap->tmp);
        }
    }
    s->result->hessian_seconds += qk_time_seconds() - t0;
    return st;
}

/* ---- the pipeline -------------------------------------------------------- */

static qk_status embed_windows(qk_ptq_state *s, const int32_t *windows) {
    const int64_t idx = qk_model_source_find_tensor(s->src, "token_embd.weight");
    if (idx < 0) return qk_error_set(QK_ERR_NOT_FOUND, "ptq: token_embd.weight is missing");
    const int64_t E = s->hp.n_embd, V = s->hp.n_vocab;
    float *emb = malloc((size_t)(V * E) * sizeof *emb);
    if (!emb) return qk_error_set(QK_ERR_NOMEM, "ptq: no memory for the token embeddings");
    qk_status st = qk_model_source_read_f32(s->src, (size_t)idx, emb, V * E, NULL, 0);
    const int64_t n = (int64_t)s->n_samples * s->sample_len;
    for (int64_t t = 0; t < n && st == QK_OK; t++) {
        if (windows[t] < 0 || windows[t] >= V)
            st = qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                              "ptq: calibration token %d at %lld is outside "
                              "the vocabulary of %lld",
                              windows[t], (long long)t, (long long)V);
        else
            memcpy(s->x + (size_t)t * E, emb + (size_t)windows[t] * E, (size_t)E * sizeof(float));
    }
    free(emb);
    return st;
}

static void progress(qk_ptq_state *s, int32_t l, const char *stage) {
    if (s->opt->progress) s->opt->progress(s->opt->progress_user, l, s->hp.n_layer, stage);
}

/* Quantize the members of group g of layer l (H NULL without GPTQ). */
static qk_status quantize_group(qk_ptq_state *s, int32_t l, layer_buf *b, int g, const double *h) {
    for (int m = 0; m < k_n_members[g]; m++) {
        const qk_llama_linear which = k_members[g][m];
        qk_tensor_view *v = qk_llama_layer_linear(&b->lw, which);
        qk_ptq_linear *lin = &s->result->linears[(size_t)l * 7 + which];
        qk_status st = qk_ptq_quantize_linear(s, lin, v->data, h);
        if (st != QK_OK) return qk_error_prefix("%s", lin->name);
    }
    return QK_OK;
}

static qk_status run_layer(qk_ptq_state *s, int32_t l) {
    layer_buf b;
    qk_status st = read_layer(s->src, l, &b);
    if (st != QK_OK) return st;
    const qk_ptq_options *opt = s->opt;
    capture cap;
    memset(&cap, 0, sizeof cap);
    static const qk_llama_linear k_input[4] = {QK_LINEAR_Q, QK_LINEAR_O, QK_LINEAR_GATE,
                                               QK_LINEAR_DOWN};
    layer_buf bf; /* fp_target: the f32 layer (after AWQ's equivalent rescaling) */
    memset(&bf, 0, sizeof bf);
    if (uses_awq(opt->method)) {
        progress(s, l, "awq");
        if ((st = qk_ptq_awq_layer(s, l, &b.lw)) != QK_OK) goto done;
    }
    const bool fp_target = s->xf != NULL;
    int64_t max_cols = 0;
    for (int g = 0; g < 4; g++) {
        const int64_t c = qk_llama_layer_linear(&b.lw, k_members[g][0])->shape[1];
        max_cols = c > max_cols ? c : max_cols;
    }
    if (fp_target) {
        if ((st = layer_copy(&b, &bf)) != QK_OK) goto done;
        const size_t c2 = (size_t)max_cols * (size_t)max_cols;
        cap.x_fp = malloc((size_t)s->sample_len * (size_t)max_cols * sizeof *cap.x_fp);
        cap.cross = malloc(c2 * sizeof *cap.cross);
        cap.tmp = malloc(c2 * sizeof *cap.tmp);
        if (!cap.x_fp || !cap.cross || !cap.tmp) {
            st = qk_error_set(QK_ERR_NOMEM, "ptq: no memory for the full-precision targets");
            goto done;
        }
    }
    if (uses_gptq(opt->method) && !opt->true_sequential) {
        /* one pass captures the four inputs of the original layer */
        for (int g = 0; g < 4 && st == QK_OK; g++)
            st = qk_hessian_create(qk_llama_layer_linear(&b.lw, k_members[g][0])->shape[1],
                                   &cap.h[k_input[g]]);
        progress(s, l, "hessians");
        if (st == QK_OK) st = capture_pass(s, l, &b.lw, NULL, &cap);
    }
    for (int g = 0; g < 4 && st == QK_OK; g++) {
        const double *h = NULL;
        if (uses_gptq(opt->method)) {
            if (opt->true_sequential) {
                const int64_t cols = qk_llama_layer_linear(&b.lw, k_members[g][0])->shape[1];
                if ((st = qk_hessian_create(cols, &cap.h[k_input[g]])) != QK_OK) break;
                progress(s, l, k_group_names[g]);
                cap.paired = k_input[g];
                if (fp_target) memset(cap.cross, 0, (size_t)(cols * cols) * sizeof *cap.cross);
                st = g == 0 ? norm_capture(s, b.lw.attn_norm.data, bf.lw.attn_norm.data,
                                           cap.h[k_input[g]], &cap)
                            : capture_pass(s, l, &b.lw, &bf.lw, &cap);
                if (st != QK_OK) break;
            }
            h = qk_hessian_data(cap.h[k_input[g]]);
            for (int m = 0; fp_target && m < k_n_members[g] && st == QK_OK; m++) {
                qk_tensor_view *v = qk_llama_layer_linear(&b.lw, k_members[g][m]);
                st = qk_ptq_fp_target(v->data, v->shape[0], v->shape[1], h, cap.cross,
                                      qk_hessian_rows(cap.h[k_input[g]]), opt->gptq.damp);
            }
            if (st != QK_OK) break;
        }
        st = quantize_group(s, l, &b, g, h);
        if (opt->true_sequential) {
            qk_hessian_free(cap.h[k_input[g]]);
            cap.h[k_input[g]] = NULL;
        }
    }
    /* the next layer's inputs come from this layer with quantized weights */
    if (st == QK_OK && s->x && l + 1 < s->hp.n_layer) {
        progress(s, l, "forward");
        const double t0 = qk_time_seconds();
        st =
            qk_llama_layer_forward(&s->hp, l, &b.lw, s->x, s->n_samples, s->sample_len, NULL, NULL);
        if (st == QK_OK && fp_target)
            st = qk_llama_layer_forward(&s->hp, l, &bf.lw, s->xf, s->n_samples, s->sample_len, NULL,
                                        NULL);
        s->result->hessian_seconds += qk_time_seconds() - t0;
    }
done:
    for (int i = 0; i < QK_LINEAR_COUNT; i++) qk_hessian_free(cap.h[i]);
    free(cap.x_fp);
    free(cap.cross);
    free(cap.tmp);
    layer_free(&bf);
    layer_free(&b);
    return st;
}

qk_status qk_ptq_run(const char *model_path, const int32_t *windows, int32_t n_samples,
                     int32_t sample_len, const qk_ptq_options *opt, qk_ptq_result *out) {
    if (!model_path || !opt || !out) return qk_error_set(QK_ERR_INVALID_ARG, "ptq: NULL argument");
    memset(out, 0, sizeof *out);
    const double t0 = qk_time_seconds();
    const bool calibrated = uses_gptq(opt->method) || uses_awq(opt->method);
    if (calibrated && (!windows || n_samples <= 0 || sample_len <= 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "ptq: method %s needs calibration windows",
                            qk_ptq_method_name(opt->method));
    if (opt->hf_layout && opt->gguf)
        return qk_error_set(QK_ERR_INVALID_ARG, "ptq: a GGUF target needs llama.cpp's q/k layout");
    qk_ptq_state s;
    memset(&s, 0, sizeof s);
    s.path = model_path;
    s.opt = opt;
    s.result = out;
    qk_model_source_options so = {.hf_layout = opt->hf_layout};
    qk_status st = qk_model_source_open(model_path, &so, &s.src);
    if (st != QK_OK) return st;
    qk_llama_hparams_from_source(qk_model_source_hparams(s.src), &s.hp);
    /* HF's own order rotates halves (llama.cpp's NEOX mode) */
    if (opt->hf_layout && qk_model_source_format(s.src) == QK_MODEL_FORMAT_HF) {
        s.hp.rope_neox = true;
        out->hf_layout = true;
    }
    out->method = opt->method;
    out->gguf_target = opt->gguf != NULL;
    out->n_layer = s.hp.n_layer;
    out->n_samples = calibrated ? n_samples : 0;
    out->sample_len = calibrated ? sample_len : 0;
    if ((st = qk_ptq_result_init(&s)) != QK_OK) goto done;
    if (calibrated) {
        size_t n;
        if (!qk_mul_size((size_t)n_samples, (size_t)sample_len, &n) ||
            !qk_mul_size(n, (size_t)s.hp.n_embd * sizeof(float), &n)) {
            st = qk_error_set(QK_ERR_OVERFLOW, "ptq: %d windows of %d tokens", n_samples,
                              sample_len);
            goto done;
        }
        s.n_samples = n_samples;
        s.sample_len = sample_len;
        s.x = qk_aligned_alloc(64, n);
        s.scratch = malloc((size_t)sample_len * (size_t)s.hp.n_embd * sizeof(float));
        if (!s.x || !s.scratch) {
            st = qk_error_set(QK_ERR_NOMEM,
                              "ptq: no memory for the hidden states of %d windows "
                              "of %d tokens (%zu bytes)",
                              n_samples, sample_len, n);
            goto done;
        }
        if ((st = embed_windows(&s, windows)) != QK_OK) goto done;
        if (opt->fp_target && uses_gptq(opt->method)) {
            if (!opt->true_sequential) {
                st = qk_error_set(QK_ERR_INVALID_ARG,
                                  "ptq: full-precision targets need true-sequential groups");
                goto done;
            }
            if (!(s.xf = qk_aligned_alloc(64, n))) {
                st = qk_error_set(QK_ERR_NOMEM, "ptq: no memory for the f32 hidden states");
                goto done;
            }
            memcpy(s.xf, s.x, n);
        }
    }
    for (int32_t l = 0; l < s.hp.n_layer && st == QK_OK; l++) {
        st = run_layer(&s, l);
        if (st != QK_OK) qk_error_prefix("layer %d", l);
    }
    progress(&s, s.hp.n_layer, "done");
done:
    qk_aligned_free(s.x);
    qk_aligned_free(s.xf);
    free(s.scratch);
    qk_ptq_state_free(&s);
    qk_model_source_close(s.src);
    out->seconds = qk_time_seconds() - t0;
    out->peak_rss_bytes = qk_peak_rss_bytes();
    if (st != QK_OK) qk_ptq_result_free(out);
    return st;
}
