/*
** ggml's K-quants (Q2_K .. Q6_K, Q8_K) and IQ4_NL without files: blocks
** built by hand byte by byte and decoded with values derived from the
** format's description, the refined quantizers against ggml's own block
** (never worse), the common decoded form against the dequantizers, zero
** blocks, shapes, importance and overflow.
*/
#include "qk_test.h"

#include "quant/ggml_internal.h"

/* ---- hand-built blocks ------------------------------------------------ */

/* Q4_K: d = 0.5, dmin = 0.25, 6-bit scales sc and mins m below, packed by
** the rule of ggml's get_scale_min_k4 (computed by hand):
**   bytes 0..3  = sc[j] | (sc[j+4] >> 4) << 6:  0x41 0x82 0xC3 0x3F
**   bytes 4..7  = m[j]  | (m[j+4] >> 4) << 6:   0xC0 0x45 0x28 0x81
**   bytes 8..11 = (sc[j+4] & 15) | (m[j+4] & 15) << 4: 0xF1 0x41 0x70 0x45
** Value 64g + l has the low nibble of qs[32g + l], value 64g + 32 + l its
** high nibble; y = (0.5 * sc) * q - 0.25 * m (exact in f32). */
static const int K4_SC[8] = {1, 2, 3, 63, 17, 33, 48, 5};
static const int K4_M[8] = {0, 5, 40, 1, 63, 20, 7, 36};
static const uint8_t K4_SCALES[12] = {0x41, 0x82, 0xC3, 0x3F, 0xC0, 0x45,
                                      0x28, 0x81, 0xF1, 0x41, 0x70, 0x45};

static void test_q4_k_hand(void **state) {
    (void)state;
    qk_block_q4_k b;
    b.d = 0x3800;    /* 0.5 */
    b.dmin = 0x3400; /* 0.25 */
    memcpy(b.scales, K4_SCALES, 12);
    for (int k = 0; k < 128; k++) b.qs[k] = (uint8_t)(k * 7 + 3);
    float y[256];
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q4_K, &b, y, 256));
    for (int g = 0; g < 4; g++) {
        for (int l = 0; l < 32; l++) {
            const int byte = (32 * g + l) * 7 + 3;
            const int lo = byte & 15, hi = (byte >> 4) & 15;
            const int j0 = 2 * g, j1 = 2 * g + 1;
            QK_ASSERT_F32_BITS_EQ(y[64 * g + l], (float)(0.5 * K4_SC[j0] * lo - 0.25 * K4_M[j0]));
            QK_ASSERT_F32_BITS_EQ(y[64 * g + 32 + l],
                                  (float)(0.5 * K4_SC[j1] * hi - 0.25 * K4_M[j1]));
        }
    }
}

/* Q5_K: the same scales; the fifth bit of value 64g + 32h + l is bit
** 2g + h of qh[l]. */
static void test_q5_k_hand(void **state) {
    (void)state;
    qk_block_q5_k b;
    b.d = 0x3800;
    b.dmin = 0x3400;
    memcpy(b.scales, K4_SCALES, 12);
    for (int k = 0; k < 128; k++) b.qs[k] = (uint8_t)(k * 13 + 1);
    for (int k = 0; k < 32; k++) b.qh[k] = (uint8_t)(k * 37 + 11);
    float y[256];
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q5_K, &b, y, 256));
    for (int e = 0; e < 256; e++) {
        const int g = e / 64, h = (e / 32) % 2, l = e % 32, j = e / 32;
        const int byte = (32 * g + l) * 13 + 1;
        const int low = h ? (byte >> 4) & 15 : byte & 15;
        const int high = ((uint8_t)(l * 37 + 11) >> (2 * g + h)) & 1;
        QK_ASSERT_F32_BITS_EQ(y[e], (float)(0.5 * K4_SC[j] * (low + 16 * high) - 0.25 * K4_M[j]));
    }
}

