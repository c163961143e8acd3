/*
** Simulated quantization of a whole model for evaluation: weight formats
** applied as quantize-dequantize, AWQ layer by layer, LLM.int8 and
** SmoothQuant W8A8 as per-linear kernels.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/algo.h"
#include "quantkit/calibrate.h"
#include "quantkit/kernels.h"

static const qk_tensor_view *layer_linear(const qk_llama_layer_weights *lw, int which) {
    const qk_tensor_view *v[QK_LINEAR_OUTPUT] = {&lw->wq,     &lw->wk,   &lw->wv,    &lw->wo,
                                                 &lw->w_gate, &lw->w_up, &lw->w_down};
    return v[which];
}

/* A malloc'ed f32 copy of a 1-D or 2-D view (any storage type). */
static qk_status read_f32(const qk_tensor_view *v, float **out) {
    const int64_t rows = v->ndim == 2 ? v->shape[0] : 1, cols = v->shape[v->ndim - 1];
    float *p = malloc((size_t)rows * (size_t)cols * sizeof *p);
    if (!p)
        return qk_error_set(QK_ERR_NOMEM, "simulate: no memory for %lld x %lld", (long long)rows,
                            (long long)cols);
    qk_status st = QK_OK;
    if (v->ndim == 1)
        st = qk_convert(v->type, v->data, QK_TYPE_F32, p, (size_t)cols);
    else
        for (int64_t r = 0; r < rows && st == QK_OK; r++)
            st = qk_weight_row_f32(v, r, p + (size_t)r * cols);
    if (st != QK_OK) {
        free(p);
        return st;
    }
    *out = p;
    return QK_OK;
}

static qk_status replace_f32(qk_llama_model *m, int32_t layer, qk_llama_linear which, float *w,
                             int64_t rows, int64_t cols) {
    qk_tensor_view v;
    const int64_t shape[2] = {rows, cols};
    qk_status st = qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape, w);
    return st == QK_OK ? qk_llama_model_replace_linear(m, layer, which, &v) : st;
}

/* Quantize-dequantize one linear of the model in place. */
static qk_status qdq_linear(qk_llama_model *m, int32_t layer, qk_llama_linear which,
                            const qk_tensor_view *w, const qk_weight_format *fmt) {
    float *p;
    qk_status st = read_f32(w, &p);
    if (st != QK_OK) return st;
    st = qk_weight_format_qdq(fmt, p, w->shape[0], w->shape[1]);
    if (st == QK_OK) st = replace_f32(m, layer, which, p, w->shape[0], w->shape[1]);
    free(p);
    if (st != QK_OK) {
        char name[64];
        return qk_error_prefix("%s", qk_llama_linear_name(layer, which, name, sizeof name));
    }
    return QK_OK;
}

static qk_status simulate_format(qk_llama_model *m, const qk_weight_format *fmt,
                                 const qk_simulate_options *opt, qk_simulate_report *rep) {
    const qk_llama_hparams *hp = qk_llama_model_hparams(m);
    qk_status st = QK_OK;
    for (int32_t l = 0; l < hp->n_layer && st == QK_OK; l++) {
        for (int w = 0; w < QK_LINEAR_OUTPUT && st == QK_OK; w++) {
            st = qdq_linear(m, l, (qk_llama_linear)w, layer_linear(qk_llama_model_layer(m, l), w),
                            fmt);
            rep->n_linears++;
        }
        if (opt->progress) opt->progress(opt->progress_user, "quantize", l + 1, hp->n_layer);
    }
    if (st == QK_OK && opt->include_output) {
        st = qdq_linear(m, -1, QK_LINEAR_OUTPUT, qk_llama_model_output(m), fmt);
        rep->n_linears++;
    }
    return st;
}

/* ---- AWQ -------------------------------------------------------------------- */

/* f32 copies of a layer's weights (owned). */
typedef struct f32_layer {
    qk_llama_layer_weights lw;
} f32_layer;

static void f32_layer_free(f32_layer *f) {
    qk_tensor_view *v[] = {&f->lw.attn_norm, &f->lw.wq,     &f->lw.wk,   &f->lw.wv,
                           &f->lw.wo,        &f->lw.bq,     &f->lw.bk,   &f->lw.bv,
                           &f->lw.ffn_norm,  &f->lw.w_gate, &f->lw.w_up, &f->lw.w_down};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) free(v[i]->data);
}

