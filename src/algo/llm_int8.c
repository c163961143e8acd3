/*
** LLM.int8 (Dettmers et al. 2022), as bitsandbytes' MatMul8bitLt computes
** it: int8 weights per output row, activations per token with the batch's
** outlier columns (some |x| >= threshold) multiplied in 16 bits.
*/
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/algo.h"
#include "quantkit/kernels.h"

struct qk_llm_int8_linear {
    int64_t out, in;
    int8_t *wq;    /* [out, in] round(w * (127 / absmax)) */
    float *wmax;   /* [out] row absmax (bitsandbytes' SCB) */
    uint16_t *w16; /* [out, in] f16 weights of the outlier path */
    float threshold;
    qk_llm_int8_stats *stats;
};

void qk_llm_int8_options_default(qk_llm_int8_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->threshold = 6.0f;
    opt->fp16_weights = true;
}

void qk_llm_int8_linear_free(qk_llm_int8_linear *l) {
    if (!l) return;
    free(l->wq);
    free(l->wmax);
    free(l->w16);
    free(l);
}

qk_status qk_llm_int8_linear_create(const qk_tensor_view *w, const qk_llm_int8_options *opt,
                                    qk_llm_int8_linear **out) {
    if (!w || !opt || !out) return qk_error_set(QK_ERR_INVALID_ARG, "llm.int8: NULL argument");
    *out = NULL;
    if (w->ndim != 2 || !w->data || w->shape[0] <= 0 || w->shape[1] <= 0)
        return qk_error_set(QK_ERR_SHAPE, "llm.int8: weight must be a non-empty 2-D view");
    const int64_t O = w->shape[0], IN = w->shape[1];
    qk_llm_int8_linear *l = calloc(1, sizeof *l);
    float *row = malloc((size_t)IN * sizeof *row);
    size_t n;
    if (!l || !row || !qk_mul_size((size_t)O, (size_t)IN, &n)) {
        free(l);
        free(row);
        return qk_error_set(QK_ERR_NOMEM, "llm.int8: no memory");
    }
    l->out = O;
    l->in = IN;
    l->threshold = opt->threshold;
    l->stats = opt->stats;
    l->wq = malloc(n);
    l->wmax = malloc((size_t)O * sizeof *l->wmax);
    l->w16 = malloc(n * sizeof *l->w16);
    qk_status st = QK_OK;
    if (!l->wq || !l->wmax || !l->w16) st = qk_error_set(QK_ERR_NOMEM, "llm.int8: no memory");
    for (int64_t r = 0; r < O && st == QK_OK; r++) {
        if ((st = qk_weight_row_f32(w, r, row)) != QK_OK) break;
        /* the weight: int8_vectorwise_quant without outliers */
        st = qk_int8_vectorwise_quant(row, 1, IN, 0.0f, l->wq + (size_t)r * IN, &l->wmax[r], NULL,
                                      NULL);
        if (st != QK_OK) break;
        uint16_t *h = l->w16 + (size_t)r * IN;
        if (opt->fp16_weights) {
            for (int64_t c = 0; c < IN; c++) h[c] = qk_f32_to_f16(row[c]);
        } else { /* bitsandbytes' int8_vectorwise_dequant: CB * SCB * (1/127) */
            const int8_t *q = l->wq + (size_t)r * IN;
            for (int64_t c = 0; c < IN; c++)
                h[c] = qk_f32_to_f16((float)q[c] * l->wmax[r] * 7.874015718698502e-3f);
        }
    }
    free(row);
    if (st != QK_OK) {
        qk_llm_int8_linear_free(l);
        return qk_error_prefix("llm.int8 weight");
    }
    *out = l;
    return QK_OK;
}