/* Q6_K: d = 0.25; value 128h + 32k + l (k = 0..3) takes its low nibble from
** ql[64h + l + 32 (k & 1)] (low nibble for k < 2, high for k >= 2) and its
** top two bits from bits 2k of qh[32h + l]; y = (0.25 * sc) * (q - 32) with
** sc[16h + 2k + l / 16]... i.e. sub-block (value / 16). */
static void test_q6_k_hand(void **state) {
    (void)state;
    qk_block_q6_k b;
    b.d = 0x3400;
    const int8_t sc[16] = {-128, 127, 1, -1, 2, -2, 64, -64, 3, 5, 7, 11, 13, 17, 19, 23};
    memcpy(b.scales, sc, 16);
    for (int k = 0; k < 128; k++) b.ql[k] = (uint8_t)(k * 29 + 5);
    for (int k = 0; k < 64; k++) b.qh[k] = (uint8_t)(k * 53 + 7);
    float y[256];
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q6_K, &b, y, 256));
    for (int e = 0; e < 256; e++) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const int qlb = b.ql[64 * h + l + 32 * (k & 1)];
        const int low = k < 2 ? qlb & 15 : qlb >> 4;
        const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
        const int q = (low | high << 4) - 32;
        QK_ASSERT_F32_BITS_EQ(y[e], (float)(0.25 * sc[e / 16] * q));
    }
}

/* Q2_K: byte scales[j] = m << 4 | sc; quants of value 128n + 32j + l at
** bit 2j of qs[32n + l]; y = (0.5 * sc) * q - 0.25 * m. */
static void test_q2_k_hand(void **state) {
    (void)state;
    qk_block_q2_k b;
    b.d = 0x3800;
    b.dmin = 0x3400;
    for (int j = 0; j < 16; j++) b.scales[j] = (uint8_t)(((15 - j) << 4) | j);
    for (int k = 0; k < 64; k++) b.qs[k] = (uint8_t)(k * 41 + 9);
    float y[256];
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q2_K, &b, y, 256));
    for (int n = 0; n < 2; n++) {
        for (int j = 0; j < 4; j++) {
            for (int l = 0; l < 32; l++) {
                const int e = 128 * n + 32 * j + l;
                const int q = (b.qs[32 * n + l] >> (2 * j)) & 3;
                const int s = e / 16;
                QK_ASSERT_F32_BITS_EQ(y[e], (float)(0.5 * s * q - 0.25 * (15 - s)));
            }
        }
    }
}

/* Q3_K: scales (stored + 32) 0, 63, 32, 33, ... packed by hand: the low
** nibble of scale j < 8 in scales[j] bits 0-3, of j >= 8 in scales[j - 8]
** bits 4-7, the top 2 bits at bits 2 (j / 4) of scales[8 + j % 4]. A clear
** hmask bit subtracts 4. y = (0.5 * (s - 32)) * (q - 4). */
static void test_q3_k_hand(void **state) {
    (void)state;
    const int s[16] = {0, 63, 32, 33, 31, 16, 47, 40, 1, 2, 50, 60, 8, 9, 10, 11};
    qk_block_q3_k b;
    memset(&b, 0, sizeof b);
    b.d = 0x3800;
    for (int j = 0; j < 16; j++) {
        b.scales[j % 8] |= (uint8_t)((s[j] & 15) << (j < 8 ? 0 : 4));
        b.scales[8 + j % 4] |= (uint8_t)((s[j] >> 4) << (2 * (j / 4)));
    }
    for (int k = 0; k < 64; k++) b.qs[k] = (uint8_t)(k * 23 + 1);
    for (int k = 0; k < 32; k++) b.hmask[k] = (uint8_t)(k * 71 + 3);
    float y[256];
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q3_K, &b, y, 256));
    for (int e = 0; e < 256; e++) {
        const int n = e / 128, j = (e % 128) / 32, l = e % 32;
        const int low = (b.qs[32 * n + l] >> (2 * j)) & 3;
        const int high = (b.hmask[l] >> (4 * n + j)) & 1;
        QK_ASSERT_F32_BITS_EQ(y[e], (float)(0.5 * (s[e / 16] - 32) * (low + 4 * high - 4)));
    }
}

