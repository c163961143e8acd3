/*
** GPTQ onto llama.cpp block formats: the blocks are valid (ggml's
** dequantization gives exactly the weights GPTQ returned), keep the
** reference quantizer's scale fields (static scales), put every weight on
** the nearest grid value when H is diagonal, beat round-to-nearest's
** H-weighted error on correlated inputs, and do not depend on the thread
** count.
*/
#include <stddef.h> /* offsetof */

#include "qk_test.h"

static const qk_type k_types[] = {QK_TYPE_Q4_0, QK_TYPE_Q4_1, QK_TYPE_Q5_0, QK_TYPE_Q5_1,
                                  QK_TYPE_Q8_0, QK_TYPE_Q2_K, QK_TYPE_Q3_K, QK_TYPE_Q4_K,
                                  QK_TYPE_Q5_K, QK_TYPE_Q6_K};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

/* Byte ranges of a block's scale fields (from the structs in ggml.h). */
typedef struct span {
    size_t off, len;
} span;
static int scale_spans(qk_type t, span *s) {
    switch (t) {
    case QK_TYPE_Q4_0:
        s[0] = (span){offsetof(qk_block_q4_0, d), 2};
        return 1;
    case QK_TYPE_Q4_1:
        s[0] = (span){offsetof(qk_block_q4_1, d), 4};
        return 1;
    case QK_TYPE_Q5_0:
        s[0] = (span){offsetof(qk_block_q5_0, d), 2};
        return 1;
    case QK_TYPE_Q5_1:
        s[0] = (span){offsetof(qk_block_q5_1, d), 4};
        return 1;
    case QK_TYPE_Q8_0:
        s[0] = (span){offsetof(qk_block_q8_0, d), 2};
        return 1;
    case QK_TYPE_Q2_K:
        s[0] = (span){offsetof(qk_block_q2_k, scales), 16};
        s[1] = (span){offsetof(qk_block_q2_k, d), 4};
        return 2;
    case QK_TYPE_Q3_K:
        s[0] = (span){offsetof(qk_block_q3_k, scales), 12};
        s[1] = (span){offsetof(qk_block_q3_k, d), 2};
        return 2;
    case QK_TYPE_Q4_K:
        s[0] = (span){offsetof(qk_block_q4_k, d), 16};
        return 1;
    case QK_TYPE_Q5_K:
        s[0] = (span){offsetof(qk_block_q5_k, d), 16};
        return 1;
    case QK_TYPE_Q6_K:
        s[0] = (span){offsetof(qk_block_q6_k, scales), 16};
        s[1] = (span){offsetof(qk_block_q6_k, d), 2};
        return 2;
    default:
        return 0;
    }
}

static float *correlated_inputs(qk_test_rng *rng, int64_t n, int64_t cols) {
    float *x = malloc((size_t)(n * cols) * sizeof *x);
    for (int64_t t = 0; t < n; t++) {
        float prev = qk_test_rng_normal(rng);
        for (int64_t j = 0; j < cols; j++) {
            prev = 0.8f * prev + 0.6f * qk_test_rng_normal(rng);
            x[t * cols + j] = prev * (1.0f + (float)(j % 7) * 0.3f);
        }
    }
    return x;
}

static double *hessian_of(const float *x, int64_t n, int64_t cols) {
    qk_hessian *h;
    QK_ASSERT_OK(qk_hessian_create(cols, &h));
    QK_ASSERT_OK(qk_hessian_add(h, x, n));
    double *out = malloc((size_t)(cols * cols) * sizeof *out);
    memcpy(out, qk_hessian_data(h), (size_t)(cols * cols) * sizeof *out);
    qk_hessian_free(h);
    return out;
}

static size_t bytes_of(qk_type t, int64_t rows, int64_t cols) {
    size_t rb;
    QK_ASSERT_OK(qk_type_row_bytes(t, cols, &rb));
    return rb * (size_t)rows;
}

static float *dequant(qk_type t, const void *blocks, int64_t rows, int64_t cols) {
    float *y = malloc((size_t)(rows * cols) * sizeof *y);
    const size_t rb = bytes_of(t, 1, cols);
    for (int64_t r = 0; r < rows; r++)
        QK_ASSERT_OK(qk_dequantize_row(t, (const uint8_t *)blocks + r * rb, y + r * cols, cols));
    return y;
}

