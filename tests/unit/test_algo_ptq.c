/*
** The calibrated pipeline on the Hugging Face fixture (2 windows of 48
** tokens, so it runs in seconds):
** - layer 0's q/k/v by the pipeline equal GPTQ run by hand on an H
**   accumulated from a hook on qk_llama_layer_forward with the original
**   layer (the pipeline forms that input itself, so this checks it), and
**   the true-sequential and one-pass variants agree there;
** - layer 1's inputs come from the quantized layer 0 (they differ from the
**   float model's);
** - round-to-nearest needs no calibration and equals qk_rtn_quantize;
** - results do not depend on the thread count;
** - the f32 GGUF of an affine result holds the dequantized weights and the
**   source's other tensors; a GGUF-target result is written byte for byte;
** - missing calibration is an error;
** - full-precision targets: layer 0's q/k/v (whose f32 and quantized inputs
**   are the same) equal plain GPTQ's, its o differs; thread-count
**   independent; they need the true-sequential groups.
** labels: slow fixtures
*/
#include "qk_test.h"

#define N_WIN 2
#define WIN_LEN 48

static const char *model_dir(void) {
    return qk_test_fixture("models/fixture-llama-7m");
}

static void windows(int32_t *w) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 31);
    for (int i = 0; i < N_WIN * WIN_LEN; i++)
        w[i] = i % WIN_LEN == 0 ? 1 : 3 + (int32_t)(qk_test_rng_u64(&rng) % 4000);
}

static void run(const qk_ptq_options *opt, qk_ptq_result *r) {
    int32_t w[N_WIN * WIN_LEN];
    windows(w);
    QK_ASSERT_OK(qk_ptq_run(model_dir(), w, N_WIN, WIN_LEN, opt, r));
}

typedef struct hook_h {
    qk_hessian *h;
    int32_t layer;
    qk_llama_linear which;
} hook_h;

static void hess_hook(void *user, int32_t layer, qk_llama_linear which, const float *x,
                      int64_t n_rows, int64_t n_cols) {
    hook_h *hh = user;
    (void)n_cols;
    if (layer == hh->layer && which == hh->which) QK_ASSERT_OK(qk_hessian_add(hh->h, x, n_rows));
}

/* H of layer `layer`'s input `which` with the float model's layers. */
static double *float_hessian(qk_llama_model *m, int32_t layer, qk_llama_linear which,
                             int64_t cols) {
    const qk_llama_hparams *hp = qk_llama_model_hparams(m);
    int32_t w[N_WIN * WIN_LEN];
    windows(w);
    float *x = malloc((size_t)N_WIN * WIN_LEN * hp->n_embd * sizeof *x);
    QK_ASSERT_OK(qk_llama_embed(m, w, N_WIN * WIN_LEN, x));
    hook_h hh = {.layer = layer, .which = which};
    QK_ASSERT_OK(qk_hessian_create(cols, &hh.h));
    for (int32_t l = 0; l <= layer; l++)
        QK_ASSERT_OK(qk_llama_layer_forward(hp, l, qk_llama_model_layer(m, l), x, N_WIN, WIN_LEN,
                                            l == layer ? hess_hook : NULL, &hh));
    double *h = malloc((size_t)(cols * cols) * sizeof *h);
    memcpy(h, qk_hessian_data(hh.h), (size_t)(cols * cols) * sizeof *h);
    qk_hessian_free(hh.h);
    free(x);
    return h;
}

static float *weight_f32(const qk_tensor_view *v) {
    const int64_t n = v->shape[0] * v->shape[1];
    float *w = malloc((size_t)n * sizeof *w);
    for (int64_t r = 0; r < v->shape[0]; r++)
        QK_ASSERT_OK(qk_weight_row_f32(v, r, w + r * v->shape[1]));
    return w;
}

static void assert_same_linear(const qk_quantized_linear *a, const qk_quantized_linear *b) {
    assert_int_equal(a->rows, b->rows);
    assert_int_equal(a->cols, b->cols);
    assert_int_equal(a->n_groups, b->n_groups);
    assert_memory_equal(a->codes, b->codes, (size_t)(a->rows * a->cols));
    assert_memory_equal(a->scales, b->scales, (size_t)(a->n_groups * a->rows) * sizeof(float));
    assert_memory_equal(a->zeros, b->zeros, (size_t)(a->n_groups * a->rows) * sizeof(int32_t));
}

/* GPTQ onto W3 g64, the pipeline's defaults otherwise. */
static void gptq_w3_g64(qk_ptq_options *opt) {
    qk_ptq_options_init(opt);
    opt->method = QK_PTQ_GPTQ;
    opt->gptq.bits = 3;
    opt->gptq.group_size = 64;
}