/* IQ4_NL: d = 0.5, byte j = j | (15 - j) << 4. Q8_K: f32 d, y = d * q. */
static void test_iq4_nl_and_q8_k_hand(void **state) {
    (void)state;
    static const int kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                               1,    13,   25,  38,  53,  69,  89,  113};
    qk_block_iq4_nl b;
    b.d = 0x3800;
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[256];
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_IQ4_NL, &b, y, 32));
    for (int j = 0; j < 16; j++) {
        QK_ASSERT_F32_BITS_EQ(y[j], (float)(0.5 * kv[j]));
        QK_ASSERT_F32_BITS_EQ(y[j + 16], (float)(0.5 * kv[15 - j]));
        assert_int_equal(qk_iq4nl_values[j], kv[j]);
    }
    qk_block_q8_k c;
    c.d = 0.5f;
    for (int j = 0; j < 256; j++) c.qs[j] = (int8_t)(j - 128);
    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q8_K, &c, y, 256));
    for (int j = 0; j < 256; j++) QK_ASSERT_F32_BITS_EQ(y[j], 0.5f * (float)(j - 128));
}

/* Q8_K quantization by hand: the largest magnitude is +127, so iscale =
** -127 / 127 = -1, d = -1, q = nearest(-x) with ties to even: 2.5 -> -2,
** 3.5 -> -4, -0.5 -> 0, 126.6 -> -127; bsums add each 16. */
static void test_q8_k_quantize_hand(void **state) {
    (void)state;
    float x[256] = {0};
    x[0] = 127.0f, x[1] = 2.5f, x[2] = 3.5f, x[3] = -0.5f, x[16] = 126.6f, x[17] = -5.0f;
    qk_block_q8_k b;
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q8_K, x, &b, 256, NULL));
    QK_ASSERT_F32_BITS_EQ(b.d, -1.0f);
    assert_int_equal(b.qs[0], -127);
    assert_int_equal(b.qs[1], -2);
    assert_int_equal(b.qs[2], -4);
    assert_int_equal(b.qs[3], 0);
    assert_int_equal(b.qs[16], -127);
    assert_int_equal(b.qs[17], 5);
    assert_int_equal(b.bsums[0], -127 - 2 - 4);
    assert_int_equal(b.bsums[1], -127 + 5);
    for (int j = 2; j < 16; j++) assert_int_equal(b.bsums[j], 0);
}

/* ---- quantizers ------------------------------------------------------- */

static const qk_type KTYPES[] = {QK_TYPE_Q2_K, QK_TYPE_Q3_K, QK_TYPE_Q4_K,
                                 QK_TYPE_Q5_K, QK_TYPE_Q6_K, QK_TYPE_IQ4_NL};
enum { NKTYPES = sizeof KTYPES / sizeof KTYPES[0] };

/* ggml's own block quantizer (what llama-quantize writes) for one block. */
static void ggml_block(qk_type t, const float *x, void *y, const float *imp) {
    switch (t) {
    case QK_TYPE_Q2_K:
        qk_ggml_q2_k_block_ggml(x, y, imp);
        break;
    case QK_TYPE_Q3_K:
        qk_ggml_q3_k_block_ggml(x, y, imp);
        break;
    case QK_TYPE_Q4_K:
        qk_ggml_q4_k_block_ggml(x, y, imp);
        break;
    case QK_TYPE_Q5_K:
        qk_ggml_q5_k_block_ggml(x, y, imp);
        break;
    case QK_TYPE_Q6_K:
        qk_ggml_q6_k_block_ggml(x, y, imp);
        break;
    default:
        qk_ggml_iq4_nl_block_ggml(x, y, imp);
        break;
    }
}

static double weighted_sse(const float *x, const float *y, const float *w, int n) {
    double e = 0;
    for (int i = 0; i < n; i++) e += (w ? w[i] : 1.0) * ((double)x[i] - y[i]) * (x[i] - y[i]);
    return e;
}

