/*
** Metrics: error statistics on hand-computed cases, the special values of
** SQNR and cosine, chunking and thread independence, compensated sums, KL
** divergence (weights and logits), outliers and the clipping report.
*/
#include "qk_test.h"

#include <float.h>

#include "quantkit/metrics.h"

static void test_error_stats_by_hand(void **state) {
    (void)state;
    /* error [0, 0, 0, -1]: mse = mae = 1/4, max 1 at 3; sum x^2 = 30, sum
    ** y^2 = 39, xy = 34: SQNR = 10 log10(30) = 14.7712125 dB, cosine =
    ** 34 / sqrt(30 * 39) = 0.99405.. */
    const float x[] = {1, 2, 3, 4}, y[] = {1, 2, 3, 5};
    qk_error_stats s;
    QK_ASSERT_OK(qk_error_stats_compute(x, y, 4, &s));
    assert_int_equal(s.n, 4);
    QK_ASSERT_NEAR_REL(s.mse, 0.25, 1e-15);
    QK_ASSERT_NEAR_REL(s.mae, 0.25, 1e-15);
    QK_ASSERT_NEAR_REL(s.max_abs_error, 1.0, 0);
    assert_int_equal(s.max_abs_index, 3);
    QK_ASSERT_NEAR_REL(s.sqnr_db, 14.771212547196624, 1e-14);
    QK_ASSERT_NEAR_REL(s.cosine, 34.0 / sqrt(1170.0), 1e-15);
    QK_ASSERT_NEAR_REL(s.sum_sq_ref, 30.0, 0);
    QK_ASSERT_NEAR_REL(s.sum_sq_test, 39.0, 0);
    QK_ASSERT_NEAR_REL(s.dot, 34.0, 0);

    /* signal 10, error +-1: SQNR = 10 log10(400 / 4) = 20 dB; mae 1, the
    ** first index reaching max |e| = 1 is 0; cosine 400 / (20 sqrt(404)) */
    const float a[] = {10, 10, 10, 10}, b[] = {11, 9, 11, 9};
    QK_ASSERT_OK(qk_error_stats_compute(a, b, 4, &s));
    QK_ASSERT_NEAR_REL(s.sqnr_db, 20.0, 1e-15);
    QK_ASSERT_NEAR_REL(s.mae, 1.0, 0);
    QK_ASSERT_NEAR_REL(s.mse, 1.0, 0);
    assert_int_equal(s.max_abs_index, 0);
    QK_ASSERT_NEAR_REL(s.cosine, 400.0 / (20.0 * sqrt(404.0)), 1e-15);

    /* opposite vectors: cosine -1 */
    const float c[] = {1, -2, 3}, d[] = {-2, 4, -6};
    QK_ASSERT_OK(qk_error_stats_compute(c, d, 3, &s));
    QK_ASSERT_NEAR_REL(s.cosine, -1.0, 1e-15);
}

static void test_special_values(void **state) {
    (void)state;
    qk_error_stats s;
    const float x[] = {1.5f, -2.0f, 0.0f}, zero[] = {0, 0, 0};
    /* no error: +Inf dB, cosine 1 */
    QK_ASSERT_OK(qk_error_stats_compute(x, x, 3, &s));
    assert_true(isinf(s.sqnr_db) && s.sqnr_db > 0);
    QK_ASSERT_NEAR_REL(s.cosine, 1.0, 0);
    QK_ASSERT_NEAR_REL(s.mse, 0.0, 0);
    assert_int_equal(s.max_abs_index, 0);
    /* all-zero signal, non-zero approximation: -Inf dB, cosine 0 */
    QK_ASSERT_OK(qk_error_stats_compute(zero, x, 3, &s));
    assert_true(isinf(s.sqnr_db) && s.sqnr_db < 0);
    QK_ASSERT_NEAR_REL(s.cosine, 0.0, 0);
    assert_int_equal(s.max_abs_index, 1);
    /* both zero: +Inf dB (the error is 0), cosine 1 */
    QK_ASSERT_OK(qk_error_stats_compute(zero, zero, 3, &s));
    assert_true(isinf(s.sqnr_db) && s.sqnr_db > 0);
    QK_ASSERT_NEAR_REL(s.cosine, 1.0, 0);
    /* empty */
    QK_ASSERT_OK(qk_error_stats_compute(NULL, NULL, 0, &s));
    assert_int_equal(s.n, 0);
    QK_ASSERT_NEAR_REL(s.mse, 0.0, 0);
    assert_true(isinf(s.sqnr_db) && s.sqnr_db > 0);
    QK_ASSERT_NEAR_REL(s.cosine, 1.0, 0);
    /* denormal errors are counted, not flushed */
    const float t[] = {1e-45f}, u[] = {0.0f};
    QK_ASSERT_OK(qk_error_stats_compute(t, u, 1, &s));
    QK_ASSERT_NEAR_REL(s.max_abs_error, 1.401298464324817e-45, 1e-15);
    QK_ASSERT_NEAR_REL(s.sqnr_db, 0.0, 0);
}

