/*
** Reading any tensor of a model source as f32: plain types through the io
** layer's conversion, block formats dequantized row by row.
*/
#include <stdlib.h>

#include "core/error.h"
#include "quantkit/ggml.h"
#include "quantkit/io.h"
#include "quantkit/model.h"

qk_status qk_model_source_read_f32(const qk_model_source *src, size_t index, float *dst, int64_t n,
                                   void *scratch, size_t scratch_bytes) {
    qk_model_tensor t;
    qk_status st = qk_model_source_tensor_info(src, index, &t);
    if (st != QK_OK) return st;
    int64_t numel = 1;
    for (int32_t d = 0; d < t.ndim; d++) numel *= t.shape[d];
    if (n != numel)
        return qk_error_set(QK_ERR_SHAPE, "tensor '%s' has %lld elements, asked for %lld", t.name,
                            (long long)numel, (long long)n);
    if (!qk_type_get_traits(t.type)->is_block)
        return qk_model_source_read(src, index, QK_TYPE_F32, dst, (size_t)n * sizeof(float));
    void *owned = NULL;
    if (!scratch || scratch_bytes < t.nbytes) {
        owned = malloc(t.nbytes ? t.nbytes : 1);
        if (!owned) return qk_error_set(QK_ERR_NOMEM, "tensor '%s': no memory", t.name);
        scratch = owned;
        scratch_bytes = t.nbytes;
    }
    st = qk_model_source_read(src, index, t.type, scratch, scratch_bytes);
    const int64_t cols = t.shape[t.ndim - 1], rows = n / cols;
    size_t row_bytes = 0;
    if (st == QK_OK) st = qk_type_row_bytes(t.type, cols, &row_bytes);
    for (int64_t r = 0; r < rows && st == QK_OK; r++)
        st = qk_dequantize_row(t.type, (const unsigned char *)scratch + (size_t)r * row_bytes,
                               dst + (size_t)r * cols, cols);
    if (st != QK_OK) qk_error_prefix("tensor '%s'", t.name);
    free(owned);
    return st;
}
