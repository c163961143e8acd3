/*
** f32 <-> f16 / bf16 / FP8 conversions against independent references:
** the compiler's _Float16 (IEEE binary16, round to nearest even), and a
** brute-force nearest-code search over every finite code of the narrow
** format (ties to the code with an even mantissa).
*/
#include "qk_test.h"

#include <float.h>

typedef float (*decode_fn)(uint32_t);
static float dec_e4m3(uint32_t v) {
    return qk_fp8_e4m3_to_f32((uint8_t)v);
}
static float dec_e5m2(uint32_t v) {
    return qk_fp8_e5m2_to_f32((uint8_t)v);
}
static float dec_f16(uint32_t v) {
    return qk_f16_to_f32((uint16_t)v);
}

/* Nearest finite code to x by exhaustive search; ties go to the even code.
** Returns the magnitude code (sign handled by the caller). */
static uint32_t brute_nearest(double ax, decode_fn dec, uint32_t max_finite) {
    uint32_t best = 0;
    double best_err = INFINITY;
    for (uint32_t c = 0; c <= max_finite; c++) {
        double v = dec(c);
        double err = fabs(v - ax);
        if (err < best_err || (err == best_err && (c & 1u) == 0)) {
            best = c;
            best_err = err;
        }
    }
    return best;
}

