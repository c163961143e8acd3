/*
** Kernels of the 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL)
** and the float types: every instruction-set variant this CPU has against
** the reference, on random and adversarial data (odd block counts, zeros,
** constants, outliers, subnormals, scales that underflow, exact rounding
** ties and their neighbours, equal magnitudes of both signs).
**   quantize_row / quantize_act: bit for bit;
**   dequantize_row: bit for bit (NaN: both NaN);
**   vec_dot_act / vec_dot_f32: |simd - ref| <= 1e-5 * sum |w_i a_i|, and
**   the reference within 1e-6 of the same sum formed independently here.
*/
#include "qk_test.h"

#include <float.h>

#include "kernels/kernels_internal.h"
#include "kernels_test_util.h"

static const qk_type Q32[] = {QK_TYPE_Q4_0, QK_TYPE_Q4_1, QK_TYPE_Q5_0,
                              QK_TYPE_Q5_1, QK_TYPE_Q8_0, QK_TYPE_IQ4_NL};
#define N_Q32 (sizeof Q32 / sizeof Q32[0])
static const int64_t LENGTHS[] = {32, 64, 96, 128, 160, 416, 4128};
#define N_LENGTHS (sizeof LENGTHS / sizeof LENGTHS[0])
#define N_CASES 12
#define MAX_N 4128
#define MAX_ALLOC (MAX_N + 8)

/* Data case `c` of n values. */
static void fill_case(int c, float *x, int64_t n, uint64_t seed) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed * 131 + (uint64_t)c);
    for (int64_t i = 0; i < n; i++) {
        const float g = qk_test_rng_normal(&rng);
        const int64_t b = i / 32, j = i % 32;
        switch (c) {
        case 0:
            x[i] = g;
            break;
        case 1:
            x[i] = (float)qk_test_rng_uniform(&rng) * 2.0f - 1.0f;
            break;
        case 2:
            x[i] = 0.0f;
            break;
        case 3:
            x[i] = 0.37f;
            break;
        case 4: /* one outlier per block */
            x[i] = j == (b * 7) % 32 ? (b & 1 ? -1e4f : 3e4f) : g;
            break;
        case 5:
            x[i] = g * 1e-39f;
            break; /* subnormal: the inverse scale overflows */
        case 6:
            x[i] = g * 1e-36f;
            break; /* scale subnormal, inverse finite */
        case 7:    /* exact ties of roundf / trunc(x + 0.5) with scale 1 */
            x[i] = j == 0 ? 127.0f : (float)(j - 16) + 0.5f;
            break;
        case 8: { /* ties of the signed maximum: +-3 in both orders */
            x[i] = 0.5f * g;
            if (j == (b % 5)) x[i] = b & 1 ? -3.0f : 3.0f;
            if (j == 31 - (b % 3)) x[i] = b & 1 ? 3.0f : -3.0f;
            break;
        }
        case 9: /* per-block scales over 7 decades */
            x[i] = g * powf(10.0f, (float)(b % 7) - 3.0f);
            break;
        case 10: { /* neighbours of ties */
            const float t = j == 0 ? 127.0f : (float)(j - 16) + 0.5f;
            x[i] = j == 0 ? t : (b & 1 ? nextafterf(t, 1e9f) : nextafterf(t, -1e9f));
            break;
        }
        default:
            x[i] = g * 1e3f + 5.0f;
            break; /* large, offset (asymmetric formats) */
        }
    }
}

static size_t row_bytes(qk_type type, int64_t n) {
    size_t b;
    QK_ASSERT_OK(qk_type_row_bytes(type, n, &b));
    return b;
}

