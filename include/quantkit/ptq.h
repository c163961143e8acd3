/*
** quantkit ptq (algo layer): calibrated post-training quantization of a
** whole Llama-family model, one decoder layer at a time.
**
** The calibration windows are embedded, then for each decoder layer:
**   1. its weights are read as f32 (one layer in memory at a time);
**   2. AWQ (methods awq, awq+gptq) rescales and clips them in place;
**   3. its linear weights are quantized in true-sequential groups
**      [q, k, v] -> [o] -> [gate, up] -> [down]: for GPTQ the layer is run
**      on every window with a hook accumulating H of the group's input,
**      the group is quantized, and its weights are replaced by their
**      dequantized values, so the next group's inputs (and the next
**      layer's) come from the quantized weights;
**   4. the layer is run once more on every window: the next layer's input.
** Memory: one layer's f32 weights, the Hessian of one input, and the
** hidden states of all windows (n_samples * sample_len * n_embd floats),
** plus the quantized result (codes one byte per weight, or block bytes).
**
** Targets:
**   affine (gguf NULL): every layer linear becomes a qk_quantized_linear
**     (bits, group, sym/asym, act-order ...: opt->gptq), for checkpoint
**     writers and for an f32 GGUF of the dequantized weights;
**   GGUF (gguf = the qk_quantize_options of qk_quantize_model): each layer
**     linear gets the type the mix rules choose, as block bytes from GPTQ
**     onto that block format (or round-to-nearest with the importance of
**     gguf->importance for rtn/awq, and for types GPTQ does not support).
** token_embd, output and the norms are not touched (AWQ's rescaled norms
** are returned as replacements).
*/
#ifndef QUANTKIT_PTQ_H
#define QUANTKIT_PTQ_H

#include "quantkit/algo.h"
#include "quantkit/checkpoint.h"
#include "quantkit/core.h"
#include "quantkit/gptq.h"
#include "quantkit/model.h"
#include "quantkit/quantize.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qk_ptq_method {
    QK_PTQ_RTN = 0,     /* round to nearest (no calibration, unless AWQ) */
    QK_PTQ_GPTQ = 1,    /* GPTQ */
    QK_PTQ_AWQ = 2,     /* AWQ scales and clipping, then round to nearest */
    QK_PTQ_AWQ_GPTQ = 3 /* AWQ, then GPTQ on the transformed weights */
} qk_ptq_method;

/* "rtn", "gptq", "awq", "awq+gptq". */
const char *qk_ptq_method_name(qk_ptq_method m);
qk_status qk_ptq_method_parse(const char *text, qk_ptq_method *out);

typedef void (*qk_ptq_progress)(void *user, int32_t layer, int32_t n_layer, const char *stage);

typedef struct qk_ptq_options {
    qk_ptq_method method;
    qk_gptq_options gptq; /* the affine grid and GPTQ's settings */
    qk_awq_options awq;   /* AWQ's search (its qdq callback is set by the pipeline) */
    /* NULL: affine target; else the GGUF target with these options (type
    ** request, mix, importance). Borrowed for the call. */
    const qk_quantize_options *gguf;
    bool true_sequential; /* default true; false: one pass captures all four inputs */
    /* GPTQ against the f32 model's outputs on its own (f32) inputs rather
    ** than the original weights' outputs on the quantized inputs
    ** (ptq_fp_target.c); needs true_sequential. Default false. */
    bool fp_target;
    /* keep Hugging Face's q/k row order (HF sources only; the forward pass
    ** then rotates halves, as HF does): for HF checkpoint writers. The
    ** GGUF target needs llama.cpp's order (false). */
    bool hf_layout;
    /* H-weighted error of every quantized linear and of round-to-nearest
    ** on the same grid (an extra product per linear: for small models) */
    bool measure;
    qk_ptq_progress progress;
    void *progress_user;
} qk_ptq_options;

/* Defaults: rtn, qk_gptq_options_init, qk_awq_options_default, affine
** target, true-sequential. */
void qk_ptq_options_init(qk_ptq_options *opt);

/* One quantized linear of a decoder layer. */
typedef struct qk_ptq_linear {
    char name[64]; /* llama.cpp name, "blk.3.attn_q.weight" */
    int32_t layer;
    qk_llama_linear which;
    int64_t rows, cols;
    qk_type type;               /* GGUF target: the planned type; affine: QK_TYPE_COUNT */
    qk_quantized_linear affine; /* affine target */
    void *blocks;               /* GGUF target, block types: rows * row_bytes (else NULL) */
    size_t n_bytes;
    bool gptq; /* GPTQ produced it (report valid) */
    qk_gptq_report report;
    double err_h, err_h_rtn; /* measure: relative H-weighted errors tr(dW H dW^T) /
                                tr(W H W^T) of the result and of RTN on the same grid */
} qk_ptq_linear;

/* A replaced plain tensor (AWQ's norms, v's bias). */
typedef struct qk_ptq_tensor {
    char name[64];
    float *data;
    int64_t numel;
} qk_ptq_tensor;

typedef struct qk_ptq_result {
    qk_ptq_method method;
    bool gguf_target, hf_layout;
    int32_t n_layer;
    size_t n_linears;
    qk_ptq_linear *linears; /* [n_layer * 7]: index layer * 7 + which (q .. down) */
    size_t n_tensors;
    qk_ptq_tensor *tensors; /* replacements */
    qk_awq_report *awq;     /* [n_layer] for awq methods, else NULL */
    int32_t n_samples, sample_len;
    double seconds;         /* wall time of qk_ptq_run */
    double gptq_seconds;    /* of which in GPTQ solves */
    double hessian_seconds; /* of which in forward passes accumulating H */
    double awq_seconds;     /* of which in AWQ's scale and clip searches */
    size_t peak_rss_bytes;
} qk_ptq_result;

void qk_ptq_result_free(qk_ptq_result *r);
/* The entry of linear `which` of `layer`, or NULL. */
const qk_ptq_linear *qk_ptq_result_linear(const qk_ptq_result *r, int32_t layer,
                                          qk_llama_linear which);

/* Run the pipeline on the model at model_path with n_samples calibration
** windows of sample_len tokens (qk_calib_sample's output; may be NULL for
** rtn). `out` is overwritten; free it with qk_ptq_result_free. */
qk_status qk_ptq_run(const char *model_path, const int32_t *windows, int32_t n_samples,
                     int32_t sample_len, const qk_ptq_options *opt, qk_ptq_result *out);

/* Write a GGUF of the result with qk_quantize_model: the GGUF target's
** block bytes, or (affine target) the dequantized weights in the float
** type of qopt's request (f32, f16, bf16: every tensor in that type), and
** the replaced tensors. qopt must be the options the result was made with
** (GGUF target). */
qk_status qk_ptq_write_gguf(const char *model_path, const char *out_path,
                            const qk_ptq_result *result, const qk_quantize_options *qopt,
                            qk_quantize_report *report);

/* Write an affine result as a Hugging Face checkpoint (quantkit/checkpoint.h)
** in `out_dir`: every layer linear's qk_quantized_linear as it is (the
** config's bits, group size and symmetry must be the result's; desc_act
** when it was made with act-order), AWQ's replaced norms and biases as
** f32, every other tensor as the source stores it. Reading the folder back
** gives exactly qk_quantized_linear_dequantize() of each linear (the
** pipeline's scales are f16 values already unless gptq.scale_type is f32). */
qk_status qk_ptq_write_checkpoint(const char *model_path, const char *out_dir,
                                  const qk_ptq_result *result, const qk_checkpoint_options *options,
                                  qk_checkpoint_report *report);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_PTQ_H */
