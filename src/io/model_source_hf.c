/*
** Model source from a Hugging Face folder: config.json + safetensors.
** Names follow transformers' LlamaForCausalLM / MistralForCausalLM /
** Qwen2ForCausalLM state dicts; llama.cpp's names are those
** convert_hf_to_gguf.py gives them.
*/
#include <stdio.h>  /* snprintf */
#include <string.h> /* strcmp */

#include "core/error.h"
#include "io/ckpt.h"
#include "io/model_source.h"

/* HF name of a per-layer kind (printf format with the layer). */
static const char *const HF_LAYER[QK_MS_LAYER_KINDS] = {
    [QK_MS_ATTN_NORM] = "model.layers.%d.input_layernorm.weight",
    [QK_MS_ATTN_Q] = "model.layers.%d.self_attn.q_proj.weight",
    [QK_MS_ATTN_K] = "model.layers.%d.self_attn.k_proj.weight",
    [QK_MS_ATTN_V] = "model.layers.%d.self_attn.v_proj.weight",
    [QK_MS_ATTN_OUTPUT] = "model.layers.%d.self_attn.o_proj.weight",
    [QK_MS_ATTN_Q_BIAS] = "model.layers.%d.self_attn.q_proj.bias",
    [QK_MS_ATTN_K_BIAS] = "model.layers.%d.self_attn.k_proj.bias",
    [QK_MS_ATTN_V_BIAS] = "model.layers.%d.self_attn.v_proj.bias",
    [QK_MS_FFN_NORM] = "model.layers.%d.post_attention_layernorm.weight",
    [QK_MS_FFN_GATE] = "model.layers.%d.mlp.gate_proj.weight",
    [QK_MS_FFN_DOWN] = "model.layers.%d.mlp.down_proj.weight",
    [QK_MS_FFN_UP] = "model.layers.%d.mlp.up_proj.weight",
};

void qk_ms_hf_layer_name(int kind, int32_t layer, char *buf, size_t cap) {
    snprintf(buf, cap, HF_LAYER[kind], (int)layer);
}

/* Add the llama.cpp tensor `name` backed by HF tensor `hf`. */
static qk_status map(qk_model_source *s, const char *name, const char *hf, int32_t permute) {
    int64_t i = qk_safetensors_set_find_tensor(s->st, hf);
    if (i < 0) {
        /* packed tensors without a quantization_config to read them by */
        char packed[128];
        const size_t n = strlen(hf);
        const bool weight = n > 7 && strcmp(hf + n - 7, ".weight") == 0;
        snprintf(packed, sizeof packed, "%.*s.qweight", (int)(n - 7), hf);
        if (!weight || qk_safetensors_set_find_tensor(s->st, packed) < 0)
            snprintf(packed, sizeof packed, "%.*s.weight_packed", (int)(n - 7), hf);
        if (weight && qk_safetensors_set_find_tensor(s->st, packed) >= 0)
            return qk_error_set(QK_ERR_NOT_FOUND,
                                "%s: no tensor '%s' (needed for %s), but '%s': a quantized "
                                "checkpoint without a quantization_config in config.json",
                                s->path, hf, name, packed);
        return qk_error_set(QK_ERR_NOT_FOUND, "%s: no tensor '%s' (needed for %s)", s->path, hf,
                            name);
    }
    qk_io_tensor t;
    qk_status st = qk_safetensors_set_tensor_info(s->st, (size_t)i, &t);
    if (st == QK_OK) st = qk_ms_add(s, name, &t, permute);
    return st;
}

static bool fits_i32(int64_t v) {
    return v > 0 && v <= INT32_MAX;
}