static void test_quantize_bit_exact(void **state) {
    (void)state;
    float *x = malloc(MAX_N * sizeof *x);
    unsigned char *want = malloc(MAX_N * 2), *got = malloc(MAX_N * 2);
    for (size_t t = 0; t < N_Q32; t++) {
        if (Q32[t] == QK_TYPE_IQ4_NL) continue; /* no SIMD quantizer: the search */
        for (int c = 0; c < N_CASES; c++) {
            for (size_t l = 0; l < N_LENGTHS; l++) {
                const int64_t n = LENGTHS[l];
                fill_case(c, x, n, (uint64_t)l);
                const size_t nb = row_bytes(Q32[t], n);
                (void)qk_quantize_row(Q32[t], x, want, n, NULL); /* may report f16 overflow */
                for (int isa = QK_ISA_REF; isa <= QK_ISA_AVX512; isa++) {
                    const qk_kernel_ops *ops = kt_variant(Q32[t], (qk_isa)isa);
                    if (!ops) continue;
                    memset(got, 0xA5, nb);
                    ops->quantize_row(x, got, n);
                    for (size_t i = 0; i < nb; i++)
                        if (got[i] != want[i])
                            fail_msg("%s %s case %d n %lld: byte %zu is 0x%02x, reference 0x%02x",
                                     qk_type_name(Q32[t]), qk_isa_name((qk_isa)isa), c,
                                     (long long)n, i, got[i], want[i]);
                }
            }
        }
    }
    free(x), free(want), free(got);
}

/* roundf's ties and the values next to them, over the whole int8 range and
** a dense sweep: the SIMD Q8_0 quantizer must give roundf's quants. */
static void test_q8_0_rounding_sweep(void **state) {
    (void)state;
    enum { NB = 256 };
    float x[NB * 32];
    unsigned char want[NB * 34], got[NB * 34];
    for (int b = 0; b < NB; b++) {
        x[32 * b] = 127.0f; /* d = 1, id = 1: x * id = x exactly */
        for (int j = 1; j < 32; j++) {
            const float t = (float)((b * 31 + j) % 254 - 127) + 0.5f; /* |t| < 127 */
            const int k = (b + j) % 3;
            x[32 * b + j] = k == 0 ? t : k == 1 ? nextafterf(t, 1e9f) : nextafterf(t, -1e9f);
        }
    }
    QK_ASSERT_OK(qk_quantize_row(QK_TYPE_Q8_0, x, want, NB * 32, NULL));
    /* roundf by hand for a few: 0.5 -> 1, -0.5 -> -1, 126.5 -> 127 */
    for (int isa = QK_ISA_AVX2; isa <= QK_ISA_AVX512; isa++) {
        const qk_kernel_ops *ops = kt_variant(QK_TYPE_Q8_0, (qk_isa)isa);
        if (!ops) continue;
        ops->quantize_row(x, got, NB * 32);
        assert_memory_equal(got, want, sizeof want);
    }
    const qk_block_q8_0 *blk = (const qk_block_q8_0 *)want;
    for (int b = 0; b < NB; b++)
        for (int j = 1; j < 32; j++) assert_int_equal(blk[b].qs[j], (int)roundf(x[32 * b + j]));
}

static bool same_float(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return qk_test_f32_bits(a) == qk_test_f32_bits(b);
}

/* Random block bytes, f16 fields finite unless `specials`. */
static void random_blocks(qk_type type, unsigned char *dst, int64_t n, uint64_t seed,
                          bool specials) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    const size_t nb = row_bytes(type, n);
    for (size_t i = 0; i < nb; i++) dst[i] = (unsigned char)qk_test_rng_u64(&rng);
    const qk_type_traits *tr = qk_type_get_traits(type);
    const bool has_m = type == QK_TYPE_Q4_1 || type == QK_TYPE_Q5_1;
    for (int64_t b = 0; b < n / tr->block_elems; b++) {
        unsigned char *p = dst + (size_t)b * (size_t)tr->block_bytes;
        for (int f = 0; f < (has_m ? 2 : 1); f++) {
            uint16_t h = (uint16_t)qk_test_rng_u64(&rng);
            if (!specials || b % 5 != 3)
                h = (uint16_t)(h & 0xBBFF); /* exponent < 31 */
            else
                h = (uint16_t)((h & 0x83FF) | 0x7C00); /* Inf or NaN */
            memcpy(p + 2 * f, &h, 2);
        }
    }
}

