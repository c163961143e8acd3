/*
** Seeds of the model-container targets (llama2.c checkpoints, config.json,
** Hugging Face folders, llama GGUF files) and of dequant_codebook (see
** make_seeds.c). The models are tiny: a couple of kilobytes each.
*/
#include <stdio.h>  /* snprintf, FILE */
#include <stdlib.h> /* malloc, free */
#include <string.h> /* strlen, memcpy */
#include <unistd.h> /* unlink */

#include "make_seeds.h"

/* ------------------------------------------------------------------------
** llama2c_header: dim 8, hidden 16, 1 layer, 2 heads, 1 KV head (head size
** 4), vocab 4, seq_len 4.
*/
typedef struct l2c_shape {
    int32_t dim, hidden, layers, heads, kv_heads, vocab, seq_len;
} l2c_shape;

static void put_floats(buf *b, size_t n, float start) {
    for (size_t i = 0; i < n; i++) put_f32(b, start + 0.01f * (float)(i % 97));
}

/* Legacy layout; vocab < 0 means a separate classifier. */
static void l2c_legacy(buf *b, l2c_shape s) {
    const int32_t h[7] = {s.dim, s.hidden, s.layers, s.heads, s.kv_heads, s.vocab, s.seq_len};
    for (int i = 0; i < 7; i++) put_le(b, (uint32_t)h[i], 4);
    size_t v = (size_t)(s.vocab < 0 ? -s.vocab : s.vocab), d = (size_t)s.dim, L = (size_t)s.layers;
    size_t hs = d / (size_t)s.heads, kv = (size_t)s.kv_heads * hs, f = (size_t)s.hidden;
    put_floats(b, v * d, 0.1f);                  /* token embedding */
    put_floats(b, L * d, 1.0f);                  /* rms_att */
    put_floats(b, L * d * d, -0.2f);             /* wq */
    put_floats(b, L * kv * d, 0.3f);             /* wk */
    put_floats(b, L * kv * d, -0.4f);            /* wv */
    put_floats(b, L * d * d, 0.5f);              /* wo */
    put_floats(b, L * d, 1.0f);                  /* rms_ffn */
    put_floats(b, L * f * d, -0.6f);             /* w1 */
    put_floats(b, L * d * f, 0.7f);              /* w2 */
    put_floats(b, L * f * d, -0.8f);             /* w3 */
    put_floats(b, d, 1.0f);                      /* rms_final */
    put_floats(b, (size_t)s.seq_len * hs, 0.0f); /* freq_cis_real + imag */
    if (s.vocab < 0) put_floats(b, v * d, 0.9f); /* wcls */
}

/* Version-1 export ("ak42"). */
static void l2c_v1(buf *b, l2c_shape s, bool shared, int32_t version) {
    put_le(b, 0x616b3432u, 4);
    put_le(b, (uint32_t)version, 4);
    const int32_t h[7] = {s.dim, s.hidden, s.layers, s.heads, s.kv_heads, s.vocab, s.seq_len};
    for (int i = 0; i < 7; i++) put_le(b, (uint32_t)h[i], 4);
    put_u8(b, shared ? 1 : 0);
    while (b->n < 256) put_u8(b, 0);
    size_t v = (size_t)s.vocab, d = (size_t)s.dim, L = (size_t)s.layers;
    size_t hs = d / (size_t)s.heads, kv = (size_t)s.kv_heads * hs, f = (size_t)s.hidden;
    put_floats(b, L * d, 1.0f);       /* rms_att */
    put_floats(b, L * d, 1.0f);       /* rms_ffn */
    put_floats(b, d, 1.0f);           /* rms_final */
    put_floats(b, v * d, 0.1f);       /* token embedding */
    put_floats(b, L * d * d, -0.2f);  /* wq */
    put_floats(b, L * kv * d, 0.3f);  /* wk */
    put_floats(b, L * kv * d, -0.4f); /* wv */
    put_floats(b, L * d * d, 0.5f);   /* wo */
    put_floats(b, L * f * d, -0.6f);  /* w1 */
    put_floats(b, L * d * f, 0.7f);   /* w2 */
    put_floats(b, L * f * d, -0.8f);  /* w3 */
    if (!shared) put_floats(b, v * d, 0.9f);
}

