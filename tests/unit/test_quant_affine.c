/*
** Affine quantization: hand-computed cases, torch.ao goldens (observer
** scales and zero points per tensor and per channel along both axes,
** quantize_per_tensor rounding), adversarial inputs, and the exact
** bits-per-weight figures.
*/
#include "qk_test.h"

#include <float.h>
#include <jansson.h>

static qk_tensor_view view_f32(int32_t ndim, const int64_t *shape, float *data) {
    qk_tensor_view v;
    if (qk_tensor_view_init(&v, QK_TYPE_F32, ndim, shape, data) != QK_OK)
        fail_msg("view: %s", qk_last_error());
    return v;
}

static qk_affine_scheme scheme_group(int bits, bool sym, int32_t g) {
    qk_affine_scheme s = qk_affine_scheme_default(bits, sym);
    s.granularity = QK_GRAN_GROUP;
    s.group_size = g;
    return s;
}

static qk_affine_scheme scheme_channel(int bits, bool sym, int32_t axis) {
    qk_affine_scheme s = qk_affine_scheme_default(bits, sym);
    s.granularity = QK_GRAN_CHANNEL;
    s.axis = axis;
    return s;
}

/* ---- hand-computed ------------------------------------------------------ */

static void test_hand_per_tensor_asym4(void **state) {
    (void)state;
    /* [-1, 0, 0.5, 2], uint4 asymmetric: scale = 3/15 = 0.2f (0.200000003),
    ** -1/0.2f rounds to -5 in f32, zp = 0 - round(-5) = 5; inv = 1/0.2f = 5.0f.
    ** codes: -5+5 = 0; 0+5 = 5; 2.5 -> 2 (tie to even) +5 = 7; 10+5 = 15.
    ** dequant: -5*0.2f = -1.0000000149 -> -1.0f; 0; 2*0.2f = 0.4f; 10*0.2f -> 2.0f */
    float x[4] = {-1.0f, 0.0f, 0.5f, 2.0f};
    int64_t shape[1] = {4};
    qk_tensor_view v = view_f32(1, shape, x);
    qk_affine_scheme s = qk_affine_scheme_default(4, false);
    qk_affine_tensor q;
    QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
    assert_int_equal(q.code_type, QK_TYPE_U8);
    assert_int_equal(q.layout.n_groups, 1);
    QK_ASSERT_F32_BITS_EQ(q.scales[0], 0.2f);
    assert_int_equal(q.zero_points[0], 5);
    const uint8_t want[4] = {0, 5, 7, 15};
    assert_memory_equal(q.codes, want, 4);
    float y[4];
    QK_ASSERT_OK(qk_affine_dequantize(&q, y, 4));
    QK_ASSERT_F32_BITS_EQ(y[0], -1.0f);
    QK_ASSERT_F32_BITS_EQ(y[1], 0.0f);
    QK_ASSERT_F32_BITS_EQ(y[2], 0.4f);
    QK_ASSERT_F32_BITS_EQ(y[3], 2.0f);
    /* packed LSB first: byte 0 = 0 | 5 << 4, byte 1 = 7 | 15 << 4 */
    uint8_t packed[2];
    QK_ASSERT_OK(qk_affine_pack_codes(&q, QK_BITS_LSB_FIRST, packed, 2));
    assert_int_equal(packed[0], 0x50);
    assert_int_equal(packed[1], 0xF7);
    qk_affine_tensor_free(&q);
    assert_null(q.codes);
    qk_affine_tensor_free(&q); /* twice is harmless */
    qk_affine_tensor_free(NULL);
}

static void test_hand_per_channel_axis1_sym8(void **state) {
    (void)state;
    /* [[1, -2, 0.5], [-4, 1.2, 0.3]] per column, int8 restricted symmetric:
    ** scale_c = amax_c / 127: 4/127, 2/127, 0.5/127 (f32 divisions).
    ** inv: 31.75, 63.5, 254 (exact in f32 here).
    ** col 0: 1*31.75 -> 32, -4*31.75 = -127; col 1: -2*63.5 = -127,
    ** 1.2f*63.5 = 76.2 -> 76; col 2: 0.5*254 = 127, 0.3f*254 = 76.2 -> 76 */
    float x[6] = {1.0f, -2.0f, 0.5f, -4.0f, 1.2f, 0.3f};
    int64_t shape[2] = {2, 3};
    qk_tensor_view v = view_f32(2, shape, x);
    qk_affine_scheme s = scheme_channel(8, true, -1);
    qk_affine_tensor q;
    QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
    assert_int_equal(q.code_type, QK_TYPE_I8);
    assert_int_equal(q.layout.n_groups, 3);
    assert_int_equal(q.qmin, -127);
    volatile float f127 = 127.0f;
    QK_ASSERT_F32_BITS_EQ(q.scales[0], 4.0f / f127);
    QK_ASSERT_F32_BITS_EQ(q.scales[1], 2.0f / f127);
    QK_ASSERT_F32_BITS_EQ(q.scales[2], 0.5f / f127);
    for (int c = 0; c < 3; c++) assert_int_equal(q.zero_points[c], 0);
    const int8_t want[6] = {32, -127, 127, -127, 76, 76};
    assert_memory_equal(q.codes, want, 6);
    float y[6];
    QK_ASSERT_OK(qk_affine_dequantize(&q, y, 6));
    for (int i = 0; i < 6; i++) QK_ASSERT_F32_BITS_EQ(y[i], (float)want[i] * q.scales[i % 3]);
    qk_affine_tensor_free(&q);

    /* the same along axis 0 gives one scale per row: amax 2 and 4 */
    s.axis = 0;
    QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
    assert_int_equal(q.layout.n_groups, 2);
    QK_ASSERT_F32_BITS_EQ(q.scales[0], 2.0f / f127);
    QK_ASSERT_F32_BITS_EQ(q.scales[1], 4.0f / f127);
    qk_affine_tensor_free(&q);
}

