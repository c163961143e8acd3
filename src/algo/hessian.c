/*
** GPTQ's Hessian H = 2/n sum x x^T, accumulated as a running average over
** batches of captured input rows, and the H-weighted error of a weight.
*/
#include <cblas.h> /* cblas_sgemm, cblas_dgemm */
#include <math.h>  /* isfinite */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/gptq.h"
#include "quantkit/kernels.h"

/* Edge of the square tiles of H formed by one BLAS call each. */
#define QK_HESSIAN_TILE 256

struct qk_hessian {
    int64_t n_cols;
    int64_t n_rows; /* rows accumulated */
    double *h;      /* [n_cols * n_cols] */
};

qk_status qk_hessian_create(int64_t n_cols, qk_hessian **out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "hessian: NULL output");
    *out = NULL;
    size_t n;
    if (n_cols <= 0 || !qk_mul_size((size_t)n_cols, (size_t)n_cols, &n) ||
        !qk_mul_size(n, sizeof(double), &n))
        return qk_error_set(QK_ERR_INVALID_ARG, "hessian: %lld columns", (long long)n_cols);
    qk_hessian *h = calloc(1, sizeof *h);
    if (!h) return qk_error_set(QK_ERR_NOMEM, "hessian: no memory");
    h->h = qk_aligned_alloc(64, n);
    if (!h->h) {
        free(h);
        return qk_error_set(QK_ERR_NOMEM, "hessian: no memory for %lld x %lld doubles",
                            (long long)n_cols, (long long)n_cols);
    }
    memset(h->h, 0, n);
    h->n_cols = n_cols;
    *out = h;
    return QK_OK;
}

void qk_hessian_free(qk_hessian *h) {
    if (!h) return;
    qk_aligned_free(h->h);
    free(h);
}

void qk_hessian_reset(qk_hessian *h) {
    if (!h) return;
    memset(h->h, 0, (size_t)h->n_cols * (size_t)h->n_cols * sizeof(double));
    h->n_rows = 0;
}

int64_t qk_hessian_cols(const qk_hessian *h) {
    return h ? h->n_cols : 0;
}
int64_t qk_hessian_rows(const qk_hessian *h) {
    return h ? h->n_rows : 0;
}
const double *qk_hessian_data(const qk_hessian *h) {
    return h ? h->h : NULL;
}

qk_status qk_hessian_add(qk_hessian *h, const float *x, int64_t n_rows) {
    if (!h || (!x && n_rows > 0)) return qk_error_set(QK_ERR_INVALID_ARG, "hessian add: NULL");
    if (n_rows < 0 || n_rows > INT32_MAX)
        return qk_error_set(QK_ERR_INVALID_ARG, "hessian add: %lld rows", (long long)n_rows);
    if (n_rows == 0) return QK_OK;
    const int64_t n = h->n_cols;
    for (int64_t i = 0; i < n_rows * n; i++)
        if (!isfinite(x[i]))
            return qk_error_set(QK_ERR_NONFINITE, "hessian add: input row %lld column %lld is %g",
                                (long long)(i / n), (long long)(i % n), (double)x[i]);
    /* running average: old rows weigh n/(n+t), the batch 2/(n+t) */
    const double total = (double)h->n_rows + (double)n_rows;
    const double keep = (double)h->n_rows / total, add = 2.0 / total;
    const int64_t nt = (n + QK_HESSIAN_TILE - 1) / QK_HESSIAN_TILE;
    const int64_t n_pairs = nt * (nt + 1) / 2; /* tiles (ti, tj), ti <= tj */
    bool nomem = false;
    qk_blas_single_thread();
#pragma omp parallel
    {
        float *buf = malloc((size_t)QK_HESSIAN_TILE * QK_HESSIAN_TILE * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            nomem = true;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t p = 0; p < n_pairs; p++) {
            if (!buf) continue;
            /* pair index -> (ti, tj) with ti <= tj, row by row of the upper triangle */
            int64_t ti = 0, rem = p;
            while (rem >= nt - ti) {
                rem -= nt - ti;
                ti++;
            }
            const int64_t tj = ti + rem;
            const int64_t i0 = ti * QK_HESSIAN_TILE, j0 = tj * QK_HESSIAN_TILE;
            const int mi = (int)(n - i0 < QK_HESSIAN_TILE ? n - i0 : QK_HESSIAN_TILE);
            const int mj = (int)(n - j0 < QK_HESSIAN_TILE ? n - j0 : QK_HESSIAN_TILE);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, mi, mj, (int)n_rows, 1.0f, x + i0,
                        (int)n, x + j0, (int)n, 0.0f, buf, mj);
            for (int a = 0; a < mi; a++) {
                /* the diagonal tile keeps its upper half, mirrored, so H is exactly symmetric */
                const int b0 = ti == tj ? a : 0;
                for (int b = b0; b < mj; b++) {
                    double *hu = &h->h[(size_t)(i0 + a) * n + (size_t)(j0 + b)];
                    const double v = *hu * keep + add * (double)buf[(size_t)a * mj + b];
                    *hu = v;
                    h->h[(size_t)(j0 + b) * n + (size_t)(i0 + a)] = v;
                }
            }
        }
        free(buf);
    }
    if (nomem) return qk_error_set(QK_ERR_NOMEM, "hessian add: no memory for a tile");
    h->n_rows += n_rows;
    return QK_OK;
}

/* Rows per tile of the error product. */
#define QK_HERR_TILE 64

qk_status qk_hessian_error(const double *h, const float *a, const float *b, int64_t rows,
                           int64_t cols, double *out) {
    if (!h || !a || !b || !out) return qk_error_set(QK_ERR_INVALID_ARG, "hessian error: NULL");
    if (rows <= 0 || cols <= 0 || cols > INT32_MAX)
        return qk_error_set(QK_ERR_INVALID_ARG, "hessian error: %lld x %lld", (long long)rows,
                            (long long)cols);
    const int64_t n_tiles = (rows + QK_HERR_TILE - 1) / QK_HERR_TILE;
    double *part = calloc((size_t)n_tiles, sizeof *part);
    if (!part) return qk_error_set(QK_ERR_NOMEM, "hessian error: no memory");
    bool nomem = false;
    qk_blas_single_thread();
#pragma omp parallel
    {
        double *d = malloc((size_t)QK_HERR_TILE * (size_t)cols * sizeof *d);
        double *e = malloc((size_t)QK_HERR_TILE * (size_t)cols * sizeof *e);
        if (!d || !e) {
#pragma omp atomic write
            nomem = true;
        }
#pragma omp for schedule(static)
        for (int64_t t = 0; t < n_tiles; t++) {
            if (!d || !e) continue;
            const int64_t r0 = t * QK_HERR_TILE;
            const int m = (int)(rows - r0 < QK_HERR_TILE ? rows - r0 : QK_HERR_TILE);
            for (int64_t i = 0; i < (int64_t)m * cols; i++)
                d[i] = (double)a[(size_t)r0 * cols + i] - (double)b[(size_t)r0 * cols + i];
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, (int)cols, (int)cols, 1.0, d,
                        (int)cols, h, (int)cols, 0.0, e, (int)cols);
            double s = 0.0;
            for (int64_t i = 0; i < (int64_t)m * cols; i++) s += d[i] * e[i];
            part[t] = s;
        }
        free(d);
        free(e);
    }
    if (nomem) {
        free(part);
        return qk_error_set(QK_ERR_NOMEM, "hessian error: no memory for a tile");
    }
    double s = 0.0;
    for (int64_t t = 0; t < n_tiles; t++) s += part[t];
    free(part);
    *out = s;
    return QK_OK;
}
