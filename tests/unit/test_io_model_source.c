/*
** Model sources: the three containers present the same model the same way.
**   HF fixture-llama-7m (bf16, q/k permuted on read) == llama.cpp's F32 GGUF
**     of it, every tensor bit for bit as f32;
**   llama2.c stories260K (both layouts) == llama.cpp's stories260K-f32.gguf;
** plus the permutation on a tiny hand-made model (rows labelled by index,
** order derived by hand from reshape(heads, 2, half).swapaxes(1, 2)),
** Qwen2 (biases, no permutation, tied output) and the error paths.
*/
#include "io_test_util.h"

#include <sys/stat.h> /* mkdir */

static qk_model_source *open_src(const char *path, bool hf_layout) {
    qk_model_source_options o = {.hf_layout = hf_layout};
    qk_model_source *s = NULL;
    QK_ASSERT_OK(qk_model_source_open(path, &o, &s));
    return s;
}

/* Tensor `name` of `s` as f32, malloc'ed. */
static float *read_f32(const qk_model_source *s, const char *name, size_t *n) {
    int64_t i = qk_model_source_find_tensor(s, name);
    if (i < 0) fail_msg("no tensor %s", name);
    size_t bytes;
    QK_ASSERT_OK(qk_model_source_tensor_bytes(s, (size_t)i, QK_TYPE_F32, &bytes));
    float *buf = malloc(bytes ? bytes : 4);
    QK_ASSERT_OK(qk_model_source_read(s, (size_t)i, QK_TYPE_F32, buf, bytes));
    *n = bytes / 4;
    return buf;
}

/* Every tensor of `a` is in `b` with the same shape and the same f32 bits. */
static void assert_sources_equal(const qk_model_source *a, const qk_model_source *b) {
    for (size_t i = 0; i < qk_model_source_tensor_count(a); i++) {
        qk_model_tensor ta, tb_;
        QK_ASSERT_OK(qk_model_source_tensor_info(a, i, &ta));
        int64_t j = qk_model_source_find_tensor(b, ta.name);
        if (j < 0) fail_msg("%s missing from the other source", ta.name);
        QK_ASSERT_OK(qk_model_source_tensor_info(b, (size_t)j, &tb_));
        assert_int_equal(ta.ndim, tb_.ndim);
        for (int d = 0; d < ta.ndim; d++) assert_int_equal(ta.shape[d], tb_.shape[d]);
        size_t na, nb;
        float *x = read_f32(a, ta.name, &na), *y = read_f32(b, ta.name, &nb);
        assert_int_equal(na, nb);
        if (memcmp(x, y, na * 4) != 0) {
            size_t k = 0;
            while (k < na && memcmp(&x[k], &y[k], 4) == 0) k++;
            fail_msg("%s differs at element %zu: %.9g vs %.9g", ta.name, k, (double)x[k],
                     (double)y[k]);
        }
        free(x);
        free(y);
    }
}

static void test_hf_equals_llama_cpp_gguf(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_model_source *hf = open_src(qk_test_fixture("models/fixture-llama-7m"), false);
    qk_model_source *gg = open_src(
        qk_test_fixture("golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-F32.gguf"), false);
    assert_int_equal(qk_model_source_format(hf), QK_MODEL_FORMAT_HF);
    assert_int_equal(qk_model_source_format(gg), QK_MODEL_FORMAT_GGUF);
    for (int k = 0; k < 2; k++) {
        const qk_model_hparams *h = qk_model_source_hparams(k ? gg : hf);
        assert_string_equal(h->arch, "llama");
        assert_int_equal(h->n_vocab, 4096);
        assert_int_equal(h->n_embd, 256);
        assert_int_equal(h->n_ff, 768);
        assert_int_equal(h->n_layer, 6);
        assert_int_equal(h->n_head, 8);
        assert_int_equal(h->n_head_kv, 4);
        assert_int_equal(h->head_dim, 32);
        assert_int_equal(h->n_ctx_train, 512);
        QK_ASSERT_F32_BITS_EQ(h->rms_eps, 1e-5f);
        QK_ASSERT_F32_BITS_EQ(h->rope_theta, 10000.0f);
        assert_false(h->tied_output);
        assert_false(h->attn_bias);
        assert_int_equal(h->bos_id, 1);
        assert_int_equal(h->eos_id, 2);
    }
    assert_int_equal(qk_model_source_tensor_count(hf), 57);
    assert_int_equal(qk_model_source_tensor_count(gg), 57);
    qk_model_tensor t;
    QK_ASSERT_OK(qk_model_source_tensor_info(
        hf, (size_t)qk_model_source_find_tensor(hf, "blk.1.attn_k.weight"), &t));
    assert_string_equal(t.file_name, "model.layers.1.self_attn.k_proj.weight");
    assert_int_equal(t.type, QK_TYPE_BF16);
    assert_true(t.permuted);
    assert_sources_equal(hf, gg);
    assert_sources_equal(gg, hf);

    /* the permutation is what makes them equal: HF's own layout differs */
    qk_model_source *raw = open_src(qk_test_fixture("models/fixture-llama-7m"), true);
    size_t n1, n2;
    float *a = read_f32(raw, "blk.0.attn_q.weight", &n1),
          *b = read_f32(gg, "blk.0.attn_q.weight", &n2);
    assert_int_equal(n1, n2);
    assert_true(memcmp(a, b, n1 * 4) != 0);
    free(a);
    free(b);
    a = read_f32(raw, "blk.0.attn_v.weight", &n1), b = read_f32(gg, "blk.0.attn_v.weight", &n2);
    assert_true(memcmp(a, b, n1 * 4) == 0); /* v is never permuted */
    free(a);
    free(b);
    qk_model_source_close(raw);
    qk_model_source_close(hf);
    qk_model_source_close(gg);
}

