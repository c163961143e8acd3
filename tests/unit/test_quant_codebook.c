/*
** Codebook formats: the NF4 / FP4 tables against their published values and
** bit-field definitions, nearest-code selection against a brute-force
** search with the documented tie rules, and bitsandbytes' 8-bit dynamic map
** against its construction's known properties.
*/
#include "qk_test.h"

#include <float.h>

static void test_nf4_table(void **state) {
    (void)state;
    /* FORMATS.md, bitsandbytes' NF4 values, exactly */
    const float want[16] = {-1.0f,
                            -0.6961928009986877f,
                            -0.5250730514526367f,
                            -0.39491748809814453f,
                            -0.28444138169288635f,
                            -0.18477343022823334f,
                            -0.09105003625154495f,
                            0.0f,
                            0.07958029955625534f,
                            0.16093020141124725f,
                            0.24611230194568634f,
                            0.33791524171829224f,
                            0.44070982933044434f,
                            0.5626170039176941f,
                            0.7229568362236023f,
                            1.0f};
    const float *v = qk_codebook_values(QK_CODEBOOK_NF4);
    assert_non_null(v);
    for (int c = 0; c < 16; c++) {
        QK_ASSERT_F32_BITS_EQ(v[c], want[c]);
        QK_ASSERT_F32_BITS_EQ(qk_codebook_decode_normalized(QK_CODEBOOK_NF4, (uint8_t)c), want[c]);
        if (c > 0) assert_true(v[c] > v[c - 1]);
    }
    assert_string_equal(qk_codebook_name(QK_CODEBOOK_NF4), "nf4");
    assert_null(qk_codebook_values(QK_CODEBOOK_COUNT));
}

static void test_fp4_bnb_table(void **state) {
    (void)state;
    /* bitsandbytes' FP4 decode constants (its CUDA kernel's literals), by
    ** code: 0, 5.208333333e-03, 0.66666667, 1, 0.33333333, 0.5, 0.16666667,
    ** 0.25; the sign bit 0b1000 negates (code 8 is -0). */
    const float mag[8] = {0.0f, 5.208333333e-03f, 0.66666667f, 1.0f, 0.33333333f,
                          0.5f, 0.16666667f,      0.25f};
    const float *v = qk_codebook_values(QK_CODEBOOK_FP4_BNB);
    for (int c = 0; c < 16; c++) {
        const float want = (c & 8) ? -mag[c & 7] : mag[c & 7];
        QK_ASSERT_F32_BITS_EQ(v[c], want);
        QK_ASSERT_F32_BITS_EQ(qk_codebook_decode_normalized(QK_CODEBOOK_FP4_BNB, (uint8_t)c), want);
    }
    assert_true(signbit(v[8]) && v[8] == 0.0f);
    /* and they are {0, 0.0625, 8, 12, 4, 6, 2, 3} / 12 */
    const double twelfths[8] = {0, 0.0625, 8, 12, 4, 6, 2, 3};
    for (int c = 0; c < 8; c++) assert_true(fabs(v[c] - twelfths[c] / 12) <= 3e-8);
}

