/*
** quantkit kernels: products of weights in any storage type with f32
** activations. Reference scalar code plus SIMD variants chosen at run time
** (qk_isa_get()); numeric results do not depend on the thread count.
*/
#ifndef QUANTKIT_KERNELS_H
#define QUANTKIT_KERNELS_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[n_rows, out] = x[n_rows, in] * W^T for a 2-D weight W [out, in] stored
** in any type quantkit supports (f32/f16/bf16/fp8 and every block format).
** x and y are row-major f32 and must not overlap. The output columns are
** cut into fixed tiles of 64 weight rows, spread over the OpenMP threads;
** each tile is one single-threaded BLAS sgemm (non-f32 weights are first
** dequantized tile by tile), so the result equals f32 arithmetic on the
** dequantized weights up to summation order, and does not depend on the
** number of threads. */
qk_status qk_matmul(const qk_tensor_view *w, const float *x, int64_t n_rows, float *y);

/* Make OpenBLAS single-threaded: quantkit parallelises with OpenMP around
** BLAS calls. Called by every kernel that uses BLAS. */
void qk_blas_single_thread(void);

/* Dequantize row `row` of a 2-D weight view into y (cols floats). */
qk_status qk_weight_row_f32(const qk_tensor_view *w, int64_t row, float *y);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_KERNELS_H */
