/*
** Observer merge (== sequential observation where calib.h says exact),
** reset, and per-channel observation along every axis (checked against
** brute force and against per-tensor observers fed each channel's values).
*/
#include "qk_test.h"

#include "calib/abs_histogram.h"
#include "calib/observer_impl.h"
#include "quantkit/calib.h"

static const qk_observer_target U8 = {8, QK_QRANGE_UNSIGNED, false};
static const qk_observer_target I8_SYM = {8, QK_QRANGE_SIGNED, true};
static const qk_observer_target I4 = {4, QK_QRANGE_SIGNED, false};

static qk_observer *make_cfg(const qk_observer_config *cfg) {
    qk_observer *obs = NULL;
    QK_ASSERT_OK(qk_observer_create(cfg, &obs));
    return obs;
}

static qk_observer_config config_for(qk_observer_kind kind, bool abs_mode) {
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, kind);
    cfg.percentile = 99.0;
    cfg.percentile_abs = abs_mode;
    cfg.averaging_constant = 0.25f;
    cfg.bins = 512; /* keeps the O(bins^2) searches quick */
    return cfg;
}

#define NB 4
static const size_t batch_len[NB] = {300, 517, 700, 64};

/* Seeded normal batches; with `planted` every batch holds -4 and +4, so all
** batches share min, max and max |x| (histograms on the same grid). */
static float *make_batches(float *b[NB], bool planted, uint64_t seed) {
    size_t total = 0;
    for (int i = 0; i < NB; i++) total += batch_len[i];
    float *all = malloc(total * sizeof(float));
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    qk_test_fill_normal(&rng, all, total, 1.0f);
    size_t off = 0;
    for (int i = 0; i < NB; i++) {
        b[i] = all + off;
        if (planted) {
            for (size_t j = 0; j < batch_len[i]; j++) {
                if (b[i][j] > 3.9f) b[i][j] = 3.9f;
                if (b[i][j] < -3.9f) b[i][j] = -3.9f;
            }
            b[i][7] = -4.0f;
            b[i][11] = 4.0f;
        } else {
            for (size_t j = 0; j < batch_len[i]; j++) b[i][j] *= (float)(i + 1);
        }
        off += batch_len[i];
    }
    return all;
}

static void assert_same_range(qk_observer *a, qk_observer *b, const qk_observer_target *t,
                              double rel) {
    float la, ha, lb, hb;
    QK_ASSERT_OK(qk_observer_range(a, t, &la, &ha, 1));
    QK_ASSERT_OK(qk_observer_range(b, t, &lb, &hb, 1));
    if (rel == 0.0) {
        QK_ASSERT_F32_BITS_EQ(la, lb);
        QK_ASSERT_F32_BITS_EQ(ha, hb);
    } else {
        QK_ASSERT_NEAR_REL(la, lb, rel);
        QK_ASSERT_NEAR_REL(ha, hb, rel);
    }
}

/* A sees b0, b1; B sees b2, b3; A.merge(B) vs C seeing b0..b3; and an empty
** observer merging C gives C. */
static void merge_vs_sequential(qk_observer_kind kind, bool abs_mode, bool planted, double rel) {
    float *b[NB];
    float *all = make_batches(b, planted, 1234 + (uint64_t)kind);
    qk_observer_config cfg = config_for(kind, abs_mode);
    qk_observer *a = make_cfg(&cfg), *bo = make_cfg(&cfg), *c = make_cfg(&cfg), *e = make_cfg(&cfg);
    for (int i = 0; i < NB; i++) {
        QK_ASSERT_OK(qk_observer_observe_f32(i < 2 ? a : bo, b[i], batch_len[i]));
        QK_ASSERT_OK(qk_observer_observe_f32(c, b[i], batch_len[i]));
    }
    QK_ASSERT_OK(qk_observer_merge(a, bo));
    assert_int_equal(qk_observer_count(a), qk_observer_count(c));
    assert_same_range(a, c, &U8, rel);
    assert_same_range(a, c, &I8_SYM, rel);
    assert_same_range(a, c, &I4, rel);
    QK_ASSERT_OK(qk_observer_merge(e, c));
    assert_same_range(e, c, &U8, 0.0);
    assert_same_range(e, c, &I4, 0.0);
    /* other is unchanged by a merge */
    assert_int_equal(qk_observer_count(bo), batch_len[2] + batch_len[3]);
    qk_observer_free(a);
    qk_observer_free(bo);
    qk_observer_free(c);
    qk_observer_free(e);
    free(all);
}