static void test_dequantize_bit_exact(void **state) {
    (void)state;
    const qk_type types[] = {QK_TYPE_Q4_0, QK_TYPE_Q4_1,   QK_TYPE_Q5_0, QK_TYPE_Q5_1,
                             QK_TYPE_Q8_0, QK_TYPE_IQ4_NL, QK_TYPE_F16,  QK_TYPE_BF16};
    unsigned char *w = malloc(MAX_ALLOC * 4);
    float *want = malloc(MAX_ALLOC * sizeof *want), *got = malloc(MAX_ALLOC * sizeof *got);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (size_t l = 0; l < N_LENGTHS; l++) {
            const int64_t n = LENGTHS[l] + (qk_type_get_traits(types[t])->block_elems == 1 ? 7 : 0);
            const bool block = qk_type_get_traits(types[t])->is_block;
            if (block) {
                random_blocks(types[t], w, n, 7 * l + t, true);
            } else {
                qk_test_rng rng;
                qk_test_rng_seed(&rng, 99 + l);
                for (int64_t i = 0; i < 2 * n; i++) w[i] = (unsigned char)qk_test_rng_u64(&rng);
            }
            QK_ASSERT_OK(qk_dequantize_row(types[t], w, want, n));
            for (int isa = QK_ISA_REF; isa <= QK_ISA_AVX512; isa++) {
                const qk_kernel_ops *ops = kt_variant(types[t], (qk_isa)isa);
                if (!ops) continue;
                ops->dequantize_row(w, got, n);
                for (int64_t i = 0; i < n; i++)
                    if (!same_float(got[i], want[i]))
                        fail_msg("%s %s n %lld: element %lld is %.9g, reference %.9g",
                                 qk_type_name(types[t]), qk_isa_name((qk_isa)isa), (long long)n,
                                 (long long)i, (double)got[i], (double)want[i]);
            }
        }
    }
    free(w), free(want), free(got);
}

/* The activation rows: identical across variants (padding included), and
** their quants and scale are Q8_0's (d = amax / 127 in f32). */
static void test_act_bit_exact(void **state) {
    (void)state;
    float *x = malloc(MAX_N * sizeof *x);
    unsigned char *want = malloc(qk_act32_bytes(MAX_N)), *got = malloc(qk_act32_bytes(MAX_N));
    qk_block_q8_0 *q8 = malloc(MAX_N / 32 * sizeof *q8);
    for (int c = 0; c < N_CASES; c++) {
        for (size_t l = 0; l < N_LENGTHS; l++) {
            const int64_t n = LENGTHS[l], nb = n / 32;
            fill_case(c, x, n, 5 + l);
            const size_t bytes = qk_act32_bytes(n);
            size_t api_bytes;
            QK_ASSERT_OK(qk_kernels_act_bytes(QK_TYPE_Q4_0, n, &api_bytes));
            assert_int_equal(api_bytes, bytes);
            memset(want, 0x5A, bytes);
            qk_kernels_ref_quantize_act32(x, want, n);
            (void)qk_quantize_row(QK_TYPE_Q8_0, x, q8, n, NULL);
            for (int64_t b = 0; b < qk_act32_groups(n) * 4; b++) {
                float amax = 0.0f;
                int32_t sum = 0;
                for (int j = 0; j < 32; j++) {
                    const int8_t q = (int8_t)want[qk_act32_offset(b, j)];
                    if (b < nb) {
                        amax = fmaxf(amax, fabsf(x[32 * b + j]));
                        assert_int_equal(q, q8[b].qs[j]);
                    } else {
                        assert_int_equal(q, 0);
                    }
                    sum += q;
                }
                QK_ASSERT_F32_BITS_EQ(*qk_act32_cd(want, b), b < nb ? amax / 127.0f : 0.0f);
                assert_int_equal(*qk_act32_csum(want, b), sum);
            }
            for (int isa = QK_ISA_AVX2; isa <= QK_ISA_AVX512; isa++) {
                const qk_kernel_ops *ops = kt_variant(QK_TYPE_Q4_0, (qk_isa)isa);
                if (!ops) continue;
                memset(got, 0xC3, bytes);
                ops->quantize_act(x, got, n);
                assert_memory_equal(got, want, bytes);
            }
        }
    }
    free(x), free(want), free(got), free(q8);
}

