/*
** Affine quantization properties over many seeds, shapes and schemes:
** the per-element error bound, SQNR against the uniform-noise model,
** stochastic rounding (unbiased, reproducible, thread-count independent),
** and agreement of the tensor path with the per-span entry points.
** Every failure prints the seed and the scheme.
*/
#include "qk_test.h"

#include <float.h>

static qk_tensor_view view_f32(int32_t ndim, const int64_t *shape, float *data) {
    qk_tensor_view v;
    if (qk_tensor_view_init(&v, QK_TYPE_F32, ndim, shape, data) != QK_OK)
        fail_msg("view: %s", qk_last_error());
    return v;
}

static const char *gran_name(qk_granularity g) {
    return g == QK_GRAN_TENSOR ? "tensor" : g == QK_GRAN_CHANNEL ? "channel" : "group";
}

/* Float slack of the bound |x - x'| <= scale / 2, from the arithmetic:
**   t = x * inv: inv = fl(1/scale) and the product each round once, so t is
**   off by at most |t| * 2^-23 (< 2^-15 scale units for |t| <= 256 inside the
**   range); the range ends are found with the rounded scale and zero point,
**   which moves them by a few ulps of (qmax - qmin) <= 255: below 2^-13 scale;
**   the dequantized product rounds once: |x'| * 2^-24 <= (|x| + scale) 2^-24.
** So |x - x'| <= scale * (1/2 + 2^-12) + |x| * 2^-22 covers it with room. */
static double bound(double scale, double x, bool stochastic) {
    return scale * ((stochastic ? 1.0 : 0.5) + 0x1p-12) + fabs(x) * 0x1p-22;
}

/* Random shape of 1..4 dims with 1..max_len elements per dim (product capped). */
static int32_t random_shape(qk_test_rng *rng, int64_t *shape) {
    const int32_t ndim = 1 + (int32_t)(qk_test_rng_u64(rng) % 4);
    const int64_t caps[4] = {300, 40, 12, 6};
    for (int32_t d = 0; d < ndim; d++)
        shape[d] = 1 + (int64_t)(qk_test_rng_u64(rng) % (uint64_t)caps[ndim - 1]);
    return ndim;
}

/* Fill with one of: N(0, s), uniform, heavy tails, per-row scales, few distinct values. */
static void fill_kind(qk_test_rng *rng, float *x, size_t n, int kind, int64_t row_len) {
    switch (kind) {
    case 0:
        qk_test_fill_normal(rng, x, n, (float)(0.01 + 10 * qk_test_rng_uniform(rng)));
        break;
    case 1:
        qk_test_fill_uniform(rng, x, n, -0.3f, 2.5f);
        break;
    case 2: /* Student-t like: normal / sqrt(uniform) */
        for (size_t i = 0; i < n; i++)
            x[i] = qk_test_rng_normal(rng) / (float)sqrt(qk_test_rng_uniform(rng) + 1e-3);
        break;
    case 3:
        for (size_t i = 0; i < n; i++)
            x[i] = qk_test_rng_normal(rng) * expf((float)((int64_t)i / row_len % 7) - 3.0f);
        break;
    default:
        for (size_t i = 0; i < n; i++) x[i] = (float)(qk_test_rng_u64(rng) % 5) - 2.0f;
        break;
    }
}

