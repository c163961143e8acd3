/*
** Checkpoints of the real fixture model (fixture-llama-7m, bf16):
**   - round-to-nearest into every format: reading each checkpoint back gives
**     exactly the dequantized RTN weights, computed here without any
**     checkpoint code (qk_checkpoint_rtn_linear + dequantize), and every
**     other tensor is the source's, bit for bit;
**   - the same checkpoint from llama.cpp's F32 GGUF of the model (q/k rows in
**     llama.cpp's order) and from the HF folder read in HF's own row order
**     hold byte-identical packed tensors: the writer's row reordering is
**     right without relying on the reader;
**   - perplexity of the checkpoint equals that of the model holding the
**     dequantized weights in f32 (1e-6 relative; in fact identical).
** labels: fixtures
*/
#include "ckpt_test_util.h"

static const char *model_dir(void) {
    return qk_test_fixture("models/fixture-llama-7m");
}

static const char *const NAMES7[7] = {"attn_q",   "attn_k",   "attn_v", "attn_output",
                                      "ffn_gate", "ffn_down", "ffn_up"};

/* The RTN weights of every linear of `src`, dequantized (f32, presented order). */
static float **expected_weights(const qk_model_source *src, const qk_checkpoint_config *c) {
    const qk_model_hparams *h = qk_model_source_hparams(src);
    float **w = calloc((size_t)h->n_layer * 7, sizeof *w);
    for (int l = 0; l < h->n_layer; l++)
        for (int k = 0; k < 7; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, NAMES7[k]);
            int64_t i = qk_model_source_find_tensor(src, name);
            qk_model_tensor t;
            QK_ASSERT_OK(qk_model_source_tensor_info(src, (size_t)i, &t));
            const int64_t n = t.shape[0] * t.shape[1];
            float *x = malloc((size_t)n * 4);
            QK_ASSERT_OK(qk_model_source_read_f32(src, (size_t)i, x, n, NULL, 0));
            qk_quantized_linear q;
            QK_ASSERT_OK(qk_checkpoint_rtn_linear(x, t.shape[0], t.shape[1], c->bits, c->group_size,
                                                  c->symmetric, &q));
            /* RTN picks f16 scales already: the writer's rounding changes nothing */
            float *before = malloc((size_t)(q.n_groups * q.rows) * 4);
            memcpy(before, q.scales, (size_t)(q.n_groups * q.rows) * 4);
            QK_ASSERT_OK(qk_checkpoint_round_scales(&q));
            assert_memory_equal(before, q.scales, (size_t)(q.n_groups * q.rows) * 4);
            free(before);
            QK_ASSERT_OK(qk_quantized_linear_dequantize(&q, x));
            qk_quantized_linear_free(&q);
            w[l * 7 + k] = x;
        }
    return w;
}

typedef struct variant {
    qk_checkpoint_format format;
    int bits, group;
    bool sym;
} variant;