/* S (kernels_test_util.h) and sum w_i a_i in double from dequantized values. */
static void act_sums(qk_type type, const void *w, const void *act, int64_t n, double *abs_sum,
                     double *sum) {
    float *wf = malloc((size_t)n * sizeof *wf), *af = malloc((size_t)n * sizeof *af);
    QK_ASSERT_OK(qk_dequantize_row(type, w, wf, n));
    const unsigned char *qa = act;
    *sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        af[i] =
            *qk_act32_cd(act, i / 32) * (float)(int8_t)qa[qk_act32_offset(i / 32, (int)(i % 32))];
        *sum += (double)wf[i] * af[i];
    }
    *abs_sum = kt_dot_magnitude(type, w, af, n);
    free(wf), free(af);
}

static void check_dot(double got, double want, double abs_sum, double rel, const char *what,
                      qk_type type, qk_isa isa, int c, int64_t n) {
    const double bound = rel * abs_sum + QK_KERNELS_DOT_ABS_TOL * (double)n;
    if (!(fabs(got - want) <= bound))
        fail_msg("%s %s %s case %d n %lld: %.9g vs %.9g (sum |w a| = %.9g, bound %g)", what,
                 qk_type_name(type), qk_isa_name(isa), c, (long long)n, got, want, abs_sum, bound);
}

static void test_dot_act(void **state) {
    (void)state;
    float *x = malloc(MAX_N * sizeof *x), *xw = malloc(MAX_N * sizeof *xw);
    unsigned char *w = malloc(MAX_N * 2), *act = malloc(qk_act32_bytes(MAX_N));
    for (size_t t = 0; t < N_Q32; t++) {
        const qk_kernel_ops *ref = kt_variant(Q32[t], QK_ISA_REF);
        for (int wc = 0; wc < 4; wc++) {
            for (int c = 0; c < N_CASES; c++) {
                for (size_t l = 0; l < N_LENGTHS; l++) {
                    const int64_t n = LENGTHS[l];
                    if (wc == 0) { /* quantized Gaussian weights */
                        fill_case(0, xw, n, 1000 + l);
                        (void)qk_quantize_row(Q32[t], xw, w, n, NULL);
                    } else if (wc == 1) { /* random bytes, finite scales */
                        random_blocks(Q32[t], w, n, 77 + l + t, false);
                    } else if (wc == 2) { /* weights that decode to zero (or constant) */
                        fill_case(2, xw, n, 0);
                        (void)qk_quantize_row(Q32[t], xw, w, n, NULL);
                    } else { /* outlier weights */
                        fill_case(4, xw, n, 2000 + l);
                        (void)qk_quantize_row(Q32[t], xw, w, n, NULL);
                    }
                    fill_case(c, x, n, 3000 + l);
                    ref->quantize_act(x, act, n);
                    double abs_sum, exact;
                    act_sums(Q32[t], w, act, n, &abs_sum, &exact);
                    const double r = ref->vec_dot_act(w, act, n);
                    check_dot(r, exact, abs_sum, 1e-6, "reference dot", Q32[t], QK_ISA_REF, c, n);
                    for (int isa = QK_ISA_AVX2; isa <= QK_ISA_AVX512; isa++) {
                        const qk_kernel_ops *ops = kt_variant(Q32[t], (qk_isa)isa);
                        if (!ops) continue;
                        check_dot(ops->vec_dot_act(w, act, n), r, abs_sum, QK_KERNELS_DOT_REL_TOL,
                                  "dot", Q32[t], (qk_isa)isa, c, n);
                    }
                }
            }
        }
    }
    free(x), free(xw), free(w), free(act);
}

