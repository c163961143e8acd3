/*
** Observers against torch.ao golden values (fixtures golden/torch/observers.json,
** produced by torch 1.13): MinMaxObserver, MovingAverageMinMaxObserver,
** PerChannelMinMaxObserver (scale within 1e-6 relative, zero point exact)
** and HistogramObserver (scale within 1e-4 relative, zero point exact).
*/
#include "qk_test.h"

#include <jansson.h>

#include "quantkit/calib.h"

typedef struct golden {
    json_t *root;
    json_t *data;
} golden;

static void load_golden(golden *g) {
    g->root = qk_test_load_json(qk_test_fixture("golden/torch/observers.json"));
    g->data = json_object_get(g->root, "data");
    assert_non_null(g->data);
}

static json_t *get(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (!v) fail_msg("observers.json: missing field \"%s\"", key);
    return v;
}

static int64_t get_int(json_t *obj, const char *key) {
    json_t *v = get(obj, key);
    if (!json_is_integer(v)) fail_msg("observers.json: \"%s\" is not an integer", key);
    return (int64_t)json_integer_value(v);
}

static double get_num(json_t *obj, const char *key) {
    return json_number_value(get(obj, key));
}

/* Target for torch's (quant_min, quant_max, symmetric); checks that
** qk_qrange_for_bits gives back exactly that range. */
static qk_observer_target target_for(int64_t qmin, int64_t qmax, bool symmetric) {
    qk_observer_target t;
    t.symmetric = symmetric;
    int bits = 0;
    while (((int64_t)1 << bits) < qmax - qmin + 1) bits++;
    t.bits = bits;
    t.range = qmin == 0 ? QK_QRANGE_UNSIGNED : QK_QRANGE_SIGNED;
    int32_t lo, hi;
    QK_ASSERT_OK(qk_qrange_for_bits(t.bits, t.range, &lo, &hi));
    assert_int_equal(lo, qmin);
    assert_int_equal(hi, qmax);
    return t;
}

static double rel_diff(double a, double b) {
    return fabs(a - b) / fabs(b);
}

static void test_per_tensor_cases(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    golden g;
    load_golden(&g);
    json_t *cases = get(g.root, "cases");
    size_t ncase = json_array_size(cases);
    assert_true(ncase >= 11);
    double worst_minmax = 0.0, worst_hist = 0.0, worst_ma = 0.0;
    int seen_minmax = 0, seen_hist = 0, seen_ma = 0;
    for (size_t ci = 0; ci < ncase; ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *kind = json_string_value(get(c, "observer"));
        const char *name = json_string_value(get(c, "case"));
        const char *data = json_string_value(get(c, "data"));
        qk_observer_config cfg;
        if (strcmp(kind, "minmax") == 0) {
            qk_observer_config_default(&cfg, QK_OBSERVER_MINMAX);
        } else if (strcmp(kind, "histogram_l2_torch") == 0) {
            qk_observer_config_default(&cfg, QK_OBSERVER_HISTOGRAM);
            cfg.bins = (int32_t)get_int(c, "bins");
            cfg.upsample_rate = (int32_t)get_int(c, "upsample_rate");
        } else if (strcmp(kind, "moving_average_minmax") == 0) {
            qk_observer_config_default(&cfg, QK_OBSERVER_MOVING_AVERAGE);
            cfg.averaging_constant = (float)get_num(c, "averaging_constant");
        } else {
            fail_msg("observers.json: unknown observer \"%s\"", kind);
            return;
        }
        qk_observer *obs = NULL;
        QK_ASSERT_OK(qk_observer_create(&cfg, &obs));
        json_t *arr = get(g.data, data);
        if (strcmp(data, "batches") == 0) {
            for (size_t b = 0; b < json_array_size(arr); b++) {
                size_t n;
                float *x = qk_test_json_floats(json_array_get(arr, b), &n);
                QK_ASSERT_OK(qk_observer_observe_f32(obs, x, n));
                free(x);
            }
        } else {
            size_t n;
            float *x = qk_test_json_floats(arr, &n);
            assert_int_equal(n, 4096);
            QK_ASSERT_OK(qk_observer_observe_f32(obs, x, n));
            free(x);
        }
        qk_observer_target t = target_for(get_int(c, "quant_min"), get_int(c, "quant_max"),
                                          json_is_true(get(c, "symmetric")));
        qk_affine_params p;
        QK_ASSERT_OK(qk_observer_compute(obs, &t, &p, 1));
        const float want_scale = (float)get_num(c, "scale");
        const double rel = rel_diff(p.scale, want_scale);
        if (p.zero_point != get_int(c, "zero_point"))
            fail_msg("%s on %s: zero point %d, torch %lld", name, data, (int)p.zero_point,
                     (long long)get_int(c, "zero_point"));
        if (strcmp(kind, "histogram_l2_torch") == 0) {
            if (rel > 1e-4)
                fail_msg("%s on %s: scale %.9g, torch %.9g", name, data, (double)p.scale,
                         (double)want_scale);
            worst_hist = rel > worst_hist ? rel : worst_hist;
            seen_hist++;
        } else {
            if (rel > 1e-6)
                fail_msg("%s on %s: scale %.9g, torch %.9g", name, data, (double)p.scale,
                         (double)want_scale);
            /* the observed range is torch's min_val / max_val exactly */
            float lo, hi;
            QK_ASSERT_OK(qk_observer_range(obs, &t, &lo, &hi, 1));
            QK_ASSERT_F32_BITS_EQ(lo, (float)get_num(c, "min"));
            QK_ASSERT_F32_BITS_EQ(hi, (float)get_num(c, "max"));
            if (strcmp(kind, "minmax") == 0) {
                worst_minmax = rel > worst_minmax ? rel : worst_minmax;
                seen_minmax++;
            } else {
                worst_ma = rel > worst_ma ? rel : worst_ma;
                seen_ma++;
            }
        }
        qk_observer_free(obs);
    }
    assert_int_equal(seen_minmax, 8);
    assert_int_equal(seen_hist, 2);
    assert_int_equal(seen_ma, 1);
    print_message("torch agreement (max relative scale difference): minmax %.3g (%d cases), "
                  "moving average %.3g (%d), histogram %.3g (%d)\n",
                  worst_minmax, seen_minmax, worst_ma, seen_ma, worst_hist, seen_hist);
    json_decref(g.root);
}

