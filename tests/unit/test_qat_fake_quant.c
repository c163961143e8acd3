/*
** Fake quantization (STE) and LSQ primitives against torch's golden vectors
** (../shared/fixtures/golden/torch/fake_quant.json, rounding.json), hand
** computed values, and finite differences of the straight-through surrogate.
*/
#include "qk_test.h"

#include <jansson.h>

#include "quantkit/qat.h"

static float *get_floats(json_t *obj, const char *key, size_t expect_n) {
    json_t *v = json_object_get(obj, key);
    if (!v) fail_msg("golden file: key '%s' missing", key);
    size_t n;
    float *out = qk_test_json_floats(v, &n);
    if (expect_n && n != expect_n)
        fail_msg("golden '%s': %zu values, expected %zu", key, n, expect_n);
    return out;
}

static double get_number(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) fail_msg("golden file: number '%s' missing", key);
    return json_number_value(v);
}

static void assert_bits_equal(const float *got, const float *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (qk_test_f32_bits(got[i]) != qk_test_f32_bits(want[i]))
            fail_msg("%s[%zu]: got %.9g (0x%08x), torch %.9g (0x%08x)", what, i, (double)got[i],
                     (unsigned)qk_test_f32_bits(got[i]), (double)want[i],
                     (unsigned)qk_test_f32_bits(want[i]));
}

static void test_golden_per_tensor(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    json_t *root = qk_test_load_json(qk_test_fixture("golden/torch/fake_quant.json"));
    size_t n;
    float *x = qk_test_json_floats(json_object_get(root, "x"), &n);
    float *dy = get_floats(root, "grad_y", n);
    assert_int_equal(n, 512);
    json_t *cases = json_object_get(root, "per_tensor");
    assert_int_equal(json_array_size(cases), 4);
    float *y = malloc(n * sizeof *y), *dx = malloc(n * sizeof *dx);
    uint8_t *mask = malloc(n);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c);
        qk_affine_params p = {(float)get_number(cs, "scale"), (int32_t)get_number(cs, "zero_point"),
                              (int32_t)get_number(cs, "quant_min"),
                              (int32_t)get_number(cs, "quant_max")};
        float *want_y = get_floats(cs, "y", n), *want_dx = get_floats(cs, "grad_x", n);
        QK_ASSERT_OK(qk_fake_quant_forward(x, n, &p, y, mask));
        assert_bits_equal(y, want_y, n, "fake quant y");
        QK_ASSERT_OK(qk_fake_quant_backward(x, dy, n, &p, dx));
        assert_bits_equal(dx, want_dx, n, "STE grad_x");
        for (size_t i = 0; i < n; i++) /* torch's gradient is dy where its mask was 1 */
            if (dy[i] != 0.0f) assert_int_equal(mask[i], want_dx[i] == dy[i]);

        /* learnable (LSQ) variant: zero point and scale as float parameters */
        float *want_ly = get_floats(cs, "lsq_y", n), *want_ldx = get_floats(cs, "lsq_grad_x", n);
        const float g = (float)get_number(cs, "lsq_grad_factor");
        QK_ASSERT_F32_BITS_EQ(qk_lsq_grad_factor((int64_t)n, p.qmax), g);
        QK_ASSERT_OK(qk_lsq_forward(x, n, p.scale, (float)p.zero_point, p.qmin, p.qmax, y, NULL));
        assert_bits_equal(y, want_ly, n, "lsq y");
        float dscale = NAN, dzp = NAN;
        QK_ASSERT_OK(qk_lsq_backward(x, dy, n, p.scale, (float)p.zero_point, p.qmin, p.qmax, g, dx,
                                     &dscale, &dzp));
        assert_bits_equal(dx, want_ldx, n, "lsq grad_x");
        QK_ASSERT_NEAR_REL(dscale, get_number(cs, "lsq_grad_scale"), 1e-5);
        QK_ASSERT_NEAR_REL(dzp, get_number(cs, "lsq_grad_zero_point"), 1e-5);
        free(want_y);
        free(want_dx);
        free(want_ly);
        free(want_ldx);
    }
    free(x);
    free(dy);
    free(y);
    free(dx);
    free(mask);
    json_decref(root);
}

