/*
** The model's sub-block forward (attention block and MLP on a normalised
** input) composes back into qk_llama_layer_forward; per-linear kernels
** replace qk_matmul in decode, own their state, and report errors with the
** tensor's name.
*/
#include "qk_test.h"

#include "qk_test_model.h"

static void rms_norm_ref(const float *x, const float *w, float *y, int n_rows, int n, float eps) {
    for (int r = 0; r < n_rows; r++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += (double)x[r * n + i] * x[r * n + i];
        const float k = 1.0f / sqrtf((float)(s / n) + eps);
        for (int i = 0; i < n; i++) y[r * n + i] = x[r * n + i] * k * w[i];
    }
}

static void test_blocks_compose_layer(void **state) {
    (void)state;
    const qk_llama_hparams hp = {.n_vocab = 20,
                                 .n_embd = 24,
                                 .n_ff = 40,
                                 .n_layer = 2,
                                 .n_head = 6,
                                 .n_head_kv = 2,
                                 .head_dim = 4,
                                 .n_ctx_train = 64,
                                 .rms_eps = 1e-5f,
                                 .rope_theta = 10000.0f,
                                 .attn_bias = true};
    qk_llama_model *m = qk_test_random_model(&hp, 8);
    enum { NS = 3, T = 7, E = 24, N = NS * T };
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 4);
    float x[N * E], y[N * E], xn[N * E], out[N * E];
    qk_test_fill_normal(&rng, x, N * E, 1.0f);
    memcpy(y, x, sizeof x);
    const qk_llama_layer_weights *lw = qk_llama_model_layer(m, 1);
    QK_ASSERT_OK(qk_llama_layer_forward(&hp, 1, lw, y, NS, T, NULL, NULL));
    rms_norm_ref(x, lw->attn_norm.data, xn, N, E, hp.rms_eps);
    QK_ASSERT_OK(qk_llama_block_forward(&hp, 1, lw, QK_LLAMA_BLOCK_ATTN, xn, out, NS, T));
    for (int i = 0; i < N * E; i++) x[i] += out[i];
    rms_norm_ref(x, lw->ffn_norm.data, xn, N, E, hp.rms_eps);
    QK_ASSERT_OK(qk_llama_block_forward(&hp, 1, lw, QK_LLAMA_BLOCK_MLP, xn, out, NS, T));
    for (int i = 0; i < N * E; i++)
        QK_ASSERT_NEAR_ABS(x[i] + out[i], y[i], 1e-6 * (1 + fabs(y[i])));
    /* sequences are independent: the second alone gives the same output */
    float one[T * E];
    QK_ASSERT_OK(qk_llama_block_forward(&hp, 1, lw, QK_LLAMA_BLOCK_ATTN, xn + T * E, one, 1, T));
    float all[N * E];
    QK_ASSERT_OK(qk_llama_block_forward(&hp, 1, lw, QK_LLAMA_BLOCK_ATTN, xn, all, NS, T));
    for (int i = 0; i < T * E; i++) QK_ASSERT_F32_BITS_EQ(one[i], all[T * E + i]);
    QK_ASSERT_STATUS(qk_llama_block_forward(&hp, 1, lw, (qk_llama_block)7, xn, out, NS, T),
                     QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_llama_block_forward(&hp, 1, lw, QK_LLAMA_BLOCK_MLP, xn, out, NS, 0),
                     QK_ERR_INVALID_ARG);
    qk_llama_model_free(m);
}

/* A kernel computing 2 x W^T with its own copy of W, counting calls and
** frees. */
typedef struct twice {
    qk_tensor_view w;
    float *data;
    int *frees;
    int calls;
    bool fail;
} twice;

static qk_status twice_matmul(void *state, const float *x, int64_t n_rows, float *y) {
    twice *t = state;
    t->calls++;
    if (t->fail) return QK_ERR_NUMERIC;
    qk_status st = qk_matmul(&t->w, x, n_rows, y);
    for (int64_t i = 0; st == QK_OK && i < n_rows * t->w.shape[0]; i++) y[i] *= 2.0f;
    return st;
}

static void twice_free(void *state) {
    twice *t = state;
    (*t->frees)++;
    free(t->data);
    free(t);
}

static twice *twice_new(const qk_tensor_view *w, int *frees) {
    twice *t = calloc(1, sizeof *t);
    size_t bytes;
    QK_ASSERT_OK(qk_tensor_view_nbytes(w, &bytes));
    t->data = malloc(bytes);
    memcpy(t->data, w->data, bytes);
    t->w = *w;
    t->w.data = t->data;
    t->frees = frees;
    return t;
}

