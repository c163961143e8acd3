/*
** Internal to the io layer: the model source's table, shared by the
** container-specific openers (model_source_*.c).
*/
#ifndef QK_IO_MODEL_SOURCE_H
#define QK_IO_MODEL_SOURCE_H

#include "quantkit/gguf.h"
#include "quantkit/io.h"

#define QK_MS_NAME_CAP 64

typedef struct ms_entry {
    char name[QK_MS_NAME_CAP]; /* llama.cpp name */
    qk_io_tensor src;          /* the stored tensor (its name is the file's); for a quantized
                                  checkpoint linear: F32 [rows, cols], data NULL */
    int32_t permute_heads;     /* > 0: rows go from HF's rotary layout to llama.cpp's */
    int32_t quant;             /* > 0: quantized checkpoint linear ckpt->linears[quant - 1] */
} ms_entry;

/* Quantized checkpoint linears (io/ckpt.h). */
typedef struct qk_ms_ckpt qk_ms_ckpt;

struct qk_model_source {
    qk_model_format format;
    char *path;
    qk_model_hparams hp;
    qk_safetensors_set *st;
    qk_gguf_reader *gguf;
    qk_llama2c *l2c;
    ms_entry *entries;
    size_t n_entries, cap;
    ms_entry **sorted; /* by name, built once all entries are in */
    qk_ms_ckpt *ckpt;  /* HF quantized checkpoint (NULL otherwise) */
};

/* Append an entry (the name is copied; QK_ERR_INVALID_ARG when too long). */
qk_status qk_ms_add(qk_model_source *s, const char *name, const qk_io_tensor *src,
                    int32_t permute_heads);

/* Container openers: fill format, hp and the entries. */
qk_status qk_ms_open_hf(qk_model_source *s, const char *folder,
                        const qk_model_source_options *options);
qk_status qk_ms_open_gguf(qk_model_source *s, const char *path);
qk_status qk_ms_open_llama2c(qk_model_source *s, const char *path);

/* Name of the llama.cpp tensor of `kind` in `layer` into buf (size
** QK_MS_NAME_CAP). Kinds, in listing order per layer: */
enum {
    QK_MS_ATTN_NORM,
    QK_MS_ATTN_Q,
    QK_MS_ATTN_K,
    QK_MS_ATTN_V,
    QK_MS_ATTN_OUTPUT,
    QK_MS_ATTN_Q_BIAS,
    QK_MS_ATTN_K_BIAS,
    QK_MS_ATTN_V_BIAS,
    QK_MS_FFN_NORM,
    QK_MS_FFN_GATE,
    QK_MS_FFN_DOWN,
    QK_MS_FFN_UP,
    QK_MS_LAYER_KINDS
};
void qk_ms_layer_name(int kind, int32_t layer, char *buf);
/* Hugging Face name of `kind` in `layer` ("model.layers.3.self_attn.q_proj.weight"). */
void qk_ms_hf_layer_name(int kind, int32_t layer, char *buf, size_t cap);
/* Source row of presented row `r` of a permuted tensor of `rows` rows
** (HF rotary halves read as llama.cpp pairs; identity when heads <= 0). */
int64_t qk_ms_source_row(int64_t r, int64_t rows, int32_t heads);

#endif