static void fill(float *x, float *y, size_t n, uint64_t seed) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    qk_test_fill_normal(&rng, x, n, 3.0f);
    for (size_t i = 0; i < n; i++) y[i] = x[i] + 0.01f * qk_test_rng_normal(&rng);
    x[n / 3] = 1000.0f; /* a large value so that the order of sums matters */
}

static void test_chunking_and_threads(void **state) {
    (void)state;
    const size_t n = 300007;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    fill(x, y, n, 3);
    qk_error_stats ref;
    QK_ASSERT_OK(qk_error_stats_compute(x, y, n, &ref));
    /* chunk sizes around the block size and odd ones */
    const size_t chunk_sets[][6] = {{1, 4095, 4097, 7, 100000, 8192},
                                    {4096, 4096, 1, 12288, 3, 65536},
                                    {300007, 0, 0, 0, 0, 0},
                                    {13, 13, 13, 13, 13, 13}};
    for (size_t cs = 0; cs < 4; cs++) {
        qk_error_accum acc;
        qk_error_accum_init(&acc);
        size_t off = 0, k = 0;
        while (off < n) {
            size_t c = chunk_sets[cs][k++ % 6];
            if (c == 0) c = n;
            if (c > n - off) c = n - off;
            QK_ASSERT_OK(qk_error_accum_add(&acc, x + off, y + off, c));
            off += c;
        }
        qk_error_stats s;
        qk_error_accum_result(&acc, &s);
        assert_memory_equal(&s, &ref, sizeof s);
    }
    /* thread count */
    const int saved = qk_threads_get();
    for (int t = 1; t <= 3; t++) {
        qk_threads_set(t);
        qk_error_stats s;
        QK_ASSERT_OK(qk_error_stats_compute(x, y, n, &s));
        assert_memory_equal(&s, &ref, sizeof s);
    }
    qk_threads_set(saved);
    /* against an independent long double computation */
    long double see = 0, sxx = 0, sae = 0;
    for (size_t i = 0; i < n; i++) {
        long double d = (long double)x[i] - (long double)y[i];
        see += d * d;
        sae += fabsl(d);
        sxx += (long double)x[i] * x[i];
    }
    QK_ASSERT_NEAR_REL(ref.mse, (double)(see / n), 1e-13);
    QK_ASSERT_NEAR_REL(ref.mae, (double)(sae / n), 1e-13);
    QK_ASSERT_NEAR_REL(ref.sqnr_db, (double)(10.0L * log10l(sxx / see)), 1e-13);
    free(x);
    free(y);
}

/* Compensation: 2^22 small errors (1e-4) after one of 1e8. A running
** double sum loses up to half an ulp of 1e8 (7.5e-9) per element: ~1e-10
** relative on the MAE. Per-block sums with Neumaier between blocks lose
** only within the first block: below 1e-12. */
static void test_compensated_sums(void **state) {
    (void)state;
    const size_t n = (size_t)1 << 22;
    float *x = calloc(n, sizeof(float)), *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) y[i] = 1e-4f;
    x[0] = 1e8f;
    qk_error_stats s;
    QK_ASSERT_OK(qk_error_stats_compute(x, y, n, &s));
    const double e0 = 1e8 - (double)1e-4f, e = (double)1e-4f;
    const double want = (e0 * e0 + (double)(n - 1) * e * e) / (double)n;
    QK_ASSERT_NEAR_REL(s.mse, want, 1e-12);
    QK_ASSERT_NEAR_REL(s.mae, (e0 + (double)(n - 1) * e) / (double)n, 1e-12);
    free(x);
    free(y);
}