void seeds_llama2c_header(void) {
    const char *T = "llama2c_header";
    const l2c_shape s = {8, 16, 1, 2, 1, 4, 4};
    buf b = {0};
    l2c_legacy(&b, s);
    write_seed(T, "seed-legacy-shared.bin", b.p, b.n);
    write_seed(T, "broken-legacy-truncated", b.p, b.n - 4);
    put_u8(&b, 0);
    write_seed(T, "broken-legacy-trailing-byte", b.p, b.n);
    buf_free(&b);
    l2c_shape u = s;
    u.vocab = -4;
    l2c_legacy(&b, u);
    write_seed(T, "seed-legacy-classifier.bin", b.p, b.n);
    buf_free(&b);
    l2c_shape two = {8, 8, 2, 2, 2, 3, 2};
    l2c_legacy(&b, two);
    write_seed(T, "seed-legacy-two-layers.bin", b.p, b.n);
    buf_free(&b);
    l2c_v1(&b, s, true, 1);
    write_seed(T, "seed-v1-shared.bin", b.p, b.n);
    buf_free(&b);
    l2c_v1(&b, s, false, 1);
    write_seed(T, "seed-v1-classifier.bin", b.p, b.n);
    write_seed(T, "broken-v1-short-header", b.p, 200);
    b.p[36] = 2;
    write_seed(T, "broken-v1-shared-byte-2", b.p, b.n);
    buf_free(&b);
    l2c_v1(&b, s, true, 2);
    write_seed(T, "broken-v1-version-2", b.p, b.n);
    buf_free(&b);
    const struct {
        const char *name;
        l2c_shape s;
    } bad[] = {
        {"broken-zero-dim", {0, 16, 1, 2, 1, 4, 4}},
        {"broken-dim-not-multiple-of-heads", {8, 16, 1, 3, 1, 4, 4}},
        {"broken-heads-not-multiple-of-kv", {8, 16, 1, 2, 3, 4, 4}},
        {"broken-odd-head-size", {6, 16, 1, 2, 1, 4, 4}},
        {"broken-zero-vocab", {8, 16, 1, 2, 1, 0, 4}},
        {"broken-huge-layers", {8, 16, 0x7FFFFFFF, 2, 1, 4, 4}},
        {"broken-huge-dim", {0x7FFFFFFE, 0x7FFFFFFF, 1, 2, 1, 0x7FFFFFFF, 0x7FFFFFFF}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const int32_t h[7] = {bad[i].s.dim,      bad[i].s.hidden, bad[i].s.layers, bad[i].s.heads,
                              bad[i].s.kv_heads, bad[i].s.vocab,  bad[i].s.seq_len};
        for (int k = 0; k < 7; k++) put_le(&b, (uint32_t)h[k], 4);
        put_floats(&b, 64, 0.5f);
        write_seed(T, bad[i].name, b.p, b.n);
        buf_free(&b);
    }
    write_seed(T, "broken-short", "\x08\x00\x00\x00\x10\x00", 6);
    size_t n;
    unsigned char *real = read_fixture("models/stories260k/stories260K.bin", &n);
    if (real) { /* the real header, cut: a file that ends inside the first layers */
        write_seed(T, "broken-stories260k-head", real, 4096);
        free(real);
    }
}

/* ------------------------------------------------------------------------
** hf_config: config.json texts.
*/
void seeds_hf_config(void) {
    const char *T = "hf_config";
    size_t n;
    unsigned char *cfg = read_fixture("models/fixture-llama-7m/config.json", &n);
    if (cfg) {
        write_seed(T, "seed-fixture-llama-7m.json", cfg, n);
        free(cfg);
    }
    const struct {
        const char *name, *text;
    } texts[] = {
        {"seed-mistral.json",
         "{\"architectures\": [\"MistralForCausalLM\"], \"model_type\": \"mistral\", "
         "\"hidden_size\": 4096, \"intermediate_size\": 14336, \"num_hidden_layers\": 32, "
         "\"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"vocab_size\": 32000, "
         "\"sliding_window\": 4096, \"rope_theta\": 1000000.0, \"rms_norm_eps\": 1e-05, "
         "\"torch_dtype\": \"bfloat16\", \"bos_token_id\": 1, \"eos_token_id\": 2}"},
        {"seed-qwen2.json",
         "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 896, "
         "\"intermediate_size\": 4864, \"num_hidden_layers\": 24, \"num_attention_heads\": 14, "
         "\"num_key_value_heads\": 2, \"vocab_size\": 151936, \"tie_word_embeddings\": true, "
         "\"sliding_window\": null, \"eos_token_id\": [151645, 151643], \"dtype\": \"bfloat16\"}"},
        {"seed-llama3-rope.json",
         "{\"model_type\": \"llama\", \"hidden_size\": 2048, \"intermediate_size\": 8192, "
         "\"num_hidden_layers\": 16, \"num_attention_heads\": 32, \"num_key_value_heads\": 8, "
         "\"head_dim\": 64, \"vocab_size\": 128256, \"rope_theta\": 500000.0, \"rope_scaling\": "
         "{\"rope_type\": \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0, "
         "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}, "
         "\"mlp_bias\": false, \"attention_bias\": false}"},
        {"seed-minimal.json",
         "{\"hidden_size\": 16, \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
         "\"num_attention_heads\": 2, \"vocab_size\": 8}"},
        {"broken-missing-hidden.json",
         "{\"intermediate_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
         "\"vocab_size\": 8}"},
        {"broken-kv-heads.json",
         "{\"hidden_size\": 24, \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
         "\"num_attention_heads\": 3, \"num_key_value_heads\": 2, \"vocab_size\": 8}"},
        {"broken-odd-head-dim.json",
         "{\"hidden_size\": 6, \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
         "\"num_attention_heads\": 2, \"vocab_size\": 8}"},
        {"broken-negative-vocab.json",
         "{\"hidden_size\": 16, \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
         "\"num_attention_heads\": 2, \"vocab_size\": -8}"},
        {"broken-string-size.json",
         "{\"hidden_size\": \"16\", \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
         "\"num_attention_heads\": 2, \"vocab_size\": 8}"},
        {"broken-huge-size.json",
         "{\"hidden_size\": 4294967296, \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
         "\"num_attention_heads\": 2, \"vocab_size\": 8}"},
        {"broken-eos-list.json",
         "{\"hidden_size\": 16, \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
         "\"num_attention_heads\": 2, \"vocab_size\": 8, \"eos_token_id\": [1, \"x\"]}"},
        {"broken-rope-scaling.json",
         "{\"hidden_size\": 16, \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
         "\"num_attention_heads\": 2, \"vocab_size\": 8, \"rope_scaling\": [1]}"},
        {"broken-zero-eps.json",
         "{\"hidden_size\": 16, \"intermediate_size\": 32, \"num_hidden_layers\": 1, "
         "\"num_attention_heads\": 2, \"vocab_size\": 8, \"rms_norm_eps\": 0}"},
        {"broken-duplicate-key.json",
         "{\"hidden_size\": 16, \"hidden_size\": 32, \"intermediate_size\": 32, "
         "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 8}"},
        {"broken-architectures.json",
         "{\"architectures\": \"LlamaForCausalLM\", \"hidden_size\": 16}"},
        {"broken-long-model-type.json",
         "{\"model_type\": \"llama-llama-llama-llama-llama-llama-llama-llama\", "
         "\"hidden_size\": 16}"},
        {"broken-not-object.json", "[16, 32]"},
        {"broken-json.json", "{\"hidden_size\": 16,"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        write_seed(T, texts[i].name, texts[i].text, strlen(texts[i].text));
}

/* ------------------------------------------------------------------------
** model_source_hf: config.json, NUL, model.safetensors. hidden 16, 2 heads,
** 1 KV head (head_dim 8), ff 32, vocab 8, 1 layer.
*/
typedef struct hf_variant {
    const char *name;
    const char *config;
    qk_type type;
    bool bias, lm_head;
    int64_t k_rows; /* 8, or a wrong value */
} hf_variant;

typedef struct hf_tensor {
    const char *name;
    int32_t ndim;
    int64_t shape[2];
} hf_tensor;

static void hf_seed(const char *tmp_dir, const hf_variant *v) {
    const int64_t H = 16, KV = 8, FF = 32, V = 8;
    hf_tensor t[16];
    size_t n = 0;
#define HF_T(nm, nd, a, b)                                                                         \
    t[n++] = (hf_tensor) {                                                                         \
        nm, nd, {                                                                                  \
            a, b                                                                                   \
        }                                                                                          \
    }
    HF_T("model.embed_tokens.weight", 2, V, H);
    HF_T("model.layers.0.input_layernorm.weight", 1, H, 0);
    HF_T("model.layers.0.self_attn.q_proj.weight", 2, H, H);
    HF_T("model.layers.0.self_attn.k_proj.weight", 2, v->k_rows, H);
    HF_T("model.layers.0.self_attn.v_proj.weight", 2, KV, H);
    HF_T("model.layers.0.self_attn.o_proj.weight", 2, H, H);
    HF_T("model.layers.0.post_attention_layernorm.weight", 1, H, 0);
    HF_T("model.layers.0.mlp.gate_proj.weight", 2, FF, H);
    HF_T("model.layers.0.mlp.up_proj.weight", 2, FF, H);
    HF_T("model.layers.0.mlp.down_proj.weight", 2, H, FF);
    HF_T("model.norm.weight", 1, H, 0);
    if (v->lm_head) HF_T("lm_head.weight", 2, V, H);
    if (v->bias) {
        HF_T("model.layers.0.self_attn.q_proj.bias", 1, H, 0);
        HF_T("model.layers.0.self_attn.k_proj.bias", 1, KV, 0);
        HF_T("model.layers.0.self_attn.v_proj.bias", 1, KV, 0);
    }
#undef HF_T
    qk_io_tensor io[16];
    void *data[16];
    for (size_t i = 0; i < n; i++) {
        int64_t numel = t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
        float *x = malloc((size_t)numel * sizeof *x);
        for (int64_t k = 0; k < numel; k++)
            x[k] = (float)((k * 7 + (int64_t)i) % 19) * 0.05f - 0.4f;
        size_t bytes;
        check(qk_type_row_bytes(v->type, numel, &bytes), "row bytes");
        data[i] = malloc(bytes);
        check(qk_convert(QK_TYPE_F32, x, v->type, data[i], (size_t)numel), "convert");
        free(x);
        io[i] = (qk_io_tensor){.name = t[i].name,
                               .type = v->type,
                               .ndim = t[i].ndim,
                               .shape = {t[i].shape[0], t[i].shape[1]},
                               .data = data[i]};
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/hf.safetensors", tmp_dir);
    const char *meta[2] = {"format", "pt"};
    check(qk_safetensors_write(path, io, n, meta, 1), "safetensors write");
    for (size_t i = 0; i < n; i++) free(data[i]);
    buf b = {0};
    put_str(&b, v->config);
    put_u8(&b, 0);
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot read %s", path);
    unsigned char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, got);
    fclose(f);
    unlink(path);
    write_seed("model_source_hf", v->name, b.p, b.n);
    buf_free(&b);
}

void seeds_model_source_hf(const char *tmp_dir) {
    if (strlen(tmp_dir) > 512) die("path too long: %s", tmp_dir);
    const char *llama =
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 16, "
        "\"intermediate_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
        "\"num_key_value_heads\": 1, \"vocab_size\": 8, \"bos_token_id\": 1, \"eos_token_id\": 2}";
    const char *qwen2 =
        "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 16, "
        "\"intermediate_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
        "\"num_key_value_heads\": 1, \"vocab_size\": 8, \"tie_word_embeddings\": true}";
    const char *mistral =
        "{\"model_type\": \"mistral\", \"hidden_size\": 16, \"intermediate_size\": 32, "
        "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, "
        "\"vocab_size\": 8, \"sliding_window\": 4096}";
    const char *gemma =
        "{\"architectures\": [\"GemmaForCausalLM\"], \"hidden_size\": 16, "
        "\"intermediate_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
        "\"vocab_size\": 8}";
    const hf_variant variants[] = {
        {"seed-llama-bf16", llama, QK_TYPE_BF16, false, true, 8},
        {"seed-qwen2-f32-tied", qwen2, QK_TYPE_F32, true, false, 8},
        {"seed-mistral-f16", mistral, QK_TYPE_F16, false, true, 8},
        {"broken-llama-no-lm-head", llama, QK_TYPE_BF16, false, false, 8},
        {"broken-llama-k-shape", llama, QK_TYPE_BF16, false, true, 16},
        {"broken-qwen2-no-bias", qwen2, QK_TYPE_F32, false, false, 8},
        {"broken-unknown-arch", gemma, QK_TYPE_F32, false, true, 8},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        hf_seed(tmp_dir, &variants[i]);
    write_seed("model_source_hf", "broken-config-only", llama, strlen(llama));
}

/* ------------------------------------------------------------------------
** gguf_read: whole llama / qwen2 models (model source path). n_embd 32,
** n_ff 64, 1 layer, 2 heads, 1 KV head (head_dim 16), vocab 4.
*/
static void gguf_model(const char *path, bool qwen2) {
    const char *arch = qwen2 ? "qwen2" : "llama";
    char key[64];
    qk_gguf_writer *w = NULL;
    check(qk_gguf_writer_create(path, &w), "gguf writer");
    check(qk_gguf_writer_add_str(w, "general.architecture", arch), "kv");
#define ARCH_U32(suffix, v)                                                                        \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s.%s", arch, suffix);                                          \
        check(qk_gguf_writer_add_u32(w, key, v), "kv");                                            \
    } while (0)
    ARCH_U32("context_length", 16);
    ARCH_U32("embedding_length", 32);
    ARCH_U32("feed_forward_length", 64);
    ARCH_U32("block_count", 1);
    ARCH_U32("attention.head_count", 2);
    ARCH_U32("attention.head_count_kv", 1);
#undef ARCH_U32
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    check(qk_gguf_writer_add_f32(w, key, 1e-5f), "kv");
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    check(qk_gguf_writer_add_f32(w, key, 10000.0f), "kv");
    if (qwen2) {
        snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
        check(qk_gguf_writer_add_str(w, key, "linear"), "kv");
        snprintf(key, sizeof key, "%s.rope.scaling.factor", arch);
        check(qk_gguf_writer_add_f32(w, key, 2.0f), "kv");
    }
    check(qk_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"), "kv");
    const char *tokens[4] = {"<unk>", "<s>", "</s>",
                             "\xe2\x96\x81"
                             "a"};
    check(qk_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, NULL, 4), "kv");
    const float scores[4] = {0, 0, 0, -1};
    check(qk_gguf_writer_add_arr(w, "tokenizer.ggml.scores", QK_GGUF_F32, scores, 4), "kv");
    const int32_t types[4] = {2, 3, 3, 1};
    check(qk_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", QK_GGUF_I32, types, 4), "kv");
    check(qk_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1), "kv");
    check(qk_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2), "kv");
    struct {
        const char *name;
        qk_type type;
        int32_t ndim;
        int64_t rows, cols;
    } t[] = {
        {"token_embd.weight", QK_TYPE_Q8_0, 2, 4, 32},
        {"blk.0.attn_norm.weight", QK_TYPE_F32, 1, 32, 0},
        {"blk.0.attn_q.weight", QK_TYPE_Q4_0, 2, 32, 32},
        {"blk.0.attn_k.weight", QK_TYPE_Q8_0, 2, 16, 32},
        {"blk.0.attn_v.weight", QK_TYPE_F16, 2, 16, 32},
        {"blk.0.attn_output.weight", QK_TYPE_IQ4_NL, 2, 32, 32},
        {"blk.0.ffn_norm.weight", QK_TYPE_F32, 1, 32, 0},
        {"blk.0.ffn_gate.weight", QK_TYPE_Q5_0, 2, 64, 32},
        {"blk.0.ffn_up.weight", QK_TYPE_Q5_1, 2, 64, 32},
        {"blk.0.ffn_down.weight", QK_TYPE_Q4_1, 2, 32, 64},
        {"output_norm.weight", QK_TYPE_F32, 1, 32, 0},
        {"output.weight", QK_TYPE_BF16, 2, 4, 32},
        {"blk.0.attn_q.bias", QK_TYPE_F32, 1, 32, 0},
        {"blk.0.attn_k.bias", QK_TYPE_F32, 1, 16, 0},
        {"blk.0.attn_v.bias", QK_TYPE_F32, 1, 16, 0},
    };
    /* qwen2: tied output, q/k/v biases; llama: output, no biases */
    size_t count = sizeof t / sizeof t[0];
    bool use[sizeof t / sizeof t[0]];
    for (size_t i = 0; i < count; i++) {
        bool is_bias = strstr(t[i].name, ".bias") != NULL;
        bool is_output = strcmp(t[i].name, "output.weight") == 0;
        use[i] = qwen2 ? !is_output : !is_bias;
        if (!use[i]) continue;
        int64_t shape[2] = {t[i].rows, t[i].cols};
        if (t[i].ndim == 1) shape[0] = t[i].rows;
        check(qk_gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].ndim, shape), "tensor");
    }
    check(qk_gguf_writer_begin(w), "begin");
    for (size_t i = 0; i < count; i++) {
        if (!use[i]) continue;
        int64_t numel = t[i].rows * (t[i].ndim == 2 ? t[i].cols : 1);
        float *x = malloc((size_t)numel * sizeof *x);
        for (int64_t k = 0; k < numel; k++)
            x[k] = (float)((k * 11 + (int64_t)i) % 23) * 0.1f - 1.1f;
        size_t bytes;
        check(qk_type_row_bytes(t[i].type, numel, &bytes), "row bytes");
        unsigned char *q = malloc(bytes);
        int64_t cols = t[i].ndim == 2 ? t[i].cols : numel;
        check(qk_quantize_rows(t[i].type, x, q, numel / cols, cols, NULL), "quantize");
        check(qk_gguf_writer_write(w, q, bytes), "write");
        free(q);
        free(x);
    }
    check(qk_gguf_writer_commit(w), "commit");
    qk_gguf_writer_free(w);
}

