/*
** GPTQ on an affine grid: agreement with an independent straightforward
** implementation (plain loops, the inverse Hessian computed directly by
** Gauss-Jordan elimination and shrunk column by column as in OBQ, no lazy
** blocks, no act-order); GPTQ beats round-to-nearest on correlated inputs;
** the act-order / static-groups g_idx layout on hand-checkable cases; dead
** columns; damping raised on an indefinite or singular H; determinism
** across thread counts; the Hessian accumulation and error helpers.
*/
#include <float.h>

#include "qk_test.h"

/* Correlated inputs: x[t][j] = 0.8 x[t][j-1] + 0.6 z, per-column scales. */
static float *correlated_inputs(qk_test_rng *rng, int64_t n, int64_t cols) {
    float *x = malloc((size_t)(n * cols) * sizeof *x);
    float *s = malloc((size_t)cols * sizeof *s);
    for (int64_t j = 0; j < cols; j++) s[j] = 0.5f + 1.5f * (float)qk_test_rng_uniform(rng);
    for (int64_t t = 0; t < n; t++) {
        float prev = qk_test_rng_normal(rng);
        for (int64_t j = 0; j < cols; j++) {
            prev = 0.8f * prev + 0.6f * qk_test_rng_normal(rng);
            x[t * cols + j] = prev * s[j];
        }
    }
    free(s);
    return x;
}

/* H = 2/n X^T X in double, straight from the definition. */
static double *direct_hessian(const float *x, int64_t n, int64_t cols) {
    double *h = calloc((size_t)(cols * cols), sizeof *h);
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < cols; i++)
            for (int64_t j = 0; j < cols; j++)
                h[i * cols + j] += (double)x[t * cols + i] * (double)x[t * cols + j];
    for (int64_t i = 0; i < cols * cols; i++) h[i] *= 2.0 / (double)n;
    return h;
}

static double h_error(const double *h, const float *a, const float *b, int64_t rows, int64_t cols) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < cols; i++)
            for (int64_t j = 0; j < cols; j++)
                s += ((double)a[r * cols + i] - b[r * cols + i]) * h[i * cols + j] *
                     ((double)a[r * cols + j] - b[r * cols + j]);
    return s;
}

/* ---- the independent implementation ----------------------------------- */

/* torch.ao / GPTQ grid parameters with an f32 scale. */
static void ref_params(const float *x, int64_t n, int bits, bool sym, float *scale, int *zero) {
    const int maxq = (1 << bits) - 1;
    float lo = 0.0f, hi = 0.0f; /* the range always includes 0 */
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (sym) {
        const float amax = -lo > hi ? -lo : hi;
        *scale = amax / ((float)maxq / 2.0f);
        if (!(*scale >= FLT_EPSILON)) *scale = FLT_EPSILON;
        *zero = (maxq + 1) / 2;
    } else {
        *scale = (hi - lo) / (float)maxq;
        if (!(*scale >= FLT_EPSILON)) *scale = FLT_EPSILON;
        float z = -nearbyintf(lo / *scale);
        *zero = z < 0 ? 0 : z > maxq ? maxq : (int)z;
    }
}

static float ref_quant(float x, float scale, int zero, int maxq) {
    float q = nearbyintf(x * (1.0f / scale)) + (float)zero;
    q = q < 0 ? 0 : q > (float)maxq ? (float)maxq : q;
    return ((float)((int)q - zero)) * scale;
}

