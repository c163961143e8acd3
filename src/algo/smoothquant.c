/*
** SmoothQuant (Xiao et al. 2022): migrate activation outliers into the
** weights with per-channel scales folded into the preceding norm, then
** W8A8: int8 weights per output channel, int8 activations per token
** (dynamic), int32 accumulation. Rules of the SmoothQuant repository
** (smooth.py, fake_quant.py).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/algo.h"
#include "quantkit/calibrate.h"
#include "quantkit/kernels.h"

void qk_smoothquant_options_default(qk_smoothquant_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->alpha = 0.5f;
    opt->smooth = true;
    opt->w8a8 = true;
}

qk_status qk_smoothquant_scales(const float *act_max, const float *const *w, const int64_t *rows,
                                int n_mats, int64_t cols, float alpha, float *s) {
    if (!act_max || !w || !rows || !s || n_mats <= 0 || cols <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "smoothquant scales: bad arguments");
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return qk_error_set(QK_ERR_INVALID_ARG, "smoothquant: alpha %g outside [0, 1]",
                            (double)alpha);
    for (int64_t j = 0; j < cols; j++) s[j] = 0.0f;
    for (int m = 0; m < n_mats; m++)
        for (int64_t r = 0; r < rows[m]; r++)
            for (int64_t j = 0; j < cols; j++)
                s[j] = fmaxf(s[j], fabsf(w[m][(size_t)r * cols + j])); /* max |W_j| */
    for (int64_t j = 0; j < cols; j++) {
        const float wmax = fmaxf(s[j], 1e-5f);
        const float v = powf(act_max[j], alpha) / powf(wmax, 1.0f - alpha);
        if (!isfinite(v))
            return qk_error_set(QK_ERR_NONFINITE, "smoothquant: scale of channel %lld is %g",
                                (long long)j, (double)v);
        s[j] = fmaxf(v, 1e-5f);
    }
    return QK_OK;
}

/* ---- W8A8 ------------------------------------------------------------------ */

struct qk_w8a8_linear {
    int64_t out, in;
    int8_t *wq; /* [out, in] */
    float *ws;  /* [out] max(absmax, 1e-5) / 127 */
};

void qk_w8a8_linear_free(qk_w8a8_linear *l) {
    if (!l) return;
    free(l->wq);
    free(l->ws);
    free(l);
}

/* Per-row symmetric int8 of x [rows, cols]: scale = max(absmax, 1e-5) /
** 127, q = round(x / scale) (f32 division, half to even). */
static void quantize_rows(const float *x, int64_t rows, int64_t cols, int8_t *q, float *scale) {
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 18))
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        float amax = 0.0f;
        for (int64_t c = 0; c < cols; c++) amax = fmaxf(amax, fabsf(xr[c]));
        const float sc = fmaxf(amax, 1e-5f) / 127.0f;
        scale[r] = sc;
        for (int64_t c = 0; c < cols; c++) {
            float v = nearbyintf(xr[c] / sc);
            v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
            q[(size_t)r * cols + c] = (int8_t)v;
        }
    }
}

static qk_status check_finite(const float *x, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return qk_error_set(QK_ERR_NONFINITE, "w8a8: non-finite %s at index %zu", what, i);
    return QK_OK;
}

qk_status qk_w8a8_linear_create(const qk_tensor_view *w, qk_w8a8_linear **out) {
    if (!w || !out) return qk_error_set(QK_ERR_INVALID_ARG, "w8a8: NULL argument");
    *out = NULL;
    if (w->ndim != 2 || !w->data || w->shape[0] <= 0 || w->shape[1] <= 0)
        return qk_error_set(QK_ERR_SHAPE, "w8a8: weight must be a non-empty 2-D view");
    const int64_t O = w->shape[0], I = w->shape[1];
    qk_w8a8_linear *l = calloc(1, sizeof *l);
    float *row = malloc((size_t)I * sizeof *row);
    size_t n;
    qk_status st = QK_OK;
    if (!l || !row || !qk_mul_size((size_t)O, (size_t)I, &n)) {
        free(l);
        free(row);
        return qk_error_set(QK_ERR_NOMEM, "w8a8: no memory");
    }
    l->out = O;
    l->in = I;
    l->wq = malloc(n);
    l->ws = malloc((size_t)O * sizeof *l->ws);
    if (!l->wq || !l->ws) st = qk_error_set(QK_ERR_NOMEM, "w8a8: no memory");
    for (int64_t r = 0; r < O && st == QK_OK; r++) {
        if ((st = qk_weight_row_f32(w, r, row)) != QK_OK) break;
        if ((st = check_finite(row, (size_t)I, "weight")) != QK_OK) break;
        quantize_rows(row, 1, I, l->wq + (size_t)r * I, &l->ws[r]);
    }
    free(row);
    if (st != QK_OK) {
        qk_w8a8_linear_free(l);
        return st;
    }
    *out = l;
    return QK_OK;
}

