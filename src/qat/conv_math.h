/*
** Internal: geometry and im2col/col2im of the QAT convolution, shared by
** the QAT layer (f32) and the converted integer layer (int32 codes).
** col is [K, P] row-major with K = in_channels * kernel_h * kernel_w and
** P = out_h * out_w; padded positions read as 0.
*/
#ifndef QK_QAT_CONV_MATH_H
#define QK_QAT_CONV_MATH_H

#include "quantkit/qat.h"

/* Check a shape and compute the output size; QK_ERR_SHAPE when invalid. */
qk_status qk_conv2d_out_hw(const qk_qat_conv2d_shape *s, int64_t *out_h, int64_t *out_w);

void qk_im2col_f32(const float *x, const qk_qat_conv2d_shape *s, int64_t out_h, int64_t out_w,
                   float *col);
void qk_im2col_i32(const int32_t *x, const qk_qat_conv2d_shape *s, int64_t out_h, int64_t out_w,
                   int32_t *col);
/* dx (one sample, [C, H, W]) = the sum of col's entries over the positions
** they were read from; dx is overwritten. */
void qk_col2im_f32(const float *col, const qk_qat_conv2d_shape *s, int64_t out_h, int64_t out_w,
                   float *dx);

#endif
