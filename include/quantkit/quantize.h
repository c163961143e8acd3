/*
** quantkit quantize: a model file in (Hugging Face folder, GGUF, llama2.c
** checkpoint), a GGUF file out that llama.cpp loads as it is, with every
** tensor in the type the mix rules (quantkit/mix.h) or the caller choose.
**
** Memory stays bounded by a few tensors: one tensor is read, converted to
** f32, quantized and streamed to the output at a time. The output is
** written to a temporary file next to the destination and renamed into
** place only when complete.
*/
#ifndef QUANTKIT_QUANTIZE_H
#define QUANTKIT_QUANTIZE_H

#include "quantkit/core.h"
#include "quantkit/mix.h"

#ifdef __cplusplus
extern "C" {
#endif

struct qk_calib_stats;
struct qk_tokenizer;
struct qk_gguf_writer;
struct qk_model_source;

/* A replacement quantizer for chosen tensors (GPTQ, AWQ ...): called with
** the tensor's f32 data [rows, cols] and the type chosen for it; writes
** rows * row_bytes(type, cols) bytes to dst. Return QK_ERR_NOT_FOUND to
** fall back to the built-in round-to-nearest quantizer for this tensor. */
typedef qk_status (*qk_tensor_quantizer)(void *user, const char *name, qk_type type, const float *w,
                                         int64_t rows, int64_t cols, void *dst);

/* A replacement of tensor data before it is converted or quantized (AWQ's
** rescaled norms, the dequantized weights of a calibrated method): called
** with every tensor's f32 data (numel values, the source's values) to
** change in place. Return QK_ERR_NOT_FOUND to keep the data as it is. */
typedef qk_status (*qk_tensor_replace)(void *user, const char *name, float *data, int64_t numel);
/* An explicit type for one tensor, by its exact (llama.cpp) name. */
typedef struct qk_tensor_type {
    const char *name;
    qk_type type;
} qk_tensor_type;

/* Called after each tensor: index and count, name, chosen type. */
typedef void (*qk_quantize_progress)(void *user, size_t done, size_t total, const char *name,
                                     qk_type type);

typedef struct qk_quantize_options {
    qk_mix_options mix;
    /* per-column importance (llama.cpp imatrix semantics) for the formats
    ** that use it; NULL: none */
    const struct qk_calib_stats *importance;
    /* tokenizer file for sources without one (llama2.c), or to override */
    const char *tokenizer_path;
    /* general.name to write (default: the source's, else its file name) */
    const char *name;
    /* requantizing an already quantized (block-format) tensor loses
    ** precision twice; refused unless allowed (QK_ERR_UNSUPPORTED) */
    bool allow_requantize;
    /* extra string key/value pairs to record (e.g. quantkit.method) */
    const char *const *extra_keys;
    const char *const *extra_values;
    size_t n_extra;
    qk_tensor_quantizer quantizer;
    void *quantizer_user;
    qk_tensor_replace replace; /* NULL: none; the quantizer sees the replaced data */
    void *replace_user;
    /* explicit per-tensor types (a mixed-precision allocation, a replayed
    ** config), applied before every other rule (reason QK_MIX_EXPLICIT).
    ** Every name must be a tensor of the model (QK_ERR_NOT_FOUND) and the
    ** type must hold its row length (QK_ERR_SHAPE). */
    const qk_tensor_type *tensor_types;
    size_t n_tensor_types;
    /* 0, or the largest output file allowed in bytes: QK_ERR_BUDGET before
    ** anything is written when the file would be larger */
    uint64_t max_output_bytes;
    qk_quantize_progress progress;
    void *progress_user;
    /* Non-finite weights (NaN, +-Inf). By default the first one fails the
    ** run: QK_ERR_NONFINITE "tensor 'NAME': N non-finite values; element
    ** I (row R, column C) is nan". When allowed, every non-finite weight of
    ** a tensor that is converted or quantized becomes 0 (in float and block
    ** outputs alike) and is counted in the report; a block-format tensor
    ** stored unchanged is copied as it is. docs/NONFINITE.md. */
    bool allow_nonfinite;
} qk_quantize_options;

/* Defaults for a type request (see qk_mix_options_init). */
void qk_quantize_options_init(qk_quantize_options *opt, const qk_type_request *req);

/* What happened to one tensor. */
typedef struct qk_quantize_tensor_info {
    char name[64];
    size_t source_index; /* index in the model source */
    qk_type from;
    qk_type to;
    qk_mix_reason reason;
    int32_t ndim;
    int64_t shape[QK_MAX_DIMS];
    uint64_t bytes; /* output bytes */
} qk_quantize_tensor_info;

typedef struct qk_quantize_report {
    uint64_t input_bytes;   /* size of the input file(s) */
    uint64_t output_bytes;  /* size of the output file */
    uint64_t n_weights;     /* elements of all tensors */
    uint64_t tensor_bytes;  /* bytes of all tensor data in the output */
    double bits_per_weight; /* tensor_bytes * 8 / n_weights */
    double seconds;
    size_t peak_rss_bytes;
    size_t n_tensors;
    /* [n_tensors] in output order (llama.cpp's: tensors outside the layers
    ** by name, then by layer and name); free with qk_quantize_report_free */
    qk_quantize_tensor_info *tensors;
    /* with allow_nonfinite: weights replaced by 0, and tensors having any */
    uint64_t n_nonfinite;
    size_t n_nonfinite_tensors;
} qk_quantize_report;

void qk_quantize_report_free(qk_quantize_report *report);

/* Only compute the plan: which type each tensor gets, and the sizes. */
qk_status qk_quantize_plan(const char *in_path, const qk_quantize_options *opt,
                           qk_quantize_report *report);

/* The byte layout of the output file: the tensor data starts at
** *data_offset (header, metadata and tensor table, zero-padded to the
** alignment) and every tensor's bytes are padded to *alignment, so
**   file size = data_offset + sum over tensors of round_up(bytes, alignment).
** The header does not depend on the tensor types. A temporary file next to
** out_path is created and removed again. */
qk_status qk_quantize_layout(const char *in_path, const char *out_path,
                             const qk_quantize_options *opt, uint64_t *data_offset,
                             uint32_t *alignment);
/* That sum for a plan. */
uint64_t qk_quantize_file_bytes(const qk_quantize_report *plan, uint64_t data_offset,
                                uint32_t alignment);

/* Quantize `in_path` to the GGUF file `out_path`. report may be NULL. */
qk_status qk_quantize_model(const char *in_path, const char *out_path,
                            const qk_quantize_options *opt, qk_quantize_report *report);

/* The llama.cpp metadata of a model for a GGUF writer: general.*,
** <arch>.* hyper-parameters and tokenizer.ggml.*. A GGUF source's pairs
** are copied in order except general.file_type, which is appended last
** (as llama-quantize does; general.quantization_version becomes 2). */
qk_status qk_gguf_add_model_metadata(struct qk_gguf_writer *writer,
                                     const struct qk_model_source *source, const char *source_path,
                                     const struct qk_tokenizer *tok, uint32_t file_type,
                                     const char *name);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_QUANTIZE_H */
