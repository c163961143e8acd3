/*
** quantkit kernels: quantize, dequantize and dot-product kernels for every
** weight format, and products of weights in any storage type with f32
** activations.
**
** Each kernel has a plain-C reference variant and SIMD variants (AVX2,
** AVX-512 with VNNI), one source file per instruction set, chosen once at
** run time from the CPU features (qk_isa_get(): QK_FORCE_REF=1 or
** QK_ISA=ref|avx2|avx512 force a path). The variants agree:
**   - integer outputs (quantized bytes, activation quants) bit for bit;
**   - dequantized values bit for bit (the same products in the same order,
**     no fused multiply-add);
**   - dot products (float sums in a different order) within
**     |simd - ref| <= QK_KERNELS_DOT_REL_TOL * S + QK_KERNELS_DOT_ABS_TOL * n
**     with S = sum_i |w_i * x_i| over the n dequantized weights and
**     (dequantized) activations; for the formats with a min (Q4_1, Q5_1,
**     Q2_K, Q4_K, Q5_K), whose weights are w_i = a_i - b_i (the scaled
**     quant and the min), S counts both parts: sum_i (|a_i| + |b_i|) |x_i|
**     (the kernels sum the two parts separately, as ggml's do). The second
**     term only matters when scale products fall below FLT_MIN, where f32
**     keeps few significant bits.
** Numeric results never depend on the thread count.
**
** Non-finite values: the row quantizers and activation quantizers require
** finite input (the checked entry points below reject NaN/Inf with
** QK_ERR_NONFINITE naming the element; the raw function pointers must not
** be given them). Dequantization and dot products follow IEEE arithmetic:
** a block whose f16 scale is Inf or NaN gives Inf/NaN outputs on every path.
*/
#ifndef QUANTKIT_KERNELS_H
#define QUANTKIT_KERNELS_H

#include "quantkit/core.h"
#include "quantkit/quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
** Matrix products
*/

/* y[n_rows, out] = x[n_rows, in] * W^T for a 2-D weight W [out, in] stored
** in any type quantkit supports (f32/f16/bf16/fp8 and every block format).
** x and y are row-major f32 and must not overlap. Output columns are cut
** into fixed tiles of weight rows spread over the OpenMP threads, so every
** output element is computed by the same code in the same order whatever
** the number of threads.
**   n_rows <= QK_MATMUL_DOT_ROWS and a type with quantized dot kernels
**     (every block format, f16, bf16): each activation row is quantized to
**     Q8 (Q8_0 values per 32 for the 32-element formats, Q8_K per 256 for
**     the K formats, as llama.cpp does) and each output is one integer dot
**     product per block, scaled in f32: bandwidth-bound matrix-vector
**     products. f16/bf16 weights use f32 dot products of the f32 x.
**   otherwise: tiles of 64 weight rows are dequantized to f32 and
**     multiplied with a single-threaded BLAS sgemm (f32 weights directly),
**     so the result equals f32 arithmetic on the dequantized weights up to
**     summation order. */
#define QK_MATMUL_DOT_ROWS 4
qk_status qk_matmul(const qk_tensor_view *w, const float *x, int64_t n_rows, float *y);

/* Make OpenBLAS single-threaded: quantkit parallelises with OpenMP around
** BLAS calls. Called by every kernel that uses BLAS. */
void qk_blas_single_thread(void);

/* Dequantize row `row` of a 2-D weight view into y (cols floats). */
qk_status qk_weight_row_f32(const qk_tensor_view *w, int64_t row, float *y);

/* ------------------------------------------------------------------------
** Kernel tables
**
** qk_kernels_get(type, isa) gives the functions of one weight type at one
** instruction-set level (ggml's "type traits"), or NULL when this CPU
** lacks that level or the type has no kernels. The functions are raw:
** they check nothing. Preconditions: n a positive multiple of the type's
** block size (32 for the 32-element formats, 256 for the K formats, 1 for
** f16/bf16/f32), buffers of the right size, finite input for quantizers.
**
** Activation rows for vec_dot_act: `act_type` says which quantization:
**   QK_TYPE_Q8_0  (32-element formats): Q8_0's values per block
**                 of 32 (d = amax / 127, q = round-half-away(x / d), int8
**                 in [-127, 127]) with d kept in f32, laid out for the
**                 kernels: groups of 4 blocks, each group the first 16
**                 quants of its 4 blocks then their last 16 (128 bytes),
**                 the last group zero-padded; then f32 d per block, then
**                 int32 sum of quants per block (both padded to 4 per
**                 group). Size qk_kernels_act_bytes().
**   QK_TYPE_Q8_K  (K formats): ggml's Q8_K blocks, byte-identical to
**                 qk_quantize_row(QK_TYPE_Q8_K, ...).
**   QK_TYPE_F32   (f32, f16, bf16): no quantized activations; quantize_act
**                 and vec_dot_act are NULL, vec_dot_f32 is the dot.
** An activation row is built by quantize_act of any variant (all agree bit
** for bit) and read by vec_dot_act of any variant of the same type.
*/
typedef struct qk_kernel_ops {
    qk_type type;     /* weight type */
    qk_isa isa;       /* level of these functions */
    qk_type act_type; /* activation quantization of vec_dot_act (above) */
    /* f32 -> type. 32-element formats: byte for byte ggml's reference
    ** quantizer (qk_quantize_row without importance). K formats: quantkit's
    ** fast K-quant algorithm (qk_kernels_quantize_rows, QK_KQUANT_FAST);
    ** NULL for types without one (q3_k... see the README). */
    void (*quantize_row)(const float *x, void *dst, int64_t n);
    /* type -> f32, bit for bit qk_dequantize_row. */
    void (*dequantize_row)(const void *src, float *y, int64_t n);
    /* f32 -> activation row of act_type. */
    void (*quantize_act)(const float *x, void *act, int64_t n);
    /* sum_i w_i * a_i over one weight row and one activation row. */
    float (*vec_dot_act)(const void *w, const void *act, int64_t n);
    /* The same for `nrows` weight rows `row_bytes` apart: out[r] is
    ** bit for bit vec_dot_act of row r (the activation is read once). */
    void (*vec_dot_act_rows)(const void *w, size_t row_bytes, int nrows, const void *act, int64_t n,
                             float *out);
    /* sum_i w_i * x_i with f32 activations. */
    float (*vec_dot_f32)(const void *w, const float *x, int64_t n);
} qk_kernel_ops;

