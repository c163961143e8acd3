/*
** The calibrated pipeline's outputs on the Hugging Face fixture (2 windows
** of 48 tokens, one thread):
** - GPTQ W4 g128 asymmetric written as an AutoGPTQ checkpoint, and GPTQ W3
**   g128 with act-order as compressed-tensors (g_idx): reading the folders
**   back gives exactly the pipeline's dequantized weights, and the other
**   tensors as the source stores them;
** - AWQ W4 g128 into an AutoAWQ checkpoint: each layer's searched groups
**   are no worse than plain rounding on their outputs, the folded norms
**   are replaced (and read back exactly), the linears read back exactly;
** - GPTQ onto q4_0 (GGUF target): a lower H-weighted output error on the
**   calibration activations than round-to-nearest q4_0, for every linear;
**   AWQ + GPTQ onto q4_0 runs both steps.
** labels: fixtures
*/
#include "qk_test.h"

#define N_WIN 2
#define WIN_LEN 48

static const char *model_dir(void) {
    return qk_test_fixture("models/fixture-llama-7m");
}

static void run(const qk_ptq_options *opt, qk_ptq_result *r) {
    int32_t w[N_WIN * WIN_LEN];
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 77);
    for (int i = 0; i < N_WIN * WIN_LEN; i++)
        w[i] = i % WIN_LEN == 0 ? 1 : 3 + (int32_t)(qk_test_rng_u64(&rng) % 4000);
    QK_ASSERT_OK(qk_ptq_run(model_dir(), w, N_WIN, WIN_LEN, opt, r));
}

/* Tensor `name` of an open source as f32 (allocated). */
static float *read_f32(const qk_model_source *src, const char *name, int64_t *n) {
    const int64_t idx = qk_model_source_find_tensor(src, name);
    assert_true(idx >= 0);
    qk_model_tensor t;
    QK_ASSERT_OK(qk_model_source_tensor_info(src, (size_t)idx, &t));
    *n = 1;
    for (int d = 0; d < t.ndim; d++) *n *= t.shape[d];
    float *x = malloc((size_t)*n * sizeof *x);
    QK_ASSERT_OK(qk_model_source_read_f32(src, (size_t)idx, x, *n, NULL, 0));
    return x;
}

/* Every linear of the folder equals the result's dequantized weight; every
** replaced tensor equals the result's values; the others the source's. */
static void assert_read_back(const char *folder, const qk_ptq_result *r) {
    qk_model_source *ck, *src;
    QK_ASSERT_OK(qk_model_source_open(folder, NULL, &ck));
    QK_ASSERT_OK(qk_model_source_open(model_dir(), NULL, &src));
    for (size_t i = 0; i < r->n_linears; i++) {
        const qk_ptq_linear *l = &r->linears[i];
        int64_t n;
        float *got = read_f32(ck, l->name, &n);
        assert_int_equal(n, l->rows * l->cols);
        float *want = malloc((size_t)n * sizeof *want);
        QK_ASSERT_OK(qk_quantized_linear_dequantize(&l->affine, want));
        assert_memory_equal(got, want, (size_t)n * sizeof *got);
        free(got), free(want);
    }
    for (size_t i = 0; i < r->n_tensors; i++) {
        int64_t n;
        float *got = read_f32(ck, r->tensors[i].name, &n);
        assert_int_equal(n, r->tensors[i].numel);
        assert_memory_equal(got, r->tensors[i].data, (size_t)n * sizeof *got);
        free(got);
    }
    static const char *const plain[] = {"blk.2.ffn_norm.weight", "output_norm.weight",
                                        "token_embd.weight"};
    for (int k = 0; k < 3; k++) {
        bool replaced = false;
        for (size_t i = 0; i < r->n_tensors; i++)
            replaced |= strcmp(r->tensors[i].name, plain[k]) == 0;
        if (replaced) continue;
        int64_t n1, n2;
        float *a = read_f32(ck, plain[k], &n1), *b = read_f32(src, plain[k], &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(a, b, (size_t)n1 * sizeof *a);
        free(a), free(b);
    }
    qk_model_source_close(ck);
    qk_model_source_close(src);
}

static void write_folder(const qk_ptq_result *r, qk_checkpoint_format f, int32_t bits,
                         int32_t group, bool desc_act, const char *name) {
    qk_checkpoint_options co;
    qk_checkpoint_options_init(&co, f);
    co.config.bits = bits;
    co.config.group_size = group;
    co.config.symmetric = false;
    co.config.desc_act = desc_act;
    qk_checkpoint_report rep;
    QK_ASSERT_OK(qk_ptq_write_checkpoint(model_dir(), qk_test_tmp_path(name), r, &co, &rep));
    assert_int_equal(rep.linear_weights, 6 * (2 * 256 * 256 + 2 * 128 * 256 + 3 * 768 * 256));
}

static int setup(void **state) {
    (void)state;
    qk_threads_set(1);
    return 0;
}

static void test_gptq_checkpoints(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_ptq_options opt;
    qk_ptq_options_init(&opt);
    opt.method = QK_PTQ_GPTQ;
    qk_ptq_result r;
    run(&opt, &r);
    assert_int_equal(r.n_tensors, 0);
    for (size_t i = 0; i < r.n_linears; i++) assert_true(r.linears[i].gptq);
    write_folder(&r, QK_CHECKPOINT_GPTQ, 4, 128, false, "ptq_gptq_w4");
    assert_read_back(qk_test_tmp_path("ptq_gptq_w4"), &r);
    /* a GGUF-target result cannot become a checkpoint */
    qk_checkpoint_options co;
    qk_checkpoint_options_init(&co, QK_CHECKPOINT_GPTQ);
    r.gguf_target = true;
    QK_ASSERT_STATUS(qk_ptq_write_checkpoint(model_dir(), qk_test_tmp_path("x"), &r, &co, NULL),
                     QK_ERR_INVALID_ARG);
    r.gguf_target = false;
    qk_ptq_result_free(&r);
    /* W3 act-order: g_idx in compressed-tensors */
    opt.gptq.bits = 3;
    opt.gptq.act_order = true;
    run(&opt, &r);
    assert_non_null(r.linears[0].affine.g_idx);
    write_folder(&r, QK_CHECKPOINT_COMPRESSED_TENSORS, 3, 128, true, "ptq_ct_w3");
    assert_read_back(qk_test_tmp_path("ptq_ct_w3"), &r);
    qk_ptq_result_free(&r);
}

static void test_awq_checkpoint(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_ptq_options opt;
    qk_ptq_options_init(&opt);
    opt.method = QK_PTQ_AWQ;
    opt.awq.n_grid = 5; /* a coarse search: the properties hold for any grid */
    qk_ptq_result r;
    run(&opt, &r);
    assert_non_null(r.awq);
    assert_true(r.awq_seconds > 0.0);
    /* attn_norm and ffn_norm of every layer (the fixture has no biases) */
    assert_int_equal(r.n_tensors, 2 * (size_t)r.n_layer);
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(model_dir(), NULL, &src));
    int changed = 0;
    for (size_t i = 0; i < r.n_tensors; i++) {
        int64_t n;
        float *orig = read_f32(src, r.tensors[i].name, &n);
        assert_int_equal(n, r.tensors[i].numel);
        changed += memcmp(orig, r.tensors[i].data, (size_t)n * sizeof *orig) != 0;
        free(orig);
    }
    qk_model_source_close(src);
    assert_true(changed > 0);
    for (int32_t l = 0; l < r.n_layer; l++) {
        const qk_awq_report *a = &r.awq[l];
        for (int g = 0; g < QK_AWQ_GROUP_COUNT; g++)
            if (a->groups[g].searched) assert_true(a->groups[g].err_best <= a->groups[g].err_plain);
        assert_true(a->groups[QK_AWQ_QKV].searched && a->groups[QK_AWQ_DOWN].searched);
        for (int k = 0; k < 7; k++) assert_false(qk_ptq_result_linear(&r, l, k)->gptq);
    }
    write_folder(&r, QK_CHECKPOINT_AWQ, 4, 128, false, "ptq_awq_w4");
    assert_read_back(qk_test_tmp_path("ptq_awq_w4"), &r);
    qk_ptq_result_free(&r);
}

