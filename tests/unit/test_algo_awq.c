/*
** AWQ: the scale formula and the weight statistic on hand-made numbers;
** folding the scales keeps the float layer's function; on a layer whose
** inputs have outlier channels the search lowers the block output error of
** plain round-to-nearest (and the end-to-end layer error), and the clip
** search never raises its own error, also for formats that couple groups.
** Plus the simulated weight formats against independent code.
*/
#include "qk_test.h"

#include "algo/awq_internal.h"
#include "qk_test_model.h"

/* ---- helpers ------------------------------------------------------------ */

/* A layer whose views own malloc'ed f32 copies of a model layer. */
typedef struct owned_layer {
    qk_llama_layer_weights lw;
} owned_layer;

static void copy_view(qk_tensor_view *dst, const qk_tensor_view *src) {
    *dst = *src;
    if (!src->data) return;
    size_t bytes;
    QK_ASSERT_OK(qk_tensor_view_nbytes(src, &bytes));
    dst->data = malloc(bytes);
    memcpy(dst->data, src->data, bytes);
}

static void owned_copy(owned_layer *o, const qk_llama_layer_weights *src) {
    const qk_tensor_view *s[] = {&src->attn_norm, &src->wq,     &src->wk,   &src->wv,
                                 &src->wo,        &src->bq,     &src->bk,   &src->bv,
                                 &src->ffn_norm,  &src->w_gate, &src->w_up, &src->w_down};
    qk_tensor_view *d[] = {&o->lw.attn_norm, &o->lw.wq,     &o->lw.wk,   &o->lw.wv,
                           &o->lw.wo,        &o->lw.bq,     &o->lw.bk,   &o->lw.bv,
                           &o->lw.ffn_norm,  &o->lw.w_gate, &o->lw.w_up, &o->lw.w_down};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) copy_view(d[i], s[i]);
}

static void owned_free(owned_layer *o) {
    qk_tensor_view *d[] = {&o->lw.attn_norm, &o->lw.wq,     &o->lw.wk,   &o->lw.wv,
                           &o->lw.wo,        &o->lw.bq,     &o->lw.bk,   &o->lw.bv,
                           &o->lw.ffn_norm,  &o->lw.w_gate, &o->lw.w_up, &o->lw.w_down};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) free(d[i]->data);
}

static qk_tensor_view *linear_of(qk_llama_layer_weights *lw, int which) {
    qk_tensor_view *v[] = {&lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_up, &lw->w_down};
    return v[which];
}

/* A qdq callback that leaves the weights as they are. */
static qk_status qdq_identity(void *user, int32_t layer, qk_llama_linear which, float *w,
                              int64_t rows, int64_t cols) {
    (void)user, (void)layer, (void)which, (void)w, (void)rows, (void)cols;
    return QK_OK;
}

static double mse(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / (double)n;
}

/* Random hidden states [n, E]. */
static float *random_states(int64_t n, int64_t E, uint64_t seed) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    float *x = malloc((size_t)(n * E) * sizeof *x);
    qk_test_fill_normal(&rng, x, (size_t)(n * E), 1.0f);
    return x;
}

/* The layer's output on x (copied). */
static float *layer_out(const qk_llama_hparams *hp, const qk_llama_layer_weights *lw,
                        const float *x, int32_t n_seq, int32_t seq_len) {
    const size_t n = (size_t)n_seq * seq_len * hp->n_embd;
    float *y = malloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    QK_ASSERT_OK(qk_llama_layer_forward(hp, 0, lw, y, n_seq, seq_len, NULL, NULL));
    return y;
}

/* ---- formulas ----------------------------------------------------------- */