static void test_nonfinite_inputs(void **state) {
    (void)state;
    float x[6000], y[6000];
    for (int i = 0; i < 6000; i++) x[i] = y[i] = (float)i;
    y[5] = 6.0f;
    qk_error_accum acc;
    qk_error_accum_init(&acc);
    QK_ASSERT_OK(qk_error_accum_add(&acc, x, y, 5000));
    qk_error_accum saved = acc;
    y[5010] = NAN;
    QK_ASSERT_STATUS(qk_error_accum_add(&acc, x + 5000, y + 5000, 1000), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "approximation element 5010"));
    assert_memory_equal(&acc, &saved, sizeof acc);
    y[5010] = 5010.0f;
    x[5999] = -INFINITY;
    QK_ASSERT_STATUS(qk_error_accum_add(&acc, x + 5000, y + 5000, 1000), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "reference element 5999"));
    assert_memory_equal(&acc, &saved, sizeof acc);
    /* non-finite inside a whole block (the parallel path) */
    float *big = calloc(40000, sizeof(float));
    big[30001] = NAN;
    qk_error_stats s;
    QK_ASSERT_STATUS(qk_error_stats_compute(big, big, 40000, &s), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "element 30001"));
    free(big);
}

static void test_kl(void **state) {
    (void)state;
    double kl;
    /* KL([.5,.5] || [.25,.75]) = .5 ln 2 + .5 ln(2/3) = 0.1438410362 */
    const double p[] = {0.5, 0.5}, q[] = {0.25, 0.75};
    QK_ASSERT_OK(qk_kl_divergence(p, q, 2, &kl));
    QK_ASSERT_NEAR_REL(kl, 0.5 * log(2.0) + 0.5 * log(2.0 / 3.0), 1e-15);
    /* weights are normalised first */
    const double pw[] = {1, 1}, qw[] = {1, 3};
    QK_ASSERT_OK(qk_kl_divergence(pw, qw, 2, &kl));
    QK_ASSERT_NEAR_REL(kl, 0.1438410362258904, 1e-14);
    /* p_i = 0 terms drop: KL([0,1] || [.5,.5]) = ln 2 */
    const double p0[] = {0, 1}, qh[] = {0.5, 0.5};
    QK_ASSERT_OK(qk_kl_divergence(p0, qh, 2, &kl));
    QK_ASSERT_NEAR_REL(kl, log(2.0), 1e-15);
    /* q_i = 0 < p_i: +Inf; identical: 0 */
    QK_ASSERT_OK(qk_kl_divergence(qh, p0, 2, &kl));
    assert_true(isinf(kl) && kl > 0);
    QK_ASSERT_OK(qk_kl_divergence(q, q, 2, &kl));
    QK_ASSERT_NEAR_ABS(kl, 0.0, 0);
    /* errors name the index */
    const double neg[] = {0.5, -0.1, 0.6}, nanv[] = {0.5, 0.5, NAN}, zeros[] = {0, 0, 0};
    const double p3[] = {0.2, 0.3, 0.5};
    QK_ASSERT_STATUS(qk_kl_divergence(neg, neg, 3, &kl), QK_ERR_INVALID_ARG);
    assert_non_null(strstr(qk_last_error(), "p[1]"));
    QK_ASSERT_STATUS(qk_kl_divergence(p3, nanv, 3, &kl), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "q[2]"));
    QK_ASSERT_STATUS(qk_kl_divergence(zeros, zeros, 3, &kl), QK_ERR_INVALID_ARG);
}

