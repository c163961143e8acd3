/*
** ggml's 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1): blocks
** whose bytes are derived by hand from ggml's rules, round-trip error bounds,
** idempotence, all-zero blocks, argument errors, importance weights and
** thread-count independence.
*/
#include "qk_test.h"

#include <float.h>

static void assert_bytes(const void *got, const unsigned char *want, size_t n, const char *what) {
    const unsigned char *g = got;
    for (size_t i = 0; i < n; i++)
        if (g[i] != want[i])
            fail_msg("%s: byte %zu is 0x%02x, expected 0x%02x", what, i, g[i], want[i]);
}

/* Q4_0: the largest magnitude is +2 (x[0]), so d = 2 / -8 = -0.25 (f16
** 0xB400) and id = -4; q = min(15, trunc(x * -4 + 8.5)):
**   x[0]  =  2      -> trunc(0.5)    = 0
**   x[1]  = -2      -> trunc(16.5)   = 16 -> clamped to 15
**   x[2]  =  0.3    -> trunc(7.3)    = 7
**   x[3]  = -0.3    -> trunc(9.7)    = 9
**   x[4]  =  0.125  -> trunc(8.0)    = 8
**   x[5]  =  0.1251 -> trunc(7.9996) = 7
**   x[16] =  1      -> trunc(4.5)    = 4
**   x[17] = -1      -> trunc(12.5)   = 12
**   zeros           -> trunc(8.5)    = 8
** byte j = q[j] | q[j + 16] << 4. */
static void test_q4_0_hand_block(void **state) {
    (void)state;
    float x[32] = {0};
    x[0] = 2.0f, x[1] = -2.0f, x[2] = 0.3f, x[3] = -0.3f, x[4] = 0.125f, x[5] = 0.1251f;
    x[16] = 1.0f, x[17] = -1.0f;
    const unsigned char want[18] = {0x00, 0xB4, 0x40, 0xCF, 0x87, 0x89, 0x88, 0x87, 0x88,
                                    0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    qk_block_q4_0 b;
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q4_0, x, &b, 32, NULL));
    assert_bytes(&b, want, sizeof want, "q4_0");
    /* dequantized: (q - 8) * -0.25 */
    float y[32];
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q4_0, &b, y, 32));
    QK_ASSERT_F32_BITS_EQ(y[0], 2.0f);
    QK_ASSERT_F32_BITS_EQ(y[1], -1.75f); /* the clamp: -2 cannot be stored */
    QK_ASSERT_F32_BITS_EQ(y[2], 0.25f);
    QK_ASSERT_F32_BITS_EQ(y[3], -0.25f);
    QK_ASSERT_F32_BITS_EQ(y[5], 0.25f);
    QK_ASSERT_F32_BITS_EQ(y[16], 1.0f);
    QK_ASSERT_F32_BITS_EQ(y[17], -1.0f);
}

/* Q8_0 with amax 63.5: d = 0.5 (f16 0x3800), id = 2, q = roundf(2x), ties
** away from zero: 0.25 -> 1, -0.75 -> -2, 0.2 -> 0 (0.4), 63.5 -> 127. */
static void test_q8_0_hand_block(void **state) {
    (void)state;
    float x[32] = {0};
    x[0] = 0.25f, x[1] = -0.75f, x[2] = 0.2f, x[3] = 63.5f, x[4] = -63.5f, x[5] = 10.25f;
    unsigned char want[34] = {0x00, 0x38, 0x01, 0xFE, 0x00, 0x7F, 0x81, 0x15};
    qk_block_q8_0 b;
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q8_0, x, &b, 32, NULL));
    assert_bytes(&b, want, sizeof want, "q8_0");
    /* Q8_1: the same quants, s = d * sum = 0.5 * (1 - 2 + 127 - 127 + 21) = 10
    ** (f16 0x4900) */
    qk_block_q8_1 c;
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q8_1, x, &c, 32, NULL));
    assert_int_equal(c.d, 0x3800);
    assert_int_equal(c.s, 0x4900);
    assert_memory_equal(c.qs, b.qs, 32);
}

/* Q4_1: min -1, max 14, d = 15 / 15 = 1, id = 1, m = -1 (f16 0xBC00);
** q = min(15, trunc(x + 1 + 0.5)): -1 -> 0, 0.5 -> 2, 2.49 -> 3, 14 -> 15,
** zeros -> 1. */
static void test_q4_1_hand_block(void **state) {
    (void)state;
    float x[32] = {0};
    x[0] = -1.0f, x[1] = 0.5f, x[2] = 2.49f, x[16] = 14.0f;
    unsigned char want[20] = {0x00, 0x3C, 0x00, 0xBC, 0xF0, 0x12, 0x13};
    for (int j = 3; j < 16; j++) want[4 + j] = 0x11;
    qk_block_q4_1 b;
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q4_1, x, &b, 32, NULL));
    assert_bytes(&b, want, sizeof want, "q4_1");
}