static void test_scales_hand(void **state) {
    (void)state;
    float s[3];
    /* x^0.5 = {1, 2, 4}; / sqrt(4 * 1) */
    const float xm[3] = {1.0f, 4.0f, 16.0f}, ones[3] = {1, 1, 1};
    qk_awq_scales(xm, ones, 3, 0.5f, false, s);
    QK_ASSERT_NEAR_REL(s[0], 0.5, 1e-6);
    QK_ASSERT_NEAR_REL(s[1], 1.0, 1e-6);
    QK_ASSERT_NEAR_REL(s[2], 2.0, 1e-6);
    /* ratio 0 without duo scaling: all ones */
    qk_awq_scales(xm, ones, 3, 0.0f, false, s);
    for (int i = 0; i < 3; i++) QK_ASSERT_NEAR_REL(s[i], 1.0, 1e-7);
    /* a dead channel is clamped to 1e-4: {1e-4, 1} / sqrt(1e-4) */
    const float xz[2] = {0.0f, 1.0f};
    qk_awq_scales(xz, ones, 2, 0.5f, false, s);
    QK_ASSERT_NEAR_REL(s[0], 0.01, 1e-5);
    QK_ASSERT_NEAR_REL(s[1], 100.0, 1e-5);
    /* duo: x = {4, 1}, w = {0.25, 1}, r = 0.5: raw {2 / 0.5001, 1 / 1.0001};
    ** normalised: sqrt(s0/s1) = sqrt(2.0002 / 0.5001) = 1.99990002, and its
    ** inverse 0.50002500 */
    const float xd[2] = {4.0f, 1.0f}, wd[2] = {0.25f, 1.0f};
    qk_awq_scales(xd, wd, 2, 0.5f, true, s);
    QK_ASSERT_NEAR_REL(s[0], 1.99990002, 1e-6);
    QK_ASSERT_NEAR_REL(s[1], 0.50002500, 1e-6);
    /* duo at r = 0: 1 / (w + 1e-4) = {3.9984006, 0.99990001}, normalised
    ** sqrt(1.0001 / 0.2501) = 1.99970010 and its inverse 0.50007499 */
    qk_awq_scales(xd, wd, 2, 0.0f, true, s);
    QK_ASSERT_NEAR_REL(s[0], 1.99970010, 1e-6);
    QK_ASSERT_NEAR_REL(s[1], 0.50007499, 1e-6);
}

static void test_w_mean_hand(void **state) {
    (void)state;
    /* two matrices stacked, 4 columns, groups of 2 */
    const float a[2 * 4] = {1, -2, 3, 0, -4, 4, 0, 0};
    const float b[1 * 4] = {0, 0, -1, 0.5f};
    const float *mats[2] = {a, b};
    const int64_t rows[2] = {2, 1};
    float out[4];
    QK_ASSERT_OK(qk_awq_w_mean(mats, rows, 2, 4, 2, out));
    const double e = 1e-6;
    /* column 0: 1/(2+e) + 4/(4+e) + 0 over 3 rows */
    QK_ASSERT_NEAR_REL(out[0], (1 / (2 + e) + 4 / (4 + e)) / 3, 1e-6);
    QK_ASSERT_NEAR_REL(out[1], (2 / (2 + e) + 4 / (4 + e)) / 3, 1e-6);
    QK_ASSERT_NEAR_REL(out[2], (3 / (3 + e) + 1 / (1 + e)) / 3, 1e-6);
    QK_ASSERT_NEAR_REL(out[3], (0.5 / (1 + e)) / 3, 1e-6);
    /* whole rows (group <= 0): row maxima 3, 4, 1 */
    QK_ASSERT_OK(qk_awq_w_mean(mats, rows, 2, 4, 0, out));
    QK_ASSERT_NEAR_REL(out[0], (1 / (3 + e) + 4 / (4 + e)) / 3, 1e-6);
    QK_ASSERT_NEAR_REL(out[3], (0.5 / (1 + e)) / 3, 1e-6);
    /* x_mean */
    const float x[3 * 2] = {1, -2, -3, 0, 0.5f, 4};
    qk_awq_x_mean(x, 3, 2, out);
    QK_ASSERT_NEAR_REL(out[0], 4.5 / 3, 1e-7);
    QK_ASSERT_NEAR_REL(out[1], 6.0 / 3, 1e-7);
}

/* ---- folding ------------------------------------------------------------ */

static const qk_llama_hparams HP_GQA = {.n_vocab = 16,
                                        .n_embd = 64,
                                        .n_ff = 96,
                                        .n_layer = 1,
                                        .n_head = 4,
                                        .n_head_kv = 2,
                                        .head_dim = 16,
                                        .n_ctx_train = 64,
                                        .rms_eps = 1e-5f,
                                        .rope_theta = 10000.0f,
                                        .attn_bias = true};

