/*
** Observers on small hand-computed cases: every kind, its chosen range and
** the resulting scale / zero point. The expected numbers are worked out in
** the comments.
*/
#include "qk_test.h"

#include <float.h>

#include "calib/abs_histogram.h"
#include "calib/observer_impl.h"
#include "quantkit/calib.h"

static qk_observer *make(qk_observer_kind kind) {
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, kind);
    qk_observer *obs = NULL;
    QK_ASSERT_OK(qk_observer_create(&cfg, &obs));
    return obs;
}

static qk_observer *make_cfg(const qk_observer_config *cfg) {
    qk_observer *obs = NULL;
    QK_ASSERT_OK(qk_observer_create(cfg, &obs));
    return obs;
}

static const qk_observer_target U8 = {8, QK_QRANGE_UNSIGNED, false};
static const qk_observer_target I8_SYM = {8, QK_QRANGE_SIGNED, true};

static void range_of(qk_observer *obs, const qk_observer_target *t, float *lo, float *hi) {
    QK_ASSERT_OK(qk_observer_range(obs, t, lo, hi, 1));
}

static void test_minmax(void **state) {
    (void)state;
    qk_observer *obs = make(QK_OBSERVER_MINMAX);
    const float b1[] = {1.0f, 2.0f}, b2[] = {-2.0f, 5.0f, 0.5f};
    QK_ASSERT_OK(qk_observer_observe_f32(obs, b1, 2));
    QK_ASSERT_OK(qk_observer_observe_f32(obs, b2, 3));
    assert_int_equal(qk_observer_count(obs), 5);
    float lo, hi;
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(lo, -2.0f);
    QK_ASSERT_F32_BITS_EQ(hi, 5.0f);
    /* uint8 affine: scale = 7/255 = 0.0274509804, zp = 0 - round(-2/scale) =
    ** round(72.857) = 73 */
    qk_affine_params p;
    QK_ASSERT_OK(qk_observer_compute(obs, &U8, &p, 1));
    QK_ASSERT_NEAR_REL(p.scale, 0.0274509804, 1e-7);
    assert_int_equal(p.zero_point, 73);
    assert_int_equal(p.qmin, 0);
    assert_int_equal(p.qmax, 255);
    /* int8 symmetric: 5 / 127.5 = 0.0392156863, zp 0 */
    QK_ASSERT_OK(qk_observer_compute(obs, &I8_SYM, &p, 1));
    QK_ASSERT_NEAR_REL(p.scale, 0.0392156863, 1e-7);
    assert_int_equal(p.zero_point, 0);
    /* int4 restricted symmetric [-7, 7]: 5 / 7 */
    qk_observer_target t4 = {4, QK_QRANGE_SIGNED_RESTRICTED, true};
    QK_ASSERT_OK(qk_observer_compute(obs, &t4, &p, 1));
    QK_ASSERT_NEAR_REL(p.scale, 5.0 / 7.0, 1e-7);
    assert_int_equal(p.qmin, -7);
    qk_observer_free(obs);

    /* positive data: the range is widened to include 0 -> [0, 3], zp 0 */
    obs = make(QK_OBSERVER_MINMAX);
    const float pos[] = {1.0f, 3.0f};
    QK_ASSERT_OK(qk_observer_observe_f32(obs, pos, 2));
    QK_ASSERT_OK(qk_observer_compute(obs, &U8, &p, 1));
    QK_ASSERT_NEAR_REL(p.scale, 3.0 / 255.0, 1e-7);
    assert_int_equal(p.zero_point, 0);
    qk_observer_free(obs);
}