/* Bound between variants' dot products (see above). */
#define QK_KERNELS_DOT_REL_TOL 1e-5
#define QK_KERNELS_DOT_ABS_TOL 1e-38

/* Functions of `type` at level `isa`; NULL when unavailable (borrowed,
** static). qk_kernels_get(type, qk_isa_get()) is what quantkit uses. */
const qk_kernel_ops *qk_kernels_get(qk_type type, qk_isa isa);

/* Bytes of an activation row of n elements for vec_dot_act of `type`.
** QK_ERR_SHAPE for a partial block, QK_ERR_UNSUPPORTED without kernels. */
qk_status qk_kernels_act_bytes(qk_type type, int64_t n, size_t *out_bytes);

/* ------------------------------------------------------------------------
** Checked entry points (dispatched, OpenMP over rows)
*/

/* K-format quantization algorithm. */
typedef enum qk_kquant_method {
    /* quantkit's fast algorithm: per sub-block, a vectorised search over
    ** candidate scales with a closed-form least-squares fit per candidate;
    ** the super-block scales by least squares over the quantized sub-block
    ** scales. One plain-C reference and SIMD variants that match it bit for
    ** bit, so files do not depend on the CPU. Its RMSE is at most ggml's
    ** block quantizer's (QK_KQUANT_GGML) and up to ~2% above the search's
    ** on the tested data (README). */
    QK_KQUANT_FAST = 0,
    /* qk_quantize_rows: ggml's iterative searches plus refinement; slow. */
    QK_KQUANT_SEARCH = 1,
    /* ggml's own block quantizer alone (llama.cpp's quantize_row_*_ref, or
    ** its importance search with importance): the reference the fast
    ** algorithm's error is measured against; slow. */
    QK_KQUANT_GGML = 2
} qk_kquant_method;

/* Quantize `nrows` rows of `ncols` floats into `dst` (row r at
** r * qk_type_row_bytes(type, ncols)); rows in parallel. 32-element
** formats give qk_quantize_rows's bytes; K formats use `method` (with
** importance weights, or a type without a fast quantizer, the search).
** Errors as qk_quantize_rows (QK_ERR_NONFINITE names row and column). */
qk_status qk_kernels_quantize_rows(qk_type type, const float *x, void *dst, int64_t nrows,
                                   int64_t ncols, const float *importance, qk_kquant_method method);

/* Dequantize `nrows` rows (qk_dequantize_row's values); rows in parallel. */
qk_status qk_kernels_dequantize_rows(qk_type type, const void *src, float *y, int64_t nrows,
                                     int64_t ncols);

/* Affine intN per-group quantization (quant.h's group granularity) of
** `nrows` rows of `ncols` floats, rows in parallel: each row is cut into
** groups of scheme->group_size (the last may be shorter); each group's
** scale and zero point come from its [min, max] as qk_affine_quantize
** computes them (the scheme's bits, range kind, symmetry, range mode and
** scale type; nearest-even rounding only). Writes one code byte per element
** to codes (int8 for signed ranges, uint8 for unsigned; row-major) and
** nrows * ceil(ncols / group_size) scales and zero points. Byte for byte
** qk_affine_quantize's codes, scales and zero points of the [nrows, ncols]
** tensor, on every instruction-set level. Errors: QK_ERR_NONFINITE naming
** row and column, a group's parameter error (QK_ERR_OVERFLOW) naming row
** and group; QK_ERR_INVALID_ARG for another granularity. */
qk_status qk_kernels_affine_quantize_rows(const qk_affine_scheme *scheme, const float *x,
                                          int64_t nrows, int64_t ncols, void *codes, float *scales,
                                          int32_t *zero_points);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_KERNELS_H */
