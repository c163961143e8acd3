/*
** Extreme values in every block format (issue 9): the largest magnitude
** each format can hold, huge values (+-3e38 and 1e18, which made Q3_K and
** Q6_K write all-zero blocks) rejected with the element named, the exact
** f16-scale boundary of Q8_0, subnormal and tiny inputs quantizing to exact
** zeros without NaN. (f16/bf16 outputs of a model: tests/cli/nonfinite.sh.)
** Expected values are derived by hand in the comments.
*/
#include <float.h>

#include "qk_test.h"

static const qk_type BLOCK_TYPES[] = {QK_TYPE_Q4_0,  QK_TYPE_Q4_1, QK_TYPE_Q5_0, QK_TYPE_Q5_1,
                                      QK_TYPE_Q8_0,  QK_TYPE_Q8_1, QK_TYPE_Q2_K, QK_TYPE_Q3_K,
                                      QK_TYPE_Q4_K,  QK_TYPE_Q5_K, QK_TYPE_Q6_K, QK_TYPE_Q8_K,
                                      QK_TYPE_IQ4_NL};
#define N_BLOCK_TYPES (sizeof BLOCK_TYPES / sizeof BLOCK_TYPES[0])

static void test_max_magnitude_table(void **state) {
    (void)state;
    /* 65504 (largest f16) x the largest |code product| of each format */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q4_0) == 524032.0f);    /* x 8 */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q4_1) == 1048064.0f);   /* x (15 + 1) */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q5_0) == 1048064.0f);   /* x 16 */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q5_1) == 2096128.0f);   /* x (31 + 1) */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q8_0) == 8384512.0f);   /* x 128 */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q8_1) == 8384512.0f);   /* x 128 */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q2_K) == 3930240.0f);   /* x (15*3 + 15) */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q3_K) == 8384512.0f);   /* x 32*4 */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q4_K) == 66028032.0f);  /* x (63*15 + 63) */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q5_K) == 132056064.0f); /* x (63*31 + 63) */
    assert_true(qk_type_max_magnitude(QK_TYPE_Q6_K) == 268304384.0f); /* x 128*32 */
    assert_true(qk_type_max_magnitude(QK_TYPE_IQ4_NL) == 8319008.0f); /* x 127 */
    assert_true(qk_type_max_magnitude(QK_TYPE_F16) == 65504.0f);
    assert_true(qk_type_max_magnitude(QK_TYPE_BF16) == 0x1.fep127f);
    assert_true(isinf(qk_type_max_magnitude(QK_TYPE_F32)));
    assert_true(isinf(qk_type_max_magnitude(QK_TYPE_Q8_K)));
}

/* Two blocks of small values with x[be + 5] = v. */
static void fill_two_blocks(float *x, int64_t be, float v) {
    for (int64_t i = 0; i < 2 * be; i++) x[i] = 0.01f * (float)((i * 37) % 7 - 3);
    x[be + 5] = v;
}

static void expect_rejected(qk_type t, const float *x, int64_t n, int64_t index, const char *val) {
    static unsigned char dst[4096];
    char want[96];
    snprintf(want, sizeof want, "element %lld is %s", (long long)index, val);
    QK_ASSERT_STATUS(qk_quantize_rows(t, x, dst, 1, n, NULL), QK_ERR_NUMERIC);
    assert_non_null(strstr(qk_last_error(), want));
    QK_ASSERT_STATUS(qk_quantize_row(t, x, dst, n, NULL), QK_ERR_NUMERIC);
    for (int m = QK_KQUANT_FAST; m <= QK_KQUANT_SEARCH; m++) {
        QK_ASSERT_STATUS(qk_kernels_quantize_rows(t, x, dst, 1, n, NULL, (qk_kquant_method)m),
                         QK_ERR_NUMERIC);
        assert_non_null(strstr(qk_last_error(), want));
    }
}