/* Diagonal H: nothing propagates, so GPTQ with static scales is the nearest
** value on the reference quantizer's grid: never farther than its codes. */
static void test_diagonal_nearest(void **state) {
    (void)state;
    const int64_t rows = 6, cols = 512;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 11);
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    qk_test_fill_normal(&rng, w, (size_t)(rows * cols), 0.02f);
    double *h = calloc((size_t)(cols * cols), sizeof *h);
    for (int64_t c = 0; c < cols; c++) h[c * cols + c] = 1.0 + (double)(c % 5);
    float *out = malloc((size_t)(rows * cols) * sizeof *out);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const qk_type t = k_types[ti];
        const size_t nb = bytes_of(t, rows, cols), blk = (size_t)qk_type_get_traits(t)->block_bytes;
        uint8_t *g = malloc(nb), *r = malloc(nb);
        qk_gptq_options opt;
        qk_gptq_options_init(&opt);
        opt.static_groups = true;
        QK_ASSERT_OK(qk_gptq_quantize_blocks(t, w, rows, cols, h, &opt, g, out, NULL));
        QK_ASSERT_OK(qk_quantize_rows(t, w, r, rows, cols, NULL));
        span s[2];
        const int ns = scale_spans(t, s);
        for (size_t b = 0; b < nb / blk; b++)
            for (int k = 0; k < ns; k++)
                assert_memory_equal(g + b * blk + s[k].off, r + b * blk + s[k].off, s[k].len);
        float *yg = dequant(t, g, rows, cols), *yr = dequant(t, r, rows, cols);
        int64_t closer = 0;
        for (int64_t i = 0; i < rows * cols; i++) {
            if (!(yg[i] == out[i]))
                fail_msg("%s: element %lld dequantizes to %g, gptq returned %g", qk_type_name(t),
                         (long long)i, (double)yg[i], (double)out[i]);
            assert_true(fabsf(yg[i] - w[i]) <= fabsf(yr[i] - w[i]));
            closer += fabsf(yg[i] - w[i]) < fabsf(yr[i] - w[i]);
        }
        print_message("  %-5s %lld of %lld weights nearer than the reference's codes\n",
                      qk_type_name(t), (long long)closer, (long long)(rows * cols));
        free(g), free(r), free(yg), free(yr);
    }
    free(w), free(h), free(out);
}

static double h_error(const double *h, const float *a, const float *b, int64_t rows, int64_t cols) {
    double e;
    QK_ASSERT_OK(qk_hessian_error(h, a, b, rows, cols, &e));
    return e;
}

/* Correlated inputs: GPTQ's H-weighted error is below round-to-nearest's
** (with and without importance for both), the blocks are valid. */
static void test_correlated_beats_rtn(void **state) {
    (void)state;
    const int64_t rows = 16, cols = 512, n = 700;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 12);
    float *x = correlated_inputs(&rng, n, cols);
    double *h = hessian_of(x, n, cols);
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    qk_test_fill_normal(&rng, w, (size_t)(rows * cols), 0.05f);
    float *out = malloc((size_t)(rows * cols) * sizeof *out);
    float *imp = malloc((size_t)cols * sizeof *imp);
    for (int64_t c = 0; c < cols; c++) imp[c] = (float)h[c * cols + c];
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const qk_type t = k_types[ti];
        const size_t nb = bytes_of(t, rows, cols);
        uint8_t *g = malloc(nb), *r = malloc(nb);
        QK_ASSERT_OK(qk_quantize_rows(t, w, r, rows, cols, NULL));
        float *yr = dequant(t, r, rows, cols);
        QK_ASSERT_OK(qk_quantize_rows(t, w, r, rows, cols, imp));
        float *yi = dequant(t, r, rows, cols);
        const double e_rtn = h_error(h, w, yr, rows, cols), e_imp = h_error(h, w, yi, rows, cols);
        for (int variant = 0; variant < 3; variant++) {
            qk_gptq_options opt;
            qk_gptq_options_init(&opt);
            opt.static_groups = variant == 1;
            opt.hessian_importance = variant == 2;
            qk_gptq_report rep;
            QK_ASSERT_OK(qk_gptq_quantize_blocks(t, w, rows, cols, h, &opt, g, out, &rep));
            float *yg = dequant(t, g, rows, cols);
            for (int64_t i = 0; i < rows * cols; i++) assert_true(yg[i] == out[i]);
            const double e = h_error(h, w, yg, rows, cols);
            print_message("  %-5s %-14s H-error %.5g  (rtn %.5g, rtn+imatrix %.5g)\n",
                          qk_type_name(t),
                          variant == 0   ? "dynamic"
                          : variant == 1 ? "static"
                                         : "dynamic+imp",
                          e, e_rtn, e_imp);
            assert_true(e < 0.9 * e_rtn);
            assert_true(e < e_imp);
            assert_true(rep.loss > 0.0);
            free(yg);
        }
        free(g), free(r), free(yr), free(yi);
    }
    free(x), free(h), free(w), free(out), free(imp);
}