/* With a qdq that does not quantize and the identity excluded, every group
** folds non-trivial scales (duo scaling: s depends on the weights even at
** r = 0): the layer computes the same function. */
static void test_fold_preserves_function(void **state) {
    (void)state;
    const qk_llama_hparams *hp = &HP_GQA;
    qk_llama_model *m = qk_test_random_model(hp, 5);
    owned_layer o;
    owned_copy(&o, qk_llama_model_layer(m, 0));
    enum { NS = 2, T = 12 };
    float *x = random_states(NS * T, hp->n_embd, 9);
    float *before = layer_out(hp, &o.lw, x, NS, T);
    qk_awq_options opt;
    qk_awq_options_default(&opt);
    opt.qdq = qdq_identity;
    opt.keep_identity = false;
    opt.group_size = 32;
    qk_awq_report rep;
    QK_ASSERT_OK(qk_awq_apply_layer(hp, 0, &o.lw, x, NS, T, &opt, &rep));
    for (int g = 0; g < QK_AWQ_GROUP_COUNT; g++) {
        assert_true(rep.groups[g].searched);
        assert_true(rep.groups[g].best >= 0);
        if (rep.groups[g].scale_max / rep.groups[g].scale_min < 1.1f)
            fail_msg("group %d: scales %g..%g too flat for a folding test", g,
                     (double)rep.groups[g].scale_min, (double)rep.groups[g].scale_max);
    }
    /* the weights did change */
    const qk_llama_layer_weights *orig = qk_llama_model_layer(m, 0);
    assert_true(memcmp(orig->wv.data, o.lw.wv.data, 32 * 64 * sizeof(float)) != 0);
    assert_true(memcmp(orig->attn_norm.data, o.lw.attn_norm.data, 64 * sizeof(float)) != 0);
    /* q and k are never clipped; with nothing quantized nothing is clipped */
    assert_false(rep.clip[QK_LINEAR_Q].searched);
    assert_false(rep.clip[QK_LINEAR_K].searched);
    assert_true(rep.clip[QK_LINEAR_DOWN].searched);
    assert_int_equal(rep.clip[QK_LINEAR_DOWN].n_clipped, 0);
    float *after = layer_out(hp, &o.lw, x, NS, T);
    const size_t n = (size_t)NS * T * hp->n_embd;
    for (size_t i = 0; i < n; i++)
        QK_ASSERT_NEAR_ABS(after[i], before[i], 2e-5 * (1 + fabs(before[i])));
    free(before);
    free(after);
    free(x);
    owned_free(&o);
    qk_llama_model_free(m);
}

/* ---- AWQ against round-to-nearest ---------------------------------------- */

/* A layer whose normalised inputs have a few large channels (norm weights
** of 12 on 4 of 64 channels), quantized to 3 bits in groups of 32. */
static void test_awq_beats_rtn_on_outliers(void **state) {
    (void)state;
    qk_llama_hparams hp = HP_GQA;
    hp.attn_bias = false;
    qk_llama_model *m = qk_test_random_model(&hp, 11);
    owned_layer o, rtn;
    owned_copy(&o, qk_llama_model_layer(m, 0));
    float *an = o.lw.attn_norm.data, *fn = o.lw.ffn_norm.data;
    const int outl[4] = {3, 17, 40, 58};
    for (int i = 0; i < 4; i++) an[outl[i]] = fn[outl[i]] = 12.0f;
    owned_copy(&rtn, &o.lw);
    enum { NS = 4, T = 16 };
    float *x = random_states(NS * T, hp.n_embd, 3);
    float *ref = layer_out(&hp, &o.lw, x, NS, T);

    qk_weight_format fmt;
    QK_ASSERT_OK(qk_weight_format_parse("w3g32", &fmt));
    qk_awq_options opt;
    qk_awq_options_default(&opt);
    opt.qdq = qk_weight_format_qdq_callback;
    opt.qdq_user = &fmt;
    opt.group_size = 32;
    qk_awq_report rep;
    QK_ASSERT_OK(qk_awq_apply_layer(&hp, 0, &o.lw, x, NS, T, &opt, &rep));
    for (int g = 0; g < QK_AWQ_GROUP_COUNT; g++) {
        const qk_awq_group_report *r = &rep.groups[g];
        print_message("group %d: ratio %.2f (index %d) err plain %.6g best %.6g\n", g,
                      (double)r->ratio, r->best, r->err_plain, r->err_best);
        assert_true(r->err_best <= r->err_plain);
    }
    /* the groups fed by the outlier channels gain a lot */
    assert_true(rep.groups[QK_AWQ_QKV].err_best < 0.6 * rep.groups[QK_AWQ_QKV].err_plain);
    assert_true(rep.groups[QK_AWQ_GATE_UP].err_best < 0.6 * rep.groups[QK_AWQ_GATE_UP].err_plain);
    assert_true(rep.groups[QK_AWQ_QKV].best > 0 && rep.groups[QK_AWQ_GATE_UP].best > 0);

    /* end to end: quantize every linear, compare the layer outputs */
    for (int w = 0; w < 7; w++) {
        qk_tensor_view *a = linear_of(&o.lw, w), *b = linear_of(&rtn.lw, w);
        QK_ASSERT_OK(qk_weight_format_qdq(&fmt, a->data, a->shape[0], a->shape[1]));
        QK_ASSERT_OK(qk_weight_format_qdq(&fmt, b->data, b->shape[0], b->shape[1]));
    }
    float *y_awq = layer_out(&hp, &o.lw, x, NS, T), *y_rtn = layer_out(&hp, &rtn.lw, x, NS, T);
    const size_t n = (size_t)NS * T * hp.n_embd;
    const double e_awq = mse(y_awq, ref, n), e_rtn = mse(y_rtn, ref, n);
    print_message("layer output MSE: rtn %.6g awq %.6g\n", e_rtn, e_awq);
    assert_true(e_awq < 0.7 * e_rtn);
    free(y_awq);
    free(y_rtn);
    free(ref);
    free(x);
    owned_free(&o);
    owned_free(&rtn);
    qk_llama_model_free(m);
}

