/*
** LLM.int8 and SmoothQuant W8A8: the exact int8 product against int64
** loops; bitsandbytes' vector-wise quantization on a hand case, outlier
** columns at the threshold boundary; the mixed product and the W8A8 product
** against independent double implementations (integer parts exact, the
** float parts within a stated tolerance); SmoothQuant's scales on a hand
** case; smoothing without quantization keeps the model's function.
*/
#include "qk_test.h"

#include "qk_test_model.h"

/* ---- int8 product ---------------------------------------------------------- */

static void test_int8_gemm_exact(void **state) {
    (void)state;
    /* 2100 columns: three blocks of the f32 path, one partial; 70 outputs:
    ** two tiles; extreme codes so partial sums reach 2^24 */
    enum { M = 7, N = 70, K = 2100 };
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 1);
    int8_t *a = malloc(M * K), *b = malloc(N * K);
    for (int i = 0; i < M * K; i++) a[i] = (int8_t)((int)(qk_test_rng_u64(&rng) % 256) - 128);
    for (int i = 0; i < N * K; i++) b[i] = (int8_t)((int)(qk_test_rng_u64(&rng) % 256) - 128);
    for (int i = 0; i < K; i++) a[i] = b[i] = -128; /* row 0 x output 0: 2100 * 16384 */
    int32_t *c = malloc(M * N * sizeof *c);
    QK_ASSERT_OK(qk_int8_gemm(a, b, M, N, K, c));
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int64_t s = 0;
            for (int k = 0; k < K; k++) s += (int64_t)a[i * K + k] * b[j * K + k];
            assert_int_equal(c[i * N + j], s);
        }
    assert_int_equal(c[0], 2100 * 16384);
    QK_ASSERT_STATUS(qk_int8_gemm(a, b, 1, 1, 131073, c), QK_ERR_OVERFLOW);
    free(a);
    free(b);
    free(c);
}

/* The blocked f32 (BLAS) product against int64 loops on odd shapes: a
** single element, outputs one short of / one past a tile of 64, columns
** one short of / one past the 1024-column exact block, and k = 0. Codes
** of +-127/-128 only in some rows, so sums sit near the 2^24 limit. */
static void test_int8_gemm_odd_sizes(void **state) {
    (void)state;
    static const int sizes[][3] = {{1, 1, 1},     {3, 5, 7},     {1, 63, 1023},
                                   {5, 65, 1025}, {2, 129, 33},  {7, 3, 2049},
                                   {4, 1, 1024},  {1, 64, 3071}, {3, 2, 0}};
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 99);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        int8_t *a = malloc((size_t)M * K + 1), *b = malloc((size_t)N * K + 1);
        int32_t *c = malloc((size_t)M * N * sizeof *c);
        for (int i = 0; i < M * K; i++)
            a[i] =
                (int8_t)(i < K ? (i % 2 ? 127 : -128) : (int)(qk_test_rng_u64(&rng) % 256) - 128);
        for (int i = 0; i < N * K; i++)
            b[i] = (int8_t)(i < K ? -128 : (int)(qk_test_rng_u64(&rng) % 256) - 128);
        for (int i = 0; i < M * N; i++) c[i] = 12345; /* overwritten, also for k = 0 */
        QK_ASSERT_OK(qk_int8_gemm(a, b, M, N, K, c));
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                int64_t acc = 0;
                for (int k = 0; k < K; k++) acc += (int64_t)a[i * K + k] * b[j * K + k];
                if (c[i * N + j] != acc)
                    fail_msg("%d x %d x %d: c[%d][%d] = %d, want %lld", M, N, K, i, j, c[i * N + j],
                             (long long)acc);
            }
        free(a);
        free(b);
        free(c);
    }
}