/* Q5_0 with x[j] = j - 16: largest magnitude -16 (first), d = 1, q =
** trunc(x + 16.5) = j. Low nibbles: byte j = j | (j + 16 & 15) << 4 =
** 0x11 * j; bit 4 of q[j] is set for j >= 16: qh = 0xFFFF0000 (LE).
** Q5_1 with x[j] = j / 2 - 1: min -1, max 14.5, d = 15.5 / 31 = 0.5 (0x3800),
** m = -1, q = trunc((x + 1) * 2 + 0.5) = j: the same quant bytes. */
static void test_q5_hand_blocks(void **state) {
    (void)state;
    float x[32];
    unsigned char want0[22] = {0x00, 0x3C, 0x00, 0x00, 0xFF, 0xFF};
    unsigned char want1[24] = {0x00, 0x38, 0x00, 0xBC, 0x00, 0x00, 0xFF, 0xFF};
    for (int j = 0; j < 16; j++) want0[6 + j] = want1[8 + j] = (unsigned char)(0x11 * j);
    for (int j = 0; j < 32; j++) x[j] = (float)j - 16.0f;
    qk_block_q5_0 b0;
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q5_0, x, &b0, 32, NULL));
    assert_bytes(&b0, want0, sizeof want0, "q5_0");
    for (int j = 0; j < 32; j++) x[j] = (float)j * 0.5f - 1.0f;
    qk_block_q5_1 b1;
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q5_1, x, &b1, 32, NULL));
    assert_bytes(&b1, want1, sizeof want1, "q5_1");
    float y[32];
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q5_1, &b1, y, 32));
    for (int j = 0; j < 32; j++) QK_ASSERT_F32_BITS_EQ(y[j], x[j]);
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q5_0, &b0, y, 32));
    for (int j = 0; j < 32; j++) QK_ASSERT_F32_BITS_EQ(y[j], (float)j - 16.0f);
}

/* All-zero blocks: no division by zero. Q4_0/Q5_0 compute d = 0 / -8 = -0
** (f16 0x8000) and id = 0, so every quant is the offset (8 or 16); the
** others store d = +0 and zero quants. Every value dequantizes to zero. */
static void test_zero_blocks(void **state) {
    (void)state;
    float x[64] = {0};
    unsigned char buf[128];
    const unsigned char q4_0[18] = {0x00, 0x80, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
                                    0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q4_0, x, buf, 32, NULL));
    assert_bytes(buf, q4_0, 18, "q4_0 zeros");
    const unsigned char q5_0[22] = {0x00, 0x80, 0xFF, 0xFF, 0xFF, 0xFF};
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q5_0, x, buf, 32, NULL));
    assert_bytes(buf, q5_0, 22, "q5_0 zeros");
    const qk_type types[] = {QK_TYPE_Q4_0, QK_TYPE_Q4_1, QK_TYPE_Q5_0,
                             QK_TYPE_Q5_1, QK_TYPE_Q8_0, QK_TYPE_Q8_1};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        float imp[64];
        for (int i = 0; i < 64; i++) imp[i] = 1.0f;
        for (int pass = 0; pass < 2; pass++) {
            QK_ASSERT_OK(qk_quantize_row(types[t], x, buf, 64, pass ? imp : NULL));
            float y[64];
            QK_ASSERT_OK(qk_dequantize_row(types[t], buf, y, 64));
            for (int i = 0; i < 64; i++)
                if (y[i] != 0.0f) fail_msg("%s: zero block gives %g", qk_type_name(types[t]), y[i]);
        }
    }
}