/* Unblocked GPTQ/OBQ: Hinv = (H + damp I)^-1 by Gauss-Jordan; for each
** column j: q = Q(w_j), e = (w_j - q) / Hinv[j][j], w_k -= e Hinv[j][k]
** (k > j), then Hinv -= Hinv[:, j] Hinv[j, :] / Hinv[j][j]. Groups take
** their parameters from the current (updated) weights at their first
** column; per channel (group == cols) from the original row. */
static void ref_gptq(const float *w, int64_t rows, int64_t cols, const double *h, int bits,
                     bool sym, int64_t group, float *out) {
    const int64_t n = cols;
    double *a = calloc((size_t)(n * 2 * n), sizeof *a);
    double mean = 0.0;
    for (int64_t i = 0; i < n; i++) mean += h[i * n + i] == 0.0 ? 1.0 : h[i * n + i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < n; j++) a[i * 2 * n + j] = h[i * n + j];
        if (h[i * n + i] == 0.0) a[i * 2 * n + i] = 1.0;
        a[i * 2 * n + i] += 0.01 * mean;
        a[i * 2 * n + n + i] = 1.0;
    }
    for (int64_t c = 0; c < n; c++) { /* Gauss-Jordan without pivoting (H is SPD) */
        const double p = a[c * 2 * n + c];
        for (int64_t j = 0; j < 2 * n; j++) a[c * 2 * n + j] /= p;
        for (int64_t i = 0; i < n; i++) {
            if (i == c) continue;
            const double f = a[i * 2 * n + c];
            for (int64_t j = 0; j < 2 * n; j++) a[i * 2 * n + j] -= f * a[c * 2 * n + j];
        }
    }
    double *hinv = malloc((size_t)(n * n) * sizeof *hinv);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) hinv[i * n + j] = a[i * 2 * n + n + j];
    free(a);
    double *wd = malloc((size_t)(rows * cols) * sizeof *wd);
    for (int64_t i = 0; i < rows * cols; i++)
        wd[i] = h[(i % cols) * n + i % cols] == 0.0 ? 0.0 : (double)w[i];
    float *scale = malloc((size_t)rows * sizeof *scale);
    int *zero = malloc((size_t)rows * sizeof *zero);
    float *buf = malloc((size_t)cols * sizeof *buf);
    const int maxq = (1 << bits) - 1;
    for (int64_t j = 0; j < n; j++) {
        if (j % group == 0)
            for (int64_t r = 0; r < rows; r++) {
                const int64_t len = j + group < cols ? group : cols - j;
                for (int64_t i = 0; i < len; i++) buf[i] = (float)wd[r * cols + j + i];
                ref_params(buf, len, bits, sym, &scale[r], &zero[r]);
            }
        const double d = hinv[j * n + j];
        for (int64_t r = 0; r < rows; r++) {
            const double x = wd[r * cols + j];
            const double q = ref_quant((float)x, scale[r], zero[r], maxq);
            out[r * cols + j] = (float)q;
            const double e = (x - q) / d;
            for (int64_t k = j + 1; k < n; k++) wd[r * cols + k] -= e * hinv[j * n + k];
        }
        for (int64_t i = j + 1; i < n; i++)
            for (int64_t k = j + 1; k < n; k++)
                hinv[i * n + k] -= hinv[i * n + j] * hinv[j * n + k] / d;
    }
    free(hinv);
    free(wd);
    free(scale);
    free(zero);
    free(buf);
}

/* ---- tests ------------------------------------------------------------ */

static void run_vs_reference(int bits, bool sym, int32_t group_size, int32_t block) {
    const int64_t rows = 40, cols = 160, n = 320;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 1000 + (uint64_t)bits * 7 + (uint64_t)group_size);
    float *x = correlated_inputs(&rng, n, cols);
    double *h = direct_hessian(x, n, cols);
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    qk_test_fill_normal(&rng, w, (size_t)(rows * cols), 0.05f);
    float *mine = malloc((size_t)(rows * cols) * sizeof *mine);
    float *ref = malloc((size_t)(rows * cols) * sizeof *ref);
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.bits = bits;
    opt.symmetric = sym;
    opt.group_size = group_size;
    opt.scale_type = QK_TYPE_F32;
    opt.block_size = block;
    qk_quantized_linear q;
    qk_gptq_report rep;
    QK_ASSERT_OK(qk_gptq_quantize(w, rows, cols, h, &opt, &q, mine, &rep));
    ref_gptq(w, rows, cols, h, bits, sym, group_size ? group_size : cols, ref);
    const double e_mine = h_error(h, w, mine, rows, cols), e_ref = h_error(h, w, ref, rows, cols);
    QK_ASSERT_NEAR_REL(e_mine, e_ref, 1e-5);
    int64_t same = 0;
    for (int64_t i = 0; i < rows * cols; i++) same += mine[i] == ref[i];
    assert_true(same >= rows * cols * 999 / 1000);
    /* the representation dequantizes to the returned weights */
    float *deq = malloc((size_t)(rows * cols) * sizeof *deq);
    QK_ASSERT_OK(qk_quantized_linear_dequantize(&q, deq));
    assert_memory_equal(deq, mine, (size_t)(rows * cols) * sizeof *deq);
    assert_null(q.g_idx);
    assert_int_equal(rep.damp_raises, 0);
    QK_ASSERT_NEAR_REL(rep.damp, 0.01, 1e-15);
    /* and beats round-to-nearest on the same grid */
    float *rtn = malloc((size_t)(rows * cols) * sizeof *rtn);
    qk_quantized_linear qr;
    QK_ASSERT_OK(qk_rtn_quantize(w, rows, cols, &opt, &qr, rtn));
    const double e_rtn = h_error(h, w, rtn, rows, cols);
    print_message("  %d bits %s group %d block %d: H-error gptq %.6g reference %.6g rtn %.6g\n",
                  bits, sym ? "sym" : "asym", group_size, block, e_mine, e_ref, e_rtn);
    assert_true(e_mine < 0.8 * e_rtn);
    qk_quantized_linear_free(&q);
    qk_quantized_linear_free(&qr);
    free(x), free(h), free(w), free(mine), free(ref), free(deq), free(rtn);
}