/* bitsandbytes' int8_vectorwise_quant by hand: threshold 6; row 0 has the
** outlier 7 (column 2), row 1 has 6 exactly (column 1: |x| >= threshold).
** Row absmax over the non-outlier elements, so row 0's -2 in outlier
** column 1 still counts: 2 -> 127/2 = 63.5 per unit; row 1: 3. */
static void test_vectorwise_hand(void **state) {
    (void)state;
    const float x[2 * 4] = {1.0f, -2.0f, 7.0f, 0.5f, 3.0f, 6.0f, -1.0f, 2.0f};
    int8_t q[8];
    float amax[2];
    uint8_t flags[4];
    int64_t n_out;
    QK_ASSERT_OK(qk_int8_vectorwise_quant(x, 2, 4, 6.0f, q, amax, flags, &n_out));
    assert_int_equal(n_out, 2);
    const uint8_t want_flags[4] = {0, 1, 1, 0};
    assert_memory_equal(flags, want_flags, 4);
    QK_ASSERT_F32_BITS_EQ(amax[0], 2.0f);
    QK_ASSERT_F32_BITS_EQ(amax[1], 3.0f);
    /* 1 * 63.5 -> 64 (ties to even), 0.5 * 63.5 = 31.75 -> 32; 3 * (127/3)
    ** -> 127, 2 * (127/3) = 84.67 -> 85; outlier columns 0 */
    const int8_t want[8] = {64, 0, 0, 32, 127, 0, 0, 85};
    assert_memory_equal(q, want, 8);
    /* just above 6: only column 2 is an outlier; row 1's absmax is 6, and
    ** 3 * (127.0f / 6) = 3 * 21.1666660 rounds to exactly 63.5 in f32 (as
    ** in torch), then to 64 (ties to even) */
    QK_ASSERT_OK(qk_int8_vectorwise_quant(x, 2, 4, 6.0001f, q, amax, flags, &n_out));
    assert_int_equal(n_out, 1);
    QK_ASSERT_F32_BITS_EQ(amax[1], 6.0f);
    const int8_t want2[8] = {64, -127, 0, 32, 64, 127, 0, 42};
    assert_memory_equal(q, want2, 8);
    /* threshold 0: no outliers; a zero row gives zero codes */
    const float z[2 * 2] = {0.0f, 0.0f, -4.0f, 2.0f};
    QK_ASSERT_OK(qk_int8_vectorwise_quant(z, 2, 2, 0.0f, q, amax, NULL, &n_out));
    assert_int_equal(n_out, 0);
    const int8_t want3[4] = {0, 0, -127, 64};
    assert_memory_equal(q, want3, 4);
    const float bad[2] = {1.0f, NAN};
    QK_ASSERT_STATUS(qk_int8_vectorwise_quant(bad, 1, 2, 6.0f, q, amax, NULL, NULL),
                     QK_ERR_NONFINITE);
}

/* ---- LLM.int8 -------------------------------------------------------------------- */

static float f16r(float v) {
    return qk_f16_to_f32(qk_f32_to_f16(v));
}

/* Independent LLM.int8: codes by bitsandbytes' f32 rules, int64 dot
** products; the int part dequantized as bitsandbytes' mm_dequant does it
** in f32, acc * (row absmax * col absmax) * (1 / 127^2), into ipart; the
** outlier columns (of this batch) from f16-rounded inputs in double into
** hi, and the sum of their |products| into habs. Returns the number of
** outlier columns. */
static int ref_llm_int8(const float *x, const float *w, int n, int out, int in, float thr,
                        bool fp16_w, float *ipart, double *hi, double *habs) {
    int8_t *qw = malloc((size_t)out * in), *qx = malloc((size_t)n * in);
    float *wmax = malloc(out * sizeof *wmax), *xmax = malloc(n * sizeof *xmax);
    bool *outl = calloc(in, sizeof *outl);
    for (int o = 0; o < out; o++) {
        float m = 0;
        for (int i = 0; i < in; i++) m = fmaxf(m, fabsf(w[o * in + i]));
        wmax[o] = m;
        for (int i = 0; i < in; i++)
            qw[o * in + i] = (int8_t)nearbyintf(w[o * in + i] * (127.0f / m));
    }
    int n_outl = 0;
    for (int i = 0; i < in; i++) {
        for (int t = 0; t < n; t++)
            if (thr > 0 && fabsf(x[t * in + i]) >= thr) outl[i] = true;
        n_outl += outl[i];
    }
    for (int t = 0; t < n; t++) {
        float m = 0;
        for (int i = 0; i < in; i++)
            if (!(thr > 0 && fabsf(x[t * in + i]) >= thr)) m = fmaxf(m, fabsf(x[t * in + i]));
        xmax[t] = m;
        for (int i = 0; i < in; i++)
            qx[t * in + i] = outl[i] ? 0 : (int8_t)nearbyintf(x[t * in + i] * (127.0f / m));
    }
    for (int t = 0; t < n; t++)
        for (int o = 0; o < out; o++) {
            int64_t acc = 0;
            double h = 0, ha = 0;
            for (int i = 0; i < in; i++) {
                acc += (int64_t)qx[t * in + i] * qw[o * in + i];
                if (outl[i]) {
                    const float wv = fp16_w ? w[o * in + i] : qw[o * in + i] * wmax[o] / 127.0f;
                    const double p = (double)f16r(x[t * in + i]) * f16r(wv);
                    h += p;
                    ha += fabs(p);
                }
            }
            const float rc = xmax[t] * wmax[o];
            ipart[t * out + o] = ((float)acc * rc) * (1.0f / 16129.0f);
            hi[t * out + o] = h;
            habs[t * out + o] = ha;
        }
    free(qw);
    free(qx);
    free(wmax);
    free(xmax);
    free(outl);
    return n_outl;
}