static void test_act_order_static(void **state) {
    (void)state;
    const int64_t rows = 8, cols = 256, n = 400;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 13);
    float *x = correlated_inputs(&rng, n, cols);
    double *h = hessian_of(x, n, cols);
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    qk_test_fill_normal(&rng, w, (size_t)(rows * cols), 0.05f);
    float *out = malloc((size_t)(rows * cols) * sizeof *out);
    const size_t nb = bytes_of(QK_TYPE_Q4_K, rows, cols);
    uint8_t *g = malloc(nb), *r = malloc(nb);
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.act_order = true;
    QK_ASSERT_STATUS(qk_gptq_quantize_blocks(QK_TYPE_Q4_K, w, rows, cols, h, &opt, g, out, NULL),
                     QK_ERR_INVALID_ARG);
    opt.static_groups = true;
    QK_ASSERT_OK(qk_gptq_quantize_blocks(QK_TYPE_Q4_K, w, rows, cols, h, &opt, g, out, NULL));
    float *yg = dequant(QK_TYPE_Q4_K, g, rows, cols);
    for (int64_t i = 0; i < rows * cols; i++) assert_true(yg[i] == out[i]);
    QK_ASSERT_OK(qk_quantize_rows(QK_TYPE_Q4_K, w, r, rows, cols, NULL));
    float *yr = dequant(QK_TYPE_Q4_K, r, rows, cols);
    assert_true(h_error(h, w, yg, rows, cols) < 0.9 * h_error(h, w, yr, rows, cols));
    free(x), free(h), free(w), free(out), free(g), free(r), free(yg), free(yr);
}

static void test_threads_and_errors(void **state) {
    (void)state;
    const int64_t rows = 130, cols = 256, n = 300;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 14);
    float *x = correlated_inputs(&rng, n, cols);
    double *h = hessian_of(x, n, cols);
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    qk_test_fill_normal(&rng, w, (size_t)(rows * cols), 0.05f);
    const size_t nb = bytes_of(QK_TYPE_Q4_K, rows, cols);
    uint8_t *a = malloc(nb), *b = malloc(nb);
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.hessian_importance = true;
    const int saved = qk_threads_get();
    qk_threads_set(1);
    QK_ASSERT_OK(qk_gptq_quantize_blocks(QK_TYPE_Q4_K, w, rows, cols, h, &opt, a, NULL, NULL));
    qk_threads_set(2);
    QK_ASSERT_OK(qk_gptq_quantize_blocks(QK_TYPE_Q4_K, w, rows, cols, h, &opt, b, NULL, NULL));
    qk_threads_set(saved);
    assert_memory_equal(a, b, nb);
    assert_true(qk_gptq_block_type_supported(QK_TYPE_Q6_K));
    assert_false(qk_gptq_block_type_supported(QK_TYPE_IQ4_NL));
    QK_ASSERT_STATUS(qk_gptq_quantize_blocks(QK_TYPE_IQ4_NL, w, rows, cols, h, &opt, a, NULL, NULL),
                     QK_ERR_UNSUPPORTED);
    QK_ASSERT_STATUS(qk_gptq_quantize_blocks(QK_TYPE_Q4_0, w, rows, 48, h, &opt, a, NULL, NULL),
                     QK_ERR_SHAPE);
    free(x), free(h), free(w), free(a), free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diagonal_nearest),
        cmocka_unit_test(test_correlated_beats_rtn),
        cmocka_unit_test(test_act_order_static),
        cmocka_unit_test(test_threads_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
