/*
** AWQ's clip search (llm-awq auto_clip.py, AutoAWQ _search_best_clip): for
** every output row and group of input columns, shrink the group's range to
** max|w| * (1 - i / n_grid) and keep the candidate whose quantized group
** reproduces that group's partial output x_g . w_g best on sample tokens.
**
** The error of a row group for a weight difference d_g = qdq(clip(w))_g -
** w_g is mean_t (x_t,g . d_g)^2 = d_g^T G_g d_g with G_g = X_g^T X_g / n:
** when the group is narrower than the token count this Gram form is the
** cheaper one (rows * group^2 per group), else the direct product
** (rows * tokens * group). Both are single-threaded sgemm calls inside an
** OpenMP loop over groups.
*/
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/awq_internal.h"
#include "core/error.h"
#include "quantkit/kernels.h"

typedef struct clip_groups {
    int64_t rows, cols, gs, n_groups, n_tok;
    const float *x; /* [n_tok, cols] */
    bool gram;      /* Gram form (gs <= n_tok) */
    float *G;       /* [n_groups][gs * gs] Gram matrices / n_tok */
} clip_groups;

static int64_t group_width(const clip_groups *cg, int64_t g) {
    const int64_t c0 = g * cg->gs;
    return cg->cols - c0 < cg->gs ? cg->cols - c0 : cg->gs;
}

/* err[r * n_groups + g] = error of row r, group g for the difference d
** [rows, cols]. */
static qk_status group_errors(const clip_groups *cg, const float *d, double *err) {
    const int64_t rows = cg->rows, cols = cg->cols, gs = cg->gs, nt = cg->n_tok;
    bool failed = false;
    qk_blas_single_thread();
#pragma omp parallel
    {
        const size_t tmp_n = cg->gram ? (size_t)rows * (size_t)gs : (size_t)nt * (size_t)rows;
        float *tmp = malloc(tmp_n * sizeof(float));
        if (!tmp) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for schedule(dynamic)
        for (int64_t g = 0; g < cg->n_groups; g++) {
            if (!tmp) continue;
            const int64_t c0 = g * gs, w = group_width(cg, g);
            if (cg->gram) {
                /* tmp = D_g G_g, err = rowwise <tmp, D_g> */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)w, (int)w,
                            1.0f, d + c0, (int)cols, cg->G + (size_t)g * gs * gs, (int)w, 0.0f, tmp,
                            (int)w);
                for (int64_t r = 0; r < rows; r++) {
                    double s = 0.0;
                    for (int64_t c = 0; c < w; c++)
                        s += (double)tmp[(size_t)r * w + c] * d[(size_t)r * cols + c0 + c];
                    err[(size_t)r * cg->n_groups + g] = s;
                }
            } else {
                /* tmp = X_g D_g^T [n_tok, rows], err = column mean of squares */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nt, (int)rows, (int)w,
                            1.0f, cg->x + c0, (int)cols, d + c0, (int)cols, 0.0f, tmp, (int)rows);
                for (int64_t r = 0; r < rows; r++) {
                    double s = 0.0;
                    for (int64_t t = 0; t < nt; t++) {
                        const double v = tmp[(size_t)t * rows + r];
                        s += v * v;
                    }
                    err[(size_t)r * cg->n_groups + g] = s / (double)nt;
                }
            }
        }
        free(tmp);
    }
    if (failed) return qk_error_set(QK_ERR_NOMEM, "awq clip: no memory for group errors");
    return QK_OK;
}

static qk_status build_gram(clip_groups *cg) {
    const int64_t gs = cg->gs;
    cg->G = malloc((size_t)cg->n_groups * (size_t)gs * (size_t)gs * sizeof(float));
    if (!cg->G) return qk_error_set(QK_ERR_NOMEM, "awq clip: no memory for Gram matrices");
    qk_blas_single_thread();
#pragma omp parallel for schedule(dynamic)
    for (int64_t g = 0; g < cg->n_groups; g++) {
        const int64_t w = group_width(cg, g);
        float *G = cg->G + (size_t)g * gs * gs;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)w, (int)w, (int)cg->n_tok,
                    1.0f / (float)cg->n_tok, cg->x + g * gs, (int)cg->cols, cg->x + g * gs,
                    (int)cg->cols, 0.0f, G, (int)w);
    }
    return QK_OK;
}

/* dst = clamp(w, -amax * ratio, amax * ratio) per row group. */
static void clamp_groups(const clip_groups *cg, const float *w, const float *bound, float *dst) {
#pragma omp parallel for schedule(static) if (cg->rows * cg->cols > (1 << 16))
    for (int64_t r = 0; r < cg->rows; r++)
        for (int64_t g = 0; g < cg->n_groups; g++) {
            const float m = bound[(size_t)r * cg->n_groups + g];
            const int64_t c0 = g * cg->gs, n = group_width(cg, g);
            for (int64_t c = c0; c < c0 + n; c++) {
                const float v = w[(size_t)r * cg->cols + c];
                dst[(size_t)r * cg->cols + c] = v < -m ? -m : (v > m ? m : v);
            }
        }
}

