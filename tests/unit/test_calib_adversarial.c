/*
** Observers on hostile input: empty batches, all zeros, constants, NaN/Inf
** (error naming the index, observer unchanged), denormals, a huge outlier,
** ranges wider than f32, wrong types.
*/
#include "qk_test.h"

#include <float.h>

#include "calib/abs_histogram.h"
#include "calib/observer_impl.h"
#include "quantkit/calib.h"

static const qk_observer_target U8 = {8, QK_QRANGE_UNSIGNED, false};
static const qk_observer_target I8_SYM = {8, QK_QRANGE_SIGNED, true};

static qk_observer *make_kind(int kind, bool per_channel) {
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, (qk_observer_kind)kind);
    cfg.per_channel = per_channel;
    qk_observer *obs = NULL;
    QK_ASSERT_OK(qk_observer_create(&cfg, &obs));
    return obs;
}

static void test_empty_batches(void **state) {
    (void)state;
    for (int kind = 0; kind < QK_OBSERVER_KIND_COUNT; kind++) {
        qk_observer *obs = make_kind(kind, false);
        QK_ASSERT_OK(qk_observer_observe_f32(obs, NULL, 0));
        assert_int_equal(qk_observer_count(obs), 0);
        qk_affine_params p;
        QK_ASSERT_STATUS(qk_observer_compute(obs, &U8, &p, 1), QK_ERR_STATE);
        float lo, hi;
        QK_ASSERT_STATUS(qk_observer_range(obs, &U8, &lo, &hi, 1), QK_ERR_STATE);
        qk_observer_free(obs);
        /* per channel: a [0, 5] batch leaves the channel count unknown */
        obs = make_kind(kind, true);
        qk_tensor_view v;
        const int64_t shape[2] = {0, 5};
        QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape, NULL));
        qk_observer_config cfg = *qk_observer_get_config(obs);
        assert_true(cfg.per_channel);
        QK_ASSERT_OK(qk_observer_observe(obs, &v));
        assert_int_equal(qk_observer_channels(obs), 0);
        QK_ASSERT_STATUS(qk_observer_compute(obs, &U8, &p, 1), QK_ERR_STATE);
        qk_observer_free(obs);
    }
}

/* All zeros: every kind gives [0, 0] -> scale FLT_EPSILON, zero point 0. */
static void test_all_zeros(void **state) {
    (void)state;
    float z[1000] = {0};
    z[17] = -0.0f;
    for (int kind = 0; kind < QK_OBSERVER_KIND_COUNT; kind++) {
        qk_observer *obs = make_kind(kind, false);
        QK_ASSERT_OK(qk_observer_observe_f32(obs, z, 1000));
        QK_ASSERT_OK(qk_observer_observe_f32(obs, z, 500));
        float lo, hi;
        QK_ASSERT_OK(qk_observer_range(obs, &U8, &lo, &hi, 1));
        if (lo != 0.0f || hi != 0.0f)
            fail_msg("%s: all zeros gave [%g, %g]", qk_observer_kind_name(kind), (double)lo,
                     (double)hi);
        qk_affine_params p;
        QK_ASSERT_OK(qk_observer_compute(obs, &U8, &p, 1));
        QK_ASSERT_F32_BITS_EQ(p.scale, FLT_EPSILON);
        assert_int_equal(p.zero_point, 0);
        QK_ASSERT_OK(qk_observer_compute(obs, &I8_SYM, &p, 1));
        QK_ASSERT_F32_BITS_EQ(p.scale, FLT_EPSILON);
        assert_int_equal(p.zero_point, 0);
        qk_observer_free(obs);
    }
    /* zeros first, then real data: the TensorRT histogram keeps the zeros
    ** in bin 0 and takes its width from the first non-zero batch */
    qk_observer *obs = make_kind(QK_OBSERVER_ENTROPY, false);
    const float x[] = {2.0f, -1.0f};
    QK_ASSERT_OK(qk_observer_observe_f32(obs, z, 1000));
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 2));
    const qk_abs_hist *h = qk_observer_state(obs, 0);
    assert_int_equal(h->nbins, 2048);
    QK_ASSERT_F32_BITS_EQ((float)h->width, 2.0f / 2048.0f);
    QK_ASSERT_NEAR_ABS(h->counts[0], 1000, 0);
    QK_ASSERT_NEAR_ABS(h->counts[1024], 1, 0);
    QK_ASSERT_NEAR_ABS(h->counts[2047], 1, 0);
    qk_observer_free(obs);
}

