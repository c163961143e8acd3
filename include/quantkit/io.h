/*
** quantkit io: model files.
**
**   - mapped files (read-only mmap) and atomic output files (temporary file
**     in the destination folder, fsync, rename on commit), used by every
**     reader and writer in quantkit;
**   - the tensor description every reader hands out (qk_io_tensor).
**
** GGUF lives in quantkit/gguf.h. Files are untrusted: readers check every
** length, count, offset, alignment and shape product against the file size
** and for overflow before use, and fail with a message naming the file, the
** tensor or key, and the byte offset. Status conventions of all readers:
**   QK_ERR_BAD_MAGIC     the file is not of the format (or a wrong version word)
**   QK_ERR_TRUNCATED     the file ends inside a fixed-size field or record
**   QK_ERR_OUT_OF_BOUNDS a declared length, count or offset points past the end
**   QK_ERR_OVERLAP       two tensors' data regions overlap
**   QK_ERR_UNKNOWN_TYPE  a dtype / ggml type / value type quantkit does not know
**   QK_ERR_MISALIGNED    a data offset breaks the format's alignment
**   QK_ERR_OVERFLOW      a shape product or size overflows int64 / size_t
**   QK_ERR_SHAPE         a shape inconsistent with the type or the byte range
**   QK_ERR_CORRUPT       anything else malformed (bad JSON, duplicate names ...)
**   QK_ERR_UNSUPPORTED   valid but not handled (GGUF v1, more than 4 dimensions)
**   QK_ERR_IO            the operating system refused (open, read, write, rename)
** All multi-byte values are little-endian; tensor data pointers point into
** the read-only mapping and may be unaligned for their element type.
*/
#ifndef QUANTKIT_IO_H
#define QUANTKIT_IO_H

#include <stdio.h> /* FILE */

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
** Read-only memory-mapped file. The whole file is mapped; an empty file has
** size 0 and a valid (non-NULL, not dereferenceable) data pointer.
*/
typedef struct qk_mapped_file qk_mapped_file;

/* Map `path` read-only. QK_ERR_IO (naming the path and the OS error) when it
** cannot be opened, is not a regular file, or cannot be mapped. */
qk_status qk_mapped_file_open(const char *path, qk_mapped_file **out);
/* Unmap and free; NULL is a no-op. Invalidates every pointer into the file. */
void qk_mapped_file_close(qk_mapped_file *file);
/* First byte of the mapping; borrowed, valid until qk_mapped_file_close. */
const unsigned char *qk_mapped_file_data(const qk_mapped_file *file);
/* Size in bytes. */
size_t qk_mapped_file_size(const qk_mapped_file *file);
/* The path given to qk_mapped_file_open; borrowed, same lifetime. */
const char *qk_mapped_file_path(const qk_mapped_file *file);

/* ------------------------------------------------------------------------
** Atomic output file: every quantkit writer goes through this. Bytes go to a
** new file with a unique name in the destination folder
** (".NAME.qk-tmp-PID-N"); commit flushes, fsyncs, renames it onto `path`
** and fsyncs the folder; abort (or any failure in commit) unlinks it. The
** destination is either untouched or complete, never half-written. Write
** errors are sticky: after one, every later call returns the same status
** and commit fails. Messages name the destination path and the OS error
** (ENOSPC "No space left on device", EFBIG "File too large", ...).
*/
typedef struct qk_atomic_file qk_atomic_file;

/* Create the temporary file next to `path` (mode 0666 minus the umask),
** named ".BASENAME.qk-tmp-PID-N". A process killed by SIGKILL (or a power
** loss) leaves its temporary behind; the next open for the same destination
** removes such files whose PID no longer runs on this machine. */
qk_status qk_atomic_file_open(const char *path, qk_atomic_file **out);
/* Append `n` bytes (buffered). */
qk_status qk_atomic_file_write(qk_atomic_file *file, const void *data, size_t n);
/* Append `n` zero bytes. */
qk_status qk_atomic_file_write_zeros(qk_atomic_file *file, size_t n);
/* Bytes appended so far. */
uint64_t qk_atomic_file_tell(const qk_atomic_file *file);
/* Destination path; borrowed, valid until commit/abort. */
const char *qk_atomic_file_path(const qk_atomic_file *file);
/* Temporary file's path; borrowed, valid until commit/abort. */
const char *qk_atomic_file_temp_path(const qk_atomic_file *file);
/* Flush, fsync, rename into place. Always frees `file`; on failure the
** temporary file is removed and the destination left as it was. */
qk_status qk_atomic_file_commit(qk_atomic_file *file);
/* Remove the temporary file and free; NULL is a no-op. */
void qk_atomic_file_abort(qk_atomic_file *file);
/* Whether directory entry `name` is a temporary of destination basename
** `base` (".BASE.qk-tmp-PID-N", also the checkpoint writer's folders) whose
** process PID no longer exists (kill(PID, 0) fails with ESRCH). Entries of
** the calling process are never stale. */
bool qk_temp_name_is_stale(const char *name, const char *base);