static void test_moving_average(void **state) {
    (void)state;
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_MOVING_AVERAGE);
    cfg.averaging_constant = 0.5f;
    qk_observer *obs = make_cfg(&cfg);
    /* first batch initialises: [0, 10]; then min += 0.5*(-4 - 0) = -2,
    ** max += 0.5*(14 - 10) = 12; then a batch at the averages changes nothing */
    const float b1[] = {0.0f, 10.0f}, b2[] = {-4.0f, 14.0f, 1.0f}, b3[] = {12.0f, -2.0f};
    float lo, hi;
    QK_ASSERT_OK(qk_observer_observe_f32(obs, b1, 2));
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(lo, 0.0f);
    QK_ASSERT_F32_BITS_EQ(hi, 10.0f);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, b2, 3));
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(lo, -2.0f);
    QK_ASSERT_F32_BITS_EQ(hi, 12.0f);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, b3, 2));
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(lo, -2.0f);
    QK_ASSERT_F32_BITS_EQ(hi, 12.0f);
    qk_observer_free(obs);

    /* default constant 0.01: [0, 10] then [-10, 20] -> [-0.1, 10.1] */
    obs = make(QK_OBSERVER_MOVING_AVERAGE);
    const float c1[] = {0.0f, 10.0f}, c2[] = {-10.0f, 20.0f};
    QK_ASSERT_OK(qk_observer_observe_f32(obs, c1, 2));
    QK_ASSERT_OK(qk_observer_observe_f32(obs, c2, 2));
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_NEAR_REL(lo, -0.1, 1e-6);
    QK_ASSERT_NEAR_REL(hi, 10.1, 1e-6);
    qk_observer_free(obs);
}

static void test_percentile(void **state) {
    (void)state;
    float x[100];
    for (int i = 0; i < 100; i++) x[(i * 37) % 100] = (float)(i + 1); /* 1..100, shuffled */
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_PERCENTILE);
    float lo, hi;
    /* p = 99: h = 99*99/100 = 98.01 -> v[98] + 0.01*(v[99]-v[98]) = 99.01;
    ** mirror rank 99 - 98.01 = 0.99 -> 1 + 0.99 = 1.99 */
    cfg.percentile = 99.0;
    qk_observer *obs = make_cfg(&cfg);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 40));
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x + 40, 60));
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(hi, 99.01f);
    QK_ASSERT_F32_BITS_EQ(lo, 1.99f);
    /* asking again (the values are now partially ordered) gives the same */
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(hi, 99.01f);
    QK_ASSERT_F32_BITS_EQ(lo, 1.99f);
    qk_observer_free(obs);
    /* p = 50: the median of 1..100 is 50.5, both ends */
    cfg.percentile = 50.0;
    obs = make_cfg(&cfg);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 100));
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(hi, 50.5f);
    QK_ASSERT_F32_BITS_EQ(lo, 50.5f);
    qk_observer_free(obs);
    /* the default 99.99: h = 98.9901 -> 99.9901; mirror 0.0099 -> 1.0099 */
    obs = make(QK_OBSERVER_PERCENTILE);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 100));
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_NEAR_REL(hi, 99.9901, 1e-7);
    QK_ASSERT_NEAR_REL(lo, 1.0099, 1e-7);
    qk_observer_free(obs);
    /* p = 100 is min-max */
    cfg.percentile = 100.0;
    obs = make_cfg(&cfg);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 100));
    range_of(obs, &U8, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(lo, 1.0f);
    QK_ASSERT_F32_BITS_EQ(hi, 100.0f);
    qk_observer_free(obs);

    /* |x| mode: -100..-1 and 1..100 -> |x| sorted 1,1,2,2,..,100,100 (n = 200);
    ** p = 99: h = 199*0.99 = 197.01 -> 99 + 0.01*(100 - 99) = 99.01;
    ** range [max(-100, -99.01), min(100, 99.01)] */
    float y[200];
    for (int i = 0; i < 100; i++) {
        y[i] = -(float)(i + 1);
        y[100 + i] = (float)(100 - i);
    }
    qk_observer_config_default(&cfg, QK_OBSERVER_PERCENTILE);
    cfg.percentile = 99.0;
    cfg.percentile_abs = true;
    obs = make_cfg(&cfg);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, y, 200));
    range_of(obs, &I8_SYM, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(lo, -99.01f);
    QK_ASSERT_F32_BITS_EQ(hi, 99.01f);
    qk_affine_params p;
    QK_ASSERT_OK(qk_observer_compute(obs, &I8_SYM, &p, 1));
    QK_ASSERT_NEAR_REL(p.scale, 99.01 / 127.5, 1e-6);
    qk_observer_free(obs);
}

