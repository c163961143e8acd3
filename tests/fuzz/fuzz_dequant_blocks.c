/*
** Fuzz target: block dequantizers and plain scalar conversions.
**
** Input: byte 0 picks the type (mod QK_TYPE_COUNT), byte 1 the options
** (bit 0: importance weights from the data bytes, bit 1: quantize the
** decoded values as another type too), the rest is block data: as many
** whole blocks as it holds (at most 512 elements) are copied into a buffer of exactly
** that size and dequantized into an exactly sized output, so ASan sees any
** read or write past them. The decoded floats are then quantized again
** (block and float types) and dequantized: no crash, and a block format
** that accepted finite values gives finite values back. Scalar types also
** go through qk_convert to f32 and back.
*/
#include <math.h> /* isfinite */

#include "fuzz_common.h"

static bool all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

/* Quantize `y` (n values) as `type`, dequantize the result: no crash; block
** formats keep finite values finite. */
static void requantize(qk_type type, const float *y, int64_t n, const float *importance) {
    const qk_type_traits *tr = qk_type_get_traits(type);
    if (n % tr->block_elems != 0) return;
    size_t bytes = 0;
    FUZZ_CHECK(qk_type_row_bytes(type, n, &bytes) == QK_OK);
    void *q = malloc(bytes ? bytes : 1);
    float *back = malloc((size_t)(n ? n : 1) * sizeof *back);
    FUZZ_CHECK(q && back);
    qk_clear_error();
    qk_status st = qk_quantize_row(type, y, q, n, importance);
    fuzz_check_status(st);
    if (st == QK_OK) {
        qk_clear_error();
        st = qk_dequantize_row(type, q, back, n);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        if (tr->is_block || type == QK_TYPE_F8_E4M3 || type == QK_TYPE_F8_E5M2)
            FUZZ_CHECK(all_finite(back, n));
    } else {
        FUZZ_CHECK(st == QK_ERR_NONFINITE || st == QK_ERR_NUMERIC || st == QK_ERR_UNSUPPORTED ||
                   st == QK_ERR_INVALID_ARG);
        /* the importance weights here are finite: a finite row is never NONFINITE */
        if (all_finite(y, n)) FUZZ_CHECK(st != QK_ERR_NONFINITE);
    }
    free(q);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    qk_type type = (qk_type)(data[0] % QK_TYPE_COUNT);
    uint8_t flags = data[1];
    data += 2;
    size -= 2;
    const qk_type_traits *tr = qk_type_get_traits(type);
    FUZZ_CHECK(tr != NULL && tr->block_elems > 0 && tr->block_bytes > 0);
    size_t n_blocks = size / (size_t)tr->block_bytes;
    /* at most 512 elements: 16 blocks of 32, 2 super-blocks of 256 (the K-quant
       searches are slow: 2048 elements gave 120 executions/s, and bugs live
       within a block or two) */
    size_t max_blocks = tr->block_elems > 1 ? 512 / (size_t)tr->block_elems : 1024;
    if (n_blocks > max_blocks) n_blocks = max_blocks;
    int64_t n = (int64_t)n_blocks * tr->block_elems;
    size_t bytes = 0;
    FUZZ_CHECK(qk_type_row_bytes(type, n, &bytes) == QK_OK);
    FUZZ_CHECK(bytes == n_blocks * (size_t)tr->block_bytes);

    unsigned char *src = malloc(bytes ? bytes : 1);
    float *y = malloc((size_t)(n ? n : 1) * sizeof *y);
    FUZZ_CHECK(src && y);
    memcpy(src, data, bytes);

    qk_clear_error();
    qk_status st = qk_dequantize_row(type, src, y, n);
    fuzz_check_status(st);
    bool supported = tr->is_block || (tr->is_float && type != QK_TYPE_F64);
    if (supported)
        FUZZ_CHECK(st == QK_OK || st == QK_ERR_UNSUPPORTED); /* formats still being added */
    else
        FUZZ_CHECK(st == QK_ERR_UNSUPPORTED);
    /* a partial block is refused */
    if (tr->block_elems > 1 && n > 0) {
        qk_clear_error();
        st = qk_dequantize_row(type, src, y, n - 1);
        fuzz_check_status(st);
        FUZZ_CHECK(st != QK_OK);
    }

    if (!tr->is_block) {
        /* plain scalars: to f32 and back through qk_convert */
        qk_clear_error();
        qk_status cst = qk_convert(type, src, QK_TYPE_F32, y, (size_t)n);
        fuzz_check_status(cst);
        FUZZ_CHECK(cst == QK_OK);
        unsigned char *back = malloc(bytes ? bytes : 1);
        FUZZ_CHECK(back != NULL);
        qk_clear_error();
        cst = qk_convert(QK_TYPE_F32, y, type, back, (size_t)n);
        fuzz_check_status(cst);
        FUZZ_CHECK(cst == QK_OK || cst == QK_ERR_NONFINITE);
        free(back);
        st = QK_OK; /* y holds the values either way */
    }

    if (st == QK_OK && n > 0) {
        float *importance = NULL;
        if (flags & 1) {
            importance = malloc((size_t)n * sizeof *importance);
            FUZZ_CHECK(importance != NULL);
            for (int64_t i = 0; i < n; i++) importance[i] = (float)(data[(size_t)i % size] % 7);
        }
        if (tr->is_block || tr->is_float) requantize(type, y, n, importance);
        if (flags & 2) {
            /* the same values as another float or block type */
            qk_type other = (qk_type)((flags >> 2) % QK_TYPE_COUNT);
            if (qk_type_get_traits(other)->is_block || qk_type_get_traits(other)->is_float)
                requantize(other, y, n, importance);
        }
        free(importance);
    }
    free(src);
    free(y);
    return 0;
}
