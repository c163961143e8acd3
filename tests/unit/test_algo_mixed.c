/*
** Mixed precision on a real model file (stories260k): the predicted file
** size (qk_quantize_layout + padding) equals the size of the file written;
** explicit per-tensor types are honoured and checked (unknown tensor, row
** length); max_output_bytes refuses an output one byte over and writes
** nothing; allocations at many budgets never exceed the budget, fill it as
** well as the candidates allow, and lower the predicted loss as the budget
** grows; a budget below the smallest model and an unreachable loss limit
** fail with QK_ERR_BUDGET.
** labels: fixtures
*/
#include <sys/stat.h>

#include "qk_test.h"

/* qk_test_fixture's buffers are reused: keep copies */
static char g_model[4096], g_tok[4096];

static const char *model_path(void) {
    if (!g_model[0])
        snprintf(g_model, sizeof g_model, "%s",
                 qk_test_fixture("models/stories260k/stories260K.bin"));
    return g_model;
}

static void opts(qk_quantize_options *o, qk_type_request *req) {
    QK_ASSERT_OK(qk_type_request_parse("q8_0", req));
    qk_quantize_options_init(o, req);
    if (!g_tok[0])
        snprintf(g_tok, sizeof g_tok, "%s", qk_test_fixture("models/stories260k/tok512.bin"));
    o->tokenizer_path = g_tok;
}

static uint64_t file_size(const char *path) {
    struct stat s;
    if (stat(path, &s) != 0) return 0;
    return (uint64_t)s.st_size;
}

static void test_layout_and_explicit_types(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_type_request req;
    qk_quantize_options o;
    opts(&o, &req);
    const char *out = qk_test_tmp_path("explicit.gguf");
    const qk_tensor_type types[] = {{"blk.0.attn_q.weight", QK_TYPE_Q4_0},
                                    {"blk.2.ffn_up.weight", QK_TYPE_F16},
                                    {"token_embd.weight", QK_TYPE_Q5_1}};
    o.tensor_types = types;
    o.n_tensor_types = 3;
    uint64_t offset;
    uint32_t align;
    QK_ASSERT_OK(qk_quantize_layout(model_path(), out, &o, &offset, &align));
    assert_int_equal(align, 32);
    assert_int_equal(offset % 32, 0);
    assert_int_equal(file_size(out), 0); /* nothing left behind */
    qk_quantize_report plan, rep;
    QK_ASSERT_OK(qk_quantize_plan(model_path(), &o, &plan));
    const uint64_t predicted = qk_quantize_file_bytes(&plan, offset, align);
    qk_quantize_report_free(&plan);
    QK_ASSERT_OK(qk_quantize_model(model_path(), out, &o, &rep));
    assert_int_equal(rep.output_bytes, predicted);
    assert_int_equal(file_size(out), predicted);
    /* the explicit types are in the file */
    qk_gguf_reader *r;
    QK_ASSERT_OK(qk_gguf_reader_open(out, &r));
    assert_int_equal(qk_gguf_reader_data_offset(r), offset);
    for (size_t k = 0; k < 3; k++) {
        qk_io_tensor ti;
        QK_ASSERT_OK(
            qk_gguf_reader_tensor_info(r, qk_gguf_reader_find_tensor(r, types[k].name), &ti));
        assert_int_equal(ti.type, types[k].type);
    }
    qk_gguf_reader_close(r);
    for (size_t i = 0; i < rep.n_tensors; i++) {
        bool listed = false;
        for (size_t k = 0; k < 3; k++) listed |= strcmp(rep.tensors[i].name, types[k].name) == 0;
        assert_int_equal(rep.tensors[i].reason == QK_MIX_EXPLICIT, listed);
    }
    /* the limit: exactly the size passes, one byte less writes nothing */
    const char *out2 = qk_test_tmp_path("limited.gguf");
    o.max_output_bytes = predicted;
    QK_ASSERT_OK(qk_quantize_model(model_path(), out2, &o, NULL));
    assert_int_equal(file_size(out2), predicted);
    remove(out2);
    o.max_output_bytes = predicted - 1;
    QK_ASSERT_STATUS(qk_quantize_model(model_path(), out2, &o, NULL), QK_ERR_BUDGET);
    assert_int_equal(file_size(out2), 0);
    o.max_output_bytes = 0;
    /* errors: unknown tensor, a type that does not hold the row length */
    const qk_tensor_type bad1[] = {{"blk.9.attn_q.weight", QK_TYPE_Q8_0}};
    o.tensor_types = bad1;
    o.n_tensor_types = 1;
    QK_ASSERT_STATUS(qk_quantize_plan(model_path(), &o, &plan), QK_ERR_NOT_FOUND);
    assert_non_null(strstr(qk_last_error(), "blk.9.attn_q.weight"));
    const qk_tensor_type bad2[] = {{"blk.1.ffn_down.weight", QK_TYPE_Q8_0}}; /* rows of 172 */
    o.tensor_types = bad2;
    QK_ASSERT_STATUS(qk_quantize_plan(model_path(), &o, &plan), QK_ERR_SHAPE);
    assert_non_null(strstr(qk_last_error(), "blk.1.ffn_down.weight"));
    qk_quantize_report_free(&plan);
    qk_quantize_report_free(&rep);
}

