/*
** Weight x activation products for any storage type.
**
** Float32 weights go straight to BLAS. Every other type is dequantized a
** tile of rows at a time (OpenMP over rows) and the tile is multiplied with
** sgemm: memory stays bounded by one tile whatever the matrix size.
*/
#include <cblas.h> /* cblas_sgemm, openblas_set_num_threads */
#include <stdlib.h>

#include "core/error.h"
#include "quantkit/ggml.h"
#include "quantkit/kernels.h"

/* Output rows per work item. Fixed (not derived from the thread count) so
** that each output element is computed by the same single-threaded sgemm
** call whatever the number of threads: results do not depend on it. */
#define QK_MATMUL_TILE 64

/* quantkit owns the threading: OpenBLAS runs single-threaded inside our
** OpenMP loops (a multi-threaded OpenBLAS next to OpenMP oversubscribes the
** cores and spins; on a busy 2-core machine that was 20x slower). */
void qk_blas_single_thread(void) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

static qk_status check_weight(const qk_tensor_view *w, const char *what) {
    if (!w || !w->data) return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL weight", what);
    if (w->ndim != 2)
        return qk_error_set(QK_ERR_SHAPE, "%s: weight must be 2-D, has %d dimensions", what,
                            (int)w->ndim);
    return QK_OK;
}

qk_status qk_weight_row_f32(const qk_tensor_view *w, int64_t row, float *y) {
    qk_status st = check_weight(w, "weight row");
    if (st != QK_OK) return st;
    if (row < 0 || row >= w->shape[0])
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS, "weight row %lld out of range [0, %lld)",
                            (long long)row, (long long)w->shape[0]);
    size_t row_bytes;
    st = qk_type_row_bytes(w->type, w->shape[1], &row_bytes);
    if (st != QK_OK) return st;
    const unsigned char *src = (const unsigned char *)w->data + (size_t)row * row_bytes;
    return qk_dequantize_row(w->type, src, y, w->shape[1]);
}

qk_status qk_matmul(const qk_tensor_view *w, const float *x, int64_t n_rows, float *y) {
    qk_status st = check_weight(w, "matmul");
    if (st != QK_OK) return st;
    if (n_rows < 0) return qk_error_set(QK_ERR_SHAPE, "matmul: negative row count");
    if (n_rows == 0) return QK_OK;
    const int64_t out = w->shape[0], in = w->shape[1];
    if (out > INT32_MAX || in > INT32_MAX || n_rows > INT32_MAX)
        return qk_error_set(QK_ERR_OVERFLOW, "matmul: %lld x %lld weight too large for BLAS",
                            (long long)out, (long long)in);
    size_t row_bytes;
    st = qk_type_row_bytes(w->type, in, &row_bytes);
    if (st != QK_OK) return st;
    qk_blas_single_thread();
    const bool is_f32 = w->type == QK_TYPE_F32;
    const int64_t n_tiles = (out + QK_MATMUL_TILE - 1) / QK_MATMUL_TILE;
    const unsigned char *base = (const unsigned char *)w->data;
    qk_status status = QK_OK;
    int64_t bad_row = -1;
#pragma omp parallel
    {
        float *buf = is_f32 ? NULL : malloc((size_t)QK_MATMUL_TILE * (size_t)in * sizeof(float));
        bool ok = is_f32 || buf != NULL;
        if (!ok) {
#pragma omp critical(qk_matmul_status)
            status = QK_ERR_NOMEM;
        }
#pragma omp for schedule(dynamic)
        for (int64_t tile = 0; tile < n_tiles; tile++) {
            if (!ok) continue;
            const int64_t r0 = tile * QK_MATMUL_TILE;
            const int64_t nr = out - r0 < QK_MATMUL_TILE ? out - r0 : QK_MATMUL_TILE;
            const float *wt = (const float *)(base + (size_t)r0 * row_bytes);
            if (!is_f32) {
                for (int64_t r = 0; r < nr && ok; r++) {
                    qk_status s = qk_dequantize_row(w->type, base + (size_t)(r0 + r) * row_bytes,
                                                    buf + (size_t)r * (size_t)in, in);
                    if (s != QK_OK) {
                        ok = false;
#pragma omp critical(qk_matmul_status)
                        {
                            status = s;
                            bad_row = r0 + r;
                        }
                    }
                }
                wt = buf;
            }
            if (ok)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_rows, (int)nr, (int)in,
                            1.0f, x, (int)in, wt, (int)in, 0.0f, y + r0, (int)out);
        }
        free(buf);
    }
    if (status == QK_ERR_NOMEM)
        return qk_error_set(QK_ERR_NOMEM, "matmul: no memory for a %d x %lld tile",
                            QK_MATMUL_TILE, (long long)in);
    if (status != QK_OK)
        return qk_error_set(status, "matmul: cannot dequantize %s row %lld", qk_type_name(w->type),
                            (long long)bad_row);
    return QK_OK;
}
