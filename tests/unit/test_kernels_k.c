/*
** Kernels of the K formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K with Q8_K
** activations): every instruction-set variant this CPU has against the
** reference on random block bytes (every bit pattern of quants and scales,
** f16 scales including Inf/NaN for dequantization), quantized Gaussian and
** outlier weights, and activations with zeros, constants, outliers,
** subnormals and per-block scales over decades.
**   dequantize_row, quantize_act: bit for bit (NaN: both NaN);
**   vec_dot_act, vec_dot_f32: within QK_KERNELS_DOT_REL_TOL * sum |w a|
**   + QK_KERNELS_DOT_ABS_TOL * n of the reference, and the reference
**   within 1e-6 of the same sum formed here from dequantized values.
*/
#include "qk_test.h"

#include "kernels/kernels_internal.h"
#include "kernels_test_util.h"

static const qk_type KT[] = {QK_TYPE_Q2_K, QK_TYPE_Q3_K, QK_TYPE_Q4_K, QK_TYPE_Q5_K, QK_TYPE_Q6_K};
#define N_KT (sizeof KT / sizeof KT[0])
static const int64_t LENGTHS[] = {256, 512, 768, 2816};
#define N_LENGTHS (sizeof LENGTHS / sizeof LENGTHS[0])
#define MAX_N 2816
#define N_CASES 8

static void fill_case(int c, float *x, int64_t n, uint64_t seed) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed * 977 + (uint64_t)c);
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
            x[i] = -0.37f;
            break;
        case 3:
            x[i] = j == (b * 37) % 256 ? (b & 1 ? -2e4f : 5e4f) : g;
            break;
        case 4:
            x[i] = g * 1e-39f;
            break;
        case 5:
            x[i] = g * powf(10.0f, (float)((i / 16) % 9) - 4.0f);
            break;
        case 6:
            x[i] = j == 3 ? 2.0f : (j == 200 ? -2.0f : 0.25f * g);
            break; /* max ties */
        default:
            x[i] = (float)(j % 17) - 8.0f;
            break; /* integers */
        }
    }
}

static size_t row_bytes(qk_type type, int64_t n) {
    size_t b;
    QK_ASSERT_OK(qk_type_row_bytes(type, n, &b));
    return b;
}

/* Random bytes; f16 fields finite unless `specials` (then every 5th block
** gets Inf/NaN). */
static void random_blocks(qk_type type, unsigned char *dst, int64_t n, uint64_t seed,
                          bool specials) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    const size_t nb = row_bytes(type, n);
    for (size_t i = 0; i < nb; i++) dst[i] = (unsigned char)qk_test_rng_u64(&rng);
    const qk_type_traits *tr = qk_type_get_traits(type);
    int off[2] = {-1, -1};
    switch (type) {
    case QK_TYPE_Q2_K:
        off[0] = 80, off[1] = 82;
        break;
    case QK_TYPE_Q3_K:
        off[0] = 108;
        break;
    case QK_TYPE_Q4_K:
    case QK_TYPE_Q5_K:
        off[0] = 0, off[1] = 2;
        break;
    case QK_TYPE_Q6_K:
        off[0] = 208;
        break;
    default:
        break;
    }
    for (int64_t b = 0; b < n / tr->block_elems; b++) {
        for (int f = 0; f < 2 && off[f] >= 0; f++) {
            uint16_t h = (uint16_t)qk_test_rng_u64(&rng);
            if (!specials || b % 5 != 3)
                h = (uint16_t)(h & 0xBBFF);
            else
                h = (uint16_t)((h & 0x83FF) | 0x7C00);
            memcpy(dst + (size_t)b * (size_t)tr->block_bytes + off[f], &h, 2);
        }
    }
}

static bool same_float(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return qk_test_f32_bits(a) == qk_test_f32_bits(b);
}

