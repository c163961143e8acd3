/*
** The fast K-quant quantizers (kquant.h): every instruction-set variant
** writes the reference's bytes on random and adversarial data; the error
** is at most that of ggml's own block quantizer (QK_KQUANT_GGML) on N(0,1),
** adversarial data and the fixture model's weights; the blocks decode sensibly (all-zero input
*gives an all-zero
** block, constants are reproduced, outliers are not clipped away); the
** checked row entry point uses the fast path by default, the search on
** request, and is independent of the thread count.
*/
#include "qk_test.h"

#include "kernels/kquant.h"

static const qk_type KT[] = {QK_TYPE_Q2_K, QK_TYPE_Q3_K, QK_TYPE_Q4_K, QK_TYPE_Q5_K, QK_TYPE_Q6_K};
#define N_KT (sizeof KT / sizeof KT[0])
#define N_CASES 10

static void fill_case(int c, float *x, int64_t n, uint64_t seed) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed * 31 + (uint64_t)c);
    for (int64_t i = 0; i < n; i++) {
        const float g = qk_test_rng_normal(&rng);
        const int64_t b = i / 256, j = i % 256;
        switch (c) {
        case 0:
            x[i] = g;
            break;
        case 1:
            x[i] = 0.0f;
            break;
        case 2:
            x[i] = 0.75f;
            break; /* constant */
        case 3:
            x[i] = j == (b * 53) % 256 ? (b & 1 ? -40.0f : 60.0f) : g;
            break; /* outlier */
        case 4:
            x[i] = g * 1e-39f;
            break; /* subnormal */
        case 5:
            x[i] = g * powf(10.0f, (float)((i / 16) % 7) - 3.0f);
            break;
        case 6:
            x[i] = fabsf(g) + 2.0f;
            break; /* all positive */
        case 7:
            x[i] = -fabsf(g) - 1.0f;
            break; /* all negative */
        case 8:
            x[i] = (float)(j % 9) - 4.0f;
            break; /* on a grid */
        default:
            x[i] = j < 16 ? 0.0f : g * 1e3f;
            break; /* a zero sub-block */
        }
    }
}

static double rmse(qk_type type, const float *x, const void *q, int64_t n) {
    float *y = malloc((size_t)n * sizeof *y);
    QK_ASSERT_OK(qk_dequantize_row(type, q, y, n));
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    free(y);
    return sqrt(s / (double)n);
}

static void test_variants_bit_exact(void **state) {
    (void)state;
    const int64_t lengths[] = {256, 512, 2816};
    float *x = malloc(2816 * sizeof *x);
    unsigned char *want = malloc(2816), *got = malloc(2816);
    for (size_t t = 0; t < N_KT; t++) {
        const qk_kernel_ops *ref = qk_kernels_get(KT[t], QK_ISA_REF);
        assert_non_null(ref->quantize_row);
        for (int c = 0; c < N_CASES; c++) {
            for (size_t l = 0; l < 3; l++) {
                const int64_t n = lengths[l];
                fill_case(c, x, n, l);
                size_t nb;
                QK_ASSERT_OK(qk_type_row_bytes(KT[t], n, &nb));
                ref->quantize_row(x, want, n);
                for (int isa = QK_ISA_AVX2; isa <= QK_ISA_AVX512; isa++) {
                    const qk_kernel_ops *ops = qk_kernels_get(KT[t], (qk_isa)isa);
                    if (!ops) {
                        print_message("note: no %s kernels on this CPU; skipped\n",
                                      qk_isa_name((qk_isa)isa));
                        continue;
                    }
                    memset(got, 0x3C, nb);
                    ops->quantize_row(x, got, n);
                    for (size_t i = 0; i < nb; i++)
                        if (got[i] != want[i])
                            fail_msg("%s %s case %d n %lld: byte %zu is 0x%02x, reference 0x%02x",
                                     qk_type_name(KT[t]), qk_isa_name((qk_isa)isa), c, (long long)n,
                                     i, got[i], want[i]);
                }
            }
        }
    }
    free(x), free(want), free(got);
}

