/*
** Helpers of the checkpoint tests: a tiny random Hugging Face Llama folder
** (config.json + bf16 model.safetensors), random quantized linears, and
** rewriting a safetensors file with one tensor changed.
*/
#ifndef QK_CKPT_TEST_UTIL_H
#define QK_CKPT_TEST_UTIL_H

#include <sys/stat.h> /* mkdir */

#include "qk_test.h"

typedef struct ckt_dims {
    int embd, heads, kv_heads, ff, layers, vocab;
} ckt_dims;

/* The linears of a layer in llama.cpp's names and HF module names. */
static const char *const CKT_LINEAR[7] = {"attn_q",   "attn_k",   "attn_v", "attn_output",
                                          "ffn_gate", "ffn_down", "ffn_up"};

static inline void ckt_dims_of(const ckt_dims *d, int k, int64_t *rows, int64_t *cols) {
    const int64_t hd = d->embd / d->heads, q = (int64_t)d->heads * hd,
                  kv = (int64_t)d->kv_heads * hd;
    const int64_t r[7] = {q, kv, kv, d->embd, d->ff, d->embd, d->ff};
    const int64_t c[7] = {d->embd, d->embd, d->embd, q, d->embd, d->ff, d->embd};
    *rows = r[k];
    *cols = c[k];
}

/* Folder `name` in the test's temporary folder with a random model. */
static inline const char *ckt_make_hf_model(const char *name, const ckt_dims *d, uint64_t seed) {
    static char folder[4096];
    snprintf(folder, sizeof folder, "%s", qk_test_tmp_path(name));
    mkdir(folder, 0755);
    char path[4200], text[1024];
    snprintf(text, sizeof text,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
             "\"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"vocab_size\": %d, "
             "\"max_position_embeddings\": 128, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, "
             "\"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", "
             "\"initializer_range\": 0.02}\n",
             d->embd, d->ff, d->layers, d->heads, d->kv_heads, d->vocab);
    snprintf(path, sizeof path, "%s/config.json", folder);
    assert_int_equal(qk_test_write_file(path, text, strlen(text)), 0);
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    const int n = 3 + 9 * d->layers;
    qk_io_tensor *t = calloc((size_t)n, sizeof *t);
    char(*names)[96] = calloc((size_t)n, sizeof *names);
    int k = 0;
#define CKT_ADD(nm, r, c)                                                                          \
    do {                                                                                           \
        snprintf(names[k], sizeof names[k], "%s", nm);                                             \
        t[k].name = names[k];                                                                      \
        t[k].type = QK_TYPE_BF16;                                                                  \
        t[k].ndim = (c) ? 2 : 1;                                                                   \
        t[k].shape[0] = (r);                                                                       \
        t[k].shape[1] = (c);                                                                       \
        const size_t ne_ = (size_t)(r) * (size_t)((c) ? (c) : 1);                                  \
        uint16_t *v_ = malloc(ne_ * 2);                                                            \
        for (size_t i_ = 0; i_ < ne_; i_++)                                                        \
            v_[i_] = qk_f32_to_bf16((c) ? 0.1f * qk_test_rng_normal(&rng)                          \
                                        : 1.0f + 0.05f * qk_test_rng_normal(&rng));                \
        t[k].data = v_;                                                                            \
        k++;                                                                                       \
    } while (0)
    CKT_ADD("model.embed_tokens.weight", d->vocab, d->embd);
    static const char *const hf[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                      "self_attn.o_proj", "mlp.gate_proj",    "mlp.down_proj",
                                      "mlp.up_proj"};
    for (int l = 0; l < d->layers; l++) {
        char nm[96];
        snprintf(nm, sizeof nm, "model.layers.%d.input_layernorm.weight", l);
        CKT_ADD(nm, d->embd, 0);
        snprintf(nm, sizeof nm, "model.layers.%d.post_attention_layernorm.weight", l);
        CKT_ADD(nm, d->embd, 0);
        for (int j = 0; j < 7; j++) {
            int64_t r, c;
            ckt_dims_of(d, j, &r, &c);
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, hf[j]);
            CKT_ADD(nm, r, c);
        }
    }
    CKT_ADD("model.norm.weight", d->embd, 0);
    CKT_ADD("lm_head.weight", d->vocab, d->embd);