/* One linear, called on the whole batch and then on sub-batches: the
** outlier columns are those of each call's rows. The int part is exact
** (bit-equal where a row has no outlier column), the f16 part within
** the rounding of an f32 sum of <= 3 products and one addition. */
static void check_llm_int8(float thr, bool fp16_w, int64_t want_outliers) {
    enum { N = 9, OUT = 70, IN = 80 };
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 12);
    float x[N * IN], w[OUT * IN], y[N * OUT], ip[N * OUT];
    double hi[N * OUT], habs[N * OUT];
    qk_test_fill_normal(&rng, x, N * IN, 1.0f);
    qk_test_fill_normal(&rng, w, OUT * IN, 0.1f);
    for (int i = 0; i < N * IN; i++) x[i] = fmaxf(fminf(x[i], 5.0f), -5.0f);
    x[2 * IN + 7] = 9.5f;   /* outlier columns 7, 30 and 61 */
    x[5 * IN + 30] = -6.0f; /* exactly the threshold: an outlier */
    x[0 * IN + 61] = 20.0f;
    x[1 * IN + 61] = -12.0f;
    x[3 * IN + 44] = 5.9999995f; /* just below: not one */
    qk_tensor_view wv;
    const int64_t shape[2] = {OUT, IN};
    QK_ASSERT_OK(qk_tensor_view_init(&wv, QK_TYPE_F32, 2, shape, w));
    qk_llm_int8_stats stats = {0};
    qk_llm_int8_options opt;
    qk_llm_int8_options_default(&opt);
    assert_true(opt.threshold == 6.0f && opt.fp16_weights);
    opt.threshold = thr;
    opt.fp16_weights = fp16_w;
    opt.stats = &stats;
    qk_llm_int8_linear *l;
    QK_ASSERT_OK(qk_llm_int8_linear_create(&wv, &opt, &l));
    /* batches: all rows; rows 0-1 (column 61 only at 6.0); rows 2-4
    ** (column 7); rows 6-8 (none) */
    static const int batch[][2] = {{0, N}, {0, 2}, {2, 3}, {6, 3}};
    int64_t sum_outl = 0;
    for (int bi = 0; bi < 4; bi++) {
        const int r0 = batch[bi][0], n = batch[bi][1];
        const float *xb = x + r0 * IN;
        QK_ASSERT_OK(qk_llm_int8_linear_matmul(l, xb, n, y));
        const int n_outl = ref_llm_int8(xb, w, n, OUT, IN, thr, fp16_w, ip, hi, habs);
        sum_outl += n_outl;
        assert_int_equal(stats.calls, bi + 1);
        assert_int_equal(stats.outlier_cols, sum_outl);
        if (bi == 0) assert_int_equal(n_outl, want_outliers);
        for (int i = 0; i < n * OUT; i++) {
            if (n_outl == 0) {
                QK_ASSERT_F32_BITS_EQ(y[i], ip[i]);
                continue;
            }
            const double want = (double)ip[i] + hi[i];
            const double tol = 0x1p-22 * (fabs(want) + 2 * habs[i]);
            if (fabs(y[i] - want) > tol)
                fail_msg("batch %d, element %d: %.9g, want %.9g (int %.9g + f16 %.9g)", bi, i,
                         (double)y[i], want, (double)ip[i], hi[i]);
        }
    }
    if (thr == 6.0f) assert_int_equal(sum_outl, 3 + 1 + 1 + 0);
    /* the int8 error is real: not simply the float product */
    QK_ASSERT_OK(qk_llm_int8_linear_matmul(l, x, N, y));
    double diff = 0, max_abs = 0;
    for (int t = 0; t < N; t++)
        for (int o = 0; o < OUT; o++) {
            double f = 0;
            for (int i = 0; i < IN; i++) f += (double)x[t * IN + i] * w[o * IN + i];
            diff = fmax(diff, fabs(f - y[t * OUT + o]));
            max_abs = fmax(max_abs, fabs(f));
        }
    assert_true(diff > 1e-4 && diff < 0.05 * max_abs);
    qk_llm_int8_linear_free(l);
}

