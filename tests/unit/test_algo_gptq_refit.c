/*
** The scale refit after GPTQ (qk_gptq_refit_scales): each changed row's
** scales equal the least-squares solution computed here independently
** (the G x G normal equations built by plain loops over the definition,
** solved by Gaussian elimination); no row's H-weighted error grows; codes
** and zeros stay; contiguous groups and act-order's g_idx groups; f16
** scales stay f16 values; the result does not depend on the thread count.
*/
#include <float.h>

#include "qk_test.h"

enum { ROWS = 6, COLS = 48, GROUP = 16, NTOK = 240 };

/* H = 2/n X^T X of correlated random inputs, and a random weight. */
static void make_problem(uint64_t seed, double *h, float *w) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    static float x[NTOK * COLS];
    for (int t = 0; t < NTOK; t++) {
        float prev = qk_test_rng_normal(&rng);
        for (int j = 0; j < COLS; j++) {
            prev = 0.7f * prev + 0.7f * qk_test_rng_normal(&rng);
            x[t * COLS + j] = prev * (0.5f + (float)(j % 5));
        }
    }
    memset(h, 0, sizeof(double) * COLS * COLS);
    for (int t = 0; t < NTOK; t++)
        for (int i = 0; i < COLS; i++)
            for (int j = 0; j < COLS; j++)
                h[i * COLS + j] += 2.0 / NTOK * (double)x[t * COLS + i] * x[t * COLS + j];
    for (int i = 0; i < ROWS * COLS; i++) w[i] = qk_test_rng_normal(&rng) * 0.1f;
}

static double row_error(const double *h, const float *w, const qk_quantized_linear *q,
                        const float *scales, int r) {
    double d[COLS], e = 0.0;
    for (int c = 0; c < COLS; c++) {
        const size_t k = (size_t)qk_quantized_linear_group(q, c) * ROWS + (size_t)r;
        d[c] = (double)w[r * COLS + c] -
               (double)((float)((int32_t)q->codes[r * COLS + c] - q->zeros[k]) * scales[k]);
    }
    for (int i = 0; i < COLS; i++)
        for (int j = 0; j < COLS; j++) e += d[i] * h[i * COLS + j] * d[j];
    return e;
}

/* The least-squares scales of row r by the definition. */
static void expected_scales(const double *h, const float *w, const qk_quantized_linear *q, int r,
                            double *s) {
    const int G = (int)q->n_groups;
    double a[COLS], m[8][9];
    int grp[COLS];
    for (int c = 0; c < COLS; c++) {
        grp[c] = (int)qk_quantized_linear_group(q, c);
        a[c] = (double)q->codes[r * COLS + c] - q->zeros[(size_t)grp[c] * ROWS + (size_t)r];
    }
    memset(m, 0, sizeof m);
    for (int i = 0; i < COLS; i++)
        for (int j = 0; j < COLS; j++) {
            m[grp[i]][grp[j]] += a[i] * h[i * COLS + j] * a[j];
            m[grp[i]][G] += a[i] * h[i * COLS + j] * (double)w[r * COLS + j];
        }
    for (int p = 0; p < G; p++) { /* elimination with partial pivoting */
        int best = p;
        for (int i = p + 1; i < G; i++)
            if (fabs(m[i][p]) > fabs(m[best][p])) best = i;
        for (int j = 0; j <= G; j++) {
            const double t = m[p][j];
            m[p][j] = m[best][j], m[best][j] = t;
        }
        for (int i = p + 1; i < G; i++) {
            const double f = m[i][p] / m[p][p];
            for (int j = p; j <= G; j++) m[i][j] -= f * m[p][j];
        }
    }
    for (int i = G - 1; i >= 0; i--) {
        double v = m[i][G];
        for (int j = i + 1; j < G; j++) v -= m[i][j] * s[j];
        s[i] = v / m[i][i];
    }
}

