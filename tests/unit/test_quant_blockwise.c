/*
** bitsandbytes-style blockwise quantization: hand-computed blocks for NF4,
** FP4 and E2M1 (codes, nibble order, padding), properties over many seeds
** (codes equal a brute-force nearest search, dequantization bounds with and
** without double quantization), the 8-bit dynamic-map quantizer, exact
** storage figures, and adversarial inputs.
*/
#include "qk_test.h"

#include <float.h>

static void test_hand_nf4_blocks(void **state) {
    (void)state;
    /* n = 69, block 64: block 0 = [-2, 1, 0, 0.0795803, 0.1 x 60],
    ** block 1 = five zeros. absmax 2 and 0.
    **   -2/2 = -1 -> code 0; 0.5 lies below the midpoint of 0.4407 and 0.5626
    **   (0.5017) -> code 12; 0 -> 7; 0.0795803/2 is exactly halfway between
    **   0 and 0.0795803 -> the lower value, code 7; 0.05 -> code 8.
    **   An all-zero block gets code 7 everywhere; the odd count pads the last
    **   low nibble with 0. */
    float x[69];
    x[0] = -2.0f;
    x[1] = 1.0f;
    x[2] = 0.0f;
    x[3] = 0.07958029955625534f;
    for (int i = 4; i < 64; i++) x[i] = 0.1f;
    for (int i = 64; i < 69; i++) x[i] = 0.0f;
    qk_blockwise_config cfg = {QK_CODEBOOK_NF4, 0, false};
    qk_blockwise_tensor q;
    QK_ASSERT_OK(qk_blockwise_quantize(x, 69, &cfg, &q));
    assert_int_equal(q.config.block_size, 64);
    assert_int_equal(q.n_blocks, 2);
    QK_ASSERT_F32_BITS_EQ(q.absmax[0], 2.0f);
    QK_ASSERT_F32_BITS_EQ(q.absmax[1], 0.0f);
    assert_int_equal(q.packed[0], 0x0C); /* first element in the high nibble */
    assert_int_equal(q.packed[1], 0x77);
    for (int k = 2; k < 32; k++) assert_int_equal(q.packed[k], 0x88);
    for (int k = 32; k < 34; k++) assert_int_equal(q.packed[k], 0x77);
    assert_int_equal(q.packed[34], 0x70); /* element 68 then padding */
    for (int i = 0; i < 69; i++)
        assert_int_equal(qk_blockwise_code(&q, (size_t)i), i == 0             ? 0
                                                           : i == 1           ? 12
                                                           : i < 4 || i >= 64 ? 7
                                                                              : 8);
    float y[69];
    QK_ASSERT_OK(qk_blockwise_dequantize(&q, y, 69));
    QK_ASSERT_F32_BITS_EQ(y[0], -2.0f);
    QK_ASSERT_F32_BITS_EQ(y[1], 2 * 0.44070982933044434f);
    QK_ASSERT_F32_BITS_EQ(y[3], 0.0f);
    QK_ASSERT_F32_BITS_EQ(y[4], 2 * 0.07958029955625534f);
    for (int i = 64; i < 69; i++) QK_ASSERT_F32_BITS_EQ(y[i], 0.0f);
    qk_blockwise_tensor_free(&q);
    assert_null(q.packed);
    qk_blockwise_tensor_free(NULL);
}