/* llama-convert-llama2c-to-ggml copies llama2.c's weights unpermuted, adds
** output.weight = token embeddings and writes context_length 128 (its
** default), not the checkpoint's seq_len 512. */
static void test_llama2c_equals_llama_cpp_gguf(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_model_source *gg =
        open_src(qk_test_fixture("golden/llama.cpp/stories260k/stories260K-f32.gguf"), false);
    const qk_model_hparams *hg = qk_model_source_hparams(gg);
    assert_int_equal(hg->n_ctx_train, 128);
    assert_false(hg->tied_output);
    assert_int_equal(qk_model_source_tensor_count(gg), 48);
    const char *files[2] = {"models/stories260k/stories260K.bin",
                            "models/stories260k/stories260K_v1.bin"};
    for (int f = 0; f < 2; f++) {
        qk_model_source *l2 = open_src(qk_test_fixture(files[f]), false);
        assert_int_equal(qk_model_source_format(l2), QK_MODEL_FORMAT_LLAMA2C);
        const qk_model_hparams *h = qk_model_source_hparams(l2);
        assert_int_equal(h->n_embd, hg->n_embd);
        assert_int_equal(h->n_ff, hg->n_ff);
        assert_int_equal(h->n_layer, hg->n_layer);
        assert_int_equal(h->n_head, hg->n_head);
        assert_int_equal(h->n_head_kv, hg->n_head_kv);
        assert_int_equal(h->head_dim, hg->head_dim);
        assert_int_equal(h->n_vocab, hg->n_vocab);
        QK_ASSERT_F32_BITS_EQ(h->rms_eps, hg->rms_eps);
        assert_int_equal(h->n_ctx_train, 512);
        assert_true(h->tied_output);
        assert_int_equal(qk_model_source_tensor_count(l2), 47);
        assert_sources_equal(l2, gg);
        size_t n1, n2;
        float *emb = read_f32(l2, "token_embd.weight", &n1),
              *out = read_f32(gg, "output.weight", &n2);
        assert_int_equal(n1, n2);
        assert_true(memcmp(emb, out, n1 * 4) == 0);
        free(emb);
        free(out);
        qk_model_source_close(l2);
    }
    qk_model_source_close(gg);
}

/* A tiny HF folder; every row of a 2-D tensor holds its row index (f32). */
typedef struct tiny {
    const char *arch;
    bool tied, qwen, drop_k, bad_k_rows;
} tiny;