static void test_hand_groups_partial(void **state) {
    (void)state;
    /* shape [2, 5], groups of 2 along rows (3 groups per row, the last of 1),
    ** uint2 asymmetric (qmax 3):
    **   row 0: [0,3] scale 1 zp 0 -> 0,3 | [1,2] -> [0,2], scale 2/3f, inv 1.5f:
    **          1.5 -> 2 (tie to even), 3 -> 3 | [-3] -> [-3,0], scale 1, zp 3 -> 0
    **   row 1: [1,1] -> [0,1], scale 1/3f, inv 3: 3,3 | [0,0] scale FLT_EPSILON,
    **          codes 0 | [6] -> [0,6], scale 2 -> 3 */
    float x[10] = {0, 3, 1, 2, -3, 1, 1, 0, 0, 6};
    int64_t shape[2] = {2, 5};
    qk_tensor_view v = view_f32(2, shape, x);
    qk_affine_scheme s = scheme_group(2, false, 2);
    qk_affine_tensor q;
    QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
    assert_int_equal(q.layout.n_groups, 6);
    assert_int_equal(q.layout.groups_per_row, 3);
    volatile float two = 2.0f, three = 3.0f, one = 1.0f;
    const float want_scale[6] = {1.0f, two / three, 1.0f, one / three, FLT_EPSILON, 2.0f};
    const int32_t want_zp[6] = {0, 0, 3, 0, 0, 0};
    for (int g = 0; g < 6; g++) {
        QK_ASSERT_F32_BITS_EQ(q.scales[g], want_scale[g]);
        assert_int_equal(q.zero_points[g], want_zp[g]);
    }
    const uint8_t want[10] = {0, 3, 2, 3, 0, 3, 3, 0, 0, 3};
    assert_memory_equal(q.codes, want, 10);
    /* group of each element per the layout formula */
    const int64_t want_group[10] = {0, 0, 1, 1, 2, 3, 3, 4, 4, 5};
    for (int e = 0; e < 10; e++)
        assert_int_equal(qk_affine_layout_group(&q.layout, e), want_group[e]);
    float y[10];
    QK_ASSERT_OK(qk_affine_dequantize(&q, y, 10));
    const float want_y[10] = {0, 3, 2 * (two / three), 3 * (two / three), -3, 1, 1, 0, 0, 6};
    for (int i = 0; i < 10; i++) QK_ASSERT_F32_BITS_EQ(y[i], want_y[i]);
    QK_ASSERT_F32_BITS_EQ(y[3], 2.0f); /* 3 * 0.6666667f = 2.00000006 rounds to 2 */
    qk_affine_tensor_free(&q);
}

static void test_channel_middle_axis_3d(void **state) {
    (void)state;
    /* [2, 3, 2] per channel along axis 1: channel c holds elements
    ** (o, c, i) = 6o + 2c + i. Channel c has amax 0.9375 * 2^c at (1, c, 1)
    ** (negative) and 0.25 elsewhere. Full signed int4 range: scale = amax / 7.5
    ** = 2^(c-3) exactly, so -amax / scale = -7.5 -> -8 (tie to even), and
    ** 0.25 / scale = 2, 1, 0.5 -> 2, 1, 0 (tie to even). */
    float x[12];
    for (int o = 0; o < 2; o++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 2; i++)
                x[6 * o + 2 * c + i] = (o == 1 && i == 1) ? -0.9375f * (float)(1 << c) : 0.25f;
    int64_t shape[3] = {2, 3, 2};
    qk_tensor_view v = view_f32(3, shape, x);
    qk_affine_scheme s = scheme_channel(4, true, 1);
    s.range = QK_QRANGE_SIGNED;
    qk_affine_tensor q;
    QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
    assert_int_equal(q.layout.outer, 2);
    assert_int_equal(q.layout.channels, 3);
    assert_int_equal(q.layout.inner, 2);
    for (int c = 0; c < 3; c++) QK_ASSERT_F32_BITS_EQ(q.scales[c], 0.125f * (float)(1 << c));
    const int8_t small[3] = {2, 1, 0};
    for (int e = 0; e < 12; e++) {
        const int c = (e / 2) % 3;
        assert_int_equal(qk_affine_layout_group(&q.layout, e), c);
        assert_int_equal(((int8_t *)q.codes)[e], e == 6 + 2 * c + 1 ? -8 : small[c]);
    }
    qk_affine_tensor_free(&q);
}

