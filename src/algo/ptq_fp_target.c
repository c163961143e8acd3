/*
** Full-precision targets for GPTQ (the "asymmetric calibration" of GPTAQ).
**
** GPTQ minimizes ||(W - Q) X_q||^2 over the inputs X_q that the already
** quantized layers produce, so it reproduces W's output on those inputs
** and leaves the error the earlier layers made in X_q uncorrected. The
** model's f32 output is W X_f on the f32 inputs X_f. With tokens as rows,
**   min_Q ||X_f W^T - X_q Q^T||^2
** has, without the grid, the least-squares solution Q* = W (X_f^T X_q) H^-1
** with H = X_q^T X_q, that is
**   W* = W + W D H^-1,   D = (X_f - X_q)^T X_q,
** and the objective equals ||(W* - Q) X_q||^2 plus a constant. So GPTQ run
** on W* with the same H minimizes the error against the f32 layer's output.
** H^-1 is taken with the dampening GPTQ adds (a fraction of its mean
** diagonal): W* is then the least-squares fit with a ridge toward W,
** lambda ||W* - W||^2, which keeps W* at W along directions the data
** barely sees.
*/
#include <cblas.h>   /* cblas_sgemm, cblas_dgemm */
#include <lapacke.h> /* LAPACKE_dposv */
#include <math.h>    /* isfinite */
#include <stdlib.h>
#include <string.h>

#include "algo/ptq_internal.h"
#include "core/error.h"
#include "quantkit/kernels.h"

void qk_ptq_cross_add(double *cross, float *x_fp, const float *x_q, int64_t n_rows, int64_t n_cols,
                      float *tmp) {
    const size_t n = (size_t)n_rows * (size_t)n_cols, c2 = (size_t)n_cols * (size_t)n_cols;
    for (size_t i = 0; i < n; i++) x_fp[i] -= x_q[i]; /* the window's x_fp is used once */
    /* tmp = dx^T x_q in f32 for one window, summed into the double total */
    qk_blas_single_thread();
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_cols, (int)n_cols, (int)n_rows,
                1.0f, x_fp, (int)n_cols, x_q, (int)n_cols, 0.0f, tmp, (int)n_cols);
    for (size_t i = 0; i < c2; i++) cross[i] += tmp[i];
}

qk_status qk_ptq_fp_target(float *w, int64_t rows, int64_t cols, const double *h,
                           const double *cross, int64_t n_tokens, double damp) {
    if (n_tokens <= 0) return QK_OK;
    const size_t n = (size_t)cols, c2 = n * n, rc = (size_t)rows * n;
    double *a = malloc(c2 * sizeof *a), *x = malloc(c2 * sizeof *x);
    double *wd = malloc(rc * sizeof *wd), *wz = malloc(rc * sizeof *wz);
    qk_status st = QK_OK;
    if (!a || !x || !wd || !wz) {
        st = qk_error_set(QK_ERR_NOMEM, "ptq: no memory for the full-precision target");
        goto done;
    }
    /* h is GPTQ's H = 2/n sum x x^T: the cross sum takes the same factor */
    double mean = 0.0;
    for (size_t i = 0; i < n; i++) mean += h[i * n + i];
    mean /= (double)n;
    if (!(mean > 0.0)) goto done; /* no input seen: nothing to correct */
    const double f = 2.0 / (double)n_tokens;
    memcpy(a, h, c2 * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        a[i * n + i] += damp * mean;
        /* dead inputs (always 0 on the quantized side) get a unit pivot */
        if (h[i * n + i] == 0.0) a[i * n + i] = 1.0;
    }
    /* X = (H + damp)^-1 D^T, so W D H^-1 = W X^T (H symmetric) */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) x[i * n + j] = f * cross[j * n + i];
    if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)n, (lapack_int)n, a, (lapack_int)n, x,
                      (lapack_int)n) != 0) {
        st = qk_error_set(QK_ERR_NUMERIC,
                          "ptq: the damped %lld x %lld Hessian is not positive definite "
                          "(full-precision target)",
                          (long long)cols, (long long)cols);
        goto done;
    }
    for (size_t i = 0; i < rc; i++) wd[i] = w[i];
    qk_blas_single_thread();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)cols, 1.0, wd,
                (int)cols, x, (int)cols, 0.0, wz, (int)cols);
    for (size_t i = 0; i < rc; i++) {
        const double v = wd[i] + wz[i];
        if (!isfinite(v) || !isfinite((float)v)) {
            st = qk_error_set(QK_ERR_NUMERIC,
                              "ptq: full-precision target of row %lld column %lld is %g",
                              (long long)(i / n), (long long)(i % n), v);
            goto done;
        }
    }
    for (size_t i = 0; i < rc; i++) w[i] = (float)(wd[i] + wz[i]);
done:
    free(a);
    free(x);
    free(wd);
    free(wz);
    return st;
}