static void test_per_channel_cases(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    golden g;
    load_golden(&g);
    json_t *matrix = get(g.data, "matrix");
    json_t *shape = get(matrix, "shape");
    int64_t dims[2] = {(int64_t)json_integer_value(json_array_get(shape, 0)),
                       (int64_t)json_integer_value(json_array_get(shape, 1))};
    assert_int_equal(dims[0], 64);
    assert_int_equal(dims[1], 256);
    size_t n;
    float *x = qk_test_json_floats(get(matrix, "values"), &n);
    assert_int_equal(n, 64 * 256);
    qk_tensor_view view;
    QK_ASSERT_OK(qk_tensor_view_init(&view, QK_TYPE_F32, 2, dims, x));

    json_t *cases = get(g.root, "perchannel");
    assert_int_equal(json_array_size(cases), 3);
    double worst = 0.0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        assert_string_equal(json_string_value(get(c, "observer")), "perchannel_minmax");
        qk_observer_config cfg;
        qk_observer_config_default(&cfg, QK_OBSERVER_MINMAX);
        cfg.per_channel = true;
        cfg.ch_axis = (int32_t)get_int(c, "axis");
        qk_observer *obs = NULL;
        QK_ASSERT_OK(qk_observer_create(&cfg, &obs));
        QK_ASSERT_OK(qk_observer_observe(obs, &view));
        const int64_t channels = dims[cfg.ch_axis];
        assert_int_equal(qk_observer_channels(obs), channels);
        qk_observer_target t = target_for(get_int(c, "quant_min"), get_int(c, "quant_max"),
                                          json_is_true(get(c, "symmetric")));
        qk_affine_params *p = calloc((size_t)channels, sizeof *p);
        QK_ASSERT_OK(qk_observer_compute(obs, &t, p, (size_t)channels));
        size_t ns, nz;
        double *scales = qk_test_json_doubles(get(c, "scale"), &ns);
        double *zps = qk_test_json_doubles(get(c, "zero_point"), &nz);
        assert_int_equal(ns, channels);
        assert_int_equal(nz, channels);
        for (int64_t ch = 0; ch < channels; ch++) {
            const float want = (float)scales[ch];
            const double rel = rel_diff(p[ch].scale, want);
            if (rel > 1e-6)
                fail_msg("%s channel %lld: scale %.9g, torch %.9g",
                         json_string_value(get(c, "case")), (long long)ch, (double)p[ch].scale,
                         (double)want);
            if (p[ch].zero_point != (int32_t)zps[ch])
                fail_msg("%s channel %lld: zero point %d, torch %d",
                         json_string_value(get(c, "case")), (long long)ch, (int)p[ch].zero_point,
                         (int)zps[ch]);
            worst = rel > worst ? rel : worst;
        }
        free(scales);
        free(zps);
        free(p);
        qk_observer_free(obs);
    }
    print_message("torch agreement, per-channel minmax: max relative scale difference %.3g\n",
                  worst);
    free(x);
    json_decref(g.root);
}

/* The histogram observer's torch 1.13 quirk matters: without the int()
** truncation of histc's bounds, the golden scales are not reproduced. */
static void test_histogram_int_bounds_matter(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    golden g;
    load_golden(&g);
    size_t n;
    float *x = qk_test_json_floats(get(g.data, "heavy"), &n);
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_HISTOGRAM);
    cfg.torch_int_bounds = false;
    qk_observer *obs = NULL;
    QK_ASSERT_OK(qk_observer_create(&cfg, &obs));
    QK_ASSERT_OK(qk_observer_observe_f32(obs, x, n));
    qk_observer_target t = {8, QK_QRANGE_UNSIGNED, false};
    qk_affine_params p;
    QK_ASSERT_OK(qk_observer_compute(obs, &t, &p, 1));
    /* torch 1.13: 0.03495614975690842 / 26 (values beyond [-6, 8] dropped) */
    assert_true(rel_diff(p.scale, 0.03495614975690842) > 0.1);
    qk_observer_free(obs);
    free(x);
    json_decref(g.root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_tensor_cases),
        cmocka_unit_test(test_per_channel_cases),
        cmocka_unit_test(test_histogram_int_bounds_matter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
