/*
** llama2.c checkpoints: the stories260K fixtures in both layouts (same
** tensors), hand-made files with a separate classifier, and broken headers
** and data.
*/
#include "io_test_util.h"

static qk_status l2c_open_bytes(const tb *b, const char *name) {
    qk_llama2c *m = NULL;
    qk_clear_error();
    qk_status st = qk_llama2c_open(tb_save(b, name), &m);
    if (st == QK_OK)
        assert_non_null(m);
    else
        assert_null(m);
    qk_llama2c_close(m);
    return st;
}

/* stories260K: dim 64, hidden 172, 5 layers, 8 heads, 4 KV heads, vocab
** 512, seq_len 512, shared classifier (fixtures/README.md). */
static void test_fixtures(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_llama2c *m0 = NULL, *m1 = NULL;
    QK_ASSERT_OK(qk_llama2c_open(qk_test_fixture("models/stories260k/stories260K.bin"), &m0));
    QK_ASSERT_OK(qk_llama2c_open(qk_test_fixture("models/stories260k/stories260K_v1.bin"), &m1));
    const qk_llama2c_config *c0 = qk_llama2c_get_config(m0), *c1 = qk_llama2c_get_config(m1);
    assert_int_equal(c0->version, 0);
    assert_int_equal(c1->version, 1);
    for (int k = 0; k < 2; k++) {
        const qk_llama2c_config *c = k ? c1 : c0;
        assert_int_equal(c->dim, 64);
        assert_int_equal(c->hidden_dim, 172);
        assert_int_equal(c->n_layers, 5);
        assert_int_equal(c->n_heads, 8);
        assert_int_equal(c->n_kv_heads, 4);
        assert_int_equal(c->vocab_size, 512);
        assert_int_equal(c->seq_len, 512);
        assert_true(c->shared_classifier);
    }
    /* 2 + 5 x 9 tensors, no output.weight (shared) */
    assert_int_equal(qk_llama2c_tensor_count(m0), 47);
    assert_int_equal(qk_llama2c_tensor_count(m1), 47);
    assert_int_equal(qk_llama2c_find_tensor(m0, "output.weight"), -1);

    qk_io_tensor t;
    QK_ASSERT_OK(qk_llama2c_tensor_info(m0, 0, &t));
    assert_string_equal(t.name, "tok_embeddings.weight");
    assert_int_equal(t.offset, 28);
    QK_ASSERT_OK(qk_llama2c_tensor_info(m1, 0, &t));
    /* v1: after the header come rms_att (5 x 64), rms_ffn (5 x 64), rms_final (64) */
    assert_int_equal(t.offset, 256 + (5 * 64 + 5 * 64 + 64) * 4);
    QK_ASSERT_OK(qk_llama2c_tensor_info(
        m0, (size_t)qk_llama2c_find_tensor(m0, "layers.2.attention.wk.weight"), &t));
    assert_int_equal(t.shape[0], 32); /* 4 KV heads x head size 8 */
    assert_int_equal(t.shape[1], 64);
    /* legacy: emb 512x64, rms_att 5x64, wq 5x64x64, then wk layer 2 */
    assert_int_equal(t.offset, 28 + 4 * (512 * 64 + 5 * 64 + 5 * 64 * 64 + 2 * 32 * 64));
    QK_ASSERT_OK(qk_llama2c_tensor_info(
        m0, (size_t)qk_llama2c_find_tensor(m0, "layers.4.feed_forward.w2.weight"), &t));
    assert_int_equal(t.shape[0], 64);
    assert_int_equal(t.shape[1], 172);

    /* both layouts hold identical tensors */
    for (size_t i = 0; i < 47; i++) {
        qk_io_tensor a, b;
        QK_ASSERT_OK(qk_llama2c_tensor_info(m0, i, &a));
        QK_ASSERT_OK(qk_llama2c_tensor_info(m1, i, &b));
        assert_string_equal(a.name, b.name);
        assert_int_equal(a.ndim, b.ndim);
        assert_int_equal(a.shape[0], b.shape[0]);
        assert_int_equal(a.shape[1], b.shape[1]);
        assert_int_equal(a.nbytes, b.nbytes);
        if (memcmp(a.data, b.data, a.nbytes) != 0) fail_msg("tensor %s differs", a.name);
    }
    qk_llama2c_close(m0);
    qk_llama2c_close(m1);
}

