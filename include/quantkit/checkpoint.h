/*
** quantkit checkpoint: Hugging Face folders holding affine-quantized linear
** weights in the layouts other tools read and write:
**
**   AutoGPTQ ("gptq": v1, qzeros store zero - 1; "gptq_v2": qzeros store
**   zero; GPTQModel reads both), per linear module M:
**     M.qweight  int32 [cols * bits / 32, rows]  codes packed along the input
**                dimension: for each output row, the column's codes form one
**                little-endian bit stream of `bits`-bit values (value c at
**                stream bit c * bits), cut into 32-bit words. For 2/4/8 bits
**                word k holds codes k*32/bits ... at bits 0, bits, 2 bits ...;
**                for 3 bits 32 codes fill 3 words (AutoGPTQ's 10 + 1 + 10 + 1
**                + 10 scheme is this stream).
**     M.qzeros   int32 [n_groups, rows * bits / 32]  zero points packed the
**                same way along the output dimension; v1 stores zero - 1
**                (read back as stored + 1, so 1 .. 2^bits), v2 stores zero.
**     M.scales   f16 [n_groups, rows]
**     M.g_idx    int32 [cols]  group of each input column (c / group_size,
**                or act-order's assignment)
**     quantize_config.json and config.json "quantization_config": bits,
**     group_size (-1 per channel), damp_percent, desc_act, static_groups, sym,
**     true_sequential, quant_method "gptq", checkpoint_format.
**     Bits 2, 3, 4, 8; rows and cols multiples of 32 (AutoGPTQ's shapes).
**
**   AutoAWQ GEMM (4 bits), per linear module M:
**     M.qweight  int32 [cols, rows / 8]  eight output rows per word: nibble i
**                of word j holds row 8j + [0, 2, 4, 6, 1, 3, 5, 7][i]
**     M.qzeros   int32 [cols / group_size, rows / 8]  zero points, same order,
**                stored as they are
**     M.scales   f16 [cols / group_size, rows]
**     config.json "quantization_config": quant_method "awq", bits,
**     group_size, zero_point true, version "gemm". No g_idx (no act-order);
**     cols a multiple of the group size, rows of 8. A symmetric linear is
**     stored with its zero points (2^(bits-1)); the file says zero_point.
**
**   compressed-tensors "pack-quantized" (int, 2..8 bits), per module M:
**     M.weight_packed      int32 [rows, ceil(cols / (32 / bits))]  codes of
**                          a row, 32 / bits per word at bits 0, bits, ...
**                          (unused high bits zero); the stored value is the
**                          signed code + 2^(bits-1), i.e. quantkit's unsigned
**                          code as it is
**     M.weight_scale       f16 [rows, n_groups]
**     M.weight_zero_point  int32 [ceil(rows / (32 / bits)), n_groups]  zero
**                          points packed the same way along the rows (only
**                          for asymmetric schemes; symmetric ones have zero
**                          point 0, i.e. quantkit's 2^(bits-1))
**     M.weight_g_idx       int32 [cols]  (act-order "group" only)
**     M.weight_shape       int32 [2] = {rows, cols}
**     config.json "quantization_config": quant_method "compressed-tensors",
**     format "pack-quantized", config_groups.group_0 {targets ["Linear"],
**     weights {num_bits, type "int", symmetric, strategy "group" | "channel",
**     group_size, actorder, dynamic false}}, ignore ["lm_head"],
**     quantization_status "compressed".
**
** Every format represents W'[r][c] = (code - zero) * scale with the stored
** (f16) scale. Reading computes that product in f32, which is exact (|code -
** zero| <= 256 and an f16 scale have at most 20 significant bits), so a
** checkpoint read back gives exactly qk_quantized_linear_dequantize() of the
** linear that was written, once its scales are rounded to f16 as the
** writers store them (qk_checkpoint_round_scales; round to nearest even).
** Quantizers that choose f16 scales from the start (GPTQ's default) are
** unaffected by that rounding; others should call qk_checkpoint_round_scales
** before evaluating the simulated model so that it equals the written one.
** Tools that dequantize in f16 (AutoGPTQ's torch fallback) round the product
** once more; that is their arithmetic, not the checkpoint's.
**
** Rows (output channels) of q_proj / k_proj are in Hugging Face's rotary
** order in every file. The writer takes linears in the order the model
** source presents them (llama.cpp's for Llama/Mistral unless the source was
** opened with hf_layout) and reorders rows (codes, scales, zeros) itself;
** reading through a model source presents them as any other source does.
**
** Layering: this header sits on io (model sources, safetensors) and uses
** algo.h's qk_quantized_linear as plain data.
*/
#ifndef QUANTKIT_CHECKPOINT_H
#define QUANTKIT_CHECKPOINT_H