/* Round-trip error bounds on random data. The quants use the f32 scale d,
** the dequantization the f16 one (dh), so each bound adds |q| * |d - dh|. */
static void test_error_bounds(void **state) {
    (void)state;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 7);
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static unsigned char buf[N * 2];
    for (int trial = 0; trial < 8; trial++) {
        const float sigma = trial < 4 ? 0.02f : 3.0f;
        qk_test_fill_normal(&rng, x, N, sigma);
        if (trial & 1) x[5] = 40.0f * sigma; /* an outlier */
        /* Q8_0 */
        QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q8_0, x, buf, N, NULL));
        QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q8_0, buf, y, N));
        for (int b = 0; b < N / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
            const double d = amax / 127.0f;
            const double dh = qk_f16_to_f32(((const qk_block_q8_0 *)buf)[b].d);
            const double bound = d / 2 + 127 * fabs(d - dh) + 1e-6 * amax;
            for (int j = 0; j < 32; j++)
                if (fabs(x[32 * b + j] - y[32 * b + j]) > bound)
                    fail_msg("q8_0 block %d elem %d: %g vs %g (bound %g)", b, j, x[32 * b + j],
                             y[32 * b + j], bound);
        }
        /* Q4_0: half a step, except values that clamp at q = 15 (a full step) */
        QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q4_0, x, buf, N, NULL));
        QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q4_0, buf, y, N));
        for (int b = 0; b < N / 32; b++) {
            float amax = 0, max = 0;
            for (int j = 0; j < 32; j++)
                if (fabsf(x[32 * b + j]) > amax) amax = fabsf(x[32 * b + j]), max = x[32 * b + j];
            const double d = max / -8.0f;
            const double dh = qk_f16_to_f32(((const qk_block_q4_0 *)buf)[b].d);
            for (int j = 0; j < 32; j++) {
                const double r = x[32 * b + j] / d;
                const double step = r > 7.5 ? 1.0 : 0.5;
                const double bound = fabs(d) * step + 8 * fabs(d - dh) + 1e-6 * amax;
                if (fabs(x[32 * b + j] - y[32 * b + j]) > bound)
                    fail_msg("q4_0 block %d elem %d: %g vs %g (bound %g)", b, j, x[32 * b + j],
                             y[32 * b + j], bound);
            }
        }
        /* Q4_1 / Q5_1: half a step plus the f16 rounding of d and m */
        const qk_type asym[] = {QK_TYPE_Q4_1, QK_TYPE_Q5_1};
        for (int t = 0; t < 2; t++) {
            const int qmax = t == 0 ? 15 : 31;
            QK_ASSERT_OK(qk_quantize_row(asym[t], x, buf, N, NULL));
            QK_ASSERT_OK(qk_dequantize_row(asym[t], buf, y, N));
            const size_t bb = t == 0 ? 20 : 24;
            for (int b = 0; b < N / 32; b++) {
                float mn = x[32 * b], mx = x[32 * b];
                for (int j = 0; j < 32; j++)
                    mn = fminf(mn, x[32 * b + j]), mx = fmaxf(mx, x[32 * b + j]);
                const double d = (mx - mn) / (float)qmax;
                uint16_t hd, hm;
                memcpy(&hd, buf + bb * b, 2);
                memcpy(&hm, buf + bb * b + 2, 2);
                const double bound = d / 2 + qmax * fabs(d - qk_f16_to_f32(hd)) +
                                     fabs(mn - qk_f16_to_f32(hm)) + 1e-6 * (mx - mn);
                for (int j = 0; j < 32; j++)
                    if (fabs(x[32 * b + j] - y[32 * b + j]) > bound)
                        fail_msg("%s block %d elem %d: %g vs %g (bound %g)", qk_type_name(asym[t]),
                                 b, j, x[32 * b + j], y[32 * b + j], bound);
            }
        }
        /* Q5_0: like Q4_0 with 16 levels each side */
        QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q5_0, x, buf, N, NULL));
        QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q5_0, buf, y, N));
        for (int b = 0; b < N / 32; b++) {
            float amax = 0, max = 0;
            for (int j = 0; j < 32; j++)
                if (fabsf(x[32 * b + j]) > amax) amax = fabsf(x[32 * b + j]), max = x[32 * b + j];
            const double d = max / -16.0f;
            const double dh = qk_f16_to_f32(((const qk_block_q5_0 *)buf)[b].d);
            for (int j = 0; j < 32; j++) {
                const double step = x[32 * b + j] / d > 15.5 ? 1.0 : 0.5;
                const double bound = fabs(d) * step + 16 * fabs(d - dh) + 1e-6 * amax;
                if (fabs(x[32 * b + j] - y[32 * b + j]) > bound)
                    fail_msg("q5_0 block %d elem %d: %g vs %g", b, j, x[32 * b + j], y[32 * b + j]);
            }
        }
    }
}