static void test_golden_per_channel(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    json_t *root = qk_test_load_json(qk_test_fixture("golden/torch/fake_quant.json"));
    json_t *pc = json_object_get(root, "per_channel");
    const int64_t shape[2] = {8, 256};
    assert_int_equal((int64_t)get_number(pc, "axis"), 0);
    qk_channel_layout l;
    QK_ASSERT_OK(qk_channel_layout_from_shape(2, shape, 0, &l));
    assert_int_equal(l.outer, 1);
    assert_int_equal(l.channels, 8);
    assert_int_equal(l.inner, 256);
    const size_t n = 2048;
    float *x = get_floats(pc, "x", n), *want_y = get_floats(pc, "y", n);
    float *want_dx = get_floats(pc, "grad_x_for_ones", n), *scale = get_floats(pc, "scale", 8);
    float *zpf = get_floats(pc, "zero_point", 8);
    int32_t zp[8];
    for (int c = 0; c < 8; c++) zp[c] = (int32_t)zpf[c];
    const int32_t qmin = (int32_t)get_number(pc, "quant_min"),
                  qmax = (int32_t)get_number(pc, "quant_max");
    float *y = malloc(n * sizeof *y), *dx = malloc(n * sizeof *dx),
          *ones = malloc(n * sizeof *ones);
    for (size_t i = 0; i < n; i++) ones[i] = 1.0f;
    QK_ASSERT_OK(qk_fake_quant_per_channel_forward(x, l, scale, zp, qmin, qmax, y, NULL));
    assert_bits_equal(y, want_y, n, "per-channel y");
    QK_ASSERT_OK(qk_fake_quant_per_channel_backward(x, ones, l, scale, zp, qmin, qmax, dx));
    assert_bits_equal(dx, want_dx, n, "per-channel grad_x");
    /* the learnable per-channel forward with the same (integral) parameters */
    QK_ASSERT_OK(qk_lsq_per_channel_forward(x, l, scale, zpf, qmin, qmax, y, NULL));
    assert_bits_equal(y, want_y, n, "per-channel lsq y");
    /* codes: y == code * scale exactly (zero point 0) */
    int32_t *q = malloc(n * sizeof *q);
    QK_ASSERT_OK(qk_fake_quant_per_channel_codes(x, l, scale, zp, qmin, qmax, q));
    for (size_t i = 0; i < n; i++) {
        assert_true(q[i] >= qmin && q[i] <= qmax);
        QK_ASSERT_F32_BITS_EQ((float)q[i] * scale[i / 256], want_y[i]);
    }
    free(q);
    free(x);
    free(want_y);
    free(want_dx);
    free(scale);
    free(zpf);
    free(y);
    free(dx);
    free(ones);
    json_decref(root);
}

static void test_golden_rounding(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    json_t *root = qk_test_load_json(qk_test_fixture("golden/torch/rounding.json"));
    size_t n, nq;
    float *x = qk_test_json_floats(json_object_get(root, "x"), &n);
    double *want = qk_test_json_doubles(json_object_get(root, "q"), &nq);
    assert_int_equal(n, nq);
    assert_true(n >= 12);
    const qk_affine_params p = {1.0f, 0, -128, 127};
    int32_t *q = malloc(n * sizeof *q);
    float *y = malloc(n * sizeof *y);
    QK_ASSERT_OK(qk_fake_quant_codes(x, n, &p, q));
    QK_ASSERT_OK(qk_fake_quant_forward(x, n, &p, y, NULL));
    for (size_t i = 0; i < n; i++) {
        if (q[i] != (int32_t)want[i])
            fail_msg("rounding of %.9g: got %d, torch %d", (double)x[i], q[i], (int)want[i]);
        QK_ASSERT_F32_BITS_EQ(y[i], (float)want[i]);
    }
    free(q);
    free(y);
    free(x);
    free(want);
    json_decref(root);
}