#include "quantkit/algo.h"
#include "quantkit/core.h"
#include "quantkit/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qk_checkpoint_format {
    QK_CHECKPOINT_GPTQ = 0,              /* AutoGPTQ v1 (checkpoint_format "gptq") */
    QK_CHECKPOINT_GPTQ_V2 = 1,           /* GPTQModel v2 (checkpoint_format "gptq_v2") */
    QK_CHECKPOINT_AWQ = 2,               /* AutoAWQ GEMM */
    QK_CHECKPOINT_COMPRESSED_TENSORS = 3 /* compressed-tensors pack-quantized */
} qk_checkpoint_format;

/* "gptq", "gptq_v2", "awq", "compressed-tensors". */
const char *qk_checkpoint_format_name(qk_checkpoint_format format);
/* The names above (case-insensitive; "ct" and "gptq-v2" too); QK_ERR_INVALID_ARG. */
qk_status qk_checkpoint_format_from_name(const char *name, qk_checkpoint_format *out);

/* What a checkpoint declares about its quantized linears. */
typedef struct qk_checkpoint_config {
    qk_checkpoint_format format;
    int32_t bits;       /* GPTQ 2, 3, 4, 8; AWQ 4; compressed-tensors 2..8 */
    int32_t group_size; /* input columns per group; -1 per channel (one group) */
    bool symmetric;     /* every zero point is 2^(bits-1) */
    bool desc_act;      /* act-order: g_idx may be any assignment (GPTQ desc_act,
                           compressed-tensors actorder "group"); not for AWQ */
    /* GPTQ metadata, written to quantize_config.json only */
    double damp_percent;  /* 0.01 */
    bool static_groups;   /* false */
    bool true_sequential; /* true */
} qk_checkpoint_config;

/* Defaults for `format`: 4 bits, group 128, asymmetric (compressed-tensors:
** symmetric, as its W4A16 preset), no act-order, damp 0.01, true sequential. */
void qk_checkpoint_config_init(qk_checkpoint_config *config, qk_checkpoint_format format);
/* Check bits and group size for the format (QK_ERR_INVALID_ARG naming the field). */
qk_status qk_checkpoint_config_check(const qk_checkpoint_config *config);

/* Whether linear `q` (rows x cols) can be stored under `config`: bits,
** group size (equal, or one group for per channel or cols <= group size),
** shape constraints of the format, codes and zero points in range (GPTQ v1
** cannot store a zero point of 0), g_idx only with desc_act (and never for
** AWQ), zero points 2^(bits-1) when symmetric, finite scales whose f16
** rounding stays finite. QK_ERR_INVALID_ARG / QK_ERR_SHAPE / QK_ERR_OVERFLOW
** naming the first offending row, column or group. */
qk_status qk_checkpoint_check_linear(const qk_checkpoint_config *config,
                                     const qk_quantized_linear *q);

/* Round every scale of `q` to the nearest f16 (ties to even), as the
** writers store them. QK_ERR_OVERFLOW naming the group and row when a
** scale is not finite or rounds to infinity. */
qk_status qk_checkpoint_round_scales(qk_quantized_linear *q);

