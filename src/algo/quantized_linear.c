/*
** The affine quantized-linear representation shared by the algorithms and
** the checkpoint writers.
*/
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/algo.h"

qk_status qk_quantized_linear_alloc(qk_quantized_linear *q, int32_t bits, int32_t group_size,
                                    bool symmetric, int64_t rows, int64_t cols, bool with_g_idx) {
    if (!q) return qk_error_set(QK_ERR_INVALID_ARG, "quantized linear: NULL");
    memset(q, 0, sizeof *q);
    if (bits < 2 || bits > 8)
        return qk_error_set(QK_ERR_INVALID_ARG, "quantized linear: %d bits (2..8)", bits);
    if (rows <= 0 || cols <= 0 || group_size <= 0 || group_size > cols)
        return qk_error_set(QK_ERR_INVALID_ARG, "quantized linear: %lld x %lld with group size %d",
                            (long long)rows, (long long)cols, group_size);
    size_t n_codes;
    if (!qk_mul_size((size_t)rows, (size_t)cols, &n_codes))
        return qk_error_set(QK_ERR_OVERFLOW, "quantized linear: %lld x %lld", (long long)rows,
                            (long long)cols);
    q->bits = bits;
    q->group_size = group_size;
    q->symmetric = symmetric;
    q->rows = rows;
    q->cols = cols;
    q->n_groups = (cols + group_size - 1) / group_size;
    const size_t n_params = (size_t)q->n_groups * (size_t)rows;
    q->codes = calloc(n_codes, 1);
    q->scales = calloc(n_params, sizeof *q->scales);
    q->zeros = calloc(n_params, sizeof *q->zeros);
    q->g_idx = with_g_idx ? calloc((size_t)cols, sizeof *q->g_idx) : NULL;
    if (!q->codes || !q->scales || !q->zeros || (with_g_idx && !q->g_idx)) {
        qk_quantized_linear_free(q);
        return qk_error_set(QK_ERR_NOMEM, "quantized linear: no memory for %lld x %lld",
                            (long long)rows, (long long)cols);
    }
    return QK_OK;
}

void qk_quantized_linear_free(qk_quantized_linear *q) {
    if (!q) return;
    free(q->codes);
    free(q->scales);
    free(q->zeros);
    free(q->g_idx);
    q->codes = NULL;
    q->scales = NULL;
    q->zeros = NULL;
    q->g_idx = NULL;
}

qk_status qk_quantized_linear_dequantize(const qk_quantized_linear *q, float *w) {
    if (!q || !w || !q->codes) return qk_error_set(QK_ERR_INVALID_ARG, "dequantize: NULL");
    for (int64_t c = 0; c < q->cols; c++) {
        const int64_t g = qk_quantized_linear_group(q, c);
        if (g < 0 || g >= q->n_groups)
            return qk_error_set(QK_ERR_CORRUPT, "dequantize: column %lld in group %lld of %lld",
                                (long long)c, (long long)g, (long long)q->n_groups);
    }
    for (int64_t r = 0; r < q->rows; r++) {
        const uint8_t *cr = q->codes + (size_t)r * q->cols;
        float *wr = w + (size_t)r * q->cols;
        for (int64_t c = 0; c < q->cols; c++) {
            const size_t k = (size_t)qk_quantized_linear_group(q, c) * q->rows + (size_t)r;
            wr[c] = (float)((int32_t)cr[c] - q->zeros[k]) * q->scales[k];
        }
    }
    return QK_OK;
}
