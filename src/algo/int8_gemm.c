/*
** Int8 building blocks: an exact int8 x int8 -> int32 matrix product and
** bitsandbytes' vector-wise int8 quantization with outlier columns.
*/
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/algo.h"
#include "quantkit/kernels.h"

/* Columns per exact f32 block: 1024 * 128 * 128 = 2^24. */
#define QK_INT8_KBLOCK 1024
/* Output columns per work item (fixed: results never depend on threads,
** and they are exact anyway). */
#define QK_INT8_TILE 64

qk_status qk_int8_gemm(const int8_t *a, const int8_t *b, int64_t m, int64_t n, int64_t k,
                       int32_t *c) {
    if ((!a && m * k > 0) || (!b && n * k > 0) || (!c && m * n > 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "int8 gemm: NULL argument");
    if (m < 0 || n < 0 || k < 0 || m > INT32_MAX || n > INT32_MAX)
        return qk_error_set(QK_ERR_SHAPE, "int8 gemm: %lld x %lld x %lld", (long long)m,
                            (long long)n, (long long)k);
    if (k > 131072)
        return qk_error_set(QK_ERR_OVERFLOW,
                            "int8 gemm: %lld columns could overflow the int32 accumulator",
                            (long long)k);
    if (m == 0 || n == 0) return QK_OK;
    memset(c, 0, (size_t)m * (size_t)n * sizeof *c);
    if (k == 0) return QK_OK;
    float *af = malloc((size_t)m * (size_t)k * sizeof *af);
    if (!af)
        return qk_error_set(QK_ERR_NOMEM, "int8 gemm: no memory for %lld x %lld", (long long)m,
                            (long long)k);
    for (size_t i = 0; i < (size_t)m * (size_t)k; i++) af[i] = (float)a[i];
    const int64_t n_tiles = (n + QK_INT8_TILE - 1) / QK_INT8_TILE;
    const int64_t kb_max = k < QK_INT8_KBLOCK ? k : QK_INT8_KBLOCK;
    bool failed = false;
    qk_blas_single_thread();
#pragma omp parallel
    {
        float *bf = malloc((size_t)QK_INT8_TILE * (size_t)kb_max * sizeof *bf);
        float *cf = malloc((size_t)m * QK_INT8_TILE * sizeof *cf);
        if (!bf || !cf) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for schedule(dynamic)
        for (int64_t tile = 0; tile < n_tiles; tile++) {
            if (!bf || !cf) continue;
            const int64_t j0 = tile * QK_INT8_TILE;
            const int64_t nj = n - j0 < QK_INT8_TILE ? n - j0 : QK_INT8_TILE;
            for (int64_t k0 = 0; k0 < k; k0 += QK_INT8_KBLOCK) {
                const int64_t kw = k - k0 < QK_INT8_KBLOCK ? k - k0 : QK_INT8_KBLOCK;
                for (int64_t j = 0; j < nj; j++)
                    for (int64_t i = 0; i < kw; i++)
                        bf[(size_t)j * kw + i] = (float)b[(size_t)(j0 + j) * k + k0 + i];
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nj, (int)kw, 1.0f,
                            af + k0, (int)k, bf, (int)kw, 0.0f, cf, (int)nj);
                for (int64_t r = 0; r < m; r++)
                    for (int64_t j = 0; j < nj; j++)
                        c[(size_t)r * n + j0 + j] += (int32_t)cf[(size_t)r * nj + j];
            }
        }
        free(bf);
        free(cf);
    }
    free(af);
    if (failed) return qk_error_set(QK_ERR_NOMEM, "int8 gemm: no memory for a tile");
    return QK_OK;
}

qk_status qk_int8_vectorwise_quant(const float *x, int64_t rows, int64_t cols, float threshold,
                                   int8_t *codes, float *row_absmax, uint8_t *outlier_cols,
                                   int64_t *n_outlier_cols) {
    if ((!x || !codes || !row_absmax) && rows * cols > 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "int8 vector-wise quantization: NULL argument");
    if (rows < 0 || cols < 0)
        return qk_error_set(QK_ERR_SHAPE, "int8 vector-wise quantization: %lld x %lld",
                            (long long)rows, (long long)cols);
    const size_t n = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return qk_error_set(QK_ERR_NONFINITE,
                                "int8 vector-wise quantization: non-finite value at row %lld "
                                "column %lld",
                                (long long)(i / (size_t)cols), (long long)(i % (size_t)cols));
    uint8_t *flags = outlier_cols;
    uint8_t *own = NULL;
    if (!flags && cols > 0) flags = own = malloc((size_t)cols);
    if (!flags && cols > 0)
        return qk_error_set(QK_ERR_NOMEM, "int8 vector-wise quantization: no memory");
    const bool use_outliers = threshold > 0.0f;
    int64_t count = 0;
    if (cols > 0) memset(flags, 0, (size_t)cols);
    if (use_outliers) {
        for (size_t i = 0; i < n; i++)
            if (fabsf(x[i]) >= threshold) flags[i % (size_t)cols] = 1;
        for (int64_t c = 0; c < cols; c++) count += flags[c];
    }
#pragma omp parallel for schedule(static) if (n > (1 << 18))
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        int8_t *q = codes + (size_t)r * cols;
        float amax = 0.0f;
        for (int64_t c = 0; c < cols; c++) {
            const float a = fabsf(xr[c]);
            if (!(use_outliers && a >= threshold)) amax = fmaxf(amax, a);
        }
        row_absmax[r] = amax;
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (int64_t c = 0; c < cols; c++) {
            float v = flags[c] ? 0.0f : nearbyintf(xr[c] * inv);
            v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
            q[c] = (int8_t)v;
        }
    }
    free(own);
    if (n_outlier_cols) *n_outlier_cols = count;
    return QK_OK;
}