/* ---- torch goldens ------------------------------------------------------ */

static qk_affine_scheme torch_scheme(json_int_t qmin, json_int_t qmax, bool sym) {
    int bits = 0;
    while ((1 << bits) < (int)(qmax - qmin + 1)) bits++;
    qk_affine_scheme s = qk_affine_scheme_default(bits, sym);
    s.range = qmin < 0 ? QK_QRANGE_SIGNED : QK_QRANGE_UNSIGNED;
    return s;
}

static void test_torch_observer_goldens(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    json_t *root = qk_test_load_json(qk_test_fixture("golden/torch/observers.json"));
    json_t *data = json_object_get(root, "data");
    json_t *cases = json_object_get(root, "cases");
    int checked = 0;
    for (size_t k = 0; k < json_array_size(cases); k++) {
        json_t *c = json_array_get(cases, k);
        const char *obs = json_string_value(json_object_get(c, "observer"));
        qk_affine_scheme s = torch_scheme(json_integer_value(json_object_get(c, "quant_min")),
                                          json_integer_value(json_object_get(c, "quant_max")),
                                          json_is_true(json_object_get(c, "symmetric")));
        const float want_scale = (float)json_number_value(json_object_get(c, "scale"));
        const int want_zp = (int)json_integer_value(json_object_get(c, "zero_point"));
        if (strcmp(obs, "minmax") == 0) {
            /* the whole tensor, per-tensor granularity */
            size_t n;
            float *x = qk_test_json_floats(
                json_object_get(data, json_string_value(json_object_get(c, "data"))), &n);
            int64_t shape[1] = {(int64_t)n};
            qk_tensor_view v = view_f32(1, shape, x);
            qk_affine_tensor q;
            QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
            QK_ASSERT_F32_BITS_EQ(q.scales[0], want_scale);
            assert_int_equal(q.zero_points[0], want_zp);
            /* the span path finds the same parameters */
            qk_affine_params p;
            QK_ASSERT_OK(qk_affine_span_params(x, n, &s, &p));
            QK_ASSERT_F32_BITS_EQ(p.scale, want_scale);
            assert_int_equal(p.zero_point, want_zp);
            qk_affine_tensor_free(&q);
            free(x);
            checked++;
        } else if (strcmp(obs, "moving_average_minmax") == 0) {
            /* an observer's range, fed as a fixed range */
            s.range_mode = QK_RANGE_FIXED;
            s.clip_min = (float)json_number_value(json_object_get(c, "min"));
            s.clip_max = (float)json_number_value(json_object_get(c, "max"));
            qk_affine_params p;
            QK_ASSERT_OK(qk_affine_scheme_params(&s, 0.0f, 0.0f, &p));
            QK_ASSERT_F32_BITS_EQ(p.scale, want_scale);
            assert_int_equal(p.zero_point, want_zp);
            checked++;
        }
    }
    assert_int_equal(checked, 9);

    json_t *m = json_object_get(data, "matrix");
    size_t n;
    float *x = qk_test_json_floats(json_object_get(m, "values"), &n);
    int64_t shape[2] = {64, 256};
    assert_int_equal(n, 64 * 256);
    qk_tensor_view v = view_f32(2, shape, x);
    json_t *pcs = json_object_get(root, "perchannel");
    assert_int_equal(json_array_size(pcs), 3);
    for (size_t k = 0; k < json_array_size(pcs); k++) {
        json_t *c = json_array_get(pcs, k);
        qk_affine_scheme s = torch_scheme(json_integer_value(json_object_get(c, "quant_min")),
                                          json_integer_value(json_object_get(c, "quant_max")),
                                          json_is_true(json_object_get(c, "symmetric")));
        s.granularity = QK_GRAN_CHANNEL;
        s.axis = (int32_t)json_integer_value(json_object_get(c, "axis"));
        size_t ns;
        float *want_scale = qk_test_json_floats(json_object_get(c, "scale"), &ns);
        json_t *zps = json_object_get(c, "zero_point");
        qk_affine_tensor q;
        QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
        assert_int_equal(q.layout.n_groups, (int64_t)ns);
        assert_int_equal(ns, s.axis == 0 ? 64 : 256);
        for (size_t g = 0; g < ns; g++) {
            QK_ASSERT_F32_BITS_EQ(q.scales[g], want_scale[g]);
            assert_int_equal(q.zero_points[g], json_integer_value(json_array_get(zps, g)));
        }
        qk_affine_tensor_free(&q);
        free(want_scale);
    }
    free(x);
    json_decref(root);
}