/* vec_dot_act_rows over 1..9 rows, contiguous and with a padded stride:
** every output bit for bit the same variant's vec_dot_act of that row (so
** independent of how rows are grouped, hence of the thread count) and
** within the bound of the reference. Rows mix random bytes, quantized
** outliers and weights that decode to zero; odd lengths end in a partial
** group of 4 blocks. */
static void test_dot_rows(void **state) {
    (void)state;
    enum { MAX_ROWS = 9 };
    static const int64_t lens[] = {32, 96, 160, 416, 4128};
    float *x = malloc(MAX_N * sizeof *x), *xw = malloc(MAX_N * sizeof *xw);
    unsigned char *act = malloc(qk_act32_bytes(MAX_N));
    for (size_t t = 0; t < N_Q32; t++) {
        const qk_kernel_ops *ref = kt_variant(Q32[t], QK_ISA_REF);
        unsigned char *w = malloc((row_bytes(Q32[t], MAX_N) + 40) * MAX_ROWS);
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            const int64_t n = lens[l];
            const size_t rb = row_bytes(Q32[t], n);
            for (int pad = 0; pad <= 40; pad += 40) {
                const size_t stride = rb + (size_t)pad;
                for (int r = 0; r < MAX_ROWS; r++) {
                    unsigned char *wr = w + (size_t)r * stride;
                    if (r % 3 == 0) {
                        random_blocks(Q32[t], wr, n, 500 + (uint64_t)(r + 16 * l), false);
                    } else {
                        fill_case(r % 3 == 1 ? 4 : 2, xw, n, 600 + (uint64_t)(r + 16 * l));
                        (void)qk_quantize_row(Q32[t], xw, wr, n, NULL);
                    }
                }
                fill_case(pad ? 4 : 0, x, n, 700 + l);
                ref->quantize_act(x, act, n);
                for (int isa = QK_ISA_REF; isa <= QK_ISA_AVX512; isa++) {
                    const qk_kernel_ops *ops = kt_variant(Q32[t], (qk_isa)isa);
                    if (!ops) continue;
                    for (int nw = 1; nw <= MAX_ROWS; nw++) {
                        float out[MAX_ROWS];
                        ops->vec_dot_act_rows(w, stride, nw, act, n, out);
                        for (int r = 0; r < nw; r++) {
                            const unsigned char *wr = w + (size_t)r * stride;
                            QK_ASSERT_F32_BITS_EQ(out[r], ops->vec_dot_act(wr, act, n));
                            if (nw < MAX_ROWS) continue;
                            double abs_sum, exact;
                            act_sums(Q32[t], wr, act, n, &abs_sum, &exact);
                            check_dot(out[r], ref->vec_dot_act(wr, act, n), abs_sum,
                                      QK_KERNELS_DOT_REL_TOL, "rows dot", Q32[t], (qk_isa)isa, r,
                                      n);
                        }
                    }
                }
            }
        }
        free(w);
    }
    free(x), free(xw), free(act);
}