static const char *write_tiny(const char *name, const tiny *o) {
    const char *dir = qk_test_tmp_path(name);
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\":[\"%s\"],\"hidden_size\":8,\"intermediate_size\":4,"
             "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,"
             "\"vocab_size\":3,\"max_position_embeddings\":16,\"rms_norm_eps\":1e-6,"
             "\"tie_word_embeddings\":%s}",
             o->arch, o->tied ? "true" : "false");
    assert_int_equal(qk_test_write_file(path, cfg, strlen(cfg)), 0);
    static float data[16][64];
    static char names[16][64];
    qk_io_tensor ts[16];
    int n = 0;
    struct {
        const char *name;
        int64_t rows, cols;
    } spec[] = {{"model.embed_tokens.weight", 3, 8},
                {"model.layers.0.input_layernorm.weight", 8, 0},
                {"model.layers.0.self_attn.q_proj.weight", 8, 8},
                {"model.layers.0.self_attn.k_proj.weight", o->bad_k_rows ? 8 : 4, 8},
                {"model.layers.0.self_attn.v_proj.weight", 4, 8},
                {"model.layers.0.self_attn.o_proj.weight", 8, 8},
                {"model.layers.0.post_attention_layernorm.weight", 8, 0},
                {"model.layers.0.mlp.gate_proj.weight", 4, 8},
                {"model.layers.0.mlp.down_proj.weight", 8, 4},
                {"model.layers.0.mlp.up_proj.weight", 4, 8},
                {"model.norm.weight", 8, 0},
                {"lm_head.weight", 3, 8},
                {"model.layers.0.self_attn.q_proj.bias", 8, 0},
                {"model.layers.0.self_attn.k_proj.bias", 4, 0},
                {"model.layers.0.self_attn.v_proj.bias", 4, 0}};
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        bool bias = strstr(spec[i].name, ".bias") != NULL;
        if (bias && !o->qwen) continue;
        if (o->tied && strcmp(spec[i].name, "lm_head.weight") == 0) continue;
        if (o->drop_k && strstr(spec[i].name, "k_proj.weight")) continue;
        int64_t cols = spec[i].cols ? spec[i].cols : 1;
        for (int64_t r = 0; r < spec[i].rows; r++)
            for (int64_t c = 0; c < cols; c++) data[n][r * cols + c] = (float)r + 0.125f * (float)c;
        snprintf(names[n], sizeof names[n], "%s", spec[i].name);
        ts[n] = (qk_io_tensor){.name = names[n],
                               .type = QK_TYPE_F32,
                               .ndim = spec[i].cols ? 2 : 1,
                               .shape = {spec[i].rows, spec[i].cols},
                               .data = data[n]};
        n++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    QK_ASSERT_OK(qk_safetensors_write(path, ts, (size_t)n, NULL, 0));
    return dir;
}

/* Row index of each row of a 2-D f32 tensor (column 0 holds it), or of
** each element of a vector. */
static void assert_row_order(const qk_model_source *s, const char *name, const int *order, int n) {
    size_t count;
    float *x = read_f32(s, name, &count);
    size_t cols = count / (size_t)n;
    for (int r = 0; r < n; r++)
        if (x[(size_t)r * cols] != (float)order[r])
            fail_msg("%s row %d holds source row %g, expected %d", name, r,
                     (double)x[(size_t)r * cols], order[r]);
    free(x);
}