static void test_torch_rounding_golden(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    json_t *root = qk_test_load_json(qk_test_fixture("golden/torch/rounding.json"));
    size_t n;
    float *x = qk_test_json_floats(json_object_get(root, "x"), &n);
    json_t *want = json_object_get(root, "q");
    assert_int_equal(json_array_size(want), n);
    const qk_affine_params p = {1.0f, 0, -128, 127};
    int8_t codes[64];
    assert_true(n <= 64);
    QK_ASSERT_OK(qk_affine_quantize_span(x, n, &p, QK_ROUND_NEAREST_EVEN, 0, 0, codes));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(codes[i], json_integer_value(json_array_get(want, i)));
    free(x);
    json_decref(root);
}

/* ---- ranges and clipping ------------------------------------------------ */

static void test_clip_and_fixed_ranges(void **state) {
    (void)state;
    /* x = [-4, -1, 0, 1, 8], int8 asymmetric (0..255).
    ** CLIP to [-2, 2]: range [-2, 2], scale 4/255, zp = -round(-2/(4/255)) = 128
    ** (-127.5 in f32 is -127.49999 or -127.5: computed below via the params
    ** function, the codes must saturate at 0 and 255 for -4 and 8). */
    float x[5] = {-4, -1, 0, 1, 8};
    int64_t shape[1] = {5};
    qk_tensor_view v = view_f32(1, shape, x);
    qk_affine_scheme s = qk_affine_scheme_default(8, false);
    s.range_mode = QK_RANGE_CLIP;
    s.clip_min = -2.0f;
    s.clip_max = 2.0f;
    qk_affine_tensor q;
    QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
    qk_affine_params p;
    QK_ASSERT_OK(qk_affine_params_from_minmax(-2.0f, 2.0f, 0, 255, false, &p));
    QK_ASSERT_F32_BITS_EQ(q.scales[0], p.scale);
    assert_int_equal(q.zero_points[0], p.zero_point);
    const uint8_t *c = (const uint8_t *)q.codes;
    assert_int_equal(c[0], 0);   /* -4 clipped */
    assert_int_equal(c[4], 255); /* 8 clipped */
    assert_int_equal(c[2], p.zero_point);
    qk_affine_tensor_free(&q);

    /* CLIP only narrows: data [0, 1] with clip [-5, 5] keeps [0, 1] */
    float y[3] = {0.0f, 0.5f, 1.0f};
    int64_t shape3[1] = {3};
    qk_tensor_view v3 = view_f32(1, shape3, y);
    s.clip_min = -5.0f;
    s.clip_max = 5.0f;
    QK_ASSERT_OK(qk_affine_quantize(&v3, &s, &q));
    volatile float one = 1.0f, d = 255.0f;
    QK_ASSERT_F32_BITS_EQ(q.scales[0], one / d);
    qk_affine_tensor_free(&q);

    /* FIXED uses the given range whatever the data: [-5, 5] sym int8 -> 5/127 */
    qk_affine_scheme f = qk_affine_scheme_default(8, true);
    f.range_mode = QK_RANGE_FIXED;
    f.clip_min = -5.0f;
    f.clip_max = 5.0f;
    QK_ASSERT_OK(qk_affine_quantize(&v3, &f, &q));
    volatile float five = 5.0f, d127 = 127.0f;
    QK_ASSERT_F32_BITS_EQ(q.scales[0], five / d127);
    qk_affine_tensor_free(&q);

    /* per-group ranges from the caller (e.g. a per-channel observer) */
    float m[6] = {1, 2, 3, -1, -2, -3};
    int64_t shape2[2] = {2, 3};
    qk_tensor_view v2 = view_f32(2, shape2, m);
    qk_affine_scheme ch = scheme_channel(8, true, 0);
    const float lo[2] = {-10.0f, -1.0f}, hi[2] = {10.0f, 1.0f};
    QK_ASSERT_OK(qk_affine_quantize_ranges(&v2, &ch, lo, hi, 2, &q));
    volatile float ten = 10.0f;
    QK_ASSERT_F32_BITS_EQ(q.scales[0], ten / d127);
    QK_ASSERT_F32_BITS_EQ(q.scales[1], one / d127);
    assert_int_equal(((int8_t *)q.codes)[5], -127); /* -3 saturates at -127 with range [-1, 1] */
    qk_affine_tensor_free(&q);
    QK_ASSERT_STATUS(qk_affine_quantize_ranges(&v2, &ch, lo, hi, 3, &q), QK_ERR_SHAPE);
    const float bad_lo[2] = {NAN, 0.0f};
    QK_ASSERT_STATUS(qk_affine_quantize_ranges(&v2, &ch, bad_lo, hi, 2, &q), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "group 0"));

    /* bad clip configuration */
    s.clip_min = 3.0f;
    s.clip_max = 2.0f;
    QK_ASSERT_STATUS(qk_affine_quantize(&v3, &s, &q), QK_ERR_INVALID_ARG);
}

