/*
** GPTQ's solver, shared by the affine and block-format targets: prepare H
** (dead columns, act-order, damping raised on failure, the upper Cholesky
** factor of H^-1 with LAPACK) and run the lazy-block column loop over row
** tiles (BLAS for the block products).
*/
#include <cblas.h>   /* cblas_dgemm */
#include <lapacke.h> /* LAPACKE_dpotrf, LAPACKE_dpotri */
#include <math.h>    /* isfinite */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>
#include <string.h>

#include "algo/gptq_internal.h"
#include "core/error.h"
#include "quantkit/kernels.h"

void qk_gptq_options_init(qk_gptq_options *o) {
    memset(o, 0, sizeof *o);
    o->bits = 4;
    o->group_size = 128;
    o->symmetric = false;
    o->scale_type = QK_TYPE_F16;
    o->damp = 0.01;
    o->damp_max = 1.0;
    o->block_size = 128;
}

void qk_gptq_prep_free(qk_gptq_prep *p) {
    if (!p) return;
    qk_aligned_free(p->u);
    free(p->perm);
    free(p->dead);
    memset(p, 0, sizeof *p);
}

/* Stable sort of positions by diag descending (merge sort). */
static void sort_desc(int64_t *idx, int64_t *tmp, int64_t n, const double *diag) {
    if (n < 2) return;
    const int64_t m = n / 2;
    sort_desc(idx, tmp, m, diag);
    sort_desc(idx + m, tmp, n - m, diag);
    int64_t i = 0, j = m, k = 0;
    while (i < m && j < n) tmp[k++] = diag[idx[j]] > diag[idx[i]] ? idx[j++] : idx[i++];
    while (i < m) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
}

/* U with U^T U = (A + damp I)^-1 into a (row-major, upper; lower part
** zeroed). a holds A + damp I on entry. Returns false when a factorisation
** fails. A symmetric matrix is the same in both storage orders, so the
** column-major LAPACK calls use the swapped triangle: column-major 'U' is
** row-major lower. */
static bool inverse_factor(double *a, int64_t n) {
    const lapack_int N = (lapack_int)n;
    double mean = 0.0;
    for (int64_t i = 0; i < n; i++) mean += a[i * n + i];
    mean /= (double)n;
    /* H = L L^T (row-major lower); a pivot below 1e-12 of the mean diagonal
    ** is a singular matrix that rounding let through */
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', N, a, N) != 0) return false;
    for (int64_t i = 0; i < n; i++)
        if (!(a[i * n + i] * a[i * n + i] > 1e-12 * mean)) return false;
    /* H^-1 in the row-major lower triangle */
    if (LAPACKE_dpotri(LAPACK_COL_MAJOR, 'U', N, a, N) != 0) return false;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) a[i * n + j] = a[j * n + i];
    /* H^-1 = U^T U, U in the row-major upper triangle */
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', N, a, N) != 0) return false;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) a[i * n + j] = 0.0;
    for (int64_t i = 0; i < n * n; i++)
        if (!(a[i] == a[i])) return false; /* NaN from a degenerate pivot */
    return true;
}

qk_status qk_gptq_prepare(const double *h, int64_t cols, const qk_gptq_options *opt, bool act_order,
                          qk_gptq_prep *p) {
    memset(p, 0, sizeof *p);
    if (cols <= 0 || cols > INT32_MAX)
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq: %lld columns", (long long)cols);
    if (!(opt->damp >= 0.0) || !(opt->damp_max >= opt->damp))
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq: damp %g with limit %g", opt->damp,
                            opt->damp_max);
    const size_t n = (size_t)cols;
    if (n > SIZE_MAX / n / sizeof(double))
        return qk_error_set(QK_ERR_OVERFLOW, "gptq: %lld columns", (long long)cols);
    p->cols = cols;
    double *hw = qk_aligned_alloc(64, n * n * sizeof *hw);
    double *diag = malloc(n * sizeof *diag);
    p->u = qk_aligned_alloc(64, n * n * sizeof *p->u);
    p->dead = calloc(n, 1);
    if (act_order) p->perm = malloc(n * sizeof *p->perm);
    int64_t *tmp = act_order ? malloc(n * sizeof *tmp) : NULL;
    qk_status st = QK_OK;
    if (!hw || !diag || !p->u || !p->dead || (act_order && (!p->perm || !tmp))) {
        st = qk_error_set(QK_ERR_NOMEM, "gptq: no memory for a %lld x %lld Hessian",
                          (long long)cols, (long long)cols);
        goto done;
    }
    for (size_t i = 0; i < n * n; i++) {
        if (!isfinite(h[i])) {
            st = qk_error_set(QK_ERR_NONFINITE, "gptq: H[%zu][%zu] is %g", i / n, i % n, h[i]);
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        diag[i] = h[i * n + i];
        if (diag[i] == 0.0) {
            diag[i] = 1.0;
            p->dead[i] = 1;
            p->dead_cols++;
        }
    }
    if (act_order) {
        for (size_t i = 0; i < n; i++) p->perm[i] = (int64_t)i;
        sort_desc(p->perm, tmp, cols, diag);
    }
    double mean = 0.0;
    for (size_t i = 0; i < n; i++) mean += diag[i];
    mean /= (double)n;
    double damp = opt->damp;
    qk_blas_single_thread();
    for (;;) {
        /* permuted, damped H with the dead diagonal set to 1 (their rows
        ** and columns are zero, as a dead input is always 0) */
        for (size_t i = 0; i < n; i++) {
            const size_t pi = p->perm ? (size_t)p->perm[i] : i;
            for (size_t j = 0; j < n; j++) {
                const size_t pj = p->perm ? (size_t)p->perm[j] : j;
                hw[i * n + j] = h[pi * n + pj];
            }
            hw[i * n + i] = diag[pi] + damp * mean;
        }
        memcpy(p->u, hw, n * n * sizeof *hw);
        if (inverse_factor(p->u, cols)) break;
        const double next = damp > 0.0 ? damp * 10.0 : 1e-4;
        if (next > opt->damp_max) {
            st = qk_error_set(QK_ERR_NUMERIC,
                              "gptq: the %lld x %lld Hessian is not positive definite even with "
                              "damping %g of its mean diagonal (limit %g)",
                              (long long)cols, (long long)cols, damp, opt->damp_max);
            goto done;
        }
        damp = next;
        p->raises++;
    }
    p->damp = damp;
done:
    qk_aligned_free(hw);
    free(diag);
    free(tmp);
    if (st != QK_OK) qk_gptq_prep_free(p);
    return st;
}