/* TensorRT entropy on a hand-built |x| histogram. 8 bins, max |x| = 8 so
** the width is 1; counts [10, 4, 4, 4, 2, 0, 0, 1]; bins[0] = bins[1] makes
** that [4, 4, 4, 4, 2, 0, 0, 1] (total 19). Target: 2 bits signed -> T = 2
** chunks; start_bin 2. KL(P||Q) per candidate i:
**   i=4: P = [4,4,4,4+3], Q = [4,4,4,4]             -> 0.0343240
**   i=5: P = [4,4,4,4,2+1], Q = [4,4,4,3,3]          -> 0.0064974
**   i=6, 7: P[i-1] gets the tail but bins[i-1] = 0   -> +Inf
**   i=8: P = bins, Q = [4,4,4,4,1.5,0,0,1.5]         -> 0.0089421
**   (i=2: 0.178, i=3: 0.126). Minimum at i = 5: amax = 5. */
static void test_entropy_hand_histogram(void **state) {
    (void)state;
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_ENTROPY);
    cfg.bins = 8;
    cfg.start_bin = 2;
    qk_observer *obs = make_cfg(&cfg);
    float x[25];
    int k = 0;
    for (int i = 0; i < 10; i++) x[k++] = (i % 2) ? 0.5f : -0.25f; /* bin 0 */
    for (int i = 0; i < 4; i++) x[k++] = -1.5f;                    /* bin 1 */
    for (int i = 0; i < 4; i++) x[k++] = 2.5f;                     /* bin 2 */
    for (int i = 0; i < 4; i++) x[k++] = -3.0f;                    /* bin 3 (edge 3) */
    x[k++] = 4.5f;                                                 /* bin 4 */
    x[k++] = 4.0f;                                                 /* bin 4 (edge 4) */
    x[k++] = 8.0f;                                                 /* top edge: bin 7 */
    assert_int_equal(k, 25);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 25));
    qk_observer_target t2 = {2, QK_QRANGE_SIGNED, true};
    float lo, hi;
    range_of(obs, &t2, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(hi, 5.0f);
    QK_ASSERT_F32_BITS_EQ(lo, -3.0f); /* max(min, -amax) = max(-3, -5) */
    /* symmetric 2-bit signed: [-2, 1] -> scale = 5 / 1.5 */
    qk_affine_params p;
    QK_ASSERT_OK(qk_observer_compute(obs, &t2, &p, 1));
    QK_ASSERT_NEAR_REL(p.scale, 5.0 / 1.5, 1e-7);
    qk_observer_free(obs);

    /* Without the outlier at 8: max |x| = 4.5, w = 0.5625; counts
    ** [10, 0, 4, 0, 4, 4, 0, 2] (0.25, 0.5 | 1.5 -> 2.67 | 2.5 -> 4.44 |
    ** 3 -> 5.33 | 4, 4.5 -> 7), after bins[0] = bins[1]: [0, 0, 4, 0, 4, 4, 0,
    ** 2]. At i = 3, P = [0, 0, 4 + 10] and Q = [0, 0, 4]: both normalise to
    ** [0, 0, 1], KL = 0, the minimum (every other i is > 0 or +Inf):
    ** amax = 3w = 1.6875. The copy is modified, not the observer: a second
    ** compute gives the same. */
    obs = make_cfg(&cfg);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 24));
    const qk_abs_hist *h = qk_observer_state(obs, 0);
    assert_non_null(h);
    assert_int_equal(h->nbins, 8);
    const double want[8] = {10, 0, 4, 0, 4, 4, 0, 2};
    for (int j = 0; j < 8; j++) QK_ASSERT_NEAR_ABS(h->counts[j], want[j], 0);
    for (int rep = 0; rep < 2; rep++) {
        range_of(obs, &t2, &lo, &hi);
        QK_ASSERT_F32_BITS_EQ(hi, 1.6875f);
        QK_ASSERT_F32_BITS_EQ(lo, -1.6875f);
    }
    qk_observer_free(obs);
}