/* ------------------------------------------------------------------------
** Writing. The folder gets model.safetensors (the format's tensors for the
** seven linears of every layer, q k v o gate up down; every other tensor
** of the model -- embeddings, norms, biases, lm_head -- as the source stores
** it, under its Hugging Face name), config.json (the source's for a
** Hugging Face source, else one made from the hyper-parameters, with
** "quantization_config" set), quantize_config.json (GPTQ formats), and the
** tokenizer: a Hugging Face source's tokenizer.model, tokenizer.json,
** tokenizer_config.json, special_tokens_map.json, generation_config.json
** and added_tokens.json when present; for a llama2.c checkpoint its
** tokenizer.bin when it lies beside it; for GGUF sources none (their
** vocabulary lives in the GGUF metadata) unless tokenizer_path names a file.
**
** Everything is written into a temporary folder next to `out_dir`
** (".NAME.qk-tmp-PID-N") and renamed onto `out_dir` by commit; `out_dir`
** must not exist or be an empty folder (QK_ERR_IO otherwise, checked at
** create and again at commit). Nothing is left behind on failure.
**
** Linears may come in any order; the file is written in the source's
** tensor order as soon as each next tensor is available, so memory holds
** only the packed linears that arrived ahead of their turn (nothing extra
** when they come layer by layer in the order q k v o gate up down).
*/
typedef struct qk_checkpoint_options {
    qk_checkpoint_config config;
    /* Optional tokenizer file copied as tokenizer.model (a SentencePiece
    ** model), tokenizer.json, or tokenizer.bin (a llama2.c tokenizer); used
    ** instead of the source's own. */
    const char *tokenizer_path;
    /* Optional: reads a tensor of the source as f32, for non-linear tensors
    ** stored in a block format (a quantized GGUF); they are then written as
    ** f32. qk_model_source_read_f32 (model.h) has this signature. Without it
    ** such tensors are QK_ERR_UNSUPPORTED. */
    qk_status (*read_f32)(const qk_model_source *src, size_t index, float *dst, int64_t n,
                          void *scratch, size_t scratch_bytes);
    /* Optional: values of plain (non-linear) tensors that replace the
    ** source's (e.g. norms into which AWQ folded its scales). Called with
    ** dst NULL when the writer is created: QK_OK means "tensor `name` (llama.cpp
    ** name, numel values) is replaced" and it is then written as f32; any
    ** other status means "not replaced" (the error is cleared). Called again
    ** with dst when the tensor is written, rows in the order the source
    ** presents them. */
    qk_status (*replace)(void *user, const char *name, float *dst, int64_t numel);
    void *replace_user;
} qk_checkpoint_options;

void qk_checkpoint_options_init(qk_checkpoint_options *options, qk_checkpoint_format format);

typedef struct qk_checkpoint_report {
    uint64_t file_bytes;     /* model.safetensors */
    uint64_t folder_bytes;   /* every file written */
    uint64_t linear_weights; /* elements of the quantized linears */
    uint64_t linear_bytes;   /* their stored bytes (codes, zeros, scales, g_idx, shapes) */
    double bits_per_weight;  /* 8 * linear_bytes / linear_weights */
} qk_checkpoint_report;

typedef struct qk_checkpoint_writer qk_checkpoint_writer;

/* Start a checkpoint of the model `src` (borrowed: keep it open until the
** writer is freed) in `out_dir`. The model must be Llama/Mistral/Qwen2 (as
** any model source); the config is checked. */
qk_status qk_checkpoint_writer_create(const char *out_dir, const qk_model_source *src,
                                      const qk_checkpoint_options *options,
                                      qk_checkpoint_writer **out);
/* The quantized weight of linear `name` (llama.cpp name, blk.N.attn_q.weight,
** attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down), [rows, cols] as
** the source presents that tensor. Checked with qk_checkpoint_check_linear;
** scales are rounded to f16. `q` is not kept. A name given twice, or not a
** quantizable linear of the model: QK_ERR_INVALID_ARG. */
qk_status qk_checkpoint_writer_add_linear(qk_checkpoint_writer *writer, const char *name,
                                          const qk_quantized_linear *q);
/* Names of the linears still missing, in file order (borrowed until the next
** call); NULL when none. */
const char *qk_checkpoint_writer_next_missing(const qk_checkpoint_writer *writer);
/* Finish: every linear must have been added (QK_ERR_STATE naming the first
** missing one). Writes the config files, renames the folder into place.
** `report` may be NULL. */
qk_status qk_checkpoint_writer_commit(qk_checkpoint_writer *writer, qk_checkpoint_report *report);
/* Release; removes the temporary folder unless committed. NULL is a no-op. */
void qk_checkpoint_writer_free(qk_checkpoint_writer *writer);