static void test_llm_int8_matmul(void **state) {
    (void)state;
    check_llm_int8(6.0f, true, 3);
    check_llm_int8(6.0f, false, 3);
    check_llm_int8(10.0f, true, 1);
    check_llm_int8(0.0f, true, 0);
}

/* ---- W8A8 ------------------------------------------------------------------------- */

static void test_w8a8_matmul(void **state) {
    (void)state;
    enum { N = 6, OUT = 67, IN = 50 };
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 5);
    float x[N * IN], w[OUT * IN], y[N * OUT];
    qk_test_fill_normal(&rng, x, N * IN, 2.0f);
    qk_test_fill_normal(&rng, w, OUT * IN, 0.2f);
    for (int i = 0; i < IN; i++) x[3 * IN + i] = 0.0f; /* a zero token */
    x[IN + 4] = 40.0f;                                 /* an outlier sets token 1's scale */
    qk_tensor_view wv;
    const int64_t shape[2] = {OUT, IN};
    QK_ASSERT_OK(qk_tensor_view_init(&wv, QK_TYPE_F32, 2, shape, w));
    qk_w8a8_linear *l;
    QK_ASSERT_OK(qk_w8a8_linear_create(&wv, &l));
    QK_ASSERT_OK(qk_w8a8_linear_matmul(l, x, N, y));
    /* independent: scale = max(absmax, 1e-5) / 127, q = round(v / scale) */
    float sx[N], sw[OUT];
    int8_t qx[N * IN], qw[OUT * IN];
    for (int r = 0; r < N + OUT; r++) {
        const float *v = r < N ? x + r * IN : w + (r - N) * IN;
        int8_t *q = r < N ? qx + r * IN : qw + (r - N) * IN;
        float m = 0;
        for (int i = 0; i < IN; i++) m = fmaxf(m, fabsf(v[i]));
        const float s = fmaxf(m, 1e-5f) / 127.0f;
        for (int i = 0; i < IN; i++) q[i] = (int8_t)nearbyintf(v[i] / s);
        if (r < N)
            sx[r] = s;
        else
            sw[r - N] = s;
    }
    for (int t = 0; t < N; t++)
        for (int o = 0; o < OUT; o++) {
            int64_t acc = 0;
            for (int i = 0; i < IN; i++) acc += (int64_t)qx[t * IN + i] * qw[o * IN + i];
            /* exact integer times an f32 scale product: two f32 roundings */
            const double want = (double)acc * sx[t] * sw[o];
            QK_ASSERT_NEAR_ABS(y[t * OUT + o], want, 0x1p-22 * fabs(want));
            if (t == 3) QK_ASSERT_F32_BITS_EQ(y[t * OUT + o], 0.0f);
        }
    qk_w8a8_linear_free(l);
}

/* ---- SmoothQuant -------------------------------------------------------------------- */

static void test_smoothquant_scales_hand(void **state) {
    (void)state;
    /* act max {4, 1, 0, 9}; |W| column max over two matrices {1, 4, 0, 0.25}
    ** (column 2 all zero: 1e-5) */
    const float act[4] = {4.0f, 1.0f, 0.0f, 9.0f};
    const float a[2 * 4] = {1.0f, -4.0f, 0.0f, 0.25f, -0.5f, 2.0f, 0.0f, 0.0f};
    const float b[1 * 4] = {0.25f, 1.0f, 0.0f, -0.125f};
    const float *w[2] = {a, b};
    const int64_t rows[2] = {2, 1};
    float s[4];
    /* alpha 0.5: sqrt(4/1) = 2, sqrt(1/4) = 0.5, 0 -> clamp 1e-5, sqrt(9/0.25) = 6 */
    QK_ASSERT_OK(qk_smoothquant_scales(act, w, rows, 2, 4, 0.5f, s));
    QK_ASSERT_NEAR_REL(s[0], 2.0, 1e-6);
    QK_ASSERT_NEAR_REL(s[1], 0.5, 1e-6);
    QK_ASSERT_NEAR_REL(s[2], 1e-5, 1e-6);
    QK_ASSERT_NEAR_REL(s[3], 6.0, 1e-6);
    /* alpha 1: the activation maxima (0 clamped); alpha 0: 1 / max|W| */
    QK_ASSERT_OK(qk_smoothquant_scales(act, w, rows, 2, 4, 1.0f, s));
    QK_ASSERT_NEAR_REL(s[0], 4.0, 1e-6);
    QK_ASSERT_NEAR_REL(s[2], 1e-5, 1e-6);
    QK_ASSERT_OK(qk_smoothquant_scales(act, w, rows, 2, 4, 0.0f, s));
    QK_ASSERT_NEAR_REL(s[1], 0.25, 1e-6);
    QK_ASSERT_NEAR_REL(s[2], 1e5, 1e-6);
    QK_ASSERT_NEAR_REL(s[3], 4.0, 1e-6);
    QK_ASSERT_STATUS(qk_smoothquant_scales(act, w, rows, 2, 4, 1.5f, s), QK_ERR_INVALID_ARG);
}