/* ------------------------------------------------------------------------
** One tensor of a file, as every reader describes it. Shapes are outermost
** first (row-major, shape[ndim-1] contiguous), as in qk_tensor_view.
*/
typedef struct qk_io_tensor {
    const char *name;           /* borrowed from the reader */
    qk_type type;               /* element type */
    int32_t ndim;               /* 0 (scalar) .. QK_MAX_DIMS */
    int64_t shape[QK_MAX_DIMS]; /* outermost first; unused entries are 0 */
    uint64_t offset;            /* byte offset of the data in the file */
    size_t nbytes;              /* bytes of the data */
    const void *data;           /* borrowed: points into the reader's mapping */
} qk_io_tensor;

/* Number of elements of a tensor (product of its shape; 1 for ndim 0). */
int64_t qk_io_tensor_numel(const qk_io_tensor *tensor);

/* ------------------------------------------------------------------------
** safetensors: u64 LE header length N, N bytes of JSON
**   {"__metadata__": {"k": "v", ...},
**    "name": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [b, e]}, ...}
** then the data; offsets are relative to the byte after the header. dtype
** names: BOOL U8 I8 I16 U16 I32 U32 I64 U64 F16 BF16 F32 F64 F8_E4M3
** F8_E5M2. Tensors are listed in header order.
*/
typedef struct qk_safetensors qk_safetensors;

/* dtype name <-> qk_type (QK_ERR_UNKNOWN_TYPE; NULL for types without one). */
qk_status qk_safetensors_dtype_to_type(const char *dtype, qk_type *out);
const char *qk_safetensors_dtype_name(qk_type type);

/* Map and validate one file: header length, JSON (duplicate keys rejected),
** every dtype, shape, offset range (inside the file, matching the shape,
** not overlapping another tensor). Tensor data pointers are borrowed from
** the mapping until qk_safetensors_close(). */
qk_status qk_safetensors_open(const char *path, qk_safetensors **out);
void qk_safetensors_close(qk_safetensors *file);
const char *qk_safetensors_path(const qk_safetensors *file);
/* File offset of the data section (8 + header length). */
uint64_t qk_safetensors_data_offset(const qk_safetensors *file);
size_t qk_safetensors_tensor_count(const qk_safetensors *file);
/* Index of tensor `name` or -1. */
int64_t qk_safetensors_find_tensor(const qk_safetensors *file, const char *name);
qk_status qk_safetensors_tensor_info(const qk_safetensors *file, size_t index, qk_io_tensor *out);
/* __metadata__ string pairs, in header order (borrowed). */
size_t qk_safetensors_metadata_count(const qk_safetensors *file);
qk_status qk_safetensors_metadata_at(const qk_safetensors *file, size_t index, const char **key,
                                     const char **value);
/* Value of metadata `key`, or NULL. */
const char *qk_safetensors_metadata_get(const qk_safetensors *file, const char *key);

/* A model in one or more safetensors files. `path` is a .safetensors file,
** a model.safetensors.index.json (its "weight_map" names each tensor's
** file, relative to the index's folder), or a folder holding an index or
** else *.safetensors files (all of them, sorted by name). With an index,
** exactly the tensors it lists are presented, in its order; every listed
** tensor must exist in its file. A name in two files is QK_ERR_CORRUPT. */
typedef struct qk_safetensors_set qk_safetensors_set;

qk_status qk_safetensors_set_open(const char *path, qk_safetensors_set **out);
void qk_safetensors_set_close(qk_safetensors_set *set);
size_t qk_safetensors_set_tensor_count(const qk_safetensors_set *set);
int64_t qk_safetensors_set_find_tensor(const qk_safetensors_set *set, const char *name);
/* Data pointers are borrowed until qk_safetensors_set_close(). */
qk_status qk_safetensors_set_tensor_info(const qk_safetensors_set *set, size_t index,
                                         qk_io_tensor *out);
/* The file holding tensor `index` (borrowed; NULL when out of range). */
const qk_safetensors *qk_safetensors_set_tensor_file(const qk_safetensors_set *set, size_t index);
size_t qk_safetensors_set_shard_count(const qk_safetensors_set *set);
const qk_safetensors *qk_safetensors_set_shard(const qk_safetensors_set *set, size_t index);

