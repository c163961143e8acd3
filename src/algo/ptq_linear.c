/*
** The calibrated pipeline's per-linear work: the planned types, quantizing
** one linear for the affine or the GGUF target (GPTQ or round-to-nearest),
** the optional H-weighted error figures, and the AWQ step.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/ptq_internal.h"
#include "core/error.h"
#include "quantkit/calibrate.h"
#include "quantkit/ggml.h"

void qk_ptq_awq_defaults(qk_awq_options *o) {
    qk_awq_options_default(o);
}

void qk_ptq_state_free(qk_ptq_state *s) {
    qk_quantize_report_free(&s->plan);
}

static qk_type planned_type(const qk_ptq_state *s, const char *name) {
    for (size_t i = 0; i < s->plan.n_tensors; i++)
        if (strcmp(s->plan.tensors[i].name, name) == 0) return s->plan.tensors[i].to;
    return QK_TYPE_COUNT;
}

qk_status qk_ptq_result_init(qk_ptq_state *s) {
    qk_ptq_result *r = s->result;
    qk_status st;
    if (s->opt->gguf && (st = qk_quantize_plan(s->path, s->opt->gguf, &s->plan)) != QK_OK)
        return st;
    r->n_linears = (size_t)s->hp.n_layer * 7;
    r->linears = calloc(r->n_linears ? r->n_linears : 1, sizeof *r->linears);
    if (!r->linears) return qk_error_set(QK_ERR_NOMEM, "ptq: no memory");
    for (int32_t l = 0; l < s->hp.n_layer; l++)
        for (int w = 0; w < 7; w++) {
            qk_ptq_linear *lin = &r->linears[(size_t)l * 7 + w];
            lin->layer = l;
            lin->which = (qk_llama_linear)w;
            qk_llama_linear_name(l, lin->which, lin->name, sizeof lin->name);
            const int64_t idx = qk_model_source_find_tensor(s->src, lin->name);
            qk_model_tensor t;
            if (idx < 0) return qk_error_set(QK_ERR_NOT_FOUND, "ptq: '%s' is missing", lin->name);
            if ((st = qk_model_source_tensor_info(s->src, (size_t)idx, &t)) != QK_OK) return st;
            if (t.ndim != 2) return qk_error_set(QK_ERR_SHAPE, "ptq: '%s' is not 2-D", lin->name);
            lin->rows = t.shape[0];
            lin->cols = t.shape[1];
            lin->type = QK_TYPE_COUNT;
            if (s->opt->gguf) {
                lin->type = planned_type(s, lin->name);
                if (lin->type == QK_TYPE_COUNT)
                    return qk_error_set(QK_ERR_NOT_FOUND, "ptq: no planned type for '%s'",
                                        lin->name);
            }
        }
    return QK_OK;
}

/* imatrix importance of a tensor from the GGUF options, or NULL. */
static float *importance_of(const qk_ptq_state *s, const qk_ptq_linear *lin) {
    if (!s->opt->gguf || !s->opt->gguf->importance || !qk_type_uses_importance(lin->type))
        return NULL;
    float *imp = malloc((size_t)lin->cols * sizeof *imp);
    if (imp &&
        qk_calib_stats_importance(s->opt->gguf->importance, lin->name, imp, lin->cols) != QK_OK) {
        qk_clear_error();
        free(imp);
        imp = NULL;
    }
    return imp;
}

static qk_status dequantize_rows(qk_type type, const void *src, float *w, int64_t rows,
                                 int64_t cols) {
    size_t rb;
    qk_status st = qk_type_row_bytes(type, cols, &rb);
    for (int64_t r = 0; r < rows && st == QK_OK; r++)
        st = qk_dequantize_row(type, (const uint8_t *)src + (size_t)r * rb, w + (size_t)r * cols,
                               cols);
    return st;
}