/* Hand-computed: scale 0.5 (inverse 2 exactly), zero point 3, range 0..7. */
static void test_hand_values(void **state) {
    (void)state;
    const qk_affine_params p = {0.5f, 3, 0, 7};
    /* x*2 = 0.5 -> 0 (tie to even), 1.5 -> 2, 2.5 -> 2, -1.5 -> -2, 10 -> 10 (clip 7),
    ** -4 -> -4 (qval -1, clip 0), -3 -> qval 0 (inside), 2 -> qval 7 (inside) */
    const float x[8] = {0.25f, 0.75f, 1.25f, -0.75f, 5.0f, -2.0f, -1.5f, 2.0f};
    const int32_t want_q[8] = {3, 5, 5, 1, 7, 0, 0, 7};
    const float want_y[8] = {0.0f, 1.0f, 1.0f, -1.0f, 2.0f, -1.5f, -1.5f, 2.0f};
    const uint8_t want_mask[8] = {1, 1, 1, 1, 0, 0, 1, 1};
    float y[8], dx[8];
    int32_t q[8];
    uint8_t mask[8];
    QK_ASSERT_OK(qk_fake_quant_forward(x, 8, &p, y, mask));
    QK_ASSERT_OK(qk_fake_quant_codes(x, 8, &p, q));
    const float dy[8] = {1, 2, 3, 4, -5, 6, 7, 8};
    QK_ASSERT_OK(qk_fake_quant_backward(x, dy, 8, &p, dx));
    for (int i = 0; i < 8; i++) {
        QK_ASSERT_F32_BITS_EQ(y[i], want_y[i]);
        assert_int_equal(q[i], want_q[i]);
        assert_int_equal(mask[i], want_mask[i]);
        QK_ASSERT_F32_BITS_EQ(dx[i], want_mask[i] ? dy[i] : dy[i] * 0.0f);
    }
    /* negative upstream gradient outside the range gives -0, as torch's dY * mask */
    assert_int_equal(qk_test_f32_bits(dx[4]), 0x80000000u);
    /* y may alias x */
    float xa[8];
    memcpy(xa, x, sizeof xa);
    QK_ASSERT_OK(qk_fake_quant_forward(xa, 8, &p, xa, NULL));
    for (int i = 0; i < 8; i++) QK_ASSERT_F32_BITS_EQ(xa[i], want_y[i]);

    /* LSQ by hand, g = 1: x = 0.8 -> qval 3 + 2 = 5 (inside): dscale = (1 - 0.8) / 0.5 * dy,
    ** x = 5 (above): dscale = (7 - 3) * dy, dzp = -0.5 * dy; x = -4 (below): (0 - 3) * dy */
    const float lx[3] = {0.8f, 5.0f, -4.0f}, ldy[3] = {1.0f, 2.0f, 0.5f};
    float ldx[3], ds, dz;
    QK_ASSERT_OK(qk_lsq_backward(lx, ldy, 3, 0.5f, 3.0f, 0, 7, 1.0f, ldx, &ds, &dz));
    const double want_ds = (double)((1.0f - 0.8f) * 2.0f) + 4.0 * 2.0 + (-3.0) * 0.5;
    QK_ASSERT_NEAR_REL(ds, want_ds, 1e-6);
    QK_ASSERT_NEAR_REL(dz, -0.5 * 2.0 - 0.5 * 0.5, 1e-7);
    QK_ASSERT_F32_BITS_EQ(ldx[0], 1.0f);
    QK_ASSERT_F32_BITS_EQ(ldx[1], 0.0f);
    QK_ASSERT_F32_BITS_EQ(ldx[2], 0.0f);
    /* grad factor scales both sums */
    float ds2, dz2;
    QK_ASSERT_OK(qk_lsq_backward(lx, ldy, 3, 0.5f, 3.0f, 0, 7, 0.25f, NULL, &ds2, &dz2));
    QK_ASSERT_NEAR_REL(ds2, 0.25 * want_ds, 1e-6);
    QK_ASSERT_NEAR_REL(dz2, 0.25 * (-1.25), 1e-7);
}