static void test_fp4_e2m1_table(void **state) {
    (void)state;
    /* E2M1 from its bit fields: s e1 e0 m, bias 1; e = 0 is subnormal
    ** (m * 0.5), else 2^(e-1) * (1 + m/2). */
    const float *v = qk_codebook_values(QK_CODEBOOK_FP4_E2M1);
    for (int c = 0; c < 16; c++) {
        const int e = (c >> 1) & 3, m = c & 1;
        float want = e == 0 ? 0.5f * (float)m : ldexpf(1.0f + 0.5f * (float)m, e - 1);
        if (c & 8) want = -want;
        QK_ASSERT_F32_BITS_EQ(v[c], want);
        /* normalized by the largest magnitude 6 */
        QK_ASSERT_F32_BITS_EQ(qk_codebook_decode_normalized(QK_CODEBOOK_FP4_E2M1, (uint8_t)c),
                              (float)(want / 6.0));
    }
    const float ocp[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    for (int c = 0; c < 8; c++) QK_ASSERT_F32_BITS_EQ(v[c], ocp[c]);
}

/* Brute-force nearest code with the documented tie rules. */
static uint8_t brute_code(qk_codebook cb, float v) {
    v = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
    double best = INFINITY;
    uint8_t code = 0;
    if (cb == QK_CODEBOOK_NF4) {
        for (int c = 0; c < 16; c++) { /* ascending: strict < keeps the lower value on a tie */
            const double d = fabs((double)v - qk_codebook_decode_normalized(cb, (uint8_t)c));
            if (d < best) best = d, code = (uint8_t)c;
        }
        return code;
    }
    const int sign = v < 0.0f ? 8 : 0;
    double best_mag = INFINITY;
    for (int c = 0; c < 8; c++) {
        const double m = fabs((double)qk_codebook_decode_normalized(cb, (uint8_t)c));
        const double d = fabs(fabs((double)v) - m);
        if (d < best || (d == best && m < best_mag)) best = d, best_mag = m, code = (uint8_t)c;
    }
    return (uint8_t)(code | sign);
}

static void test_encode_matches_brute_force(void **state) {
    (void)state;
    qk_test_rng rng;
    for (int cb = 0; cb < QK_CODEBOOK_COUNT; cb++) {
        qk_test_rng_seed(&rng, 100 + (uint64_t)cb);
        for (int i = 0; i < 200000; i++) {
            float v = (float)(qk_test_rng_uniform(&rng) * 2.4 - 1.2);
            if (i % 4 == 0) v *= 1e-3f; /* near zero */
            const uint8_t got = qk_codebook_encode_normalized((qk_codebook)cb, v);
            const uint8_t want = brute_code((qk_codebook)cb, v);
            if (got != want)
                fail_msg("%s: v %.9g: code %u, brute force %u", qk_codebook_name((qk_codebook)cb),
                         (double)v, got, want);
        }
        /* every value encodes to its own code (code 8, -0, encodes as +0: code 0) */
        for (int c = 0; c < 16; c++) {
            const float v = qk_codebook_decode_normalized((qk_codebook)cb, (uint8_t)c);
            const uint8_t got = qk_codebook_encode_normalized((qk_codebook)cb, v);
            assert_int_equal(got, (cb != QK_CODEBOOK_NF4 && c == 8) ? 0 : c);
        }
    }
}

static void test_encode_ties(void **state) {
    (void)state;
    /* halfway between 0 and the smallest positive value is exact in f32 */
    const float nf4_mid = 0.07958029955625534f / 2; /* codes 7 (0.0) and 8 */
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_NF4, nf4_mid), 7);
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_NF4, nextafterf(nf4_mid, 1)), 8);
    /* NF4 below zero: a tie goes to the lower value (code 6, -0.091) */
    const float nf4_neg = -0.09105003625154495f / 2;
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_NF4, nf4_neg), 6);
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_NF4, nextafterf(nf4_neg, 0)), 7);
    /* bnb FP4: between 0 and 0.0052083: to the smaller magnitude; negative
    ** values keep the sign bit (code 8, -0) as bitsandbytes' kernel does */
    const float fp4_mid = 5.208333333e-03f / 2;
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_FP4_BNB, fp4_mid), 0);
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_FP4_BNB, -fp4_mid), 8);
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_FP4_BNB, nextafterf(fp4_mid, 1)), 1);
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_FP4_BNB, -0.0f), 0);
    /* E2M1: 0.5/6 halved (0.25/6 = 1/24) */
    const float e_mid = (float)(0.5 / 6.0) / 2;
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_FP4_E2M1, e_mid), 0);
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_FP4_E2M1, -e_mid), 8);
    /* out of range and NaN */
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_NF4, 7.0f), 15);
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_FP4_BNB, -7.0f), 11);
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_FP4_E2M1, 7.0f), 7);
    assert_int_equal(qk_codebook_encode_normalized(QK_CODEBOOK_NF4, NAN), 7);
}

