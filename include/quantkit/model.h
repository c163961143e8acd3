/*
** quantkit model: a Llama-family transformer forward pass on f32 or
** quantized weights, perplexity and KL divergence measurement, and hooks
** that see every linear layer's input rows (for calibration).
**
** Weights are in llama.cpp's layout and naming: q/k rows in the order its
** rotary embedding expects (adjacent pairs rotate together), every linear
** weight a 2-D [out_features, in_features] row-major matrix, y = x W^T.
*/
#ifndef QUANTKIT_MODEL_H
#define QUANTKIT_MODEL_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hyper-parameters of a Llama-family model (Llama, Mistral, Qwen2). */
typedef struct qk_llama_hparams {
    int32_t n_vocab;
    int32_t n_embd; /* hidden size */
    int32_t n_ff;   /* intermediate (MLP) size */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv; /* grouped-query attention: n_head % n_head_kv == 0 */
    int32_t head_dim;  /* usually n_embd / n_head */
    int32_t n_ctx_train;
    float rms_eps;
    float rope_theta;
    bool attn_bias;   /* q/k/v biases (Qwen2) */
    bool tied_output; /* output projection is token_embd */
    bool rope_neox;   /* rotary pairs (i, i + head_dim/2) as llama.cpp's NEOX mode
                         (Qwen2); otherwise adjacent pairs (2i, 2i+1) */
} qk_llama_hparams;

/* Checks the hyper-parameters for consistency (positive sizes, head
** divisibility, even head_dim). */
qk_status qk_llama_hparams_validate(const qk_llama_hparams *hp);

/* The weights of one decoder layer. Linear weights are 2-D views
** [out, in]; norms are 1-D f32 views [n_embd]; biases 1-D f32 or absent
** (data NULL). */
typedef struct qk_llama_layer_weights {
    qk_tensor_view attn_norm;
    qk_tensor_view wq, wk, wv, wo;
    qk_tensor_view bq, bk, bv;
    qk_tensor_view ffn_norm;
    qk_tensor_view w_gate, w_up, w_down;
} qk_llama_layer_weights;

/* Index of a linear weight inside a layer, for hooks and per-tensor work. */
typedef enum qk_llama_linear {
    QK_LINEAR_Q = 0,
    QK_LINEAR_K,
    QK_LINEAR_V,
    QK_LINEAR_O,
    QK_LINEAR_GATE,
    QK_LINEAR_UP,
    QK_LINEAR_DOWN,
    QK_LINEAR_OUTPUT, /* the final projection to the vocabulary (layer -1) */
    QK_LINEAR_COUNT
} qk_llama_linear;

/* llama.cpp's tensor name of a linear weight ("blk.3.attn_q.weight",
** "output.weight") into buf. */
const char *qk_llama_linear_name(int32_t layer, qk_llama_linear which, char *buf, size_t size);

/* A model: hyper-parameters plus weights. Opaque. */
typedef struct qk_llama_model qk_llama_model;

/* Create an empty model for `hp`; then set every tensor with
** qk_llama_model_set_tensor, and check with qk_llama_model_finish.
** The model owns copies of the data it is given. */
qk_status qk_llama_model_create(const qk_llama_hparams *hp, qk_llama_model **out);
void qk_llama_model_free(qk_llama_model *model);

/* Give the model one tensor by llama.cpp name (token_embd.weight,
** blk.N.attn_q.weight, ..., output_norm.weight, output.weight), in any
** storage type quantkit supports. Norm weights and biases are converted to
** f32. The data is copied; the shape must match the hyper-parameters. */
qk_status qk_llama_model_set_tensor(qk_llama_model *model, const char *name,
                                    const qk_tensor_view *tensor);
/* Check that every required tensor was given. */
qk_status qk_llama_model_finish(qk_llama_model *model);

/* ------------------------------------------------------------------------
** Loading: any container qk_model_source_open accepts (a Hugging Face
** folder, a GGUF file, a llama2.c checkpoint). Weights keep their stored
** type (bf16, f16, q4_k ...); norms and biases become f32. Tensors of the
** file that are not part of the model (e.g. rope_freqs) are ignored.
*/
struct qk_model_source;
struct qk_model_hparams;
void qk_llama_hparams_from_source(const struct qk_model_hparams *src, qk_llama_hparams *out);
qk_status qk_llama_model_from_source(const struct qk_model_source *source, qk_llama_model **out);
qk_status qk_llama_model_load(const char *path, qk_llama_model **out);