/* A byte-level BPE vocabulary (tokenizer.ggml.model "gpt2"), no tensors. */
static void gguf_gpt2_vocab(const char *path) {
    enum { N = 256 + 3 + 1 };
    static char text[N][8];
    const char *tokens[N];
    int32_t types[N];
    for (unsigned b = 0; b < 256; b++) {
        utf8_of(gpt2_byte_char(b), text[b]);
        tokens[b] = text[b];
        types[b] = 1;
    }
    const char *merged[3] = {"\xc4\xa0t", "he", "\xc4\xa0the"};
    for (int i = 0; i < 3; i++) {
        tokens[256 + i] = merged[i];
        types[256 + i] = 1;
    }
    tokens[259] = "<|endoftext|>";
    types[259] = 3;
    const char *merges[3] = {"\xc4\xa0 t", "h e", "\xc4\xa0t he"};
    qk_gguf_writer *w = NULL;
    check(qk_gguf_writer_create(path, &w), "gguf writer");
    check(qk_gguf_writer_add_str(w, "general.architecture", "qwen2"), "kv");
    check(qk_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2"), "kv");
    check(qk_gguf_writer_add_str(w, "tokenizer.ggml.pre", "qwen2"), "kv");
    check(qk_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, NULL, N), "kv");
    check(qk_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", QK_GGUF_I32, types, N), "kv");
    check(qk_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 3), "kv");
    check(qk_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 259), "kv");
    check(qk_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false), "kv");
    check(qk_gguf_writer_commit(w), "commit");
    qk_gguf_writer_free(w);
}

