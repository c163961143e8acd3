/*
** AutoAWQ GEMM checkpoints (4 bits): codes and zero points.
**
** WQLinear_GEMM.from_linear (awq/modules/linear/gemm.py) packs eight output
** rows into one int32 along the output dimension: nibble i of word j holds
** row 8j + ORDER[i], ORDER = [0, 2, 4, 6, 1, 3, 5, 7]; so row 8j + k sits in
** nibble REVERSE[k], REVERSE = [0, 4, 1, 5, 2, 6, 3, 7] (packing_utils.py's
** AWQ_REVERSE_ORDER). qweight is [cols, rows / 8] (the transposed weight),
** qzeros [groups, rows / 8]; zero points are stored as they are.
*/
#include <string.h> /* memset */

#include "core/error.h"
#include "io/ckpt.h"

static const int AWQ_ORDER[8] = {0, 2, 4, 6, 1, 3, 5, 7};
static const int AWQ_REVERSE[8] = {0, 4, 1, 5, 2, 6, 3, 7};

qk_status qk_ckpt_awq_encode(const qk_checkpoint_config *c, const qk_quantized_linear *q,
                             unsigned char *const bufs[CKPT_PARTS]) {
    (void)c;
    const int64_t rows = q->rows, cols = q->cols, groups = q->n_groups, words = rows / 8;
    /* eight rows at a time (read along their columns); blocks of rows write
    ** disjoint words: split over threads */
#pragma omp parallel for schedule(static) if (rows * cols >= QK_CKPT_PARALLEL_MIN)
    for (int64_t j = 0; j < words; j++)
        for (int64_t col = 0; col < cols; col++) {
            uint32_t w = 0;
            for (int i = 0; i < 8; i++)
                w |= (uint32_t)q->codes[(8 * j + AWQ_ORDER[i]) * cols + col] << (4 * i);
            qk_ckpt_put_word(bufs[CKPT_WEIGHT], (size_t)(col * words + j), w);
        }
    for (int64_t g = 0; g < groups; g++)
        for (int64_t j = 0; j < words; j++) {
            uint32_t w = 0;
            for (int i = 0; i < 8; i++)
                w |= ((uint32_t)q->zeros[g * rows + 8 * j + AWQ_ORDER[i]] & 15u) << (4 * i);
            qk_ckpt_put_word(bufs[CKPT_ZEROS], (size_t)(g * words + j), w);
        }
    return QK_OK;
}

qk_status qk_ckpt_awq_decode_codes(const qk_checkpoint_config *c,
                                   const qk_io_tensor *const parts[CKPT_PARTS],
                                   qk_quantized_linear *q) {
    (void)c;
    const int64_t rows = q->rows, cols = q->cols, groups = q->n_groups, words = rows / 8;
#pragma omp parallel for schedule(static) if (rows * cols >= QK_CKPT_PARALLEL_MIN)
    for (int64_t j = 0; j < words; j++)
        for (int64_t col = 0; col < cols; col++) {
            const uint32_t w = qk_ckpt_word(parts[CKPT_WEIGHT], (size_t)(col * words + j));
            for (int k = 0; k < 8; k++)
                q->codes[(8 * j + k) * cols + col] = (uint8_t)((w >> (4 * AWQ_REVERSE[k])) & 15u);
        }
    for (int64_t g = 0; g < groups; g++)
        for (int64_t j = 0; j < words; j++) {
            const uint32_t w = qk_ckpt_word(parts[CKPT_ZEROS], (size_t)(g * words + j));
            for (int k = 0; k < 8; k++)
                q->zeros[g * rows + 8 * j + k] = (int32_t)((w >> (4 * AWQ_REVERSE[k])) & 15u);
        }
    return QK_OK;
}
