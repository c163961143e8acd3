/*
** Full-precision targets for GPTQ (ptq_fp_target.c): the cross sum over
** several windows equals (X_f - X_q)^T X_q from the definition; the
** corrected weight equals the least-squares solution of X_q W*^T = X_f W^T
** with a ridge toward W, computed here by Gaussian elimination on the
** normal equations; it fits the f32 outputs better than W does; equal inputs
** leave W exactly as it was.
*/
#include "algo/ptq_internal.h"
#include "qk_test.h"

enum { ROWS = 5, COLS = 12, NTOK = 300, WIN = 100 };

static void make_inputs(float *xq, float *xf, float *w, bool same) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 17);
    for (int t = 0; t < NTOK; t++)
        for (int j = 0; j < COLS; j++) {
            const float v = qk_test_rng_normal(&rng) * (1.0f + 0.2f * (float)j);
            xf[t * COLS + j] = v;
            /* the quantized side: a little noise and a leak from the next column */
            xq[t * COLS + j] = same ? v : v + 0.1f * qk_test_rng_normal(&rng);
        }
    for (int t = 0; t < NTOK && !same; t++)
        for (int j = 0; j + 1 < COLS; j++) xq[t * COLS + j] += 0.05f * xf[t * COLS + j + 1];
    for (int i = 0; i < ROWS * COLS; i++) w[i] = qk_test_rng_normal(&rng);
}

/* H = 2/n Xq^T Xq and the cross sum over windows of WIN tokens. */
static void accumulate(const float *xq, const float *xf, double *h, double *cross) {
    memset(h, 0, sizeof(double) * COLS * COLS);
    memset(cross, 0, sizeof(double) * COLS * COLS);
    static float tmp[COLS * COLS];
    static float xw[WIN * COLS];
    for (int t0 = 0; t0 < NTOK; t0 += WIN) { /* the function overwrites its x_fp */
        memcpy(xw, xf + t0 * COLS, sizeof xw);
        qk_ptq_cross_add(cross, xw, xq + t0 * COLS, WIN, COLS, tmp);
    }
    for (int t = 0; t < NTOK; t++)
        for (int i = 0; i < COLS; i++)
            for (int j = 0; j < COLS; j++)
                h[i * COLS + j] += 2.0 / NTOK * (double)xq[t * COLS + i] * xq[t * COLS + j];
}

static double output_error(const float *xq, const float *xf, const float *w, const float *wq) {
    double e = 0.0;
    for (int t = 0; t < NTOK; t++)
        for (int r = 0; r < ROWS; r++) {
            double yf = 0.0, yq = 0.0;
            for (int j = 0; j < COLS; j++) {
                yf += (double)xf[t * COLS + j] * w[r * COLS + j];
                yq += (double)xq[t * COLS + j] * wq[r * COLS + j];
            }
            e += (yf - yq) * (yf - yq);
        }
    return e;
}

static void test_cross_sum(void **state) {
    (void)state;
    static float xq[NTOK * COLS], xf[NTOK * COLS], w[ROWS * COLS];
    static double h[COLS * COLS], cross[COLS * COLS];
    make_inputs(xq, xf, w, false);
    accumulate(xq, xf, h, cross);
    for (int i = 0; i < COLS; i++)
        for (int j = 0; j < COLS; j++) {
            double v = 0.0;
            for (int t = 0; t < NTOK; t++)
                v += ((double)xf[t * COLS + i] - xq[t * COLS + i]) * xq[t * COLS + j];
            assert_true(fabs(cross[i * COLS + j] - v) <= 1e-4 * (1.0 + fabs(v)));
        }
}

/* The minimizer of ||Xf W^T - Xq W*^T||^2 + lambda ||W* - W||^2 (a ridge
** toward W), lambda = damp * mean(diag H) * n / 2: W*^T = (Xq^T Xq +
** lambda I)^-1 (Xq^T Xf W^T + lambda W^T). */
static void expected_target(const float *xq, const float *xf, const float *w, const double *h,
                            double damp, double *out) {
    double mean = 0.0;
    for (int i = 0; i < COLS; i++) mean += h[i * COLS + i];
    mean /= COLS;
    for (int r = 0; r < ROWS; r++) {
        double m[COLS][COLS + 1];
        for (int i = 0; i < COLS; i++) {
            for (int j = 0; j < COLS; j++) {
                double v = 0.0;
                for (int t = 0; t < NTOK; t++) v += (double)xq[t * COLS + i] * xq[t * COLS + j];
                m[i][j] = v + (i == j ? damp * mean * NTOK / 2.0 : 0.0);
            }
            double b = 0.0;
            for (int t = 0; t < NTOK; t++) {
                double yf = 0.0;
                for (int j = 0; j < COLS; j++) yf += (double)xf[t * COLS + j] * w[r * COLS + j];
                b += (double)xq[t * COLS + i] * yf;
            }
            m[i][COLS] = b + damp * mean * NTOK / 2.0 * w[r * COLS + i];
        }
        for (int p = 0; p < COLS; p++)
            for (int i = p + 1; i < COLS; i++) {
                const double f = m[i][p] / m[p][p];
                for (int j = p; j <= COLS; j++) m[i][j] -= f * m[p][j];
            }
        for (int i = COLS - 1; i >= 0; i--) {
            double v = m[i][COLS];
            for (int j = i + 1; j < COLS; j++) v -= m[i][j] * out[r * COLS + j];
            out[r * COLS + i] = v / m[i][i];
        }
    }
}

static void test_least_squares_target(void **state) {
    (void)state;
    static float xq[NTOK * COLS], xf[NTOK * COLS], w[ROWS * COLS], ws[ROWS * COLS];
    static double h[COLS * COLS], cross[COLS * COLS], expect[ROWS * COLS];
    make_inputs(xq, xf, w, false);
    accumulate(xq, xf, h, cross);
    const double damps[2] = {0.0, 0.01};
    for (int k = 0; k < 2; k++) {
        memcpy(ws, w, sizeof w);
        QK_ASSERT_OK(qk_ptq_fp_target(ws, ROWS, COLS, h, cross, NTOK, damps[k]));
        expected_target(xq, xf, w, h, damps[k], expect);
        for (int i = 0; i < ROWS * COLS; i++)
            if (fabs(ws[i] - expect[i]) > 1e-4 * (1.0 + fabs(expect[i])))
                fail_msg("damp %g, element %d: %.7g, expected %.7g", damps[k], i, ws[i], expect[i]);
        /* the f32 outputs are fitted better than by W itself */
        assert_true(output_error(xq, xf, w, ws) < 0.5 * output_error(xq, xf, w, w));
    }
}

static void test_equal_inputs_leave_w(void **state) {
    (void)state;
    static float xq[NTOK * COLS], xf[NTOK * COLS], w[ROWS * COLS], ws[ROWS * COLS];
    static double h[COLS * COLS], cross[COLS * COLS];
    make_inputs(xq, xf, w, true);
    accumulate(xq, xf, h, cross);
    memcpy(ws, w, sizeof w);
    QK_ASSERT_OK(qk_ptq_fp_target(ws, ROWS, COLS, h, cross, NTOK, 0.01));
    assert_memory_equal(ws, w, sizeof w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_sum),
        cmocka_unit_test(test_least_squares_target),
        cmocka_unit_test(test_equal_inputs_leave_w),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