/* ------------------------------------------------------------------------
** Reading. qk_model_source_open() opens a Hugging Face folder whose
** config.json has a quantization_config with quant_method "gptq" (v1 or
** v2 by checkpoint_format, also taken from quantize_config.json; folders
** whose config.json has no quantization_config are read by AutoGPTQ's
** quantize_config.json or AutoAWQ's quant_config.json beside it), "awq"
** (version gemm) or "compressed-tensors" (format pack-quantized, int
** weights, strategy group or channel, config groups targeting "Linear" or
** "re:" patterns of module names). Its quantized linears are listed as
** QK_TYPE_F32 tensors under llama.cpp names, rows in the source's order;
** reading them dequantizes (exactly the formula above). Their qk_model_tensor
** has `data` NULL, `nbytes` the stored bytes of all their parts and
** `quant_bits` the bits. A module that stores a plain `weight` instead
** (an "ignore"d or unconverted module) is read as usual. Every stored
** tensor's dtype and shape is checked against the config and the model's
** dimensions when the source is opened; errors name the file, the tensor
** and both shapes.
*/

/* The quantization of a checkpoint source (that of its first quantized
** linear when compressed-tensors groups differ). QK_ERR_NOT_FOUND when
** `src` holds no quantized linears. */
qk_status qk_checkpoint_source_config(const qk_model_source *src, qk_checkpoint_config *out);
/* The stored linear of tensor `index` as a qk_quantized_linear (allocated;
** free with qk_quantized_linear_free), rows in the order the source presents
** them. g_idx is NULL when it is c / group_size for every column. Zero points
** of v1 files are stored + 1. QK_ERR_INVALID_ARG when the tensor is not a
** quantized linear. */
qk_status qk_checkpoint_read_linear(const qk_model_source *src, size_t index,
                                    qk_quantized_linear *out);

/* ------------------------------------------------------------------------
** Quantizing a whole model into a checkpoint (algo layer: uses the affine
** quantizers of quant.h and model.h's f32 reading).
*/

/* Round-to-nearest of w [rows, cols] (row-major f32) into `out` (allocated;
** free with qk_quantized_linear_free): each (group, row) takes its min and
** max, widened to include 0, on the unsigned grid [0, 2^bits - 1]:
** asymmetric scale = (max - min) / (2^bits - 1), zero = round(-min / scale);
** symmetric scale = max(|min|, max) / ((2^bits - 1) / 2), zero 2^(bits-1);
** the scale is rounded UP to f16 and the zero recomputed with it
** (qk_affine_scheme_params), then codes = clamp(round(w / scale) + zero)
** (half to even). group_size -1 (or >= cols): one group per row. */
qk_status qk_checkpoint_rtn_linear(const float *w, int64_t rows, int64_t cols, int32_t bits,
                                   int32_t group_size, bool symmetric, qk_quantized_linear *out);

/* A quantizer for one linear: fill `out` for weight w [rows, cols] (llama.cpp
** name `name`, rows as the source presents them) under `config`. */
typedef qk_status (*qk_checkpoint_quantize_fn)(void *user, const char *name, const float *w,
                                               int64_t rows, int64_t cols,
                                               const qk_checkpoint_config *config,
                                               qk_quantized_linear *out);

/* Quantize every linear of the model at `in_path` (any model source) with
** `quantize` (NULL: qk_checkpoint_rtn_linear with the config's bits, group
** size and symmetry) and write the checkpoint to `out_dir`. `progress`
** (may be NULL) is called after each linear. `report` may be NULL. */
qk_status qk_checkpoint_quantize(const char *in_path, const char *out_dir,
                                 const qk_checkpoint_options *options,
                                 qk_checkpoint_quantize_fn quantize, void *quantize_user,
                                 void (*progress)(void *user, size_t done, size_t total,
                                                  const char *name),
                                 void *progress_user, qk_checkpoint_report *report);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_CHECKPOINT_H */