void seeds_gguf_models(const char *tmp_dir) {
    if (strlen(tmp_dir) > 512) die("path too long: %s", tmp_dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/llama.gguf", tmp_dir);
    gguf_model(path, false);
    /* calibration statistics of the llama one (with X^T X), as quantkit saves them */
    qk_llama_model *model = NULL;
    check(qk_llama_model_load(path, &model), "load the llama seed");
    qk_calib_stats *stats = NULL;
    check(qk_calib_stats_create(qk_llama_model_hparams(model), true, &stats), "calib stats");
    const int32_t windows[6] = {1, 3, 0, 1, 2, 3};
    check(qk_calib_collect(model, windows, 2, 3, stats, NULL, NULL), "calib collect");
    qk_calib_meta meta = {.text_path = "seed.txt", .n_samples_used = 2};
    char calib[1024];
    snprintf(calib, sizeof calib, "%s/calib.gguf", tmp_dir);
    check(qk_calib_stats_save(stats, &meta, calib), "calib save");
    qk_calib_stats_free(stats);
    qk_llama_model_free(model);
    adopt("gguf_read", "seed-model-llama.gguf", path);
    adopt("gguf_read", "seed-calib-stats.gguf", calib);
    snprintf(path, sizeof path, "%s/qwen2.gguf", tmp_dir);
    gguf_model(path, true);
    adopt("gguf_read", "seed-model-qwen2.gguf", path);
    snprintf(path, sizeof path, "%s/gpt2.gguf", tmp_dir);
    gguf_gpt2_vocab(path);
    adopt("gguf_read", "seed-vocab-gpt2.gguf", path);
}

/* ------------------------------------------------------------------------
** dequant_codebook: byte 0 picks the operation (see fuzz_dequant_codebook.c).
*/
static void cb_seed(const char *name, const buf *b) {
    write_seed("dequant_codebook", name, b->p, b->n);
}

void seeds_dequant_codebook(void) {
    buf b = {0};
    char name[64];
    /* 0: unpack, every width, both orders, signed and not */
    for (unsigned bits = 1; bits <= 8; bits++) {
        for (unsigned flags = 0; flags < 4; flags++) {
            unsigned order = flags & 1, is_signed = flags >> 1;
            size_t n = 37;
            put_u8(&b, 0);
            put_u8(&b, (bits - 1) | order << 3 | is_signed << 4);
            put_le(&b, n, 2);
            for (size_t k = 0; k < (n * bits + 7) / 8; k++) put_u8(&b, rnd8());
            snprintf(name, sizeof name, "seed-unpack-%ubit-%s-%s", bits, order ? "msb" : "lsb",
                     is_signed ? "signed" : "unsigned");
            cb_seed(name, &b);
            buf_free(&b);
        }
    }
    put_u8(&b, 0);
    put_u8(&b, 3);
    put_le(&b, 100, 2);
    put_str(&b, "short");
    cb_seed("broken-unpack-truncated", &b);
    buf_free(&b);

    /* 1: 4-bit blockwise, made by the quantizer */
    float x[300];
    for (int i = 0; i < 300; i++) x[i] = (float)((i * 37) % 41) * 0.07f - 1.3f;
    const struct {
        qk_codebook cb;
        unsigned bs_log; /* block 32 << bs_log */
        bool dq;
        size_t n;
    } bw[] = {{QK_CODEBOOK_NF4, 1, false, 300},
              {QK_CODEBOOK_FP4_BNB, 0, false, 77},
              {QK_CODEBOOK_FP4_E2M1, 2, true, 300},
              {QK_CODEBOOK_NF4, 1, true, 1}};
    for (size_t i = 0; i < sizeof bw / sizeof bw[0]; i++) {
        qk_blockwise_config c = {bw[i].cb, 32 << bw[i].bs_log, bw[i].dq};
        qk_blockwise_tensor q;
        check(qk_blockwise_quantize(x, bw[i].n, &c, &q), "blockwise quantize");
        put_u8(&b, 1);
        put_u8(&b, (unsigned)bw[i].cb | bw[i].bs_log << 2 | (unsigned)bw[i].dq << 5);
        put_le(&b, bw[i].n, 2);
        put(&b, q.packed, (bw[i].n + 1) / 2);
        if (bw[i].dq) {
            put(&b, q.absmax_codes, q.n_blocks);
            put_f32(&b, q.offset);
            put(&b, q.nested_absmax, (q.n_blocks + 255) / 256 * sizeof(float));
        } else {
            put(&b, q.absmax, q.n_blocks * sizeof(float));
        }
        snprintf(name, sizeof name, "seed-blockwise4-%s-%d%s", qk_codebook_name(bw[i].cb),
                 32 << bw[i].bs_log, bw[i].dq ? "-dq" : "");
        cb_seed(name, &b);
        buf_free(&b);
        qk_blockwise_tensor_free(&q);
    }

    /* 2: 8-bit dynamic map, signed (7, 8) and unsigned (7, 8) */
    for (unsigned s = 0; s < 2; s++) {
        float map[256];
        check(qk_dynamic_map_create(s == 0, 7, 8, map), "dynamic map");
        size_t n = 150;
        int32_t bs = 64;
        uint8_t codes[150];
        float absmax[3];
        check(qk_blockwise8_quantize(x, n, bs, map, codes, absmax), "blockwise8");
        put_u8(&b, 2);
        put_u8(&b, (s == 0 ? 1u : 0u) | 7u << 1 | 7u << 5);
        put_le(&b, (uint64_t)bs, 2);
        put_le(&b, n, 2);
        put(&b, codes, n);
        put(&b, absmax, sizeof absmax);
        cb_seed(s == 0 ? "seed-blockwise8-signed" : "seed-blockwise8-unsigned", &b);
        buf_free(&b);
    }

    /* 3: affine spans: 4-bit unsigned with zero point 8, 8-bit signed, raw */
    put_u8(&b, 3);
    put_u8(&b, 2u << 1 | 2u << 4);
    put_f32(&b, 0.125f);
    put_u8(&b, 8);
    for (int i = 0; i < 40; i++) put_u8(&b, (unsigned)(i % 16));
    cb_seed("seed-affine-span-u4", &b);
    buf_free(&b);
    put_u8(&b, 3);
    put_u8(&b, 6u << 1 | 0u << 4 | 0x80u);
    put_f32(&b, 0.02f);
    put_u8(&b, 128);
    for (int i = 0; i < 40; i++) put_u8(&b, (unsigned)(i * 13));
    cb_seed("seed-affine-span-i8-stochastic", &b);
    buf_free(&b);
    put_u8(&b, 3);
    put_u8(&b, 1);
    put_f32(&b, -1.0f);
    put_le(&b, 300, 4);
    put_le(&b, 0, 4);
    put_le(&b, 255, 4);
    put_str(&b, "codes");
    cb_seed("broken-affine-span-raw-params", &b);
    buf_free(&b);

    /* 4: whole tensors: per tensor 8-bit, per channel 4-bit sym, group 3-bit */
    const struct {
        const char *name;
        unsigned bits, sym, flags, axis, group, scale_zp, ndim;
        unsigned shape[4];
    } tens[] = {
        {"seed-affine-tensor-int8", 7, 0, 2u << 0 | 0u << 2, 0, 0, 0, 2, {4, 8}},
        {"seed-affine-tensor-int4-channel", 3, 1, 0u | 1u << 2, 1, 0, 1, 2, {3, 8}},
        {"seed-affine-tensor-int3-group",
         2,
         0,
         2u | 2u << 2 | 1u << 4,
         0,
         8 + 5,
         2 | 1u << 2,
         3,
         {2, 2, 8}},
        {"seed-affine-tensor-fixed-range", 3, 0, 2u | 2u << 5, 0, 0, 0, 1, {8}},
        {"seed-affine-tensor-scalar", 7, 1, 0, 0, 0, 0, 0, {0}},
    };
    for (size_t i = 0; i < sizeof tens / sizeof tens[0]; i++) {
        put_u8(&b, 4);
        put_u8(&b, tens[i].bits);
        put_u8(&b, tens[i].sym);
        put_u8(&b, tens[i].flags);
        put_u8(&b, tens[i].axis);
        put_u8(&b, tens[i].group);
        put_le(&b, 12345, 4);
        put_u8(&b, tens[i].scale_zp);
        put_f32(&b, -0.5f);
        put_f32(&b, 0.75f);
        put_u8(&b, tens[i].ndim);
        size_t numel = 1;
        for (unsigned d = 0; d < tens[i].ndim; d++) {
            put_u8(&b, tens[i].shape[d]);
            numel *= tens[i].shape[d];
        }
        for (size_t k = 0; k < numel; k++) put_f32(&b, x[k % 300]);
        cb_seed(tens[i].name, &b);
        buf_free(&b);
    }

    /* 5: codebook encoders */
    for (unsigned cb = 0; cb < QK_CODEBOOK_COUNT; cb++) {
        put_u8(&b, 5);
        put_u8(&b, cb);
        const float v[] = {-2.0f, -1.0f, -0.5f, 0.0f, -0.0f, 1e-8f, 0.33f, 0.5f, 0.9f, 1.0f, 3.0f};
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) put_f32(&b, v[k]);
        const float *values = qk_codebook_values((qk_codebook)cb);
        for (int k = 0; k + 1 < 16; k++) put_f32(&b, 0.5f * (values[k] + values[k + 1]) / 6.0f);
        snprintf(name, sizeof name, "seed-codebook-%s", qk_codebook_name((qk_codebook)cb));
        cb_seed(name, &b);
        buf_free(&b);
    }
}
