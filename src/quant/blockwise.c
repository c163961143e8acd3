/*
** bitsandbytes-style blockwise quantization: 4-bit codebooks (NF4, FP4)
** with an f32 absmax per block, optional double quantization of the absmax
** values (QLoRA), and the 8-bit blockwise quantizer with a 256-value map
** that double quantization uses. Blocks are independent, so they are spread
** over OpenMP threads without changing any result.
*/
#include <float.h>  /* FLT_MAX */
#include <math.h>   /* fabsf */
#include <string.h> /* memset */

#include "core/error.h"
#include "quant/affine_internal.h"
#include "quant/codebook_internal.h"

#define PARALLEL_MIN ((size_t)1 << 15)

static float block_absmax(const float *x, size_t len) {
    float m = 0.0f;
    for (size_t i = 0; i < len; i++) {
        const float a = fabsf(x[i]);
        m = a > m ? a : m;
    }
    return m;
}

/* ---- 8-bit blockwise with a 256-value map ------------------------------- */

qk_status qk_blockwise8_quantize(const float *x, size_t n, int32_t block_size, const float map[256],
                                 uint8_t *codes, float *absmax) {
    if (block_size < 1)
        return qk_error_set(QK_ERR_INVALID_ARG, "blockwise8 quantize: block size %d (>= 1)",
                            (int)block_size);
    if (n > 0 && (!x || !map || !codes || !absmax))
        return qk_error_set(QK_ERR_INVALID_ARG, "blockwise8 quantize: NULL argument");
    const size_t bad = qk_affine_first_nonfinite(x, n);
    if (bad < n)
        return qk_error_set(QK_ERR_NONFINITE, "blockwise8 quantize: element %zu is %g", bad,
                            (double)x[bad]);
    const size_t bs = (size_t)block_size, n_blocks = n / bs + (n % bs != 0);
    const uint8_t zero_code = n > 0 ? qk_dynamic_map_encode(map, 0.0f) : 0;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t b = 0; b < n_blocks; b++) {
        const size_t start = b * bs, len = n - start < bs ? n - start : bs;
        const float m = block_absmax(x + start, len);
        absmax[b] = m;
        for (size_t i = 0; i < len; i++)
            codes[start + i] = m > 0.0f ? qk_dynamic_map_encode(map, x[start + i] / m) : zero_code;
    }
    return QK_OK;
}

qk_status qk_blockwise8_dequantize(const uint8_t *codes, const float *absmax, size_t n,
                                   int32_t block_size, const float map[256], float *y) {
    if (block_size < 1)
        return qk_error_set(QK_ERR_INVALID_ARG, "blockwise8 dequantize: block size %d (>= 1)",
                            (int)block_size);
    if (n > 0 && (!codes || !absmax || !map || !y))
        return qk_error_set(QK_ERR_INVALID_ARG, "blockwise8 dequantize: NULL argument");
    for (size_t i = 0; i < n; i++) y[i] = map[codes[i]] * absmax[i / (size_t)block_size];
    return QK_OK;
}

/* ---- 4-bit codebooks ---------------------------------------------------- */

static qk_status resolve_config(const qk_blockwise_config *in, qk_blockwise_config *out) {
    if (!in) return qk_error_set(QK_ERR_INVALID_ARG, "blockwise: NULL config");
    if ((int)in->codebook < 0 || in->codebook >= QK_CODEBOOK_COUNT)
        return qk_error_set(QK_ERR_INVALID_ARG, "blockwise: unknown codebook %d",
                            (int)in->codebook);
    const int32_t bs = in->block_size == 0 ? QK_BLOCKWISE_DEFAULT_BLOCK : in->block_size;
    if (bs < 32 || bs > 4096 || (bs & (bs - 1)) != 0)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "blockwise: block size %d (a power of two from 32 to 4096)", (int)bs);
    *out = *in;
    out->block_size = bs;
    return QK_OK;
}

