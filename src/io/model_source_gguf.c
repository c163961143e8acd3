/*
** Model source from a GGUF file (llama.cpp's keys and names, used as they
** are) or a llama2.c checkpoint (names mapped the way
** llama-convert-llama2c-to-ggml maps them, data not permuted).
*/
#include <stdio.h>  /* snprintf */
#include <string.h> /* strcmp */

#include "core/error.h"
#include "io/model_source.h"

/* Integer key "<arch>.<suffix>"; `fallback` when absent (< 0: required). */
static qk_status arch_int(const qk_model_source *s, const char *suffix, int64_t fallback,
                          int32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", s->hp.arch, suffix);
    int64_t v;
    qk_status st = qk_gguf_reader_get_int(s->gguf, key, &v);
    if (st == QK_ERR_NOT_FOUND && fallback >= 0) {
        v = fallback;
    } else if (st == QK_ERR_NOT_FOUND) {
        return qk_error_set(QK_ERR_CONFIG, "%s: missing key '%s'", s->path, key);
    } else if (st != QK_OK) {
        return st;
    }
    if (v < 0 || v > INT32_MAX)
        return qk_error_set(QK_ERR_CONFIG, "%s: key '%s' = %lld is out of range", s->path, key,
                            (long long)v);
    *out = (int32_t)v;
    return QK_OK;
}

static qk_status arch_f32(const qk_model_source *s, const char *suffix, float fallback,
                          float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", s->hp.arch, suffix);
    qk_status st = qk_gguf_reader_get_f32(s->gguf, key, out);
    if (st == QK_ERR_NOT_FOUND) {
        *out = fallback;
        return QK_OK;
    }
    return st;
}

qk_status qk_ms_open_gguf(qk_model_source *s, const char *path) {
    qk_status st = qk_gguf_reader_open(path, &s->gguf);
    if (st != QK_OK) return st;
    const char *arch = NULL;
    st = qk_gguf_reader_get_str(s->gguf, "general.architecture", &arch);
    if (st != QK_OK) return st;
    if (strcmp(arch, "llama") != 0 && strcmp(arch, "qwen2") != 0)
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: architecture '%s' is not supported; llama and qwen2 are", path,
                            arch);
    qk_model_hparams *h = &s->hp;
    snprintf(h->arch, sizeof h->arch, "%s", arch);
    int64_t n_tensors = qk_gguf_reader_tensor_count(s->gguf);
    for (int64_t i = 0; i < n_tensors && st == QK_OK; i++) {
        qk_io_tensor t;
        st = qk_gguf_reader_tensor_info(s->gguf, i, &t);
        if (st == QK_OK) st = qk_ms_add(s, t.name, &t, 0);
    }
    if (st == QK_OK) st = arch_int(s, "embedding_length", -1, &h->n_embd);
    if (st == QK_OK) st = arch_int(s, "feed_forward_length", -1, &h->n_ff);
    if (st == QK_OK) st = arch_int(s, "block_count", -1, &h->n_layer);
    if (st == QK_OK) st = arch_int(s, "attention.head_count", -1, &h->n_head);
    if (st == QK_OK) st = arch_int(s, "attention.head_count_kv", h->n_head, &h->n_head_kv);
    if (st == QK_OK) st = arch_int(s, "context_length", 0, &h->n_ctx_train);
    if (st == QK_OK && h->n_head > 0)
        st = arch_int(s, "attention.key_length", h->n_embd / h->n_head, &h->head_dim);
    if (st == QK_OK) st = arch_f32(s, "attention.layer_norm_rms_epsilon", 1e-5f, &h->rms_eps);
    if (st == QK_OK) st = arch_f32(s, "rope.freq_base", 10000.0f, &h->rope_theta);
    if (st != QK_OK) return st;

    /* vocabulary: the key, else the token list, else the embedding rows */
    int64_t emb = qk_gguf_reader_find_tensor(s->gguf, "token_embd.weight");
    int64_t fallback = 0;
    uint64_t n_tokens = 0;
    if (qk_gguf_reader_get_arr(s->gguf, "tokenizer.ggml.tokens", QK_GGUF_STRING, NULL, &n_tokens) ==
        QK_OK)
        fallback = (int64_t)n_tokens;
    else if (emb >= 0) {
        qk_io_tensor t;
        qk_gguf_reader_tensor_info(s->gguf, emb, &t);
        fallback = t.ndim == 2 ? t.shape[0] : 0;
    }
    st = arch_int(s, "vocab_size", fallback > INT32_MAX ? 0 : fallback, &h->n_vocab);
    if (st != QK_OK) return st;

    h->tied_output = qk_gguf_reader_find_tensor(s->gguf, "output.weight") < 0;
    h->attn_bias = qk_gguf_reader_find_tensor(s->gguf, "blk.0.attn_q.bias") >= 0;
    int64_t id;
    h->bos_id = qk_gguf_reader_get_int(s->gguf, "tokenizer.ggml.bos_token_id", &id) == QK_OK &&
                        id >= 0 && id <= INT32_MAX
                    ? (int32_t)id
                    : -1;
    h->eos_id = qk_gguf_reader_get_int(s->gguf, "tokenizer.ggml.eos_token_id", &id) == QK_OK &&
                        id >= 0 && id <= INT32_MAX
                    ? (int32_t)id
                    : -1;
    char key[128];
    const char *type = NULL;
    snprintf(key, sizeof key, "%s.rope.scaling.type", h->arch);
    if (qk_gguf_reader_get_str(s->gguf, key, &type) == QK_OK) {
        h->rope_scaling.present = true;
        snprintf(h->rope_scaling.type, sizeof h->rope_scaling.type, "%s", type);
        float factor = 0.0f;
        snprintf(key, sizeof key, "%s.rope.scaling.factor", h->arch);
        if (qk_gguf_reader_get_f32(s->gguf, key, &factor) == QK_OK) h->rope_scaling.factor = factor;
    }
    qk_clear_error();
    return QK_OK;
}