/* Every block of qk_quantize_row decodes with no more (weighted) squared
** error than ggml's block for the same values; in total it is lower. Data:
** Gaussian rows with outliers and a Laplace-like row. */
static void test_never_worse_than_ggml(void **state) {
    (void)state;
    enum { N = 256 * 24 };
    static float x[N], y[N], yg[N], imp[N];
    static unsigned char q[N * 2], g[N * 2];
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 21);
    qk_test_fill_normal(&rng, x, N, 0.03f);
    for (int i = 0; i < N; i += 97) x[i] *= 12.0f;
    for (int i = N / 2; i < N; i++) x[i] = x[i] * x[i] * (x[i] < 0 ? -20.0f : 20.0f);
    for (int i = 0; i < N; i++) {
        const float s = qk_test_rng_normal(&rng);
        imp[i] = s * s + (i % 11 == 0 ? 30.0f : 0.0f);
    }
    for (int t = 0; t < NKTYPES; t++) {
        const qk_type_traits *tr = qk_type_get_traits(KTYPES[t]);
        const int be = tr->block_elems;
        for (int with_imp = 0; with_imp < 2; with_imp++) {
            const float *w = with_imp ? imp : NULL;
            /* importance is applied with its maximum scaled into [0.5, 1) */
            float wmax = 0;
            for (int i = 0; i < N; i++) wmax = fmaxf(wmax, imp[i]);
            int e2;
            frexpf(wmax, &e2);
            static float wn[N];
            for (int i = 0; i < N; i++) wn[i] = ldexpf(imp[i], -e2);
            QK_ASSERT_OK(qk_quantize_row(KTYPES[t], x, q, N, w));
            QK_ASSERT_OK(qk_dequantize_row(KTYPES[t], q, y, N));
            for (int b = 0; b < N / be; b++)
                ggml_block(KTYPES[t], x + b * be, g + (size_t)b * tr->block_bytes,
                           w ? wn + b * be : NULL);
            QK_ASSERT_OK(qk_dequantize_row(KTYPES[t], g, yg, N));
            double tot = 0, tot_g = 0;
            for (int b = 0; b < N / be; b++) {
                const double e = weighted_sse(x + b * be, y + b * be, w ? w + b * be : NULL, be);
                const double eg = weighted_sse(x + b * be, yg + b * be, w ? w + b * be : NULL, be);
                if (e > eg * (1 + 1e-12))
                    fail_msg("%s%s block %d: error %.9g, ggml's %.9g", tr->name,
                             w ? " (importance)" : "", b, e, eg);
                tot += e, tot_g += eg;
            }
            print_message("%-7s %s: squared error %.6g, ggml's %.6g (ratio %.4f)\n", tr->name,
                          w ? "importance" : "plain     ", tot, tot_g, tot / tot_g);
            assert_true(tot < tot_g);
        }
    }
}

/* The common decoded form (used by the refinement) decodes exactly like the
** public dequantizers, bit for bit. */
static void test_kblock_matches_dequantizer(void **state) {
    (void)state;
    static const qk_ggml_kparams P4 = {8, 32, 0, 15, 0, 63, 63, NULL};
    static const qk_ggml_kparams P6 = {16, 16, -32, 31, -128, 127, -1, NULL};
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 8);
    for (int trial = 0; trial < 50; trial++) {
        qk_ggml_kblock k;
        memset(&k, 0, sizeof k);
        k.d = (uint16_t)(0x2000 + qk_test_rng_u64(&rng) % 0x2000);
        k.dmin = (uint16_t)(0x2000 + qk_test_rng_u64(&rng) % 0x2000);
        for (int j = 0; j < 16; j++) {
            k.s[j] = (int16_t)(qk_test_rng_u64(&rng) % 64);
            k.m[j] = (int16_t)(qk_test_rng_u64(&rng) % 64);
        }
        for (int i = 0; i < 256; i++) k.L[i] = (int8_t)(qk_test_rng_u64(&rng) % 16);
        /* as a Q4_K block */
        qk_block_q4_k b;
        b.d = k.d, b.dmin = k.dmin;
        uint8_t ls[8], lm[8];
        for (int j = 0; j < 8; j++) ls[j] = (uint8_t)k.s[j], lm[j] = (uint8_t)k.m[j];
        for (int j = 0; j < 4; j++) {
            b.scales[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
            b.scales[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
            b.scales[j + 8] = (uint8_t)((ls[j + 4] & 15) | ((lm[j + 4] & 15) << 4));
        }
        for (int i = 0; i < 128; i++)
            b.qs[i] =
                (uint8_t)(k.L[64 * (i / 32) + i % 32] | (k.L[64 * (i / 32) + 32 + i % 32] << 4));
        float y1[256], y2[256];
        QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q4_K, &b, y1, 256));
        qk_ggml_kblock_decode(&P4, &k, y2);
        for (int i = 0; i < 256; i++) QK_ASSERT_F32_BITS_EQ(y1[i], y2[i]);
        /* as a Q6_K block (signed scales and quants) */
        qk_block_q6_k c;
        memset(&c, 0, sizeof c);
        c.d = k.d;
        for (int j = 0; j < 16; j++) c.scales[j] = (int8_t)(k.s[j] * 4 - 128), k.s[j] = c.scales[j];
        for (int i = 0; i < 256; i++) {
            const int q = (int)(qk_test_rng_u64(&rng) % 64);
            k.L[i] = (int8_t)(q - 32);
            const int h = i / 128, kk = (i % 128) / 32, l = i % 32;
            c.ql[64 * h + l + 32 * (kk & 1)] |= (uint8_t)((q & 15) << (kk < 2 ? 0 : 4));
            c.qh[32 * h + l] |= (uint8_t)((q >> 4) << (2 * kk));
        }
        QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q6_K, &c, y1, 256));
        qk_ggml_kblock_decode(&P6, &k, y2);
        for (int i = 0; i < 256; i++) QK_ASSERT_F32_BITS_EQ(y1[i], y2[i]);
    }
}