qk_status qk_blockwise_storage_bits(const qk_blockwise_config *config, size_t n,
                                    uint64_t *out_bits) {
    qk_blockwise_config c = {QK_CODEBOOK_NF4, 0, false};
    qk_status st = resolve_config(config, &c);
    if (st != QK_OK) return st;
    if (!out_bits) return qk_error_set(QK_ERR_INVALID_ARG, "blockwise storage: NULL output");
    const uint64_t n64 = (uint64_t)n;
    const uint64_t blocks = n64 / (uint64_t)c.block_size + (n64 % (uint64_t)c.block_size != 0);
    const uint64_t code_bytes = n64 / 2 + (n64 % 2);
    uint64_t scale_bits;
    if (c.double_quant) {
        const uint64_t nested =
            blocks / QK_BLOCKWISE_DQ_BLOCK + (blocks % QK_BLOCKWISE_DQ_BLOCK != 0);
        scale_bits = 8 * blocks + 32 * nested;
    } else {
        scale_bits = 32 * blocks;
    }
    /* n <= SIZE_MAX: 8 * ceil(n/2) + 32 * ceil(n/32) < 6n stays below 2^64 for n < 2^61 */
    if (n64 > (UINT64_MAX >> 4))
        return qk_error_set(QK_ERR_OVERFLOW, "blockwise storage: %zu elements overflow", n);
    *out_bits = 8 * code_bytes + scale_bits;
    return QK_OK;
}

qk_status qk_blockwise_bits_per_weight(const qk_blockwise_config *config, size_t n, double *out) {
    uint64_t bits;
    qk_status st = qk_blockwise_storage_bits(config, n, &bits);
    if (st != QK_OK) return st;
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "blockwise bits per weight: NULL output");
    if (n == 0) return qk_error_set(QK_ERR_SHAPE, "blockwise bits per weight: no elements");
    *out = (double)bits / (double)n;
    return QK_OK;
}

void qk_blockwise_tensor_free(qk_blockwise_tensor *q) {
    if (!q) return;
    qk_aligned_free(q->packed);
    qk_aligned_free(q->absmax);
    qk_aligned_free(q->absmax_codes);
    qk_aligned_free(q->nested_absmax);
    memset(q, 0, sizeof *q);
}

/* Double quantization of absmax[0..n_blocks) into q (absmax stays owned by
** the caller). */
static qk_status double_quantize(const float *absmax, qk_blockwise_tensor *q) {
    const size_t nb = q->n_blocks;
    const size_t n_nested = nb / QK_BLOCKWISE_DQ_BLOCK + (nb % QK_BLOCKWISE_DQ_BLOCK != 0);
    q->absmax_codes = (uint8_t *)qk_aligned_alloc(64, nb);
    q->nested_absmax = (float *)qk_aligned_alloc(64, n_nested * sizeof(float));
    float *residual = (float *)qk_aligned_alloc(64, nb * sizeof(float));
    float map[256];
    qk_status st = QK_OK;
    if (!q->absmax_codes || !q->nested_absmax || !residual) {
        st = qk_error_set(QK_ERR_NOMEM, "blockwise: out of memory for double quantization");
        goto done;
    }
    double sum = 0.0;
    for (size_t b = 0; b < nb; b++) sum += (double)absmax[b];
    q->offset = nb > 0 ? (float)(sum / (double)nb) : 0.0f; /* absmax <= FLT_MAX: mean too */
    for (size_t b = 0; b < nb; b++) residual[b] = absmax[b] - q->offset;
    st = qk_dynamic_map_create(true, 7, 8, map);
    if (st != QK_OK) goto done;
    st = qk_blockwise8_quantize(residual, nb, QK_BLOCKWISE_DQ_BLOCK, map, q->absmax_codes,
                                q->nested_absmax);
done:
    qk_aligned_free(residual);
    return st;
}