/* Tensor `index` of a model source as f32 (`n` elements), dequantizing
** block formats. `scratch` (scratch_bytes) holds the stored bytes of a
** block-format tensor; pass NULL/0 to let the function allocate. */
qk_status qk_model_source_read_f32(const struct qk_model_source *source, size_t index, float *dst,
                                   int64_t n, void *scratch, size_t scratch_bytes);

/* The tokenizer of a model: `tokenizer_path` when given (tokenizer.model,
** tokenizer.json, llama2.c tokenizer.bin or a folder); else the GGUF
** file's own vocabulary, the Hugging Face folder's tokenizer files, or a
** tokenizer.bin next to a llama2.c checkpoint. */
struct qk_tokenizer_options;
struct qk_tokenizer;
qk_status qk_tokenizer_load_for_model(const char *model_path, const char *tokenizer_path,
                                      const struct qk_tokenizer_options *opts,
                                      struct qk_tokenizer **out);

const qk_llama_hparams *qk_llama_model_hparams(const qk_llama_model *model);
/* Borrowed views of the weights (valid while the model lives). */
const qk_llama_layer_weights *qk_llama_model_layer(const qk_llama_model *model, int32_t layer);
const qk_tensor_view *qk_llama_model_token_embd(const qk_llama_model *model);
const qk_tensor_view *qk_llama_model_output_norm(const qk_llama_model *model);
/* The output projection (token_embd when tied). */
const qk_tensor_view *qk_llama_model_output(const qk_llama_model *model);
/* Replace one linear weight by another of the same shape (any storage
** type), e.g. a quantized version. Copies the data. */
qk_status qk_llama_model_replace_linear(qk_llama_model *model, int32_t layer, qk_llama_linear which,
                                        const qk_tensor_view *tensor);
/* Bytes of all weights as stored. */
uint64_t qk_llama_model_weight_bytes(const qk_llama_model *model);

/* A linear layer may compute y = x W^T its own way (LLM.int8's mixed
** int8/f16 product, W8A8 with dynamic activation quantization ...): the
** forward pass then calls `matmul` instead of qk_matmul on the stored
** weight (which stays the reference for shapes and hooks). matmul gets x
** [n_rows, in] and writes y [n_rows, out] (row-major f32, not overlapping);
** it must be reentrant (contexts of one model may decode concurrently). */
typedef struct qk_linear_kernel {
    qk_status (*matmul)(void *state, const float *x, int64_t n_rows, float *y);
    void (*free_state)(void *state); /* may be NULL */
    void *state;
} qk_linear_kernel;
/* Install `kernel` for a linear (layer -1 with QK_LINEAR_OUTPUT); NULL
** removes it. The model owns kernel->state from this call on, even when it
** fails: free_state runs when the kernel is replaced or removed, when
** qk_llama_model_replace_linear replaces that weight, and when the model is
** freed. */
qk_status qk_llama_model_set_linear_kernel(qk_llama_model *model, int32_t layer,
                                           qk_llama_linear which, const qk_linear_kernel *kernel);

/* ------------------------------------------------------------------------
** Inference context: KV cache and scratch for up to n_ctx positions.
*/
typedef struct qk_llama_context qk_llama_context;

/* Called before each linear layer with its input rows x [n_rows, n_cols]
** (f32, row-major, borrowed for the duration of the call). q/k/v share one
** input and gate/up another; the hook is called once per weight. Called
** from the thread that runs qk_llama_decode. */
typedef void (*qk_linear_hook)(void *user, int32_t layer, qk_llama_linear which, const float *x,
                               int64_t n_rows, int64_t n_cols);

qk_status qk_llama_context_create(const qk_llama_model *model, int32_t n_ctx,
                                  qk_llama_context **out);
void qk_llama_context_free(qk_llama_context *ctx);
/* Forget the cached positions. */
void qk_llama_context_reset(qk_llama_context *ctx);
void qk_llama_context_set_hook(qk_llama_context *ctx, qk_linear_hook hook, void *user);
/* Number of positions in the KV cache. */
int32_t qk_llama_context_n_past(const qk_llama_context *ctx);