qk_status qk_llm_int8_linear_matmul(qk_llm_int8_linear *l, const float *x, int64_t n_rows,
                                    float *y) {
    if (!l || (!x && n_rows > 0) || (!y && n_rows > 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "llm.int8 matmul: NULL argument");
    if (n_rows <= 0) return QK_OK;
    const int64_t O = l->out, IN = l->in;
    int8_t *codes = malloc((size_t)n_rows * (size_t)IN);
    float *rmax = malloc((size_t)n_rows * sizeof *rmax);
    uint8_t *flags = malloc((size_t)IN);
    int32_t *acc = malloc((size_t)n_rows * (size_t)O * sizeof *acc);
    int64_t *cols = malloc((size_t)IN * sizeof *cols);
    float *xo = NULL;
    qk_status st = QK_OK;
    int64_t n_out = 0;
    if (!codes || !rmax || !flags || !acc || !cols) {
        st = qk_error_set(QK_ERR_NOMEM, "llm.int8 matmul: no memory for %lld rows",
                          (long long)n_rows);
        goto done;
    }
    if ((st = qk_int8_vectorwise_quant(x, n_rows, IN, l->threshold, codes, rmax, flags, &n_out)) !=
        QK_OK)
        goto done;
    if ((st = qk_int8_gemm(codes, l->wq, n_rows, O, IN, acc)) != QK_OK) goto done;
    for (int64_t t = 0; t < n_rows; t++)
        for (int64_t o = 0; o < O; o++) {
            const size_t k = (size_t)t * O + o;
            /* bitsandbytes' default backend multiplies by 6.200124e-05, a
            ** rounding of 1/127^2 off by 1.8e-5 relative; the exact one here */
            y[k] = ((float)acc[k] * (rmax[t] * l->wmax[o])) * (1.0f / 16129.0f);
        }
    if (n_out > 0) {
        /* the outlier columns in 16 bits: x and w rounded to f16, gathered
        ** into [n_rows, n_out] and [O, n_out] f32 matrices, their product
        ** (f32 accumulation, as bitsandbytes' f16 matmul) added to y */
        int64_t m = 0;
        for (int64_t c = 0; c < IN; c++)
            if (flags[c]) cols[m++] = c;
        size_t nx, nw;
        if (!qk_mul_size((size_t)n_rows, (size_t)n_out, &nx) ||
            !qk_mul_size((size_t)O, (size_t)n_out, &nw) || !(xo = malloc((nx + nw) * sizeof *xo))) {
            st = qk_error_set(QK_ERR_NOMEM, "llm.int8 matmul: no memory");
            goto done;
        }
        float *wo = xo + nx;
        for (int64_t t = 0; t < n_rows; t++)
            for (int64_t j = 0; j < n_out; j++)
                xo[(size_t)t * n_out + j] =
                    qk_f16_to_f32(qk_f32_to_f16(x[(size_t)t * IN + cols[j]]));
#pragma omp parallel for schedule(static) if (O * n_out > (1 << 16))
        for (int64_t o = 0; o < O; o++) {
            const uint16_t *h = l->w16 + (size_t)o * IN;
            for (int64_t j = 0; j < n_out; j++)
                wo[(size_t)o * n_out + j] = qk_f16_to_f32(h[cols[j]]);
        }
        if (n_rows > INT32_MAX || O > INT32_MAX || n_out > INT32_MAX) {
            st = qk_error_set(QK_ERR_SHAPE, "llm.int8 matmul: %lld x %lld x %lld too large",
                              (long long)n_rows, (long long)O, (long long)n_out);
            goto done;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_rows, (int)O, (int)n_out, 1.0f,
                    xo, (int)n_out, wo, (int)n_out, 1.0f, y, (int)O);
    }
    if (l->stats) {
#pragma omp atomic
        l->stats->calls += 1;
#pragma omp atomic
        l->stats->outlier_cols += n_out;
#pragma omp critical(qk_llm_int8_stats)
        if (n_out > l->stats->max_outlier_cols) l->stats->max_outlier_cols = n_out;
    }
done:
    free(codes);
    free(rmax);
    free(flags);
    free(acc);
    free(cols);
    free(xo);
    return st;
}

/* ---- the model ------------------------------------------------------------ */

static qk_status kernel_matmul(void *state, const float *x, int64_t n_rows, float *y) {
    return qk_llm_int8_linear_matmul(state, x, n_rows, y);
}

static void kernel_free(void *state) {
    qk_llm_int8_linear_free(state);
}

static qk_status install(qk_llama_model *model, int32_t layer, qk_llama_linear which,
                         const qk_tensor_view *w, const qk_llm_int8_options *opt) {
    qk_llm_int8_linear *l;
    qk_status st = qk_llm_int8_linear_create(w, opt, &l);
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

qk_status qk_llm_int8_apply(qk_llama_model *model, const qk_llm_int8_options *opt) {
    if (!model || !opt) return qk_error_set(QK_ERR_INVALID_ARG, "llm.int8: NULL argument");
    const qk_llama_hparams *hp = qk_llama_model_hparams(model);
    qk_status st = QK_OK;
    for (int32_t l = 0; l < hp->n_layer && st == QK_OK; l++) {
        const qk_llama_layer_weights *lw = qk_llama_model_layer(model, l);
        const qk_tensor_view *views[QK_LINEAR_OUTPUT] = {
            &lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_up, &lw->w_down};
        for (int w = 0; w < QK_LINEAR_OUTPUT && st == QK_OK; w++)
            st = install(model, l, (qk_llama_linear)w, views[w], opt);
    }
    if (st == QK_OK && opt->include_output)
        st = install(model, -1, QK_LINEAR_OUTPUT, qk_llama_model_output(model), opt);
    return st;
}