static void test_linear_kernels(void **state) {
    (void)state;
    const qk_llama_hparams hp = {.n_vocab = 20,
                                 .n_embd = 16,
                                 .n_ff = 24,
                                 .n_layer = 2,
                                 .n_head = 4,
                                 .n_head_kv = 4,
                                 .head_dim = 4,
                                 .n_ctx_train = 32,
                                 .rms_eps = 1e-5f,
                                 .rope_theta = 10000.0f};
    qk_llama_model *m = qk_test_random_model(&hp, 3);
    enum { T = 5, V = 20 };
    const int32_t tokens[T] = {1, 4, 9, 16, 3};
    float base[T * V], got[T * V];
    qk_llama_context *ctx;
    QK_ASSERT_OK(qk_llama_context_create(m, T, &ctx));
    QK_ASSERT_OK(qk_llama_decode(ctx, tokens, T, base, true));

    int frees = 0;
    twice *t = twice_new(qk_llama_model_output(m), &frees);
    qk_linear_kernel k = {twice_matmul, twice_free, t};
    QK_ASSERT_OK(qk_llama_model_set_linear_kernel(m, -1, QK_LINEAR_OUTPUT, &k));
    qk_llama_context_reset(ctx);
    QK_ASSERT_OK(qk_llama_decode(ctx, tokens, T, got, true));
    assert_int_equal(t->calls, 1);
    for (int i = 0; i < T * V; i++) QK_ASSERT_F32_BITS_EQ(got[i], 2.0f * base[i]);

    /* a failing kernel: the error names the tensor */
    t->fail = true;
    qk_llama_context_reset(ctx);
    QK_ASSERT_STATUS(qk_llama_decode(ctx, tokens, T, got, true), QK_ERR_NUMERIC);
    assert_non_null(strstr(qk_last_error(), "output.weight"));

    /* removing it frees the state and restores the plain product */
    QK_ASSERT_OK(qk_llama_model_set_linear_kernel(m, -1, QK_LINEAR_OUTPUT, NULL));
    assert_int_equal(frees, 1);
    qk_llama_context_reset(ctx);
    QK_ASSERT_OK(qk_llama_decode(ctx, tokens, T, got, true));
    for (int i = 0; i < T * V; i++) QK_ASSERT_F32_BITS_EQ(got[i], base[i]);

    /* a kernel on a layer linear; replacing the weight drops it */
    const qk_llama_layer_weights *lw = qk_llama_model_layer(m, 1);
    twice *t2 = twice_new(&lw->w_down, &frees);
    qk_linear_kernel k2 = {twice_matmul, twice_free, t2};
    QK_ASSERT_OK(qk_llama_model_set_linear_kernel(m, 1, QK_LINEAR_DOWN, &k2));
    qk_llama_context_reset(ctx);
    QK_ASSERT_OK(qk_llama_decode(ctx, tokens, T, got, true));
    assert_int_equal(t2->calls, 1);
    bool differs = false;
    for (int i = 0; i < T * V; i++) differs |= got[i] != base[i];
    assert_true(differs);
    QK_ASSERT_OK(qk_llama_model_replace_linear(m, 1, QK_LINEAR_DOWN, &lw->w_down));
    assert_int_equal(frees, 2);
    qk_llama_context_reset(ctx);
    QK_ASSERT_OK(qk_llama_decode(ctx, tokens, T, got, true));
    for (int i = 0; i < T * V; i++) QK_ASSERT_F32_BITS_EQ(got[i], base[i]);

    /* bad slots free the state they were given; the model frees the rest */
    twice *t3 = twice_new(&lw->wq, &frees);
    qk_linear_kernel k3 = {twice_matmul, twice_free, t3};
    QK_ASSERT_STATUS(qk_llama_model_set_linear_kernel(m, 2, QK_LINEAR_Q, &k3), QK_ERR_INVALID_ARG);
    assert_int_equal(frees, 3);
    twice *t4 = twice_new(&lw->wq, &frees);
    qk_linear_kernel k4 = {NULL, twice_free, t4};
    QK_ASSERT_STATUS(qk_llama_model_set_linear_kernel(m, 0, QK_LINEAR_Q, &k4), QK_ERR_INVALID_ARG);
    assert_int_equal(frees, 4);
    twice *t5 = twice_new(&lw->wq, &frees);
    qk_linear_kernel k5 = {twice_matmul, twice_free, t5};
    QK_ASSERT_OK(qk_llama_model_set_linear_kernel(m, 0, QK_LINEAR_Q, &k5));
    qk_llama_context_free(ctx);
    qk_llama_model_free(m);
    assert_int_equal(frees, 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_compose_layer),
        cmocka_unit_test(test_linear_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
