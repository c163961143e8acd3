/*
** The Llama forward pass: RMSNorm, rotary embeddings (llama.cpp's "normal"
** mode: adjacent pairs rotate together), grouped-query causal attention
** with a KV cache, SwiGLU MLP, tied or separate output; optional q/k/v
** biases (Qwen2). Activations are f32; weights in any storage type go
** through qk_matmul. A batch of tokens is processed at once, so every
** linear layer is one matrix-matrix product.
*/
#include <cblas.h> /* cblas_sgemm */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/llama_internal.h"
#include "quantkit/kernels.h"

/* Element-wise loops smaller than this run on one thread: forking a team
** costs more than the work, and on a busy machine every barrier may wait
** for a descheduled thread. */
#define QK_PARALLEL_MIN ((size_t)1 << 20)

/* ---- context ------------------------------------------------------------ */

static float *alloc_floats(size_t a, size_t b, bool *ok) {
    size_t n;
    if (!qk_mul_size(a, b, &n) || !qk_mul_size(n, sizeof(float), &n)) {
        *ok = false;
        return NULL;
    }
    float *p = qk_aligned_alloc(64, n);
    if (!p) *ok = false;
    return p;
}

void qk_llama_context_free(qk_llama_context *c) {
    if (!c) return;
    float *bufs[] = {c->k_cache, c->v_cache, c->x,  c->xn,       c->q,       c->attn,
                     c->proj,    c->gate,    c->up, c->rope_cos, c->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) qk_aligned_free(bufs[i]);
    free(c);
}

/* cos/sin of pos * theta^(-2i/head_dim) for every position and pair, in
** double precision then rounded once to f32. */
static void fill_rope_tables(qk_llama_context *c) {
    const qk_llama_hparams *hp = &c->model->hp;
    const int32_t half = hp->head_dim / 2;
    for (int32_t i = 0; i < half; i++) {
        const double inv_freq = pow((double)hp->rope_theta, -2.0 * i / hp->head_dim);
        for (int32_t p = 0; p < c->n_ctx; p++) {
            const double angle = (double)p * inv_freq;
            c->rope_cos[(size_t)p * half + i] = (float)cos(angle);
            c->rope_sin[(size_t)p * half + i] = (float)sin(angle);
        }
    }
}

/* A context for `model` (only its hyper-parameters are read here) with a KV
** cache of `n_cache_layers` layers. */
static qk_status context_alloc(const qk_llama_model *model, int32_t n_ctx, int32_t n_cache_layers,
                               qk_llama_context **out) {
    if (n_ctx <= 0 || n_ctx > (1 << 20))
        return qk_error_set(QK_ERR_INVALID_ARG, "context create: n_ctx %d out of range", n_ctx);
    const qk_llama_hparams *hp = &model->hp;
    qk_llama_context *c = calloc(1, sizeof *c);
    if (!c) return qk_error_set(QK_ERR_NOMEM, "context create: no memory");
    c->model = model;
    c->n_ctx = n_ctx;
    const size_t T = (size_t)n_ctx;
    const size_t KD = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t QD = (size_t)hp->n_head * hp->head_dim;
    const size_t E = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
    bool ok = true;
    c->k_cache = alloc_floats((size_t)n_cache_layers * T, KD, &ok);
    c->v_cache = alloc_floats((size_t)n_cache_layers * T, KD, &ok);
    c->x = alloc_floats(T, E, &ok);
    c->xn = alloc_floats(T, E > QD ? E : QD, &ok);
    c->q = alloc_floats(T, QD, &ok);
    c->attn = alloc_floats(T, QD, &ok);
    c->proj = alloc_floats(T, E, &ok);
    c->gate = alloc_floats(T, F, &ok);
    c->up = alloc_floats(T, F, &ok);
    c->rope_cos = alloc_floats(T, (size_t)hp->head_dim / 2, &ok);
    c->rope_sin = alloc_floats(T, (size_t)hp->head_dim / 2, &ok);
    if (!ok) {
        qk_llama_context_free(c);
        return qk_error_set(QK_ERR_NOMEM, "context create: no memory for %d positions", n_ctx);
    }
    fill_rope_tables(c);
    *out = c;
    return QK_OK;
}