static void test_permutation_by_hand(void **state) {
    (void)state;
    tiny o = {.arch = "LlamaForCausalLM"};
    const char *dir = write_tiny("tiny-llama", &o);
    qk_model_source *s = open_src(dir, false);
    /* q: 2 heads of 4 rows, halves [0,1 | 2,3] -> pairs (0,2)(1,3) */
    const int q_order[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    const int k_order[4] = {0, 2, 1, 3}; /* 1 KV head */
    const int identity[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    assert_row_order(s, "blk.0.attn_q.weight", q_order, 8);
    assert_row_order(s, "blk.0.attn_k.weight", k_order, 4);
    assert_row_order(s, "blk.0.attn_v.weight", identity, 4);
    assert_row_order(s, "blk.0.attn_output.weight", identity, 8);
    /* the whole row moves: column c of output row 1 is source row 2's */
    size_t n;
    float *q = read_f32(s, "blk.0.attn_q.weight", &n);
    for (int c = 0; c < 8; c++) QK_ASSERT_F32_BITS_EQ(q[8 + c], 2.0f + 0.125f * (float)c);
    free(q);
    /* read as the stored type and as bf16: same permutation */
    int64_t qi = qk_model_source_find_tensor(s, "blk.0.attn_q.weight");
    float raw[64];
    uint16_t half[64];
    QK_ASSERT_OK(qk_model_source_read(s, (size_t)qi, QK_TYPE_F32, raw, sizeof raw));
    QK_ASSERT_OK(qk_model_source_read(s, (size_t)qi, QK_TYPE_BF16, half, sizeof half));
    for (int i = 0; i < 64; i++) QK_ASSERT_F32_BITS_EQ(qk_bf16_to_f32(half[i]), raw[i]);
    QK_ASSERT_STATUS(qk_model_source_read(s, (size_t)qi, QK_TYPE_F32, raw, sizeof raw - 4),
                     QK_ERR_INVALID_ARG);
    QK_ASSERT_MSG_HAS("needs 256 bytes");
    QK_ASSERT_STATUS(qk_model_source_read(s, (size_t)qi, QK_TYPE_Q8_0, raw, sizeof raw),
                     QK_ERR_UNSUPPORTED);
    assert_false(qk_model_source_hparams(s)->tied_output);
    /* token_embd, 9 layer tensors, output_norm, output */
    assert_int_equal(qk_model_source_tensor_count(s), 12);
    qk_model_source_close(s);

    s = open_src(dir, true); /* HF layout kept */
    assert_row_order(s, "blk.0.attn_q.weight", identity, 8);
    qk_model_source_close(s);

    /* Mistral: same treatment */
    tiny m = {.arch = "MistralForCausalLM"};
    s = open_src(write_tiny("tiny-mistral", &m), false);
    assert_string_equal(qk_model_source_hparams(s)->arch, "llama");
    assert_row_order(s, "blk.0.attn_k.weight", k_order, 4);
    qk_model_source_close(s);
}

static void test_qwen2(void **state) {
    (void)state;
    tiny o = {.arch = "Qwen2ForCausalLM", .qwen = true, .tied = true};
    qk_model_source *s = open_src(write_tiny("tiny-qwen2", &o), false);
    const qk_model_hparams *h = qk_model_source_hparams(s);
    assert_string_equal(h->arch, "qwen2");
    assert_true(h->attn_bias);
    assert_true(h->tied_output);
    assert_int_equal(qk_model_source_find_tensor(s, "output.weight"), -1);
    /* token_embd, 9 layer tensors, 3 biases, output_norm; no output */
    assert_int_equal(qk_model_source_tensor_count(s), 14);
    const int identity[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    assert_row_order(s, "blk.0.attn_q.weight", identity, 8); /* NEOX rotary: no permutation */
    assert_row_order(s, "blk.0.attn_q.bias", identity, 8);
    assert_row_order(s, "blk.0.attn_k.bias", identity, 4);
    qk_model_tensor t;
    QK_ASSERT_OK(qk_model_source_tensor_info(
        s, (size_t)qk_model_source_find_tensor(s, "blk.0.attn_v.bias"), &t));
    assert_int_equal(t.ndim, 1);
    assert_int_equal(t.shape[0], 4);
    assert_false(t.permuted);
    qk_model_source_close(s);
}

static void test_errors(void **state) {
    (void)state;
    qk_model_source *s = NULL;
    tiny missing = {.arch = "LlamaForCausalLM", .drop_k = true};
    QK_ASSERT_STATUS(qk_model_source_open(write_tiny("tiny-missing", &missing), NULL, &s),
                     QK_ERR_NOT_FOUND);
    QK_ASSERT_MSG_HAS("model.layers.0.self_attn.k_proj.weight");
    assert_null(s);
    tiny bad = {.arch = "LlamaForCausalLM", .bad_k_rows = true};
    QK_ASSERT_STATUS(qk_model_source_open(write_tiny("tiny-bad", &bad), NULL, &s), QK_ERR_SHAPE);
    QK_ASSERT_MSG_HAS("blk.0.attn_k.weight");
    QK_ASSERT_MSG_HAS("[8, 8], expected [4, 8]");
    tiny other = {.arch = "GPT2LMHeadModel"};
    QK_ASSERT_STATUS(qk_model_source_open(write_tiny("tiny-gpt2", &other), NULL, &s),
                     QK_ERR_UNSUPPORTED);
    QK_ASSERT_MSG_HAS("GPT2LMHeadModel");
    QK_ASSERT_STATUS(qk_model_source_open(qk_test_tmp_path("nothing-here.bin"), NULL, &s),
                     QK_ERR_IO);

    QK_REQUIRE_FIXTURES();
    /* a quantized GGUF: raw reads only */
    s = open_src(qk_test_fixture("golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-Q8_0.gguf"),
                 false);
    int64_t i = qk_model_source_find_tensor(s, "blk.0.attn_q.weight");
    qk_model_tensor t;
    QK_ASSERT_OK(qk_model_source_tensor_info(s, (size_t)i, &t));
    assert_int_equal(t.type, QK_TYPE_Q8_0);
    unsigned char *buf = malloc(t.nbytes);
    QK_ASSERT_OK(qk_model_source_read(s, (size_t)i, QK_TYPE_Q8_0, buf, t.nbytes));
    assert_memory_equal(buf, t.data, t.nbytes);
    QK_ASSERT_STATUS(qk_model_source_read(s, (size_t)i, QK_TYPE_F32, buf, t.nbytes),
                     QK_ERR_UNSUPPORTED);
    QK_ASSERT_MSG_HAS("q8_0");
    free(buf);
    qk_model_source_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_equals_llama_cpp_gguf),
        cmocka_unit_test(test_llama2c_equals_llama_cpp_gguf),
        cmocka_unit_test(test_permutation_by_hand),
        cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