/* Round-to-nearest of `orig` in the target format into w (for the error
** figures and AWQ). */
static qk_status rtn_into(const qk_ptq_state *s, const qk_ptq_linear *lin, const float *orig,
                          float *w, const float *imp) {
    if (lin->type == QK_TYPE_COUNT) {
        qk_quantized_linear q;
        qk_status st = qk_rtn_quantize(orig, lin->rows, lin->cols, &s->opt->gptq, &q, w);
        qk_quantized_linear_free(&q);
        return st;
    }
    if (!qk_type_get_traits(lin->type)->is_block) {
        memcpy(w, orig, (size_t)(lin->rows * lin->cols) * sizeof *w);
        return QK_OK;
    }
    size_t rb;
    qk_status st = qk_type_row_bytes(lin->type, lin->cols, &rb);
    if (st != QK_OK) return st;
    void *tmp = malloc(rb * (size_t)lin->rows);
    if (!tmp) return qk_error_set(QK_ERR_NOMEM, "ptq: no memory");
    st = qk_quantize_rows(lin->type, orig, tmp, lin->rows, lin->cols, imp);
    if (st == QK_OK) st = dequantize_rows(lin->type, tmp, w, lin->rows, lin->cols);
    free(tmp);
    return st;
}

/* Relative H-weighted errors of the result and of RTN. */
static qk_status measure(const qk_ptq_state *s, qk_ptq_linear *lin, const float *orig,
                         const float *w, const double *h, const float *imp) {
    const size_t n = (size_t)(lin->rows * lin->cols);
    float *tmp = calloc(n, sizeof *tmp);
    if (!tmp) return qk_error_set(QK_ERR_NOMEM, "ptq: no memory");
    double base, e, e_rtn;
    qk_status st = qk_hessian_error(h, orig, tmp, lin->rows, lin->cols, &base);
    if (st == QK_OK) st = qk_hessian_error(h, orig, w, lin->rows, lin->cols, &e);
    if (st == QK_OK) st = rtn_into(s, lin, orig, tmp, imp);
    if (st == QK_OK) st = qk_hessian_error(h, orig, tmp, lin->rows, lin->cols, &e_rtn);
    free(tmp);
    if (st == QK_OK && base > 0.0) {
        lin->err_h = e / base;
        lin->err_h_rtn = e_rtn / base;
    }
    return st;
}

qk_status qk_ptq_quantize_linear(qk_ptq_state *s, qk_ptq_linear *lin, float *w, const double *h) {
    const qk_ptq_options *opt = s->opt;
    const int64_t rows = lin->rows, cols = lin->cols;
    const size_t n = (size_t)(rows * cols);
    const double t0 = qk_time_seconds();
    float *orig = NULL, *imp = NULL;
    qk_status st = QK_OK;
    if (opt->measure && h) {
        if (!(orig = malloc(n * sizeof *orig))) return qk_error_set(QK_ERR_NOMEM, "ptq: no memory");
        memcpy(orig, w, n * sizeof *orig);
    }
    if (!opt->gguf) {
        if (h) {
            st = qk_gptq_quantize(w, rows, cols, h, &opt->gptq, &lin->affine, w, &lin->report);
            lin->gptq = st == QK_OK;
        } else {
            st = qk_rtn_quantize(w, rows, cols, &opt->gptq, &lin->affine, w);
        }
    } else {
        const qk_type_traits *tr = qk_type_get_traits(lin->type);
        size_t rb;
        if ((st = qk_type_row_bytes(lin->type, cols, &rb)) != QK_OK) goto done;
        lin->n_bytes = rb * (size_t)rows;
        if (!(lin->blocks = malloc(lin->n_bytes))) {
            st = qk_error_set(QK_ERR_NOMEM, "ptq: no memory for %zu bytes", lin->n_bytes);
            goto done;
        }
        if (!tr->is_block) { /* a float type: what the file will hold */
            st = qk_convert(QK_TYPE_F32, w, lin->type, lin->blocks, n);
            if (st == QK_OK) st = qk_convert(lin->type, lin->blocks, QK_TYPE_F32, w, n);
            goto done;
        }
        imp = importance_of(s, lin);
        if (h && qk_gptq_block_type_supported(lin->type) && cols % tr->block_elems == 0) {
            qk_gptq_options g = opt->gptq;
            if (imp) g.importance = imp;
            st = qk_gptq_quantize_blocks(lin->type, w, rows, cols, h, &g, lin->blocks, w,
                                         &lin->report);
            lin->gptq = st == QK_OK;
        } else {
            st = qk_quantize_rows(lin->type, w, lin->blocks, rows, cols, imp);
            if (st == QK_OK) st = dequantize_rows(lin->type, lin->blocks, w, rows, cols);
        }
    }
    if (st == QK_OK && orig) st = measure(s, lin, orig, w, h, imp);
done:
    s->result->gptq_seconds += qk_time_seconds() - t0;
    free(orig);
    free(imp);
    return st;
}