/* A constant 3: min-max, moving average, percentile, entropy and the torch
** histogram give [3, 3]. HIST_MSE picks bin centres: all 100 counts sit in
** the last bin (3 is the top edge), whose centre 2047.5 * 3/2048 is the only
** candidate with zero error. */
static void test_constant(void **state) {
    (void)state;
    float c[100];
    for (int i = 0; i < 100; i++) c[i] = 3.0f;
    for (int kind = 0; kind < QK_OBSERVER_KIND_COUNT; kind++) {
        qk_observer *obs = make_kind(kind, false);
        QK_ASSERT_OK(qk_observer_observe_f32(obs, c, 100));
        QK_ASSERT_OK(qk_observer_observe_f32(obs, c, 50));
        float lo, hi;
        QK_ASSERT_OK(qk_observer_range(obs, &I8_SYM, &lo, &hi, 1));
        const float want = kind == QK_OBSERVER_HIST_MSE ? (float)(2047.5 * 3.0 / 2048.0) : 3.0f;
        if (lo != want || hi != want)
            fail_msg("%s: constant 3 gave [%.9g, %.9g], expected %.9g", qk_observer_kind_name(kind),
                     (double)lo, (double)hi, (double)want);
        qk_affine_params p;
        QK_ASSERT_OK(qk_observer_compute(obs, &I8_SYM, &p, 1));
        QK_ASSERT_NEAR_REL(p.scale, want / 127.5, 1e-7);
        qk_observer_free(obs);
    }
    /* torch histogram: a constant first batch is kept when the range grows
    ** (torch 1.13 would forget it): 100 threes then {0, 4}, bins [0, 4] */
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_HISTOGRAM);
    cfg.bins = 4;
    qk_observer *obs = NULL;
    QK_ASSERT_OK(qk_observer_create(&cfg, &obs));
    const float grow[] = {0.0f, 4.0f};
    QK_ASSERT_OK(qk_observer_observe_f32(obs, c, 100));
    QK_ASSERT_OK(qk_observer_observe_f32(obs, grow, 2));
    const double *hist;
    float mn, mx;
    QK_ASSERT_OK(qk_obs_histogram_get(obs, 0, &hist, &mn, &mx));
    QK_ASSERT_F32_BITS_EQ(mn, 0.0f);
    QK_ASSERT_F32_BITS_EQ(mx, 4.0f);
    QK_ASSERT_NEAR_ABS(hist[0], 1, 0);
    QK_ASSERT_NEAR_ABS(hist[1], 0, 0);
    QK_ASSERT_NEAR_ABS(hist[2], 0, 0);
    QK_ASSERT_NEAR_ABS(hist[3], 101, 0); /* the 100 threes and the 4 */
    qk_observer_free(obs);
}

