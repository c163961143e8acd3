/*
** qk_matmul on every weight type: the decode path (n_rows <= 4: quantized
** activations, one dot per output) against the reference kernels and
** within the activation's rounding error of the f32 product; the sgemm
** path against a double-precision product of the dequantized weights;
** outputs bit-identical for 1, 2, 3 and 4 threads; argument errors.
*/
#include "qk_test.h"

#include "kernels/kernels_internal.h"
#include "kernels_test_util.h"

static const qk_type TYPES[] = {QK_TYPE_Q4_0, QK_TYPE_Q4_1,   QK_TYPE_Q5_0, QK_TYPE_Q5_1,
                                QK_TYPE_Q8_0, QK_TYPE_IQ4_NL, QK_TYPE_Q2_K, QK_TYPE_Q3_K,
                                QK_TYPE_Q4_K, QK_TYPE_Q5_K,   QK_TYPE_Q6_K, QK_TYPE_F16,
                                QK_TYPE_BF16, QK_TYPE_F32};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])
enum { OUT = 37, IN = 768 };

static unsigned char *make_weight(qk_type type, qk_tensor_view *v, float *wf) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 1234 + (uint64_t)type);
    float *x = malloc((size_t)OUT * IN * sizeof *x);
    qk_test_fill_normal(&rng, x, (size_t)OUT * IN, 0.05f);
    x[5 * IN + 17] = 3.0f; /* an outlier */
    size_t rb;
    QK_ASSERT_OK(qk_type_row_bytes(type, IN, &rb));
    unsigned char *w = malloc(rb * OUT);
    QK_ASSERT_OK(qk_quantize_rows(type, x, w, OUT, IN, NULL));
    for (int r = 0; r < OUT; r++)
        QK_ASSERT_OK(qk_dequantize_row(type, w + r * rb, wf + r * IN, IN));
    const int64_t shape[2] = {OUT, IN};
    QK_ASSERT_OK(qk_tensor_view_init(v, type, 2, shape, w));
    free(x);
    return w;
}

static void run_threads(const qk_tensor_view *v, const float *x, int n_rows, float *y) {
    float *y2 = malloc((size_t)n_rows * OUT * sizeof *y2);
    qk_threads_set(1);
    QK_ASSERT_OK(qk_matmul(v, x, n_rows, y));
    for (int th = 2; th <= 4; th++) {
        qk_threads_set(th);
        QK_ASSERT_OK(qk_matmul(v, x, n_rows, y2));
        for (int i = 0; i < n_rows * OUT; i++)
            if (qk_test_f32_bits(y[i]) != qk_test_f32_bits(y2[i]))
                fail_msg("%s n_rows %d: output %d differs with %d threads (%.9g vs %.9g)",
                         qk_type_name(v->type), n_rows, i, th, (double)y2[i], (double)y[i]);
    }
    qk_threads_set(0);
    free(y2);
}

static void test_matmul_all_types(void **state) {
    (void)state;
    const int ROWS[] = {1, 3, 4, 5, 9};
    float *wf = malloc((size_t)OUT * IN * sizeof *wf);
    float *x = malloc(9 * IN * sizeof *x), *y = malloc(9 * OUT * sizeof *y);
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 99);
    qk_test_fill_normal(&rng, x, 9 * IN, 1.0f);
    x[2 * IN + 100] = 40.0f;
    for (size_t t = 0; t < N_TYPES; t++) {
        qk_tensor_view v;
        unsigned char *w = make_weight(TYPES[t], &v, wf);
        size_t rb;
        QK_ASSERT_OK(qk_type_row_bytes(TYPES[t], IN, &rb));
        const qk_kernel_ops *ops = qk_kernels_get(TYPES[t], qk_isa_get());
        const qk_kernel_ops *ref = qk_kernels_get(TYPES[t], QK_ISA_REF);
        for (size_t k = 0; k < sizeof ROWS / sizeof ROWS[0]; k++) {
            const int n_rows = ROWS[k];
            run_threads(&v, x, n_rows, y);
            const bool dot_path = n_rows <= QK_MATMUL_DOT_ROWS && TYPES[t] != QK_TYPE_F32;
            for (int i = 0; i < n_rows; i++) {
                const float *xi = x + i * IN;
                unsigned char act[8192];
                float af[IN];
                if (dot_path && ops->vec_dot_act) {
                    ref->quantize_act(xi, act, IN);
                    /* the activation's values: d * q */
                    if (ref->act_type == QK_TYPE_Q8_K) {
                        QK_ASSERT_OK(qk_dequantize_row(QK_TYPE_Q8_K, act, af, IN));
                    } else {
                        for (int j = 0; j < IN; j++)
                            af[j] = *qk_act32_cd(act, j / 32) *
                                    (float)(int8_t)act[qk_act32_offset(j / 32, j % 32)];
                    }
                }
                for (int r = 0; r < OUT; r++) {
                    const float got = y[i * OUT + r];
                    double exact = 0, abs_sum = 0, err_bound = 0;
                    for (int j = 0; j < IN; j++) {
                        exact += (double)wf[r * IN + j] * xi[j];
                        abs_sum += fabs((double)wf[r * IN + j] * xi[j]);
                        if (dot_path && ops->vec_dot_act)
                            err_bound += fabs((double)wf[r * IN + j] * ((double)af[j] - xi[j]));
                    }
                    if (dot_path && ops->vec_dot_act) {
                        /* same as the reference kernel within the stated bound */
                        const double qa_abs = kt_dot_magnitude(TYPES[t], w + r * rb, af, IN);
                        const double want = ref->vec_dot_act(w + r * rb, act, IN);
                        if (!(fabs(got - want) <=
                              QK_KERNELS_DOT_REL_TOL * qa_abs + QK_KERNELS_DOT_ABS_TOL * IN))
                            fail_msg("%s row %d out %d: %.9g vs reference %.9g",
                                     qk_type_name(TYPES[t]), i, r, (double)got, want);
                        /* and the f32 product up to the activation's rounding */
                        if (!(fabs(got - exact) <= err_bound + 1e-5 * qa_abs + 1e-5 * abs_sum))
                            fail_msg("%s row %d out %d: %.9g vs f32 product %.9g (bound %g)",
                                     qk_type_name(TYPES[t]), i, r, (double)got, exact, err_bound);
                    } else if (!(fabs(got - exact) <=
                                 1e-5 * kt_dot_magnitude(TYPES[t], w + r * rb, xi, IN) + 1e-30)) {
                        fail_msg("%s n_rows %d row %d out %d: %.9g vs %.9g", qk_type_name(TYPES[t]),
                                 n_rows, i, r, (double)got, exact);
                    }
                }
            }
        }
        free(w);
    }
    free(wf), free(x), free(y);
}

static void test_matmul_errors(void **state) {
    (void)state;
    float w[64] = {0}, x[32] = {0}, y[2];
    qk_tensor_view v;
    const int64_t shape3[3] = {1, 2, 32};
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 3, shape3, w));
    QK_ASSERT_STATUS(qk_matmul(&v, x, 1, y), QK_ERR_SHAPE);
    const int64_t shape2[2] = {2, 32};
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape2, w));
    QK_ASSERT_STATUS(qk_matmul(&v, NULL, 1, y), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_matmul(&v, x, -1, y), QK_ERR_SHAPE);
    QK_ASSERT_OK(qk_matmul(&v, x, 0, y));
    QK_ASSERT_STATUS(qk_matmul(NULL, x, 1, y), QK_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_all_types),
        cmocka_unit_test(test_matmul_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