/* Run n_tokens tokens at positions n_past .. n_past+n_tokens-1, appending
** to the KV cache. logits: NULL, or n_tokens x n_vocab floats (all
** positions) when all_logits, else n_vocab floats (last position). Token
** ids out of range are an error naming the index. */
qk_status qk_llama_decode(qk_llama_context *ctx, const int32_t *tokens, int32_t n_tokens,
                          float *logits, bool all_logits);

/* The view of one of a layer's seven linears (NULL for another value). */
qk_tensor_view *qk_llama_layer_linear(qk_llama_layer_weights *lw, qk_llama_linear which);

/* ------------------------------------------------------------------------
** Layer by layer (calibrated quantization processes a model one decoder
** layer at a time, so memory stays bounded by one layer and its inputs).
*/
/* Run decoder layer `layer` with weights `lw` on hidden states x
** [n_seq * seq_len, n_embd], in place: n_seq independent sequences of
** seq_len tokens at positions 0 .. seq_len-1. `hook` (may be NULL) sees
** each linear input, per sequence, with `layer` as its layer index. */
qk_status qk_llama_layer_forward(const qk_llama_hparams *hp, int32_t layer,
                                 const qk_llama_layer_weights *lw, float *x, int32_t n_seq,
                                 int32_t seq_len, qk_linear_hook hook, void *user);
/* One block of decoder layer `layer` on its normalised input xn
** [n_seq * seq_len, n_embd] (the output of the block's RMSNorm), n_seq
** independent sequences at positions 0 .. seq_len-1; out [n_seq * seq_len,
** n_embd] receives the block's output before the residual add.
** QK_LLAMA_BLOCK_ATTN: q/k/v (+ biases), rotary, causal attention, o.
** QK_LLAMA_BLOCK_MLP: down(silu(gate) * up). (AWQ measures these.) */
typedef enum qk_llama_block { QK_LLAMA_BLOCK_ATTN = 0, QK_LLAMA_BLOCK_MLP = 1 } qk_llama_block;
qk_status qk_llama_block_forward(const qk_llama_hparams *hp, int32_t layer,
                                 const qk_llama_layer_weights *lw, qk_llama_block block,
                                 const float *xn, float *out, int32_t n_seq, int32_t seq_len);
/* Token embeddings of `n` tokens into x [n, n_embd]. */
qk_status qk_llama_embed(const qk_llama_model *model, const int32_t *tokens, int64_t n, float *x);

/* ------------------------------------------------------------------------
** Perplexity, computed as llama.cpp's llama-perplexity does: the token
** stream is cut into non-overlapping chunks of n_ctx tokens, the first token
** of each chunk is replaced by BOS (when bos >= 0), and only the second half
** of each chunk is scored: positions n_ctx/2 .. n_ctx-2 predict the next
** token. ppl = exp(mean nll); stderr as llama.cpp (sqrt of the variance of
** the nll over count-1, times ppl).
*/
typedef struct qk_ppl_result {
    double ppl;
    double ppl_stderr;
    double nll_mean;
    int64_t n_scored; /* tokens scored */
    int32_t n_chunks;
    /* with a reference model */
    bool has_ref;
    double kl_mean; /* mean KL(ref || model) over scored positions */
    double kl_stderr;
    double top1_agree; /* fraction of positions where argmax agrees */
    double ref_ppl;
    double seconds;
    double tokens_per_second; /* tokens evaluated (all positions) per second */
} qk_ppl_result;

/* Progress: called after each chunk with the running estimate. */
typedef void (*qk_ppl_progress)(void *user, int32_t chunk, int32_t n_chunks,
                                const qk_ppl_result *running);

/* n_chunks <= 0 means every whole chunk. ref: NULL, or a context of a
** reference model with the same vocabulary (for KL and top-1 agreement). */
qk_status qk_perplexity(qk_llama_context *ctx, qk_llama_context *ref, const int32_t *tokens,
                        int64_t n_tokens, int32_t n_ctx, int32_t n_chunks, int32_t bos,
                        qk_ppl_progress progress, void *progress_user, qk_ppl_result *out);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_MODEL_H */
