/*
** compressed-tensors "pack-quantized" checkpoints: codes and zero points.
**
** pack_to_int32 (compressors/quantized_compressors/pack_quantized.py) adds
** 2^(bits-1) to the signed int8 value (so the stored value is quantkit's
** unsigned code) and puts 32 // bits values in each int32, value i of a
** word at bit bits * i; a row that does not fill its last word is padded
** with zeros, and no value crosses a word (3 bits: 10 per word, the top 2
** bits unused). weight_packed packs along the input dimension ([rows,
** ceil(cols / per_word)]); weight_zero_point, present for asymmetric group
** and channel schemes, along the output dimension (packed_dim 0: [ceil(rows /
** per_word), groups]). Symmetric schemes have zero point 0, quantkit's
** 2^(bits-1).
*/
#include <string.h> /* memset */

#include "core/error.h"
#include "io/ckpt.h"

qk_status qk_ckpt_ct_encode(const qk_checkpoint_config *c, const qk_quantized_linear *q,
                            unsigned char *const bufs[CKPT_PARTS]) {
    const int64_t rows = q->rows, cols = q->cols, groups = q->n_groups;
    const int bits = q->bits, per = 32 / bits;
    const int64_t wcols = (cols + per - 1) / per;
#pragma omp parallel for schedule(static) if (rows * cols >= QK_CKPT_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < wcols; j++) {
            uint32_t w = 0;
            for (int i = 0; i < per && j * per + i < cols; i++)
                w |= (uint32_t)q->codes[r * cols + j * per + i] << (bits * i);
            qk_ckpt_put_word(bufs[CKPT_WEIGHT], (size_t)(r * wcols + j), w);
        }
    if (!c->symmetric) {
        const int64_t wrows = (rows + per - 1) / per;
        for (int64_t j = 0; j < wrows; j++)
            for (int64_t g = 0; g < groups; g++) {
                uint32_t w = 0;
                for (int i = 0; i < per && j * per + i < rows; i++)
                    w |= (uint32_t)q->zeros[g * rows + j * per + i] << (bits * i);
                qk_ckpt_put_word(bufs[CKPT_ZEROS], (size_t)(j * groups + g), w);
            }
    }
    return QK_OK;
}

qk_status qk_ckpt_ct_decode_codes(const qk_checkpoint_config *c,
                                  const qk_io_tensor *const parts[CKPT_PARTS],
                                  qk_quantized_linear *q) {
    const int64_t rows = q->rows, cols = q->cols, groups = q->n_groups;
    const int bits = q->bits, per = 32 / bits;
    const uint32_t mask = (1u << bits) - 1;
    const int64_t wcols = (cols + per - 1) / per;
#pragma omp parallel for schedule(static) if (rows * cols >= QK_CKPT_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t col = 0; col < cols; col++) {
            const uint32_t w = qk_ckpt_word(parts[CKPT_WEIGHT], (size_t)(r * wcols + col / per));
            q->codes[r * cols + col] = (uint8_t)((w >> (bits * (col % per))) & mask);
        }
    if (c->symmetric) {
        for (int64_t i = 0; i < groups * rows; i++) q->zeros[i] = 1 << (bits - 1);
        return QK_OK;
    }
    for (int64_t g = 0; g < groups; g++)
        for (int64_t r = 0; r < rows; r++) {
            const uint32_t w = qk_ckpt_word(parts[CKPT_ZEROS], (size_t)((r / per) * groups + g));
            q->zeros[g * rows + r] = (int32_t)((w >> (bits * (r % per))) & mask);
        }
    return QK_OK;
}