static void test_round_trip_exact(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const variant v[] = {
        {QK_CHECKPOINT_GPTQ, 4, 128, false},
        {QK_CHECKPOINT_GPTQ_V2, 4, 128, false},
        {QK_CHECKPOINT_AWQ, 4, 128, false},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 4, 128, false},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 4, 128, true},
        {QK_CHECKPOINT_GPTQ, 3, 128, true},
        {QK_CHECKPOINT_GPTQ_V2, 2, 64, false},
        {QK_CHECKPOINT_GPTQ_V2, 8, -1, false},
        {QK_CHECKPOINT_AWQ, 4, -1, false},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 3, 32, false},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 8, -1, true},
    };
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(model_dir(), NULL, &src));
    const qk_model_hparams *h = qk_model_source_hparams(src);
    for (size_t vi = 0; vi < sizeof v / sizeof v[0]; vi++) {
        qk_checkpoint_options opt;
        qk_checkpoint_options_init(&opt, v[vi].format);
        opt.config.bits = v[vi].bits;
        opt.config.group_size = v[vi].group;
        opt.config.symmetric = v[vi].sym;
        char name[64];
        snprintf(name, sizeof name, "fixture-%s-w%dg%d%s", qk_checkpoint_format_name(v[vi].format),
                 v[vi].bits, v[vi].group, v[vi].sym ? "s" : "");
        const char *out = qk_test_tmp_path(name);
        qk_checkpoint_report rep;
        QK_ASSERT_OK(qk_checkpoint_quantize(model_dir(), out, &opt, NULL, NULL, NULL, NULL, &rep));
        print_message(
            "%-40s folder %9llu bytes, model.safetensors %9llu, linears %.4f bits/weight\n", name,
            (unsigned long long)rep.folder_bytes, (unsigned long long)rep.file_bytes,
            rep.bits_per_weight);
        float **want = expected_weights(src, &opt.config);
        qk_model_source *ck;
        QK_ASSERT_OK(qk_model_source_open(out, NULL, &ck));
        assert_int_equal(qk_model_source_tensor_count(ck), qk_model_source_tensor_count(src));
        for (int l = 0; l < h->n_layer; l++)
            for (int k = 0; k < 7; k++) {
                char tn[64];
                snprintf(tn, sizeof tn, "blk.%d.%s.weight", l, NAMES7[k]);
                int64_t i = qk_model_source_find_tensor(ck, tn);
                qk_model_tensor t;
                QK_ASSERT_OK(qk_model_source_tensor_info(ck, (size_t)i, &t));
                const size_t n = (size_t)(t.shape[0] * t.shape[1]);
                float *got = malloc(n * 4);
                QK_ASSERT_OK(qk_model_source_read(ck, (size_t)i, QK_TYPE_F32, got, n * 4));
                if (memcmp(got, want[l * 7 + k], n * 4) != 0)
                    fail_msg("%s: %s differs from the dequantized RTN weights", name, tn);
                free(got);
                free(want[l * 7 + k]);
            }
        free(want);
        for (size_t i = 0; i < qk_model_source_tensor_count(src); i++) {
            qk_model_tensor a, b;
            QK_ASSERT_OK(qk_model_source_tensor_info(src, i, &a));
            if (a.ndim == 2 && strncmp(a.name, "blk.", 4) == 0) continue;
            QK_ASSERT_OK(qk_model_source_tensor_info(
                ck, (size_t)qk_model_source_find_tensor(ck, a.name), &b));
            assert_int_equal(a.type, b.type);
            assert_memory_equal(a.data, b.data, a.nbytes);
        }
        qk_model_source_close(ck);
    }
    qk_model_source_close(src);
}

/* The packed tensors of two checkpoints of the same weights are identical. */
static void assert_same_linears(const char *a_dir, const char *b_dir) {
    char a_path[4200], b_path[4200];
    snprintf(a_path, sizeof a_path, "%s/model.safetensors", a_dir);
    snprintf(b_path, sizeof b_path, "%s/model.safetensors", b_dir);
    qk_safetensors *a, *b;
    QK_ASSERT_OK(qk_safetensors_open(a_path, &a));
    QK_ASSERT_OK(qk_safetensors_open(b_path, &b));
    size_t checked = 0;
    for (size_t i = 0; i < qk_safetensors_tensor_count(a); i++) {
        qk_io_tensor ta, tb;
        QK_ASSERT_OK(qk_safetensors_tensor_info(a, i, &ta));
        const char *dot = strrchr(ta.name, '.');
        if (strcmp(dot, ".weight") == 0) continue; /* embeddings, norms, lm_head */
        int64_t j = qk_safetensors_find_tensor(b, ta.name);
        if (j < 0) fail_msg("%s missing from %s", ta.name, b_path);
        QK_ASSERT_OK(qk_safetensors_tensor_info(b, (size_t)j, &tb));
        assert_int_equal(ta.type, tb.type);
        assert_int_equal(ta.nbytes, tb.nbytes);
        if (memcmp(ta.data, tb.data, ta.nbytes) != 0) fail_msg("%s differs", ta.name);
        checked++;
    }
    assert_int_equal(checked, 6 * 7 * 4); /* qweight, qzeros, scales, g_idx per linear */
    qk_safetensors_close(a);
    qk_safetensors_close(b);
}