/* Streaming writer: declare metadata and tensors (name, type, shape), then
** begin() writes the header (compact JSON, "__metadata__" first, tensors in
** declaration order, padded with spaces to a multiple of 8 bytes like the
** reference writer), then stream every tensor's bytes in order with
** write() (any chunking), then commit() (atomic rename). Block types have
** no safetensors dtype (QK_ERR_UNSUPPORTED). Free in every case. */
typedef struct qk_safetensors_writer qk_safetensors_writer;

qk_status qk_safetensors_writer_create(const char *path, qk_safetensors_writer **out);
void qk_safetensors_writer_free(qk_safetensors_writer *writer);
qk_status qk_safetensors_writer_add_metadata(qk_safetensors_writer *writer, const char *key,
                                             const char *value);
qk_status qk_safetensors_writer_add_tensor(qk_safetensors_writer *writer, const char *name,
                                           qk_type type, int32_t ndim, const int64_t *shape);
qk_status qk_safetensors_writer_begin(qk_safetensors_writer *writer);
qk_status qk_safetensors_writer_write(qk_safetensors_writer *writer, const void *data, size_t n);
qk_status qk_safetensors_writer_commit(qk_safetensors_writer *writer);

/* One call: `tensors` (name, type, ndim, shape, data; offset and nbytes are
** ignored) and `n_metadata` key/value pairs as metadata[2i], metadata[2i+1]. */
qk_status qk_safetensors_write(const char *path, const qk_io_tensor *tensors, size_t n,
                               const char *const *metadata, size_t n_metadata);

/* ------------------------------------------------------------------------
** Hugging Face config.json of the Llama family: LlamaForCausalLM,
** MistralForCausalLM, Qwen2ForCausalLM (Qwen2 differs by its q/k/v biases).
** Fields the file leaves out take transformers' defaults: num_key_value_heads
** = num_attention_heads, head_dim = hidden_size / num_attention_heads,
** rms_norm_eps 1e-6, rope_theta 10000, tie_word_embeddings false,
** max_position_embeddings 2048 (llama) / 131072 (mistral) / 32768 (qwen2).
*/
typedef enum qk_hf_arch {
    QK_HF_ARCH_UNKNOWN = 0,
    QK_HF_ARCH_LLAMA,
    QK_HF_ARCH_MISTRAL,
    QK_HF_ARCH_QWEN2
} qk_hf_arch;

/* "llama", "mistral", "qwen2", "unknown". */
const char *qk_hf_arch_name(qk_hf_arch arch);

typedef struct qk_hf_rope_scaling {
    bool present;  /* "rope_scaling" was an object */
    char type[32]; /* its "rope_type" (or "type"): "llama3", "linear", "yarn" ... */
    double factor; /* 0 when absent */
    double low_freq_factor, high_freq_factor; /* llama3-type; 0 when absent */
    int64_t original_max_position_embeddings; /* 0 when absent */
} qk_hf_rope_scaling;

typedef struct qk_hf_config {
    qk_hf_arch arch;           /* from architectures[0], else model_type */
    char architecture[64];     /* architectures[0]; "" when absent */
    char model_type[32];       /* "llama", "mistral", "qwen2" ... */
    char torch_dtype[16];      /* "bfloat16", "float16", "float32"; "" when absent */
    int64_t hidden_size;       /* n_embd */
    int64_t intermediate_size; /* n_ff */
    int64_t num_hidden_layers;
    int64_t num_attention_heads;
    int64_t num_key_value_heads;
    int64_t head_dim;       /* explicit, or hidden_size / num_attention_heads */
    bool head_dim_explicit; /* the file had "head_dim" */
    int64_t vocab_size;
    int64_t max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    qk_hf_rope_scaling rope_scaling;
    bool tie_word_embeddings;
    bool attention_bias; /* q/k/v projections have biases (always for qwen2) */
    bool mlp_bias;
    int64_t sliding_window;  /* mistral; 0 when absent or null */
    int64_t bos_token_id;    /* -1 when absent */
    int64_t eos_token_id;    /* -1 when absent; the first when a list */
    int32_t n_eos_token_ids; /* length of the eos list (1 for a single id) */
} qk_hf_config;