/* ---- the search against brute force -------------------------------------- */

/* The inputs of every linear of a layer, captured from its float forward. */
typedef struct captured {
    float *x[QK_LINEAR_OUTPUT];
    int64_t fill[QK_LINEAR_OUTPUT], cols[QK_LINEAR_OUTPUT];
} captured;

static void capture(void *user, int32_t layer, qk_llama_linear which, const float *x,
                    int64_t n_rows, int64_t n_cols) {
    (void)layer;
    captured *c = user;
    if (which >= QK_LINEAR_OUTPUT) return;
    c->cols[which] = n_cols;
    c->x[which] =
        realloc(c->x[which], (size_t)((c->fill[which] + n_rows) * n_cols) * sizeof(float));
    memcpy(c->x[which] + c->fill[which] * n_cols, x, (size_t)(n_rows * n_cols) * sizeof(float));
    c->fill[which] += n_rows;
}

/* y [n, out] = x [n, in] . w [out, in]^T in double. */
static void matmul_d(const float *x, const float *w, int64_t n, int64_t in, int64_t out,
                     double *y) {
    for (int64_t t = 0; t < n; t++)
        for (int64_t o = 0; o < out; o++) {
            double acc = 0;
            for (int64_t i = 0; i < in; i++) acc += (double)x[t * in + i] * w[o * in + i];
            y[t * out + o] = acc;
        }
}

/* down(silu(gate xn) * up xn) in double. */
static void mlp_d(const float *xn, const float *gate, const float *up, const float *down, int64_t n,
                  int64_t E, int64_t F, double *y) {
    double *g = malloc((size_t)(n * F) * sizeof *g), *u = malloc((size_t)(n * F) * sizeof *u);
    float *h = malloc((size_t)(n * F) * sizeof *h);
    matmul_d(xn, gate, n, E, F, g);
    matmul_d(xn, up, n, E, F, u);
    /* the hidden activation rounded to f32, as the model's forward holds it */
    for (int64_t i = 0; i < n * F; i++) h[i] = (float)(g[i] / (1 + exp(-g[i])) * u[i]);
    matmul_d(h, down, n, F, E, y);
    free(g);
    free(u);
    free(h);
}

/* Written out from AutoAWQ's rules: x_mean = mean |x| per column; w_mean =
** mean over the stacked rows of |w| / (max |w| of its 32-column row group +
** 1e-6); s = x_mean^r / (w_mean^(1-r) + 1e-4), at least 1e-4, divided by
** sqrt(max s * min s); the candidate weight is qdq(w * s) / s. */
static void bf_scales(const float *x, int64_t n, int64_t C, const float *const *w,
                      const int64_t *rows, int n_mats, double r, float *s) {
    double *xm = calloc((size_t)C, sizeof *xm), *wm = calloc((size_t)C, sizeof *wm);
    int64_t total = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < C; c++) xm[c] += fabs(x[t * C + c]) / (double)n;
    for (int m = 0; m < n_mats; m++) {
        total += rows[m];
        for (int64_t row = 0; row < rows[m]; row++)
            for (int64_t c0 = 0; c0 < C; c0 += 32) {
                double mx = 0;
                for (int64_t c = c0; c < c0 + 32; c++) mx = fmax(mx, fabs(w[m][row * C + c]));
                for (int64_t c = c0; c < c0 + 32; c++)
                    wm[c] += fabs(w[m][row * C + c]) / (mx + 1e-6);
            }
    }
    double mx = 0, mn = INFINITY, *sd = malloc((size_t)C * sizeof *sd);
    for (int64_t c = 0; c < C; c++) {
        sd[c] = fmax(pow(xm[c], r) / (pow(wm[c] / (double)total, 1 - r) + 1e-4), 1e-4);
        mx = fmax(mx, sd[c]);
        mn = fmin(mn, sd[c]);
    }
    for (int64_t c = 0; c < C; c++) s[c] = (float)(sd[c] / sqrt(mx * mn));
    free(xm);
    free(wm);
    free(sd);
}