static void test_dot_f32(void **state) {
    (void)state;
    const qk_type types[] = {QK_TYPE_Q4_0,   QK_TYPE_Q4_1, QK_TYPE_Q5_0, QK_TYPE_Q5_1, QK_TYPE_Q8_0,
                             QK_TYPE_IQ4_NL, QK_TYPE_F32,  QK_TYPE_F16,  QK_TYPE_BF16};
    float *x = malloc((MAX_N + 7) * sizeof *x), *wf = malloc((MAX_N + 7) * sizeof *wf);
    unsigned char *w = malloc((MAX_N + 7) * 4);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const bool block = qk_type_get_traits(types[t])->is_block;
        for (int c = 0; c < N_CASES; c++) {
            for (size_t l = 0; l < N_LENGTHS; l++) {
                const int64_t n = LENGTHS[l] + (block ? 0 : 7); /* odd lengths for floats */
                fill_case(c == 2 ? 0 : 4, wf, n, 500 + l);
                if (block)
                    random_blocks(types[t], w, n, 600 + l, false);
                else
                    QK_ASSERT_OK(qk_quantize_row(types[t], wf, w, n, NULL));
                fill_case(c, x, n, 700 + l);
                QK_ASSERT_OK(qk_dequantize_row(types[t], w, wf, n));
                double exact = 0.0;
                for (int64_t i = 0; i < n; i++) exact += (double)wf[i] * x[i];
                const double abs_sum = kt_dot_magnitude(types[t], w, x, n);
                const qk_kernel_ops *ref = kt_variant(types[t], QK_ISA_REF);
                const double r = ref->vec_dot_f32(w, x, n);
                check_dot(r, exact, abs_sum, 1e-6, "reference f32 dot", types[t], QK_ISA_REF, c, n);
                for (int isa = QK_ISA_AVX2; isa <= QK_ISA_AVX512; isa++) {
                    const qk_kernel_ops *ops = kt_variant(types[t], (qk_isa)isa);
                    if (!ops) continue;
                    check_dot(ops->vec_dot_f32(w, x, n), r, abs_sum, QK_KERNELS_DOT_REL_TOL,
                              "f32 dot", types[t], (qk_isa)isa, c, n);
                }
            }
        }
    }
    free(x), free(wf), free(w);
}

/* Weights that decode to exactly zero give exactly zero on every variant
** (the offset is removed in integers before any rounding). */
static void test_dot_zero_weights(void **state) {
    (void)state;
    enum { N = 1024 };
    float x[N];
    fill_case(0, x, N, 9);
    unsigned char w[N * 2];
    const qk_type types[] = {QK_TYPE_Q4_0, QK_TYPE_Q5_0, QK_TYPE_Q8_0};
    for (size_t t = 0; t < 3; t++) {
        const qk_type_traits *tr = qk_type_get_traits(types[t]);
        for (int b = 0; b < N / 32; b++) { /* d = 1, every quant at the offset */
            unsigned char *p = w + b * tr->block_bytes;
            memset(p, 0, (size_t)tr->block_bytes);
            p[1] = 0x3C;
            if (types[t] == QK_TYPE_Q4_0) memset(p + 2, 0x88, 16);
            if (types[t] == QK_TYPE_Q5_0) memset(p + 2, 0xFF, 4), memset(p + 6, 0x00, 16);
        }
        unsigned char act[qk_act32_bytes(N)];
        for (int isa = QK_ISA_REF; isa <= QK_ISA_AVX512; isa++) {
            const qk_kernel_ops *ops = kt_variant(types[t], (qk_isa)isa);
            if (!ops) continue;
            ops->quantize_act(x, act, N);
            const float r = ops->vec_dot_act(w, act, N);
            if (r != 0.0f)
                fail_msg("%s %s: zero weights give %g", qk_type_name(types[t]),
                         qk_isa_name((qk_isa)isa), (double)r);
        }
    }
}

/* Checked entry points: the reference's bytes, NaN/Inf rejected naming the
** element, f16 overflow reported, any thread count. */
/* The AVX-512 row check of qk_kernels_quantize_rows: every length around
** the 16- and 64-value steps, one bad value at every position (NaN, +-Inf,
** the float just above the limit in magnitude) is found; values of exactly
** the limit, zeros and -0 pass. */
static void test_row_clean(void **state) {
    (void)state;
    if (!kt_variant(QK_TYPE_Q4_0, QK_ISA_AVX512)) return;
    static const int64_t lens[] = {1, 15, 16, 17, 63, 64, 65, 130, 416};
    const float lim = 1000.0f;
    uint32_t lim_bits;
    memcpy(&lim_bits, &lim, sizeof lim_bits);
    const float bad[] = {NAN, INFINITY, -INFINITY, nextafterf(lim, INFINITY),
                         -nextafterf(lim, INFINITY)};
    float *x = malloc(416 * sizeof *x);
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        const int64_t n = lens[l];
        fill_case(0, x, n, 5 + l);
        for (int64_t i = 0; i < n; i++) x[i] = i % 7 == 3 ? -0.0f : x[i];
        assert_true(qk_kernels_avx512_row_clean(x, n, lim_bits));
        for (int64_t p = 0; p < n; p++) {
            const float keep = x[p];
            for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
                x[p] = bad[b];
                if (qk_kernels_avx512_row_clean(x, n, lim_bits))
                    fail_msg("n %lld: %g at %lld not found", (long long)n, (double)bad[b],
                             (long long)p);
            }
            x[p] = p & 1 ? -lim : lim;
            assert_true(qk_kernels_avx512_row_clean(x, n, lim_bits));
            x[p] = keep;
        }
    }
    free(x);
}