/* Read `path` (a config.json, or a folder holding one). QK_ERR_CORRUPT for
** bad JSON (with its position), QK_ERR_CONFIG naming the key for a missing
** required field (hidden_size, intermediate_size, num_hidden_layers,
** num_attention_heads, vocab_size), a wrong type, or inconsistent values
** (heads not a multiple of KV heads, hidden not a multiple of heads without
** head_dim, odd head_dim, non-positive sizes). */
qk_status qk_hf_config_read(const char *path, qk_hf_config *out);
/* The same from text; `source` names it in messages. */
qk_status qk_hf_config_parse(const char *json, size_t len, const char *source, qk_hf_config *out);

/* ------------------------------------------------------------------------
** llama2.c checkpoints (f32): the legacy layout (7 int32 header, negative
** vocab_size = separate classifier) and the version-1 export (magic "ak42",
** 256-byte header, norms first). Every offset is checked against the file
** size; the file must end exactly after the last tensor. Tensors are
** listed in one order for both layouts, with llama2.c's PyTorch names and
** shapes [out_features, in_features]:
**   tok_embeddings.weight [vocab, dim]
**   layers.N.attention_norm.weight [dim]
**   layers.N.attention.wq.weight [n_heads*head_size, dim]
**   layers.N.attention.wk.weight, .wv.weight [n_kv_heads*head_size, dim]
**   layers.N.attention.wo.weight [dim, n_heads*head_size]
**   layers.N.ffn_norm.weight [dim]
**   layers.N.feed_forward.w1.weight, .w3.weight [hidden_dim, dim]
**   layers.N.feed_forward.w2.weight [dim, hidden_dim]
**   norm.weight [dim]
**   output.weight [vocab, dim]   (only when the classifier is not shared)
** The legacy RoPE tables (freq_cis_real/imag) are skipped. Data pointers are
** borrowed until qk_llama2c_close(). The tokenizer (tokenizer.bin) is not
** read here.
*/
typedef struct qk_llama2c_config {
    int32_t version; /* 0 legacy, 1 "ak42" export */
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads;
    int32_t vocab_size; /* positive */
    int32_t seq_len;
    bool shared_classifier; /* output = tok_embeddings */
} qk_llama2c_config;

typedef struct qk_llama2c qk_llama2c;

/* QK_ERR_TRUNCATED names the first tensor that does not fit and its byte
** offset; QK_ERR_CORRUPT names a non-positive or inconsistent header field
** and its byte offset, or trailing bytes; QK_ERR_UNSUPPORTED other export
** versions (the int8 version 2). */
qk_status qk_llama2c_open(const char *path, qk_llama2c **out);
void qk_llama2c_close(qk_llama2c *model);
const char *qk_llama2c_path(const qk_llama2c *model);
const qk_llama2c_config *qk_llama2c_get_config(const qk_llama2c *model);
size_t qk_llama2c_tensor_count(const qk_llama2c *model);
int64_t qk_llama2c_find_tensor(const qk_llama2c *model, const char *name);
qk_status qk_llama2c_tensor_info(const qk_llama2c *model, size_t index, qk_io_tensor *out);

/* ------------------------------------------------------------------------
** Model source: one view of a Llama-family model in any container.
**
** `path` is a Hugging Face folder (config.json and *.safetensors, sharded
** or not; a config.json or .safetensors path means its folder; quantized
** GPTQ / AWQ / compressed-tensors checkpoints too, see checkpoint.h), a GGUF file
** (llama.cpp's or quantkit's; architectures "llama" and "qwen2") or a
** llama2.c checkpoint. Every source presents the hyper-parameters and the
** tensors in llama.cpp's naming and orientation:
**   token_embd.weight [n_vocab, n_embd]
**   blk.N.attn_norm.weight [n_embd]
**   blk.N.attn_q.weight [n_head*head_dim, n_embd]
**   blk.N.attn_k.weight, blk.N.attn_v.weight [n_head_kv*head_dim, n_embd]
**   blk.N.attn_q.bias, attn_k.bias, attn_v.bias (when attn_bias)
**   blk.N.attn_output.weight [n_embd, n_head*head_dim]
**   blk.N.ffn_norm.weight [n_embd]
**   blk.N.ffn_gate.weight, blk.N.ffn_up.weight [n_ff, n_embd]
**   blk.N.ffn_down.weight [n_embd, n_ff]
**   output_norm.weight [n_embd]
**   output.weight [n_vocab, n_embd]   (absent when tied_output)
** Shapes are outermost first, [rows = out_features, cols = in_features].
** For Hugging Face Llama/Mistral the q and k rows (and biases) are permuted
** from HF's rotary layout (halves) to llama.cpp's (adjacent pairs) as
** convert_hf_to_gguf.py does: rows viewed as [heads, 2, head_dim/2] become
** [heads, head_dim/2, 2], heads = n_head for q and n_head_kv for k. Qwen2
** is not permuted (llama.cpp runs it with NEOX rotary). llama2.c already
** stores llama.cpp's layout (llama-convert-llama2c-to-ggml copies it).
** So the three containers present identical tensors for the same model.
** HF and llama2.c sources list tensors in the order above; GGUF sources in
** file order (every tensor of the file). Reading converts one tensor at a
** time into the caller's buffer.
*/
typedef enum qk_model_format {
    QK_MODEL_FORMAT_HF = 0,
    QK_MODEL_FORMAT_GGUF,
    QK_MODEL_FORMAT_LLAMA2C
} qk_model_format;