static float *bf_candidate(const qk_weight_format *fmt, const float *w, int64_t rows, int64_t C,
                           const float *s) {
    float *q = malloc((size_t)(rows * C) * sizeof *q);
    for (int64_t i = 0; i < rows * C; i++) q[i] = s ? w[i] * s[i % C] : w[i];
    QK_ASSERT_OK(qk_weight_format_qdq(fmt, q, rows, C));
    if (s)
        for (int64_t i = 0; i < rows * C; i++) q[i] /= s[i % C];
    return q;
}

static double mse_d(const double *a, const double *b, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) e += (a[i] - b[i]) * (a[i] - b[i]);
    return e / (double)n;
}

/* The block output error of every ratio of the grid (index 20: plain
** round-to-nearest), for the groups o (output of o alone), gate+up (the
** MLP) and down (output of down alone), all in double; and qkv through the
** model's attention block (float), the scales and weights as above. */
static void brute_force(const qk_llama_hparams *hp, const qk_llama_layer_weights *lw,
                        const captured *cap, const qk_weight_format *fmt, int32_t n_seq,
                        int32_t seq_len, double err[QK_AWQ_GROUP_COUNT][21]) {
    const int64_t N = (int64_t)n_seq * seq_len, E = hp->n_embd, F = hp->n_ff;
    double *ref = malloc((size_t)(N * E) * sizeof *ref), *y = malloc((size_t)(N * E) * sizeof *y);
    float *yf = malloc((size_t)(N * E) * sizeof *yf);
    float *s = malloc((size_t)F * sizeof *s);
    for (int g = 0; g < QK_AWQ_GROUP_COUNT; g++) {
        static const qk_llama_linear first[] = {QK_LINEAR_Q, QK_LINEAR_O, QK_LINEAR_GATE,
                                                QK_LINEAR_DOWN};
        const float *x = cap->x[first[g]];
        const int64_t C = cap->cols[first[g]];
        const qk_tensor_view *views[QK_AWQ_GROUP_COUNT][3] = {
            {&lw->wq, &lw->wk, &lw->wv}, {&lw->wo}, {&lw->w_gate, &lw->w_up}, {&lw->w_down}};
        const int n_mats = g == QK_AWQ_QKV ? 3 : (g == QK_AWQ_GATE_UP ? 2 : 1);
        const float *w[3];
        int64_t rows[3];
        for (int i = 0; i < n_mats; i++) {
            w[i] = views[g][i]->data;
            rows[i] = views[g][i]->shape[0];
        }
        for (int k = -1; k <= 20; k++) { /* -1: the float reference */
            float *q[3] = {NULL, NULL, NULL};
            if (k >= 0 && k < 20) bf_scales(x, N, C, w, rows, n_mats, k / 20.0, s);
            for (int i = 0; i < n_mats; i++)
                q[i] = k < 0 ? NULL : bf_candidate(fmt, w[i], rows[i], C, k < 20 ? s : NULL);
            double *out = k < 0 ? ref : y;
            if (g == QK_AWQ_O || g == QK_AWQ_DOWN) {
                matmul_d(x, q[0] ? q[0] : w[0], N, C, E, out);
            } else if (g == QK_AWQ_GATE_UP) {
                mlp_d(x, q[0] ? q[0] : w[0], q[1] ? q[1] : w[1], lw->w_down.data, N, E, F, out);
            } else {
                qk_llama_layer_weights t = *lw;
                if (k >= 0) t.wq.data = q[0], t.wk.data = q[1], t.wv.data = q[2];
                QK_ASSERT_OK(
                    qk_llama_block_forward(hp, 0, &t, QK_LLAMA_BLOCK_ATTN, x, yf, n_seq, seq_len));
                for (int64_t i = 0; i < N * E; i++) out[i] = yf[i];
            }
            if (k >= 0) err[g][k] = mse_d(y, ref, (size_t)(N * E));
            for (int i = 0; i < n_mats; i++) free(q[i]);
        }
    }
    free(ref);
    free(y);
    free(yf);
    free(s);
}

