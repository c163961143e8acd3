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
** NaN inputs behave as on torch/x86: the code is qmin and the mask is 0;
** +-Inf (and values beyond int64, where torch's cast is undefined) saturate.
** The primitives are reentrant and keep no state; arrays are caller owned
** and must not overlap unless a comment says so.
**
** Part 2 (below): QAT layers with state (one thread at a time per layer),
** the schedule, batch-norm folding and conversion. docs/QAT.md has the
** guide and a training loop to paste.
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

/* ========================================================================
** Part 2: QAT layers, schedule, batch-norm folding and conversion.
**
** A QAT layer (linear or 2-D convolution) keeps f32 master weights and a
** bias, fake-quantizes its weights (per tensor or per output channel) and,
** optionally, its input activations (per tensor, with a moving-average
** min-max observer), and computes gradients with the straight-through
** estimator, plus LSQ gradients for learnable scales and zero points. The
** caller owns the training loop: it calls forward, computes dL/dy, calls
** backward, and updates the parameters listed by qk_qat_layer_params() with
** its own optimizer (LSQ parameters are marked so they can get their own
** learning rate). `convert` turns a trained layer into an integer layer
** (packed weight codes, scales, zero points) whose forward runs on integer
** codes with int32 accumulation. Arithmetic is plain, deterministic C.
*/

/* Weights per tensor or per output channel (activations: per tensor). */
typedef enum qk_qat_granularity {
    QK_QAT_PER_TENSOR = 0,
    QK_QAT_PER_CHANNEL = 1
} qk_qat_granularity;

/* Where scale and zero point come from. */
typedef enum qk_qat_scale_mode {
    QK_QAT_SCALE_OBSERVER = 0, /* min-max observer with momentum; straight-through gradients */
    QK_QAT_SCALE_LSQ = 1       /* learnable (LSQ), initialised as `init` says, then trained */
} qk_qat_scale_mode;

/* First value of a learnable scale. */
typedef enum qk_qat_init {
    QK_QAT_INIT_MINMAX = 0, /* from the observer's min and max */
    QK_QAT_INIT_LSQ = 1     /* LSQ paper: 2 * mean|x| / sqrt(qmax), zero point by symmetry */
} qk_qat_init;

typedef struct qk_qat_quant_config {
    int bits;                       /* 2..8; 0 leaves this tensor in f32 */
    qk_qrange_kind range;           /* integer range for `bits` (quant.h) */
    bool symmetric;                 /* symmetric scale, zero point 0 (signed) or mid (unsigned) */
    qk_qat_granularity granularity; /* weights only */
    qk_qat_scale_mode mode;
    qk_qat_init init;      /* LSQ mode only */
    float momentum;        /* observer averaging constant c in (0, 1]: after the first
                              batch, min += c * (batch_min - min), same for max; 1 keeps
                              the last batch only */
    bool learn_zero_point; /* LSQ mode: also train the zero point (asymmetric only) */
} qk_qat_quant_config;

typedef struct qk_qat_config {
    qk_qat_quant_config weight;
    qk_qat_quant_config act; /* the layer's input activations */
} qk_qat_config;

/* Defaults: weights `weight_bits`, signed restricted range, symmetric, per
** channel, observer with momentum 1 (the current weights); activations
** `act_bits` (0 = none), unsigned range, asymmetric, per tensor, observer
** with momentum 0.01 (torch's averaging constant). */
qk_qat_config qk_qat_config_default(int weight_bits, int act_bits);

/* Geometry of a 2-D convolution over NCHW samples (fixed input size). */
typedef struct qk_qat_conv2d_shape {
    int32_t in_channels, out_channels;
    int32_t in_h, in_w;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w; /* >= 1 */
    int32_t pad_h, pad_w;       /* zero padding, >= 0 */
} qk_qat_conv2d_shape;

typedef struct qk_qat_layer qk_qat_layer; /* opaque */

/* A linear layer y = x W^T + b with W [out, in] (row-major), b [out]. The
** weights start at zero: set them with qk_qat_layer_set_weights(). */
qk_status qk_qat_linear_create(int64_t in_features, int64_t out_features,
                               const qk_qat_config *config, qk_qat_layer **out);
/* A convolution with W [out_channels, in_channels, kernel_h, kernel_w], b
** [out_channels]; samples are [C, H, W] row-major, outputs [out_channels,
** out_h, out_w] with out = (in + 2 pad - kernel) / stride + 1. */
qk_status qk_qat_conv2d_create(const qk_qat_conv2d_shape *shape, const qk_qat_config *config,
                               qk_qat_layer **out);
void qk_qat_layer_free(qk_qat_layer *layer); /* NULL is a no-op */

/* Floats per sample in and out; weight count (out * in * kh * kw). */
int64_t qk_qat_layer_in_size(const qk_qat_layer *layer);
int64_t qk_qat_layer_out_size(const qk_qat_layer *layer);
int64_t qk_qat_layer_weight_count(const qk_qat_layer *layer);
int64_t qk_qat_layer_out_channels(const qk_qat_layer *layer);

/* Copy weights (weight_count floats) and bias (out channels; NULL = 0). */
qk_status qk_qat_layer_set_weights(qk_qat_layer *layer, const float *weight, const float *bias);

/* Trainable parameters: "weight", "bias", and in LSQ mode "weight_scale",
** "weight_zero_point" (when learned), "act_scale", "act_zero_point". The
** pointers are borrowed and valid until the layer is freed (their values
** may also be changed by set_phase when the bit width changes). */
typedef struct qk_qat_param {
    const char *name;
    float *value; /* `count` values, updated by the caller's optimizer */
    float *grad;  /* `count` gradients, accumulated by backward */
    size_t count;
    bool is_qparam; /* a learnable scale or zero point (own learning rate) */
} qk_qat_param;
#define QK_QAT_MAX_PARAMS 6
/* Fills out[0..*n-1] (at most QK_QAT_MAX_PARAMS entries). */
qk_status qk_qat_layer_params(qk_qat_layer *layer, qk_qat_param *out, size_t capacity, size_t *n);
/* Set every gradient to zero. */
void qk_qat_layer_zero_grad(qk_qat_layer *layer);

/* What the layer does now; the schedule below computes it from the step. */
typedef struct qk_qat_phase {
    bool observe;    /* training forwards update the observers (and, in observer mode,
                        the scales and zero points) */
    bool fake_quant; /* forwards fake-quantize; otherwise plain f32 */
    int weight_bits; /* current bit widths (progressive reduction); 0 keeps the configured */
    int act_bits;
} qk_qat_phase;
/* Apply a phase. Changing a bit width keeps the represented float range:
** observer mode recomputes from min and max, LSQ rescales the scale by
** (old qmax - qmin) / (new qmax - qmin). */
qk_status qk_qat_layer_set_phase(qk_qat_layer *layer, const qk_qat_phase *phase);
qk_qat_phase qk_qat_layer_phase(const qk_qat_layer *layer);

/* Forward `batch` samples: x [batch, in_size] -> y [batch, out_size].
** training = true updates observers (when the phase says so) and keeps
** what backward needs; false is inference (observers untouched). The first
** fake-quantized forward sets up a quantizer that has observed nothing yet
** from the tensor at hand (and, in LSQ mode, starts learning). */
qk_status qk_qat_layer_forward(qk_qat_layer *layer, const float *x, int64_t batch, bool training,
                               float *y);
/* Backward of the last training forward: dy [batch, out_size]; adds the
** parameter gradients; writes dx [batch, in_size] unless dx is NULL. */
qk_status qk_qat_layer_backward(qk_qat_layer *layer, const float *dy, float *dx);

/* Current weight quantization parameters of channel `c` (per tensor: c = 0),
** as the fake quantizer uses them (zero point rounded and clamped). */
qk_status qk_qat_layer_weight_params(const qk_qat_layer *layer, int64_t c, qk_affine_params *out);
/* Current activation quantization parameters (QK_ERR_STATE if none yet). */
qk_status qk_qat_layer_act_params(const qk_qat_layer *layer, qk_affine_params *out);

/* ---- schedule ----------------------------------------------------------
** step < start_step: observers warm up (observe, f32 forward);
** start_step <= step: fake quantization on;
** freeze_step <= step (when freeze_step >= 0): observers frozen;
** bits: from `bits_from` (after start_step) one bit less every `bits_every`
** steps down to the configured weight_bits / act_bits (bits_every <= 0 or
** bits_from == 0: the final widths from the start). */
typedef struct qk_qat_schedule {
    int64_t start_step;
    int64_t freeze_step; /* < 0: never */
    int bits_from;
    int64_t bits_every;
    int weight_bits; /* final widths */
    int act_bits;
} qk_qat_schedule;
qk_qat_phase qk_qat_schedule_phase(const qk_qat_schedule *schedule, int64_t step);

/* ---- batch-norm folding --------------------------------------------------
** Fold y = gamma (z - mean) / sqrt(var + eps) + beta, applied per output
** channel to z = conv(x) + b, into the convolution:
**   W[c] *= gamma[c] / sqrt(var[c] + eps),  b[c] = (b[c] - mean[c]) * that + beta[c]
** (computed in double, stored as f32). `weight` is [channels, per_channel]. */
qk_status qk_qat_fold_batchnorm(float *weight, float *bias, int64_t channels, int64_t per_channel,
                                const float *gamma, const float *beta, const float *mean,
                                const float *var, float eps);
/* The same on a layer's weights and bias. */
qk_status qk_qat_layer_fold_batchnorm(qk_qat_layer *layer, const float *gamma, const float *beta,
                                      const float *mean, const float *var, float eps);

/* ---- conversion to an integer layer --------------------------------------
** The weights become codes clamp(qval) packed at the layer's bit width
** (LSB first), with the scales and zero points of the fake quantizer. With
** activation quantization the forward quantizes its input with the frozen
** activation parameters (the same rounding as the fake quantizer) and
** accumulates (qx - zx) (qw - zw) in int32:
**   y = (float)acc * (sx * sw[c]) + b[c]
** Without it, f32 inputs multiply the dequantized codes. */
typedef struct qk_qlayer qk_qlayer; /* opaque */
qk_status qk_qat_layer_convert(const qk_qat_layer *layer, qk_qlayer **out);
void qk_qlayer_free(qk_qlayer *layer); /* NULL is a no-op */
/* x [batch, in_size] -> y [batch, out_size]; reentrant (no state). */
qk_status qk_qlayer_forward(const qk_qlayer *layer, const float *x, int64_t batch, float *y);
int64_t qk_qlayer_in_size(const qk_qlayer *layer);
int64_t qk_qlayer_out_size(const qk_qlayer *layer);
/* Storage bytes: packed codes + f32 scales + i32 zero points + f32 bias +
** the activation scale and zero point. */
size_t qk_qlayer_bytes(const qk_qlayer *layer);
/* Unpacked weight codes (weight_count values) into `codes`. */
qk_status qk_qlayer_weight_codes(const qk_qlayer *layer, int32_t *codes);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_QAT_H */