/* Zero blocks, tiny blocks and a lone outlier: finite, and zeros stay 0. */
static void test_zero_tiny_outlier(void **state) {
    (void)state;
    static float x[512], y[512];
    static unsigned char q[1024];
    for (int t = 0; t < NKTYPES; t++) {
        memset(x, 0, sizeof x);
        QK_ASSERT_OK(qk_quantize_row(KTYPES[t], x, q, 512, NULL));
        QK_ASSERT_OK(qk_dequantize_row(KTYPES[t], q, y, 512));
        for (int i = 0; i < 512; i++)
            if (y[i] != 0.0f) fail_msg("%s zeros: y[%d] = %g", qk_type_name(KTYPES[t]), i, y[i]);
        for (int i = 0; i < 512; i++) x[i] = (i % 3 - 1) * 1e-30f; /* below every f16 scale */
        x[300] = 1e-12f;
        QK_ASSERT_OK(qk_quantize_row(KTYPES[t], x, q, 512, NULL));
        QK_ASSERT_OK(qk_dequantize_row(KTYPES[t], q, y, 512));
        for (int i = 0; i < 512; i++) assert_true(isfinite(y[i]) && fabsf(y[i]) < 1e-6f);
        memset(x, 0, sizeof x);
        x[7] = 3.0f; /* one outlier among zeros: decoded close to itself */
        QK_ASSERT_OK(qk_quantize_row(KTYPES[t], x, q, 512, NULL));
        QK_ASSERT_OK(qk_dequantize_row(KTYPES[t], q, y, 512));
        QK_ASSERT_NEAR_REL(y[7], 3.0f, 0.02);
        for (int i = 0; i < 512; i++)
            if (i != 7 && fabsf(y[i]) > 0.5f)
                fail_msg("%s outlier: y[%d] = %g", qk_type_name(KTYPES[t]), i, y[i]);
    }
}

