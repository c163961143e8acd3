/*
** quantkit mix: which storage type each tensor of a Llama-family model gets
** for a requested file type, following llama.cpp's llama-quantize rules so
** that `--type q4_k_m` means what llama.cpp users expect. The rules are
** listed in docs/QUANTIZE.md.
*/
#ifndef QUANTKIT_MIX_H
#define QUANTKIT_MIX_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* File types, numbered as llama.cpp's general.file_type (llama_ftype). */
typedef enum qk_ftype {
    QK_FTYPE_ALL_F32 = 0,
    QK_FTYPE_MOSTLY_F16 = 1,
    QK_FTYPE_MOSTLY_Q4_0 = 2,
    QK_FTYPE_MOSTLY_Q4_1 = 3,
    QK_FTYPE_MOSTLY_Q8_0 = 7,
    QK_FTYPE_MOSTLY_Q5_0 = 8,
    QK_FTYPE_MOSTLY_Q5_1 = 9,
    QK_FTYPE_MOSTLY_Q2_K = 10,
    QK_FTYPE_MOSTLY_Q3_K_S = 11,
    QK_FTYPE_MOSTLY_Q3_K_M = 12,
    QK_FTYPE_MOSTLY_Q3_K_L = 13,
    QK_FTYPE_MOSTLY_Q4_K_S = 14,
    QK_FTYPE_MOSTLY_Q4_K_M = 15,
    QK_FTYPE_MOSTLY_Q5_K_S = 16,
    QK_FTYPE_MOSTLY_Q5_K_M = 17,
    QK_FTYPE_MOSTLY_Q6_K = 18,
    QK_FTYPE_MOSTLY_IQ4_NL = 25,
    QK_FTYPE_MOSTLY_BF16 = 32,
    /* quantkit's own: not a llama.cpp ftype; written as the closest one */
    QK_FTYPE_GUESSED = 1024
} qk_ftype;

/* A --type name: "q4_k_m", "q4_0", "f16", and the single-type names
** "q3_k", "q4_k", "q5_k" (every quantizable tensor in that type, as
** llama-quantize --pure). */
typedef struct qk_type_request {
    qk_ftype ftype;
    qk_type base; /* the type most tensors get */
    bool pure;    /* no per-tensor mix rules */
    const char *name;
} qk_type_request;

qk_status qk_type_request_parse(const char *name, qk_type_request *out);
/* Names accepted by qk_type_request_parse, for help texts (NULL-terminated). */
const char *const *qk_type_request_names(void);
/* The general.file_type value to write for a file whose 2-D weights got
** the given request. */
uint32_t qk_ftype_file_value(const qk_type_request *req);

/* A per-tensor override: tensors whose name matches the POSIX extended
** regular expression get `type` (llama-quantize --tensor-type). */
typedef struct qk_type_override {
    const char *pattern;
    qk_type type;
} qk_type_override;

typedef struct qk_mix_options {
    qk_type_request request;
    bool has_imatrix;        /* importance data is available */
    bool quantize_output;    /* default true: output.weight is quantized */
    int32_t token_embd_type; /* -1, or a qk_type forced for token_embd */
    int32_t output_type;     /* -1, or a qk_type forced for output */
    const qk_type_override *overrides;
    size_t n_overrides;
} qk_mix_options;

/* Defaults for a request: quantize_output true, no forced types. */
void qk_mix_options_init(qk_mix_options *opt, const qk_type_request *req);

/* Model facts the rules need. */
typedef struct qk_mix_model {
    int32_t n_layer;
    int32_t n_gqa;    /* n_head / n_head_kv */
    bool tied_output; /* no output.weight: token_embd serves as output */
} qk_mix_model;

/* Why a tensor got its type (for the printed plan). */
typedef enum qk_mix_reason {
    QK_MIX_KEEP = 0, /* not quantized (1-D, norm, not a weight) */
    QK_MIX_BASE,     /* the requested base type */
    QK_MIX_RULE,     /* a mix rule (more bits for a sensitive tensor) */
    QK_MIX_OUTPUT,   /* output / tied embedding rule */
    QK_MIX_OVERRIDE, /* --tensor-type or a forced type */
    QK_MIX_FALLBACK, /* row length not a multiple of the block size */
    QK_MIX_EXPLICIT  /* an explicit per-tensor type (allocation, config) */
} qk_mix_reason;

const char *qk_mix_reason_name(qk_mix_reason reason);

/* The type for one tensor given its llama.cpp name, stored type and shape
** (outermost first; the innermost dimension is the row length). */
qk_status qk_mix_choose(const qk_mix_options *opt, const qk_mix_model *model, const char *name,
                        qk_type stored, int32_t ndim, const int64_t *shape, qk_type *out_type,
                        qk_mix_reason *out_reason);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_MIX_H */