static void test_dequantize_bit_exact(void **state) {
    (void)state;
    unsigned char *w = malloc(MAX_N * 2);
    float *want = malloc(MAX_N * sizeof *want), *got = malloc(MAX_N * sizeof *got);
    for (size_t t = 0; t < N_KT; t++) {
        for (size_t l = 0; l < N_LENGTHS; l++) {
            const int64_t n = LENGTHS[l];
            for (int pass = 0; pass < 2; pass++) {
                if (pass == 0) {
                    random_blocks(KT[t], w, n, 11 * l + t, true);
                } else { /* quantized data, where scales and mins are typical */
                    float *x = malloc((size_t)n * sizeof *x);
                    fill_case((int)l % N_CASES, x, n, t);
                    (void)qk_quantize_row(KT[t], x, w, n, NULL);
                    free(x);
                }
                QK_ASSERT_OK(qk_dequantize_row(KT[t], w, want, n));
                for (int isa = QK_ISA_REF; isa <= QK_ISA_AVX512; isa++) {
                    const qk_kernel_ops *ops = kt_variant(KT[t], (qk_isa)isa);
                    if (!ops) continue;
                    ops->dequantize_row(w, got, n);
                    for (int64_t i = 0; i < n; i++)
                        if (!same_float(got[i], want[i]))
                            fail_msg("%s %s n %lld pass %d: element %lld is %.9g, reference %.9g",
                                     qk_type_name(KT[t]), qk_isa_name((qk_isa)isa), (long long)n,
                                     pass, (long long)i, (double)got[i], (double)want[i]);
                }
            }
        }
    }
    free(w), free(want), free(got);
}

static void test_act_q8_k_bit_exact(void **state) {
    (void)state;
    float *x = malloc(MAX_N * sizeof *x);
    const size_t nb = MAX_N / 256 * sizeof(qk_block_q8_k);
    unsigned char *want = malloc(nb), *got = malloc(nb);
    for (int c = 0; c < N_CASES; c++) {
        for (size_t l = 0; l < N_LENGTHS; l++) {
            const int64_t n = LENGTHS[l];
            fill_case(c, x, n, 40 + l);
            QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q8_K, x, want, n, NULL));
            for (int isa = QK_ISA_REF; isa <= QK_ISA_AVX512; isa++) {
                const qk_kernel_ops *ops = kt_variant(QK_TYPE_Q4_K, (qk_isa)isa);
                if (!ops) continue;
                assert_int_equal(ops->act_type, QK_TYPE_Q8_K);
                memset(got, 0x77, nb);
                ops->quantize_act(x, got, n);
                assert_memory_equal(got, want, row_bytes(QK_TYPE_Q8_K, n));
            }
        }
    }
    free(x), free(want), free(got);
}

static void check_dot(double got, double want, double abs_sum, double rel, const char *what,
                      qk_type type, qk_isa isa, int c, int64_t n) {
    const double bound = rel * abs_sum + QK_KERNELS_DOT_ABS_TOL * (double)n;
    if (!(fabs(got - want) <= bound))
        fail_msg("%s %s %s case %d n %lld: %.9g vs %.9g (sum |w a| = %.9g, bound %g)", what,
                 qk_type_name(type), qk_isa_name(isa), c, (long long)n, got, want, abs_sum, bound);
}

static void test_dot(void **state) {
    (void)state;
    float *x = malloc(MAX_N * sizeof *x), *xw = malloc(MAX_N * sizeof *xw);
    float *wf = malloc(MAX_N * sizeof *wf), *af = malloc(MAX_N * sizeof *af);
    unsigned char *w = malloc(MAX_N * 2);
    qk_block_q8_k *act = malloc(MAX_N / 256 * sizeof *act);
    for (size_t t = 0; t < N_KT; t++) {
        const qk_kernel_ops *ref = kt_variant(KT[t], QK_ISA_REF);
        for (int wc = 0; wc < 3; wc++) {
            for (int c = 0; c < N_CASES; c++) {
                for (size_t l = 0; l < N_LENGTHS; l++) {
                    const int64_t n = LENGTHS[l];
                    if (wc == 0) {
                        random_blocks(KT[t], w, n, 300 + l + 7 * t, false);
                    } else {
                        fill_case(wc == 1 ? 0 : 3, xw, n, 500 + l);
                        (void)qk_quantize_row(KT[t], xw, w, n, NULL);
                    }
                    fill_case(c, x, n, 600 + l);
                    ref->quantize_act(x, act, n);
                    QK_ASSERT_OK(qk_dequantize_row(KT[t], w, wf, n));
                    QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q8_K, act, af, n));
                    double exact = 0.0, exact_f = 0.0;
                    for (int64_t i = 0; i < n; i++)
                        exact += (double)wf[i] * af[i], exact_f += (double)wf[i] * x[i];
                    const double abs_sum = kt_dot_magnitude(KT[t], w, af, n);
                    const double abs_f = kt_dot_magnitude(KT[t], w, x, n);
                    check_dot(ref->vec_dot_act(w, act, n), exact, abs_sum, 1e-6, "reference dot",
                              KT[t], QK_ISA_REF, c, n);
                    check_dot(ref->vec_dot_f32(w, x, n), exact_f, abs_f, 1e-6, "reference f32 dot",
                              KT[t], QK_ISA_REF, c, n);
                    const double r = ref->vec_dot_act(w, act, n);
                    const double rf = ref->vec_dot_f32(w, x, n);
                    for (int isa = QK_ISA_AVX2; isa <= QK_ISA_AVX512; isa++) {
                        const qk_kernel_ops *ops = kt_variant(KT[t], (qk_isa)isa);
                        if (!ops) continue;
                        const float d1 = ops->vec_dot_act(w, act, n);
                        check_dot(d1, r, abs_sum, QK_KERNELS_DOT_REL_TOL, "dot", KT[t], (qk_isa)isa,
                                  c, n);
                        check_dot(ops->vec_dot_f32(w, x, n), rf, abs_f, QK_KERNELS_DOT_REL_TOL,
                                  "f32 dot", KT[t], (qk_isa)isa, c, n);
                        float rows[1];
                        ops->vec_dot_act_rows(w, 0, 1, act, n, rows);
                        QK_ASSERT_F32_BITS_EQ(rows[0], d1);
                    }
                }
            }
        }
    }
    free(x), free(xw), free(wf), free(af), free(w), free(act);
}