static void test_f16_scale_rounds_up(void **state) {
    (void)state;
    /* amax 1 over [-7, 7]: scale 1/7 = 0.142857149 (f32). f16 values near it:
    ** 0.142822266 (0x3092) and 0.142944336 (0x3093); rounded up -> 0x3093. */
    float x[4] = {-1.0f, 0.3f, 0.5f, 1.0f};
    int64_t shape[1] = {4};
    qk_tensor_view v = view_f32(1, shape, x);
    qk_affine_scheme s = qk_affine_scheme_default(4, true);
    s.scale_type = QK_TYPE_F16;
    qk_affine_tensor q;
    QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
    QK_ASSERT_F32_BITS_EQ(q.scales[0], qk_f16_to_f32(0x3093));
    assert_true(q.scales[0] >= 1.0f / 7.0f);
    /* with the rounded-up scale the extremes still fit: |x - x'| <= scale / 2 */
    float y[4];
    QK_ASSERT_OK(qk_affine_dequantize(&q, y, 4));
    for (int i = 0; i < 4; i++) assert_true(fabsf(y[i] - x[i]) <= q.scales[0] / 2);
    qk_affine_tensor_free(&q);

    /* asymmetric: the zero point is recomputed with the rounded scale.
    ** [-1, 2] uint8: f32 scale 3/255; f16 rounded up s16; zp = -round(-1/s16) */
    float a[2] = {-1.0f, 2.0f};
    int64_t shape2[1] = {2};
    qk_tensor_view v2 = view_f32(1, shape2, a);
    qk_affine_scheme as = qk_affine_scheme_default(8, false);
    as.scale_type = QK_TYPE_BF16;
    QK_ASSERT_OK(qk_affine_quantize(&v2, &as, &q));
    const float sb = q.scales[0];
    assert_true(sb >= 3.0f / 255.0f);
    QK_ASSERT_F32_BITS_EQ(qk_bf16_to_f32(qk_f32_to_bf16(sb)), sb);
    /* s = 3/255 = 0.0117647061 (0x3C40C0C1) rounds up to bf16 0x3C41 = 0.0117797852;
    ** -1 / that = -84.89 -> zp 85 */
    QK_ASSERT_F32_BITS_EQ(sb, qk_bf16_to_f32(0x3C41));
    assert_int_equal(q.zero_points[0], 85);
    qk_affine_tensor_free(&q);
}

/* ---- adversarial inputs ------------------------------------------------- */

static void check_nonfinite(float bad, size_t at, const qk_affine_scheme *s) {
    float x[300];
    for (size_t i = 0; i < 300; i++) x[i] = (float)i * 0.01f - 1.0f;
    x[at] = bad;
    int64_t shape[2] = {3, 100};
    qk_tensor_view v = view_f32(2, shape, x);
    qk_affine_tensor q;
    QK_ASSERT_STATUS(qk_affine_quantize(&v, s, &q), QK_ERR_NONFINITE);
    char want[64];
    snprintf(want, sizeof want, "element %zu ", at);
    if (!strstr(qk_last_error(), want)) fail_msg("message '%s' lacks '%s'", qk_last_error(), want);
    assert_null(q.codes);
    qk_affine_params p;
    QK_ASSERT_STATUS(qk_affine_span_params(x, 300, s, &p), QK_ERR_NONFINITE);
    if (!strstr(qk_last_error(), want)) fail_msg("message '%s' lacks '%s'", qk_last_error(), want);
    const qk_affine_params ok = {0.1f, 0, -128, 127};
    int8_t codes[300];
    QK_ASSERT_STATUS(qk_affine_quantize_span(x, 300, &ok, QK_ROUND_NEAREST_EVEN, 0, 0, codes),
                     QK_ERR_NONFINITE);
    if (!strstr(qk_last_error(), want)) fail_msg("message '%s' lacks '%s'", qk_last_error(), want);
}

static void test_nonfinite_inputs(void **state) {
    (void)state;
    qk_affine_scheme schemes[3] = {qk_affine_scheme_default(8, false), scheme_channel(4, true, 1),
                                   scheme_group(3, false, 7)};
    schemes[2].range_mode = QK_RANGE_FIXED; /* even a fixed range rejects NaN/Inf */
    schemes[2].clip_min = -1.0f;
    schemes[2].clip_max = 1.0f;
    for (int k = 0; k < 3; k++) {
        check_nonfinite(NAN, 0, &schemes[k]);
        check_nonfinite(INFINITY, 137, &schemes[k]);
        check_nonfinite(-INFINITY, 299, &schemes[k]);
    }
}

