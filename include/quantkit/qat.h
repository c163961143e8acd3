/*
** quantkit qat: quantization-aware training.
**
** Part 1, the primitives: fake quantization with straight-through gradients
** and learnable step sizes (LSQ), numerically identical to torch.ao's ATen
** CPU kernels (torch.fake_quantize_per_tensor_affine,
** torch.fake_quantize_per_channel_affine and
** torch._fake_quantize_learnable_per_tensor_affine):
**
**   inv_scale = 1.0f / scale                       (f32)
**   qval      = zero_point + nearbyintf(x * inv_scale)   (f32, half to even)
**   y         = (clamp(qval, qmin, qmax) - zero_point) * scale
**   mask      = qmin <= qval <= qmax
**   dx        = dy * mask                          (so dy < 0 outside gives -0)
**
** NaN inputs behave as on torch/x86: the code is qmin and the mask is 0.
** Every function here is reentrant and keeps no state; arrays are caller
** owned and must not overlap unless a comment says so.
*/
#ifndef QUANTKIT_QAT_H
#define QUANTKIT_QAT_H

#include "quantkit/core.h"
#include "quantkit/quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
** Per-channel layout: a tensor viewed as [outer, channels, inner], the
** channel axis in the middle. A weight [out, in] quantized per output row is
** {1, out, in}; an NCHW activation per channel is {N, C, H*W}.
*/
typedef struct qk_channel_layout {
    int64_t outer;    /* product of the dimensions before the axis */
    int64_t channels; /* size of the axis */
    int64_t inner;    /* product of the dimensions after the axis */
} qk_channel_layout;

/* Layout of a row-major tensor of `ndim` dimensions (1..QK_MAX_DIMS) along
** `axis` (negative counts from the end, as in torch). */
qk_status qk_channel_layout_from_shape(int32_t ndim, const int64_t *shape, int32_t axis,
                                       qk_channel_layout *out);

/* ------------------------------------------------------------------------
** Fake quantization, straight-through estimator (STE).
** `p->scale` must be finite and > 0 with a finite 1/scale, qmin < qmax and
** zero_point in [qmin, qmax]; otherwise QK_ERR_INVALID_ARG.
*/

/* y[i] = fake_quant(x[i]); mask (optional, NULL to skip) gets 1 where
** qmin <= qval <= qmax, else 0. `y` may alias `x`. */
qk_status qk_fake_quant_forward(const float *x, size_t n, const qk_affine_params *p, float *y,
                                uint8_t *mask);

/* dx[i] = dy[i] * (qmin <= qval(x[i]) <= qmax). `dx` may alias `dy`. */
qk_status qk_fake_quant_backward(const float *x, const float *dy, size_t n,
                                 const qk_affine_params *p, float *dx);

/* Integer codes: q[i] = clamp(qval(x[i]), qmin, qmax), the values the
** quantized model stores (the same rounding as the forward above). */
qk_status qk_fake_quant_codes(const float *x, size_t n, const qk_affine_params *p, int32_t *q);

/* Per-channel versions: channel c uses scale[c] and zero_point[c] with the
** common range [qmin, qmax]. */
qk_status qk_fake_quant_per_channel_forward(const float *x, qk_channel_layout layout,
                                            const float *scale, const int32_t *zero_point,
                                            int32_t qmin, int32_t qmax, float *y, uint8_t *mask);
qk_status qk_fake_quant_per_channel_backward(const float *x, const float *dy,
                                             qk_channel_layout layout, const float *scale,
                                             const int32_t *zero_point, int32_t qmin, int32_t qmax,
                                             float *dx);
qk_status qk_fake_quant_per_channel_codes(const float *x, qk_channel_layout layout,
                                          const float *scale, const int32_t *zero_point,
                                          int32_t qmin, int32_t qmax, int32_t *q);

/* ------------------------------------------------------------------------
** Learnable step size (LSQ, arXiv 1902.08153) with a learnable zero point,
** as torch._fake_quantize_learnable_per_{tensor,channel}_affine. The scale
** and zero point are floats (trainable parameters).
**
** Forward: the zero point is nearbyintf(zero_point) clamped to [qmin, qmax],
** then the fake quantization above.
** Backward, per element (z = the backward zero point, see below):
**   xq = nearbyintf(z + x * inv_scale)
**   dx = dy * (qmin <= xq <= qmax)
**   inside:  dscale = dy * (xfq - x) * inv_scale * g,   dzp = 0
**            xfq = (xq - z) * scale
**   below:   dscale = dy * (qmin - z) * g,              dzp = dy * -1 * scale * g
**   above:   dscale = dy * (qmax - z) * g,              dzp = dy * -1 * scale * g
** summed over the elements (per tensor, or per channel) in double and
** returned as f32. g is the gradient factor, usually qk_lsq_grad_factor().
** Per tensor, torch's backward takes z = (int)(clamp(zero_point + 0.5f,
** qmin, qmax)), truncating toward zero, so a zero point of -3 acts as -2
** there; this function does the same, so the gradients match torch's.
** Per channel, z = nearbyintf(zero_point[c]) clamped (torch rounds there).
*/

/* LSQ's gradient scale g = 1 / sqrt(numel * qmax) (computed in double, as
** torch.ao's _LearnableFakeQuantize does); 1 when numel or qmax is <= 0. */
float qk_lsq_grad_factor(int64_t numel, int32_t qmax);

/* The integer zero point torch uses for a float zero point: forward
** (nearbyint, clamp) or per-tensor backward (trunc(zp + 0.5), clamp). */
int32_t qk_lsq_zero_point(float zero_point, int32_t qmin, int32_t qmax, bool forward);

/* Forward of the learnable fake quantizer (y may alias x; mask optional). */
qk_status qk_lsq_forward(const float *x, size_t n, float scale, float zero_point, int32_t qmin,
                         int32_t qmax, float *y, uint8_t *mask);

/* Backward per tensor: dx (optional, may alias dy) and the summed scale and
** zero-point gradients (each optional). */
qk_status qk_lsq_backward(const float *x, const float *dy, size_t n, float scale, float zero_point,
                          int32_t qmin, int32_t qmax, float grad_factor, float *dx, float *dscale,
                          float *dzero_point);

/* Per channel: scale[c], zero_point[c] (floats); dscale[c] and
** dzero_point[c] receive the per-channel sums (each array optional). */
qk_status qk_lsq_per_channel_forward(const float *x, qk_channel_layout layout, const float *scale,
                                     const float *zero_point, int32_t qmin, int32_t qmax, float *y,
                                     uint8_t *mask);
qk_status qk_lsq_per_channel_backward(const float *x, const float *dy, qk_channel_layout layout,
                                      const float *scale, const float *zero_point, int32_t qmin,
                                      int32_t qmax, float grad_factor, float *dx, float *dscale,
                                      float *dzero_point);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_QAT_H */