static void test_hand_fp4_blocks(void **state) {
    (void)state;
    /* bnb FP4, block 32, absmax 3: 3 -> 1.0 code 3; -1 -> -1/3 = -fl(1/3),
    ** the value of code 4, with the sign: 12; 0.5 -> fl(1/6) = code 6;
    ** 0.8 -> 0.2667, nearer 0.25 (code 7) than 1/3; -0.0 -> 0 (no sign);
    ** -1e-6 -> magnitude 0 with the sign bit: 8. */
    float x[32] = {3.0f, -1.0f, 0.5f, 0.8f, -0.0f, -1e-6f};
    qk_blockwise_config cfg = {QK_CODEBOOK_FP4_BNB, 32, false};
    qk_blockwise_tensor q;
    QK_ASSERT_OK(qk_blockwise_quantize(x, 32, &cfg, &q));
    assert_int_equal(q.packed[0], 0x3C);
    assert_int_equal(q.packed[1], 0x67);
    assert_int_equal(q.packed[2], 0x08);
    for (int k = 3; k < 16; k++) assert_int_equal(q.packed[k], 0x00);
    float y[32];
    QK_ASSERT_OK(qk_blockwise_dequantize(&q, y, 32));
    QK_ASSERT_F32_BITS_EQ(y[0], 3.0f);
    QK_ASSERT_F32_BITS_EQ(y[1], -1.0f); /* fl(1/3) * 3 = 1.00000003 rounds to 1 */
    QK_ASSERT_F32_BITS_EQ(y[3], 0.75f);
    QK_ASSERT_F32_BITS_EQ(y[5], -0.0f);
    qk_blockwise_tensor_free(&q);

    /* E2M1, absmax 6: 6 -> code 7; 1.5 -> 0.25 = code 3; 2.5 -> 0.41666666
    ** below the midpoint of 1/3 and 1/2 (0.41666667) -> code 4 (2.0), as
    ** round-half-even of 2.5 on the E2M1 grid would give; -4 -> code 14.
    ** Dequantized: the E2M1 values exactly (fl(v/6) * 6 rounds back to v). */
    float e[32] = {6.0f, 1.5f, 2.5f, -4.0f, 0.5f, 3.0f, -6.0f};
    cfg.codebook = QK_CODEBOOK_FP4_E2M1;
    QK_ASSERT_OK(qk_blockwise_quantize(e, 32, &cfg, &q));
    assert_int_equal(q.packed[0], 0x73);
    assert_int_equal(q.packed[1], 0x4E);
    assert_int_equal(q.packed[2], 0x15);
    assert_int_equal(q.packed[3], 0xF0);
    QK_ASSERT_OK(qk_blockwise_dequantize(&q, y, 32));
    const float want[7] = {6.0f, 1.5f, 2.0f, -4.0f, 0.5f, 3.0f, -6.0f};
    for (int i = 0; i < 7; i++) QK_ASSERT_F32_BITS_EQ(y[i], want[i]);
    qk_blockwise_tensor_free(&q);
}

/* Every code of every codebook comes back exactly: a block whose absmax is
** the codebook's largest magnitude (1, or 6 for E2M1) holding each value. */
static void test_codes_decode_exactly(void **state) {
    (void)state;
    for (int cb = 0; cb < QK_CODEBOOK_COUNT; cb++) {
        const float *v = qk_codebook_values((qk_codebook)cb);
        const float amax = cb == QK_CODEBOOK_FP4_E2M1 ? 6.0f : 1.0f;
        float x[32] = {0}, y[32];
        for (int c = 0; c < 16; c++) x[c] = v[c];
        x[16] = amax;
        qk_blockwise_config cfg = {(qk_codebook)cb, 32, false};
        qk_blockwise_tensor q;
        QK_ASSERT_OK(qk_blockwise_quantize(x, 32, &cfg, &q));
        QK_ASSERT_OK(qk_blockwise_dequantize(&q, y, 32));
        for (int c = 0; c < 16; c++) {
            if (y[c] != v[c])
                fail_msg("%s code %d: %.9g back as %.9g", qk_codebook_name((qk_codebook)cb), c,
                         (double)v[c], (double)y[c]);
            const uint8_t got = qk_blockwise_code(&q, (size_t)c);
            assert_int_equal(got, (cb != QK_CODEBOOK_NF4 && c == 8) ? 0 : c);
        }
        qk_blockwise_tensor_free(&q);
    }
}

/* Brute-force nearest code of v = x / absmax with the documented ties. */
static uint8_t brute_code(qk_codebook cb, float v) {
    double best = INFINITY, best_mag = INFINITY;
    uint8_t code = 0;
    if (cb == QK_CODEBOOK_NF4) {
        for (int c = 0; c < 16; c++) {
            const double d = fabs((double)v - qk_codebook_decode_normalized(cb, (uint8_t)c));
            if (d < best) best = d, code = (uint8_t)c;
        }
        return code;
    }
    for (int c = 0; c < 8; c++) {
        const double m = qk_codebook_decode_normalized(cb, (uint8_t)c);
        const double d = fabs(fabs((double)v) - m);
        if (d < best || (d == best && m < best_mag)) best = d, best_mag = m, code = (uint8_t)c;
    }
    return (uint8_t)(code | (v < 0.0f ? 8 : 0));
}