/* RMSE of `type` quantized by `method` (one row of n). */
static double rmse_by(qk_type type, const float *x, int64_t n, qk_kquant_method method) {
    unsigned char *q = malloc((size_t)n);
    QK_ASSERT_OK(qk_kernels_quantize_rows(type, x, q, 1, n, NULL, method));
    const double r = rmse(type, x, q, n);
    free(q);
    return r;
}

/* The bar: the fast algorithm's RMSE is at most that of ggml's own
** block quantizer (llama.cpp's quantize_row_*_ref), on data set `what`. */
static void assert_not_worse_than_ggml(const char *what, const float *x, int64_t n, bool check) {
    for (size_t t = 0; t < N_KT; t++) {
        const double r_fast = rmse_by(KT[t], x, n, QK_KQUANT_FAST);
        const double r_ggml = rmse_by(KT[t], x, n, QK_KQUANT_GGML);
        print_message("%s %s: rmse fast %.7g, ggml %.7g, ratio %.4f\n", what, qk_type_name(KT[t]),
                      r_fast, r_ggml, r_fast / r_ggml);
        if (check && !(r_fast <= r_ggml))
            fail_msg("%s %s: fast rmse %.7g above ggml's %.7g", what, qk_type_name(KT[t]), r_fast,
                     r_ggml);
    }
}

/* N(0,1), 64 super-blocks; and an adversarial mix: the cases with a scale
** spread (outliers, magnitudes 1e-3..1e3 by sub-block, one-signed, a grid,
** zero sub-blocks), 16 super-blocks each, each scaled to unit RMS so that
** none dominates. Each case on its own is printed (not asserted: ggml's
** quantizer is ahead on a few, README). */
static void test_error_vs_ggml(void **state) {
    (void)state;
    enum { N = 256 * 64, NA = 256 * 16 };
    static const int adversarial[] = {3, 5, 6, 7, 8, 9};
    enum { NC = sizeof adversarial / sizeof adversarial[0] };
    float *x = malloc(N * sizeof *x), *mix = malloc(NC * NA * sizeof *mix);
    fill_case(0, x, N, 42);
    assert_not_worse_than_ggml("N(0,1)", x, N, true);
    for (int c = 0; c < NC; c++) {
        char what[32];
        snprintf(what, sizeof what, "case %d", adversarial[c]);
        float *y = mix + c * NA;
        fill_case(adversarial[c], y, NA, 7);
        double ss = 0.0;
        for (int i = 0; i < NA; i++) ss += (double)y[i] * y[i];
        const float inv = (float)(1.0 / sqrt(ss / NA));
        for (int i = 0; i < NA; i++) y[i] *= inv;
        assert_not_worse_than_ggml(what, y, NA, false);
    }
    assert_not_worse_than_ggml("adversarial mix", mix, NC * NA, true);
    free(x), free(mix);
}

/* The fixture model's linear weights of layers 0 and 1 (bf16 -> f32). */
static void test_error_vs_ggml_fixture(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_safetensors *st;
    QK_ASSERT_OK(
        qk_safetensors_open(qk_test_fixture("models/fixture-llama-7m/model.safetensors"), &st));
    static const char *const names[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                        "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                        "mlp.down_proj"};
    float *x = NULL;
    int64_t n = 0;
    for (int layer = 0; layer < 2; layer++)
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            char name[96];
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", layer, names[k]);
            const int64_t i = qk_safetensors_find_tensor(st, name);
            assert_true(i >= 0);
            qk_io_tensor info;
            QK_ASSERT_OK(qk_safetensors_tensor_info(st, (size_t)i, &info));
            const int64_t m = qk_io_tensor_numel(&info);
            x = realloc(x, (size_t)(n + m) * sizeof *x);
            QK_ASSERT_OK(qk_convert(info.type, info.data, QK_TYPE_F32, x + n, (size_t)m));
            n += m;
        }
    qk_safetensors_close(st);
    assert_int_equal(n % 256, 0);
    assert_not_worse_than_ggml("fixture", x, n, true);
    free(x);
}