static void random_scheme(qk_test_rng *rng, int32_t ndim, qk_affine_scheme *s) {
    const int bits = 2 + (int)(qk_test_rng_u64(rng) % 7);
    const int kind = (int)(qk_test_rng_u64(rng) % 4);
    *s = qk_affine_scheme_default(bits, kind != 0);
    if (kind == 2) s->range = QK_QRANGE_SIGNED;   /* symmetric full range */
    if (kind == 3) s->range = QK_QRANGE_UNSIGNED; /* symmetric, zp 2^(b-1) */
    if (kind == 0 && qk_test_rng_u64(rng) % 4 == 0) s->range = QK_QRANGE_SIGNED; /* asym int */
    s->granularity = (qk_granularity)(qk_test_rng_u64(rng) % 3);
    s->axis =
        (int32_t)(qk_test_rng_u64(rng) % (uint64_t)ndim) - (qk_test_rng_u64(rng) % 2 ? ndim : 0);
    s->group_size = 1 + (int32_t)(qk_test_rng_u64(rng) % 130);
    s->scale_type = (qk_type[]){QK_TYPE_F32, QK_TYPE_F16, QK_TYPE_BF16}[qk_test_rng_u64(rng) % 3];
    if (qk_test_rng_u64(rng) % 4 == 0) s->rounding = QK_ROUND_STOCHASTIC;
    s->seed = qk_test_rng_u64(rng);
    if (qk_test_rng_u64(rng) % 4 == 0) {
        s->range_mode = qk_test_rng_u64(rng) % 2 ? QK_RANGE_CLIP : QK_RANGE_FIXED;
        s->clip_min = -(float)qk_test_rng_uniform(rng) * 2;
        s->clip_max = (float)qk_test_rng_uniform(rng) * 2;
    }
}

static void test_error_bound_property(void **state) {
    (void)state;
    float *x = malloc(300 * 40 * sizeof *x), *y = malloc(300 * 40 * sizeof *y);
    int64_t checked_inside = 0;
    for (uint64_t seed = 1; seed <= 2000; seed++) {
        qk_test_rng rng;
        qk_test_rng_seed(&rng, seed);
        int64_t shape[4];
        const int32_t ndim = random_shape(&rng, shape);
        qk_affine_scheme s;
        random_scheme(&rng, ndim, &s);
        int64_t numel = 1;
        for (int32_t d = 0; d < ndim; d++) numel *= shape[d];
        fill_kind(&rng, x, (size_t)numel, (int)(seed % 5), shape[ndim - 1]);
        qk_tensor_view v = view_f32(ndim, shape, x);
        qk_affine_tensor q;
        qk_status st = qk_affine_quantize(&v, &s, &q);
        if (st != QK_OK)
            fail_msg("seed %llu: %s: %s", (unsigned long long)seed, qk_status_name(st),
                     qk_last_error());
        QK_ASSERT_OK(qk_affine_dequantize(&q, y, (size_t)numel));
        for (int64_t e = 0; e < numel; e++) {
            const int64_t g = qk_affine_layout_group(&q.layout, e);
            const float sc = q.scales[g];
            const int32_t zp = q.zero_points[g];
            const int32_t code =
                q.code_type == QK_TYPE_I8 ? ((int8_t *)q.codes)[e] : ((uint8_t *)q.codes)[e];
            if (code < q.qmin || code > q.qmax || zp < q.qmin || zp > q.qmax)
                fail_msg("seed %llu: code %d / zp %d outside [%d, %d]", (unsigned long long)seed,
                         code, zp, q.qmin, q.qmax);
            /* inside the representable range [(qmin - zp) s, (qmax - zp) s] the
            ** error is at most s/2 (stochastic: below s) */
            const double lo = (double)(q.qmin - zp) * sc, hi = (double)(q.qmax - zp) * sc;
            const bool inside = x[e] >= lo && x[e] <= hi;
            /* with the group's own range every element is inside up to the
            ** rounding of the scale (an extreme may sit an ulp beyond) */
            if (inside || s.range_mode == QK_RANGE_MINMAX) {
                checked_inside++;
                const double err = fabs((double)x[e] - (double)y[e]);
                if (!(err <= bound(sc, x[e], s.rounding == QK_ROUND_STOCHASTIC)))
                    fail_msg("seed %llu: %d bits, %s, %s range %d, element %lld: x %.9g -> %.9g "
                             "(code %d, zp %d, scale %.9g): error %.3g scale units",
                             (unsigned long long)seed, s.bits, s.symmetric ? "sym" : "asym",
                             gran_name(s.granularity), (int)s.range, (long long)e, (double)x[e],
                             (double)y[e], code, zp, (double)sc, err / sc);
            } else {
                /* outside, the code saturates at the nearer end */
                const int32_t want = x[e] < lo ? q.qmin : q.qmax;
                if (code != want)
                    fail_msg("seed %llu: element %lld (%g) outside [%g, %g] got code %d",
                             (unsigned long long)seed, (long long)e, (double)x[e], lo, hi, code);
            }
        }
        qk_affine_tensor_free(&q);
    }
    assert_true(checked_inside > 100000);
    free(x);
    free(y);
}