/* A tiny model: dim 4, hidden 6, 2 layers, 2 heads, 1 KV head, vocab 5,
** seq_len 3, separate classifier. Float k of the data is k. */
enum { D = 4, H = 6, L = 2, NH = 2, NKV = 1, V = 5, S = 3, HS = D / NH };

static void build_tiny(tb *b, int version, bool shared) {
    memset(b, 0, sizeof *b);
    int32_t hdr[7] = {D, H, L, NH, NKV, shared || version == 1 ? V : -V, S};
    if (version == 1) {
        tb_u32(b, 0x616b3432u);
        tb_u32(b, 1);
        for (int i = 0; i < 7; i++) tb_u32(b, (uint32_t)hdr[i]);
        tb_u8(b, shared ? 1 : 0);
        while (b->n < 256) tb_u8(b, 0);
    } else {
        for (int i = 0; i < 7; i++) tb_u32(b, (uint32_t)hdr[i]);
    }
    size_t floats = V * D + L * D + L * D * D + 2 * L * NKV * HS * D + L * D * D + L * D +
                    3 * L * H * D + D + (shared ? 0 : V * D) + (version == 0 ? S * HS : 0);
    for (size_t k = 0; k < floats; k++) tb_f32(b, (float)k);
}

static float first_value(const qk_io_tensor *t) {
    float v;
    memcpy(&v, t->data, 4);
    return v;
}

static void test_tiny_layouts(void **state) {
    (void)state;
    tb b;
    build_tiny(&b, 0, false);
    qk_llama2c *m = NULL;
    QK_ASSERT_OK(qk_llama2c_open(tb_save(&b, "tiny0.bin"), &m));
    assert_false(qk_llama2c_get_config(m)->shared_classifier);
    assert_int_equal(qk_llama2c_get_config(m)->vocab_size, V);
    assert_int_equal(qk_llama2c_tensor_count(m), 2 + 9 * L + 1);
    qk_io_tensor t;
    /* legacy order (floats, all layers): emb 20, rms_att 8, wq 32, wk 16, wv 16, wo 32,
    ** rms_ffn 8, w1 48, w2 48, w3 48, rms_final 4, freq 6, wcls 20; one layer's wv is 8 */
    QK_ASSERT_OK(qk_llama2c_tensor_info(
        m, (size_t)qk_llama2c_find_tensor(m, "layers.1.attention.wv.weight"), &t));
    QK_ASSERT_F32_BITS_EQ(first_value(&t), 20 + 8 + 32 + 16 + 8.0f);
    assert_int_equal(t.shape[0], NKV * HS);
    assert_int_equal(t.shape[1], D);
    QK_ASSERT_OK(qk_llama2c_tensor_info(m, (size_t)qk_llama2c_find_tensor(m, "norm.weight"), &t));
    QK_ASSERT_F32_BITS_EQ(first_value(&t), 20 + 8 + 32 + 16 + 16 + 32 + 8 + 48 * 3.0f);
    QK_ASSERT_OK(qk_llama2c_tensor_info(m, (size_t)qk_llama2c_find_tensor(m, "output.weight"), &t));
    QK_ASSERT_F32_BITS_EQ(first_value(&t), 20 + 8 + 32 + 16 + 16 + 32 + 8 + 48 * 3 + 4 + 6.0f);
    assert_int_equal(t.shape[0], V);
    qk_llama2c_close(m);
    tb_free(&b);

    build_tiny(&b, 1, false);
    QK_ASSERT_OK(qk_llama2c_open(tb_save(&b, "tiny1.bin"), &m));
    assert_int_equal(qk_llama2c_get_config(m)->version, 1);
    /* v1 order: rms_att 8, rms_ffn 8, rms_final 4, emb 20, wq 32, wk 16, wv 16, wo 32,
    ** w1 48, w2 48, w3 48, wcls 20; one layer's ffn_norm is 4, w3 24 */
    QK_ASSERT_OK(qk_llama2c_tensor_info(
        m, (size_t)qk_llama2c_find_tensor(m, "layers.1.ffn_norm.weight"), &t));
    QK_ASSERT_F32_BITS_EQ(first_value(&t), 8 + 4.0f);
    QK_ASSERT_OK(
        qk_llama2c_tensor_info(m, (size_t)qk_llama2c_find_tensor(m, "tok_embeddings.weight"), &t));
    QK_ASSERT_F32_BITS_EQ(first_value(&t), 20.0f);
    QK_ASSERT_OK(qk_llama2c_tensor_info(
        m, (size_t)qk_llama2c_find_tensor(m, "layers.1.feed_forward.w3.weight"), &t));
    QK_ASSERT_F32_BITS_EQ(first_value(&t), 20 + 20 + 32 + 16 + 16 + 32 + 48 + 48 + 24.0f);
    QK_ASSERT_OK(qk_llama2c_tensor_info(m, (size_t)qk_llama2c_find_tensor(m, "output.weight"), &t));
    QK_ASSERT_F32_BITS_EQ(first_value(&t), 20 + 20 + 32 + 16 + 16 + 32 + 48 * 3.0f);
    qk_llama2c_close(m);
    tb_free(&b);
}