/* RTN of the source's weights as presented (a qk_checkpoint_quantize_fn). */
static qk_status rtn(void *user, const char *name, const float *w, int64_t rows, int64_t cols,
                     const qk_checkpoint_config *c, qk_quantized_linear *out) {
    (void)user, (void)name;
    return qk_checkpoint_rtn_linear(w, rows, cols, c->bits, c->group_size, c->symmetric, out);
}

static void test_row_order(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_checkpoint_options opt;
    qk_checkpoint_options_init(&opt, QK_CHECKPOINT_GPTQ_V2);
    char from_hf[4096], from_gguf[4096], from_hf_layout[4096];
    snprintf(from_hf, sizeof from_hf, "%s", qk_test_tmp_path("order-hf"));
    snprintf(from_gguf, sizeof from_gguf, "%s", qk_test_tmp_path("order-gguf"));
    snprintf(from_hf_layout, sizeof from_hf_layout, "%s", qk_test_tmp_path("order-hf-layout"));
    /* HF folder (q/k presented in llama.cpp's order, reordered by the writer) */
    QK_ASSERT_OK(qk_checkpoint_quantize(model_dir(), from_hf, &opt, rtn, NULL, NULL, NULL, NULL));
    /* llama.cpp's F32 GGUF of the same model (equal to the HF weights as f32) */
    const char *gguf =
        qk_test_fixture("golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-F32.gguf");
    QK_ASSERT_OK(qk_checkpoint_quantize(gguf, from_gguf, &opt, rtn, NULL, NULL, NULL, NULL));
    assert_same_linears(from_hf, from_gguf);
    /* the HF folder read in HF's order: RTN is per row, so the same codes land
    ** in the same HF rows without any reordering by the writer */
    qk_model_source_options o = {.hf_layout = true};
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(model_dir(), &o, &src));
    qk_checkpoint_writer *w;
    QK_ASSERT_OK(qk_checkpoint_writer_create(from_hf_layout, src, &opt, &w));
    const qk_model_hparams *h = qk_model_source_hparams(src);
    float *x = malloc(768 * 256 * 4);
    for (int l = 0; l < h->n_layer; l++)
        for (int k = 0; k < 7; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, NAMES7[k]);
            int64_t i = qk_model_source_find_tensor(src, name);
            qk_model_tensor t;
            QK_ASSERT_OK(qk_model_source_tensor_info(src, (size_t)i, &t));
            assert_false(t.permuted);
            QK_ASSERT_OK(
                qk_model_source_read_f32(src, (size_t)i, x, t.shape[0] * t.shape[1], NULL, 0));
            qk_quantized_linear q;
            QK_ASSERT_OK(rtn(NULL, name, x, t.shape[0], t.shape[1], &opt.config, &q));
            QK_ASSERT_OK(qk_checkpoint_writer_add_linear(w, name, &q));
            qk_quantized_linear_free(&q);
        }
    free(x);
    QK_ASSERT_OK(qk_checkpoint_writer_commit(w, NULL));
    qk_checkpoint_writer_free(w);
    qk_model_source_close(src);
    assert_same_linears(from_hf, from_hf_layout);
    /* the GGUF source's checkpoint has a config.json made from the
    ** hyper-parameters: it opens with the HF model's */
    qk_model_source *a, *b;
    QK_ASSERT_OK(qk_model_source_open(model_dir(), NULL, &a));
    QK_ASSERT_OK(qk_model_source_open(from_gguf, NULL, &b));
    const qk_model_hparams *ha = qk_model_source_hparams(a), *hb = qk_model_source_hparams(b);
    assert_string_equal(ha->arch, hb->arch);
    assert_int_equal(ha->n_vocab, hb->n_vocab);
    assert_int_equal(ha->n_embd, hb->n_embd);
    assert_int_equal(ha->n_ff, hb->n_ff);
    assert_int_equal(ha->n_layer, hb->n_layer);
    assert_int_equal(ha->n_head, hb->n_head);
    assert_int_equal(ha->n_head_kv, hb->n_head_kv);
    assert_int_equal(ha->head_dim, hb->head_dim);
    QK_ASSERT_F32_BITS_EQ(ha->rms_eps, hb->rms_eps);
    QK_ASSERT_F32_BITS_EQ(ha->rope_theta, hb->rope_theta);
    assert_int_equal(ha->tied_output, hb->tied_output);
    qk_model_source_close(a);
    qk_model_source_close(b);
}

