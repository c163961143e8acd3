/*
** AutoGPTQ checkpoints (v1 "gptq", v2 "gptq_v2"): codes and zero points.
**
** AutoGPTQ's pack() (qlinear_cuda_old.py) ORs code j of a run into word
** `row` at bit bits * (j - i) for 2/4/8 bits, and for 3 bits lays 32 codes
** over 3 words as 10 codes, 2 low bits of the 11th | its high bit, 10 codes,
** 1 low bit of the 22nd | its 2 high bits, 10 codes. Both are one
** little-endian bit stream of `bits`-bit values cut into 32-bit words: value
** v starts at stream bit v * bits, which is bit (v * bits) % 32 of word
** (v * bits) / 32 and continues into the next word when it crosses 32. The
** stream runs along the input dimension for qweight (one stream per output
** row, words stacked as qweight's rows) and along the output dimension for
** qzeros (one stream per group).
*/
#include <string.h> /* memset */

#include "core/error.h"
#include "io/ckpt.h"

/* OR value v (bits wide) into stream position `index` of the stream whose
** word k is words[k * stride]. */
static inline void stream_put(uint32_t *words, int64_t stride, int64_t index, int bits,
                              uint32_t v) {
    const int64_t pos = index * bits, w = pos >> 5;
    const int off = (int)(pos & 31);
    words[w * stride] |= v << off;
    if (off + bits > 32) words[(w + 1) * stride] |= v >> (32 - off);
}

/* Value at stream position `index` of a stored I32 tensor whose word k is
** element k * stride + base. */
static inline uint32_t stream_get(const qk_io_tensor *t, int64_t stride, int64_t base,
                                  int64_t index, int bits) {
    const int64_t pos = index * bits, w = pos >> 5;
    const int off = (int)(pos & 31);
    uint32_t v = qk_ckpt_word(t, (size_t)(w * stride + base)) >> off;
    if (off + bits > 32) v |= qk_ckpt_word(t, (size_t)((w + 1) * stride + base)) << (32 - off);
    return v & ((1u << bits) - 1);
}

qk_status qk_ckpt_gptq_encode(const qk_checkpoint_config *c, const qk_quantized_linear *q,
                              unsigned char *const bufs[CKPT_PARTS]) {
    const int64_t rows = q->rows, cols = q->cols, groups = q->n_groups;
    const int bits = q->bits;
    /* the buffers are malloc'ed (aligned) and the host is little-endian */
    uint32_t *qweight = (uint32_t *)(void *)bufs[CKPT_WEIGHT];
    uint32_t *qzeros = (uint32_t *)(void *)bufs[CKPT_ZEROS];
    memset(qweight, 0, (size_t)(cols / 32 * bits * rows) * 4);
    memset(qzeros, 0, (size_t)(groups * (rows / 32 * bits)) * 4);
    /* qweight [cols * bits / 32, rows]: column r of qweight is row r's stream
    ** (rows write disjoint words: split over threads) */
#pragma omp parallel for schedule(static) if (rows * cols >= QK_CKPT_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *code = q->codes + r * cols;
        for (int64_t col = 0; col < cols; col++)
            stream_put(qweight + r, rows, col, bits, code[col]);
    }
    /* qzeros [groups, rows * bits / 32]: row g is group g's stream */
    const int64_t zwords = rows / 32 * bits;
    const int32_t offset = c->format == QK_CHECKPOINT_GPTQ ? 1 : 0; /* v1 stores zero - 1 */
    for (int64_t g = 0; g < groups; g++)
        for (int64_t r = 0; r < rows; r++)
            stream_put(qzeros + g * zwords, 1, r, bits,
                       (uint32_t)(q->zeros[g * rows + r] - offset) & ((1u << bits) - 1));
    return QK_OK;
}

qk_status qk_ckpt_gptq_decode_codes(const qk_checkpoint_config *c,
                                    const qk_io_tensor *const parts[CKPT_PARTS],
                                    qk_quantized_linear *q) {
    const int64_t rows = q->rows, cols = q->cols, groups = q->n_groups;
    const int bits = q->bits;
    const qk_io_tensor *qweight = parts[CKPT_WEIGHT], *qzeros = parts[CKPT_ZEROS];
    /* stream of row r: words qweight[k][r], k = 0 .. cols*bits/32 - 1 */
#pragma omp parallel for schedule(static) if (rows * cols >= QK_CKPT_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *code = q->codes + r * cols;
        for (int64_t col = 0; col < cols; col++)
            code[col] = (uint8_t)stream_get(qweight, rows, r, col, bits);
    }
    const int64_t zwords = rows / 32 * bits;
    const int32_t offset = c->format == QK_CHECKPOINT_GPTQ ? 1 : 0; /* v1: stored + 1 */
    for (int64_t g = 0; g < groups; g++)
        for (int64_t r = 0; r < rows; r++)
            q->zeros[g * rows + r] = (int32_t)stream_get(qzeros, 1, g * zwords, r, bits) + offset;
    return QK_OK;
}