static const qk_llama_hparams HP = {.n_vocab = 40,
                                    .n_embd = 64,
                                    .n_ff = 96,
                                    .n_layer = 2,
                                    .n_head = 4,
                                    .n_head_kv = 2,
                                    .head_dim = 16,
                                    .n_ctx_train = 64,
                                    .rms_eps = 1e-5f,
                                    .rope_theta = 10000.0f};

static float *logits_of(qk_llama_model *m, const int32_t *tokens, int T) {
    float *lg = malloc((size_t)T * HP.n_vocab * sizeof *lg);
    qk_llama_context *ctx;
    QK_ASSERT_OK(qk_llama_context_create(m, T, &ctx));
    QK_ASSERT_OK(qk_llama_decode(ctx, tokens, T, lg, true));
    qk_llama_context_free(ctx);
    return lg;
}

/* Smoothing alone keeps the function; with W8A8 the logits move a little. */
static void test_smoothquant_model(void **state) {
    (void)state;
    enum { T = 24, W = 4 };
    int32_t tokens[T], windows[W * T];
    for (int i = 0; i < T; i++) tokens[i] = (i * 7 + 1) % HP.n_vocab;
    for (int i = 0; i < W * T; i++) windows[i] = (i * 13 + 5) % HP.n_vocab;
    qk_llama_model *m = qk_test_random_model(&HP, 31);
    float *base = logits_of(m, tokens, T);
    qk_calib_stats *stats;
    QK_ASSERT_OK(qk_calib_stats_create(&HP, false, &stats));
    QK_ASSERT_OK(qk_calib_collect(m, windows, W, T, stats, NULL, NULL));
    qk_calib_input in;
    QK_ASSERT_OK(qk_calib_stats_get(stats, 1, QK_LINEAR_GATE, &in));
    assert_non_null(in.max_abs);
    float before_norm[64];
    memcpy(before_norm, qk_llama_model_layer(m, 1)->ffn_norm.data, sizeof before_norm);
    qk_llama_model *orig = qk_test_random_model(&HP, 31); /* the same weights */

    qk_smoothquant_options opt;
    qk_smoothquant_options_default(&opt);
    assert_true(opt.alpha == 0.5f && opt.smooth && opt.w8a8 && !opt.include_output);
    opt.w8a8 = false;
    QK_ASSERT_OK(qk_smoothquant_apply(m, stats, &opt));
    const float *after_norm = qk_llama_model_layer(m, 1)->ffn_norm.data;
    int changed = 0;
    for (int i = 0; i < 64; i++) changed += fabsf(after_norm[i] / before_norm[i] - 1.0f) > 0.05f;
    assert_true(changed > 32);
    float *smoothed = logits_of(m, tokens, T);
    for (int i = 0; i < T * HP.n_vocab; i++)
        QK_ASSERT_NEAR_ABS(smoothed[i], base[i], 1e-5 * (1 + fabs(base[i])));
    /* s_j = max|X_j|^alpha / max|W_j|^(1 - alpha), max|W_j| over the
    ** group's stacked weights (q, k, v after attn_norm; gate, up after
    ** ffn_norm), recomputed in double from the calibration maxima and the
    ** original weights: the norm is divided by s, the columns multiplied */
    for (int32_t l = 0; l < HP.n_layer; l++) {
        const qk_llama_layer_weights *o = qk_llama_model_layer(orig, l);
        const qk_llama_layer_weights *n = qk_llama_model_layer(m, l);
        const qk_tensor_view *ow[2][3] = {{&o->wq, &o->wk, &o->wv}, {&o->w_gate, &o->w_up, NULL}};
        const qk_tensor_view *nw[2][3] = {{&n->wq, &n->wk, &n->wv}, {&n->w_gate, &n->w_up, NULL}};
        const float *onorm[2] = {o->attn_norm.data, o->ffn_norm.data};
        const float *nnorm[2] = {n->attn_norm.data, n->ffn_norm.data};
        const qk_llama_linear first[2] = {QK_LINEAR_Q, QK_LINEAR_GATE};
        for (int g = 0; g < 2; g++) {
            qk_calib_input ci;
            QK_ASSERT_OK(qk_calib_stats_get(stats, l, first[g], &ci));
            for (int64_t j = 0; j < HP.n_embd; j++) {
                double wmax = 0;
                for (int k = 0; k < 3 && ow[g][k]; k++)
                    for (int64_t r = 0; r < ow[g][k]->shape[0]; r++)
                        wmax = fmax(wmax, fabs(((const float *)ow[g][k]->data)[r * HP.n_embd + j]));
                const double sj = sqrt((double)ci.max_abs[j]) / sqrt(fmax(wmax, 1e-5));
                QK_ASSERT_NEAR_REL(nnorm[g][j], onorm[g][j] / sj, 2e-6);
                for (int k = 0; k < 3 && ow[g][k]; k++)
                    for (int64_t r = 0; r < ow[g][k]->shape[0]; r += 5)
                        QK_ASSERT_NEAR_REL(((const float *)nw[g][k]->data)[r * HP.n_embd + j],
                                           ((const float *)ow[g][k]->data)[r * HP.n_embd + j] * sj,
                                           2e-6);
            }
        }
    }
    qk_llama_model_free(orig);

    /* now W8A8 (smoothing again would double it: plain W8A8 on the
    ** smoothed weights) */
    opt.smooth = false;
    opt.w8a8 = true;
    QK_ASSERT_OK(qk_smoothquant_apply(m, NULL, &opt));
    float *q = logits_of(m, tokens, T);
    double max_diff = 0, max_base = 0;
    for (int i = 0; i < T * HP.n_vocab; i++) {
        max_diff = fmax(max_diff, fabs(q[i] - base[i]));
        max_base = fmax(max_base, fabs(base[i]));
    }
    print_message("W8A8 logits: max |diff| %.4g of max %.4g\n", max_diff, max_base);
    assert_true(max_diff > 1e-4 && max_diff < 0.05 * max_base);

    /* statistics without max |x| are refused */
    qk_calib_stats *loaded;
    const char *path = qk_test_tmp_path("sq_stats.gguf");
    qk_calib_meta meta = {.text_path = "t", .n_samples_used = W};
    QK_ASSERT_OK(qk_calib_stats_save(stats, &meta, path));
    QK_ASSERT_OK(qk_calib_stats_load(path, &loaded));
    opt.smooth = true;
    QK_ASSERT_STATUS(qk_smoothquant_apply(m, loaded, &opt), QK_ERR_NOT_FOUND);
    qk_calib_stats_free(loaded);
    qk_calib_stats_free(stats);
    free(base);
    free(smoothed);
    free(q);
    qk_llama_model_free(m);
}