/* TensorRT MSE on a hand-built histogram: 8 bins of width 1 (max |x| = 8),
** 10 values in bin 3 (centre 3.5), one at 8 (bin 7, centre 7.5), one at
** -0.1 (bin 0, centre 0.5). Target 2 bits signed: M = 2^1 - 1 = 1, so a
** centre c quantizes to 0 or amax: fq(c) = min(round(c/amax), 1) * amax.
** Errors (start_bin 0): amax 0.5: 10*9 + 49 = 139; 1.5: 40 + 36 + .25 =
** 76.25; 2.5: 10 + 25 + .25 = 35.25; 3.5: 0 + 16 + .25 = 16.25;
** 4.5: 10 + 9 + .25 = 19.25; 5.5: 40 + 4 + .25; 6.5: 90 + 1 + .25;
** 7.5: 3.5/7.5 < 0.5 -> 0: 122.5 + .25. Minimum at amax = 3.5. */
static void test_hist_mse_hand_histogram(void **state) {
    (void)state;
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_HIST_MSE);
    cfg.bins = 8;
    cfg.start_bin = 0;
    qk_observer *obs = make_cfg(&cfg);
    float x[12];
    for (int i = 0; i < 10; i++) x[i] = 3.2f;
    x[10] = 8.0f;
    x[11] = -0.1f;
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 12));
    qk_observer_target t2 = {2, QK_QRANGE_SIGNED, true};
    float lo, hi;
    range_of(obs, &t2, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(hi, 3.5f);
    QK_ASSERT_F32_BITS_EQ(lo, -0.1f);
    qk_observer_free(obs);

    /* One-sided: no negatives and an unsigned 1-bit target -> T = 2^1, the
    ** same M = 1 and the same amax; start_bin 5 leaves 5.5, 6.5, 7.5 of
    ** which 5.5 (44) is the smallest. */
    cfg.start_bin = 5;
    obs = make_cfg(&cfg);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 11));
    qk_observer_target u1 = {1, QK_QRANGE_UNSIGNED, false};
    range_of(obs, &u1, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(hi, 5.5f);
    QK_ASSERT_F32_BITS_EQ(lo, 3.2f);
    qk_observer_free(obs);
}

/* torch histogram, two batches with the range growing (bins 4, upsample 2):
**   batch 1 {0, 1.5, 2.5, 3.5, 4}: [0, 4], width 1, counts [1, 1, 1, 2].
**   batch 2 {8}: combined [0, 8]; old cell width 4/(4*2) = 0.5, downsample
**   ceil(8/2) = 4, e = 0, start_idx 0. The old histogram upsampled to cells
**   [1,1,1,1,1,1,2,2] (each bin twice), integrated over 4-cell groups: [4, 6,
**   0, 0] / 2 = [2, 3, 0, 0]; plus batch 2's histc over [0, 8] (8 -> last
**   bin): [2, 3, 0, 1].
** Search for 1 bit (dst_nbins 2), bin width 2, total 6, cumsum [2, 5, 5, 6]:
**   first step moves the end bin to 2 (cumsum[3] = 6 > 6*(1-1e-5)):
**   error(0, 2): dst width 3; 2/2*int_0^2 (x-1.5)^2 = 7/6, bin 1 (density 1.5)
**   over [2,3] around 1.5 and [3,4] around 4.5: 1.5*(13/12 + 13/12) = 3.25,
**   bin 3 (density .5) clipped around 4.5: .5*(3.5^3 - 1.5^3)/3 = 6.5833;
**   total 11. Later the end moves to 0 (beta < 5/6): error(0, 0) = 1/6 +
**   7.75 + 30.583 = 38.5 > 11, stop. Range [0, 2*3] = [0, 6]. */
static void test_histogram_combine_and_search(void **state) {
    (void)state;
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_HISTOGRAM);
    cfg.bins = 4;
    cfg.upsample_rate = 2;
    qk_observer *obs = make_cfg(&cfg);
    const float b1[] = {0.0f, 1.5f, 2.5f, 3.5f, 4.0f}, b2[] = {8.0f};
    QK_ASSERT_OK(qk_observer_observe_f32(obs, b1, 5));
    QK_ASSERT_OK(qk_observer_observe_f32(obs, b2, 1));
    qk_observer_target u1 = {1, QK_QRANGE_UNSIGNED, false};
    float lo, hi;
    range_of(obs, &u1, &lo, &hi);
    QK_ASSERT_F32_BITS_EQ(lo, 0.0f);
    QK_ASSERT_F32_BITS_EQ(hi, 6.0f);
    qk_affine_params p;
    QK_ASSERT_OK(qk_observer_compute(obs, &u1, &p, 1));
    QK_ASSERT_F32_BITS_EQ(p.scale, 6.0f);
    assert_int_equal(p.zero_point, 0);
    qk_observer_free(obs);

    /* the combined histogram itself */
    obs = make_cfg(&cfg);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, b1, 5));
    const double *hist;
    float mn, mx;
    QK_ASSERT_OK(qk_obs_histogram_get(obs, 0, &hist, &mn, &mx));
    QK_ASSERT_F32_BITS_EQ(mn, 0.0f);
    QK_ASSERT_F32_BITS_EQ(mx, 4.0f);
    const double want1[4] = {1, 1, 1, 2};
    for (int j = 0; j < 4; j++) QK_ASSERT_NEAR_ABS(hist[j], want1[j], 0);
    QK_ASSERT_OK(qk_observer_observe_f32(obs, b2, 1));
    QK_ASSERT_OK(qk_obs_histogram_get(obs, 0, &hist, &mn, &mx));
    QK_ASSERT_F32_BITS_EQ(mn, 0.0f);
    QK_ASSERT_F32_BITS_EQ(mx, 8.0f);
    const double want2[4] = {2, 3, 0, 1};
    for (int j = 0; j < 4; j++) QK_ASSERT_NEAR_ABS(hist[j], want2[j], 0);
    qk_observer_free(obs);
}