qk_status qk_awq_clip_linear(const qk_awq_options *opt, int32_t layer, qk_llama_linear which,
                             float *w, int64_t rows, int64_t cols, const float *x, int64_t n_tok,
                             qk_awq_clip_report *report) {
    if (!opt || !opt->qdq || !w || !x || rows <= 0 || cols <= 0 || n_tok <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "awq clip: bad arguments (%lld x %lld, %lld tokens)", (long long)rows,
                            (long long)cols, (long long)n_tok);
    if (rows > INT32_MAX || cols > INT32_MAX || n_tok > INT32_MAX)
        return qk_error_set(QK_ERR_OVERFLOW, "awq clip: %lld x %lld too large", (long long)rows,
                            (long long)cols);
    clip_groups cg;
    memset(&cg, 0, sizeof cg);
    cg.rows = rows;
    cg.cols = cols;
    cg.gs = opt->group_size > 0 && opt->group_size < cols ? opt->group_size : cols;
    cg.n_groups = (cols + cg.gs - 1) / cg.gs;
    cg.n_tok = n_tok;
    cg.x = x;
    cg.gram = cg.gs <= n_tok;
    const size_t n = (size_t)rows * (size_t)cols, ng = (size_t)rows * (size_t)cg.n_groups;
    int32_t n_cand = (int32_t)((float)opt->clip_n_grid * opt->clip_max_shrink);
    if (n_cand < 1) n_cand = 1;

    float *amax = malloc(ng * sizeof(float)), *bound = malloc(ng * sizeof(float));
    float *wc = malloc(n * sizeof(float));
    double *err = malloc(ng * sizeof(double)), *best = malloc(ng * sizeof(double));
    int32_t *best_i = calloc(ng, sizeof(int32_t));
    qk_status st = QK_OK;
    if (!amax || !bound || !wc || !err || !best || !best_i) {
        st = qk_error_set(QK_ERR_NOMEM, "awq clip: no memory for %lld x %lld", (long long)rows,
                          (long long)cols);
        goto done;
    }
    if (cg.gram && (st = build_gram(&cg)) != QK_OK) goto done;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < cg.n_groups; g++) {
            float m = 0.0f;
            const int64_t c0 = g * cg.gs, gw = group_width(&cg, g);
            for (int64_t c = c0; c < c0 + gw; c++) m = fmaxf(m, fabsf(w[(size_t)r * cols + c]));
            amax[(size_t)r * cg.n_groups + g] = m;
        }
    double err_before = 0.0;
    for (int32_t i = 0; i < n_cand; i++) {
        const float ratio = 1.0f - (float)i / (float)opt->clip_n_grid;
        for (size_t k = 0; k < ng; k++) bound[k] = amax[k] * ratio;
        clamp_groups(&cg, w, bound, wc);
        if ((st = opt->qdq(opt->qdq_user, layer, which, wc, rows, cols)) != QK_OK) goto done;
        for (size_t k = 0; k < n; k++) wc[k] -= w[k];
        if ((st = group_errors(&cg, wc, err)) != QK_OK) goto done;
        for (size_t k = 0; k < ng; k++) {
            if (i == 0) {
                best[k] = err[k];
                err_before += err[k];
            } else if (err[k] < best[k]) { /* strict: the first of equal errors wins */
                best[k] = err[k];
                best_i[k] = i;
            }
        }
    }
    /* the chosen ranges together (formats may couple groups: check) */
    int64_t n_clipped = 0;
    double ratio_sum = 0.0;
    for (size_t k = 0; k < ng; k++) {
        const float ratio = 1.0f - (float)best_i[k] / (float)opt->clip_n_grid;
        bound[k] = amax[k] * ratio;
        ratio_sum += ratio;
        n_clipped += best_i[k] > 0;
    }
    double err_after = err_before;
    if (n_clipped > 0) {
        clamp_groups(&cg, w, bound, wc);
        if ((st = opt->qdq(opt->qdq_user, layer, which, wc, rows, cols)) != QK_OK) goto done;
        for (size_t k = 0; k < n; k++) wc[k] -= w[k];
        if ((st = group_errors(&cg, wc, err)) != QK_OK) goto done;
        err_after = 0.0;
        for (size_t k = 0; k < ng; k++) err_after += err[k];
        if (err_after <= err_before) {
            clamp_groups(&cg, w, bound, wc);
            memcpy(w, wc, n * sizeof(float));
        } else { /* coupled groups made the combination worse: keep w */
            err_after = err_before;
            n_clipped = 0;
            ratio_sum = (double)ng;
        }
    }
    if (report) {
        report->searched = true;
        report->err_before = err_before;
        report->err_after = err_after;
        report->mean_ratio = (float)(ratio_sum / (double)ng);
        report->n_clipped = n_clipped;
    }
done:
    if (st != QK_OK) qk_error_prefix("awq clip of blk.%d linear %d", (int)layer, (int)which);
    free(cg.G);
    free(amax);
    free(bound);
    free(wc);
    free(err);
    free(best);
    free(best_i);
    return st;
}
