/*
** Affine intN per-group quantization of rows (qk_kernels_affine_quantize_rows):
** a hand-computed group; every instruction-set variant gives
** qk_affine_quantize's codes, scales and zero points byte for byte on random
** and adversarial data (odd lengths, partial groups, groups longer than a
** row, zeros, constants, outliers, subnormals, huge values) for 2, 4 and 8
** bits, both symmetries, every range kind, range mode and scale type; results
** independent of the thread count; NaN/Inf and overflowing ranges rejected
** with row and column; other granularities refused.
*/
#include "qk_test.h"

#include <float.h>

#include "kernels/affine_kernels.h"

enum { N_CASES = 9 };

static void fill_case(int c, float *x, int64_t n, uint64_t seed) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed * 97 + (uint64_t)c);
    for (int64_t i = 0; i < n; i++) {
        const float g = qk_test_rng_normal(&rng);
        switch (c) {
        case 0:
            x[i] = g;
            break;
        case 1:
            x[i] = 0.0f;
            break;
        case 2:
            x[i] = -2.5f;
            break; /* constant */
        case 3:
            x[i] = i % 37 == 5 ? (i & 1 ? -300.0f : 500.0f) : g;
            break; /* outliers */
        case 4:
            x[i] = g * 1e-40f;
            break; /* subnormal */
        case 5:
            x[i] = g * 1e30f;
            break; /* huge */
        case 6:
            x[i] = fabsf(g) + 1.0f;
            break; /* all positive */
        case 7:
            x[i] = i % 3 == 0 ? -0.0f : (float)(i % 5) * 0.5f;
            break; /* grid, -0 */
        default:
            x[i] = g * powf(10.0f, (float)(i % 9) - 4.0f);
            break; /* wide range */
        }
    }
}

/* The reference: qk_affine_quantize of the [rows, cols] tensor. */
static void reference(const qk_affine_scheme *s, const float *x, int64_t rows, int64_t cols,
                      qk_affine_tensor *out) {
    qk_tensor_view v;
    const int64_t shape[2] = {rows, cols};
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape, (void *)x));
    QK_ASSERT_OK(qk_affine_quantize(&v, s, out));
}

static void test_hand_computed(void **state) {
    (void)state;
    /* 4-bit asymmetric [0, 15], group 4: [-1, 2] gives scale 3/15 = 0.2f,
    ** zero point 0 - round(-1 / 0.2) = 5; codes round(x * 5) + 5 with 2.5 to
    ** even: -1 -> 0, 0 -> 5, 0.5 -> 7, 2 -> 15. Second group [0, 0] of one
    ** element... here [4, 4]: min' = 0, scale 4/15, zero point 0, 4 -> 15. */
    qk_affine_scheme s = qk_affine_scheme_default(4, false);
    s.granularity = QK_GRAN_GROUP;
    s.group_size = 4;
    const float x[5] = {-1.0f, 0.0f, 0.5f, 2.0f, 4.0f};
    uint8_t codes[5];
    float scales[2];
    int32_t zps[2];
    QK_ASSERT_OK(qk_kernels_affine_quantize_rows(&s, x, 1, 5, codes, scales, zps));
    const uint8_t want[5] = {0, 5, 7, 15, 15};
    assert_memory_equal(codes, want, 5);
    QK_ASSERT_F32_BITS_EQ(scales[0], 3.0f / 15.0f);
    assert_int_equal(zps[0], 5);
    QK_ASSERT_F32_BITS_EQ(scales[1], 4.0f / 15.0f);
    assert_int_equal(zps[1], 0);
}

static void check_scheme(const qk_affine_scheme *s, const float *x, int64_t rows, int64_t cols,
                         const char *what) {
    qk_affine_tensor ref;
    reference(s, x, rows, cols, &ref);
    const int64_t gpr = (cols + s->group_size - 1) / s->group_size, ng = rows * gpr;
    uint8_t *codes = malloc((size_t)(rows * cols));
    float *scales = malloc((size_t)ng * sizeof *scales);
    int32_t *zps = malloc((size_t)ng * sizeof *zps);
    assert_int_equal(ref.layout.n_groups, ng);
    for (int isa = QK_ISA_REF; isa <= QK_ISA_AVX512; isa++) {
        if (!qk_affine_kern_for(isa)) continue;
        memset(codes, 0xA5, (size_t)(rows * cols));
        QK_ASSERT_OK(
            qk_kernels_affine_quantize_rows_isa((qk_isa)isa, s, x, rows, cols, codes, scales, zps));
        for (int64_t i = 0; i < rows * cols; i++)
            if (codes[i] != ((uint8_t *)ref.codes)[i])
                fail_msg("%s %s bits %d sym %d G %d %lldx%lld: code %lld is %u, reference %u", what,
                         qk_isa_name((qk_isa)isa), s->bits, s->symmetric, s->group_size,
                         (long long)rows, (long long)cols, (long long)i, codes[i],
                         ((uint8_t *)ref.codes)[i]);
        for (int64_t g = 0; g < ng; g++) {
            if (memcmp(&scales[g], &ref.scales[g], sizeof(float)) != 0 ||
                zps[g] != ref.zero_points[g])
                fail_msg("%s %s group %lld: scale %a zp %d, reference %a zp %d", what,
                         qk_isa_name((qk_isa)isa), (long long)g, (double)scales[g], zps[g],
                         (double)ref.scales[g], ref.zero_points[g]);
        }
    }
    qk_affine_tensor_free(&ref);
    free(codes), free(scales), free(zps);
}