qk_status qk_llama_context_create(const qk_llama_model *model, int32_t n_ctx,
                                  qk_llama_context **out) {
    if (!out || !model) return qk_error_set(QK_ERR_INVALID_ARG, "context create: NULL argument");
    *out = NULL;
    if (!model->finished)
        return qk_error_set(QK_ERR_STATE, "context create: model not finished (missing tensors)");
    return context_alloc(model, n_ctx, model->hp.n_layer, out);
}

void qk_llama_context_reset(qk_llama_context *c) {
    c->n_past = 0;
}
int32_t qk_llama_context_n_past(const qk_llama_context *c) {
    return c->n_past;
}

void qk_llama_context_set_hook(qk_llama_context *c, qk_linear_hook hook, void *user) {
    c->hook = hook;
    c->hook_user = user;
}

/* ---- building blocks ---------------------------------------------------- */

/* y = x / sqrt(mean(x^2) + eps) * w, per row; the sum of squares in double. */
static void rms_norm(const float *x, const float *w, float *y, int32_t n_rows, int32_t n,
                     float eps) {
#pragma omp parallel for schedule(static) if ((size_t)n_rows * n > QK_PARALLEL_MIN)
    for (int32_t r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        double sum = 0.0;
        for (int32_t i = 0; i < n; i++) sum += (double)xr[i] * xr[i];
        const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
        for (int32_t i = 0; i < n; i++) yr[i] = xr[i] * scale * w[i];
    }
}