static void test_broken(void **state) {
    (void)state;
    tb b;
    build_tiny(&b, 0, true);
    QK_ASSERT_OK(l2c_open_bytes(&b, "ok.bin"));
    tb_set_u32(&b, 0, (uint32_t)-4);
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "neg_dim.bin"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("dim = -4 (byte 0)");
    QK_ASSERT_MSG_HAS("neg_dim.bin");
    tb_set_u32(&b, 0, D);
    tb_set_u32(&b, 16, 0);
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "zero_kv.bin"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("n_kv_heads = 0 (byte 16)");
    tb_set_u32(&b, 16, 3);
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "kv3.bin"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("not a multiple of n_kv_heads 3");
    tb_set_u32(&b, 16, NKV);
    tb_set_u32(&b, 12, 3);
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "heads3.bin"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("dim 4 is not a multiple of n_heads 3");
    tb_set_u32(&b, 12, NH);
    tb_set_u32(&b, 20, 0);
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "vocab0.bin"), QK_ERR_CORRUPT);
    tb_set_u32(&b, 20, V);

    /* huge dims: no overflow, just not enough bytes */
    tb_set_u32(&b, 0, 1u << 30);
    tb_set_u32(&b, 4, 0x7FFFFFFF);
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "huge.bin"), QK_ERR_TRUNCATED);
    QK_ASSERT_MSG_HAS("tensor 'tok_embeddings.weight' at byte 28");
    tb_set_u32(&b, 0, D);
    tb_set_u32(&b, 4, H);

    size_t full = b.n;
    b.n = full - 4; /* the last 4 bytes (rms_final's end + freq table) missing */
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "short.bin"), QK_ERR_TRUNCATED);
    QK_ASSERT_MSG_HAS("freq_cis");
    /* cut in the middle of the stacked w2: names the layer whose tensor does not fit */
    b.n = 28 + 4 * (V * D + L * D + L * D * D + 2 * L * NKV * HS * D + L * D * D + L * D +
                    L * H * D + H * D + 3);
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "short_w2.bin"), QK_ERR_TRUNCATED);
    QK_ASSERT_MSG_HAS("tensor 'layers.1.feed_forward.w2.weight'");
    b.n = full;
    tb_u32(&b, 0);
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "trailing.bin"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("4 trailing bytes");
    b.n = 20;
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "header.bin"), QK_ERR_TRUNCATED);
    tb_free(&b);

    build_tiny(&b, 1, true);
    b.d[36] = 7;
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "flag.bin"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("byte 36");
    b.d[36] = 1;
    tb_set_u32(&b, 4, 2);
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "v2.bin"), QK_ERR_UNSUPPORTED);
    QK_ASSERT_MSG_HAS("version 2");
    tb_set_u32(&b, 4, 1);
    tb_set_u32(&b, 28, (uint32_t)-5); /* negative vocab in v1 */
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "v1neg.bin"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("vocab_size = -5 (byte 28)");
    b.n = 100;
    QK_ASSERT_STATUS(l2c_open_bytes(&b, "v1short.bin"), QK_ERR_TRUNCATED);
    tb_free(&b);

    /* every prefix fails cleanly */
    build_tiny(&b, 0, false);
    size_t n = b.n;
    for (size_t k = 0; k < n; k += 3) {
        b.n = k;
        qk_status st = l2c_open_bytes(&b, "sweep.bin");
        if (st != QK_ERR_TRUNCATED && st != QK_ERR_CORRUPT)
            fail_msg("prefix of %zu bytes: %s (%s)", k, qk_status_name(st), qk_last_error());
    }
    tb_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_tiny_layouts),
        cmocka_unit_test(test_broken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