/* The ratio AWQ picks is the grid's minimum of the block output error,
** and the errors it reports are the brute-force ones. */
static void test_search_is_brute_force_min(void **state) {
    (void)state;
    qk_llama_hparams hp = HP_GQA;
    hp.attn_bias = false;
    hp.n_head_kv = 4; /* o has v's channels: the o group is a plain linear */
    enum { NS = 2, T = 12 };
    qk_llama_model *m = qk_test_random_model(&hp, 21);
    owned_layer o;
    owned_copy(&o, qk_llama_model_layer(m, 0));
    float *an = o.lw.attn_norm.data, *fn = o.lw.ffn_norm.data;
    for (int i = 0; i < 64; i += 13) an[i] = fn[i + 2] = 8.0f; /* a few large channels */
    float *x = random_states(NS * T, hp.n_embd, 4);
    captured cap;
    memset(&cap, 0, sizeof cap);
    float *y = malloc((size_t)(NS * T * hp.n_embd) * sizeof *y);
    memcpy(y, x, (size_t)(NS * T * hp.n_embd) * sizeof *y);
    QK_ASSERT_OK(qk_llama_layer_forward(&hp, 0, &o.lw, y, NS, T, capture, &cap));
    qk_weight_format fmt;
    QK_ASSERT_OK(qk_weight_format_parse("w3g32", &fmt));
    double err[QK_AWQ_GROUP_COUNT][21];
    brute_force(&hp, &o.lw, &cap, &fmt, NS, T, err);

    qk_awq_options opt;
    qk_awq_options_default(&opt);
    opt.qdq = qk_weight_format_qdq_callback;
    opt.qdq_user = &fmt;
    opt.group_size = 32;
    opt.clip = false;
    opt.keep_identity = false;
    qk_awq_report rep;
    QK_ASSERT_OK(qk_awq_apply_layer(&hp, 0, &o.lw, x, NS, T, &opt, &rep));
    int n_nonzero = 0;
    for (int g = 0; g < QK_AWQ_GROUP_COUNT; g++) {
        const qk_awq_group_report *r = &rep.groups[g];
        int bf = 0;
        for (int k = 1; k < 20; k++)
            if (err[g][k] < err[g][bf]) bf = k;
        double second = INFINITY;
        for (int k = 0; k < 20; k++)
            if (k != bf) second = fmin(second, err[g][k]);
        print_message("group %d: picked %d (err %.6g), brute force %d (err %.6g, next %.6g), "
                      "plain %.6g / %.6g\n",
                      g, r->best, r->err_best, bf, err[g][bf], second, r->err_plain, err[g][20]);
        assert_true(r->searched);
        assert_true(r->best >= 0 && r->best < 20);
        QK_ASSERT_NEAR_REL(r->ratio, r->best / 20.0, 1e-6);
        /* f32 against double arithmetic: the same errors to 1e-4 */
        QK_ASSERT_NEAR_REL(r->err_plain, err[g][20], 1e-4);
        QK_ASSERT_NEAR_REL(r->err_best, err[g][r->best], 1e-4);
        /* the minimum; the same index unless the runner-up is within 1e-4 */
        if (second > err[g][bf] * (1 + 1e-4)) assert_int_equal(r->best, bf);
        assert_true(err[g][r->best] <= err[g][bf] * (1 + 1e-4));
        n_nonzero += r->best > 0;
    }
    assert_true(n_nonzero >= 2); /* the scaling is not trivially off */
    for (int i = 0; i < QK_LINEAR_OUTPUT; i++) free(cap.x[i]);
    free(y);
    free(x);
    owned_free(&o);
    qk_llama_model_free(m);
}

/* ---- clipping ----------------------------------------------------------- */

/* Independent error of a clip result: sum over rows and groups of the mean
** over tokens of (x_g . (qdq(w) - w0)_g)^2, in double. */
static double clip_error(const qk_weight_format *fmt, const float *w, const float *w0, int64_t rows,
                         int64_t cols, int64_t gs, const float *x, int64_t n_tok) {
    float *q = malloc((size_t)(rows * cols) * sizeof *q);
    memcpy(q, w, (size_t)(rows * cols) * sizeof *q);
    QK_ASSERT_OK(qk_weight_format_qdq(fmt, q, rows, cols));
    double total = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g0 = 0; g0 < cols; g0 += gs) {
            double e = 0;
            for (int64_t t = 0; t < n_tok; t++) {
                double dot = 0;
                for (int64_t c = g0; c < g0 + gs && c < cols; c++)
                    dot += (double)x[t * cols + c] * ((double)q[r * cols + c] - w0[r * cols + c]);
                e += dot * dot;
            }
            total += e / (double)n_tok;
        }
    free(q);
    return total;
}