/* Half the largest gap between neighbouring normalized values (the worst
** rounding error of an in-range value, in units of absmax). */
static double half_gap(qk_codebook cb) {
    double vals[16], g = 0;
    for (int c = 0; c < 16; c++) vals[c] = qk_codebook_decode_normalized(cb, (uint8_t)c);
    for (int a = 0; a < 16; a++) {
        double next = INFINITY;
        for (int b = 0; b < 16; b++)
            if (vals[b] > vals[a] && vals[b] < next) next = vals[b];
        if (next < INFINITY && next - vals[a] > g) g = next - vals[a];
    }
    return g / 2;
}

static void test_blockwise_properties(void **state) {
    (void)state;
    const int32_t sizes[6] = {32, 64, 128, 256, 1024, 4096};
    float map[256];
    QK_ASSERT_OK(qk_dynamic_map_create(true, 7, 8, map));
    enum { NMAX = 70000 };
    float *x = malloc(NMAX * sizeof *x), *y = malloc(NMAX * sizeof *y);
    for (uint64_t seed = 1; seed <= 60; seed++) {
        qk_test_rng rng;
        qk_test_rng_seed(&rng, seed);
        const qk_codebook cb = (qk_codebook)(seed % QK_CODEBOOK_COUNT);
        const int32_t bs = sizes[qk_test_rng_u64(&rng) % 6];
        const bool dq = seed % 2 == 0;
        const size_t n = 1 + (size_t)(qk_test_rng_u64(&rng) % (seed % 5 == 0 ? NMAX : 3000));
        for (size_t i = 0; i < n; i++) /* rows of different scales */
            x[i] = qk_test_rng_normal(&rng) * expf((float)(i / 500 % 5) - 2.0f);
        qk_blockwise_config cfg = {cb, bs, dq};
        qk_blockwise_tensor q;
        QK_ASSERT_OK(qk_blockwise_quantize(x, n, &cfg, &q));
        QK_ASSERT_OK(qk_blockwise_dequantize(&q, y, n));
        const double hg = half_gap(cb);
        float *amaxes = malloc(q.n_blocks * sizeof *amaxes);
        for (size_t b = 0; b < q.n_blocks; b++) {
            const size_t start = b * (size_t)bs,
                         len = n - start < (size_t)bs ? n - start : (size_t)bs;
            float amax = 0;
            for (size_t i = 0; i < len; i++) amax = fmaxf(amax, fabsf(x[start + i]));
            amaxes[b] = amax;
            const float used = qk_blockwise_block_absmax(&q, b);
            if (!dq) QK_ASSERT_F32_BITS_EQ(used, amax);
            double amax_err = 0;
            if (dq) {
                /* the dynamic map's largest gap is 0.9/64 (top decade) and from
                ** -1 to its lowest value 0.99297: half of it is 0.00703 */
                const double nested = q.nested_absmax[b / QK_BLOCKWISE_DQ_BLOCK];
                amax_err = fabs((double)used - amax);
                if (!(amax_err <= nested * 0.00704 + amax * 1e-6))
                    fail_msg("seed %llu block %zu: absmax %.9g reconstructed %.9g (nested %.9g)",
                             (unsigned long long)seed, b, (double)amax, (double)used, nested);
            }
            for (size_t i = 0; i < len; i++) {
                const size_t e = start + i;
                const uint8_t want = amax > 0 ? brute_code(cb, x[e] / amax) : brute_code(cb, 0.0f);
                const uint8_t got = qk_blockwise_code(&q, e);
                if (got != want)
                    fail_msg("seed %llu (%s, block %d, dq %d): element %zu (%.9g, absmax %.9g) "
                             "code %u, brute force %u",
                             (unsigned long long)seed, qk_codebook_name(cb), (int)bs, (int)dq, e,
                             (double)x[e], (double)amax, got, want);
                QK_ASSERT_F32_BITS_EQ(y[e], qk_codebook_decode_normalized(cb, got) * used);
                /* |x - y| <= absmax * half gap + |absmax' - absmax| (+ float slack) */
                const double err = fabs((double)x[e] - y[e]);
                if (!(err <= amax * hg + amax_err + amax * 1e-6))
                    fail_msg("seed %llu: element %zu error %.3g > bound %.3g",
                             (unsigned long long)seed, e, err, amax * hg + amax_err);
            }
        }
        if (dq) {
            /* double quantization as QLoRA defines it: offset = mean(absmax);
            ** per 256 blocks nested = max |absmax - offset|; each block's code is
            ** the dynamic-map entry nearest (absmax - offset) / nested */
            double sum = 0;
            for (size_t b = 0; b < q.n_blocks; b++) sum += amaxes[b];
            QK_ASSERT_F32_BITS_EQ(q.offset, (float)(sum / (double)q.n_blocks));
            for (size_t j = 0; j * QK_BLOCKWISE_DQ_BLOCK < q.n_blocks; j++) {
                float nested = 0;
                for (size_t b = j * QK_BLOCKWISE_DQ_BLOCK;
                     b < (j + 1) * QK_BLOCKWISE_DQ_BLOCK && b < q.n_blocks; b++)
                    nested = fmaxf(nested, fabsf(amaxes[b] - q.offset));
                QK_ASSERT_F32_BITS_EQ(q.nested_absmax[j], nested);
                for (size_t b = j * QK_BLOCKWISE_DQ_BLOCK;
                     b < (j + 1) * QK_BLOCKWISE_DQ_BLOCK && b < q.n_blocks; b++) {
                    const float r = nested > 0 ? (amaxes[b] - q.offset) / nested : 0.0f;
                    int best = 0;
                    for (int c = 1; c < 256; c++)
                        if (fabs((double)r - map[c]) < fabs((double)r - map[best])) best = c;
                    assert_int_equal(q.absmax_codes[b], best);
                }
            }
        }
        free(amaxes);
        qk_blockwise_tensor_free(&q);
    }
    free(x);
    free(y);
}