static void test_huge_rejected(void **state) {
    (void)state;
    static float x[512];
    for (size_t k = 0; k < N_BLOCK_TYPES; k++) {
        const qk_type t = BLOCK_TYPES[k];
        const int64_t be = qk_type_get_traits(t)->block_elems;
        if (t == QK_TYPE_Q8_K) continue; /* f32 scale: below */
        fill_two_blocks(x, be, -3e38f);
        expect_rejected(t, x, 2 * be, be + 5, "-3e+38");
        fill_two_blocks(x, be, 1e18f); /* Q3_K and Q6_K used to write zeros here */
        expect_rejected(t, x, 2 * be, be + 5, "1e+18");
        /* just above the table's limit */
        const float above = nextafterf(qk_type_max_magnitude(t), INFINITY);
        fill_two_blocks(x, be, above);
        QK_ASSERT_STATUS(qk_quantize_rows(t, x, (unsigned char[4096]){0}, 1, 2 * be, NULL),
                         QK_ERR_NUMERIC);
    }
    /* Q8_K (f32 d = 1 / (-127 / max)): 3e38 fits; the element comes back as
    ** d * -127 = 3e38 within two f32 roundings */
    static unsigned char q[4096];
    static float y[512];
    fill_two_blocks(x, 256, 3e38f);
    QK_ASSERT_OK(qk_quantize_rows(QK_TYPE_Q8_K, x, q, 1, 512, NULL));
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q8_K, q, y, 512));
    assert_true(fabsf(y[261] - 3e38f) <= 3e38f * 0x1p-22f);
    for (int i = 0; i < 512; i++) assert_true(isfinite(y[i]));
}

static void test_q8_0_f16_scale_boundary(void **state) {
    (void)state;
    float x[32], y[32];
    unsigned char q[34];
    /* 127 * 65504: d = 65504 exactly, the largest f16 (0x7BFF); codes 127 */
    for (int i = 0; i < 32; i++) x[i] = i % 2 ? 8319008.0f : -8319008.0f;
    QK_ASSERT_OK(qk_quantize_rows(QK_TYPE_Q8_0, x, q, 1, 32, NULL));
    assert_int_equal(q[0] | q[1] << 8, 0x7BFF);
    for (int i = 0; i < 32; i++) assert_int_equal((int8_t)q[2 + i], i % 2 ? 127 : -127);
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q8_0, q, y, 32));
    for (int i = 0; i < 32; i++) assert_true(y[i] == x[i]);
    /* 127 * 65520: d = 65520 is the f16 midpoint between 65504 and 65536
    ** and rounds to even, i.e. to Inf: below the table's limit, yet the scale
    ** overflows, reported after quantizing */
    for (int i = 0; i < 32; i++) x[i] = 8321040.0f;
    QK_ASSERT_STATUS(qk_quantize_rows(QK_TYPE_Q8_0, x, q, 1, 32, NULL), QK_ERR_NUMERIC);
    assert_non_null(strstr(qk_last_error(), "beyond the f16 range"));
    /* one less: d = 8321039 / 127 rounds to 65504 in f16; the codes are 127
    ** (x * (1/d) rounds to 127) and the values come back as 127 * 65504 */
    for (int i = 0; i < 32; i++) x[i] = 8321039.0f;
    QK_ASSERT_OK(qk_quantize_rows(QK_TYPE_Q8_0, x, q, 1, 32, NULL));
    assert_int_equal(q[0] | q[1] << 8, 0x7BFF);
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q8_0, q, y, 32));
    for (int i = 0; i < 32; i++) assert_true(y[i] == 8319008.0f);
}

