/*
** im2col / col2im for the QAT convolution (see conv_math.h).
*/
#include <string.h> /* memset */

#include "core/error.h"
#include "qat/conv_math.h"

qk_status qk_conv2d_out_hw(const qk_qat_conv2d_shape *s, int64_t *out_h, int64_t *out_w) {
    if (s->in_channels <= 0 || s->out_channels <= 0 || s->in_h <= 0 || s->in_w <= 0 ||
        s->kernel_h <= 0 || s->kernel_w <= 0 || s->stride_h <= 0 || s->stride_w <= 0 ||
        s->pad_h < 0 || s->pad_w < 0)
        return qk_error_set(QK_ERR_SHAPE,
                            "conv2d: channels %d->%d, input %dx%d, kernel %dx%d, stride %dx%d, "
                            "padding %dx%d: sizes must be positive (padding >= 0)",
                            s->in_channels, s->out_channels, s->in_h, s->in_w, s->kernel_h,
                            s->kernel_w, s->stride_h, s->stride_w, s->pad_h, s->pad_w);
    const int64_t span_h = (int64_t)s->in_h + 2 * (int64_t)s->pad_h - s->kernel_h;
    const int64_t span_w = (int64_t)s->in_w + 2 * (int64_t)s->pad_w - s->kernel_w;
    if (span_h < 0 || span_w < 0)
        return qk_error_set(QK_ERR_SHAPE, "conv2d: kernel %dx%d larger than the padded input %dx%d",
                            s->kernel_h, s->kernel_w, s->in_h + 2 * s->pad_h,
                            s->in_w + 2 * s->pad_w);
    *out_h = span_h / s->stride_h + 1;
    *out_w = span_w / s->stride_w + 1;
    return QK_OK;
}

void qk_im2col_f32(const float *x, const qk_qat_conv2d_shape *s, int64_t out_h, int64_t out_w,
                   float *col) {
    const int64_t P = out_h * out_w;
    int64_t row = 0;
    for (int64_t c = 0; c < s->in_channels; c++) {
        const float *plane = x + c * (int64_t)s->in_h * s->in_w;
        for (int64_t ki = 0; ki < s->kernel_h; ki++)
            for (int64_t kj = 0; kj < s->kernel_w; kj++, row++) {
                float *dst = col + row * P;
                for (int64_t oh = 0; oh < out_h; oh++) {
                    const int64_t ih = oh * s->stride_h - s->pad_h + ki;
                    const bool row_in = ih >= 0 && ih < s->in_h;
                    for (int64_t ow = 0; ow < out_w; ow++) {
                        const int64_t iw = ow * s->stride_w - s->pad_w + kj;
                        dst[oh * out_w + ow] =
                            row_in && iw >= 0 && iw < s->in_w ? plane[ih * s->in_w + iw] : 0.0f;
                    }
                }
            }
    }
}

void qk_im2col_i32(const int32_t *x, const qk_qat_conv2d_shape *s, int64_t out_h, int64_t out_w,
                   int32_t *col) {
    const int64_t P = out_h * out_w;
    int64_t row = 0;
    for (int64_t c = 0; c < s->in_channels; c++) {
        const int32_t *plane = x + c * (int64_t)s->in_h * s->in_w;
        for (int64_t ki = 0; ki < s->kernel_h; ki++)
            for (int64_t kj = 0; kj < s->kernel_w; kj++, row++) {
                int32_t *dst = col + row * P;
                for (int64_t oh = 0; oh < out_h; oh++) {
                    const int64_t ih = oh * s->stride_h - s->pad_h + ki;
                    const bool row_in = ih >= 0 && ih < s->in_h;
                    for (int64_t ow = 0; ow < out_w; ow++) {
                        const int64_t iw = ow * s->stride_w - s->pad_w + kj;
                        dst[oh * out_w + ow] =
                            row_in && iw >= 0 && iw < s->in_w ? plane[ih * s->in_w + iw] : 0;
                    }
                }
            }
    }
}

void qk_col2im_f32(const float *col, const qk_qat_conv2d_shape *s, int64_t out_h, int64_t out_w,
                   float *dx) {
    const int64_t P = out_h * out_w;
    memset(dx, 0, sizeof(float) * (size_t)s->in_channels * (size_t)s->in_h * (size_t)s->in_w);
    int64_t row = 0;
    for (int64_t c = 0; c < s->in_channels; c++) {
        float *plane = dx + c * (int64_t)s->in_h * s->in_w;
        for (int64_t ki = 0; ki < s->kernel_h; ki++)
            for (int64_t kj = 0; kj < s->kernel_w; kj++, row++) {
                const float *src = col + row * P;
                for (int64_t oh = 0; oh < out_h; oh++) {
                    const int64_t ih = oh * s->stride_h - s->pad_h + ki;
                    if (ih < 0 || ih >= s->in_h) continue;
                    for (int64_t ow = 0; ow < out_w; ow++) {
                        const int64_t iw = ow * s->stride_w - s->pad_w + kj;
                        if (iw >= 0 && iw < s->in_w)
                            plane[ih * s->in_w + iw] += src[oh * out_w + ow];
                    }
                }
            }
    }
}