static void test_variants_match_reference(void **state) {
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {3, 7}, {2, 33}, {5, 130}, {4, 257}, {2, 1000}};
    const int32_t groups[] = {1, 3, 32, 4096};
    float *x = malloc(2000 * sizeof *x);
    for (int c = 0; c < N_CASES; c++) {
        for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
            const int64_t rows = shapes[sh][0], cols = shapes[sh][1];
            fill_case(c, x, rows * cols, sh);
            for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
                for (int bits = 2; bits <= 8; bits *= 2) {
                    for (int sym = 0; sym < 2; sym++) {
                        qk_affine_scheme s = qk_affine_scheme_default(bits, sym);
                        s.granularity = QK_GRAN_GROUP;
                        s.group_size = groups[gi];
                        /* vary the scale type and range kind with the case */
                        s.scale_type = c % 3 == 0   ? QK_TYPE_F32
                                       : c % 3 == 1 ? QK_TYPE_F16
                                                    : QK_TYPE_BF16;
                        if (c == 5 && s.scale_type != QK_TYPE_F32) continue; /* f16 overflows */
                        if (sym && c % 2) s.range = QK_QRANGE_SIGNED;
                        if (!sym && c == 8) s.range = QK_QRANGE_SIGNED;
                        check_scheme(&s, x, rows, cols, "random");
                    }
                }
            }
        }
    }
    /* clipped and fixed ranges */
    fill_case(3, x, 4 * 257, 1);
    for (int mode = QK_RANGE_CLIP; mode <= QK_RANGE_FIXED; mode++) {
        qk_affine_scheme s = qk_affine_scheme_default(4, mode == QK_RANGE_FIXED);
        s.granularity = QK_GRAN_GROUP;
        s.group_size = 64;
        s.range_mode = (qk_range_mode)mode;
        s.clip_min = -3.0f, s.clip_max = 2.0f;
        check_scheme(&s, x, 4, 257, "clip");
    }
    free(x);
}

static void test_threads_and_errors(void **state) {
    (void)state;
    enum { R = 37, C = 515 };
    float *x = malloc(R * C * sizeof *x);
    uint8_t *a = malloc(R * C), *b = malloc(R * C);
    const int64_t ng = R * ((C + 63) / 64);
    float *sa = malloc(ng * sizeof *sa), *sb = malloc(ng * sizeof *sb);
    int32_t *za = malloc(ng * sizeof *za), *zb = malloc(ng * sizeof *zb);
    fill_case(0, x, R * C, 3);
    qk_affine_scheme s = qk_affine_scheme_default(4, false);
    s.granularity = QK_GRAN_GROUP;
    s.group_size = 64;
    qk_threads_set(1);
    QK_ASSERT_OK(qk_kernels_affine_quantize_rows(&s, x, R, C, a, sa, za));
    for (int th = 2; th <= 4; th++) {
        qk_threads_set(th);
        QK_ASSERT_OK(qk_kernels_affine_quantize_rows(&s, x, R, C, b, sb, zb));
        assert_memory_equal(a, b, R * C);
        assert_memory_equal(sa, sb, ng * sizeof *sa);
        assert_memory_equal(za, zb, ng * sizeof *za);
    }
    qk_threads_set(0);
    /* non-finite values: the first (row-major) is named, on every level */
    x[20 * C + 300] = NAN;
    x[30 * C + 7] = INFINITY;
    for (int isa = QK_ISA_REF; isa <= QK_ISA_AVX512; isa++) {
        if (!qk_affine_kern_for(isa)) continue;
        QK_ASSERT_STATUS(qk_kernels_affine_quantize_rows_isa((qk_isa)isa, &s, x, R, C, b, sb, zb),
                         QK_ERR_NONFINITE);
        assert_non_null(strstr(qk_last_error(), "row 20, column 300"));
    }
    x[20 * C + 300] = 1.0f;
    QK_ASSERT_STATUS(qk_kernels_affine_quantize_rows(&s, x, R, C, b, sb, zb), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "row 30, column 7"));
    /* a range near FLT_MAX overflows (max - min is Inf) */
    x[30 * C + 7] = FLT_MAX;
    x[30 * C + 8] = -FLT_MAX;
    QK_ASSERT_STATUS(qk_kernels_affine_quantize_rows(&s, x, R, C, b, sb, zb), QK_ERR_OVERFLOW);
    assert_non_null(strstr(qk_last_error(), "row 30, group 0"));
    /* only group granularity and nearest rounding */
    s.granularity = QK_GRAN_CHANNEL;
    QK_ASSERT_STATUS(qk_kernels_affine_quantize_rows(&s, x, R, C, b, sb, zb), QK_ERR_INVALID_ARG);
    s.granularity = QK_GRAN_GROUP;
    s.rounding = QK_ROUND_STOCHASTIC;
    QK_ASSERT_STATUS(qk_kernels_affine_quantize_rows(&s, x, R, C, b, sb, zb), QK_ERR_UNSUPPORTED);
    s.rounding = QK_ROUND_NEAREST_EVEN;
    QK_ASSERT_STATUS(qk_kernels_affine_quantize_rows(&s, x, -1, C, b, sb, zb), QK_ERR_SHAPE);
    QK_ASSERT_OK(qk_kernels_affine_quantize_rows(&s, x, 0, C, b, sb, zb));
    free(x), free(a), free(b), free(sa), free(sb), free(za), free(zb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_variants_match_reference),
        cmocka_unit_test(test_threads_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