static void test_zero_point_rules(void **state) {
    (void)state;
    /* forward: nearbyint (ties to even) and clamp */
    assert_int_equal(qk_lsq_zero_point(2.5f, 0, 15, true), 2);
    assert_int_equal(qk_lsq_zero_point(3.5f, 0, 15, true), 4);
    assert_int_equal(qk_lsq_zero_point(-3.0f, -8, 7, true), -3);
    assert_int_equal(qk_lsq_zero_point(99.0f, -8, 7, true), 7);
    assert_int_equal(qk_lsq_zero_point(NAN, -8, 7, true), -8);
    /* torch's per-tensor backward: trunc(zp + 0.5) */
    assert_int_equal(qk_lsq_zero_point(2.5f, 0, 15, false), 3);
    assert_int_equal(qk_lsq_zero_point(-3.0f, -8, 7, false), -2);
    assert_int_equal(qk_lsq_zero_point(-9.0f, -8, 7, false), -8);
    assert_int_equal(qk_lsq_zero_point(7.0f, 0, 7, false), 7);
    QK_ASSERT_F32_BITS_EQ(qk_lsq_grad_factor(512, 127), (float)(1.0 / sqrt(512.0 * 127.0)));
    QK_ASSERT_F32_BITS_EQ(qk_lsq_grad_factor(0, 127), 1.0f);
}

static void test_errors(void **state) {
    (void)state;
    float x[2] = {1, 2}, y[2];
    qk_affine_params p = {0.0f, 0, -128, 127};
    QK_ASSERT_STATUS(qk_fake_quant_forward(x, 2, &p, y, NULL), QK_ERR_INVALID_ARG);
    assert_non_null(strstr(qk_last_error(), "scale"));
    p.scale = NAN;
    QK_ASSERT_STATUS(qk_fake_quant_forward(x, 2, &p, y, NULL), QK_ERR_INVALID_ARG);
    p.scale = 1e-45f; /* 1/scale is Inf */
    QK_ASSERT_STATUS(qk_fake_quant_forward(x, 2, &p, y, NULL), QK_ERR_INVALID_ARG);
    p = (qk_affine_params){1.0f, 200, -128, 127};
    QK_ASSERT_STATUS(qk_fake_quant_forward(x, 2, &p, y, NULL), QK_ERR_INVALID_ARG);
    assert_non_null(strstr(qk_last_error(), "zero point 200"));
    p = (qk_affine_params){1.0f, 0, 5, 5};
    QK_ASSERT_STATUS(qk_fake_quant_backward(x, x, 2, &p, y), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_fake_quant_forward(x, 2, NULL, y, NULL), QK_ERR_INVALID_ARG);
    const float sc[2] = {1.0f, -1.0f};
    const int32_t zp[2] = {0, 0};
    qk_channel_layout l = {1, 2, 1};
    QK_ASSERT_STATUS(qk_fake_quant_per_channel_forward(x, l, sc, zp, -8, 7, y, NULL),
                     QK_ERR_INVALID_ARG);
    assert_non_null(strstr(qk_last_error(), "channel 1"));
    const int64_t shape[3] = {2, 3, 4};
    QK_ASSERT_OK(qk_channel_layout_from_shape(3, shape, -2, &l));
    assert_true(l.outer == 2 && l.channels == 3 && l.inner == 4);
    QK_ASSERT_STATUS(qk_channel_layout_from_shape(3, shape, 3, &l), QK_ERR_SHAPE);
    QK_ASSERT_STATUS(qk_lsq_backward(x, x, 2, -1.0f, 0.0f, 0, 7, 1.0f, NULL, NULL, NULL),
                     QK_ERR_INVALID_ARG);
}

/* NaN and infinities: NaN becomes qmin with mask 0; +-Inf saturate. */
static void test_nonfinite(void **state) {
    (void)state;
    const qk_affine_params p = {0.1f, 0, -8, 7};
    const float x[3] = {NAN, INFINITY, -INFINITY};
    float y[3];
    uint8_t mask[3];
    QK_ASSERT_OK(qk_fake_quant_forward(x, 3, &p, y, mask));
    QK_ASSERT_F32_BITS_EQ(y[0], -8 * 0.1f);
    QK_ASSERT_F32_BITS_EQ(y[1], 7 * 0.1f);
    QK_ASSERT_F32_BITS_EQ(y[2], -8 * 0.1f);
    assert_true(mask[0] == 0 && mask[1] == 0 && mask[2] == 0);
}