/* The tensor path equals per-span calls with each group's parameters (the
** entry point GPTQ and AWQ use), for rows split into groups. */
static void test_span_matches_tensor(void **state) {
    (void)state;
    enum { R = 7, C = 300 };
    float x[R * C];
    uint8_t codes[C];
    float y[C], yt[R * C];
    for (uint64_t seed = 1; seed <= 40; seed++) {
        qk_test_rng rng;
        qk_test_rng_seed(&rng, seed);
        qk_test_fill_normal(&rng, x, R * C, 1.0f);
        qk_affine_scheme s = qk_affine_scheme_default(2 + (int)(seed % 7), seed % 2 == 0);
        s.granularity = QK_GRAN_GROUP;
        s.group_size = 64 + (int32_t)(seed % 3) * 32; /* 300 is not a multiple: partial groups */
        s.rounding = seed % 3 == 0 ? QK_ROUND_STOCHASTIC : QK_ROUND_NEAREST_EVEN;
        s.seed = seed * 1000;
        int64_t shape[2] = {R, C};
        qk_tensor_view v = view_f32(2, shape, x);
        qk_affine_tensor q;
        QK_ASSERT_OK(qk_affine_quantize(&v, &s, &q));
        QK_ASSERT_OK(qk_affine_dequantize(&q, yt, R * C));
        for (int r = 0; r < R; r++)
            for (int c0 = 0; c0 < C; c0 += s.group_size) {
                const int len = C - c0 < s.group_size ? C - c0 : s.group_size;
                const float *xs = x + r * C + c0;
                qk_affine_params p;
                QK_ASSERT_OK(qk_affine_span_params(xs, (size_t)len, &s, &p));
                const int64_t g = qk_affine_layout_group(&q.layout, r * C + c0);
                QK_ASSERT_F32_BITS_EQ(p.scale, q.scales[g]);
                assert_int_equal(p.zero_point, q.zero_points[g]);
                QK_ASSERT_OK(qk_affine_quantize_span(xs, (size_t)len, &p, s.rounding, s.seed,
                                                     (uint64_t)(r * C + c0), codes));
                if (memcmp(codes, (uint8_t *)q.codes + r * C + c0, (size_t)len) != 0)
                    fail_msg("seed %llu: row %d group at %d: span codes differ",
                             (unsigned long long)seed, r, c0);
                QK_ASSERT_OK(qk_affine_dequantize_span(codes, (size_t)len, &p, y));
                for (int i = 0; i < len; i++) QK_ASSERT_F32_BITS_EQ(y[i], yt[r * C + c0 + i]);
            }
        qk_affine_tensor_free(&q);
    }
}