static void test_blockwise8(void **state) {
    (void)state;
    float map[256];
    QK_ASSERT_OK(qk_dynamic_map_create(true, 7, 8, map));
    enum { N = 5000, B = 256 };
    float x[N], y[N], absmax[N / B + 1];
    uint8_t codes[N];
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 8);
    qk_test_fill_normal(&rng, x, N, 1.0f);
    for (int i = 256; i < 512; i++) x[i] = 0.0f; /* an all-zero block */
    QK_ASSERT_OK(qk_blockwise8_quantize(x, N, B, map, codes, absmax));
    QK_ASSERT_OK(qk_blockwise8_dequantize(codes, absmax, N, B, map, y));
    for (int i = 0; i < N; i++) {
        const int b = i / B;
        float amax = 0;
        for (int k = b * B; k < (b + 1) * B && k < N; k++) amax = fmaxf(amax, fabsf(x[k]));
        QK_ASSERT_F32_BITS_EQ(absmax[b], amax);
        int best = 127;
        if (amax > 0) {
            const float v = x[i] / amax;
            best = 0;
            for (int c = 1; c < 256; c++)
                if (fabs((double)v - map[c]) < fabs((double)v - map[best])) best = c;
        }
        assert_int_equal(codes[i], best);
        QK_ASSERT_F32_BITS_EQ(y[i], map[best] * amax);
    }
    for (int i = 256; i < 512; i++) assert_int_equal(codes[i], 127);
    QK_ASSERT_STATUS(qk_blockwise8_quantize(x, N, 0, map, codes, absmax), QK_ERR_INVALID_ARG);
    x[4321] = NAN;
    QK_ASSERT_STATUS(qk_blockwise8_quantize(x, N, B, map, codes, absmax), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "element 4321 "));
}

