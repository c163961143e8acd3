/*
** Internal: the QAT layer structure, shared by layer.c (training) and
** convert.c (conversion to the integer layer).
*/
#ifndef QK_QAT_LAYER_H
#define QK_QAT_LAYER_H

#include "qat/quantizer.h"

typedef enum qk_qat_kind { QK_QAT_KIND_LINEAR = 0, QK_QAT_KIND_CONV2D = 1 } qk_qat_kind;

struct qk_qat_layer {
    qk_qat_kind kind;
    qk_qat_conv2d_shape conv; /* linear: in_channels = in, 1x1 everything */
    int64_t out_h, out_w;
    int64_t in_size, out_size; /* floats per sample */
    int64_t out_ch;            /* output channels (linear: out features) */
    int64_t k;                 /* weights per output channel */
    int64_t p;                 /* output positions per sample (linear: 1) */
    float *weight, *bias, *grad_weight, *grad_bias;
    float *weight_fq;      /* weights as the last forward used them */
    float *grad_weight_fq; /* scratch: dL/d(weight_fq) */
    qk_quantizer wq, aq;
    qk_qat_phase phase;
    /* training cache (one batch) and scratch */
    int64_t batch;     /* batch of the cached training forward; -1 none */
    bool cache_act_fq; /* that forward fake-quantized the input */
    bool cache_w_fq;   /* ... and the weights */
    size_t cap;        /* floats allocated in x_in, x_fq, x_tmp */
    float *x_in, *x_fq, *x_tmp;
    float *col, *dcol; /* [k, p] per sample (conv only) */
};

/* Weight layout for the weight quantizer ({1, out_ch, k} or {1, 1, out_ch*k}). */
qk_channel_layout qk_qat_layer_weight_layout(const qk_qat_layer *layer);

#endif