/* ---- SQNR against the uniform-noise model ------------------------------
** Rounding to a grid of step s leaves an error uniform on [-s/2, s/2] when
** s is small against the spread of the data (Sheppard; exact enough for
** N(0,1) at s <= 0.5): variance s^2/12. A group of n elements with scale
** s_g adds n s_g^2 / 12 to the noise energy, so the model predicts
**   noise = sum_g n_g s_g^2 / 12,   SQNR = 10 log10(sum x^2 / noise).
** int8 per channel, rows of 1024 N(0,1) values, asymmetric: s = (max - min)
** / 255 with E[range of 1024 normals] ~ 6.5, so E[s^2] ~ 6.5^2/255^2 = 6.5e-4,
** noise ~ 5.4e-5 per element: SQNR ~ 42.7 dB, so >= 40 dB with margin.
** Symmetric restricted: s = amax/127, E[amax] ~ 3.4: SQNR ~ 42.2 dB.
** int4 per group of 128, asymmetric: E[range of 128 normals] ~ 5.2, s ~
** 5.2/15, noise ~ 0.0100: SQNR ~ 20.0 dB, so >= 19 dB. The measured noise
** must also agree with the model within 10% (over 2^16 elements the sample
** noise has a relative spread of ~1%): a rounding that is not to nearest
** (e.g. truncation: s^2/3) or a wrong scale fails this. */
static void sqnr_case(const qk_affine_scheme *s, double min_db, uint64_t seed) {
    enum { R = 64, C = 1024 };
    float *x = malloc(R * C * sizeof *x), *y = malloc(R * C * sizeof *y);
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    qk_test_fill_normal(&rng, x, R * C, 1.0f);
    int64_t shape[2] = {R, C};
    qk_tensor_view v = view_f32(2, shape, x);
    qk_affine_tensor q;
    QK_ASSERT_OK(qk_affine_quantize(&v, s, &q));
    QK_ASSERT_OK(qk_affine_dequantize(&q, y, R * C));
    double sig = 0, noise = 0, model = 0;
    for (int64_t e = 0; e < R * C; e++) {
        const double sc = q.scales[qk_affine_layout_group(&q.layout, e)];
        sig += (double)x[e] * x[e];
        noise += ((double)x[e] - y[e]) * ((double)x[e] - y[e]);
        model += sc * sc / 12.0;
    }
    const double db = 10 * log10(sig / noise), model_db = 10 * log10(sig / model);
    print_message("    %d bits %s %s: SQNR %.2f dB (model %.2f dB), seed %llu\n", s->bits,
                  s->symmetric ? "sym" : "asym", gran_name(s->granularity), db, model_db,
                  (unsigned long long)seed);
    if (!(db >= min_db))
        fail_msg("seed %llu: SQNR %.2f dB < %.1f dB", (unsigned long long)seed, db, min_db);
    if (!(fabs(noise / model - 1.0) <= 0.10))
        fail_msg("seed %llu: noise %.4g vs model %.4g", (unsigned long long)seed, noise, model);
    qk_affine_tensor_free(&q);
    free(x);
    free(y);
}

static void test_sqnr_bounds(void **state) {
    (void)state;
    for (uint64_t seed = 11; seed <= 13; seed++) {
        qk_affine_scheme s8 = qk_affine_scheme_default(8, false);
        s8.granularity = QK_GRAN_CHANNEL;
        s8.axis = 0;
        sqnr_case(&s8, 40.0, seed);
        s8 = qk_affine_scheme_default(8, true);
        s8.granularity = QK_GRAN_CHANNEL;
        sqnr_case(&s8, 40.0, seed);
        qk_affine_scheme s4 = qk_affine_scheme_default(4, false);
        s4.granularity = QK_GRAN_GROUP;
        s4.group_size = 128;
        sqnr_case(&s4, 19.0, seed);
    }
}