static void test_empty_zero_constant_denormal(void **state) {
    (void)state;
    qk_affine_tensor q;
    /* empty tensors: per tensor one group observing [0, 0]; per group none */
    int64_t shape0[2] = {3, 0};
    qk_tensor_view v0 = view_f32(2, shape0, NULL);
    qk_affine_scheme s = qk_affine_scheme_default(4, false);
    QK_ASSERT_OK(qk_affine_quantize(&v0, &s, &q));
    assert_int_equal(q.layout.numel, 0);
    assert_int_equal(q.layout.n_groups, 1);
    QK_ASSERT_F32_BITS_EQ(q.scales[0], FLT_EPSILON);
    QK_ASSERT_OK(qk_affine_dequantize(&q, NULL, 0));
    qk_affine_tensor_free(&q);
    qk_affine_scheme g = scheme_group(4, false, 128);
    QK_ASSERT_OK(qk_affine_quantize(&v0, &g, &q));
    assert_int_equal(q.layout.n_groups, 0);
    qk_affine_tensor_free(&q);
    double bpw;
    QK_ASSERT_STATUS(qk_affine_bits_per_weight(&g, 2, shape0, &bpw), QK_ERR_SHAPE);
    QK_ASSERT_OK(qk_affine_span_params(NULL, 0, &s, &(qk_affine_params){0}));

    /* all zeros: scale FLT_EPSILON, codes at the zero point, exact zeros back */
    float z[64] = {0};
    int64_t shape[2] = {2, 32};
    qk_tensor_view vz = view_f32(2, shape, z);
    qk_affine_scheme schemes[3] = {qk_affine_scheme_default(8, false), scheme_channel(2, true, 0),
                                   scheme_group(3, false, 5)};
    float y[64];
    for (int k = 0; k < 3; k++) {
        QK_ASSERT_OK(qk_affine_quantize(&vz, &schemes[k], &q));
        for (int64_t gi = 0; gi < q.layout.n_groups; gi++)
            QK_ASSERT_F32_BITS_EQ(q.scales[gi], FLT_EPSILON);
        QK_ASSERT_OK(qk_affine_dequantize(&q, y, 64));
        for (int i = 0; i < 64; i++) QK_ASSERT_F32_BITS_EQ(y[i], 0.0f);
        qk_affine_tensor_free(&q);
    }

    /* constants: 5.0 everywhere, asymmetric uint8: range [0, 5], all codes 255 */
    float c[64];
    for (int i = 0; i < 64; i++) c[i] = 5.0f;
    qk_tensor_view vc = view_f32(2, shape, c);
    QK_ASSERT_OK(qk_affine_quantize(&vc, &schemes[0], &q));
    for (int i = 0; i < 64; i++) assert_int_equal(((uint8_t *)q.codes)[i], 255);
    QK_ASSERT_OK(qk_affine_dequantize(&q, y, 64));
    for (int i = 0; i < 64; i++) assert_true(fabsf(y[i] - 5.0f) <= q.scales[0] / 2);
    qk_affine_tensor_free(&q);
    /* -5.0 symmetric int2 restricted [-1, 1]: scale 5, codes -1, exact -5 back */
    for (int i = 0; i < 64; i++) c[i] = -5.0f;
    QK_ASSERT_OK(qk_affine_quantize(&vc, &schemes[1], &q));
    QK_ASSERT_OK(qk_affine_dequantize(&q, y, 64));
    for (int i = 0; i < 64; i++) {
        assert_int_equal(((int8_t *)q.codes)[i], -1);
        QK_ASSERT_F32_BITS_EQ(y[i], -5.0f);
    }
    qk_affine_tensor_free(&q);

    /* denormals: the range is far below FLT_EPSILON * levels, so the scale is
    ** FLT_EPSILON, every code is the zero point and every error is the value
    ** itself (<= 1e-40 << scale / 2) */
    float d[4] = {1e-40f, -3e-41f, 0.0f, 1.4e-45f};
    int64_t shape4[1] = {4};
    qk_tensor_view vd = view_f32(1, shape4, d);
    for (int sym = 0; sym < 2; sym++) {
        qk_affine_scheme ds = qk_affine_scheme_default(8, sym);
        QK_ASSERT_OK(qk_affine_quantize(&vd, &ds, &q));
        QK_ASSERT_F32_BITS_EQ(q.scales[0], FLT_EPSILON);
        assert_int_equal(q.zero_points[0], 0);
        float yd[4];
        QK_ASSERT_OK(qk_affine_dequantize(&q, yd, 4));
        for (int i = 0; i < 4; i++) QK_ASSERT_F32_BITS_EQ(yd[i], 0.0f);
        qk_affine_tensor_free(&q);
    }
}