static void test_storage_bits(void **state) {
    (void)state;
    /* NF4 block 64 with double quantization: per 64 * 256 weights,
    ** 64 * 256 * 4 code bits + 256 * 8 absmax-code bits + 32 nested bits:
    ** 4 + 8/64 + 32/(64*256) = 4.126953125 bits per weight, exactly */
    const size_t n = (size_t)64 * 256 * 8;
    qk_blockwise_config cfg = {QK_CODEBOOK_NF4, 64, true};
    uint64_t bits;
    QK_ASSERT_OK(qk_blockwise_storage_bits(&cfg, n, &bits));
    assert_true(bits == (uint64_t)n * 4 + (n / 64) * 8 + (n / (64 * 256)) * 32);
    double bpw;
    QK_ASSERT_OK(qk_blockwise_bits_per_weight(&cfg, n, &bpw));
    assert_true(bpw == 4.0 + 8.0 / 64.0 + 32.0 / (64.0 * 256.0));
    assert_true(bpw == 4.126953125);
    assert_true(fabs(bpw - 4.127) < 5e-5); /* QLoRA's figure to its precision */
    /* without double quantization: f32 absmax per 64: 4.5 */
    cfg.double_quant = false;
    QK_ASSERT_OK(qk_blockwise_bits_per_weight(&cfg, n, &bpw));
    assert_true(bpw == 4.5);
    /* FP4 block 128 without DQ: 4.25 */
    qk_blockwise_config fp4 = {QK_CODEBOOK_FP4_BNB, 128, false};
    QK_ASSERT_OK(qk_blockwise_bits_per_weight(&fp4, n, &bpw));
    assert_true(bpw == 4.25);
    /* partial blocks and odd counts: n = 101, block 64: 51 code bytes (408
    ** bits) + 2 absmax (64) = 472; with DQ 2 codes (16) + 1 nested (32) = 456 */
    cfg.double_quant = false;
    QK_ASSERT_OK(qk_blockwise_storage_bits(&cfg, 101, &bits));
    assert_int_equal(bits, 472);
    cfg.double_quant = true;
    QK_ASSERT_OK(qk_blockwise_storage_bits(&cfg, 101, &bits));
    assert_int_equal(bits, 456);
    QK_ASSERT_STATUS(qk_blockwise_bits_per_weight(&cfg, 0, &bpw), QK_ERR_SHAPE);
    /* block sizes: powers of two 32..4096 */
    const int32_t bad[5] = {16, 48, 8192, -64, 100};
    for (int k = 0; k < 5; k++) {
        cfg.block_size = bad[k];
        QK_ASSERT_STATUS(qk_blockwise_storage_bits(&cfg, 64, &bits), QK_ERR_INVALID_ARG);
    }
}