static void test_merge_exact(void **state) {
    (void)state;
    merge_vs_sequential(QK_OBSERVER_MINMAX, false, false, 0.0);
    merge_vs_sequential(QK_OBSERVER_PERCENTILE, false, false, 0.0);
    merge_vs_sequential(QK_OBSERVER_PERCENTILE, true, false, 0.0);
    /* histograms on the same grid add exactly */
    merge_vs_sequential(QK_OBSERVER_ENTROPY, false, true, 0.0);
    merge_vs_sequential(QK_OBSERVER_HIST_MSE, false, true, 0.0);
    merge_vs_sequential(QK_OBSERVER_HISTOGRAM, false, true, 0.0);
}

static void test_merge_moving_average(void **state) {
    (void)state;
    /* exact up to rounding: m_o + (1-c)^k (m - f) */
    merge_vs_sequential(QK_OBSERVER_MOVING_AVERAGE, false, false, 1e-6);
    /* and by hand, c = 0.5: A sees [0,8] -> (0, 8); B sees [-4, 4] then
    ** [-8, 16]: (-4, 4) then (-6, 10). Sequential: (0,8) -> (-2, 6) ->
    ** (-5, 11). Formula: -6 + 0.25*(0 - -4) = -5; 10 + 0.25*(8 - 4) = 11. */
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_MOVING_AVERAGE);
    cfg.averaging_constant = 0.5f;
    qk_observer *a = make_cfg(&cfg), *b = make_cfg(&cfg);
    const float x1[] = {0.0f, 8.0f}, x2[] = {-4.0f, 4.0f}, x3[] = {-8.0f, 16.0f};
    QK_ASSERT_OK(qk_observer_observe_f32(a, x1, 2));
    QK_ASSERT_OK(qk_observer_observe_f32(b, x2, 2));
    QK_ASSERT_OK(qk_observer_observe_f32(b, x3, 2));
    QK_ASSERT_OK(qk_observer_merge(a, b));
    float lo, hi;
    QK_ASSERT_OK(qk_observer_range(a, &U8, &lo, &hi, 1));
    QK_ASSERT_F32_BITS_EQ(lo, -5.0f);
    QK_ASSERT_F32_BITS_EQ(hi, 11.0f);
    qk_observer_free(a);
    qk_observer_free(b);
}

/* Histograms on different grids: the merge spreads counts by overlap; the
** total stays exact and the chosen range is close to sequential's. */
static void test_merge_histograms_approximate(void **state) {
    (void)state;
    float *b[NB];
    float *all = make_batches(b, false, 99);
    const qk_observer_kind kinds[] = {QK_OBSERVER_ENTROPY, QK_OBSERVER_HIST_MSE,
                                      QK_OBSERVER_HISTOGRAM};
    for (int k = 0; k < 3; k++) {
        qk_observer_config cfg = config_for(kinds[k], false);
        cfg.torch_int_bounds = false; /* nothing dropped: counts are conserved */
        qk_observer *a = make_cfg(&cfg), *bo = make_cfg(&cfg), *c = make_cfg(&cfg);
        for (int i = 0; i < NB; i++) {
            QK_ASSERT_OK(qk_observer_observe_f32(i < 2 ? a : bo, b[i], batch_len[i]));
            QK_ASSERT_OK(qk_observer_observe_f32(c, b[i], batch_len[i]));
        }
        QK_ASSERT_OK(qk_observer_merge(a, bo));
        double total = 0.0;
        if (kinds[k] == QK_OBSERVER_HISTOGRAM) {
            const double *h;
            float mn, mx;
            QK_ASSERT_OK(qk_obs_histogram_get(a, 0, &h, &mn, &mx));
            for (int j = 0; j < cfg.bins; j++) total += h[j];
        } else {
            const qk_abs_hist *h = qk_observer_state(a, 0);
            for (int64_t j = 0; j < h->nbins; j++) total += h->counts[j];
        }
        QK_ASSERT_NEAR_REL(total, (double)qk_observer_count(c), 1e-9);
        float la, ha, lc, hc;
        QK_ASSERT_OK(qk_observer_range(a, &I8_SYM, &la, &ha, 1));
        QK_ASSERT_OK(qk_observer_range(c, &I8_SYM, &lc, &hc, 1));
        QK_ASSERT_NEAR_REL(ha - la, hc - lc, 0.05);
        qk_observer_free(a);
        qk_observer_free(bo);
        qk_observer_free(c);
    }
    free(all);
}