static void test_known_values(void **state) {
    (void)state;
    assert_int_equal(qk_f32_to_f16(1.0f), 0x3C00);
    assert_int_equal(qk_f32_to_f16(-2.0f), 0xC000);
    assert_int_equal(qk_f32_to_f16(65504.0f), 0x7BFF);
    assert_int_equal(qk_f32_to_f16(65520.0f), 0x7C00); /* halfway to 2^16 rounds up: Inf */
    assert_int_equal(qk_f32_to_f16(65519.996f), 0x7BFF);
    assert_int_equal(qk_f32_to_f16(5.9604645e-08f), 0x0001); /* 2^-24, smallest subnormal */
    assert_int_equal(qk_f32_to_f16(2.9802322e-08f), 0x0000); /* 2^-25: tie to even -> 0 */
    assert_int_equal(qk_f32_to_f16(2.9802326e-08f), 0x0001); /* just above the tie */
    assert_int_equal(qk_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(qk_f32_to_f16(INFINITY), 0x7C00);
    assert_int_equal(qk_f32_to_f16(-INFINITY), 0xFC00);
    assert_true((qk_f32_to_f16(NAN) & 0x7C00) == 0x7C00 && (qk_f32_to_f16(NAN) & 0x3FF) != 0);
    assert_true(isnan(qk_f16_to_f32(0x7E00)));
    QK_ASSERT_F32_BITS_EQ(qk_f16_to_f32(0x0001), 5.9604645e-08f);
    QK_ASSERT_F32_BITS_EQ(qk_f16_to_f32(0x3555), 0.333251953125f);

    assert_int_equal(qk_f32_to_bf16(1.0f), 0x3F80);
    assert_int_equal(qk_f32_to_bf16(1.00390625f), 0x3F80); /* tie: 1 + 2^-8 -> even (1.0) */
    assert_int_equal(qk_f32_to_bf16(1.01171875f), 0x3F82); /* tie: 1 + 3*2^-8 -> even up */
    assert_int_equal(qk_f32_to_bf16(FLT_MAX), 0x7F80);     /* rounds to Inf */
    assert_true(isnan(qk_bf16_to_f32(qk_f32_to_bf16(NAN))));
    QK_ASSERT_F32_BITS_EQ(qk_bf16_to_f32(0x0001), 9.18354962e-41f); /* bf16 subnormal */

    /* E4M3FN: max 448, min normal 2^-6, min subnormal 2^-9, no Inf */
    QK_ASSERT_F32_BITS_EQ(qk_fp8_e4m3_to_f32(0x7E), 448.0f);
    QK_ASSERT_F32_BITS_EQ(qk_fp8_e4m3_to_f32(0x08), 0.015625f);
    QK_ASSERT_F32_BITS_EQ(qk_fp8_e4m3_to_f32(0x01), 0.001953125f);
    QK_ASSERT_F32_BITS_EQ(qk_fp8_e4m3_to_f32(0xB8), -1.0f);
    assert_true(isnan(qk_fp8_e4m3_to_f32(0x7F)) && isnan(qk_fp8_e4m3_to_f32(0xFF)));
    /* 464 is the tie between 448 (0x7E, even) and 480 (0x7F, the NaN code) */
    assert_int_equal(qk_f32_to_fp8_e4m3(464.0f, false), 0x7E);
    assert_int_equal(qk_f32_to_fp8_e4m3(464.1f, false), 0x7F); /* beyond: overflow -> NaN */
    assert_int_equal(qk_f32_to_fp8_e4m3(1e6f, true), 0x7E);
    assert_int_equal(qk_f32_to_fp8_e4m3(-1e6f, true), 0xFE);
    assert_int_equal(qk_f32_to_fp8_e4m3(INFINITY, false), 0x7F);
    assert_int_equal(qk_f32_to_fp8_e4m3(-INFINITY, true), 0xFE);
    assert_int_equal(qk_f32_to_fp8_e4m3(NAN, true) & 0x7F, 0x7F);

    /* E5M2: max 57344, Inf 0x7C, min subnormal 2^-16 */
    QK_ASSERT_F32_BITS_EQ(qk_fp8_e5m2_to_f32(0x7B), 57344.0f);
    QK_ASSERT_F32_BITS_EQ(qk_fp8_e5m2_to_f32(0x01), 1.52587890625e-05f);
    assert_true(isinf(qk_fp8_e5m2_to_f32(0x7C)) && qk_fp8_e5m2_to_f32(0xFC) < 0);
    assert_true(isnan(qk_fp8_e5m2_to_f32(0x7D)));
    assert_int_equal(qk_f32_to_fp8_e5m2(61440.0f, false), 0x7C); /* tie above max -> Inf */
    assert_int_equal(qk_f32_to_fp8_e5m2(61440.0f, true), 0x7B);
    assert_int_equal(qk_f32_to_fp8_e5m2(INFINITY, false), 0x7C);
    assert_int_equal(qk_f32_to_fp8_e5m2(-INFINITY, true), 0xFB);
}

/* Every f16 code decodes and re-encodes to itself (NaNs stay NaN). */
static void test_f16_exhaustive_roundtrip(void **state) {
    (void)state;
    for (uint32_t c = 0; c < 65536; c++) {
        float f = qk_f16_to_f32((uint16_t)c);
        _Float16 h = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        if ((c & 0x7C00) == 0x7C00 && (c & 0x3FF)) {
            assert_true(isnan(f));
            assert_true(isnan(qk_f16_to_f32(qk_f32_to_f16(f))));
            continue;
        }
        if (qk_f32_to_f16(f) != c)
            fail_msg("f16 code 0x%04x -> %g -> 0x%04x", c, (double)f, qk_f32_to_f16(f));
        if (hb != c) fail_msg("compiler _Float16 disagrees on decode of 0x%04x", c);
    }
}

/* f32 -> f16 equals the compiler's _Float16 conversion on random bit
** patterns and on every midpoint between adjacent f16 values. */
static void test_f16_vs_compiler(void **state) {
    (void)state;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 1234);
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)qk_test_rng_u64(&rng);
        /* concentrate on f16's exponent range half of the time */
        if (i & 1) u = (u & 0x87FFFFFFu) | (((u >> 27) % 40 + 100u) << 23);
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f)) continue;
        _Float16 h = (_Float16)f;
        uint16_t want;
        memcpy(&want, &h, 2);
        uint16_t got = qk_f32_to_f16(f);
        if (got != want) fail_msg("f32 0x%08x: got 0x%04x want 0x%04x", u, got, want);
    }
    for (uint32_t c = 0; c < 0x7BFF; c++) {
        double lo = qk_f16_to_f32((uint16_t)c), hi = qk_f16_to_f32((uint16_t)(c + 1));
        float mid = (float)((lo + hi) / 2); /* exact in f32 */
        uint16_t want = (c & 1) ? (uint16_t)(c + 1) : (uint16_t)c;
        if (qk_f32_to_f16(mid) != want)
            fail_msg("midpoint between 0x%04x and next: got 0x%04x want 0x%04x", c,
                     qk_f32_to_f16(mid), want);
        if (qk_f32_to_f16(-mid) != (want | 0x8000)) fail_msg("negative midpoint 0x%04x", c);
    }
}