static void test_nonfinite(void **state) {
    (void)state;
    const float good[] = {0.5f, -1.0f, 2.0f, 0.25f};
    const float bad_nan[] = {1.0f, 2.0f, NAN, 4.0f};
    const float bad_inf[] = {INFINITY, 0.0f};
    const float bad_ninf[] = {0.0f, 1.0f, 2.0f, -INFINITY};
    for (int kind = 0; kind < QK_OBSERVER_KIND_COUNT; kind++) {
        qk_observer *obs = make_kind(kind, false);
        QK_ASSERT_OK(qk_observer_observe_f32(obs, good, 4));
        float lo0, hi0, lo1, hi1;
        QK_ASSERT_OK(qk_observer_range(obs, &U8, &lo0, &hi0, 1));
        QK_ASSERT_STATUS(qk_observer_observe_f32(obs, bad_nan, 4), QK_ERR_NONFINITE);
        assert_non_null(strstr(qk_last_error(), "element 2 is NaN"));
        QK_ASSERT_STATUS(qk_observer_observe_f32(obs, bad_inf, 2), QK_ERR_NONFINITE);
        assert_non_null(strstr(qk_last_error(), "element 0 is +Inf"));
        QK_ASSERT_STATUS(qk_observer_observe_f32(obs, bad_ninf, 4), QK_ERR_NONFINITE);
        assert_non_null(strstr(qk_last_error(), "element 3 is -Inf"));
        assert_int_equal(qk_observer_count(obs), 4);
        QK_ASSERT_OK(qk_observer_range(obs, &U8, &lo1, &hi1, 1));
        QK_ASSERT_F32_BITS_EQ(lo0, lo1);
        QK_ASSERT_F32_BITS_EQ(hi0, hi1);
        qk_observer_free(obs);

        /* per channel: the flat index; a bad first batch leaves no channels */
        obs = make_kind(kind, true);
        qk_observer_config cfg = *qk_observer_get_config(obs);
        (void)cfg;
        float m[6] = {1, 2, 3, 4, NAN, 6};
        const int64_t shape[2] = {2, 3};
        qk_tensor_view v;
        QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape, m));
        QK_ASSERT_STATUS(qk_observer_observe(obs, &v), QK_ERR_NONFINITE);
        assert_non_null(strstr(qk_last_error(), "element 4 is NaN"));
        assert_int_equal(qk_observer_channels(obs), 0);
        m[4] = 5.0f;
        QK_ASSERT_OK(qk_observer_observe(obs, &v));
        assert_int_equal(qk_observer_channels(obs), 2);
        qk_observer_free(obs);
        /* along axis 1 (channels interleaved): still the flat index */
        qk_observer_config c1;
        qk_observer_config_default(&c1, (qk_observer_kind)kind);
        c1.per_channel = true;
        c1.ch_axis = 1;
        QK_ASSERT_OK(qk_observer_create(&c1, &obs));
        m[5] = INFINITY;
        QK_ASSERT_STATUS(qk_observer_observe(obs, &v), QK_ERR_NONFINITE);
        assert_non_null(strstr(qk_last_error(), "element 5 is +Inf"));
        m[5] = 6.0f;
        QK_ASSERT_OK(qk_observer_observe(obs, &v));
        assert_int_equal(qk_observer_channels(obs), 3);
        float lo3[3], hi3[3];
        QK_ASSERT_OK(qk_observer_range(obs, &U8, lo3, hi3, 3));
        if (kind == QK_OBSERVER_MINMAX) {
            QK_ASSERT_F32_BITS_EQ(lo3[1], 2.0f);
            QK_ASSERT_F32_BITS_EQ(hi3[1], 5.0f);
        }
        qk_observer_free(obs);
    }
}

/* Subnormal inputs: ranges stay inside [min, max] (the torch histogram's
** f32 grid min + w*k may round past max by a little: w itself is subnormal
** and coarse) and the parameters are the epsilon floor with zero point 0. */
static void test_denormals(void **state) {
    (void)state;
    const float d[] = {1e-45f, -1e-45f, 3e-45f, 0.0f, 2e-39f, -1.5e-40f};
    for (int kind = 0; kind < QK_OBSERVER_KIND_COUNT; kind++) {
        qk_observer *obs = make_kind(kind, false);
        QK_ASSERT_OK(qk_observer_observe_f32(obs, d, 6));
        QK_ASSERT_OK(qk_observer_observe_f32(obs, d, 3));
        float lo, hi;
        QK_ASSERT_OK(qk_observer_range(obs, &U8, &lo, &hi, 1));
        const float slack = kind == QK_OBSERVER_HISTOGRAM ? 1e-41f : 0.0f;
        if (!(lo <= hi && lo >= -1.5e-40f - slack && hi <= 2e-39f + slack))
            fail_msg("%s: subnormal data gave [%g, %g]", qk_observer_kind_name(kind), (double)lo,
                     (double)hi);
        qk_affine_params p;
        QK_ASSERT_OK(qk_observer_compute(obs, &U8, &p, 1));
        QK_ASSERT_F32_BITS_EQ(p.scale, FLT_EPSILON);
        assert_int_equal(p.zero_point, 0);
        qk_observer_free(obs);
    }
}