static void test_vs_reference_w4_g32(void **state) {
    (void)state;
    run_vs_reference(4, false, 32, 128); /* groups inside lazy blocks */
    run_vs_reference(4, false, 32, 48);  /* block made a multiple of the group */
}
static void test_vs_reference_w3_channel(void **state) {
    (void)state;
    run_vs_reference(3, false, 0, 64);
    run_vs_reference(3, true, 0, 128);
}
static void test_vs_reference_w2_sym_g64(void **state) {
    (void)state;
    run_vs_reference(2, true, 64, 32);    /* group larger than the block */
    run_vs_reference(8, false, 100, 128); /* a last group of 60 */
}

/* 2 rows x 8 columns, diagonal H (no error feedback): diag order gives
** perm = [3, 5, 7, 1, 6, 2, 4, 0]. */
static void test_act_order_g_idx(void **state) {
    (void)state;
    const float w[16] = {0.0f,  0.1f, 0.2f, 0.3f,  0.4f, 0.5f, 0.6f, 0.7f,
                         -0.8f, 0.4f, 0.2f, -0.2f, 0.0f, 0.1f, 0.3f, 0.6f};
    const double diag[8] = {1, 5, 3, 8, 2, 7, 4, 6};
    double h[64] = {0};
    for (int i = 0; i < 8; i++) h[i * 8 + i] = diag[i];
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.group_size = 4;
    opt.act_order = true;
    opt.scale_type = QK_TYPE_F32;
    qk_quantized_linear q;
    float out[16], deq[16];
    QK_ASSERT_OK(qk_gptq_quantize(w, 2, 8, h, &opt, &q, out, NULL));
    /* dynamic: group 0 = columns processed first {3, 5, 7, 1}, group 1 = {6, 2, 4, 0} */
    const int32_t dyn[8] = {1, 0, 1, 0, 1, 0, 1, 0};
    assert_non_null(q.g_idx);
    assert_memory_equal(q.g_idx, dyn, sizeof dyn);
    /* row 0: odd columns 0.1 .. 0.7 -> range [0, 0.7]; even 0 .. 0.6 -> [0, 0.6] */
    QK_ASSERT_F32_BITS_EQ(q.scales[0 * 2 + 0], 0.7f / 15.0f);
    QK_ASSERT_F32_BITS_EQ(q.scales[1 * 2 + 0], 0.6f / 15.0f);
    assert_int_equal(q.zeros[0], 0);
    /* row 1: odd columns {0.4, -0.2, 0.1, 0.6} -> [-0.2, 0.6]; zero = round(0.2 / scale) */
    const float s1 = (0.6f - -0.2f) / 15.0f;
    QK_ASSERT_F32_BITS_EQ(q.scales[0 * 2 + 1], s1);
    assert_int_equal(q.zeros[0 * 2 + 1], (int)nearbyintf(0.2f / s1));
    QK_ASSERT_OK(qk_quantized_linear_dequantize(&q, deq));
    assert_memory_equal(deq, out, sizeof out);
    /* with a diagonal H nothing propagates: every weight is its own nearest grid value */
    for (int c = 0; c < 8; c++) {
        const int g = dyn[c];
        QK_ASSERT_F32_BITS_EQ(out[c], ref_quant(w[c], q.scales[g * 2], q.zeros[g * 2], 15));
    }
    qk_quantized_linear_free(&q);
    /* static groups: the original column order, whatever the processing order */
    opt.static_groups = true;
    QK_ASSERT_OK(qk_gptq_quantize(w, 2, 8, h, &opt, &q, out, NULL));
    const int32_t stat[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    assert_non_null(q.g_idx);
    assert_memory_equal(q.g_idx, stat, sizeof stat);
    QK_ASSERT_F32_BITS_EQ(q.scales[0], 0.3f / 15.0f); /* row 0, columns 0..3 */
    QK_ASSERT_F32_BITS_EQ(q.scales[2], 0.7f / 15.0f); /* row 0, columns 4..7 */
    QK_ASSERT_OK(qk_quantized_linear_dequantize(&q, deq));
    assert_memory_equal(deq, out, sizeof out);
    qk_quantized_linear_free(&q);
    /* per channel with act-order: one group */
    opt.group_size = 0;
    opt.static_groups = false;
    QK_ASSERT_OK(qk_gptq_quantize(w, 2, 8, h, &opt, &q, out, NULL));
    assert_int_equal(q.n_groups, 1);
    for (int c = 0; c < 8; c++) assert_int_equal(q.g_idx[c], 0);
    QK_ASSERT_F32_BITS_EQ(q.scales[0], 0.7f / 15.0f);
    qk_quantized_linear_free(&q);
}

/* Act-order on correlated inputs: valid output whose dequantization
** matches, and no worse than RTN. */
static void test_act_order_correlated(void **state) {
    (void)state;
    const int64_t rows = 24, cols = 96, n = 200;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 77);
    float *x = correlated_inputs(&rng, n, cols);
    double *h = direct_hessian(x, n, cols);
    float *w = malloc((size_t)(rows * cols) * sizeof *w), out[24 * 96], deq[24 * 96], rtn[24 * 96];
    qk_test_fill_normal(&rng, w, (size_t)(rows * cols), 1.0f);
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.bits = 3;
    opt.group_size = 32;
    qk_quantized_linear q, qr;
    QK_ASSERT_OK(qk_rtn_quantize(w, rows, cols, &opt, &qr, rtn));
    const double e_rtn = h_error(h, w, rtn, rows, cols);
    for (int variant = 0; variant < 2; variant++) {
        opt.act_order = true;
        opt.static_groups = variant == 1;
        QK_ASSERT_OK(qk_gptq_quantize(w, rows, cols, h, &opt, &q, out, NULL));
        QK_ASSERT_OK(qk_quantized_linear_dequantize(&q, deq));
        assert_memory_equal(deq, out, sizeof out);
        int counts[3] = {0};
        for (int c = 0; c < cols; c++) counts[q.g_idx[c]]++;
        for (int g = 0; g < 3; g++) assert_int_equal(counts[g], 32);
        for (size_t i = 0; i < (size_t)(q.n_groups * rows); i++) /* f16 scales */
            QK_ASSERT_F32_BITS_EQ(qk_f16_to_f32(qk_f32_to_f16(q.scales[i])), q.scales[i]);
        const double e = h_error(h, w, out, rows, cols);
        print_message("  act-order %s: H-error %.6g (rtn %.6g)\n", variant ? "static" : "dynamic",
                      e, e_rtn);
        assert_true(e < 0.8 * e_rtn);
        qk_quantized_linear_free(&q);
    }
    qk_quantized_linear_free(&qr);
    free(x), free(h), free(w);
}

