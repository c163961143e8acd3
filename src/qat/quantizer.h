/*
** Internal: one fake quantizer of a QAT layer (its weights or its input
** activations): configuration, current bit width and range, per-channel
** scales and zero points, a moving-average min-max observer (calib.h), the LSQ
** gradients of the scales and zero points.
*/
#ifndef QK_QAT_QUANTIZER_H
#define QK_QAT_QUANTIZER_H

#include "quantkit/calib.h"
#include "quantkit/qat.h"

typedef struct qk_quantizer {
    qk_qat_quant_config cfg; /* cfg.bits: the configured (final) width */
    int bits;                /* current width (0: off) */
    int32_t qmin, qmax;
    int64_t channels;       /* 1 per tensor */
    float *scale;           /* [channels] */
    float *zero_point;      /* [channels], integral in observer mode */
    float *grad_scale;      /* [channels] LSQ gradients */
    float *grad_zero_point; /* [channels] */
    qk_observer *obs;       /* calib's moving-average min-max observer */
    int32_t *zp_int;        /* [channels] scratch: rounded zero points */
    float *scratch;         /* [2 * channels] scratch for the LSQ sums */
    bool observed;          /* the observer has seen data */
    bool ready;             /* scale and zero point hold valid values */
    bool learning;          /* LSQ: parameters are now trained, not observed */
} qk_quantizer;

/* Check a configuration (what = "weight" or "activation"). */
qk_status qk_quantizer_check_config(const qk_qat_quant_config *cfg, const char *what);
/* Allocate for `channels` channels; bits 0 makes an inactive quantizer. */
qk_status qk_quantizer_init(qk_quantizer *q, const qk_qat_quant_config *cfg, int64_t channels);
void qk_quantizer_free(qk_quantizer *q);
/* Forget observations and parameters (after the weights were replaced). */
void qk_quantizer_reset(qk_quantizer *q);
/* Update the observer with x (layout.channels == q->channels); in observer
** mode, and in LSQ mode before learning starts, recompute the parameters. */
qk_status qk_quantizer_observe(qk_quantizer *q, const float *x, qk_channel_layout layout);
/* Make the parameters ready from x if nothing was observed yet, and start
** LSQ learning (LSQ init). Called by the first fake-quantized forward. */
qk_status qk_quantizer_prepare(qk_quantizer *q, const float *x, qk_channel_layout layout);
/* Change the bit width, keeping the represented range. */
qk_status qk_quantizer_set_bits(qk_quantizer *q, int bits);
/* y = fake_quant(x) with the current parameters (scales clamped to >= eps
** first, as torch's learnable fake quantizer does). */
qk_status qk_quantizer_forward(qk_quantizer *q, const float *x, qk_channel_layout layout, float *y);
/* dx from dy (STE in observer mode; LSQ adds to grad_scale/grad_zero_point). */
qk_status qk_quantizer_backward(qk_quantizer *q, const float *x, const float *dy,
                                qk_channel_layout layout, float *dx);
/* Integer parameters of channel c (zero point rounded and clamped). */
qk_affine_params qk_quantizer_params(const qk_quantizer *q, int64_t c);

#endif