static void test_q4_0_output_error(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_type_request req;
    QK_ASSERT_OK(qk_type_request_parse("q4_0", &req));
    req.pure = true;
    qk_quantize_options qopt;
    qk_quantize_options_init(&qopt, &req);
    qk_ptq_options opt;
    qk_ptq_options_init(&opt);
    opt.method = QK_PTQ_GPTQ;
    opt.gguf = &qopt;
    opt.measure = true;
    qk_ptq_result r;
    run(&opt, &r);
    double sum = 0.0, sum_rtn = 0.0;
    for (size_t i = 0; i < r.n_linears; i++) {
        const qk_ptq_linear *l = &r.linears[i];
        assert_int_equal(l->type, QK_TYPE_Q4_0);
        assert_true(l->gptq);
        assert_true(l->err_h > 0.0 && l->err_h < l->err_h_rtn);
        sum += l->err_h;
        sum_rtn += l->err_h_rtn;
    }
    assert_true(sum < 0.8 * sum_rtn);
    qk_ptq_result_free(&r);
    /* AWQ then GPTQ onto q4_0 */
    opt.method = QK_PTQ_AWQ_GPTQ;
    opt.awq.n_grid = 5;
    opt.measure = false;
    run(&opt, &r);
    assert_non_null(r.awq);
    assert_int_equal(r.n_tensors, 2 * (size_t)r.n_layer);
    for (size_t i = 0; i < r.n_linears; i++) {
        assert_true(r.linears[i].gptq);
        assert_non_null(r.linears[i].blocks);
    }
    const char *out = qk_test_tmp_path("ptq_awq_gptq_q4_0.gguf");
    QK_ASSERT_OK(qk_ptq_write_gguf(model_dir(), out, &r, &qopt, NULL));
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(out, NULL, &src));
    for (size_t i = 0; i < r.n_tensors; i++) {
        int64_t n;
        float *got = read_f32(src, r.tensors[i].name, &n);
        assert_memory_equal(got, r.tensors[i].data, (size_t)n * sizeof *got);
        free(got);
    }
    qk_model_source_close(src);
    qk_ptq_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gptq_checkpoints),
        cmocka_unit_test(test_awq_checkpoint),
        cmocka_unit_test(test_q4_0_output_error),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