static void test_checked_rows(void **state) {
    (void)state;
    enum { R = 7, C = 416 };
    float *x = malloc(R * C * sizeof *x);
    fill_case(9, x, R * C, 3);
    unsigned char *want = malloc(R * C * 2), *got = malloc(R * C * 2);
    for (size_t t = 0; t < N_Q32; t++) {
        if (Q32[t] == QK_TYPE_IQ4_NL) continue;
        const size_t rb = row_bytes(Q32[t], C);
        QK_ASSERT_OK(qk_quantize_rows(Q32[t], x, want, R, C, NULL));
        for (int th = 1; th <= 3; th++) {
            qk_threads_set(th);
            memset(got, 0, R * rb);
            QK_ASSERT_OK(qk_kernels_quantize_rows(Q32[t], x, got, R, C, NULL, QK_KQUANT_FAST));
            assert_memory_equal(got, want, R * rb);
            float *y = malloc(R * C * sizeof *y), *yr = malloc(R * C * sizeof *yr);
            QK_ASSERT_OK(qk_kernels_dequantize_rows(Q32[t], got, y, R, C));
            for (int r = 0; r < R; r++)
                QK_ASSERT_OK(qk_dequantize_row(Q32[t], want + r * rb, yr + r * C, C));
            assert_memory_equal(y, yr, R * C * sizeof *y);
            free(y), free(yr);
        }
        qk_threads_set(0);
    }
    /* non-finite input: the first bad row and column are named */
    x[3 * C + 17] = NAN;
    x[5 * C + 2] = INFINITY;
    QK_ASSERT_STATUS(qk_kernels_quantize_rows(QK_TYPE_Q4_0, x, got, R, C, NULL, QK_KQUANT_FAST),
                     QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "row 3, column 17"));
    x[3 * C + 17] = 1.0f;
    x[1 * C + 410] = -INFINITY; /* in the last, partial 64-value step */
    QK_ASSERT_STATUS(qk_kernels_quantize_rows(QK_TYPE_Q8_0, x, got, R, C, NULL, QK_KQUANT_FAST),
                     QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "row 1, column 410"));
    /* a block whose scale does not fit f16 */
    fill_case(0, x, R * C, 4);
    x[2 * C + 40] = 1e9f;
    QK_ASSERT_STATUS(qk_kernels_quantize_rows(QK_TYPE_Q8_0, x, got, R, C, NULL, QK_KQUANT_FAST),
                     QK_ERR_NUMERIC);
    assert_non_null(strstr(qk_last_error(), "row 2, elements 32..63"));
    QK_ASSERT_STATUS(qk_kernels_quantize_rows(QK_TYPE_Q8_0, x, got, R, C - 3, NULL, QK_KQUANT_FAST),
                     QK_ERR_SHAPE);
    free(x), free(want), free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_bit_exact),
        cmocka_unit_test(test_q8_0_rounding_sweep),
        cmocka_unit_test(test_dequantize_bit_exact),
        cmocka_unit_test(test_act_bit_exact),
        cmocka_unit_test(test_dot_act),
        cmocka_unit_test(test_dot_rows),
        cmocka_unit_test(test_dot_f32),
        cmocka_unit_test(test_dot_zero_weights),
        cmocka_unit_test(test_checked_rows),
        cmocka_unit_test(test_row_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