static void test_errors_and_importance(void **state) {
    (void)state;
    enum { R = 16, C = 512 };
    static float x[R * C], y[R * C], zeros[C], huge[C], imp[C];
    static unsigned char a[R * C], b[R * C];
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 4);
    qk_test_fill_normal(&rng, x, R * C, 0.05f);
    for (int c = 0; c < C; c++) {
        const float s = qk_test_rng_normal(&rng);
        imp[c] = s * s * (c % 5 == 0 ? 40.0f : 1.0f);
        zeros[c] = 0.0f;
        huge[c] = 3e38f * (0.5f + 0.5f * (float)(c % 3));
        if (huge[c] > 3.4e38f) huge[c] = 3.4e38f;
    }
    for (int t = 0; t < NKTYPES; t++) {
        const qk_type ty = KTYPES[t];
        const int be = qk_type_get_traits(ty)->block_elems;
        QK_ASSERT_STATUS(qk_quantize_row(ty, x, a, be + 16, NULL), QK_ERR_SHAPE);
        QK_ASSERT_STATUS(qk_dequantize_row(ty, a, y, be / 2), QK_ERR_SHAPE);
        assert_true(qk_type_uses_importance(ty));
        size_t rb;
        QK_ASSERT_OK(qk_type_row_bytes(ty, C, &rb));
        /* all-zero importance: as if none were given */
        QK_ASSERT_OK(qk_quantize_rows(ty, x, a, R, C, NULL));
        QK_ASSERT_OK(qk_quantize_rows(ty, x, b, R, C, zeros));
        assert_memory_equal(a, b, rb * R);
        /* huge weights do not overflow */
        QK_ASSERT_OK(qk_quantize_rows(ty, x, b, R, C, huge));
        QK_ASSERT_OK(qk_dequantize_row(ty, b, y, R * C));
        for (int i = 0; i < R * C; i++) assert_true(fabsf(y[i] - x[i]) < 0.5f);
        /* importance lowers the importance-weighted error */
        double e_plain = 0, e_imp = 0;
        QK_ASSERT_OK(qk_dequantize_row(ty, a, y, R * C));
        for (int i = 0; i < R * C; i++) e_plain += imp[i % C] * pow(x[i] - y[i], 2);
        QK_ASSERT_OK(qk_quantize_rows(ty, x, b, R, C, imp));
        QK_ASSERT_OK(qk_dequantize_row(ty, b, y, R * C));
        for (int i = 0; i < R * C; i++) e_imp += imp[i % C] * pow(x[i] - y[i], 2);
        print_message("%-7s importance-weighted error %.5g without, %.5g with importance\n",
                      qk_type_name(ty), e_plain, e_imp);
        assert_true(e_imp < e_plain);
        /* rows in parallel equal the row-by-row result */
        for (int r = 0; r < R; r++)
            QK_ASSERT_OK(qk_quantize_row(ty, x + r * C, a + r * rb, C, imp));
        assert_memory_equal(a, b, rb * R);
    }
    /* a super-block whose scale needs more than f16 */
    float big[256];
    for (int i = 0; i < 256; i++) big[i] = (float)(i % 17) * 1e8f;
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_Q4_K, big, a, 256, NULL), QK_ERR_NUMERIC);
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_Q6_K, big, a, 256, NULL), QK_ERR_NUMERIC);
    big[3] = NAN;
    QK_ASSERT_STATUS(qk_quantize_row(QK_TYPE_Q2_K, big, a, 256, NULL), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "element 3"));
    assert_false(qk_type_uses_importance(QK_TYPE_Q8_K));
}

/* Bits per weight of the block types (exact, from the block sizes). */
static void test_bits_per_weight(void **state) {
    (void)state;
    assert_true(qk_type_bits_per_weight(QK_TYPE_Q2_K) == 2.625);
    assert_true(qk_type_bits_per_weight(QK_TYPE_Q3_K) == 3.4375);
    assert_true(qk_type_bits_per_weight(QK_TYPE_Q4_K) == 4.5);
    assert_true(qk_type_bits_per_weight(QK_TYPE_Q5_K) == 5.5);
    assert_true(qk_type_bits_per_weight(QK_TYPE_Q6_K) == 6.5625);
    assert_true(qk_type_bits_per_weight(QK_TYPE_IQ4_NL) == 4.5);
    assert_int_equal(sizeof(qk_block_q8_k), 292);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_k_hand),
        cmocka_unit_test(test_q5_k_hand),
        cmocka_unit_test(test_q6_k_hand),
        cmocka_unit_test(test_q2_k_hand),
        cmocka_unit_test(test_q3_k_hand),
        cmocka_unit_test(test_iq4_nl_and_q8_k_hand),
        cmocka_unit_test(test_q8_k_quantize_hand),
        cmocka_unit_test(test_never_worse_than_ggml),
        cmocka_unit_test(test_kblock_matches_dequantizer),
        cmocka_unit_test(test_zero_tiny_outlier),
        cmocka_unit_test(test_errors_and_importance),
        cmocka_unit_test(test_bits_per_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