/* ---- dynamic map --------------------------------------------------------
** bitsandbytes' create_dynamic_map(signed=True, 7, 8): for i = 0..6 the
** 2^i midpoints of linspace(0.1, 1, 2^i + 1) times 10^(i-6), i.e. exactly
** 10^(i-6) * (0.1 + 0.9 (2j + 1) / 2^(i+1)), j = 0..2^i-1, their negatives,
** 0 and 1: 1+2+...+64 = 127 per sign, 256 in all. torch computes in f32,
** so each value is within a few f32 ulps of the exact one. */
static void test_dynamic_map_signed(void **state) {
    (void)state;
    float map[256];
    QK_ASSERT_OK(qk_dynamic_map_create(true, 7, 8, map));
    for (int i = 1; i < 256; i++)
        if (!(map[i] > map[i - 1]))
            fail_msg("map[%d] = %.9g <= map[%d] = %.9g", i, (double)map[i], i - 1,
                     (double)map[i - 1]);
    QK_ASSERT_F32_BITS_EQ(map[127], 0.0f);
    QK_ASSERT_F32_BITS_EQ(map[255], 1.0f);
    for (int i = 0; i < 127; i++) QK_ASSERT_F32_BITS_EQ(map[i], -map[254 - i]);
    /* exact values, ascending: decade i has 2^i values */
    int k = 128;
    for (int i = 0; i < 7; i++) {
        const double p10 = pow(10.0, i - 6);
        for (int j = 0; j < (1 << i); j++, k++) {
            const double exact = p10 * (0.1 + 0.9 * (2 * j + 1) / (double)(2 << i));
            if (!(fabs(map[k] - exact) <= exact * 0x1p-21))
                fail_msg("map[%d] = %.9g, exact %.12g (decade %d, j %d)", k, (double)map[k], exact,
                         i, j);
            /* strictly inside its decade */
            assert_true(map[k] > 0.1 * p10 && map[k] < p10);
        }
    }
    assert_int_equal(k, 255);
    /* hand values: 0.55e-6 (the one value of decade 0), 0.99296875 (the
    ** largest mean of linspace(0.1, 1, 65): (0.9859375 + 1) / 2) */
    QK_ASSERT_NEAR_REL(map[128], 5.5e-7, 2e-7);
    QK_ASSERT_NEAR_REL(map[254], 0.99296875, 2e-7);
    QK_ASSERT_NEAR_REL(map[0], -0.99296875, 2e-7);
    QK_ASSERT_NEAR_REL(map[129], 0.325e-5, 2e-7);
    QK_ASSERT_NEAR_REL(map[130], 0.775e-5, 2e-7);

    /* nearest entry with ties to the lower index, against brute force */
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 5);
    for (int t = 0; t < 100000; t++) {
        float v = (float)(qk_test_rng_uniform(&rng) * 2 - 1);
        if (t % 3 == 0) v *= powf(10.0f, -(float)(qk_test_rng_u64(&rng) % 7));
        int best = 0;
        for (int c = 1; c < 256; c++)
            if (fabs((double)v - map[c]) < fabs((double)v - map[best])) best = c;
        assert_int_equal(qk_dynamic_map_encode(map, v), best);
    }
    for (int c = 0; c < 256; c++) assert_int_equal(qk_dynamic_map_encode(map, map[c]), c);
    /* a midpoint tie: halfway between 0 and 5.5e-7 is exact, goes to index 127 */
    assert_int_equal(qk_dynamic_map_encode(map, map[128] / 2), 127);
}

static void test_dynamic_map_unsigned_and_bad(void **state) {
    (void)state;
    /* unsigned (false, 7, 8): 2^(i+1) values per decade (254), 0 and 1 */
    float map[256];
    QK_ASSERT_OK(qk_dynamic_map_create(false, 7, 8, map));
    QK_ASSERT_F32_BITS_EQ(map[0], 0.0f);
    QK_ASSERT_F32_BITS_EQ(map[255], 1.0f);
    int k = 1;
    for (int i = 0; i < 7; i++) {
        const double p10 = pow(10.0, i - 6);
        for (int j = 0; j < (2 << i); j++, k++) {
            const double exact = p10 * (0.1 + 0.9 * (2 * j + 1) / (double)(4 << i));
            if (!(fabs(map[k] - exact) <= exact * 0x1p-21))
                fail_msg("unsigned map[%d] = %.9g, exact %.12g", k, (double)map[k], exact);
        }
    }
    assert_int_equal(k, 255);
    /* parameters whose count is not 2^total_bits are refused, as bitsandbytes asserts */
    QK_ASSERT_STATUS(qk_dynamic_map_create(false, 3, 8, map), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_dynamic_map_create(true, 8, 8, map), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_dynamic_map_create(true, 7, 9, map), QK_ERR_INVALID_ARG);
    /* signed with fewer exponent bits adds a linear top decade: (true, 4, 8)
    ** gives 2*(8+16+32+64) + 2*7 + 2 = 256 values, still sorted, 0 and 1 */
    QK_ASSERT_OK(qk_dynamic_map_create(true, 4, 8, map));
    for (int i = 1; i < 256; i++) assert_true(map[i] >= map[i - 1]);
    QK_ASSERT_F32_BITS_EQ(map[255], 1.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nf4_table),
        cmocka_unit_test(test_fp4_bnb_table),
        cmocka_unit_test(test_fp4_e2m1_table),
        cmocka_unit_test(test_encode_matches_brute_force),
        cmocka_unit_test(test_encode_ties),
        cmocka_unit_test(test_dynamic_map_signed),
        cmocka_unit_test(test_dynamic_map_unsigned_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