static void test_dead_columns(void **state) {
    (void)state;
    const int64_t rows = 8, cols = 16, n = 64;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 5);
    float *x = correlated_inputs(&rng, n, cols);
    for (int64_t t = 0; t < n; t++) x[t * cols + 3] = x[t * cols + 10] = 0.0f; /* never active */
    double *h = direct_hessian(x, n, cols);
    float w[8 * 16], out[8 * 16];
    qk_test_fill_normal(&rng, w, 8 * 16, 1.0f);
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.group_size = 8;
    qk_quantized_linear q;
    qk_gptq_report rep;
    QK_ASSERT_OK(qk_gptq_quantize(w, rows, cols, h, &opt, &q, out, &rep));
    assert_int_equal(rep.dead_cols, 2);
    for (int r = 0; r < rows; r++) {
        assert_true(out[r * cols + 3] == 0.0f);
        assert_true(out[r * cols + 10] == 0.0f);
    }
    qk_quantized_linear_free(&q);
    free(x), free(h);
}

static void test_damping_raised(void **state) {
    (void)state;
    /* H = R diag(1, 1, 1, -0.02) R, R a Householder reflection: indefinite. */
    const double v[4] = {1, 2, -1, 0.5};
    const double lam[4] = {1, 1, 1, -0.02};
    double vv = 0, hh[16], r[16];
    for (int i = 0; i < 4; i++) vv += v[i] * v[i];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) r[i * 4 + j] = (i == j) - 2 * v[i] * v[j] / vv;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double s = 0;
            for (int k = 0; k < 4; k++) s += r[i * 4 + k] * lam[k] * r[k * 4 + j];
            hh[i * 4 + j] = s;
        }
    const float w[8] = {0.3f, -0.1f, 0.25f, 0.05f, -0.4f, 0.2f, 0.1f, 0.0f};
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    qk_quantized_linear q;
    qk_gptq_report rep;
    /* mean diag = 2.98 / 4: 0.01 of it (0.00745) leaves -0.0126, 0.1 (0.0745) is enough */
    QK_ASSERT_OK(qk_gptq_quantize(w, 2, 4, hh, &opt, &q, NULL, &rep));
    assert_int_equal(rep.damp_raises, 1);
    QK_ASSERT_NEAR_REL(rep.damp, 0.1, 1e-12);
    qk_quantized_linear_free(&q);
    opt.damp_max = 0.05;
    QK_ASSERT_STATUS(qk_gptq_quantize(w, 2, 4, hh, &opt, &q, NULL, &rep), QK_ERR_NUMERIC);
    assert_null(q.codes);
    /* a singular H (one token) with no damping asked for: raised from 0 to 1e-4 */
    const float xt[4] = {1.0f, 2.0f, -1.0f, 0.5f};
    double hs[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) hs[i * 4 + j] = 2.0 * xt[i] * xt[j];
    opt.damp = 0.0;
    opt.damp_max = 1.0;
    QK_ASSERT_OK(qk_gptq_quantize(w, 2, 4, hs, &opt, &q, NULL, &rep));
    assert_int_equal(rep.damp_raises, 1);
    QK_ASSERT_NEAR_REL(rep.damp, 1e-4, 1e-12);
    qk_quantized_linear_free(&q);
}