/* "hf", "gguf", "llama2c". */
const char *qk_model_format_name(qk_model_format format);

/* Hyper-parameters (same fields as model.h's qk_llama_hparams). */
typedef struct qk_model_hparams {
    char arch[16]; /* llama.cpp's architecture: "llama" or "qwen2" */
    int32_t n_vocab;
    int32_t n_embd;
    int32_t n_ff;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_ctx_train;    /* HF max_position_embeddings, GGUF context_length, llama2.c seq_len */
    float rms_eps;          /* llama2.c: 1e-5 (run.c) */
    float rope_theta;       /* 10000 unless the file says otherwise */
    bool attn_bias;         /* q/k/v biases */
    bool tied_output;       /* no output.weight: the output projection is token_embd */
    int32_t bos_id, eos_id; /* -1 when unknown; llama2.c: 1 and 2 */
    qk_hf_rope_scaling rope_scaling; /* HF rope_scaling, GGUF rope.scaling.type/factor */
} qk_model_hparams;

typedef struct qk_model_source_options {
    bool hf_layout; /* keep HF's rotary row order for q/k (no permutation) */
} qk_model_source_options;

typedef struct qk_model_tensor {
    const char *name;      /* llama.cpp name (borrowed) */
    const char *file_name; /* the name in the file (borrowed) */
    qk_type type;          /* stored type */
    int32_t ndim;
    int64_t shape[QK_MAX_DIMS]; /* outermost first */
    size_t nbytes;              /* bytes of the stored data */
    const void *data;           /* stored bytes, file layout (borrowed) */
    bool permuted;              /* reading reorders rows (HF q/k); `data` is not in that order */
    int32_t quant_bits;         /* > 0: a quantized checkpoint linear (quantkit/checkpoint.h),
                                   type F32, dequantized on read; `data` is NULL and `nbytes`
                                   counts its stored parts */
} qk_model_tensor;

typedef struct qk_model_source qk_model_source;

/* Open and check: the hyper-parameters are consistent and every required
** tensor is present with the shape they imply (QK_ERR_NOT_FOUND naming the
** file's tensor name, QK_ERR_SHAPE naming both shapes). `options` may be
** NULL. Architectures other than Llama/Mistral/Qwen2: QK_ERR_UNSUPPORTED. */
qk_status qk_model_source_open(const char *path, const qk_model_source_options *options,
                               qk_model_source **out);
void qk_model_source_close(qk_model_source *source);
qk_model_format qk_model_source_format(const qk_model_source *source);
/* The path given to qk_model_source_open (borrowed, valid until close). */
const char *qk_model_source_path(const qk_model_source *source);
const qk_model_hparams *qk_model_source_hparams(const qk_model_source *source);
size_t qk_model_source_tensor_count(const qk_model_source *source);
/* Index of the tensor with llama.cpp name `name`, or -1. */
int64_t qk_model_source_find_tensor(const qk_model_source *source, const char *name);
qk_status qk_model_source_tensor_info(const qk_model_source *source, size_t index,
                                      qk_model_tensor *out);
/* Bytes tensor `index` takes as `type` (QK_ERR_SHAPE when the row length is
** not a whole number of blocks). */
qk_status qk_model_source_tensor_bytes(const qk_model_source *source, size_t index, qk_type type,
                                       size_t *out);
/* Read tensor `index` into `dst` (`dst_bytes` at least its size) as `type`:
** the stored type (bytes copied, rows permuted when needed) or any plain
** scalar type such as QK_TYPE_F32 when the stored type is plain too (bf16 ->
** f32 is exact). Block-format tensors read as another type:
** QK_ERR_UNSUPPORTED (dequantization belongs to the quant layer). */
qk_status qk_model_source_read(const qk_model_source *source, size_t index, qk_type type, void *dst,
                               size_t dst_bytes);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_IO_H */