/* vec_dot_act_rows over 1..9 rows, contiguous and with a padded stride:
** every output bit for bit the same variant's vec_dot_act of that row (so
** independent of how rows are grouped, hence of the thread count) and
** within the bound of the reference; rows of random bytes (every scale
** and min pattern) and quantized Gaussian / outlier weights. */
static void test_dot_rows(void **state) {
    (void)state;
    enum { MAX_ROWS = 9 };
    static const int64_t lens[] = {256, 768, 2816};
    float *x = malloc(MAX_N * sizeof *x), *xw = malloc(MAX_N * sizeof *xw);
    float *wf = malloc(MAX_N * sizeof *wf), *af = malloc(MAX_N * sizeof *af);
    qk_block_q8_k *act = malloc(MAX_N / 256 * sizeof *act);
    for (size_t t = 0; t < N_KT; t++) {
        const qk_kernel_ops *ref = kt_variant(KT[t], QK_ISA_REF);
        unsigned char *w = malloc((row_bytes(KT[t], MAX_N) + 40) * MAX_ROWS);
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            const int64_t n = lens[l];
            const size_t rb = row_bytes(KT[t], n);
            for (int pad = 0; pad <= 40; pad += 40) {
                const size_t stride = rb + (size_t)pad;
                for (int r = 0; r < MAX_ROWS; r++) {
                    unsigned char *wr = w + (size_t)r * stride;
                    if (r % 3 == 0) {
                        random_blocks(KT[t], wr, n, 900 + (uint64_t)(r + 16 * l), false);
                    } else {
                        fill_case(r % 3 == 1 ? 0 : 3, xw, n, 950 + (uint64_t)(r + 16 * l));
                        (void)qk_quantize_row(KT[t], xw, wr, n, NULL);
                    }
                }
                fill_case(pad ? 5 : 0, x, n, 990 + l);
                ref->quantize_act(x, act, n);
                QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q8_K, act, af, n));
                for (int isa = QK_ISA_REF; isa <= QK_ISA_AVX512; isa++) {
                    const qk_kernel_ops *ops = kt_variant(KT[t], (qk_isa)isa);
                    if (!ops) continue;
                    for (int nw = 1; nw <= MAX_ROWS; nw++) {
                        float out[MAX_ROWS];
                        ops->vec_dot_act_rows(w, stride, nw, act, n, out);
                        for (int r = 0; r < nw; r++) {
                            const unsigned char *wr = w + (size_t)r * stride;
                            QK_ASSERT_F32_BITS_EQ(out[r], ops->vec_dot_act(wr, act, n));
                            if (nw < MAX_ROWS) continue;
                            check_dot(out[r], ref->vec_dot_act(wr, act, n),
                                      kt_dot_magnitude(KT[t], wr, af, n), QK_KERNELS_DOT_REL_TOL,
                                      "rows dot", KT[t], (qk_isa)isa, r, n);
                        }
                    }
                }
            }
        }
        free(w);
    }
    free(x), free(xw), free(wf), free(af), free(act);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dequantize_bit_exact),
        cmocka_unit_test(test_act_q8_k_bit_exact),
        cmocka_unit_test(test_dot),
        cmocka_unit_test(test_dot_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