/* ---- simulate ----------------------------------------------------------------------- */

static void test_simulate_specs(void **state) {
    (void)state;
    qk_llama_hparams hp = HP;
    hp.n_embd = 128;
    hp.head_dim = 32;
    hp.n_ff = 256;
    qk_llama_model *m = qk_test_random_model(&hp, 2), *orig = qk_test_random_model(&hp, 2);
    enum { T = 16, W = 3 };
    int32_t windows[W * T];
    for (int i = 0; i < W * T; i++) windows[i] = (i * 11 + 3) % hp.n_vocab;
    qk_simulate_options so = {0};
    qk_simulate_report rep;
    /* formats: each linear equals its own quantize-dequantize */
    QK_ASSERT_OK(qk_simulate_apply(m, "w4g128", &so, &rep));
    assert_string_equal(rep.method, "w4g128");
    assert_int_equal(rep.n_linears, 2 * 7);
    qk_weight_format f;
    QK_ASSERT_OK(qk_weight_format_parse("w4g128", &f));
    const qk_tensor_view *a = &qk_llama_model_layer(m, 1)->w_up;
    const qk_tensor_view *b = &qk_llama_model_layer(orig, 1)->w_up;
    float *w = malloc(256 * 128 * sizeof *w);
    memcpy(w, b->data, 256 * 128 * sizeof *w);
    QK_ASSERT_OK(qk_weight_format_qdq(&f, w, 256, 128));
    assert_memory_equal(a->data, w, 256 * 128 * sizeof *w);
    /* the output projection is untouched */
    assert_memory_equal(qk_llama_model_output(m)->data, qk_llama_model_output(orig)->data,
                        (size_t)hp.n_vocab * 128 * sizeof(float));
    free(w);
    qk_llama_model_free(m);

    /* AWQ: needs windows; every group's error goes down or stays */
    m = qk_test_random_model(&hp, 2);
    QK_ASSERT_STATUS(qk_simulate_apply(m, "awq_w3g32", &so, &rep), QK_ERR_INVALID_ARG);
    so.calib_tokens = windows;
    so.n_calib = W;
    so.calib_len = T;
    QK_ASSERT_OK(qk_simulate_apply(m, "awq_w3g32", &so, &rep));
    assert_string_equal(rep.method, "awq_w3g32");
    for (int g = 0; g < QK_AWQ_GROUP_COUNT; g++) {
        assert_true(rep.awq_err_best[g] <= rep.awq_err_plain[g]);
        assert_true(rep.awq_err_plain[g] > 0);
    }
    /* the weights are on a 3-bit grid: at most 8 values per row group */
    const float *dw = qk_llama_model_layer(m, 0)->w_down.data;
    for (int r = 0; r < 4; r++) {
        float seen[64];
        int n_seen = 0;
        for (int c = 0; c < 32; c++) {
            const float v = dw[r * 256 + c];
            int k = 0;
            while (k < n_seen && seen[k] != v) k++;
            if (k == n_seen) seen[n_seen++] = v;
        }
        assert_true(n_seen <= 8);
    }
    qk_llama_model_free(m);

    /* int8 kernels */
    m = qk_test_random_model(&hp, 2);
    qk_llm_int8_stats st8 = {0};
    so.int8_stats = &st8;
    QK_ASSERT_OK(qk_simulate_apply(m, "llm_int8:4.5", &so, &rep));
    assert_string_equal(rep.method, "llm_int8:4.5");
    float *lg = malloc((size_t)T * hp.n_vocab * sizeof *lg);
    qk_llama_context *ctx;
    QK_ASSERT_OK(qk_llama_context_create(m, T, &ctx));
    QK_ASSERT_OK(qk_llama_decode(ctx, windows, T, lg, true));
    assert_int_equal(st8.calls, 2 * 7);
    qk_llama_context_free(ctx);
    free(lg);
    qk_llama_model_free(m);
    m = qk_test_random_model(&hp, 2);
    QK_ASSERT_OK(qk_simulate_apply(m, "smoothquant_w8a8:0.8", &so, &rep));
    assert_string_equal(rep.method, "smoothquant_w8a8:0.8");
    /* bad specs are refused with a message that
    ** names the spec */
    const char *bad[] = {"llm_int8:x",
                         "smoothquant_w8a8:2",
                         "awq_",
                         "w4g128x",
                         "llm_int8:-1",
                         "awq_w4g0",
                         "smoothquant_w8a8:",
                         "nf4b48",
                         "w8a8:0.5",
                         "llm_int8:6x",
                         "awq_llm_int8",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        QK_ASSERT_STATUS(qk_simulate_apply(m, bad[i], &so, &rep), QK_ERR_INVALID_ARG);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        if (!strstr(qk_last_error(), quoted))
            fail_msg("spec %s: message '%s' does not name it", quoted, qk_last_error());
    }
    qk_llama_model_free(m);
    qk_llama_model_free(orig);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_gemm_exact),   cmocka_unit_test(test_int8_gemm_odd_sizes),
        cmocka_unit_test(test_vectorwise_hand),   cmocka_unit_test(test_llm_int8_matmul),
        cmocka_unit_test(test_w8a8_matmul),       cmocka_unit_test(test_smoothquant_scales_hand),
        cmocka_unit_test(test_smoothquant_model), cmocka_unit_test(test_simulate_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