static void test_large_but_representable(void **state) {
    (void)state;
    /* values up to 5e4 in magnitude fit every format (Q4_1's min -5e4 is an
    ** f16 too; Q4_0's d = 5e4 / -8) and come back within a quarter of the
    ** range 1e5 (Q2_K's coarsest step is 1e5 / 3, error <= half of it) */
    static float x[512], y[512];
    static unsigned char q[4096];
    for (size_t k = 0; k < N_BLOCK_TYPES; k++) {
        const qk_type t = BLOCK_TYPES[k];
        /* Q8_1 (an activation format) also stores s = d * sum(q) as f16,
        ** which these blocks' sums overflow (reported, QK_ERR_NUMERIC) */
        if (t == QK_TYPE_Q8_1) {
            for (int i = 0; i < 512; i++) x[i] = 5e4f;
            QK_ASSERT_STATUS(qk_quantize_rows(t, x, q, 1, 512, NULL), QK_ERR_NUMERIC);
            continue;
        }
        for (int i = 0; i < 512; i++) x[i] = 5e4f * (float)((i * 37) % 9 - 4) / 4.0f;
        QK_ASSERT_OK(qk_quantize_rows(t, x, q, 1, 512, NULL));
        QK_ASSERT_OK(qk_dequantize_row(t, q, y, 512));
        for (int i = 0; i < 512; i++) {
            assert_true(isfinite(y[i]));
            assert_true(fabsf(y[i] - x[i]) <= 0.25e5f);
        }
    }
}

static void test_subnormal_and_tiny(void **state) {
    (void)state;
    /* Subnormal inputs (|x| <= 5e-40) and tiny normal ones (<= 5e-29): every
    ** f16 scale (d = amax / levels, or a K format's super-block scales) is
    ** far below the smallest f16 subnormal 2^-24 and rounds to 0, so every
    ** value dequantizes to exactly 0 (d * q + m with d = m = 0). Q8_K keeps
    ** an f32 d: its values come back within |x|. The SIMD path gives the
    ** same bytes as the reference for the 32-element formats. */
    static float x[512], y[512];
    static unsigned char q[4096], q2[4096];
    const float mags[2] = {1e-41f, 1e-30f};
    for (int m = 0; m < 2; m++) {
        for (size_t k = 0; k < N_BLOCK_TYPES; k++) {
            const qk_type t = BLOCK_TYPES[k];
            for (int i = 0; i < 512; i++) x[i] = mags[m] * (float)((i * 37) % 101 - 50);
            QK_ASSERT_OK(qk_quantize_rows(t, x, q, 1, 512, NULL));
            QK_ASSERT_OK(qk_dequantize_row(t, q, y, 512));
            for (int i = 0; i < 512; i++) {
                if (t == QK_TYPE_Q8_K)
                    assert_true(isfinite(y[i]) && fabsf(y[i] - x[i]) <= 50.0f * mags[m]);
                else
                    assert_true(y[i] == 0.0f);
            }
            if (qk_type_get_traits(t)->block_elems == 32) {
                size_t rb;
                QK_ASSERT_OK(qk_type_row_bytes(t, 512, &rb));
                QK_ASSERT_OK(qk_kernels_quantize_rows(t, x, q2, 1, 512, NULL, QK_KQUANT_FAST));
                assert_memory_equal(q, q2, rb);
            }
        }
    }
    /* a subnormal block next to a normal one: the normal block is unaffected
    ** (Q4_0: max 4 -> d = -0.5, code 0 for 4 and 8 for the rest: 0x80, 0x88...) */
    float b[64];
    unsigned char q40[36];
    for (int i = 0; i < 64; i++) b[i] = i < 32 ? 0.0f : 1e-40f * (float)(i % 5);
    b[0] = 4.0f;
    QK_ASSERT_OK(qk_quantize_rows(QK_TYPE_Q4_0, b, q40, 1, 64, NULL));
    assert_int_equal(q40[0] | q40[1] << 8, 0xB800); /* f16 -0.5 */
    assert_int_equal(q40[2], 0x80);
    for (int j = 1; j < 16; j++) assert_int_equal(q40[2 + j], 0x88);
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q4_0, q40, y, 64));
    assert_true(y[0] == 4.0f);
    for (int i = 1; i < 64; i++) assert_true(y[i] == 0.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_magnitude_table),
        cmocka_unit_test(test_huge_rejected),
        cmocka_unit_test(test_q8_0_f16_scale_boundary),
        cmocka_unit_test(test_large_but_representable),
        cmocka_unit_test(test_subnormal_and_tiny),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
