/*
** quantkit ggml: llama.cpp's block formats (ggml-common.h), with reference
** quantizers and dequantizers.
**
** Every block format stores `block_elems` weights in `block_bytes` bytes
** (qk_type_get_traits). A row of n weights is n / block_elems blocks laid
** one after another; qk_type_row_bytes(type, n, &bytes) gives its size. The
** structs below are the exact byte layouts of the files (GGUF tensor data)
** on a little-endian host: "qk_half" is an IEEE binary16 bit pattern.
**
**   type    block  bytes  layout
**   q4_0     32     18    d; qs[16]: x = (q - 8) * d
**   q4_1     32     20    d, m; qs[16]: x = q * d + m
**   q5_0     32     22    d; qh[4]; qs[16]: x = (q - 16) * d, bit 4 of q in qh
**   q5_1     32     24    d, m; qh[4]; qs[16]: x = q * d + m
**   q8_0     32     34    d; qs[32] (int8): x = q * d
**   q8_1     32     36    d, s = d * sum(q); qs[32] (int8)   (activations)
**   q2_k    256     84    16 sub-blocks of 16, 4-bit scale and min each
**   q3_k    256    110    16 sub-blocks of 16, 6-bit signed scales
**   q4_k    256    144    8 sub-blocks of 32, 6-bit scale and min each
**   q5_k    256    176    as q4_k, plus a high bit per weight
**   q6_k    256    210    16 sub-blocks of 16, int8 scales
**   q8_k    256    292    f32 d; qs[256]; bsums[16]           (activations)
**   iq4_nl   32     18    d; qs[16]: x = d * kvalues[q] (non-linear codebook)
**
** In the 32-element formats byte j of qs holds element j in its low nibble
** and element j + 16 in its high nibble.
**
** Importance (llama.cpp imatrix semantics): NULL, or one non-negative finite
** weight per column of the row (per input column, the sum of x^2 over
** calibration tokens). Only relative values matter. Per type:
**   q8_0, q8_1, q8_k, and the plain float types: ignored.
**   q4_0, q4_1, q5_0, q5_1: without importance the output is byte for byte
**     llama.cpp's quantize_row_*_ref; with importance, a weighted
**     least-squares scale search (llama.cpp's imatrix path).
**   q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl: each block starts from the block
**     llama.cpp would write (its reference quantizer without importance,
**     its imatrix path with it, both reproduced exactly) and from a second
**     least-squares start; both are refined by coordinate descent on the
**     exact decoded error, and the block keeps whichever decodes with the
**     lower squared error, weighted by the importance when given. So no
**     block is ever worse than llama.cpp's by that measure.
** A block whose importance weights are all zero is quantized as if no
** importance were given (its error does not matter, so keep it sensible).
*/
#ifndef QUANTKIT_GGML_H
#define QUANTKIT_GGML_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#define QK_GGML_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define QK_GGML_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define QK_GGML_QK 32    /* elements per block of the 32-element formats */
#define QK_GGML_QK_K 256 /* elements per super-block of the K formats */

typedef uint16_t qk_half; /* IEEE binary16 bits */

typedef struct qk_block_q4_0 {
    qk_half d;                  /* scale */
    uint8_t qs[QK_GGML_QK / 2]; /* 4-bit quants, offset 8 */
} qk_block_q4_0;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q4_0) == 18, "q4_0 block is 18 bytes");

typedef struct qk_block_q4_1 {
    qk_half d;                  /* scale */
    qk_half m;                  /* min (added) */
    uint8_t qs[QK_GGML_QK / 2]; /* 4-bit quants */
} qk_block_q4_1;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q4_1) == 20, "q4_1 block is 20 bytes");

typedef struct qk_block_q5_0 {
    qk_half d;                  /* scale */
    uint8_t qh[4];              /* bit 4 of element j is bit j of this LE u32 */
    uint8_t qs[QK_GGML_QK / 2]; /* low 4 bits */
} qk_block_q5_0;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q5_0) == 22, "q5_0 block is 22 bytes");

typedef struct qk_block_q5_1 {
    qk_half d;                  /* scale */
    qk_half m;                  /* min (added) */
    uint8_t qh[4];              /* bit 4 of element j is bit j of this LE u32 */
    uint8_t qs[QK_GGML_QK / 2]; /* low 4 bits */
} qk_block_q5_1;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q5_1) == 24, "q5_1 block is 24 bytes");

typedef struct qk_block_q8_0 {
    qk_half d;             /* scale */
    int8_t qs[QK_GGML_QK]; /* quants */
} qk_block_q8_0;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q8_0) == 34, "q8_0 block is 34 bytes");

typedef struct qk_block_q8_1 {
    qk_half d;             /* scale */
    qk_half s;             /* d * sum(qs) */
    int8_t qs[QK_GGML_QK]; /* quants */
} qk_block_q8_1;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q8_1) == 36, "q8_1 block is 36 bytes");

typedef struct qk_block_q2_k {
    uint8_t scales[QK_GGML_QK_K / 16]; /* low nibble scale, high nibble min */
    uint8_t qs[QK_GGML_QK_K / 4];      /* 2-bit quants */
    qk_half d;                         /* super-block scale of the scales */
    qk_half dmin;                      /* super-block scale of the mins */
} qk_block_q2_k;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q2_k) == 84, "q2_k block is 84 bytes");

typedef struct qk_block_q3_k {
    uint8_t hmask[QK_GGML_QK_K / 8]; /* high bit of each quant */
    uint8_t qs[QK_GGML_QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];              /* 16 6-bit scales, offset 32 */
    qk_half d;                       /* super-block scale */
} qk_block_q3_k;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q3_k) == 110, "q3_k block is 110 bytes");

