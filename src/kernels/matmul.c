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

/* Rows of a dequantized tile: 64K floats per 256 columns keeps a tile in L2
** for narrow matrices and bounded (a few MB) for wide ones. */
static int64_t tile_rows_for(int64_t cols) {
    int64_t rows = (int64_t)(1 << 20) / (cols > 0 ? cols : 1);
    if (rows < 16) rows = 16;
    if (rows > 1024) rows = 1024;
    return rows;
}

/* Keep OpenBLAS's own thread pool the size of ours. */
static void sync_blas_threads(void) {
    int want = qk_threads_get();
    if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
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
    sync_blas_threads();
    if (w->type == QK_TYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_rows, (int)out, (int)in,
                    1.0f, x, (int)in, (const float *)w->data, (int)in, 0.0f, y, (int)out);
        return QK_OK;
    }
    size_t row_bytes;
    st = qk_type_row_bytes(w->type, in, &row_bytes);
    if (st != QK_OK) return st;
    const int64_t tile = tile_rows_for(in);
    float *buf = malloc((size_t)tile * (size_t)in * sizeof(float));
    if (!buf) return qk_error_set(QK_ERR_NOMEM, "matmul: no memory for a %lld x %lld tile",
                                  (long long)tile, (long long)in);
    const unsigned char *base = (const unsigned char *)w->data;
    for (int64_t r0 = 0; r0 < out; r0 += tile) {
        const int64_t nr = out - r0 < tile ? out - r0 : tile;
        qk_status tile_status = QK_OK;
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < nr; r++) {
            qk_status s = qk_dequantize_row(w->type, base + (size_t)(r0 + r) * row_bytes,
                                            buf + (size_t)r * (size_t)in, in);
            if (s != QK_OK) {
#pragma omp critical(qk_matmul_status)
                tile_status = s;
            }
        }
        if (tile_status != QK_OK) {
            free(buf);
            return qk_error_set(tile_status, "matmul: cannot dequantize %s rows %lld..%lld",
                                qk_type_name(w->type), (long long)r0, (long long)(r0 + nr - 1));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_rows, (int)nr, (int)in, 1.0f,
                    x, (int)in, buf, (int)in, 0.0f, y + r0, (int)out);
    }
    free(buf);
    return QK_OK;
}