/* Rotate the pairs of every head of every row by the angle of that row's
** position: adjacent pairs (x[2i], x[2i+1]) in llama.cpp's normal mode,
** (x[i], x[i + head_dim/2]) in its NEOX mode. */
static void apply_rope(const qk_llama_context *c, float *x, int32_t n_rows, int32_t n_heads,
                       size_t row_stride, int32_t pos0) {
    const int32_t hd = c->model->hp.head_dim, half = hd / 2;
    const bool neox = c->model->hp.rope_neox;
    const int32_t lo_step = neox ? 1 : 2, hi_offset = neox ? half : 1;
#pragma omp parallel for schedule(static) if ((size_t)n_rows * row_stride > QK_PARALLEL_MIN)
    for (int32_t r = 0; r < n_rows; r++) {
        const float *cs = c->rope_cos + (size_t)(pos0 + r) * half;
        const float *sn = c->rope_sin + (size_t)(pos0 + r) * half;
        for (int32_t h = 0; h < n_heads; h++) {
            float *v = x + (size_t)r * row_stride + (size_t)h * hd;
            for (int32_t i = 0; i < half; i++) {
                float *a = v + i * lo_step, *b = a + hi_offset;
                const float x0 = *a, x1 = *b;
                *a = x0 * cs[i] - x1 * sn[i];
                *b = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

static void add_bias(float *y, const float *b, int32_t n_rows, size_t n) {
    for (int32_t r = 0; r < n_rows; r++)
        for (size_t i = 0; i < n; i++) y[(size_t)r * n + i] += b[i];
}

/* Causal softmax of row t of the scores: positions past n_past + t are
** masked. The row has n_keys columns. */
static void causal_softmax(float *scores, int32_t n_rows, int32_t n_keys, int32_t n_past) {
    for (int32_t t = 0; t < n_rows; t++) {
        float *s = scores + (size_t)t * n_keys;
        const int32_t visible = n_past + t + 1;
        float max = s[0];
        for (int32_t j = 1; j < visible; j++) max = s[j] > max ? s[j] : max;
        double sum = 0.0;
        for (int32_t j = 0; j < visible; j++) {
            s[j] = expf(s[j] - max);
            sum += s[j];
        }
        const float inv = (float)(1.0 / sum);
        for (int32_t j = 0; j < visible; j++) s[j] *= inv;
        for (int32_t j = visible; j < n_keys; j++) s[j] = 0.0f;
    }
}

/* Multi-head attention of n_rows new queries against the n_past + n_rows
** cached keys/values of one layer; heads in parallel, each with its own
** scores buffer and single-threaded BLAS calls. */
static qk_status attention(qk_llama_context *c, const float *k_layer, const float *v_layer,
                           int32_t n_rows) {
    const qk_llama_hparams *hp = &c->model->hp;
    const int32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    const int QD = hp->n_head * hd, KD = hp->n_head_kv * hd;
    const int32_t n_keys = c->n_past + n_rows;
    const float scale = 1.0f / sqrtf((float)hd);
    bool failed = false;
    qk_blas_single_thread();
#pragma omp parallel
    {
        float *scores = malloc((size_t)n_rows * n_keys * sizeof *scores);
        if (!scores) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for schedule(static)
        for (int32_t h = 0; h < hp->n_head; h++) {
            if (!scores) continue;
            const int32_t g = h / group;
            /* scores = scale * Q_h K_g^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_rows, n_keys, hd, scale,
                        c->q + (size_t)h * hd, QD, k_layer + (size_t)g * hd, KD, 0.0f, scores,
                        n_keys);
            causal_softmax(scores, n_rows, n_keys, c->n_past);
            /* out_h = P V_g */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_rows, hd, n_keys, 1.0f, scores,
                        n_keys, v_layer + (size_t)g * hd, KD, 0.0f, c->attn + (size_t)h * hd, QD);
        }
        free(scores);
    }
    if (failed)
        return qk_error_set(QK_ERR_NOMEM, "attention: no memory for %d x %d scores", n_rows,
                            n_keys);
    return QK_OK;
}

static void call_hook(qk_llama_context *c, int32_t layer, qk_llama_linear which, const float *x,
                      int64_t rows, int64_t cols) {
    if (c->hook) c->hook(c->hook_user, layer, which, x, rows, cols);
}

/* y = x W^T: the linear's installed kernel when it has one (LLM.int8, W8A8
** ...), else qk_matmul on the weight as stored. */
static qk_status linear(qk_llama_context *c, int32_t layer, qk_llama_linear which,
                        const qk_tensor_view *w, const float *x, int32_t n_rows, float *y) {
    const qk_linear_kernel *k = qk_llama_model_kernel(c->model, layer, which);
    qk_status st;
    if (k) {
        qk_clear_error(); /* a kernel outside the library may fail without a message */
        st = k->matmul(k->state, x, n_rows, y);
    } else {
        st = qk_matmul(w, x, n_rows, y);
    }
    if (st != QK_OK) {
        char name[64];
        qk_llama_linear_name(layer, which, name, sizeof name);
        if (qk_last_status() == QK_OK)
            return qk_error_set(st, "%s: linear kernel failed (%s)", name, qk_status_str(st));
        return qk_error_prefix("%s", name);
    }
    return QK_OK;
}

/* ---- one decoder layer -------------------------------------------------- */

/* The attention block of layer `l` (KV cache slot `slot`) on the T
** normalised rows of c->xn: q/k/v, rotary, causal attention, o; the
** result (before the residual add) in c->proj. */
static qk_status attention_block(qk_llama_context *c, int32_t l, const qk_llama_layer_weights *lw,
                                 int32_t slot, int32_t T) {
    const qk_llama_hparams *hp = &c->model->hp;
    const int32_t E = hp->n_embd, hd = hp->head_dim;
    const size_t QD = (size_t)hp->n_head * hd, KD = (size_t)hp->n_head_kv * hd;
    float *k_layer = c->k_cache + (size_t)slot * c->n_ctx * KD;
    float *v_layer = c->v_cache + (size_t)slot * c->n_ctx * KD;
    float *k_new = k_layer + (size_t)c->n_past * KD;
    float *v_new = v_layer + (size_t)c->n_past * KD;
    qk_status st;

    call_hook(c, l, QK_LINEAR_Q, c->xn, T, E);
    call_hook(c, l, QK_LINEAR_K, c->xn, T, E);
    call_hook(c, l, QK_LINEAR_V, c->xn, T, E);
    if ((st = linear(c, l, QK_LINEAR_Q, &lw->wq, c->xn, T, c->q)) != QK_OK) return st;
    if ((st = linear(c, l, QK_LINEAR_K, &lw->wk, c->xn, T, k_new)) != QK_OK) return st;
    if ((st = linear(c, l, QK_LINEAR_V, &lw->wv, c->xn, T, v_new)) != QK_OK) return st;
    if (lw->bq.data) add_bias(c->q, lw->bq.data, T, QD);
    if (lw->bk.data) add_bias(k_new, lw->bk.data, T, KD);
    if (lw->bv.data) add_bias(v_new, lw->bv.data, T, KD);
    apply_rope(c, c->q, T, hp->n_head, QD, c->n_past);
    apply_rope(c, k_new, T, hp->n_head_kv, KD, c->n_past);
    if ((st = attention(c, k_layer, v_layer, T)) != QK_OK) return st;

    call_hook(c, l, QK_LINEAR_O, c->attn, T, (int64_t)QD);
    return linear(c, l, QK_LINEAR_O, &lw->wo, c->attn, T, c->proj);
}

/* The MLP block of layer `l` on the T normalised rows of c->xn:
** down(silu(gate) * up) into c->proj. */
static qk_status mlp_block(qk_llama_context *c, int32_t l, const qk_llama_layer_weights *lw,
                           int32_t T) {
    const qk_llama_hparams *hp = &c->model->hp;
    const int32_t E = hp->n_embd, F = hp->n_ff;
    qk_status st;
    call_hook(c, l, QK_LINEAR_GATE, c->xn, T, E);
    call_hook(c, l, QK_LINEAR_UP, c->xn, T, E);
    if ((st = linear(c, l, QK_LINEAR_GATE, &lw->w_gate, c->xn, T, c->gate)) != QK_OK) return st;
    if ((st = linear(c, l, QK_LINEAR_UP, &lw->w_up, c->xn, T, c->up)) != QK_OK) return st;
    const size_t nf = (size_t)T * F;
#pragma omp parallel for schedule(static) if (nf > QK_PARALLEL_MIN)
    for (size_t i = 0; i < nf; i++) {
        const float g = c->gate[i];
        c->gate[i] = g / (1.0f + expf(-g)) * c->up[i]; /* silu(gate) * up */
    }
    call_hook(c, l, QK_LINEAR_DOWN, c->gate, T, F);
    return linear(c, l, QK_LINEAR_DOWN, &lw->w_down, c->gate, T, c->proj);
}

static void add_residual(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n > QK_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* Layer `l` (its weights `lw`, its KV cache in slot `slot`) on the T rows
** of c->x, in place. */
static qk_status decoder_layer(qk_llama_context *c, int32_t l, const qk_llama_layer_weights *lw,
                               int32_t slot, int32_t T) {
    const qk_llama_hparams *hp = &c->model->hp;
    const int32_t E = hp->n_embd;
    const size_t n = (size_t)T * E;
    qk_status st;
    rms_norm(c->x, lw->attn_norm.data, c->xn, T, E, hp->rms_eps);
    if ((st = attention_block(c, l, lw, slot, T)) != QK_OK) return st;
    add_residual(c->x, c->proj, n);
    rms_norm(c->x, lw->ffn_norm.data, c->xn, T, E, hp->rms_eps);
    if ((st = mlp_block(c, l, lw, T)) != QK_OK) return st;
    add_residual(c->x, c->proj, n);
    return QK_OK;
}

/* ---- decode ------------------------------------------------------------- */

qk_status qk_llama_decode(qk_llama_context *c, const int32_t *tokens, int32_t T, float *logits,
                          bool all_logits) {
    if (!c || (!tokens && T > 0)) return qk_error_set(QK_ERR_INVALID_ARG, "decode: NULL argument");
    if (T <= 0) return qk_error_set(QK_ERR_INVALID_ARG, "decode: %d tokens", T);
    if (T > c->n_ctx - c->n_past)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "decode: %d tokens after %d cached positions exceed the context of %d",
                            T, c->n_past, c->n_ctx);
    const qk_llama_model *m = c->model;
    const qk_llama_hparams *hp = &m->hp;
    const int32_t E = hp->n_embd;
    for (int32_t t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= hp->n_vocab)
            return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                                "decode: token %d at index %d is outside "
                                "the vocabulary of %d",
                                tokens[t], t, hp->n_vocab);
    qk_status st = QK_OK;
#pragma omp parallel for schedule(static)
    for (int32_t t = 0; t < T; t++) {
        qk_status s = qk_weight_row_f32(&m->token_embd, tokens[t], c->x + (size_t)t * E);
        if (s != QK_OK) {
#pragma omp critical(qk_decode_status)
            st = s;
        }
    }
    if (st != QK_OK) return qk_error_prefix("token_embd.weight");
    for (int32_t l = 0; l < hp->n_layer; l++)
        if ((st = decoder_layer(c, l, &m->layers[l], l, T)) != QK_OK) return st;

    rms_norm(c->x, m->output_norm.data, c->xn, T, E, hp->rms_eps);
    if (logits) {
        const qk_tensor_view *out = qk_llama_model_output(m);
        const float *rows = all_logits ? c->xn : c->xn + (size_t)(T - 1) * E;
        const int32_t n_rows = all_logits ? T : 1;
        call_hook(c, -1, QK_LINEAR_OUTPUT, rows, n_rows, E);
        if ((st = linear(c, -1, QK_LINEAR_OUTPUT, out, rows, n_rows, logits)) != QK_OK) return st;
    }
    c->n_past += T;
    return QK_OK;
}

/* ---- one layer on its own ---------------------------------------------- */

/* A context for layer-level work outside a model: a model shell whose
** hyper-parameters are all the context reads, one KV cache slot. */
static qk_status shell_context(const qk_llama_hparams *hp, int32_t seq_len, qk_llama_model *shell,
                               qk_llama_context **out) {
    qk_status st = qk_llama_hparams_validate(hp);
    if (st != QK_OK) return st;
    memset(shell, 0, sizeof *shell);
    shell->hp = *hp;
    shell->finished = true;
    return context_alloc(shell, seq_len, 1, out);
}

qk_status qk_llama_layer_forward(const qk_llama_hparams *hp, int32_t layer,
                                 const qk_llama_layer_weights *lw, float *x, int32_t n_seq,
                                 int32_t seq_len, qk_linear_hook hook, void *user) {
    if (!hp || !lw || (!x && n_seq > 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "layer forward: NULL argument");
    if (n_seq < 0 || seq_len <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "layer forward: %d sequences of %d tokens", n_seq,
                            seq_len);
    qk_llama_model shell;
    qk_llama_context *c;
    qk_status st = shell_context(hp, seq_len, &shell, &c);
    if (st != QK_OK) return st;
    c->hook = hook;
    c->hook_user = user;
    const size_t row = (size_t)seq_len * (size_t)hp->n_embd;
    for (int32_t s = 0; s < n_seq && st == QK_OK; s++) {
        memcpy(c->x, x + (size_t)s * row, row * sizeof(float));
        c->n_past = 0;
        st = decoder_layer(c, layer, lw, 0, seq_len);
        if (st == QK_OK) memcpy(x + (size_t)s * row, c->x, row * sizeof(float));
    }
    qk_llama_context_free(c);
    return st;
}

qk_status qk_llama_block_forward(const qk_llama_hparams *hp, int32_t layer,
                                 const qk_llama_layer_weights *lw, qk_llama_block block,
                                 const float *xn, float *out, int32_t n_seq, int32_t seq_len) {
    if (!hp || !lw || ((!xn || !out) && n_seq > 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "block forward: NULL argument");
    if (n_seq < 0 || seq_len <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "block forward: %d sequences of %d tokens", n_seq,
                            seq_len);
    if (block != QK_LLAMA_BLOCK_ATTN && block != QK_LLAMA_BLOCK_MLP)
        return qk_error_set(QK_ERR_INVALID_ARG, "block forward: unknown block %d", (int)block);
    qk_llama_model shell;
    qk_llama_context *c;
    qk_status st = shell_context(hp, seq_len, &shell, &c);
    if (st != QK_OK) return st;
    const size_t row = (size_t)seq_len * (size_t)hp->n_embd;
    for (int32_t s = 0; s < n_seq && st == QK_OK; s++) {
        memcpy(c->xn, xn + (size_t)s * row, row * sizeof(float));
        c->n_past = 0;
        st = block == QK_LLAMA_BLOCK_ATTN ? attention_block(c, layer, lw, 0, seq_len)
                                          : mlp_block(c, layer, lw, seq_len);
        if (st == QK_OK) memcpy(out + (size_t)s * row, c->proj, row * sizeof(float));
    }
    qk_llama_context_free(c);
    return st;
}

qk_status qk_llama_embed(const qk_llama_model *m, const int32_t *tokens, int64_t n, float *x) {
    if (!m || (!tokens && n > 0) || (!x && n > 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "embed: NULL argument");
    const int32_t E = m->hp.n_embd;
    for (int64_t t = 0; t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= m->hp.n_vocab)
            return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                                "embed: token %d at index %lld is outside "
                                "the vocabulary of %d",
                                tokens[t], (long long)t, m->hp.n_vocab);
        qk_status st = qk_weight_row_f32(&m->token_embd, tokens[t], x + (size_t)t * E);
        if (st != QK_OK) return qk_error_prefix("token_embd.weight");
    }
    return QK_OK;
}