static void test_adversarial(void **state) {
    (void)state;
    enum { N = 1000 };
    float x[N], y[N];
    qk_blockwise_tensor q;
    for (int dq = 0; dq < 2; dq++) {
        qk_blockwise_config cfg = {QK_CODEBOOK_NF4, 64, dq != 0};
        /* non-finite: error naming the index */
        const float bad[3] = {NAN, INFINITY, -INFINITY};
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < N; i++) x[i] = 0.5f;
            x[333 + k] = bad[k];
            QK_ASSERT_STATUS(qk_blockwise_quantize(x, N, &cfg, &q), QK_ERR_NONFINITE);
            char want[32];
            snprintf(want, sizeof want, "element %d ", 333 + k);
            assert_non_null(strstr(qk_last_error(), want));
            assert_null(q.packed);
        }
        /* empty */
        QK_ASSERT_OK(qk_blockwise_quantize(NULL, 0, &cfg, &q));
        assert_int_equal(q.n_blocks, 0);
        QK_ASSERT_OK(qk_blockwise_dequantize(&q, NULL, 0));
        qk_blockwise_tensor_free(&q);
        /* all zeros: exact zeros back */
        memset(x, 0, sizeof x);
        QK_ASSERT_OK(qk_blockwise_quantize(x, N, &cfg, &q));
        QK_ASSERT_OK(qk_blockwise_dequantize(&q, y, N));
        for (int i = 0; i < N; i++) QK_ASSERT_F32_BITS_EQ(y[i], 0.0f);
        qk_blockwise_tensor_free(&q);
        /* constant: every block's absmax is the constant, code 15 (1.0);
        ** with DQ every residual is 0, so the absmax comes back exactly */
        for (int i = 0; i < N; i++) x[i] = -2.5f;
        QK_ASSERT_OK(qk_blockwise_quantize(x, N, &cfg, &q));
        QK_ASSERT_OK(qk_blockwise_dequantize(&q, y, N));
        for (int i = 0; i < N; i++) QK_ASSERT_F32_BITS_EQ(y[i], -2.5f);
        qk_blockwise_tensor_free(&q);
        /* denormals: absmax 1e-40 is fine (no reciprocal is formed) */
        for (int i = 0; i < N; i++) x[i] = (i % 3 - 1) * 1e-40f;
        QK_ASSERT_OK(qk_blockwise_quantize(x, N, &cfg, &q));
        QK_ASSERT_OK(qk_blockwise_dequantize(&q, y, N));
        for (int i = 0; i < N; i++) assert_true(fabsf(y[i] - x[i]) <= 1e-40f * 0.2f);
        qk_blockwise_tensor_free(&q);
        /* FLT_MAX, then 1e30, among N(0,1). Without DQ the outlier comes back
        ** exactly (code 1.0 times its absmax) and the other blocks keep their
        ** own bound; with DQ the reconstructed absmax of the outlier's block is
        ** within the dynamic map's half gap (0.00703) of the nested absmax,
        ** clamped to FLT_MAX, and every block keeps the bound through its
        ** reconstructed absmax. Everything stays finite. */
        const float outliers[2] = {FLT_MAX, 1e30f};
        const double hg = half_gap(QK_CODEBOOK_NF4);
        for (int k = 0; k < 2; k++) {
            qk_test_rng rng;
            qk_test_rng_seed(&rng, 77);
            qk_test_fill_normal(&rng, x, N, 1.0f);
            x[500] = outliers[k];
            QK_ASSERT_OK(qk_blockwise_quantize(x, N, &cfg, &q));
            QK_ASSERT_OK(qk_blockwise_dequantize(&q, y, N));
            if (!dq)
                QK_ASSERT_F32_BITS_EQ(y[500], outliers[k]);
            else
                assert_true(fabs((double)y[500] - outliers[k]) <= outliers[k] * 0.00704);
            for (int i = 0; i < N; i++) {
                assert_true(isfinite(y[i]));
                float amax = 0;
                for (int j = i / 64 * 64; j < (i / 64 + 1) * 64 && j < N; j++)
                    amax = fmaxf(amax, fabsf(x[j]));
                const double used = qk_blockwise_block_absmax(&q, (size_t)i / 64);
                if (!dq) QK_ASSERT_F32_BITS_EQ((float)used, amax);
                const double b = amax * hg + fabs(used - amax) + amax * 1e-6;
                if (!(fabs((double)y[i] - x[i]) <= b))
                    fail_msg("outlier %g dq %d: element %d: %g -> %g (bound %g)",
                             (double)outliers[k], dq, i, (double)x[i], (double)y[i], b);
            }
            qk_blockwise_tensor_free(&q);
        }
    }
    qk_blockwise_config cfg = {QK_CODEBOOK_COUNT, 64, false};
    QK_ASSERT_STATUS(qk_blockwise_quantize(x, N, &cfg, &q), QK_ERR_INVALID_ARG);
    /* an unknown codebook or block size is refused by both directions, even
    ** for an empty tensor (dequantize used to accept it when n == 0, and the
    ** quantizer then refused the empty values it had decoded) */
    for (int k = 0; k < 2; k++) {
        memset(&q, 0, sizeof q);
        q.config.codebook = k == 0 ? QK_CODEBOOK_COUNT : QK_CODEBOOK_NF4;
        q.config.block_size = k == 0 ? 64 : 48;
        QK_ASSERT_STATUS(qk_blockwise_dequantize(&q, NULL, 0), QK_ERR_INVALID_ARG);
        assert_non_null(strstr(qk_last_error(), k == 0 ? "unknown codebook" : "block size 48"));
        const qk_blockwise_config bad_cfg = q.config;
        QK_ASSERT_STATUS(qk_blockwise_quantize(NULL, 0, &bad_cfg, &q), QK_ERR_INVALID_ARG);
    }
    /* a zeroed tensor (NF4, default block size) is a valid empty one */
    memset(&q, 0, sizeof q);
    QK_ASSERT_OK(qk_blockwise_dequantize(&q, NULL, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_nf4_blocks),      cmocka_unit_test(test_hand_fp4_blocks),
        cmocka_unit_test(test_codes_decode_exactly), cmocka_unit_test(test_blockwise_properties),
        cmocka_unit_test(test_blockwise8),           cmocka_unit_test(test_storage_bits),
        cmocka_unit_test(test_adversarial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