static void test_kl_logits(void **state) {
    (void)state;
    double kl;
    /* softmax(0, ln 3) = (1/4, 3/4), softmax(0, 0) = (1/2, 1/2):
    ** KL = .25 ln .5 + .75 ln 1.5 = 0.1308121488 */
    const float a[] = {0.0f, (float)log(3.0)}, b[] = {0.0f, 0.0f};
    QK_ASSERT_OK(qk_kl_divergence_logits(a, b, 2, &kl));
    const double p1 = 1.0 / (1.0 + exp((double)(float)log(3.0)));
    const double want = p1 * log(p1 / 0.5) + (1 - p1) * log((1 - p1) / 0.5);
    QK_ASSERT_NEAR_REL(kl, want, 1e-14);
    QK_ASSERT_NEAR_REL(kl, 0.25 * log(0.5) + 0.75 * log(1.5), 1e-7);
    /* shift invariance and no overflow for large logits */
    const float a2[] = {1000.0f, 1000.0f + (float)log(3.0)}, b2[] = {-500.0f, -500.0f};
    double kl2;
    QK_ASSERT_OK(qk_kl_divergence_logits(a2, b2, 2, &kl2));
    QK_ASSERT_NEAR_REL(kl2, 0.25 * log(0.5) + 0.75 * log(1.5), 1e-4);
    /* -Inf logits are probability 0 */
    const float m1[] = {-INFINITY, 0.0f}, m2[] = {0.0f, -INFINITY};
    QK_ASSERT_OK(qk_kl_divergence_logits(m1, b, 2, &kl));
    QK_ASSERT_NEAR_REL(kl, log(2.0), 1e-15);
    QK_ASSERT_OK(qk_kl_divergence_logits(m1, m2, 2, &kl));
    assert_true(isinf(kl) && kl > 0);
    /* the same logits: 0; a larger vocabulary against a uniform q: ln n - H(p) */
    QK_ASSERT_OK(qk_kl_divergence_logits(a, a, 2, &kl));
    QK_ASSERT_NEAR_ABS(kl, 0.0, 1e-16);
    const float bad[] = {NAN, 0.0f}, allninf[] = {-INFINITY, -INFINITY};
    QK_ASSERT_STATUS(qk_kl_divergence_logits(bad, b, 2, &kl), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "logits_p[0]"));
    QK_ASSERT_STATUS(qk_kl_divergence_logits(allninf, b, 2, &kl), QK_ERR_INVALID_ARG);
}

/* Nine zeros and a ten: mean 1, variance (9*1 + 81)/10 = 9, std 3. With
** k = 2 the bounds are [-5, 7] and 10 is the one outlier (z = 3); with
** k = 3 the deviation 9 is not > 9. */
static void test_outliers_by_hand(void **state) {
    (void)state;
    float x[10] = {0};
    x[9] = 10.0f;
    qk_outlier_stats st;
    uint64_t idx[4] = {99, 99, 99, 99};
    QK_ASSERT_OK(qk_outliers_find(x, 10, 2.0, &st, idx, 4));
    QK_ASSERT_NEAR_REL(st.mean, 1.0, 1e-15);
    QK_ASSERT_NEAR_REL(st.std, 3.0, 1e-15);
    QK_ASSERT_NEAR_REL(st.lo, -5.0, 1e-15);
    QK_ASSERT_NEAR_REL(st.hi, 7.0, 1e-15);
    assert_int_equal(st.count, 1);
    QK_ASSERT_NEAR_REL(st.fraction, 0.1, 1e-15);
    QK_ASSERT_NEAR_REL(st.max_abs_z, 3.0, 1e-15);
    assert_int_equal(idx[0], 9);
    assert_int_equal(idx[1], 99);
    QK_ASSERT_OK(qk_outliers_find(x, 10, 3.0, &st, NULL, 0));
    assert_int_equal(st.count, 0);
    /* count with no buffer, then a buffer too small */
    float y[8] = {-50, 0, 0, 0, 0, 0, 0, 50}; /* mean 0, std 25: |50| > 1.5*25 */
    QK_ASSERT_OK(qk_outliers_find(y, 8, 1.5, &st, NULL, 0));
    assert_int_equal(st.count, 2);
    QK_ASSERT_OK(qk_outliers_find(y, 8, 1.5, &st, idx, 1));
    assert_int_equal(st.count, 2);
    assert_int_equal(idx[0], 0);
    /* constants have no outliers; errors */
    float c[5] = {2, 2, 2, 2, 2};
    QK_ASSERT_OK(qk_outliers_find(c, 5, 0.0, &st, NULL, 0));
    assert_int_equal(st.count, 0);
    QK_ASSERT_NEAR_REL(st.std, 0.0, 0);
    QK_ASSERT_STATUS(qk_outliers_find(c, 5, -1.0, &st, NULL, 0), QK_ERR_INVALID_ARG);
    c[3] = NAN;
    QK_ASSERT_STATUS(qk_outliers_find(c, 5, 1.0, &st, NULL, 0), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "element 3"));
    /* clip: 10 -> 7 */
    float out[10];
    QK_ASSERT_OK(qk_outliers_clip(x, out, 10, 2.0, &st));
    QK_ASSERT_F32_BITS_EQ(out[9], 7.0f);
    QK_ASSERT_F32_BITS_EQ(out[0], 0.0f);
}