/* The function whose gradient STE/LSQ define: rounding replaced by the
** identity plus the rounding residual frozen at (s0, z0):
**   y(s, z) = (clamp(z + x/s + r, qmin, qmax) - z) * s,
**   r = nearbyint(z0 + x/s0) - (z0 + x/s0).
** Its derivatives in s and z are LSQ's per-element terms; central finite
** differences of L = sum dy*y must equal the analytic sums / grad_factor,
** for elements away from the clip kink (q strictly inside or outside). */
static double surrogate_loss(const float *x, const float *dy, const double *r, size_t n, double s,
                             double z, double qmin, double qmax) {
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double q = z + (double)x[i] / s + r[i];
        q = q < qmin ? qmin : (q > qmax ? qmax : q);
        loss += (double)dy[i] * (q - z) * s;
    }
    return loss;
}

static void check_lsq_finite_differences(int32_t qmin, int32_t qmax, float s0, float z0,
                                         uint64_t seed) {
    enum { N = 400 };
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    float x[N], dy[N];
    double r[N];
    size_t n = 0;
    const float inv = 1.0f / s0;
    while (n < N) {
        /* inputs spread over 1.5x the representable range */
        const float lo = ((float)qmin - z0) * s0 * 1.5f, hi = ((float)qmax - z0) * s0 * 1.5f;
        float v = lo + (hi - lo) * (float)qk_test_rng_uniform(&rng);
        float u = z0 + v * inv;
        float q = nearbyintf(u);
        /* away from the clip kink and from rounding ties */
        if (fabsf(q - (float)qmin) < 1.0f || fabsf(q - (float)qmax) < 1.0f) continue;
        if (fabsf(fabsf(u - q) - 0.5f) < 0.05f) continue;
        x[n] = v;
        r[n] = (double)q - ((double)z0 + (double)v * (double)inv);
        dy[n] = qk_test_rng_normal(&rng);
        n++;
    }
    const float g = qk_lsq_grad_factor(N, qmax);
    float ds, dz;
    QK_ASSERT_OK(qk_lsq_backward(x, dy, N, s0, z0, qmin, qmax, g, NULL, &ds, &dz));
    const double hs = 1e-4 * s0, hz = 1e-3;
    const double fd_s = (surrogate_loss(x, dy, r, N, s0 + hs, z0, qmin, qmax) -
                         surrogate_loss(x, dy, r, N, s0 - hs, z0, qmin, qmax)) /
                        (2 * hs);
    const double fd_z = (surrogate_loss(x, dy, r, N, s0, z0 + hz, qmin, qmax) -
                         surrogate_loss(x, dy, r, N, s0, z0 - hz, qmin, qmax)) /
                        (2 * hz);
    QK_ASSERT_NEAR_REL(ds / g, fd_s, 1e-4);
    QK_ASSERT_NEAR_REL(dz / g, fd_z, 1e-4);

    /* per channel: two channels with different parameters */
    const qk_channel_layout l = {1, 2, N / 2};
    const float sc[2] = {s0, s0}, zc[2] = {z0, z0};
    float dsc[2], dzc[2];
    QK_ASSERT_OK(qk_lsq_per_channel_backward(x, dy, l, sc, zc, qmin, qmax, g, NULL, dsc, dzc));
    QK_ASSERT_NEAR_REL((double)dsc[0] + dsc[1], ds, 1e-5);
    QK_ASSERT_NEAR_REL((double)dzc[0] + dzc[1], dz, 1e-5);
    const double fd_s0 = (surrogate_loss(x, dy, r, N / 2, s0 + hs, z0, qmin, qmax) -
                          surrogate_loss(x, dy, r, N / 2, s0 - hs, z0, qmin, qmax)) /
                         (2 * hs);
    QK_ASSERT_NEAR_REL(dsc[0] / g, fd_s0, 1e-4);
}

static void test_lsq_finite_differences(void **state) {
    (void)state;
    check_lsq_finite_differences(0, 15, 0.031f, 7.0f, 11);
    check_lsq_finite_differences(-8, 7, 0.2f, 0.0f, 12);
    check_lsq_finite_differences(0, 255, 0.013f, 128.0f, 13);
    check_lsq_finite_differences(-128, 127, 0.05f, 5.0f, 14);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_per_tensor), cmocka_unit_test(test_golden_per_channel),
        cmocka_unit_test(test_golden_rounding),   cmocka_unit_test(test_hand_values),
        cmocka_unit_test(test_zero_point_rules),  cmocka_unit_test(test_errors),
        cmocka_unit_test(test_nonfinite),         cmocka_unit_test(test_lsq_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