static void check_clip(const char *format, int32_t gs, bool expect_gain) {
    enum { R = 24, C = 256, NT = 40 };
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 77);
    float *w = malloc(R * C * sizeof *w), *w0 = malloc(R * C * sizeof *w0);
    float *x = malloc(NT * C * sizeof *x);
    qk_test_fill_normal(&rng, w, R * C, 0.05f);
    /* a heavy-tailed weight: one big value in most row groups */
    for (int r = 0; r < R; r++) w[r * C + (r * 7) % C] = 0.6f * (r % 2 ? 1 : -1);
    qk_test_fill_normal(&rng, x, NT * C, 1.0f);
    memcpy(w0, w, R * C * sizeof *w);
    qk_weight_format fmt;
    QK_ASSERT_OK(qk_weight_format_parse(format, &fmt));
    qk_awq_options opt;
    qk_awq_options_default(&opt);
    opt.qdq = qk_weight_format_qdq_callback;
    opt.qdq_user = &fmt;
    opt.group_size = gs;
    qk_awq_clip_report rep;
    QK_ASSERT_OK(qk_awq_clip_linear(&opt, 0, QK_LINEAR_UP, w, R, C, x, NT, &rep));
    const double before = clip_error(&fmt, w0, w0, R, C, gs, x, NT);
    const double after = clip_error(&fmt, w, w0, R, C, gs, x, NT);
    print_message("%s g%d: before %.6g (reported %.6g) after %.6g (reported %.6g), %lld clipped\n",
                  format, gs, before, rep.err_before, after, rep.err_after,
                  (long long)rep.n_clipped);
    QK_ASSERT_NEAR_REL(rep.err_before, before, 1e-3);
    QK_ASSERT_NEAR_REL(rep.err_after, after, 1e-3);
    assert_true(after <= before * (1 + 1e-9));
    if (expect_gain) {
        assert_true(rep.n_clipped > 0);
        assert_true(after < 0.9 * before);
    }
    /* clipping only shrinks: |w| <= |w0| and the same sign or zero */
    for (int i = 0; i < R * C; i++) assert_true(fabsf(w[i]) <= fabsf(w0[i]) && w[i] * w0[i] >= 0);
    free(w);
    free(w0);
    free(x);
}

static void test_clip_never_worse(void **state) {
    (void)state;
    check_clip("w3g32", 32, true);   /* Gram form: group 32 < 40 tokens */
    check_clip("w3g128", 128, true); /* direct form: group 128 > 40 tokens */
    check_clip("w4g32", 32, false);
    check_clip("q4_k", 32, false); /* super-block scales couple the sub-blocks */
    check_clip("nf4", 64, false);  /* double quantization couples the blocks */
}

/* ---- errors --------------------------------------------------------------- */

static void test_awq_errors(void **state) {
    (void)state;
    const qk_llama_hparams *hp = &HP_GQA;
    qk_llama_model *m = qk_test_random_model(hp, 5);
    owned_layer o;
    owned_copy(&o, qk_llama_model_layer(m, 0));
    float *x = random_states(8, hp->n_embd, 1);
    qk_awq_options opt;
    qk_awq_options_default(&opt);
    QK_ASSERT_STATUS(qk_awq_apply_layer(hp, 0, &o.lw, x, 1, 8, &opt, NULL), QK_ERR_INVALID_ARG);
    opt.qdq = qdq_identity;
    QK_ASSERT_STATUS(qk_awq_apply_layer(hp, 0, &o.lw, x, 0, 8, &opt, NULL), QK_ERR_INVALID_ARG);
    opt.n_grid = 0;
    QK_ASSERT_STATUS(qk_awq_apply_layer(hp, 0, &o.lw, x, 1, 8, &opt, NULL), QK_ERR_INVALID_ARG);
    opt.n_grid = 20;
    o.lw.wq.type = QK_TYPE_F16; /* not f32 */
    QK_ASSERT_STATUS(qk_awq_apply_layer(hp, 0, &o.lw, x, 1, 8, &opt, NULL), QK_ERR_SHAPE);
    assert_non_null(strstr(qk_last_error(), "attn_q"));
    o.lw.wq.type = QK_TYPE_F32;
    /* without scale_vo_gqa the v -> o group is skipped under GQA */
    opt.scale_vo_gqa = false;
    qk_awq_report rep;
    QK_ASSERT_OK(qk_awq_apply_layer(hp, 0, &o.lw, x, 1, 8, &opt, &rep));
    assert_false(rep.groups[QK_AWQ_O].searched);
    assert_true(rep.groups[QK_AWQ_QKV].searched);
    free(x);
    owned_free(&o);
    qk_llama_model_free(m);
}

/* ---- simulated formats ----------------------------------------------------- */