static void test_merge_errors(void **state) {
    (void)state;
    qk_observer_config c1, c2;
    qk_observer_config_default(&c1, QK_OBSERVER_MINMAX);
    qk_observer_config_default(&c2, QK_OBSERVER_PERCENTILE);
    qk_observer *a = make_cfg(&c1), *b = make_cfg(&c2);
    const float x[] = {1.0f, -1.0f};
    QK_ASSERT_OK(qk_observer_observe_f32(b, x, 2));
    QK_ASSERT_STATUS(qk_observer_merge(a, b), QK_ERR_CONFIG);
    QK_ASSERT_STATUS(qk_observer_merge(a, a), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_observer_merge(a, NULL), QK_ERR_INVALID_ARG);
    qk_observer_free(b);
    /* same kind, different parameter */
    qk_observer_config_default(&c1, QK_OBSERVER_ENTROPY);
    qk_observer_config_default(&c2, QK_OBSERVER_ENTROPY);
    c2.bins = 1024;
    qk_observer *h1 = make_cfg(&c1), *h2 = make_cfg(&c2);
    QK_ASSERT_STATUS(qk_observer_merge(h1, h2), QK_ERR_CONFIG);
    qk_observer_free(h1);
    qk_observer_free(h2);
    /* channel counts */
    qk_observer_config_default(&c1, QK_OBSERVER_MINMAX);
    c1.per_channel = true;
    qk_observer *p2 = make_cfg(&c1), *p3 = make_cfg(&c1);
    const float m[6] = {1, 2, 3, 4, 5, 6};
    QK_ASSERT_OK(qk_observer_observe_f32(p2, m, 2));
    QK_ASSERT_OK(qk_observer_observe_f32(p3, m, 3));
    QK_ASSERT_STATUS(qk_observer_merge(p2, p3), QK_ERR_SHAPE);
    assert_int_equal(qk_observer_channels(p2), 2);
    /* an empty other is a no-op */
    qk_observer *empty = make_cfg(&c1);
    QK_ASSERT_OK(qk_observer_merge(p2, empty));
    assert_int_equal(qk_observer_count(p2), 1);
    qk_observer_free(empty);
    qk_observer_free(p2);
    qk_observer_free(p3);
    qk_observer_free(a);
}

static void test_reset(void **state) {
    (void)state;
    float *b[NB];
    float *all = make_batches(b, false, 7);
    for (int kind = 0; kind < QK_OBSERVER_KIND_COUNT; kind++) {
        for (int pc = 0; pc < 2; pc++) {
            qk_observer_config cfg = config_for((qk_observer_kind)kind, false);
            cfg.per_channel = pc == 1;
            qk_observer *a = make_cfg(&cfg), *fresh = make_cfg(&cfg);
            /* per channel, a 1-D batch has one channel per element */
            const int first = pc ? 3 : 0, second = pc ? 3 : 1, third = pc ? 3 : 2;
            QK_ASSERT_OK(qk_observer_observe_f32(a, b[first], batch_len[first]));
            QK_ASSERT_OK(qk_observer_observe_f32(a, b[second], batch_len[second]));
            qk_observer_reset(a);
            assert_int_equal(qk_observer_count(a), 0);
            qk_affine_params p[1024];
            QK_ASSERT_STATUS(qk_observer_compute(a, &U8, p, 1024), QK_ERR_STATE);
            if (pc) {
                assert_int_equal(qk_observer_channels(a), 0);
                /* after a reset the channel count may change */
                QK_ASSERT_OK(qk_observer_observe_f32(a, b[2], 10));
                assert_int_equal(qk_observer_channels(a), 10);
                qk_observer_reset(a);
            }
            QK_ASSERT_OK(qk_observer_observe_f32(a, b[third], batch_len[third]));
            QK_ASSERT_OK(qk_observer_observe_f32(fresh, b[third], batch_len[third]));
            size_t nc = (size_t)qk_observer_channels(a);
            assert_int_equal(nc, qk_observer_channels(fresh));
            float *r = malloc(4 * nc * sizeof(float));
            QK_ASSERT_OK(qk_observer_range(a, &I8_SYM, r, r + nc, nc));
            QK_ASSERT_OK(qk_observer_range(fresh, &I8_SYM, r + 2 * nc, r + 3 * nc, nc));
            assert_memory_equal(r, r + 2 * nc, 2 * nc * sizeof(float));
            free(r);
            qk_observer_free(a);
            qk_observer_free(fresh);
        }
    }
    free(all);
}