static qk_status f32_layer_copy(f32_layer *f, const qk_llama_layer_weights *src) {
    memset(f, 0, sizeof *f);
    const qk_tensor_view *s[] = {&src->attn_norm, &src->wq,     &src->wk,   &src->wv,
                                 &src->wo,        &src->bq,     &src->bk,   &src->bv,
                                 &src->ffn_norm,  &src->w_gate, &src->w_up, &src->w_down};
    qk_tensor_view *d[] = {&f->lw.attn_norm, &f->lw.wq,     &f->lw.wk,   &f->lw.wv,
                           &f->lw.wo,        &f->lw.bq,     &f->lw.bk,   &f->lw.bv,
                           &f->lw.ffn_norm,  &f->lw.w_gate, &f->lw.w_up, &f->lw.w_down};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        if (!s[i]->data) continue;
        float *p;
        qk_status st = read_f32(s[i], &p);
        if (st != QK_OK) {
            f32_layer_free(f);
            return st;
        }
        *d[i] = *s[i];
        d[i]->type = QK_TYPE_F32;
        d[i]->data = p;
    }
    return QK_OK;
}

/* Write an AWQ-processed layer back into the model. */
static qk_status write_back(qk_llama_model *m, int32_t l, f32_layer *f) {
    const struct {
        const char *suffix;
        qk_tensor_view *v;
    } vec[] = {{"attn_norm.weight", &f->lw.attn_norm},
               {"ffn_norm.weight", &f->lw.ffn_norm},
               {"attn_v.bias", &f->lw.bv}};
    char name[64];
    qk_status st = QK_OK;
    for (size_t i = 0; i < sizeof vec / sizeof vec[0] && st == QK_OK; i++) {
        if (!vec[i].v->data) continue;
        snprintf(name, sizeof name, "blk.%d.%s", (int)l, vec[i].suffix);
        st = qk_llama_model_set_tensor(m, name, vec[i].v);
    }
    for (int w = 0; w < QK_LINEAR_OUTPUT && st == QK_OK; w++) {
        const qk_tensor_view *v = layer_linear(&f->lw, w);
        st = qk_llama_model_replace_linear(m, l, (qk_llama_linear)w, v);
    }
    return st;
}

/* AWQ's weight group for a format: its scale group, 0 for whole rows. */
static int32_t awq_group(const qk_weight_format *fmt) {
    const int32_t g = qk_weight_format_group(fmt, (int64_t)1 << 30);
    return g >= (1 << 30) ? 0 : g;
}

static qk_status simulate_awq(qk_llama_model *m, const qk_weight_format *fmt,
                              const qk_simulate_options *opt, qk_simulate_report *rep) {
    const qk_llama_hparams *hp = qk_llama_model_hparams(m);
    if (!opt->calib_tokens || opt->n_calib <= 0 || opt->calib_len <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "simulate awq: calibration windows are required");
    const int64_t n = (int64_t)opt->n_calib * opt->calib_len;
    float *x = malloc((size_t)n * (size_t)hp->n_embd * sizeof *x);
    if (!x)
        return qk_error_set(QK_ERR_NOMEM, "simulate awq: no memory for %lld hidden states",
                            (long long)n);
    qk_status st = qk_llama_embed(m, opt->calib_tokens, n, x);
    qk_awq_options ao;
    qk_awq_options_default(&ao);
    ao.qdq = qk_weight_format_qdq_callback;
    ao.qdq_user = (void *)fmt;
    ao.group_size = awq_group(fmt);
    ao.search_n_seq = opt->awq_search_seqs;
    double clip_sum = 0.0;
    int64_t clip_n = 0;
    for (int32_t l = 0; l < hp->n_layer && st == QK_OK; l++) {
        f32_layer f;
        if ((st = f32_layer_copy(&f, qk_llama_model_layer(m, l))) != QK_OK) break;
        qk_awq_report ar;
        st = qk_awq_apply_layer(hp, l, &f.lw, x, opt->n_calib, opt->calib_len, &ao, &ar);
        for (int w = 0; w < QK_LINEAR_OUTPUT && st == QK_OK; w++) {
            qk_tensor_view *v = (qk_tensor_view *)layer_linear(&f.lw, w);
            st = qk_weight_format_qdq(fmt, v->data, v->shape[0], v->shape[1]);
            rep->n_linears++;
        }
        /* the next layer's input: this layer in float, before any change */
        if (st == QK_OK)
            st = qk_llama_layer_forward(hp, l, qk_llama_model_layer(m, l), x, opt->n_calib,
                                        opt->calib_len, NULL, NULL);
        if (st == QK_OK) st = write_back(m, l, &f);
        f32_layer_free(&f);
        if (st != QK_OK) break;
        for (int g = 0; g < QK_AWQ_GROUP_COUNT; g++) {
            rep->awq_err_plain[g] += ar.groups[g].err_plain;
            rep->awq_err_best[g] += ar.groups[g].err_best;
            rep->awq_mean_ratio[g] += ar.groups[g].ratio / hp->n_layer;
        }
        for (int w = 0; w < QK_LINEAR_OUTPUT; w++)
            if (ar.clip[w].searched) {
                clip_sum += ar.clip[w].mean_ratio;
                clip_n++;
            }
        if (opt->progress) opt->progress(opt->progress_user, "awq", l + 1, hp->n_layer);
    }
    free(x);
    rep->awq_clip_mean_ratio = clip_n ? clip_sum / (double)clip_n : 1.0;
    if (st == QK_OK && opt->include_output) {
        st = qdq_linear(m, -1, QK_LINEAR_OUTPUT, qk_llama_model_output(m), fmt);
        rep->n_linears++;
    }
    return st;
}