#undef CKT_ADD
    snprintf(path, sizeof path, "%s/model.safetensors", folder);
    QK_ASSERT_OK(qk_safetensors_write(path, t, (size_t)k, NULL, 0));
    for (int i = 0; i < k; i++) free((void *)t[i].data);
    free(t);
    free(names);
    return folder;
}

/* A random linear valid under `c` (codes, zeros in the format's range,
** scales NOT rounded to f16, an act-order g_idx when desc_act). */
static inline qk_quantized_linear ckt_random_linear(qk_test_rng *rng, const qk_checkpoint_config *c,
                                                    int64_t rows, int64_t cols) {
    const int32_t gs = c->group_size <= 0 || c->group_size >= cols ? (int32_t)cols : c->group_size;
    qk_quantized_linear q;
    QK_ASSERT_OK(qk_quantized_linear_alloc(&q, c->bits, gs, c->symmetric, rows, cols, c->desc_act));
    const uint32_t levels = 1u << c->bits;
    for (int64_t i = 0; i < rows * cols; i++) q.codes[i] = (uint8_t)(qk_test_rng_u64(rng) % levels);
    for (int64_t i = 0; i < q.n_groups * rows; i++) {
        q.scales[i] = 1e-3f + 0.05f * (float)qk_test_rng_uniform(rng);
        int32_t z = (int32_t)(qk_test_rng_u64(rng) % levels);
        if (c->format == QK_CHECKPOINT_GPTQ && z == 0) z = 1; /* v1 stores zero - 1 */
        q.zeros[i] = c->symmetric ? (int32_t)(levels / 2) : z;
    }
    if (q.g_idx) { /* act-order: the groups of a random column permutation */
        int64_t *perm = malloc((size_t)cols * sizeof *perm);
        for (int64_t i = 0; i < cols; i++) perm[i] = i;
        for (int64_t i = cols - 1; i > 0; i--) {
            int64_t j = (int64_t)(qk_test_rng_u64(rng) % (uint64_t)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int64_t i = 0; i < cols; i++) q.g_idx[perm[i]] = (int32_t)(i / gs);
        free(perm);
    }
    return q;
}

/* Rewrite safetensors file `path` with tensor `name` replaced by `repl`
** (NULL: removed). */
static inline void ckt_rewrite(const char *path, const char *name, const qk_io_tensor *repl) {
    qk_safetensors *f;
    QK_ASSERT_OK(qk_safetensors_open(path, &f));
    const size_t n = qk_safetensors_tensor_count(f);
    qk_io_tensor *t = calloc(n, sizeof *t);
    char **names = calloc(n, sizeof *names);
    void **copies = calloc(n, sizeof *copies);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        qk_io_tensor x;
        QK_ASSERT_OK(qk_safetensors_tensor_info(f, i, &x));
        if (strcmp(x.name, name) == 0) {
            if (!repl) continue;
            x = *repl;
        }
        names[k] = strdup(x.name);
        copies[k] = malloc(x.nbytes ? x.nbytes : 1);
        memcpy(copies[k], x.data, x.nbytes);
        t[k] = x;
        t[k].name = names[k];
        t[k].data = copies[k];
        k++;
    }
    qk_safetensors_close(f);
    QK_ASSERT_OK(qk_safetensors_write(path, t, k, NULL, 0));
    for (size_t i = 0; i < k; i++) {
        free(names[i]);
        free(copies[i]);
    }
    free(t);
    free(names);
    free(copies);
}

#endif