static void test_perplexity(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *ck = qk_test_tmp_path("fixture-gptq-w4g128"); /* from test_round_trip_exact */
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(model_dir(), NULL, &src));
    qk_checkpoint_config c;
    qk_checkpoint_config_init(&c, QK_CHECKPOINT_GPTQ);
    c.symmetric = false;
    float **w = expected_weights(src, &c);
    qk_llama_model *ref, *m;
    QK_ASSERT_OK(qk_llama_model_from_source(src, &ref));
    const qk_llama_hparams *hp = qk_llama_model_hparams(ref);
    const qk_llama_linear which[7] = {QK_LINEAR_Q,    QK_LINEAR_K,    QK_LINEAR_V, QK_LINEAR_O,
                                      QK_LINEAR_GATE, QK_LINEAR_DOWN, QK_LINEAR_UP};
    for (int l = 0; l < hp->n_layer; l++)
        for (int k = 0; k < 7; k++) {
            const qk_tensor_view *cur = NULL;
            const qk_llama_layer_weights *lw = qk_llama_model_layer(ref, l);
            const qk_tensor_view *all[7] = {&lw->wq,     &lw->wk,     &lw->wv,  &lw->wo,
                                            &lw->w_gate, &lw->w_down, &lw->w_up};
            cur = all[k];
            qk_tensor_view v;
            QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 2, cur->shape, w[l * 7 + k]));
            QK_ASSERT_OK(qk_llama_model_replace_linear(ref, l, which[k], &v));
            free(w[l * 7 + k]);
        }
    free(w);
    QK_ASSERT_OK(qk_llama_model_load(ck, &m));
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_load_for_model(ck, NULL, NULL, &tok));
    size_t n;
    char *text = (char *)qk_test_read_file(qk_test_fixture("text/kjv-luke.txt"), &n);
    assert_non_null(text);
    int32_t *ids;
    size_t n_ids;
    QK_ASSERT_OK(
        qk_tokenizer_encode_alloc(tok, text, n < 20000 ? n : 20000, false, false, &ids, &n_ids));
    qk_ppl_result a, b;
    qk_llama_context *ca, *cb;
    QK_ASSERT_OK(qk_llama_context_create(ref, 256, &ca));
    QK_ASSERT_OK(qk_llama_context_create(m, 256, &cb));
    QK_ASSERT_OK(qk_perplexity(ca, NULL, ids, (int64_t)n_ids, 256, 3, 1, NULL, NULL, &a));
    QK_ASSERT_OK(qk_perplexity(cb, NULL, ids, (int64_t)n_ids, 256, 3, 1, NULL, NULL, &b));
    print_message("perplexity (3 chunks of 256): f32 dequantized %.6f, gptq checkpoint %.6f\n",
                  a.ppl, b.ppl);
    assert_int_equal(a.n_scored, b.n_scored);
    QK_ASSERT_NEAR_REL(b.ppl, a.ppl, 1e-6);
    qk_llama_context_free(ca);
    qk_llama_context_free(cb);
    free(ids);
    free(text);
    qk_tokenizer_free(tok);
    qk_llama_model_free(ref);
    qk_llama_model_free(m);
    qk_model_source_close(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_exact),
        cmocka_unit_test(test_row_order),
        cmocka_unit_test(test_perplexity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
