/*
** Internal to the io layer: the quantized-checkpoint formats
** (quantkit/checkpoint.h). A linear module is stored as up to five tensors
** ("parts"); each format says which, with what type and shape, and how to
** encode a qk_quantized_linear into them and decode it back.
*/
#ifndef QK_IO_CKPT_H
#define QK_IO_CKPT_H

#include <jansson.h>

#include "io/model_source.h"
#include "quantkit/checkpoint.h"

/* Linears of at least this many weights are packed, unpacked and
** dequantized with OpenMP threads (rows split statically; exact integer
** work, so the result does not depend on the thread count). */
#define QK_CKPT_PARALLEL_MIN (1 << 18)

/* The parts of one linear, by role. */
enum { CKPT_WEIGHT = 0, CKPT_ZEROS, CKPT_SCALES, CKPT_G_IDX, CKPT_SHAPE, CKPT_PARTS };

typedef struct ckpt_part_spec {
    bool present;
    const char *suffix; /* tensor name after the module's: "qweight", "weight_packed" ... */
    qk_type type;       /* the type the writer stores */
    int32_t ndim;
    int64_t shape[2];
} ckpt_part_spec;

/* Groups of a linear with `cols` input columns under `c` (1 per channel). */
int64_t qk_ckpt_n_groups(const qk_checkpoint_config *c, int64_t cols);
/* Group size a qk_quantized_linear of `cols` columns gets under `c`. */
int32_t qk_ckpt_group_size(const qk_checkpoint_config *c, int64_t cols);
/* Shape checks of the format for a rows x cols linear, then the parts. */
qk_status qk_ckpt_layout(const qk_checkpoint_config *c, int64_t rows, int64_t cols,
                         ckpt_part_spec parts[CKPT_PARTS]);

/* Encode `q` (already checked, scales already f16 values, rows in HF order)
** into bufs[i] (the bytes of part i as laid out by qk_ckpt_layout; NULL for
** absent parts). */
qk_status qk_ckpt_encode(const qk_checkpoint_config *c, const qk_quantized_linear *q,
                         unsigned char *const bufs[CKPT_PARTS]);
qk_status qk_ckpt_gptq_encode(const qk_checkpoint_config *c, const qk_quantized_linear *q,
                              unsigned char *const bufs[CKPT_PARTS]);
qk_status qk_ckpt_awq_encode(const qk_checkpoint_config *c, const qk_quantized_linear *q,
                             unsigned char *const bufs[CKPT_PARTS]);
qk_status qk_ckpt_ct_encode(const qk_checkpoint_config *c, const qk_quantized_linear *q,
                            unsigned char *const bufs[CKPT_PARTS]);

/* Decode stored parts (shapes and types already checked against
** qk_ckpt_layout; scales may be F16, BF16 or F32, g_idx I32 or I64) into
** `q` (allocated here; g_idx NULL when trivial). `where` names the module
** in messages. */
qk_status qk_ckpt_decode(const qk_checkpoint_config *c, const qk_io_tensor *const parts[CKPT_PARTS],
                         int64_t rows, int64_t cols, const char *where, qk_quantized_linear *q);
qk_status qk_ckpt_gptq_decode_codes(const qk_checkpoint_config *c,
                                    const qk_io_tensor *const parts[CKPT_PARTS],
                                    qk_quantized_linear *q);
qk_status qk_ckpt_awq_decode_codes(const qk_checkpoint_config *c,
                                   const qk_io_tensor *const parts[CKPT_PARTS],
                                   qk_quantized_linear *q);
qk_status qk_ckpt_ct_decode_codes(const qk_checkpoint_config *c,
                                  const qk_io_tensor *const parts[CKPT_PARTS],
                                  qk_quantized_linear *q);

/* Scale `i` of a stored F16 / BF16 / F32 tensor, exactly as f32. */
float qk_ckpt_load_scale(const qk_io_tensor *t, size_t i);
/* Element `i` of a stored I32 / I64 tensor (int64). */
int64_t qk_ckpt_load_int(const qk_io_tensor *t, size_t i);
/* Word `i` of a stored I32 tensor. */
static inline uint32_t qk_ckpt_word(const qk_io_tensor *t, size_t i) {
    const unsigned char *p = (const unsigned char *)t->data + 4 * i;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void qk_ckpt_put_word(unsigned char *buf, size_t i, uint32_t v) {
    unsigned char *p = buf + 4 * i;
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* ------------------------------------------------------------------------
** config.json "quantization_config" (and quantize_config.json).
*/

/* One compressed-tensors config group (or the single scheme of the other
** formats): its config and the module names it applies to. */
typedef struct ckpt_scheme {
    qk_checkpoint_config config;
    int32_t n_targets;
    char **targets; /* "Linear" or "re:PATTERN" (compressed-tensors) */
} ckpt_scheme;

typedef struct ckpt_config {
    qk_checkpoint_format format;
    int32_t n_schemes;
    ckpt_scheme *schemes;
} ckpt_config;

/* Parse `qc` (the quantization_config object of `config_path`) and, for
** GPTQ, `folder`/quantize_config.json for a checkpoint_format. */
qk_status qk_ckpt_config_parse(const json_t *qc, const char *config_path, const char *folder,
                               ckpt_config *out);
void qk_ckpt_config_free(ckpt_config *c);
/* The scheme that applies to HF module `module` (NULL when none). */
const ckpt_scheme *qk_ckpt_config_match(const ckpt_config *c, const char *module);
/* config.json's "quantization_config" object for `c` (new reference). */
json_t *qk_ckpt_config_json(const qk_checkpoint_config *c);
/* quantize_config.json for the GPTQ formats (new reference). */
json_t *qk_ckpt_quantize_config_json(const qk_checkpoint_config *c);

/* ------------------------------------------------------------------------
** Reading through a model source (ckpt_read.c).
*/

/* One quantized linear of a checkpoint source. */
typedef struct ckpt_linear {
    char module[96]; /* HF module name, "model.layers.0.self_attn.q_proj" */
    qk_checkpoint_config config;
    int64_t rows, cols;
    qk_io_tensor parts[CKPT_PARTS]; /* stored tensors (data NULL when absent) */
} ckpt_linear;

struct qk_ms_ckpt {
    ckpt_config config;
    ckpt_linear *linears;
    size_t n_linears, cap;
};

/* Read `folder`/config.json's quantization_config; *out NULL when it has none. */
qk_status qk_ckpt_source_open(qk_model_source *s, const char *folder, qk_ms_ckpt **out);
void qk_ckpt_source_free(qk_ms_ckpt *ck);
/* Add llama.cpp tensor `name` for HF module `module` (rows x cols): the
** module's plain "weight" when the file has one, else its quantized parts
** (checked). */
qk_status qk_ckpt_map_linear(qk_model_source *s, const char *name, const char *module, int64_t rows,
                             int64_t cols, int32_t permute_heads);
/* qk_model_source_read for a quantized entry. */
qk_status qk_ckpt_read_entry(const qk_model_source *s, const ms_entry *e, qk_type type, void *dst,
                             size_t dst_bytes);

/* Rows of `q` reordered: out row r = in row from[r] (codes, scales, zeros). */
qk_status qk_ckpt_permute_rows(const qk_quantized_linear *in, const int64_t *from,
                               qk_quantized_linear *out);
/* Copy of `in` (allocated). */
qk_status qk_ckpt_linear_copy(const qk_quantized_linear *in, qk_quantized_linear *out);

#endif