/* uint2 min-max quantize-dequantize over [0, max(in)] (4 levels). */
static qk_status qdq_u2(void *user, const float *in, float *out, size_t n) {
    int *calls = user;
    (*calls)++;
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) mx = in[i] > mx ? in[i] : mx;
    const float s = mx / 3.0f;
    for (size_t i = 0; i < n; i++) out[i] = s > 0 ? nearbyintf(in[i] / s) * s : 0.0f;
    return QK_OK;
}

static void test_clip_report(void **state) {
    (void)state;
    /* nine zeros and a ten: plain [0, 10] represents both exactly (error 0);
    ** clipping 10 to 7 costs (10-7)^2 = 9 at the outlier: mse 0.9 */
    float x[10] = {0};
    x[9] = 10.0f;
    int calls = 0;
    qk_outlier_clip_report r;
    QK_ASSERT_OK(qk_outlier_clip_effect(x, 10, 2.0, qdq_u2, &calls, &r));
    assert_int_equal(calls, 2);
    assert_int_equal(r.outliers.count, 1);
    QK_ASSERT_NEAR_ABS(r.plain.mse, 0.0, 1e-12);
    QK_ASSERT_NEAR_REL(r.clipped.mse, 0.9, 1e-6);
    QK_ASSERT_NEAR_ABS(r.plain_inlier_mse, 0.0, 0);
    QK_ASSERT_NEAR_ABS(r.clipped_inlier_mse, 0.0, 0);
    QK_ASSERT_NEAR_REL(r.clipped_outlier_mse, 9.0, 1e-6);

    /* Normal data with one spike: clipping it helps the inliers (finer
    ** steps) and hurts the spike; the split MSEs recombine to the totals. */
    const size_t n = 2000;
    float *g = malloc(n * sizeof(float));
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 21);
    for (size_t i = 0; i < n; i++) g[i] = fabsf(qk_test_rng_normal(&rng));
    g[100] = 60.0f;
    QK_ASSERT_OK(qk_outlier_clip_effect(g, n, 4.0, qdq_u2, &calls, &r));
    assert_true(r.outliers.count >= 1);
    assert_true(r.clipped_inlier_mse < r.plain_inlier_mse);
    assert_true(r.clipped_outlier_mse > r.plain_outlier_mse);
    const double n_out = (double)r.outliers.count, n_in = (double)n - n_out;
    QK_ASSERT_NEAR_REL(r.plain.mse, (r.plain_inlier_mse * n_in + r.plain_outlier_mse * n_out) / n,
                       1e-12);
    QK_ASSERT_NEAR_REL(r.clipped.mse,
                       (r.clipped_inlier_mse * n_in + r.clipped_outlier_mse * n_out) / n, 1e-12);
    free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_stats_by_hand),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_chunking_and_threads),
        cmocka_unit_test(test_compensated_sums),
        cmocka_unit_test(test_nonfinite_inputs),
        cmocka_unit_test(test_kl),
        cmocka_unit_test(test_kl_logits),
        cmocka_unit_test(test_outliers_by_hand),
        cmocka_unit_test(test_clip_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