/* Blocks that must decode exactly or nearly: zeros to zeros, a constant
** block to values within a quant step, the outlier kept. */
static void test_decoded_properties(void **state) {
    (void)state;
    float x[512], y[512];
    unsigned char q[512];
    for (size_t t = 0; t < N_KT; t++) {
        const qk_kernel_ops *ops = qk_kernels_get(KT[t], qk_isa_get());
        fill_case(1, x, 512, 0);
        ops->quantize_row(x, q, 512);
        QK_ASSERT_OK(qk_dequantize_row(KT[t], q, y, 512));
        for (int i = 0; i < 512; i++) QK_ASSERT_F32_BITS_EQ(fabsf(y[i]), 0.0f);
        /* 0.75 everywhere: the asymmetric formats store it as a min or scale;
        ** every format gets within 1% */
        fill_case(2, x, 512, 0);
        ops->quantize_row(x, q, 512);
        QK_ASSERT_OK(qk_dequantize_row(KT[t], q, y, 512));
        for (int i = 0; i < 512; i++) QK_ASSERT_NEAR_ABS(y[i], 0.75, 0.0075);
        /* one outlier of 60 or -40 per block among N(0,1): kept within 10% */
        fill_case(3, x, 512, 0);
        ops->quantize_row(x, q, 512);
        QK_ASSERT_OK(qk_dequantize_row(KT[t], q, y, 512));
        for (int i = 0; i < 512; i++)
            if (fabsf(x[i]) > 30.0f) QK_ASSERT_NEAR_ABS(y[i], x[i], 0.1 * fabsf(x[i]));
    }
}

static void test_checked_rows(void **state) {
    (void)state;
    enum { R = 5, C = 768 };
    float *x = malloc(R * C * sizeof *x);
    unsigned char *a = malloc(R * C), *b = malloc(R * C), *s = malloc(R * C);
    fill_case(5, x, R * C, 9);
    for (size_t t = 0; t < N_KT; t++) {
        size_t rb;
        QK_ASSERT_OK(qk_type_row_bytes(KT[t], C, &rb));
        const qk_kernel_ops *ref = qk_kernels_get(KT[t], QK_ISA_REF);
        for (int r = 0; r < R; r++) ref->quantize_row(x + r * C, a + r * rb, C);
        for (int th = 1; th <= 4; th++) {
            qk_threads_set(th);
            QK_ASSERT_OK(qk_kernels_quantize_rows(KT[t], x, b, R, C, NULL, QK_KQUANT_FAST));
            assert_memory_equal(a, b, R * rb);
        }
        qk_threads_set(0);
        /* the search on request: qk_quantize_rows's bytes */
        QK_ASSERT_OK(qk_quantize_rows(KT[t], x, s, R, C, NULL));
        QK_ASSERT_OK(qk_kernels_quantize_rows(KT[t], x, b, R, C, NULL, QK_KQUANT_SEARCH));
        assert_memory_equal(s, b, R * rb);
    }
    x[3 * C + 100] = INFINITY;
    QK_ASSERT_STATUS(qk_kernels_quantize_rows(QK_TYPE_Q4_K, x, b, R, C, NULL, QK_KQUANT_FAST),
                     QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "row 3, column 100"));
    x[3 * C + 100] = 1e9f; /* scales beyond the f16 range */
    QK_ASSERT_STATUS(qk_kernels_quantize_rows(QK_TYPE_Q6_K, x, b, R, C, NULL, QK_KQUANT_FAST),
                     QK_ERR_NUMERIC);
    free(x), free(a), free(b), free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variants_bit_exact),    cmocka_unit_test(test_error_vs_ggml),
        cmocka_unit_test(test_error_vs_ggml_fixture), cmocka_unit_test(test_decoded_properties),
        cmocka_unit_test(test_checked_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