qk_status qk_ms_open_hf(qk_model_source *s, const char *folder,
                        const qk_model_source_options *options) {
    qk_hf_config c;
    qk_status st = qk_hf_config_read(folder, &c);
    if (st != QK_OK) return st;
    bool permute = false;
    const char *arch = NULL;
    switch (c.arch) {
    case QK_HF_ARCH_LLAMA:
    case QK_HF_ARCH_MISTRAL:
        arch = "llama"; /* llama.cpp converts Mistral to its llama architecture */
        permute = !options->hf_layout;
        break;
    case QK_HF_ARCH_QWEN2:
        arch = "qwen2";
        break;
    default:
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: architecture '%s' (model_type '%s') is not supported; Llama, "
                            "Mistral and Qwen2 are",
                            s->path, c.architecture, c.model_type);
    }
    if (c.mlp_bias)
        return qk_error_set(QK_ERR_UNSUPPORTED, "%s: MLP biases (mlp_bias) are not supported",
                            s->path);
    if (c.attention_bias && c.arch != QK_HF_ARCH_QWEN2)
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: attention_bias on %s (biases on o_proj too) is not supported",
                            s->path, c.architecture);
    if (!fits_i32(c.max_position_embeddings))
        return qk_error_set(QK_ERR_CONFIG, "%s: max_position_embeddings out of range", s->path);
    qk_model_hparams *h = &s->hp;
    snprintf(h->arch, sizeof h->arch, "%s", arch);
    h->n_vocab = (int32_t)c.vocab_size;
    h->n_embd = (int32_t)c.hidden_size;
    h->n_ff = (int32_t)c.intermediate_size;
    h->n_layer = (int32_t)c.num_hidden_layers;
    h->n_head = (int32_t)c.num_attention_heads;
    h->n_head_kv = (int32_t)c.num_key_value_heads;
    h->head_dim = (int32_t)c.head_dim;
    h->n_ctx_train = (int32_t)c.max_position_embeddings;
    h->rms_eps = (float)c.rms_norm_eps;
    h->rope_theta = (float)c.rope_theta;
    h->attn_bias = c.attention_bias;
    h->tied_output = c.tie_word_embeddings;
    h->bos_id = c.bos_token_id >= 0 && c.bos_token_id <= INT32_MAX ? (int32_t)c.bos_token_id : -1;
    h->eos_id = c.eos_token_id >= 0 && c.eos_token_id <= INT32_MAX ? (int32_t)c.eos_token_id : -1;
    h->rope_scaling = c.rope_scaling;

    st = qk_safetensors_set_open(folder, &s->st);
    if (st == QK_OK) st = qk_ckpt_source_open(s, folder, &s->ckpt);
    if (st != QK_OK) return st;
    const int64_t q = (int64_t)h->n_head * h->head_dim, kv = (int64_t)h->n_head_kv * h->head_dim;
    /* [rows, cols] of each linear kind (0 for the others) */
    int64_t dims[QK_MS_LAYER_KINDS][2] = {{0}};
    dims[QK_MS_ATTN_Q][0] = q;
    dims[QK_MS_ATTN_K][0] = dims[QK_MS_ATTN_V][0] = kv;
    dims[QK_MS_ATTN_Q][1] = dims[QK_MS_ATTN_K][1] = dims[QK_MS_ATTN_V][1] = h->n_embd;
    dims[QK_MS_ATTN_OUTPUT][0] = h->n_embd;
    dims[QK_MS_ATTN_OUTPUT][1] = q;
    dims[QK_MS_FFN_GATE][0] = dims[QK_MS_FFN_UP][0] = h->n_ff;
    dims[QK_MS_FFN_GATE][1] = dims[QK_MS_FFN_UP][1] = h->n_embd;
    dims[QK_MS_FFN_DOWN][0] = h->n_embd;
    dims[QK_MS_FFN_DOWN][1] = h->n_ff;
    st = map(s, "token_embd.weight", "model.embed_tokens.weight", 0);
    for (int32_t l = 0; l < h->n_layer && st == QK_OK; l++) {
        for (int k = 0; k < QK_MS_LAYER_KINDS && st == QK_OK; k++) {
            bool bias = k == QK_MS_ATTN_Q_BIAS || k == QK_MS_ATTN_K_BIAS || k == QK_MS_ATTN_V_BIAS;
            if (bias && !h->attn_bias) continue;
            int32_t heads = 0;
            if (permute && (k == QK_MS_ATTN_Q || k == QK_MS_ATTN_Q_BIAS)) heads = h->n_head;
            if (permute && (k == QK_MS_ATTN_K || k == QK_MS_ATTN_K_BIAS)) heads = h->n_head_kv;
            char name[QK_MS_NAME_CAP], hf[96];
            qk_ms_layer_name(k, l, name);
            snprintf(hf, sizeof hf, HF_LAYER[k], (int)l);
            if (s->ckpt && dims[k][0] > 0) {
                hf[strlen(hf) - strlen(".weight")] = '\0'; /* the module */
                st = qk_ckpt_map_linear(s, name, hf, dims[k][0], dims[k][1], heads);
            } else {
                st = map(s, name, hf, heads);
            }
        }
    }
    if (st == QK_OK) st = map(s, "output_norm.weight", "model.norm.weight", 0);
    if (st == QK_OK && !h->tied_output) {
        if (s->ckpt)
            st = qk_ckpt_map_linear(s, "output.weight", "lm_head", h->n_vocab, h->n_embd, 0);
        else
            st = map(s, "output.weight", "lm_head.weight", 0);
    }
    return st;
}