static void check_refit(bool act_order, qk_type scale_type) {
    static double h[COLS * COLS];
    static float w[ROWS * COLS];
    make_problem(act_order ? 11 : 7, h, w);
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.bits = 3;
    opt.group_size = GROUP;
    opt.act_order = act_order;
    opt.scale_type = scale_type;
    qk_quantized_linear q;
    QK_ASSERT_OK(qk_gptq_quantize(w, ROWS, COLS, h, &opt, &q, NULL, NULL));
    assert_true(q.n_groups == COLS / GROUP);
    assert_true(act_order == (q.g_idx != NULL));
    const size_t ns = (size_t)q.n_groups * ROWS;
    float *before = malloc(ns * sizeof *before);
    uint8_t codes[ROWS * COLS];
    int32_t zeros[ROWS * COLS / GROUP];
    memcpy(before, q.scales, ns * sizeof *before);
    memcpy(codes, q.codes, sizeof codes);
    memcpy(zeros, q.zeros, ns * sizeof *zeros);
    int64_t changed = -1;
    QK_ASSERT_OK(qk_gptq_refit_scales(w, h, scale_type, &q, &changed));
    assert_memory_equal(codes, q.codes, sizeof codes);
    assert_memory_equal(zeros, q.zeros, ns * sizeof *zeros);
    assert_true(changed >= ROWS / 2); /* GPTQ's scales are rarely the optimum */
    int64_t differ = 0;
    for (int r = 0; r < ROWS; r++) {
        bool row_changed = false;
        for (int64_t g = 0; g < q.n_groups; g++)
            row_changed |= q.scales[g * ROWS + r] != before[g * ROWS + r];
        differ += row_changed;
        const double e0 = row_error(h, w, &q, before, r), e1 = row_error(h, w, &q, q.scales, r);
        assert_true(e1 <= e0 * (1 + 1e-12));
        if (!row_changed) continue;
        assert_true(e1 < e0);
        double s[8];
        expected_scales(h, w, &q, r, s);
        for (int64_t g = 0; g < q.n_groups; g++) {
            const float got = q.scales[g * ROWS + r];
            /* f32: the solution rounded once; f16: to the nearest f16 value */
            const double tol = scale_type == QK_TYPE_F16 ? 1.0 / 1024 : 1e-6;
            if (fabs(got - s[g]) > tol * fabs(s[g]))
                fail_msg("row %d group %lld: %.9g, expected %.9g", r, (long long)g, got, s[g]);
            if (scale_type == QK_TYPE_F16) assert_true(qk_f16_to_f32(qk_f32_to_f16(got)) == got);
        }
    }
    assert_int_equal(differ, changed);
    free(before);
    qk_quantized_linear_free(&q);
}

static void test_refit_groups_f32(void **state) {
    (void)state;
    check_refit(false, QK_TYPE_F32);
}

static void test_refit_groups_f16(void **state) {
    (void)state;
    check_refit(false, QK_TYPE_F16);
}

static void test_refit_act_order(void **state) {
    (void)state;
    check_refit(true, QK_TYPE_F32);
}

/* Through qk_gptq_quantize: the option gives the refit scales and w_out is
** their dequantized weight; 1 and 2 threads agree bit for bit. */
static void test_option_and_threads(void **state) {
    (void)state;
    static double h[COLS * COLS];
    static float w[ROWS * COLS], w1[ROWS * COLS], w2[ROWS * COLS], wd[ROWS * COLS];
    make_problem(3, h, w);
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.bits = 3;
    opt.group_size = GROUP;
    opt.refit_scales = true;
    const int saved = qk_threads_get();
    qk_quantized_linear a, b, plain;
    qk_threads_set(1);
    QK_ASSERT_OK(qk_gptq_quantize(w, ROWS, COLS, h, &opt, &a, w1, NULL));
    qk_threads_set(2);
    QK_ASSERT_OK(qk_gptq_quantize(w, ROWS, COLS, h, &opt, &b, w2, NULL));
    qk_threads_set(saved);
    assert_memory_equal(a.scales, b.scales, (size_t)a.n_groups * ROWS * sizeof(float));
    assert_memory_equal(w1, w2, sizeof w1);
    QK_ASSERT_OK(qk_quantized_linear_dequantize(&a, wd));
    assert_memory_equal(w1, wd, sizeof wd);
    opt.refit_scales = false;
    QK_ASSERT_OK(qk_gptq_quantize(w, ROWS, COLS, h, &opt, &plain, NULL, NULL));
    assert_memory_equal(a.codes, plain.codes, sizeof(uint8_t) * ROWS * COLS);
    double e_plain = 0.0, e_refit = 0.0;
    for (int r = 0; r < ROWS; r++) {
        e_plain += row_error(h, w, &plain, plain.scales, r);
        e_refit += row_error(h, w, &a, a.scales, r);
    }
    assert_true(e_refit < e_plain);
    qk_quantized_linear_free(&a);
    qk_quantized_linear_free(&b);
    qk_quantized_linear_free(&plain);
}

/* A row whose codes all sit on the zero point has nothing to fit: its
** scales stay. */
static void test_degenerate_row(void **state) {
    (void)state;
    static double h[COLS * COLS];
    static float w[ROWS * COLS];
    make_problem(5, h, w);
    for (int c = 0; c < COLS; c++) w[c] = 0.0f; /* row 0 all zero */
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.bits = 4;
    opt.group_size = GROUP;
    qk_quantized_linear q;
    QK_ASSERT_OK(qk_gptq_quantize(w, ROWS, COLS, h, &opt, &q, NULL, NULL));
    float s0[COLS / GROUP];
    for (int g = 0; g < COLS / GROUP; g++) s0[g] = q.scales[g * ROWS];
    QK_ASSERT_OK(qk_gptq_refit_scales(w, h, QK_TYPE_F16, &q, NULL));
    for (int g = 0; g < COLS / GROUP; g++) assert_true(q.scales[g * ROWS] == s0[g]);
    assert_int_equal(qk_gptq_refit_scales(NULL, h, QK_TYPE_F16, &q, NULL), QK_ERR_INVALID_ARG);
    qk_quantized_linear_free(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refit_groups_f32), cmocka_unit_test(test_refit_groups_f16),
        cmocka_unit_test(test_refit_act_order),  cmocka_unit_test(test_option_and_threads),
        cmocka_unit_test(test_degenerate_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