/* dequantize(quantize(y)) == y for y = dequantize(quantize(x)): a block
** that came out of the quantizer is a fixed point. */
static void test_idempotent(void **state) {
    (void)state;
    const qk_type types[] = {QK_TYPE_Q4_0, QK_TYPE_Q4_1, QK_TYPE_Q5_0,
                             QK_TYPE_Q5_1, QK_TYPE_Q8_0, QK_TYPE_Q8_1};
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 11);
    enum { N = 32 * 256 };
    static float x[N], y[N], z[N];
    static unsigned char buf[N * 2], buf2[N * 2];
    qk_test_fill_normal(&rng, x, N, 0.05f);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t bytes;
        QK_ASSERT_OK(qk_type_row_bytes(types[t], N, &bytes));
        QK_ASSERT_OK(qk_quantize_row(types[t], x, buf, N, NULL));
        QK_ASSERT_OK(qk_dequantize_row(types[t], buf, y, N));
        QK_ASSERT_OK(qk_quantize_row(types[t], y, buf2, N, NULL));
        QK_ASSERT_OK(qk_dequantize_row(types[t], buf2, z, N));
        for (int i = 0; i < N; i++)
            if (qk_test_f32_bits(y[i]) != qk_test_f32_bits(z[i]))
                fail_msg("%s: element %d: %g then %g", qk_type_name(types[t]), i, y[i], z[i]);
    }
}

static void test_errors(void **state) {
    (void)state;
    float x[64] = {0};
    unsigned char buf[256];
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_Q4_0, x, buf, 33, NULL), QK_ERR_SHAPE);
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_Q8_0, x, buf, -32, NULL), QK_ERR_SHAPE);
    QK_ASSERT_STATUS(qk_dequantize_row(QK_TYPE_Q5_1, buf, x, 48), QK_ERR_SHAPE);
    /* stories260k's ffn_down has 172 columns: no whole number of blocks */
    static float wide[2 * 172];
    static unsigned char wbuf[2 * 172 * 2];
    QK_ASSERT_STATUS(qk_quantize_rows(QK_TYPE_Q4_0, wide, wbuf, 2, 172, NULL), QK_ERR_SHAPE);
    QK_ASSERT_OK(qk_quantize_rows(QK_TYPE_F16, wide, wbuf, 2, 172, NULL));
    x[37] = NAN;
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_Q4_1, x, buf, 64, NULL), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "element 37"));
    x[37] = -INFINITY;
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_F16, x, buf, 64, NULL), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "element 37"));
    QK_ASSERT_STATUS(qk_quantize_rows(QK_TYPE_Q8_0, x, buf, 2, 32, NULL), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "row 1, column 5"));
    x[37] = 0.0f;
    float imp[64];
    for (int i = 0; i < 64; i++) imp[i] = 1.0f;
    imp[40] = -1.0f;
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_Q4_0, x, buf, 64, imp), QK_ERR_INVALID_ARG);
    imp[40] = NAN;
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_Q4_0, x, buf, 64, imp), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "column 40"));
    /* Q8_0 ignores importance, so a bad weight does not matter there */
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q8_0, x, buf, 64, imp));
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_I32, x, buf, 64, NULL), QK_ERR_UNSUPPORTED);
    QK_ASSERT_STATUS(qk_dequantize_row(QK_TYPE_U8, buf, x, 64), QK_ERR_UNSUPPORTED);
    /* a scale beyond f16: Q4_0 needs |max| / 8 <= 65504 */
    x[3] = 1e6f;
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_Q4_0, x, buf, 64, NULL), QK_ERR_NUMERIC);
    assert_non_null(strstr(qk_last_error(), "elements 0..31"));
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q8_0, x, buf, 64, NULL)); /* 1e6 / 127 fits */
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_F32, x, buf, 64, NULL));
    assert_memory_equal(buf, x, 64 * sizeof(float));
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q4_0, x, buf, 0, NULL));
}

/* Plain float types convert like qk_convert. */
static void test_float_types(void **state) {
    (void)state;
    float x[8] = {1.0f, -2.5f, 65504.0f, 1e-8f, 3.14159f, -0.0f, 100000.0f, 0.1f};
    uint16_t h[8];
    float y[8];
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_F16, x, h, 8, NULL));
    for (int i = 0; i < 8; i++) assert_int_equal(h[i], qk_f32_to_f16(x[i]));
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_F16, h, y, 8));
    for (int i = 0; i < 8; i++) QK_ASSERT_F32_BITS_EQ(y[i], qk_f16_to_f32(h[i]));
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_BF16, x, h, 8, NULL));
    for (int i = 0; i < 8; i++) assert_int_equal(h[i], qk_f32_to_bf16(x[i]));
    uint8_t e[8];
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_F8_E4M3, x, e, 8, NULL));
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_F8_E4M3, e, y, 8));
    QK_ASSERT_F32_BITS_EQ(y[2], 448.0f); /* saturated */
    QK_ASSERT_F32_BITS_EQ(y[0], 1.0f);
    assert_false(qk_type_uses_importance(QK_TYPE_F16));
    assert_false(qk_type_uses_importance(QK_TYPE_Q8_0));
    assert_true(qk_type_uses_importance(QK_TYPE_Q4_0));
}