/* bf16: nearest of the two neighbouring bf16 values, computed in double. */
static void test_bf16_vs_neighbours(void **state) {
    (void)state;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 99);
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)qk_test_rng_u64(&rng);
        if (i % 3 == 0) u = (u & 0xFFFF0000u) | 0x8000u; /* exact ties */
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f) || isinf(f)) continue;
        uint32_t down = u & 0xFFFF0000u;
        float fd, fu;
        memcpy(&fd, &down, 4);
        uint32_t up = down + 0x10000u;
        memcpy(&fu, &up, 4);
        /* past the largest finite value the upper neighbour is 2^128 */
        double vu = isinf(fu) ? copysign(ldexp(1.0, 128), fu) : fu;
        double ed = fabs((double)f - fd), eu = fabs(vu - f);
        uint16_t want;
        if (ed < eu)
            want = (uint16_t)(down >> 16);
        else if (eu < ed)
            want = (uint16_t)(up >> 16);
        else
            want = ((down >> 16) & 1) ? (uint16_t)(up >> 16) : (uint16_t)(down >> 16);
        if (qk_f32_to_bf16(f) != want)
            fail_msg("bf16 of 0x%08x: got 0x%04x want 0x%04x", u, qk_f32_to_bf16(f), want);
        QK_ASSERT_F32_BITS_EQ(qk_bf16_to_f32((uint16_t)(u >> 16)), fd);
    }
}

static void check_fp8_against_brute(decode_fn dec, uint8_t (*enc)(float, bool), uint32_t max_finite,
                                    double max_value) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 7);
    /* every midpoint between adjacent codes, and random values in range */
    for (uint32_t c = 0; c < max_finite; c++) {
        double mid = ((double)dec(c) + (double)dec(c + 1)) / 2;
        float probes[3] = {(float)mid, nextafterf((float)mid, 0), nextafterf((float)mid, INFINITY)};
        for (int k = 0; k < 3; k++) {
            uint32_t want = brute_nearest(probes[k], dec, max_finite);
            uint32_t got = enc(probes[k], true);
            if (got != want)
                fail_msg("fp8 of %.9g: got 0x%02x want 0x%02x", (double)probes[k], got, want);
            if ((uint32_t)enc(-probes[k], true) != (want | 0x80u))
                fail_msg("fp8 of %.9g (negative) differs", -(double)probes[k]);
        }
    }
    for (int i = 0; i < 20000; i++) {
        float x = (float)(qk_test_rng_uniform(&rng) * max_value *
                          pow(2.0, -20.0 * qk_test_rng_uniform(&rng)));
        uint32_t want = brute_nearest(x, dec, max_finite);
        if ((uint32_t)enc(x, true) != want) fail_msg("fp8 of %.9g", (double)x);
    }
    /* every code decodes and re-encodes to itself */
    for (uint32_t c = 0; c <= max_finite; c++) {
        assert_int_equal(enc(dec(c), false), c);
        assert_int_equal(enc(dec(c | 0x80u), false), c | 0x80u);
    }
}

static void test_fp8_e4m3_exhaustive(void **state) {
    (void)state;
    check_fp8_against_brute(dec_e4m3, qk_f32_to_fp8_e4m3, 0x7E, 448.0);
}

static void test_fp8_e5m2_exhaustive(void **state) {
    (void)state;
    check_fp8_against_brute(dec_e5m2, qk_f32_to_fp8_e5m2, 0x7B, 57344.0);
}

static void test_f16_brute_subnormals(void **state) {
    (void)state;
    /* the subnormal range of f16 against the brute-force search */
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 5);
    for (int i = 0; i < 3000; i++) {
        float x = (float)(qk_test_rng_uniform(&rng) * 6.1e-5); /* below 2^-14 */
        uint32_t want = brute_nearest(x, dec_f16, 0x0400);
        assert_int_equal(qk_f32_to_f16(x), want);
    }
}