/* One value of 1e30 among N(0, 1): everything completes with finite
** parameters; min-max follows the outlier, the TensorRT histogram coarsens
** (bins stay <= 4 * 2048, counts exact) and the torch histogram re-bins. */
static void test_huge_outlier(void **state) {
    (void)state;
    float x[4096];
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 11);
    qk_test_fill_normal(&rng, x, 4096, 1.0f);
    const float spike[] = {0.5f, 1e30f, -0.25f};
    for (int kind = 0; kind < QK_OBSERVER_KIND_COUNT; kind++) {
        qk_observer *obs = make_kind(kind, false);
        const double t0 = qk_time_seconds();
        QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 4096));
        QK_ASSERT_OK(qk_observer_observe_f32(obs, spike, 3));
        qk_affine_params p;
        QK_ASSERT_OK(qk_observer_compute(obs, &I8_SYM, &p, 1));
        assert_true(isfinite(p.scale) && p.scale >= FLT_EPSILON);
        if (QK_TIMING_CHECKS()) assert_true(qk_time_seconds() - t0 < 2.0);
        if (kind == QK_OBSERVER_MINMAX) QK_ASSERT_NEAR_REL(p.scale, 1e30 / 127.5, 1e-6);
        if (kind == QK_OBSERVER_ENTROPY || kind == QK_OBSERVER_HIST_MSE) {
            const qk_abs_hist *h = qk_observer_state(obs, 0);
            assert_true(h->nbins <= 4 * 2048);
            assert_true(h->nbins * h->width >= 1e30);
            double total = 0.0;
            for (int64_t j = 0; j < h->nbins; j++) total += h->counts[j];
            QK_ASSERT_NEAR_ABS(total, 4099, 0);
        }
        if (kind == QK_OBSERVER_HISTOGRAM) {
            const double *hist;
            float mn, mx;
            QK_ASSERT_OK(qk_obs_histogram_get(obs, 0, &hist, &mn, &mx));
            QK_ASSERT_F32_BITS_EQ(mx, 1e30f);
        }
        qk_observer_free(obs);
    }
}

static void test_range_overflow_and_types(void **state) {
    (void)state;
    const float wide[] = {-3e38f, 3e38f};
    /* torch histogram: max - min overflows f32 -> refused, nothing changes */
    qk_observer *obs = make_kind(QK_OBSERVER_HISTOGRAM, false);
    QK_ASSERT_STATUS(qk_observer_observe_f32(obs, wide, 2), QK_ERR_OVERFLOW);
    assert_int_equal(qk_observer_count(obs), 0);
    qk_observer_free(obs);
    /* min-max observes it; affine parameters overflow, symmetric ones do not */
    obs = make_kind(QK_OBSERVER_MINMAX, false);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, wide, 2));
    qk_affine_params p;
    QK_ASSERT_STATUS(qk_observer_compute(obs, &U8, &p, 1), QK_ERR_OVERFLOW);
    QK_ASSERT_OK(qk_observer_compute(obs, &I8_SYM, &p, 1));
    QK_ASSERT_NEAR_REL(p.scale, 3e38 / 127.5, 1e-6);
    /* only f32 batches */
    uint16_t h[2] = {0x3C00, 0x4000};
    qk_tensor_view v;
    const int64_t shape[1] = {2};
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F16, 1, shape, h));
    QK_ASSERT_STATUS(qk_observer_observe(obs, &v), QK_ERR_UNSUPPORTED);
    QK_ASSERT_STATUS(qk_observer_observe(obs, NULL), QK_ERR_INVALID_ARG);
    qk_observer_free(obs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_batches),
        cmocka_unit_test(test_all_zeros),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_denormals),
        cmocka_unit_test(test_huge_outlier),
        cmocka_unit_test(test_range_overflow_and_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
