/*
** Internal: the model and context structures shared by llama.c,
** llama_forward.c and perplexity.c.
*/
#ifndef QK_MODEL_LLAMA_INTERNAL_H
#define QK_MODEL_LLAMA_INTERNAL_H

#include "quantkit/model.h"

struct qk_llama_model {
    qk_llama_hparams hp;
    qk_tensor_view token_embd;  /* [n_vocab, n_embd], any type */
    qk_tensor_view output_norm; /* [n_embd] f32 */
    qk_tensor_view output;      /* [n_vocab, n_embd], data NULL when tied */
    qk_llama_layer_weights *layers;
    bool finished;
    /* optional per-linear kernels (qk_llama_model_set_linear_kernel):
    ** NULL until one is set, then [n_layer * QK_LINEAR_OUTPUT + 1], the
    ** output projection last; an entry with matmul NULL is unset */
    qk_linear_kernel *kernels;
};

struct qk_llama_context {
    const qk_llama_model *model;
    int32_t n_ctx;
    int32_t n_past;
    float *k_cache; /* [n_layer][n_ctx][n_head_kv * head_dim] */
    float *v_cache; /* same */
    /* scratch, sized for n_ctx tokens */
    float *x;        /* [n_ctx, n_embd] residual stream */
    float *xn;       /* [n_ctx, n_embd] normalised input of a block */
    float *q;        /* [n_ctx, n_head * head_dim] */
    float *attn;     /* [n_ctx, n_head * head_dim] attention output */
    float *proj;     /* [n_ctx, max(n_embd, ...)] output of wo / w_down */
    float *gate;     /* [n_ctx, n_ff] */
    float *up;       /* [n_ctx, n_ff] */
    float *rope_cos; /* [n_ctx, head_dim / 2] */
    float *rope_sin;
    qk_linear_hook hook;
    void *hook_user;
};

/* As qk_llama_model_set_tensor, but the model takes ownership of t->data
** (a malloc'ed buffer; norms and biases must already be f32). On error the
** caller still owns it. */
qk_status qk_llama_model_adopt_tensor(qk_llama_model *model, const char *name,
                                      const qk_tensor_view *t);

/* The kernel installed for a linear, or NULL (use qk_matmul). */
const qk_linear_kernel *qk_llama_model_kernel(const qk_llama_model *model, int32_t layer,
                                              qk_llama_linear which);

/* The linear weight `which` of a layer (NULL for QK_LINEAR_OUTPUT). */

#endif