static void test_huge_outliers(void **state) {
    (void)state;
    enum { R = 4, C = 256 };
    float *x = malloc(R * C * sizeof *x), *y = malloc(R * C * sizeof *y);
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 7);
    qk_test_fill_normal(&rng, x, R * C, 1.0f);
    x[300] = 1e30f; /* row 1, first group of the row (group size 128): scale group 2 */
    int64_t shape[2] = {R, C};
    qk_tensor_view v = view_f32(2, shape, x);
    qk_affine_tensor q;

    /* per group: only the outlier's group gets a huge scale; the others stay fine */
    qk_affine_scheme g = scheme_group(4, false, 128);
    QK_ASSERT_OK(qk_affine_quantize(&v, &g, &q));
    QK_ASSERT_OK(qk_affine_dequantize(&q, y, R * C));
    for (int64_t e = 0; e < R * C; e++) {
        const int64_t grp = qk_affine_layout_group(&q.layout, e);
        if (grp != 2) assert_true(q.scales[grp] < 1.0f);
        if (!(fabsf(y[e] - x[e]) <= q.scales[grp] * (0.5f + 0x1p-12f) + fabsf(x[e]) * 0x1p-22f))
            fail_msg("element %lld: %g -> %g, scale %g", (long long)e, (double)x[e], (double)y[e],
                     (double)q.scales[grp]);
    }
    assert_true(q.scales[2] > 1e28f);
    qk_affine_tensor_free(&q);

    /* FLT_MAX per tensor, asymmetric uint8: scale = fl(FLT_MAX / 255) and
    ** 255 * scale rounds back to exactly FLT_MAX (the product exceeds FLT_MAX
    ** by 3 * 2^97, below half an ulp, 2^103), so it succeeds and the outlier
    ** comes back exactly; every N(0,1) value maps to code 0 (zp 0). */
    x[300] = FLT_MAX;
    qk_affine_scheme a = qk_affine_scheme_default(8, false);
    QK_ASSERT_OK(qk_affine_quantize(&v, &a, &q));
    assert_int_equal(q.zero_points[0], 0);
    QK_ASSERT_OK(qk_affine_dequantize(&q, y, R * C));
    QK_ASSERT_F32_BITS_EQ(y[300], FLT_MAX);
    for (int64_t e = 0; e < R * C; e++)
        if (e != 300) QK_ASSERT_F32_BITS_EQ(y[e], 0.0f);
    qk_affine_tensor_free(&q);

    /* FLT_MAX per tensor, symmetric int8 restricted: scale = fl(FLT_MAX / 127),
    ** which rounded up (8454659.53 -> 8454660 units of 2^98), so 127 * scale
    ** exceeds FLT_MAX by 60 * 2^98 > half an ulp (32 * 2^98): code 127 would
    ** dequantize to Inf, so the group is rejected with QK_ERR_OVERFLOW. */
    qk_affine_scheme sy = qk_affine_scheme_default(8, true);
    QK_ASSERT_STATUS(qk_affine_quantize(&v, &sy, &q), QK_ERR_OVERFLOW);
    assert_non_null(strstr(qk_last_error(), "scale group 0"));
    /* and the range [-FLT_MAX, FLT_MAX] overflows the asymmetric scale itself */
    x[301] = -FLT_MAX;
    QK_ASSERT_STATUS(qk_affine_quantize(&v, &a, &q), QK_ERR_OVERFLOW);
    /* f16 scales cannot hold a scale of 1e30 / 7: overflow, named */
    x[300] = 1e30f;
    x[301] = 0.0f;
    qk_affine_scheme h = scheme_group(4, true, 128);
    h.scale_type = QK_TYPE_F16;
    QK_ASSERT_STATUS(qk_affine_quantize(&v, &h, &q), QK_ERR_OVERFLOW);
    assert_non_null(strstr(qk_last_error(), "scale group 2"));
    free(x);
    free(y);
}

static void test_bad_arguments(void **state) {
    (void)state;
    float x[8] = {0};
    int64_t shape[2] = {2, 4};
    qk_tensor_view v = view_f32(2, shape, x);
    qk_affine_tensor q;
    qk_affine_scheme s = qk_affine_scheme_default(9, false);
    QK_ASSERT_STATUS(qk_affine_quantize(&v, &s, &q), QK_ERR_INVALID_ARG);
    s = qk_affine_scheme_default(1, false);
    QK_ASSERT_STATUS(qk_affine_quantize(&v, &s, &q), QK_ERR_INVALID_ARG);
    s = scheme_channel(4, false, 2);
    QK_ASSERT_STATUS(qk_affine_quantize(&v, &s, &q), QK_ERR_SHAPE);
    s.axis = -3;
    QK_ASSERT_STATUS(qk_affine_quantize(&v, &s, &q), QK_ERR_SHAPE);
    s = scheme_group(4, false, 0);
    QK_ASSERT_STATUS(qk_affine_quantize(&v, &s, &q), QK_ERR_INVALID_ARG);
    s = qk_affine_scheme_default(4, false);
    s.scale_type = QK_TYPE_I8;
    QK_ASSERT_STATUS(qk_affine_quantize(&v, &s, &q), QK_ERR_INVALID_ARG);
    uint16_t h[8] = {0};
    qk_tensor_view vh;
    QK_ASSERT_OK(qk_tensor_view_init(&vh, QK_TYPE_F16, 2, shape, h));
    s = qk_affine_scheme_default(4, false);
    QK_ASSERT_STATUS(qk_affine_quantize(&vh, &s, &q), QK_ERR_UNSUPPORTED);
    float y[8];
    QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
    QK_ASSERT_STATUS(qk_affine_dequantize(&q, y, 7), QK_ERR_SHAPE);
    qk_affine_tensor_free(&q);
    /* span parameters that would divide by zero or overflow */
    int8_t c[2];
    qk_affine_params p = {0.0f, 0, -8, 7};
    QK_ASSERT_STATUS(qk_affine_quantize_span(x, 2, &p, QK_ROUND_NEAREST_EVEN, 0, 0, c),
                     QK_ERR_INVALID_ARG);
    p.scale = 1e-39f; /* 1 / scale is Inf */
    QK_ASSERT_STATUS(qk_affine_quantize_span(x, 2, &p, QK_ROUND_NEAREST_EVEN, 0, 0, c),
                     QK_ERR_INVALID_ARG);
    p.scale = FLT_MAX; /* -8 * FLT_MAX is -Inf */
    QK_ASSERT_STATUS(qk_affine_dequantize_span(c, 2, &p, y), QK_ERR_OVERFLOW);
    p = (qk_affine_params){1.0f, 9, -8, 7};
    QK_ASSERT_STATUS(qk_affine_dequantize_span(c, 2, &p, y), QK_ERR_INVALID_ARG);
    p = (qk_affine_params){1.0f, 0, -200, 7};
    QK_ASSERT_STATUS(qk_affine_dequantize_span(c, 2, &p, y), QK_ERR_INVALID_ARG);
}