static void test_weight_format_parse(void **state) {
    (void)state;
    qk_weight_format f;
    char buf[32];
    QK_ASSERT_OK(qk_weight_format_parse("w4g128", &f));
    assert_int_equal(f.kind, QK_WFORMAT_AFFINE);
    assert_int_equal(f.bits, 4);
    assert_int_equal(f.group_size, 128);
    assert_false(f.symmetric);
    assert_string_equal(qk_weight_format_name(&f, buf, sizeof buf), "w4g128");
    QK_ASSERT_OK(qk_weight_format_parse("W3G64s", &f));
    assert_true(f.symmetric && f.bits == 3 && f.group_size == 64);
    QK_ASSERT_OK(qk_weight_format_parse("w8", &f));
    assert_int_equal(f.group_size, 0);
    assert_int_equal(qk_weight_format_group(&f, 300), 300);
    QK_ASSERT_OK(qk_weight_format_parse("nf4", &f));
    assert_int_equal(f.kind, QK_WFORMAT_BLOCKWISE);
    assert_true(f.blockwise.double_quant && f.blockwise.block_size == 64);
    assert_string_equal(qk_weight_format_name(&f, buf, sizeof buf), "nf4");
    QK_ASSERT_OK(qk_weight_format_parse("fp4b128nodq", &f));
    assert_true(!f.blockwise.double_quant && f.blockwise.block_size == 128 &&
                f.blockwise.codebook == QK_CODEBOOK_FP4_BNB);
    QK_ASSERT_OK(qk_weight_format_parse("q4_k", &f));
    assert_int_equal(f.kind, QK_WFORMAT_GGML);
    assert_int_equal(f.ggml_type, QK_TYPE_Q4_K);
    assert_int_equal(qk_weight_format_group(&f, 256), 32);
    const char *bad[] = {"w1g128", "w9",   "w4g", "w4g0", "nf4b48",
                         "nf4x",   "q8_k", "i8",  "",     "w4g128q"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        QK_ASSERT_STATUS(qk_weight_format_parse(bad[i], &f), QK_ERR_INVALID_ARG);
    /* q4_0 needs whole blocks of 32 */
    QK_ASSERT_OK(qk_weight_format_parse("q4_0", &f));
    float w[40] = {0};
    QK_ASSERT_STATUS(qk_weight_format_qdq(&f, w, 1, 40), QK_ERR_SHAPE);
}

/* Affine w4 g8 / w3 per row against GPTQ's quantizer written out in double:
** range widened to 0, scale = (max - min) / maxq, zero = round(-min/scale),
** q = clamp(round(x / scale) + zero, 0, maxq); symmetric: zero = (maxq+1)/2,
** scale = 2 amax / maxq. */
static void check_affine(const char *spec, int bits, int gs, bool sym) {
    enum { R = 5, C = 24 };
    qk_test_rng rng;
    qk_test_rng_seed(&rng, (uint64_t)bits * 31 + (uint64_t)gs);
    float w[R * C], y[R * C];
    qk_test_fill_normal(&rng, w, R * C, 1.0f);
    for (int c = 0; c < 8; c++) w[c] = 0.1f + 0.01f * c; /* an all-positive group */
    memcpy(y, w, sizeof w);
    qk_weight_format f;
    QK_ASSERT_OK(qk_weight_format_parse(spec, &f));
    QK_ASSERT_OK(qk_weight_format_qdq(&f, y, R, C));
    const double maxq = (1 << bits) - 1;
    const int g = gs > 0 ? gs : C;
    for (int r = 0; r < R; r++)
        for (int c0 = 0; c0 < C; c0 += g) {
            double mn = 0, mx = 0;
            for (int c = c0; c < c0 + g; c++) {
                mn = fmin(mn, w[r * C + c]);
                mx = fmax(mx, w[r * C + c]);
            }
            double scale, zero;
            if (sym) {
                mx = fmax(-mn, mx);
                scale = 2 * mx / maxq;
                zero = (maxq + 1) / 2;
            } else {
                scale = (mx - mn) / maxq;
                zero = nearbyint(-mn / scale);
            }
            for (int c = c0; c < c0 + g; c++) {
                const double t = w[r * C + c] / scale;
                /* near a tie (the extreme of a symmetric range is exactly
                ** maxq/2 steps from the zero) f32 arithmetic may round
                ** either way: accept both neighbours there */
                const double qa = fmin(fmax(nearbyint(t - 1e-4) + zero, 0), maxq);
                const double qb = fmin(fmax(nearbyint(t + 1e-4) + zero, 0), maxq);
                const double yv = y[r * C + c];
                const double q = fabs(yv - (qa - zero) * scale) <= 1e-6 ? qa : qb;
                QK_ASSERT_NEAR_ABS(yv, (q - zero) * scale, 1e-6);
            }
        }
}

static void test_weight_format_affine(void **state) {
    (void)state;
    check_affine("w4g8", 4, 8, false);
    check_affine("w3", 3, 0, false);
    check_affine("w4g8s", 4, 8, true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scales_hand),
        cmocka_unit_test(test_w_mean_hand),
        cmocka_unit_test(test_fold_preserves_function),
        cmocka_unit_test(test_awq_beats_rtn_on_outliers),
        cmocka_unit_test(test_search_is_brute_force_min),
        cmocka_unit_test(test_clip_never_worse),
        cmocka_unit_test(test_awq_errors),
        cmocka_unit_test(test_weight_format_parse),
        cmocka_unit_test(test_weight_format_affine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