typedef struct qk_block_q4_k {
    qk_half d;                    /* super-block scale of the scales */
    qk_half dmin;                 /* super-block scale of the mins */
    uint8_t scales[12];           /* 8 6-bit scales and 8 6-bit mins */
    uint8_t qs[QK_GGML_QK_K / 2]; /* 4-bit quants */
} qk_block_q4_k;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q4_k) == 144, "q4_k block is 144 bytes");

typedef struct qk_block_q5_k {
    qk_half d;                    /* super-block scale of the scales */
    qk_half dmin;                 /* super-block scale of the mins */
    uint8_t scales[12];           /* 8 6-bit scales and 8 6-bit mins */
    uint8_t qh[QK_GGML_QK_K / 8]; /* high bit of each quant */
    uint8_t qs[QK_GGML_QK_K / 2]; /* low 4 bits */
} qk_block_q5_k;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q5_k) == 176, "q5_k block is 176 bytes");

typedef struct qk_block_q6_k {
    uint8_t ql[QK_GGML_QK_K / 2];     /* low 4 bits */
    uint8_t qh[QK_GGML_QK_K / 4];     /* high 2 bits */
    int8_t scales[QK_GGML_QK_K / 16]; /* 8-bit sub-block scales */
    qk_half d;                        /* super-block scale */
} qk_block_q6_k;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q6_k) == 210, "q6_k block is 210 bytes");

typedef struct qk_block_q8_k {
    float d;                          /* scale (f32) */
    int8_t qs[QK_GGML_QK_K];          /* quants */
    int16_t bsums[QK_GGML_QK_K / 16]; /* sum of the quants of each 16 */
} qk_block_q8_k;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_q8_k) == 292, "q8_k block is 292 bytes");

typedef struct qk_block_iq4_nl {
    qk_half d;                  /* scale */
    uint8_t qs[QK_GGML_QK / 2]; /* 4-bit indices into qk_iq4nl_values */
} qk_block_iq4_nl;
QK_GGML_STATIC_ASSERT(sizeof(qk_block_iq4_nl) == 18, "iq4_nl block is 18 bytes");

/* IQ4_NL's codebook: {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25,
** 38, 53, 69, 89, 113}. */
extern const int8_t qk_iq4nl_values[16];

/* Quantize one row of `n` floats into `dst` (qk_type_row_bytes(type, n)
** bytes). `type` is a block format above or a plain float type (f32, f16,
** bf16, f8_e4m3, f8_e5m2: rounded to nearest even, FP8 saturating).
** `importance` is NULL or `n` weights (see above). Errors:
**   QK_ERR_SHAPE      n is negative or not a multiple of the block size
**   QK_ERR_NONFINITE  an input (or importance weight) is NaN or infinite;
**                     the message names the element index
**   QK_ERR_INVALID_ARG a negative importance weight, or NULL buffers
**   QK_ERR_NUMERIC    a block's values are too large for its f16 scale
**   QK_ERR_UNSUPPORTED a type that is neither a block format nor a float
** Deterministic: the output depends only on the inputs. */
qk_status qk_quantize_row(qk_type type, const float *x, void *dst, int64_t n,
                          const float *importance);

/* Dequantize one row of `n` elements of `type` (any block format above, or
** f32, f16, bf16, f8_e4m3, f8_e5m2) to f32. Block formats reproduce ggml's
** to_float bit for bit (the products are formed in ggml's order). */
qk_status qk_dequantize_row(qk_type type, const void *src, float *y, int64_t n);

/* Quantize `nrows` rows of `ncols` floats (row-major, contiguous) into
** `dst`, row r at r * qk_type_row_bytes(type, ncols). `importance` is NULL
** or `ncols` weights shared by every row. Rows run in parallel (OpenMP,
** qk_threads_set); the result does not depend on the thread count. Errors
** as qk_quantize_row, with the row and column named. */
qk_status qk_quantize_rows(qk_type type, const float *x, void *dst, int64_t nrows, int64_t ncols,
                           const float *importance);

/* Whether qk_quantize_row uses `importance` for this type. */
bool qk_type_uses_importance(qk_type type);

/* Largest magnitude a value of `type` can hold: for block formats the
** largest f16 (65504) times the format's largest |code product| (Q4_0 8,
** Q4_1 16, Q5_0 16, Q5_1 32, Q8_0/Q8_1 128, Q2_K 60, Q3_K 128, Q4_K 1008,
** Q5_K 2016, Q6_K 4096, IQ4_NL 127); the largest finite value for f16
** (65504), bf16 (0x1.fep127), f8 (448 / 57344); +Inf for f32 and Q8_K (f32
** scale). (qk_quantize_row(s) to float types convert like qk_convert;
** qk_quantize_model rejects f16/bf16 values that round to an infinity.) */
float qk_type_max_magnitude(qk_type type);
/* For a block format: QK_ERR_NUMERIC naming the first element of x[0..n)
** (row `row`, or a single row when row < 0) whose magnitude exceeds
** qk_type_max_magnitude (QK_OK for other types):
** qk_quantize_row(s) and qk_kernels_quantize_rows check this before
** quantizing (such a block cannot be represented, and its squares would
** overflow the K formats' searches). Blocks below the limit whose f16
** scale still rounds to Inf are QK_ERR_NUMERIC as well (after quantizing).
** Subnormal and tiny inputs are accepted: their scales underflow to 0 and
** they dequantize to 0, as in ggml. */
qk_status qk_quantize_check_magnitude(qk_type type, const float *x, int64_t n, int64_t row);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_GGML_H */