static void test_threads_identical(void **state) {
    (void)state;
    const int64_t rows = 150, cols = 96, n = 128;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 9);
    float *x = correlated_inputs(&rng, n, cols);
    qk_hessian *hs;
    QK_ASSERT_OK(qk_hessian_create(cols, &hs));
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    qk_test_fill_normal(&rng, w, (size_t)(rows * cols), 1.0f);
    float *o1 = malloc((size_t)(rows * cols) * sizeof *o1);
    float *o2 = malloc((size_t)(rows * cols) * sizeof *o2);
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.act_order = true;
    opt.group_size = 32;
    opt.mse = true;
    qk_quantized_linear q1, q2;
    const int saved = qk_threads_get();
    qk_threads_set(1);
    QK_ASSERT_OK(qk_hessian_add(hs, x, n));
    double *h1 = malloc((size_t)(cols * cols) * sizeof *h1);
    memcpy(h1, qk_hessian_data(hs), (size_t)(cols * cols) * sizeof *h1);
    QK_ASSERT_OK(qk_gptq_quantize(w, rows, cols, h1, &opt, &q1, o1, NULL));
    qk_threads_set(2);
    qk_hessian_reset(hs);
    QK_ASSERT_OK(qk_hessian_add(hs, x, n));
    assert_memory_equal(qk_hessian_data(hs), h1, (size_t)(cols * cols) * sizeof *h1);
    QK_ASSERT_OK(qk_gptq_quantize(w, rows, cols, qk_hessian_data(hs), &opt, &q2, o2, NULL));
    qk_threads_set(saved);
    assert_memory_equal(o1, o2, (size_t)(rows * cols) * sizeof *o1);
    assert_memory_equal(q1.codes, q2.codes, (size_t)(rows * cols));
    assert_memory_equal(q1.scales, q2.scales, (size_t)(q1.n_groups * rows) * sizeof(float));
    assert_memory_equal(q1.g_idx, q2.g_idx, (size_t)cols * sizeof(int32_t));
    qk_quantized_linear_free(&q1);
    qk_quantized_linear_free(&q2);
    qk_hessian_free(hs);
    free(x), free(w), free(o1), free(o2), free(h1);
}