qk_status qk_gptq_working(const float *w, int64_t rows, int64_t cols, const qk_gptq_prep *p,
                          double **out) {
    size_t n;
    if (!qk_mul_size((size_t)rows, (size_t)cols, &n) || !qk_mul_size(n, sizeof(double), &n))
        return qk_error_set(QK_ERR_OVERFLOW, "gptq: %lld x %lld", (long long)rows, (long long)cols);
    double *wd = qk_aligned_alloc(64, n);
    if (!wd)
        return qk_error_set(QK_ERR_NOMEM, "gptq: no memory for a %lld x %lld weight",
                            (long long)rows, (long long)cols);
    for (int64_t r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * cols;
        double *dr = wd + (size_t)r * cols;
        for (int64_t c = 0; c < cols; c++) {
            const int64_t o = p->perm ? p->perm[c] : c;
            if (!isfinite(wr[o])) {
                qk_aligned_free(wd);
                return qk_error_set(QK_ERR_NONFINITE, "gptq: weight row %lld column %lld is %g",
                                    (long long)r, (long long)o, (double)wr[o]);
            }
            dr[c] = p->dead[o] ? 0.0 : (double)wr[o];
        }
    }
    *out = wd;
    return QK_OK;
}

qk_status qk_gptq_run_tile(const qk_gptq_prep *p, double *wd, int64_t r0, int64_t r1,
                           int32_t block_size, const qk_gptq_target *t, double *err, double *loss) {
    const int64_t cols = p->cols, nr = r1 - r0;
    const double *u = p->u;
    double tile_loss = 0.0;
    for (int64_t i1 = 0; i1 < cols; i1 += block_size) {
        const int64_t i2 = i1 + block_size < cols ? i1 + block_size : cols;
        const int64_t nb = i2 - i1;
        for (int64_t c = i1; c < i2; c++) {
            qk_status st = t->begin_column(t->ctx, c, r0, r1, wd + (size_t)r0 * cols);
            if (st != QK_OK) return st;
            const double d = u[(size_t)c * cols + c];
            const double *uc = u + (size_t)c * cols;
            for (int64_t r = 0; r < nr; r++) {
                double *wr = wd + (size_t)(r0 + r) * cols;
                const double w = wr[c];
                const double q = t->quantize(t->ctx, r0 + r, c, w);
                const double e = (w - q) / d;
                tile_loss += (w - q) * (w - q) / (d * d);
                err[r * nb + (c - i1)] = e;
                wr[c] = q;
                for (int64_t k = c + 1; k < i2; k++) wr[k] -= e * uc[k];
            }
        }
        if (i2 < cols)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)(cols - i2),
                        (int)nb, -1.0, err, (int)nb, u + (size_t)i1 * cols + i2, (int)cols, 1.0,
                        wd + (size_t)r0 * cols + i2, (int)cols);
    }
    *loss += tile_loss / 2.0;
    return QK_OK;
}

qk_status qk_gptq_run(const qk_gptq_prep *p, double *wd, int64_t rows, int32_t block_size,
                      const qk_gptq_target *t, double *loss) {
    const int64_t n_tiles = (rows + QK_GPTQ_ROW_TILE - 1) / QK_GPTQ_ROW_TILE;
    double *part = calloc((size_t)n_tiles, sizeof *part);
    if (!part) return qk_error_set(QK_ERR_NOMEM, "gptq: no memory");
    qk_status status = QK_OK;
    char message[512] = "";
    qk_blas_single_thread();
#pragma omp parallel
    {
        double *err = malloc((size_t)QK_GPTQ_ROW_TILE * (size_t)block_size * sizeof *err);
        if (!err) {
#pragma omp critical(qk_gptq_status)
            {
                if (status == QK_OK) {
                    status = QK_ERR_NOMEM;
                    snprintf(message, sizeof message, "gptq: no memory for a row tile");
                }
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < n_tiles; k++) {
            if (!err) continue;
            const int64_t r0 = k * QK_GPTQ_ROW_TILE;
            const int64_t r1 = r0 + QK_GPTQ_ROW_TILE < rows ? r0 + QK_GPTQ_ROW_TILE : rows;
            qk_status st = qk_gptq_run_tile(p, wd, r0, r1, block_size, t, err, &part[k]);
            if (st != QK_OK) {
                /* the message is this thread's: carry it to the caller's */
#pragma omp critical(qk_gptq_status)
                {
                    if (status == QK_OK) {
                        status = st;
                        snprintf(message, sizeof message, "%s", qk_last_error());
                    }
                }
            }
        }
        free(err);
    }
    if (status != QK_OK) {
        free(part);
        return qk_error_set(status, "%s", message);
    }
    double s = 0.0;
    for (int64_t k = 0; k < n_tiles; k++) s += part[k];
    free(part);
    *loss = s;
    return status;
}