static void test_layer0_matches_hand_gptq(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_ptq_options opt;
    gptq_w3_g64(&opt);
    qk_ptq_result seq, one;
    run(&opt, &seq);
    opt.true_sequential = false;
    run(&opt, &one);
    qk_llama_model *m;
    QK_ASSERT_OK(qk_llama_model_load(model_dir(), &m));
    const qk_llama_layer_weights *lw = qk_llama_model_layer(m, 0);
    double *h = float_hessian(m, 0, QK_LINEAR_Q, lw->wq.shape[1]);
    const qk_tensor_view *views[3] = {&lw->wq, &lw->wk, &lw->wv};
    for (int k = 0; k < 3; k++) {
        float *w = weight_f32(views[k]);
        qk_quantized_linear q;
        QK_ASSERT_OK(qk_gptq_quantize(w, views[k]->shape[0], views[k]->shape[1], h, &opt.gptq, &q,
                                      NULL, NULL));
        const qk_ptq_linear *a = qk_ptq_result_linear(&seq, 0, (qk_llama_linear)k);
        const qk_ptq_linear *b = qk_ptq_result_linear(&one, 0, (qk_llama_linear)k);
        assert_true(a->gptq);
        assert_same_linear(&a->affine, &q);
        assert_same_linear(&b->affine, &q);
        qk_quantized_linear_free(&q);
        free(w);
    }
    free(h);
    /* layer 1 sees the quantized layer 0: its q differs from GPTQ on float inputs */
    h = float_hessian(m, 1, QK_LINEAR_Q, lw->wq.shape[1]);
    float *w = weight_f32(&qk_llama_model_layer(m, 1)->wq);
    qk_quantized_linear q;
    QK_ASSERT_OK(
        qk_gptq_quantize(w, lw->wq.shape[0], lw->wq.shape[1], h, &opt.gptq, &q, NULL, NULL));
    const qk_ptq_linear *a = qk_ptq_result_linear(&seq, 1, QK_LINEAR_Q);
    assert_memory_not_equal(a->affine.codes, q.codes, (size_t)(q.rows * q.cols));
    qk_quantized_linear_free(&q);
    free(w);
    free(h);
    assert_int_equal(seq.n_samples, N_WIN);
    assert_true(seq.hessian_seconds > 0 && seq.gptq_seconds > 0);
    qk_llama_model_free(m);
    qk_ptq_result_free(&seq);
    qk_ptq_result_free(&one);
}

static void test_fp_target(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_ptq_options opt;
    gptq_w3_g64(&opt);
    qk_ptq_result plain, fp1, fp2;
    run(&opt, &plain);
    opt.fp_target = true;
    const int saved = qk_threads_get();
    qk_threads_set(1);
    run(&opt, &fp1);
    qk_threads_set(2);
    run(&opt, &fp2);
    qk_threads_set(saved);
    for (int k = 0; k < 3; k++)
        assert_same_linear(&qk_ptq_result_linear(&fp1, 0, (qk_llama_linear)k)->affine,
                           &qk_ptq_result_linear(&plain, 0, (qk_llama_linear)k)->affine);
    const qk_quantized_linear *o1 = &qk_ptq_result_linear(&fp1, 0, QK_LINEAR_O)->affine;
    const qk_quantized_linear *o0 = &qk_ptq_result_linear(&plain, 0, QK_LINEAR_O)->affine;
    assert_memory_not_equal(o1->codes, o0->codes, (size_t)(o0->rows * o0->cols));
    for (int32_t l = 0; l < fp1.n_layer; l++)
        for (int k = 0; k < 7; k++)
            assert_same_linear(&qk_ptq_result_linear(&fp1, l, (qk_llama_linear)k)->affine,
                               &qk_ptq_result_linear(&fp2, l, (qk_llama_linear)k)->affine);
    opt.true_sequential = false;
    int32_t w[N_WIN * WIN_LEN];
    windows(w);
    qk_ptq_result bad;
    assert_int_equal(qk_ptq_run(model_dir(), w, N_WIN, WIN_LEN, &opt, &bad), QK_ERR_INVALID_ARG);
    qk_ptq_result_free(&plain);
    qk_ptq_result_free(&fp1);
    qk_ptq_result_free(&fp2);
}