static void test_allocation_budgets(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_type_request req;
    qk_quantize_options o;
    opts(&o, &req);
    qk_sens_options so;
    qk_sens_options_init(&so);
    const qk_type fmts[] = {QK_TYPE_Q4_0, QK_TYPE_Q5_0, QK_TYPE_Q8_0, QK_TYPE_F16};
    so.n_formats = 4;
    memcpy(so.formats, fmts, sizeof fmts);
    so.quantize = &o;
    qk_sensitivity s;
    QK_ASSERT_OK(qk_sensitivity_compute(model_path(), &so, &s));
    const char *out = qk_test_tmp_path("mixed.gguf");
    uint64_t offset;
    uint32_t align;
    QK_ASSERT_OK(qk_quantize_layout(model_path(), out, &o, &offset, &align));
    qk_quantize_report plan;
    QK_ASSERT_OK(qk_quantize_plan(model_path(), &o, &plan));
    /* smallest and largest possible files, from the plan and the sizes */
    uint64_t lo = offset, hi = offset;
    for (size_t i = 0; i < plan.n_tensors; i++) {
        const qk_sens_tensor *t = qk_sensitivity_find(&s, plan.tensors[i].name);
        uint64_t a = UINT64_MAX, b = 0;
        if (!t) {
            a = b = plan.tensors[i].bytes;
        } else {
            for (size_t f = 0; f < 4; f++) {
                if (!t->entries[f].available) continue;
                a = t->entries[f].bytes < a ? t->entries[f].bytes : a;
                b = t->entries[f].bytes > b ? t->entries[f].bytes : b;
            }
        }
        lo += (a + 31) / 32 * 32;
        hi += (b + 31) / 32 * 32;
    }
    qk_mixed_options mo;
    qk_mixed_options_init(&mo);
    double last_loss = INFINITY;
    qk_tensor_type types[64];
    for (int k = 0; k <= 8; k++) {
        mo.budget_bytes = lo + (hi - lo) * (uint64_t)k / 8;
        qk_mixed_result r;
        QK_ASSERT_OK(qk_mixed_allocate(model_path(), out, &o, &s, &mo, &r));
        assert_true(r.file_bytes <= mo.budget_bytes);
        assert_int_equal(r.header_bytes, offset);
        assert_true(r.predicted_loss <= last_loss);
        last_loss = r.predicted_loss;
        if (k == 0) assert_int_equal(r.file_bytes, lo);
        if (k == 8) assert_int_equal(r.file_bytes, hi - 0); /* f16 everywhere is best */
        /* write it: the file is the predicted size, hence within budget */
        const size_t n = qk_mixed_tensor_types(&r, types, 64);
        assert_int_equal(n, s.n_tensors);
        o.tensor_types = types;
        o.n_tensor_types = n;
        o.max_output_bytes = mo.budget_bytes;
        qk_quantize_report rep;
        QK_ASSERT_OK(qk_quantize_model(model_path(), out, &o, &rep));
        assert_int_equal(file_size(out), r.file_bytes);
        for (size_t i = 0; i < rep.n_tensors; i++) {
            assert_string_equal(rep.tensors[i].name, r.tensors[i].name);
            assert_int_equal(rep.tensors[i].to, r.tensors[i].type);
        }
        qk_quantize_report_free(&rep);
        o.tensor_types = NULL;
        o.n_tensor_types = 0;
        o.max_output_bytes = 0;
        qk_mixed_result_free(&r);
    }
    qk_mixed_result r;
    mo.budget_bytes = lo - 1;
    QK_ASSERT_STATUS(qk_mixed_allocate(model_path(), out, &o, &s, &mo, &r), QK_ERR_BUDGET);
    assert_non_null(strstr(qk_last_error(), "smallest possible output"));
    /* loss mode: the smallest file under the loss of the k = 4 budget */
    mo.budget_bytes = lo + (hi - lo) / 2;
    QK_ASSERT_OK(qk_mixed_allocate(model_path(), out, &o, &s, &mo, &r));
    const double loss = r.predicted_loss;
    const uint64_t bytes = r.file_bytes;
    qk_mixed_result_free(&r);
    mo.budget_bytes = 0;
    mo.max_loss = loss;
    QK_ASSERT_OK(qk_mixed_allocate(model_path(), out, &o, &s, &mo, &r));
    assert_true(r.predicted_loss <= loss);
    assert_true(r.file_bytes <= bytes);
    qk_mixed_result_free(&r);
    mo.max_loss = -1.0;
    QK_ASSERT_STATUS(qk_mixed_allocate(model_path(), out, &o, &s, &mo, &r), QK_ERR_BUDGET);
    qk_quantize_report_free(&plan);
    qk_sensitivity_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_explicit_types),
        cmocka_unit_test(test_allocation_budgets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