/* Importance: all-zero weights give the unweighted bytes; a uniform weight
** of any power of two gives the same bytes as weight 1; over many rows, the
** importance-weighted error is lower with the weights than without. */
static void test_importance(void **state) {
    (void)state;
    enum { R = 64, C = 256 };
    static float x[R * C], y[R * C];
    static unsigned char a[R * C * 2], b[R * C * 2];
    float imp[C], ones[C], zeros[C], big[C];
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 5);
    qk_test_fill_normal(&rng, x, R * C, 0.02f);
    for (int c = 0; c < C; c++) {
        const float s = qk_test_rng_normal(&rng);
        imp[c] = s * s * (c % 7 == 0 ? 50.0f : 1.0f);
        ones[c] = 1.0f, zeros[c] = 0.0f, big[c] = 0x1p100f;
    }
    const qk_type types[] = {QK_TYPE_Q4_0, QK_TYPE_Q4_1, QK_TYPE_Q5_0, QK_TYPE_Q5_1};
    for (size_t t = 0; t < 4; t++) {
        size_t rb;
        QK_ASSERT_OK(qk_type_row_bytes(types[t], C, &rb));
        QK_ASSERT_OK(qk_quantize_rows(types[t], x, a, R, C, NULL));
        QK_ASSERT_OK(qk_quantize_rows(types[t], x, b, R, C, zeros));
        assert_memory_equal(a, b, rb * R);
        QK_ASSERT_OK(qk_quantize_rows(types[t], x, a, R, C, ones));
        QK_ASSERT_OK(qk_quantize_rows(types[t], x, b, R, C, big));
        assert_memory_equal(a, b, rb * R);
        double err_plain = 0, err_imp = 0;
        QK_ASSERT_OK(qk_quantize_rows(types[t], x, a, R, C, NULL));
        QK_ASSERT_OK(qk_dequantize_row(types[t], a, y, R * C));
        for (int i = 0; i < R * C; i++) err_plain += imp[i % C] * pow(x[i] - y[i], 2);
        QK_ASSERT_OK(qk_quantize_rows(types[t], x, a, R, C, imp));
        QK_ASSERT_OK(qk_dequantize_row(types[t], a, y, R * C));
        for (int i = 0; i < R * C; i++) err_imp += imp[i % C] * pow(x[i] - y[i], 2);
        print_message("%s: importance-weighted error %.4g without, %.4g with importance\n",
                      qk_type_name(types[t]), err_plain, err_imp);
        assert_true(err_imp < err_plain);
    }
}

/* qk_quantize_rows equals row-by-row qk_quantize_row for 1 and 2 threads. */
static void test_rows_threads(void **state) {
    (void)state;
    enum { R = 37, C = 96 };
    static float x[R * C];
    static unsigned char a[R * C * 2], b[R * C * 2];
    float imp[C];
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 3);
    qk_test_fill_normal(&rng, x, R * C, 1.0f);
    for (int c = 0; c < C; c++) imp[c] = (float)(c % 5) + 0.5f;
    const qk_type types[] = {QK_TYPE_Q4_0, QK_TYPE_Q5_1, QK_TYPE_Q8_0, QK_TYPE_BF16};
    const int saved = qk_threads_get();
    for (size_t t = 0; t < 4; t++) {
        size_t rb;
        QK_ASSERT_OK(qk_type_row_bytes(types[t], C, &rb));
        for (int r = 0; r < R; r++)
            QK_ASSERT_OK(qk_quantize_row(types[t], x + r * C, a + r * rb, C, imp));
        for (int threads = 1; threads <= 2; threads++) {
            qk_threads_set(threads);
            memset(b, 0xAB, sizeof b);
            QK_ASSERT_OK(qk_quantize_rows(types[t], x, b, R, C, imp));
            assert_memory_equal(a, b, rb * R);
        }
    }
    qk_threads_set(saved);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_0_hand_block), cmocka_unit_test(test_q8_0_hand_block),
        cmocka_unit_test(test_q4_1_hand_block), cmocka_unit_test(test_q5_hand_blocks),
        cmocka_unit_test(test_zero_blocks),     cmocka_unit_test(test_error_bounds),
        cmocka_unit_test(test_idempotent),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_float_types),     cmocka_unit_test(test_importance),
        cmocka_unit_test(test_rows_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