static void test_rtn_and_threads(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_ptq_options opt;
    qk_ptq_options_init(&opt);
    qk_ptq_result r;
    QK_ASSERT_OK(qk_ptq_run(model_dir(), NULL, 0, 0, &opt, &r)); /* rtn: no calibration */
    qk_llama_model *m;
    QK_ASSERT_OK(qk_llama_model_load(model_dir(), &m));
    const qk_tensor_view *v = &qk_llama_model_layer(m, 2)->w_down;
    float *w = weight_f32(v);
    qk_quantized_linear q;
    QK_ASSERT_OK(qk_rtn_quantize(w, v->shape[0], v->shape[1], &opt.gptq, &q, NULL));
    assert_same_linear(&qk_ptq_result_linear(&r, 2, QK_LINEAR_DOWN)->affine, &q);
    assert_false(qk_ptq_result_linear(&r, 2, QK_LINEAR_DOWN)->gptq);
    qk_quantized_linear_free(&q);
    qk_ptq_result_free(&r);
    free(w);
    qk_llama_model_free(m);
    /* GPTQ with act-order on 1 and 2 threads */
    opt.method = QK_PTQ_GPTQ;
    opt.gptq.act_order = true;
    qk_ptq_result a, b;
    const int saved = qk_threads_get();
    qk_threads_set(1);
    run(&opt, &a);
    qk_threads_set(2);
    run(&opt, &b);
    qk_threads_set(saved);
    for (size_t i = 0; i < a.n_linears; i++) {
        assert_same_linear(&a.linears[i].affine, &b.linears[i].affine);
        assert_memory_equal(a.linears[i].affine.g_idx, b.linears[i].affine.g_idx,
                            (size_t)a.linears[i].cols * sizeof(int32_t));
    }
    qk_ptq_result_free(&a);
    qk_ptq_result_free(&b);
    int32_t win[N_WIN * WIN_LEN];
    windows(win);
    QK_ASSERT_STATUS(qk_ptq_run(model_dir(), NULL, 0, 0, &opt, &a), QK_ERR_INVALID_ARG);
    win[5] = 99999;
    QK_ASSERT_STATUS(qk_ptq_run(model_dir(), win, N_WIN, WIN_LEN, &opt, &a), QK_ERR_OUT_OF_BOUNDS);
}

/* Read tensor `name` of a model file as f32. */
static float *read_tensor(const char *path, const char *name, int64_t *n) {
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(path, NULL, &src));
    const int64_t idx = qk_model_source_find_tensor(src, name);
    assert_true(idx >= 0);
    qk_model_tensor t;
    QK_ASSERT_OK(qk_model_source_tensor_info(src, (size_t)idx, &t));
    *n = 1;
    for (int d = 0; d < t.ndim; d++) *n *= t.shape[d];
    float *x = malloc((size_t)*n * sizeof *x);
    QK_ASSERT_OK(qk_model_source_read_f32(src, (size_t)idx, x, *n, NULL, 0));
    qk_model_source_close(src);
    return x;
}

static void test_write_gguf(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    /* affine -> f32 GGUF */
    qk_ptq_options opt;
    qk_ptq_options_init(&opt);
    opt.method = QK_PTQ_GPTQ;
    qk_ptq_result r;
    run(&opt, &r);
    qk_type_request req;
    QK_ASSERT_OK(qk_type_request_parse("f32", &req));
    qk_quantize_options qopt;
    qk_quantize_options_init(&qopt, &req);
    const char *out = qk_test_tmp_path("ptq_affine.gguf");
    QK_ASSERT_OK(qk_ptq_write_gguf(model_dir(), out, &r, &qopt, NULL));
    for (size_t i = 0; i < r.n_linears; i += 5) {
        const qk_ptq_linear *l = &r.linears[i];
        int64_t n;
        float *got = read_tensor(out, l->name, &n);
        float *want = malloc((size_t)n * sizeof *want);
        QK_ASSERT_OK(qk_quantized_linear_dequantize(&l->affine, want));
        assert_memory_equal(got, want, (size_t)n * sizeof *got);
        free(got), free(want);
    }
    int64_t n1, n2;
    float *a = read_tensor(out, "blk.3.ffn_norm.weight", &n1);
    float *b = read_tensor(model_dir(), "blk.3.ffn_norm.weight", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, (size_t)n1 * sizeof *a);
    free(a), free(b);
    qk_ptq_result_free(&r);
    /* GGUF target q4_k_m: the planned types, the blocks as written */
    QK_ASSERT_OK(qk_type_request_parse("q4_k_m", &req));
    qk_quantize_options_init(&qopt, &req);
    opt.gguf = &qopt;
    run(&opt, &r);
    out = qk_test_tmp_path("ptq_q4km.gguf");
    QK_ASSERT_OK(qk_ptq_write_gguf(model_dir(), out, &r, &qopt, NULL));
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(out, NULL, &src));
    int n_q6 = 0;
    for (size_t i = 0; i < r.n_linears; i++) {
        const qk_ptq_linear *l = &r.linears[i];
        assert_true(l->gptq);
        const int64_t idx = qk_model_source_find_tensor(src, l->name);
        qk_model_tensor t;
        QK_ASSERT_OK(qk_model_source_tensor_info(src, (size_t)idx, &t));
        assert_int_equal(t.type, l->type);
        n_q6 += t.type == QK_TYPE_Q6_K;
        assert_int_equal(t.nbytes, l->n_bytes);
        assert_memory_equal(t.data, l->blocks, l->n_bytes);
    }
    assert_true(n_q6 > 0); /* the mix keeps some ffn_down / attn_v in q6_k */
    qk_model_source_close(src);
    qk_ptq_result_free(&r);
}

static int setup(void **state) {
    (void)state;
    qk_threads_set(1); /* OpenMP barriers are slow on a loaded machine */
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer0_matches_hand_gptq),
        cmocka_unit_test(test_fp_target),
        cmocka_unit_test(test_rtn_and_threads),
        cmocka_unit_test(test_write_gguf),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