static void test_convert_bulk(void **state) {
    (void)state;
    float src[6] = {1.5f, -2.5f, 0.5f, 300.0f, -1e9f, NAN};
    int8_t i8[6];
    QK_ASSERT_STATUS(qk_convert(QK_TYPE_F32, src, QK_TYPE_I8, i8, 6), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "element 5"));
    QK_ASSERT_OK(qk_convert(QK_TYPE_F32, src, QK_TYPE_I8, i8, 5));
    int8_t want[5] = {2, -2, 0, 127, -128};
    assert_memory_equal(i8, want, 5);
    uint16_t h[6];
    float back[6];
    QK_ASSERT_OK(qk_convert(QK_TYPE_F32, src, QK_TYPE_F16, h, 6));
    QK_ASSERT_OK(qk_convert(QK_TYPE_F16, h, QK_TYPE_F32, back, 6));
    QK_ASSERT_F32_BITS_EQ(back[0], 1.5f);
    assert_true(isinf(back[4]) && back[4] < 0);
    assert_true(isnan(back[5]));
    QK_ASSERT_STATUS(qk_convert(QK_TYPE_F32, src, QK_TYPE_Q4_0, h, 6), QK_ERR_UNSUPPORTED);
}

static void test_types_and_views(void **state) {
    (void)state;
    qk_type t;
    QK_ASSERT_OK(qk_type_from_name("Q4_K", &t));
    assert_int_equal(t, QK_TYPE_Q4_K);
    QK_ASSERT_STATUS(qk_type_from_name("q9_9", &t), QK_ERR_UNKNOWN_TYPE);
    assert_true(qk_type_bits_per_weight(QK_TYPE_Q4_0) == 4.5);
    assert_true(qk_type_bits_per_weight(QK_TYPE_Q6_K) == 6.5625);
    assert_true(qk_type_bits_per_weight(QK_TYPE_Q2_K) == 2.625);
    size_t bytes;
    QK_ASSERT_OK(qk_type_row_bytes(QK_TYPE_Q4_K, 512, &bytes));
    assert_int_equal(bytes, 288);
    QK_ASSERT_STATUS(qk_type_row_bytes(QK_TYPE_Q4_K, 100, &bytes), QK_ERR_SHAPE);

    qk_tensor_view v;
    int64_t shape[2] = {3, 64};
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_Q8_0, 2, shape, NULL));
    assert_int_equal(qk_tensor_view_numel(&v), 192);
    assert_int_equal(qk_tensor_view_rows(&v), 3);
    QK_ASSERT_OK(qk_tensor_view_nbytes(&v, &bytes));
    assert_int_equal(bytes, 3 * 2 * 34);
    int64_t bad[2] = {3, 40};
    QK_ASSERT_STATUS(qk_tensor_view_init(&v, QK_TYPE_Q8_0, 2, bad, NULL), QK_ERR_SHAPE);
    int64_t huge[3] = {INT64_MAX / 2, 4, 4};
    QK_ASSERT_STATUS(qk_tensor_view_init(&v, QK_TYPE_F32, 3, huge, NULL), QK_ERR_OVERFLOW);
    int64_t neg[1] = {-1};
    QK_ASSERT_STATUS(qk_tensor_view_init(&v, QK_TYPE_F32, 1, neg, NULL), QK_ERR_SHAPE);
}

static void test_errors(void **state) {
    (void)state;
    qk_clear_error();
    assert_string_equal(qk_last_error(), "");
    assert_string_equal(qk_status_name(QK_ERR_TRUNCATED), "QK_ERR_TRUNCATED");
    assert_string_equal(qk_status_str(QK_OK), "ok");
    assert_int_equal(QK_ERR_INTERNAL, -20); /* frozen numbers */
    qk_type t;
    qk_type_from_name("zz", &t);
    assert_int_equal(qk_last_status(), QK_ERR_UNKNOWN_TYPE);
    assert_non_null(strstr(qk_last_error(), "'zz'"));
    void *p = qk_aligned_alloc(64, 10);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    qk_aligned_free(p);
    qk_aligned_free(NULL);
    size_t s;
    assert_false(qk_mul_size(SIZE_MAX / 2, 3, &s));
    assert_false(qk_add_size(SIZE_MAX, 1, &s));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_f16_exhaustive_roundtrip),
        cmocka_unit_test(test_f16_vs_compiler),
        cmocka_unit_test(test_bf16_vs_neighbours),
        cmocka_unit_test(test_fp8_e4m3_exhaustive),
        cmocka_unit_test(test_fp8_e5m2_exhaustive),
        cmocka_unit_test(test_f16_brute_subnormals),
        cmocka_unit_test(test_convert_bulk),
        cmocka_unit_test(test_types_and_views),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