qk_status qk_w8a8_linear_matmul(qk_w8a8_linear *l, const float *x, int64_t n_rows, float *y) {
    if (!l || (!x && n_rows > 0) || (!y && n_rows > 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "w8a8 matmul: NULL argument");
    if (n_rows <= 0) return QK_OK;
    const int64_t O = l->out, I = l->in;
    qk_status st = check_finite(x, (size_t)n_rows * (size_t)I, "activation");
    if (st != QK_OK) return st;
    int8_t *q = malloc((size_t)n_rows * (size_t)I);
    float *sx = malloc((size_t)n_rows * sizeof *sx);
    int32_t *acc = malloc((size_t)n_rows * (size_t)O * sizeof *acc);
    if (!q || !sx || !acc) {
        st = qk_error_set(QK_ERR_NOMEM, "w8a8 matmul: no memory for %lld rows", (long long)n_rows);
    } else {
        quantize_rows(x, n_rows, I, q, sx);
        st = qk_int8_gemm(q, l->wq, n_rows, O, I, acc);
        for (int64_t t = 0; st == QK_OK && t < n_rows; t++)
            for (int64_t o = 0; o < O; o++)
                y[(size_t)t * O + o] = (float)acc[(size_t)t * O + o] * (sx[t] * l->ws[o]);
    }
    free(q);
    free(sx);
    free(acc);
    return st;
}

/* ---- the model ---------------------------------------------------------------- */

static qk_status kernel_matmul(void *state, const float *x, int64_t n_rows, float *y) {
    return qk_w8a8_linear_matmul(state, x, n_rows, y);
}

static void kernel_free(void *state) {
    qk_w8a8_linear_free(state);
}

static qk_status install(qk_llama_model *model, int32_t layer, qk_llama_linear which,
                         const qk_tensor_view *w) {
    qk_w8a8_linear *l;
    qk_status st = qk_w8a8_linear_create(w, &l);
    if (st == QK_OK) {
        const qk_linear_kernel k = {kernel_matmul, kernel_free, l};
        st = qk_llama_model_set_linear_kernel(model, layer, which, &k);
    }
    if (st != QK_OK) {
        char name[64];
        return qk_error_prefix("%s", qk_llama_linear_name(layer, which, name, sizeof name));
    }
    return QK_OK;
}

static float *read_f32(const qk_tensor_view *v) {
    const int64_t rows = v->ndim == 2 ? v->shape[0] : 1, cols = v->shape[v->ndim - 1];
    float *p = malloc((size_t)rows * (size_t)cols * sizeof *p);
    if (!p) return NULL;
    if (v->ndim == 1 && v->type == QK_TYPE_F32) {
        memcpy(p, v->data, (size_t)cols * sizeof *p);
        return p;
    }
    for (int64_t r = 0; r < rows; r++)
        if (qk_weight_row_f32(v, r, p + (size_t)r * cols) != QK_OK) {
            free(p);
            return NULL;
        }
    return p;
}

/* Smooth one group: norm (by name) / s, the linears' columns * s. */
static qk_status smooth_group(qk_llama_model *model, const qk_calib_stats *stats, int32_t l,
                              const char *norm_name, const qk_tensor_view *norm,
                              const qk_llama_linear *lin, int n_lin, float alpha) {
    const qk_llama_layer_weights *lw = qk_llama_model_layer(model, l);
    const qk_tensor_view *views[3];
    for (int i = 0; i < n_lin; i++) {
        const qk_tensor_view *all[QK_LINEAR_OUTPUT] = {&lw->wq,     &lw->wk,   &lw->wv,    &lw->wo,
                                                       &lw->w_gate, &lw->w_up, &lw->w_down};
        views[i] = all[lin[i]];
    }
    const int64_t E = norm->shape[0];
    qk_calib_input in;
    qk_status st = qk_calib_stats_get(stats, l, lin[0], &in);
    if (st != QK_OK) return st;
    if (!in.max_abs || in.n_cols != E)
        return qk_error_set(QK_ERR_NOT_FOUND,
                            "smoothquant: blk.%d has no max |x| statistic of %lld columns (collect "
                            "it with qk_calib_collect; statistics files do not keep it)",
                            (int)l, (long long)E);
    float *w[3] = {NULL, NULL, NULL};
    int64_t rows[3];
    float *act = malloc((size_t)E * sizeof *act), *s = malloc((size_t)E * sizeof *s);
    float *nw = read_f32(norm);
    bool ok = act && s && nw;
    for (int i = 0; i < n_lin && ok; i++) {
        rows[i] = views[i]->shape[0];
        ok = (w[i] = read_f32(views[i])) != NULL;
    }
    if (!ok) {
        st = qk_error_set(QK_ERR_NOMEM, "smoothquant: no memory (or unreadable weight) in blk.%d",
                          (int)l);
        goto done;
    }
    for (int64_t j = 0; j < E; j++) act[j] = (float)in.max_abs[j];
    if ((st = qk_smoothquant_scales(act, (const float *const *)w, rows, n_lin, E, alpha, s)) !=
        QK_OK)
        goto done;
    for (int64_t j = 0; j < E; j++) nw[j] /= s[j];
    qk_tensor_view v;
    if ((st = qk_tensor_view_init(&v, QK_TYPE_F32, 1, &E, nw)) != QK_OK ||
        (st = qk_llama_model_set_tensor(model, norm_name, &v)) != QK_OK)
        goto done;
    for (int i = 0; i < n_lin && st == QK_OK; i++) {
        for (int64_t r = 0; r < rows[i]; r++)
            for (int64_t j = 0; j < E; j++) w[i][(size_t)r * E + j] *= s[j];
        const int64_t shape[2] = {rows[i], E};
        if ((st = qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape, w[i])) == QK_OK)
            st = qk_llama_model_replace_linear(model, l, lin[i], &v);
    }
done:
    for (int i = 0; i < 3; i++) free(w[i]);
    free(act);
    free(s);
    free(nw);
    return st;
}