/* ---- stochastic rounding -----------------------------------------------
** For x with t = x/s, q = floor(t) + [u < frac(t)]: the error e = (q - t) s
** takes -frac s with probability 1 - frac and (1 - frac) s otherwise: mean 0,
** variance frac (1 - frac) s^2 <= s^2/4. Over N independent draws the mean
** error has standard deviation <= s / (2 sqrt N); we allow 5 of those (a
** false failure has probability < 1e-6). */
static void test_stochastic_unbiased(void **state) {
    (void)state;
    const qk_affine_params p = {0.25f, 3, 0, 15};
    const float xs[5] = {0.1f, -0.3f, 1.0625f, 2.2f, -0.01f};
    enum { N = 20000 };
    for (int k = 0; k < 5; k++) {
        double sum = 0;
        for (uint64_t seed = 0; seed < N; seed++) {
            uint8_t c;
            float y;
            QK_ASSERT_OK(qk_affine_quantize_span(&xs[k], 1, &p, QK_ROUND_STOCHASTIC, seed, 42, &c));
            QK_ASSERT_OK(qk_affine_dequantize_span(&c, 1, &p, &y));
            /* the two neighbours only */
            const double t = xs[k] / 0.25;
            if (!(c - 3 == (int)floor(t) || c - 3 == (int)floor(t) + 1))
                fail_msg("x %g: code %d is not a neighbour of t %g", (double)xs[k], c, t);
            sum += (double)y - xs[k];
        }
        const double mean = sum / N, limit = 5 * 0.25 / (2 * sqrt((double)N));
        print_message("    x %g: mean error %.2e (limit %.2e)\n", (double)xs[k], mean, limit);
        if (!(fabs(mean) <= limit))
            fail_msg("x %g: mean error %g > %g", (double)xs[k], mean, limit);
    }
    /* over the elements of one tensor (one seed) the mean error is also ~0:
    ** 2^16 values uniform in a range of 16 steps: std of mean <= s/(2*256) */
    enum { M = 1 << 16 };
    float *x = malloc(M * sizeof *x);
    uint8_t *codes = malloc(M);
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 99);
    qk_test_fill_uniform(&rng, x, M, -0.7f, 3.0f);
    QK_ASSERT_OK(qk_affine_quantize_span(x, M, &p, QK_ROUND_STOCHASTIC, 5, 0, codes));
    double sum = 0;
    for (int i = 0; i < M; i++) sum += (double)(codes[i] - 3) * 0.25 - x[i];
    assert_true(fabs(sum / M) <= 5 * 0.25 / (2 * 256.0));
    /* nearest rounding of the same values has a deterministic bias-free
    ** error too, but stochastic draws must differ from it somewhere */
    uint8_t *rtn = malloc(M);
    QK_ASSERT_OK(qk_affine_quantize_span(x, M, &p, QK_ROUND_NEAREST_EVEN, 5, 0, rtn));
    assert_true(memcmp(rtn, codes, M) != 0);
    free(rtn);
    free(codes);
    free(x);
}

static void test_stochastic_reproducible_any_threads(void **state) {
    (void)state;
    enum { R = 96, C = 1000 };
    float *x = malloc(R * C * sizeof *x);
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 2024);
    qk_test_fill_normal(&rng, x, R * C, 1.0f);
    int64_t shape[2] = {R, C};
    qk_tensor_view v = view_f32(2, shape, x);
    const int saved = qk_threads_get();
    for (int gran = 0; gran < 3; gran++) {
        qk_affine_scheme s = qk_affine_scheme_default(4, false);
        s.granularity = (qk_granularity)gran;
        s.axis = 1;
        s.group_size = 128;
        s.rounding = QK_ROUND_STOCHASTIC;
        s.seed = 77;
        qk_affine_tensor a, b, c;
        qk_threads_set(1);
        QK_ASSERT_OK(qk_affine_quantize(&v, &s, &a));
        qk_threads_set(2);
        QK_ASSERT_OK(qk_affine_quantize(&v, &s, &b));
        qk_threads_set(3);
        QK_ASSERT_OK(qk_affine_quantize(&v, &s, &c));
        if (memcmp(a.codes, b.codes, R * C) != 0 || memcmp(a.codes, c.codes, R * C) != 0)
            fail_msg("%s: codes depend on the thread count", gran_name(s.granularity));
        qk_affine_tensor_free(&b);
        qk_affine_tensor_free(&c);
        /* another seed gives other codes */
        s.seed = 78;
        QK_ASSERT_OK(qk_affine_quantize(&v, &s, &b));
        assert_true(memcmp(a.codes, b.codes, R * C) != 0);
        qk_affine_tensor_free(&a);
        qk_affine_tensor_free(&b);
    }
    qk_threads_set(saved);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_bound_property),
        cmocka_unit_test(test_span_matches_tensor),
        cmocka_unit_test(test_sqnr_bounds),
        cmocka_unit_test(test_stochastic_unbiased),
        cmocka_unit_test(test_stochastic_reproducible_any_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