static void test_hessian_accumulation(void **state) {
    (void)state;
    const int64_t cols = 300, n = 90; /* crosses the 256-column tile edge */
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 21);
    float *x = malloc((size_t)(n * cols) * sizeof *x);
    qk_test_fill_normal(&rng, x, (size_t)(n * cols), 1.0f);
    qk_hessian *h;
    QK_ASSERT_OK(qk_hessian_create(cols, &h));
    QK_ASSERT_OK(qk_hessian_add(h, x, 20)); /* batches of 20, 0, 70 rows */
    QK_ASSERT_OK(qk_hessian_add(h, x + 20 * cols, 0));
    QK_ASSERT_OK(qk_hessian_add(h, x + 20 * cols, 70));
    assert_int_equal(qk_hessian_rows(h), n);
    double *ref = direct_hessian(x, n, cols);
    const double *got = qk_hessian_data(h);
    for (int64_t i = 0; i < cols; i++)
        for (int64_t j = 0; j < cols; j++) {
            assert_true(got[i * cols + j] == got[j * cols + i]);
            QK_ASSERT_NEAR_ABS(got[i * cols + j], ref[i * cols + j], 2e-5);
        }
    /* the error helper: tr((A - B) H (A - B)^T) */
    float a[3 * 300], b[3 * 300];
    qk_test_fill_normal(&rng, a, 900, 1.0f);
    qk_test_fill_normal(&rng, b, 900, 1.0f);
    double e;
    QK_ASSERT_OK(qk_hessian_error(ref, a, b, 3, cols, &e));
    QK_ASSERT_NEAR_REL(e, h_error(ref, a, b, 3, cols), 1e-10);
    x[5 * cols + 7] = NAN;
    QK_ASSERT_STATUS(qk_hessian_add(h, x, n), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "row 5 column 7"));
    qk_hessian_free(h);
    free(x), free(ref);
}

/* The MSE search never loses to min-max by its own measure (sum |e|^2.4). */
static void test_mse_search(void **state) {
    (void)state;
    const int64_t rows = 16, cols = 128;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 3);
    float w[16 * 128], a[16 * 128], b[16 * 128];
    qk_test_fill_normal(&rng, w, 16 * 128, 1.0f);
    for (int i = 0; i < 16; i++) w[i * 128 + i] *= 8.0f; /* an outlier per row */
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.bits = 3;
    opt.group_size = 64;
    qk_quantized_linear q;
    QK_ASSERT_OK(qk_rtn_quantize(w, rows, cols, &opt, &q, a));
    qk_quantized_linear_free(&q);
    opt.mse = true;
    QK_ASSERT_OK(qk_rtn_quantize(w, rows, cols, &opt, &q, b));
    qk_quantized_linear_free(&q);
    int better = 0;
    for (int g = 0; g < rows * cols / 64; g++) {
        double ea = 0, eb = 0;
        for (int i = g * 64; i < g * 64 + 64; i++) {
            ea += pow(fabs(a[i] - w[i]), 2.4);
            eb += pow(fabs(b[i] - w[i]), 2.4);
        }
        assert_true(eb <= ea);
        better += eb < ea;
    }
    assert_true(better > 0);
}

static void test_bad_arguments(void **state) {
    (void)state;
    const float w[4] = {1, 2, 3, 4};
    const double h[4] = {1, 0, 0, 1};
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    qk_quantized_linear q;
    opt.bits = 9;
    QK_ASSERT_STATUS(qk_gptq_quantize(w, 2, 2, h, &opt, &q, NULL, NULL), QK_ERR_INVALID_ARG);
    opt.bits = 4;
    const double hn[4] = {1, NAN, NAN, 1};
    QK_ASSERT_STATUS(qk_gptq_quantize(w, 2, 2, hn, &opt, &q, NULL, NULL), QK_ERR_NONFINITE);
    const float wn[4] = {1, INFINITY, 3, 4};
    QK_ASSERT_STATUS(qk_gptq_quantize(wn, 2, 2, h, &opt, &q, NULL, NULL), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "row 0 column 1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vs_reference_w4_g32),
        cmocka_unit_test(test_vs_reference_w3_channel),
        cmocka_unit_test(test_vs_reference_w2_sym_g64),
        cmocka_unit_test(test_act_order_g_idx),
        cmocka_unit_test(test_act_order_correlated),
        cmocka_unit_test(test_dead_columns),
        cmocka_unit_test(test_damping_raised),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_hessian_accumulation),
        cmocka_unit_test(test_mse_search),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