/* ---- storage figures ---------------------------------------------------- */

static void test_bits_per_weight(void **state) {
    (void)state;
    int64_t shape[2] = {4096, 4096};
    double bpw;
    uint64_t bits;
    /* int4 g128, f16 scale, f16 zero: 4 + (16 + 16) / 128 = 4.25 exactly */
    qk_affine_scheme s = scheme_group(4, false, 128);
    s.scale_type = QK_TYPE_F16;
    s.zp_storage = QK_ZP_F16;
    QK_ASSERT_OK(qk_affine_storage_bits(&s, 2, shape, &bits));
    assert_true(bits == UINT64_C(4096) * 4096 * 4 + UINT64_C(4096) * 32 * 32);
    QK_ASSERT_OK(qk_affine_bits_per_weight(&s, 2, shape, &bpw));
    assert_true(bpw == 4.25);
    /* the same with packed 4-bit zeros (GPTQ): 4 + 20/128 = 4.15625 */
    s.zp_storage = QK_ZP_PACKED;
    QK_ASSERT_OK(qk_affine_bits_per_weight(&s, 2, shape, &bpw));
    assert_true(bpw == 4.15625);
    /* symmetric: no zero points, 4 + 16/128 = 4.125 */
    s.symmetric = true;
    s.range = QK_QRANGE_SIGNED_RESTRICTED;
    QK_ASSERT_OK(qk_affine_bits_per_weight(&s, 2, shape, &bpw));
    assert_true(bpw == 4.125);
    /* int3 g128 asym f16 scale + packed 3-bit zero: 3 + 19/128 */
    qk_affine_scheme t = scheme_group(3, false, 128);
    t.scale_type = QK_TYPE_F16;
    QK_ASSERT_OK(qk_affine_bits_per_weight(&t, 2, shape, &bpw));
    assert_true(bpw == 3.0 + 19.0 / 128.0);
    /* int8 per channel (4096 rows), f32 scale, zero point one byte: 8 + 40/4096 */
    qk_affine_scheme c = scheme_channel(8, false, 0);
    c.zp_storage = QK_ZP_8BIT;
    QK_ASSERT_OK(qk_affine_bits_per_weight(&c, 2, shape, &bpw));
    assert_true(bpw == 8.0 + 40.0 / 4096.0);
    /* partial groups and odd packing: shape [3, 130], int3 g128 sym f32 scale:
    ** 390 codes * 3 bits = 1170 bits -> 147 bytes = 1176 bits; 6 groups * 32 */
    int64_t odd[2] = {3, 130};
    qk_affine_scheme o = scheme_group(3, true, 128);
    QK_ASSERT_OK(qk_affine_storage_bits(&o, 2, odd, &bits));
    assert_true(bits == 1176 + 6 * 32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_per_tensor_asym4),
        cmocka_unit_test(test_hand_per_channel_axis1_sym8),
        cmocka_unit_test(test_hand_groups_partial),
        cmocka_unit_test(test_channel_middle_axis_3d),
        cmocka_unit_test(test_torch_observer_goldens),
        cmocka_unit_test(test_torch_rounding_golden),
        cmocka_unit_test(test_clip_and_fixed_ranges),
        cmocka_unit_test(test_f16_scale_rounds_up),
        cmocka_unit_test(test_nonfinite_inputs),
        cmocka_unit_test(test_empty_zero_constant_denormal),
        cmocka_unit_test(test_huge_outliers),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_bits_per_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
