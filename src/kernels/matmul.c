/*
** Weight x activation products for any storage type.
**
** Few activation rows (decode): each activation row is quantized once for
** the weight type's dot kernel, and every output is one dot product of a
** weight row with it: the weights are read once, straight from their
** packed form (memory-bandwidth bound). Many rows (prompt, perplexity):
** fixed tiles of 64 weight rows are dequantized to f32 and multiplied with
** a single-threaded sgemm. Both paths split the work into fixed pieces of
** weight rows spread over the OpenMP threads, so every output element is
** computed by the same code in the same order whatever the thread count.
*/
#include <cblas.h> /* cblas_sgemm, openblas_set_num_threads */
#include <stdlib.h>

#include "core/error.h"
#include "kernels/kernels_internal.h"

/* Weight rows per work item of the sgemm path. */
#define QK_MATMUL_TILE 64
/* Weight rows per work item of the dot path. */
#define QK_MATMUL_DOT_CHUNK 32

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
    const qk_kernel_ops *ops = qk_kernels_get(w->type, qk_isa_get());
    if (ops && w->shape[1] > 0) {
        ops->dequantize_row(src, y, w->shape[1]);
        return QK_OK;
    }
    return qk_dequantize_row(w->type, src, y, w->shape[1]);
}

/* Decode path: one dot product per output. */
static qk_status matmul_dot(const qk_kernel_ops *ops, const unsigned char *base, size_t row_bytes,
                            int64_t out, int64_t in, const float *x, int64_t n_rows, float *y) {
    const bool quantized = ops->vec_dot_act != NULL;
    size_t act_bytes = 0;
    void *act = NULL;
    if (quantized) {
        qk_status st = qk_kernels_act_bytes(ops->type, in, &act_bytes);
        if (st != QK_OK) return st;
        act_bytes = (act_bytes + 63) & ~(size_t)63;
        act = qk_aligned_alloc(64, act_bytes * (size_t)n_rows);
        if (!act)
            return qk_error_set(QK_ERR_NOMEM, "matmul: no memory for %lld activation rows",
                                (long long)n_rows);
        for (int64_t i = 0; i < n_rows; i++)
            ops->quantize_act(x + i * in, (unsigned char *)act + (size_t)i * act_bytes, in);
    }
    const int64_t n_chunks = (out + QK_MATMUL_DOT_CHUNK - 1) / QK_MATMUL_DOT_CHUNK;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t r1 =
            (c + 1) * QK_MATMUL_DOT_CHUNK < out ? (c + 1) * QK_MATMUL_DOT_CHUNK : out;
        for (int64_t r = c * QK_MATMUL_DOT_CHUNK; r < r1; r += 4) {
            const unsigned char *wr = base + (size_t)r * row_bytes;
            const int nw = r1 - r < 4 ? (int)(r1 - r) : 4;
            for (int64_t i = 0; i < n_rows; i++) {
                float o[4];
                if (quantized)
                    ops->vec_dot_act_rows(wr, row_bytes, nw,
                                          (const unsigned char *)act + (size_t)i * act_bytes, in,
                                          o);
                else
                    for (int k = 0; k < nw; k++)
                        o[k] = ops->vec_dot_f32(wr + (size_t)k * row_bytes, x + i * in, in);
                for (int k = 0; k < nw; k++) y[i * out + r + k] = o[k];
            }
        }
    }
    qk_aligned_free(act);
    return QK_OK;
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
    if (!x || !y) return qk_error_set(QK_ERR_INVALID_ARG, "matmul: NULL activations");
    size_t row_bytes;
    st = qk_type_row_bytes(w->type, in, &row_bytes);
    if (st != QK_OK) return st;
    if (out == 0) return QK_OK;
    const unsigned char *base = (const unsigned char *)w->data;
    const qk_kernel_ops *ops = qk_kernels_get(w->type, qk_isa_get());
    const bool is_f32 = w->type == QK_TYPE_F32;
    if (in > 0 && ops && !is_f32 && n_rows <= QK_MATMUL_DOT_ROWS &&
        (ops->vec_dot_act || ops->vec_dot_f32))
        return matmul_dot(ops, base, row_bytes, out, in, x, n_rows, y);

    qk_blas_single_thread();
    const int64_t n_tiles = (out + QK_MATMUL_TILE - 1) / QK_MATMUL_TILE;
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
                    const unsigned char *src = base + (size_t)(r0 + r) * row_bytes;
                    float *dst = buf + (size_t)r * (size_t)in;
                    if (ops && in > 0) {
                        ops->dequantize_row(src, dst, in);
                        continue;
                    }
                    qk_status s = qk_dequantize_row(w->type, src, dst, in);
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
        return qk_error_set(QK_ERR_NOMEM, "matmul: no memory for a %d x %lld tile", QK_MATMUL_TILE,
                            (long long)in);
    if (status != QK_OK)
        return qk_error_set(status, "matmul: cannot dequantize %s row %lld", qk_type_name(w->type),
                            (long long)bad_row);
    return QK_OK;
}