qk_status qk_blockwise_quantize(const float *x, size_t n, const qk_blockwise_config *config,
                                qk_blockwise_tensor *out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "blockwise quantize: NULL output");
    memset(out, 0, sizeof *out);
    qk_blockwise_config c = {QK_CODEBOOK_NF4, 0, false};
    qk_status st = resolve_config(config, &c);
    if (st != QK_OK) return st;
    if (n > 0 && !x) return qk_error_set(QK_ERR_INVALID_ARG, "blockwise quantize: NULL input");
    const size_t bad = qk_affine_first_nonfinite(x, n);
    if (bad < n)
        return qk_error_set(QK_ERR_NONFINITE, "blockwise quantize: element %zu is %g", bad,
                            (double)x[bad]);
    const size_t bs = (size_t)c.block_size, nb = n / bs + (n % bs != 0);
    if (nb > SIZE_MAX / sizeof(float))
        return qk_error_set(QK_ERR_OVERFLOW, "blockwise quantize: too many blocks");
    out->config = c;
    out->n = n;
    out->n_blocks = nb;
    out->packed = (uint8_t *)qk_aligned_alloc(64, n / 2 + n % 2);
    float *absmax = (float *)qk_aligned_alloc(64, nb * sizeof(float));
    if (!out->packed || !absmax) {
        qk_aligned_free(absmax);
        qk_blockwise_tensor_free(out);
        return qk_error_set(QK_ERR_NOMEM, "blockwise quantize: out of memory (%zu elements)", n);
    }
    qk_codebook_encoder enc;
    qk_codebook_encoder_init(c.codebook, &enc);
    const uint8_t zero_code = qk_codebook_encoder_encode(&enc, 0.0f);
    uint8_t *packed = out->packed;
    /* blocks hold an even number of elements, so each block owns whole bytes */
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t b = 0; b < nb; b++) {
        const size_t start = b * bs, len = n - start < bs ? n - start : bs;
        const float m = block_absmax(x + start, len);
        absmax[b] = m;
        for (size_t i = 0; i < len; i += 2) {
            const size_t e = start + i;
            const uint8_t hi = m > 0.0f ? qk_codebook_encoder_encode(&enc, x[e] / m) : zero_code;
            uint8_t lo = 0; /* an odd count pads the last low nibble with 0 */
            if (i + 1 < len)
                lo = m > 0.0f ? qk_codebook_encoder_encode(&enc, x[e + 1] / m) : zero_code;
            packed[e / 2] = (uint8_t)(hi << 4 | lo);
        }
    }
    if (c.double_quant) {
        st = double_quantize(absmax, out);
        qk_aligned_free(absmax);
        if (st != QK_OK) {
            qk_blockwise_tensor_free(out);
            return st;
        }
    } else {
        out->absmax = absmax;
    }
    return QK_OK;
}

static float dq_absmax(const qk_blockwise_tensor *q, const float map[256], size_t b) {
    float a = map[q->absmax_codes[b]] * q->nested_absmax[b / QK_BLOCKWISE_DQ_BLOCK] + q->offset;
    return a > FLT_MAX ? FLT_MAX : a;
}

float qk_blockwise_block_absmax(const qk_blockwise_tensor *q, size_t b) {
    if (!q || b >= q->n_blocks) return 0.0f;
    if (!q->config.double_quant) return q->absmax[b];
    float map[256];
    if (qk_dynamic_map_create(true, 7, 8, map) != QK_OK) return 0.0f;
    return dq_absmax(q, map, b);
}

uint8_t qk_blockwise_code(const qk_blockwise_tensor *q, size_t i) {
    if (!q || i >= q->n) return 0;
    const uint8_t byte = q->packed[i / 2];
    return (uint8_t)(i % 2 == 0 ? byte >> 4 : byte & 15u);
}

qk_status qk_blockwise_dequantize(const qk_blockwise_tensor *q, float *y, size_t n) {
    if (!q) return qk_error_set(QK_ERR_INVALID_ARG, "blockwise dequantize: NULL tensor");
    if (n != q->n)
        return qk_error_set(QK_ERR_SHAPE, "blockwise dequantize: output of %zu for %zu elements", n,
                            q->n);
    /* the configuration is checked even for an empty tensor, as
    ** qk_blockwise_quantize does: what one refuses the other refuses */
    qk_blockwise_config c = {QK_CODEBOOK_NF4, 0, false};
    qk_status st = resolve_config(&q->config, &c);
    if (st != QK_OK) return st;
    if (n == 0) return QK_OK;
    if (!y || !q->packed || (c.double_quant ? !q->absmax_codes || !q->nested_absmax : !q->absmax))
        return qk_error_set(QK_ERR_INVALID_ARG, "blockwise dequantize: NULL array");
    float map[256];
    if (c.double_quant) {
        st = qk_dynamic_map_create(true, 7, 8, map);
        if (st != QK_OK) return st;
    }
    float table[16];
    for (unsigned k = 0; k < 16; k++)
        table[k] = qk_codebook_decode_normalized(c.codebook, (uint8_t)k);
    const size_t bs = (size_t)c.block_size;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t b = 0; b < q->n_blocks; b++) {
        const float m = c.double_quant ? dq_absmax(q, map, b) : q->absmax[b];
        const size_t start = b * bs, len = n - start < bs ? n - start : bs;
        for (size_t i = 0; i < len; i++) {
            const size_t e = start + i;
            const uint8_t byte = q->packed[e / 2];
            y[e] = table[e % 2 == 0 ? byte >> 4 : byte & 15u] * m;
        }
    }
    return QK_OK;
}