/* AWQ's quantize-dequantize: round-to-nearest onto the linear's target
** (the affine grid, or its planned GGUF type with the imatrix importance). */
static qk_status awq_qdq(void *user, int32_t layer, qk_llama_linear which, float *w, int64_t rows,
                         int64_t cols) {
    const qk_ptq_state *s = user;
    if (layer < 0 || layer >= s->hp.n_layer || which < 0 || which >= QK_LINEAR_OUTPUT)
        return qk_error_set(QK_ERR_INVALID_ARG, "ptq awq: linear %d of layer %d", (int)which,
                            layer);
    const qk_ptq_linear *lin = &s->result->linears[(size_t)layer * 7 + which];
    if (lin->rows != rows || lin->cols != cols)
        return qk_error_set(QK_ERR_SHAPE, "ptq awq: '%s' is %lld x %lld, not %lld x %lld",
                            lin->name, (long long)rows, (long long)cols, (long long)lin->rows,
                            (long long)lin->cols);
    float *imp = importance_of(s, lin);
    const size_t n = (size_t)(rows * cols);
    float *orig = malloc(n * sizeof *orig);
    qk_status st = orig ? QK_OK : qk_error_set(QK_ERR_NOMEM, "ptq awq: no memory");
    if (st == QK_OK) {
        memcpy(orig, w, n * sizeof *orig);
        st = rtn_into(s, lin, orig, w, imp);
    }
    free(orig);
    free(imp);
    return st;
}

/* Record a replaced plain tensor (AWQ's folded norm or bias). */
static qk_status record_tensor(qk_ptq_result *r, int32_t l, const char *suffix,
                               const qk_tensor_view *v) {
    if (!v->data) return QK_OK;
    int64_t n = 1;
    for (int32_t d = 0; d < v->ndim; d++) n *= v->shape[d];
    qk_ptq_tensor *t = realloc(r->tensors, (r->n_tensors + 1) * sizeof *t);
    if (!t) return qk_error_set(QK_ERR_NOMEM, "ptq: no memory");
    r->tensors = t;
    t = &r->tensors[r->n_tensors];
    snprintf(t->name, sizeof t->name, "blk.%d.%s", (int)l, suffix);
    t->numel = n;
    if (!(t->data = malloc((size_t)n * sizeof *t->data)))
        return qk_error_set(QK_ERR_NOMEM, "ptq: no memory");
    memcpy(t->data, v->data, (size_t)n * sizeof *t->data);
    r->n_tensors++;
    return QK_OK;
}

qk_status qk_ptq_awq_layer(qk_ptq_state *s, int32_t l, qk_llama_layer_weights *lw) {
    qk_ptq_result *r = s->result;
    if (!r->awq && !(r->awq = calloc((size_t)s->hp.n_layer, sizeof *r->awq)))
        return qk_error_set(QK_ERR_NOMEM, "ptq: no memory");
    qk_awq_options ao = s->opt->awq;
    ao.qdq = awq_qdq;
    ao.qdq_user = s;
    const qk_ptq_linear *q = &r->linears[(size_t)l * 7 + QK_LINEAR_Q];
    if (q->type == QK_TYPE_COUNT) {
        ao.group_size = s->opt->gptq.group_size;
    } else {
        qk_weight_format f = {.kind = QK_WFORMAT_GGML, .ggml_type = q->type};
        const int32_t g = qk_weight_format_group(&f, q->cols);
        ao.group_size = g >= q->cols ? 0 : g;
    }
    const double t0 = qk_time_seconds();
    qk_status st =
        qk_awq_apply_layer(&s->hp, l, lw, s->x, s->n_samples, s->sample_len, &ao, &r->awq[l]);
    r->awq_seconds += qk_time_seconds() - t0;
    if (st == QK_OK) st = record_tensor(r, l, "attn_norm.weight", &lw->attn_norm);
    if (st == QK_OK) st = record_tensor(r, l, "ffn_norm.weight", &lw->ffn_norm);
    if (st == QK_OK) st = record_tensor(r, l, "attn_v.bias", &lw->bv);
    return st;
}