/* Per channel along every axis of a [3, 4, 5] tensor. */
static void test_per_channel_axes(void **state) {
    (void)state;
    const int64_t shape[3] = {3, 4, 5};
    float x[60];
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 5);
    qk_test_fill_normal(&rng, x, 60, 2.0f);
    qk_tensor_view v;
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 3, shape, x));
    const int axes[] = {0, 1, 2, -1, -2, -3};
    for (int ai = 0; ai < 6; ai++) {
        const int axis = axes[ai] < 0 ? axes[ai] + 3 : axes[ai];
        const int64_t nch = shape[axis];
        /* brute force: channel of element (i, j, k) is its index along axis */
        float bmin[5], bmax[5];
        float vals[5][20];
        int nv[5] = {0};
        for (int c = 0; c < 5; c++) {
            bmin[c] = INFINITY;
            bmax[c] = -INFINITY;
        }
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 5; k++) {
                    const int idx[3] = {i, j, k};
                    const int c = idx[axis];
                    const float val = x[(i * 4 + j) * 5 + k];
                    bmin[c] = fminf(bmin[c], val);
                    bmax[c] = fmaxf(bmax[c], val);
                    vals[c][nv[c]++] = val;
                }
        for (int kind = 0; kind < QK_OBSERVER_KIND_COUNT; kind++) {
            qk_observer_config cfg = config_for((qk_observer_kind)kind, false);
            cfg.per_channel = true;
            cfg.ch_axis = axes[ai];
            qk_observer *pc = make_cfg(&cfg);
            QK_ASSERT_OK(qk_observer_observe(pc, &v));
            assert_int_equal(qk_observer_channels(pc), nch);
            assert_int_equal(qk_observer_count(pc), 60 / nch);
            float lo[5], hi[5];
            QK_ASSERT_OK(qk_observer_range(pc, &U8, lo, hi, 5));
            cfg.per_channel = false;
            for (int c = 0; c < nch; c++) {
                if (kind == QK_OBSERVER_MINMAX) {
                    QK_ASSERT_F32_BITS_EQ(lo[c], bmin[c]);
                    QK_ASSERT_F32_BITS_EQ(hi[c], bmax[c]);
                }
                qk_observer *one = make_cfg(&cfg);
                QK_ASSERT_OK(qk_observer_observe_f32(one, vals[c], (size_t)nv[c]));
                float l1, h1;
                QK_ASSERT_OK(qk_observer_range(one, &U8, &l1, &h1, 1));
                QK_ASSERT_F32_BITS_EQ(lo[c], l1);
                QK_ASSERT_F32_BITS_EQ(hi[c], h1);
                qk_observer_free(one);
            }
            /* a batch with another channel count is refused */
            const int64_t other_shape[3] = {shape[0] + (axis == 0), shape[1] + (axis == 1),
                                            shape[2] + (axis == 2)};
            float big[4 * 5 * 6] = {0};
            qk_tensor_view w;
            QK_ASSERT_OK(qk_tensor_view_init(&w, QK_TYPE_F32, 3, other_shape, big));
            QK_ASSERT_STATUS(qk_observer_observe(pc, &w), QK_ERR_SHAPE);
            assert_int_equal(qk_observer_count(pc), 60 / nch);
            qk_observer_free(pc);
        }
    }
    /* an axis beyond the batch's dimensions */
    qk_observer_config cfg = config_for(QK_OBSERVER_MINMAX, false);
    cfg.per_channel = true;
    cfg.ch_axis = 3;
    qk_observer *obs = make_cfg(&cfg);
    QK_ASSERT_STATUS(qk_observer_observe(obs, &v), QK_ERR_SHAPE);
    qk_observer_free(obs);
}

/* Per-channel percentile by hand: rows of a [2, 5] matrix along axis 0,
** median (p = 50) of {1..5} = 3 and of {10, 20, 30, 40, 50} = 30; p = 75:
** h = 4*0.75 = 3 -> 4 and 40, mirror rank 1 -> 2 and 20. */
static void test_per_channel_percentile_by_hand(void **state) {
    (void)state;
    const float m[10] = {5, 3, 1, 2, 4, 50, 10, 40, 20, 30};
    const int64_t shape[2] = {2, 5};
    qk_tensor_view v;
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape, (void *)m));
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_PERCENTILE);
    cfg.per_channel = true;
    cfg.percentile = 75.0;
    qk_observer *obs = make_cfg(&cfg);
    QK_ASSERT_OK(qk_observer_observe(obs, &v));
    float lo[2], hi[2];
    QK_ASSERT_OK(qk_observer_range(obs, &U8, lo, hi, 2));
    QK_ASSERT_F32_BITS_EQ(hi[0], 4.0f);
    QK_ASSERT_F32_BITS_EQ(lo[0], 2.0f);
    QK_ASSERT_F32_BITS_EQ(hi[1], 40.0f);
    QK_ASSERT_F32_BITS_EQ(lo[1], 20.0f);
    /* per-channel parameters: channel 0 [2, 4] -> [0, 4] uint8 -> 4/255 */
    qk_affine_params p[2];
    QK_ASSERT_OK(qk_observer_compute(obs, &U8, p, 2));
    QK_ASSERT_NEAR_REL(p[0].scale, 4.0 / 255.0, 1e-7);
    QK_ASSERT_NEAR_REL(p[1].scale, 40.0 / 255.0, 1e-7);
    QK_ASSERT_STATUS(qk_observer_compute(obs, &U8, p, 1), QK_ERR_INVALID_ARG);
    qk_observer_free(obs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_exact),
        cmocka_unit_test(test_merge_moving_average),
        cmocka_unit_test(test_merge_histograms_approximate),
        cmocka_unit_test(test_merge_errors),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_per_channel_axes),
        cmocka_unit_test(test_per_channel_percentile_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