qk_status qk_smoothquant_apply(qk_llama_model *model, const qk_calib_stats *stats,
                               const qk_smoothquant_options *opt) {
    if (!model || !opt || (opt->smooth && !stats))
        return qk_error_set(QK_ERR_INVALID_ARG, "smoothquant: NULL argument");
    const qk_llama_hparams *hp = qk_llama_model_hparams(model);
    static const qk_llama_linear QKV[3] = {QK_LINEAR_Q, QK_LINEAR_K, QK_LINEAR_V};
    static const qk_llama_linear GU[2] = {QK_LINEAR_GATE, QK_LINEAR_UP};
    qk_status st = QK_OK;
    char name[64];
    for (int32_t l = 0; l < hp->n_layer && st == QK_OK; l++) {
        if (opt->smooth) {
            const qk_llama_layer_weights *lw = qk_llama_model_layer(model, l);
            snprintf(name, sizeof name, "blk.%d.attn_norm.weight", (int)l);
            st = smooth_group(model, stats, l, name, &lw->attn_norm, QKV, 3, opt->alpha);
            snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", (int)l);
            if (st == QK_OK)
                st = smooth_group(model, stats, l, name, &lw->ffn_norm, GU, 2, opt->alpha);
            if (st != QK_OK) break;
        }
        if (!opt->w8a8) continue;
        const qk_llama_layer_weights *lw = qk_llama_model_layer(model, l);
        const qk_tensor_view *views[QK_LINEAR_OUTPUT] = {
            &lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_up, &lw->w_down};
        for (int w = 0; w < QK_LINEAR_OUTPUT && st == QK_OK; w++)
            st = install(model, l, (qk_llama_linear)w, views[w]);
    }
    if (st == QK_OK && opt->w8a8 && opt->include_output)
        st = install(model, -1, QK_LINEAR_OUTPUT, qk_llama_model_output(model));
    return st;
}