/* llama2.c name -> llama.cpp name, by kind. */
static const char *const L2C_LAYER[QK_MS_LAYER_KINDS] = {
    [QK_MS_ATTN_NORM] = "layers.%d.attention_norm.weight",
    [QK_MS_ATTN_Q] = "layers.%d.attention.wq.weight",
    [QK_MS_ATTN_K] = "layers.%d.attention.wk.weight",
    [QK_MS_ATTN_V] = "layers.%d.attention.wv.weight",
    [QK_MS_ATTN_OUTPUT] = "layers.%d.attention.wo.weight",
    [QK_MS_FFN_NORM] = "layers.%d.ffn_norm.weight",
    [QK_MS_FFN_GATE] = "layers.%d.feed_forward.w1.weight",
    [QK_MS_FFN_DOWN] = "layers.%d.feed_forward.w2.weight",
    [QK_MS_FFN_UP] = "layers.%d.feed_forward.w3.weight",
};

static qk_status map_l2c(qk_model_source *s, const char *name, const char *file_name) {
    int64_t i = qk_llama2c_find_tensor(s->l2c, file_name);
    if (i < 0) return qk_error_set(QK_ERR_NOT_FOUND, "%s: no tensor '%s'", s->path, file_name);
    qk_io_tensor t;
    qk_status st = qk_llama2c_tensor_info(s->l2c, (size_t)i, &t);
    return st == QK_OK ? qk_ms_add(s, name, &t, 0) : st;
}

qk_status qk_ms_open_llama2c(qk_model_source *s, const char *path) {
    qk_status st = qk_llama2c_open(path, &s->l2c);
    if (st != QK_OK) return st;
    const qk_llama2c_config *c = qk_llama2c_get_config(s->l2c);
    qk_model_hparams *h = &s->hp;
    snprintf(h->arch, sizeof h->arch, "llama");
    h->n_vocab = c->vocab_size;
    h->n_embd = c->dim;
    h->n_ff = c->hidden_dim;
    h->n_layer = c->n_layers;
    h->n_head = c->n_heads;
    h->n_head_kv = c->n_kv_heads;
    h->head_dim = c->dim / c->n_heads;
    h->n_ctx_train = c->seq_len;
    h->rms_eps = 1e-5f;       /* run.c's rmsnorm */
    h->rope_theta = 10000.0f; /* run.c's RoPE */
    h->tied_output = c->shared_classifier;
    h->bos_id = 1; /* llama2.c's tokenizer: 1 = BOS, 2 = EOS */
    h->eos_id = 2;
    st = map_l2c(s, "token_embd.weight", "tok_embeddings.weight");
    for (int32_t l = 0; l < h->n_layer && st == QK_OK; l++) {
        for (int k = 0; k < QK_MS_LAYER_KINDS && st == QK_OK; k++) {
            if (!L2C_LAYER[k]) continue; /* no biases */
            char name[QK_MS_NAME_CAP], file_name[64];
            qk_ms_layer_name(k, l, name);
            snprintf(file_name, sizeof file_name, L2C_LAYER[k], (int)l);
            st = map_l2c(s, name, file_name);
        }
    }
    if (st == QK_OK) st = map_l2c(s, "output_norm.weight", "norm.weight");
    if (st == QK_OK && !h->tied_output) st = map_l2c(s, "output.weight", "output.weight");
    return st;
}