/* ---- int8 kernels --------------------------------------------------------------- */

static qk_status simulate_smoothquant(qk_llama_model *m, bool smooth, float alpha,
                                      const qk_simulate_options *opt, qk_simulate_report *rep) {
    qk_smoothquant_options so;
    qk_smoothquant_options_default(&so);
    so.alpha = alpha;
    so.smooth = smooth;
    so.include_output = opt->include_output;
    qk_calib_stats *stats = NULL;
    qk_status st = QK_OK;
    if (smooth) {
        if (!opt->calib_tokens || opt->n_calib <= 0 || opt->calib_len <= 0)
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "simulate smoothquant: calibration windows are required");
        st = qk_calib_stats_create(qk_llama_model_hparams(m), false, &stats);
        if (st == QK_OK)
            st = qk_calib_collect(m, opt->calib_tokens, opt->n_calib, opt->calib_len, stats, NULL,
                                  NULL);
    }
    if (st == QK_OK) st = qk_smoothquant_apply(m, stats, &so);
    qk_calib_stats_free(stats);
    rep->n_linears = (int64_t)qk_llama_model_hparams(m)->n_layer * QK_LINEAR_OUTPUT +
                     (opt->include_output ? 1 : 0);
    return st;
}

/* "name" or "name:VALUE": the value into *v (unchanged when absent). */
static bool match_param(const char *spec, const char *name, float *v, bool *bad) {
    const size_t n = strlen(name);
    if (strncmp(spec, name, n) != 0 || (spec[n] != '\0' && spec[n] != ':')) return false;
    if (spec[n] == ':') {
        char *end;
        const double d = strtod(spec + n + 1, &end);
        if (end == spec + n + 1 || *end != '\0') *bad = true;
        *v = (float)d;
    }
    return true;
}

qk_status qk_simulate_apply(qk_llama_model *model, const char *spec, const qk_simulate_options *opt,
                            qk_simulate_report *report) {
    if (!model || !spec || !opt) return qk_error_set(QK_ERR_INVALID_ARG, "simulate: NULL argument");
    qk_simulate_report local;
    qk_simulate_report *rep = report ? report : &local;
    memset(rep, 0, sizeof *rep);
    const double t0 = qk_time_seconds();
    qk_status st;
    float thr = 6.0f, alpha = 0.5f;
    bool bad = false;
    if (match_param(spec, "llm_int8", &thr, &bad)) {
        const float v = thr;
        if (bad || !(v >= 0.0f))
            return qk_error_set(QK_ERR_INVALID_ARG, "simulate: bad threshold in '%s'", spec);
        qk_llm_int8_options lo;
        qk_llm_int8_options_default(&lo);
        lo.threshold = v;
        lo.include_output = opt->include_output;
        lo.stats = opt->int8_stats;
        snprintf(rep->method, sizeof rep->method, "llm_int8:%g", (double)v);
        st = qk_llm_int8_apply(model, &lo);
        rep->n_linears = (int64_t)qk_llama_model_hparams(model)->n_layer * QK_LINEAR_OUTPUT +
                         (opt->include_output ? 1 : 0);
    } else if (match_param(spec, "smoothquant_w8a8", &alpha, &bad)) {
        const float v = alpha;
        if (bad || !(v >= 0.0f && v <= 1.0f))
            return qk_error_set(QK_ERR_INVALID_ARG, "simulate: bad alpha in '%s' (0..1)", spec);
        snprintf(rep->method, sizeof rep->method, "smoothquant_w8a8:%g", (double)v);
        st = simulate_smoothquant(model, true, v, opt, rep);
    } else if (strcmp(spec, "w8a8") == 0) {
        snprintf(rep->method, sizeof rep->method, "w8a8");
        st = simulate_smoothquant(model, false, 0.0f, opt, rep);
    } else {
        const bool awq = strncmp(spec, "awq_", 4) == 0;
        qk_weight_format fmt;
        if ((st = qk_weight_format_parse(awq ? spec + 4 : spec, &fmt)) != QK_OK)
            return qk_error_prefix("simulate '%s' (llm_int8[:T], smoothquant_w8a8[:ALPHA], w8a8, "
                                   "FORMAT or awq_FORMAT)",
                                   spec);
        char name[32];
        snprintf(rep->method, sizeof rep->method, "%s%s", awq ? "awq_" : "",
                 qk_weight_format_name(&fmt, name, sizeof name));
        st = awq ? simulate_awq(model, &fmt, opt, rep) : simulate_format(model, &fmt, opt, rep);
    }
    rep->seconds = qk_time_seconds() - t0;
    if (st != QK_OK) return qk_error_prefix("simulate %s", spec);
    return QK_OK;
}