static void test_kind_names_and_config(void **state) {
    (void)state;
    assert_string_equal(qk_observer_kind_name(QK_OBSERVER_MINMAX), "minmax");
    assert_string_equal(qk_observer_kind_name(QK_OBSERVER_HISTOGRAM), "histogram");
    assert_string_equal(qk_observer_kind_name((qk_observer_kind)99), "?");
    qk_observer_config cfg;
    qk_observer *obs = NULL;
    qk_observer_config_default(&cfg, QK_OBSERVER_PERCENTILE);
    cfg.percentile = 40.0;
    QK_ASSERT_STATUS(qk_observer_create(&cfg, &obs), QK_ERR_CONFIG);
    assert_null(obs);
    qk_observer_config_default(&cfg, QK_OBSERVER_MOVING_AVERAGE);
    cfg.averaging_constant = 0.0f;
    QK_ASSERT_STATUS(qk_observer_create(&cfg, &obs), QK_ERR_CONFIG);
    qk_observer_config_default(&cfg, QK_OBSERVER_ENTROPY);
    cfg.bins = 1;
    QK_ASSERT_STATUS(qk_observer_create(&cfg, &obs), QK_ERR_CONFIG);
    qk_observer_config_default(&cfg, QK_OBSERVER_MINMAX);
    cfg.per_channel = true;
    cfg.ch_axis = 4;
    QK_ASSERT_STATUS(qk_observer_create(&cfg, &obs), QK_ERR_CONFIG);
    cfg.kind = (qk_observer_kind)42;
    QK_ASSERT_STATUS(qk_observer_create(&cfg, &obs), QK_ERR_CONFIG);
    QK_ASSERT_STATUS(qk_observer_create(NULL, &obs), QK_ERR_INVALID_ARG);
    qk_observer_free(NULL);

    /* bad targets */
    obs = make(QK_OBSERVER_MINMAX);
    const float x[] = {1.0f};
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, 1));
    qk_affine_params p;
    qk_observer_target bad = {17, QK_QRANGE_SIGNED, false};
    QK_ASSERT_STATUS(qk_observer_compute(obs, &bad, &p, 1), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_observer_compute(obs, &U8, &p, 0), QK_ERR_INVALID_ARG);
    qk_observer_free(obs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minmax),
        cmocka_unit_test(test_moving_average),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_entropy_hand_histogram),
        cmocka_unit_test(test_hist_mse_hand_histogram),
        cmocka_unit_test(test_histogram_combine_and_search),
        cmocka_unit_test(test_kind_names_and_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
