/*
** The Llama forward pass against an independent, straightforward
** implementation in double precision (one token at a time, plain loops, no
** BLAS, no cache reuse tricks), on small random models: GQA, tied and
** untied output, attention biases, odd sizes. Also: batched decode equals
** token-by-token decode through the KV cache; hooks see every linear input;
** perplexity on a hand-checkable case.
*/
#include "qk_test.h"

#include "qk_test_model.h"

/* The weights as the reference reads them: borrowed f32 pointers into the
** model (qk_test_random_model makes every tensor f32). */
typedef struct ref_model {
    qk_llama_hparams hp;
    const float *embd, *out, *out_norm;
    const float **attn_norm, **wq, **wk, **wv, **wo, **bq, **bk, **bv, **ffn_norm, **wg, **wu, **wd;
} ref_model;

static qk_llama_model *build(ref_model *r, const qk_llama_hparams *hp, uint64_t seed) {
    qk_llama_model *m = qk_test_random_model(hp, seed);
    r->hp = *hp;
    r->embd = qk_llama_model_token_embd(m)->data;
    r->out = qk_llama_model_output(m)->data;
    r->out_norm = qk_llama_model_output_norm(m)->data;
    const float ***arrays[] = {&r->attn_norm, &r->wq, &r->wk,       &r->wv, &r->wo, &r->bq,
                               &r->bk,        &r->bv, &r->ffn_norm, &r->wg, &r->wu, &r->wd};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        *arrays[i] = calloc((size_t)hp->n_layer, sizeof(float *));
    for (int l = 0; l < hp->n_layer; l++) {
        const qk_llama_layer_weights *lw = qk_llama_model_layer(m, l);
        r->attn_norm[l] = lw->attn_norm.data, r->wq[l] = lw->wq.data, r->wk[l] = lw->wk.data;
        r->wv[l] = lw->wv.data, r->wo[l] = lw->wo.data, r->bq[l] = lw->bq.data;
        r->bk[l] = lw->bk.data, r->bv[l] = lw->bv.data, r->ffn_norm[l] = lw->ffn_norm.data;
        r->wg[l] = lw->w_gate.data, r->wu[l] = lw->w_up.data, r->wd[l] = lw->w_down.data;
    }
    return m;
}

static void set(qk_llama_model *m, const char *name, float *data, int32_t ndim, int64_t d0,
                int64_t d1) {
    qk_tensor_view v;
    int64_t shape[2] = {d0, d1};
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, ndim, shape, data));
    QK_ASSERT_OK(qk_llama_model_set_tensor(m, name, &v));
}

static void free_ref(ref_model *r) {
    const float **arrays[] = {r->attn_norm, r->wq, r->wk,       r->wv, r->wo, r->bq,
                              r->bk,        r->bv, r->ffn_norm, r->wg, r->wu, r->wd};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) free(arrays[i]);
}

static void ref_rmsnorm(const double *x, const float *w, double *y, int n, double eps) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    double k = 1.0 / sqrt(s / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * k * w[i];
}

static void ref_matvec(const float *w, const double *x, double *y, int out, int in) {
    for (int o = 0; o < out; o++) {
        double s = 0;
        for (int i = 0; i < in; i++) s += (double)w[(size_t)o * in + i] * x[i];
        y[o] = s;
    }
}

/* Logits for every position of `tokens`, computed the plain way. */
static double *ref_forward(const ref_model *r, const int32_t *tokens, int T) {
    const qk_llama_hparams *hp = &r->hp;
    const int E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab, hd = hp->head_dim;
    const int H = hp->n_head, KV = hp->n_head_kv, QD = H * hd, KD = KV * hd;
    double *logits = malloc((size_t)T * V * sizeof *logits);
    double *K = malloc((size_t)hp->n_layer * T * KD * sizeof *K);
    double *Vc = malloc((size_t)hp->n_layer * T * KD * sizeof *Vc);
    double *x = malloc(E * sizeof *x), *xn = malloc(E * sizeof *xn), *q = malloc(QD * sizeof *q);
    double *att = malloc(QD * sizeof *att), *tmp = malloc((E > F ? E : F) * sizeof *tmp);
    double *g = malloc(F * sizeof *g), *u = malloc(F * sizeof *u), *sc = malloc(T * sizeof *sc);
    for (int p = 0; p < T; p++) {
        for (int i = 0; i < E; i++) x[i] = r->embd[(size_t)tokens[p] * E + i];
        for (int l = 0; l < hp->n_layer; l++) {
            double *k = K + ((size_t)l * T + p) * KD, *v = Vc + ((size_t)l * T + p) * KD;
            ref_rmsnorm(x, r->attn_norm[l], xn, E, hp->rms_eps);
            ref_matvec(r->wq[l], xn, q, QD, E);
            ref_matvec(r->wk[l], xn, k, KD, E);
            ref_matvec(r->wv[l], xn, v, KD, E);
            if (hp->attn_bias) {
                for (int i = 0; i < QD; i++) q[i] += r->bq[l][i];
                for (int i = 0; i < KD; i++) k[i] += r->bk[l][i], v[i] += r->bv[l][i];
            }
            /* rotary: pair (2i, 2i+1) (NEOX: (i, i+hd/2)) of each head by
            ** the angle p * theta^(-2i/hd) */
            for (int h = 0; h < H + KV; h++) {
                double *vec = h < H ? q + h * hd : k + (h - H) * hd;
                for (int i = 0; i < hd / 2; i++) {
                    double a = p * pow(hp->rope_theta, -2.0 * i / hd);
                    int i0 = hp->rope_neox ? i : 2 * i, i1 = hp->rope_neox ? i + hd / 2 : 2 * i + 1;
                    double x0 = vec[i0], x1 = vec[i1];
                    vec[i0] = x0 * cos(a) - x1 * sin(a);
                    vec[i1] = x0 * sin(a) + x1 * cos(a);
                }
            }
            for (int h = 0; h < H; h++) {
                int gkv = h / (H / KV);
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= p; j++) {
                    const double *kj = K + ((size_t)l * T + j) * KD + gkv * hd;
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += q[h * hd + i] * kj[i];
                    sc[j] = s / sqrt((double)hd);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= p; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int i = 0; i < hd; i++) {
                    double o = 0;
                    for (int j = 0; j <= p; j++)
                        o += sc[j] / sum * Vc[((size_t)l * T + j) * KD + gkv * hd + i];
                    att[h * hd + i] = o;
                }
            }
            ref_matvec(r->wo[l], att, tmp, E, QD);
            for (int i = 0; i < E; i++) x[i] += tmp[i];
            ref_rmsnorm(x, r->ffn_norm[l], xn, E, hp->rms_eps);
            ref_matvec(r->wg[l], xn, g, F, E);
            ref_matvec(r->wu[l], xn, u, F, E);
            for (int i = 0; i < F; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            ref_matvec(r->wd[l], g, tmp, E, F);
            for (int i = 0; i < E; i++) x[i] += tmp[i];
        }
        ref_rmsnorm(x, r->out_norm, xn, E, hp->rms_eps);
        ref_matvec(r->out, xn, logits + (size_t)p * V, V, E);
    }
    free(K), free(Vc), free(x), free(xn), free(q), free(att), free(tmp), free(g), free(u), free(sc);
    return logits;
}

static void check_model(const qk_llama_hparams *hp, uint64_t seed, int T) {
    ref_model r;
    qk_llama_model *m = build(&r, hp, seed);
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed + 1);
    int32_t *tokens = malloc((size_t)T * sizeof *tokens);
    for (int t = 0; t < T; t++)
        tokens[t] = (int32_t)(qk_test_rng_u64(&rng) % (uint64_t)hp->n_vocab);
    double *want = ref_forward(&r, tokens, T);

    qk_llama_context *ctx;
    QK_ASSERT_OK(qk_llama_context_create(m, T, &ctx));
    float *got = malloc((size_t)T * hp->n_vocab * sizeof *got);
    QK_ASSERT_OK(qk_llama_decode(ctx, tokens, T, got, true));
    double max_err = 0, max_abs = 0;
    for (size_t i = 0; i < (size_t)T * hp->n_vocab; i++) {
        max_err = fmax(max_err, fabs(got[i] - want[i]));
        max_abs = fmax(max_abs, fabs(want[i]));
    }
    /* f32 arithmetic over a few hundred terms: relative error ~1e-6 per
    ** op, amplified by depth; 1e-4 of the logit scale is ample yet far
    ** below any real bug (a wrong rotation or mask changes logits by O(1)). */
    if (max_err > 1e-4 * max_abs)
        fail_msg("batched logits differ from reference by %g (scale %g)", max_err, max_abs);

    /* token-by-token through the KV cache, in uneven pieces */
    qk_llama_context_reset(ctx);
    float *step = malloc((size_t)hp->n_vocab * sizeof *step);
    int pos = 0, piece = 1;
    while (pos < T) {
        int n = piece < T - pos ? piece : T - pos;
        QK_ASSERT_OK(qk_llama_decode(ctx, tokens + pos, n, step, false));
        pos += n;
        for (int i = 0; i < hp->n_vocab; i++)
            QK_ASSERT_NEAR_ABS(step[i], want[(size_t)(pos - 1) * hp->n_vocab + i], 1e-4 * max_abs);
        piece = piece % 3 + 1;
    }
    assert_int_equal(qk_llama_context_n_past(ctx), T);
    QK_ASSERT_STATUS(qk_llama_decode(ctx, tokens, 1, step, false), QK_ERR_INVALID_ARG);

    free(step), free(got), free(want), free(tokens);
    qk_llama_context_free(ctx);
    qk_llama_model_free(m);
    free_ref(&r);
}

static void test_forward_gqa_untied(void **state) {
    (void)state;
    qk_llama_hparams hp = {.n_vocab = 37,
                           .n_embd = 24,
                           .n_ff = 40,
                           .n_layer = 2,
                           .n_head = 6,
                           .n_head_kv = 2,
                           .head_dim = 4,
                           .n_ctx_train = 64,
                           .rms_eps = 1e-5f,
                           .rope_theta = 10000.0f};
    check_model(&hp, 11, 19);
}

static void test_forward_tied_bias_mha(void **state) {
    (void)state;
    qk_llama_hparams hp = {.n_vocab = 50,
                           .n_embd = 32,
                           .n_ff = 56,
                           .n_layer = 3,
                           .n_head = 4,
                           .n_head_kv = 4,
                           .head_dim = 8,
                           .n_ctx_train = 64,
                           .rms_eps = 1e-6f,
                           .rope_theta = 500.0f,
                           .attn_bias = true,
                           .tied_output = true,
                           .rope_neox = true};
    check_model(&hp, 12, 23);
}

static void test_forward_head_dim_not_embd_over_heads(void **state) {
    (void)state;
    /* head_dim * n_head != n_embd (allowed by some configs) */
    qk_llama_hparams hp = {.n_vocab = 20,
                           .n_embd = 16,
                           .n_ff = 24,
                           .n_layer = 1,
                           .n_head = 2,
                           .n_head_kv = 1,
                           .head_dim = 10,
                           .n_ctx_train = 64,
                           .rms_eps = 1e-5f,
                           .rope_theta = 10000.0f};
    check_model(&hp, 13, 9);
}

typedef struct hook_log {
    int calls[QK_LINEAR_COUNT];
    int64_t rows;
} hook_log;

static void record_hook(void *user, int32_t layer, qk_llama_linear which, const float *x,
                        int64_t n_rows, int64_t n_cols) {
    hook_log *log = user;
    (void)layer, (void)x, (void)n_cols;
    log->calls[which]++;
    log->rows += n_rows;
}

static void test_hooks_and_errors(void **state) {
    (void)state;
    qk_llama_hparams hp = {.n_vocab = 30,
                           .n_embd = 16,
                           .n_ff = 24,
                           .n_layer = 2,
                           .n_head = 2,
                           .n_head_kv = 1,
                           .head_dim = 8,
                           .n_ctx_train = 64,
                           .rms_eps = 1e-5f,
                           .rope_theta = 10000.0f};
    ref_model r;
    qk_llama_model *m = build(&r, &hp, 5);
    qk_llama_context *ctx;
    QK_ASSERT_OK(qk_llama_context_create(m, 16, &ctx));
    hook_log log = {0};
    qk_llama_context_set_hook(ctx, record_hook, &log);
    int32_t tokens[5] = {1, 2, 3, 4, 5};
    float logits[30];
    QK_ASSERT_OK(qk_llama_decode(ctx, tokens, 5, logits, false));
    for (int w = 0; w < QK_LINEAR_OUTPUT; w++) assert_int_equal(log.calls[w], 2);
    assert_int_equal(log.calls[QK_LINEAR_OUTPUT], 1);
    assert_int_equal(log.rows, 2 * 7 * 5 + 1);
    int32_t bad[2] = {3, 30};
    QK_ASSERT_STATUS(qk_llama_decode(ctx, bad, 2, logits, false), QK_ERR_OUT_OF_BOUNDS);
    assert_non_null(strstr(qk_last_error(), "index 1"));
    qk_llama_context_free(ctx);

    /* a missing tensor is named */
    qk_llama_model *empty;
    QK_ASSERT_OK(qk_llama_model_create(&hp, &empty));
    QK_ASSERT_STATUS(qk_llama_model_finish(empty), QK_ERR_NOT_FOUND);
    assert_non_null(strstr(qk_last_error(), "token_embd"));
    float junk[16 * 24];
    qk_tensor_view v;
    int64_t shape[2] = {16, 24};
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape, junk));
    QK_ASSERT_STATUS(qk_llama_model_set_tensor(empty, "blk.0.attn_q.weight", &v), QK_ERR_SHAPE);
    QK_ASSERT_STATUS(qk_llama_model_set_tensor(empty, "blk.7.attn_q.weight", &v), QK_ERR_NOT_FOUND);
    qk_llama_model_free(empty);
    qk_llama_model_free(m);
    free_ref(&r);
}

/* A model whose logits ignore the input (all weights zero but the output
** bias-free projection of a constant): every token has probability given
** by softmax of a known logit vector, so the perplexity is known exactly. */
static void test_perplexity_known_value(void **state) {
    (void)state;
    qk_llama_hparams hp = {.n_vocab = 4,
                           .n_embd = 2,
                           .n_ff = 2,
                           .n_layer = 1,
                           .n_head = 1,
                           .n_head_kv = 1,
                           .head_dim = 2,
                           .n_ctx_train = 64,
                           .rms_eps = 1e-5f,
                           .rope_theta = 10000.0f};
    qk_llama_model *m;
    QK_ASSERT_OK(qk_llama_model_create(&hp, &m));
    float embd[8] = {1, 0, 1, 0, 1, 0, 1, 0}; /* every token embeds to (1, 0) */
    float ones[2] = {1, 1}, zeros4[4] = {0}, zeros_big[8] = {0};
    /* output row v = (a_v, 0): after RMSNorm x = (sqrt(2), 0) (eps ~ 0) */
    float out[8] = {0, 0, 1, 0, 2, 0, 3, 0};
    set(m, "token_embd.weight", embd, 2, 4, 2);
    set(m, "output.weight", out, 2, 4, 2);
    set(m, "output_norm.weight", ones, 1, 2, 0);
    set(m, "blk.0.attn_norm.weight", ones, 1, 2, 0);
    set(m, "blk.0.ffn_norm.weight", ones, 1, 2, 0);
    const char *mats[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                          "ffn_gate", "ffn_up", "ffn_down"};
    char name[64];
    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof name, "blk.0.%s.weight", mats[i]);
        set(m, name, i < 4 ? zeros4 : zeros_big, 2, 2, 2);
    }
    QK_ASSERT_OK(qk_llama_model_finish(m));
    qk_llama_context *ctx;
    QK_ASSERT_OK(qk_llama_context_create(m, 8, &ctx));
    /* 20 tokens, ctx 8: 2 chunks; positions 4..6 of each predict tokens 5..7 */
    int32_t tokens[20];
    for (int i = 0; i < 20; i++) tokens[i] = (i * 7 + 3) % 4;
    qk_ppl_result res;
    QK_ASSERT_OK(qk_perplexity(ctx, NULL, tokens, 20, 8, 0, 1, NULL, NULL, &res));
    assert_int_equal(res.n_chunks, 2);
    assert_int_equal(res.n_scored, 6);
    /* logits = a_v * s with s = sqrt(2)/sqrt(1 + eps) the normalised value */
    const double s = 1.0 / sqrt(0.5 + 1e-5) * 1.0;
    double lse = log(exp(0) + exp(s) + exp(2 * s) + exp(3 * s)), nll = 0;
    for (int c = 0; c < 2; c++)
        for (int j = 4; j < 7; j++) nll -= tokens[c * 8 + j + 1] * s - lse;
    QK_ASSERT_NEAR_REL(res.ppl, exp(nll / 6), 1e-5);

    /* against itself as reference: KL 0, full agreement */
    QK_ASSERT_OK(qk_perplexity(ctx, ctx, tokens, 20, 8, 1, 1, NULL, NULL, &res));
    QK_ASSERT_NEAR_ABS(res.kl_mean, 0.0, 1e-12);
    QK_ASSERT_NEAR_REL(res.top1_agree, 1.0, 0);
    QK_ASSERT_STATUS(qk_perplexity(ctx, NULL, tokens, 15, 8, 0, 1, NULL, NULL, &res),
                     QK_ERR_INVALID_ARG);
    qk_llama_context_free(ctx);
    qk_llama_model_free(m);
}

/* Embedding + qk_llama_layer_forward per layer + final norm and output
** gives the same last hidden state path as qk_llama_decode: identical
** logits, for two sequences at once. */
static void test_layer_by_layer_equals_decode(void **state) {
    (void)state;
    qk_llama_hparams hp = {.n_vocab = 33,
                           .n_embd = 24,
                           .n_ff = 40,
                           .n_layer = 3,
                           .n_head = 6,
                           .n_head_kv = 3,
                           .head_dim = 4,
                           .n_ctx_train = 64,
                           .rms_eps = 1e-5f,
                           .rope_theta = 10000.0f,
                           .attn_bias = true};
    qk_llama_model *m = qk_test_random_model(&hp, 21);
    enum { T = 13 };
    int32_t tokens[2 * T];
    for (int i = 0; i < 2 * T; i++) tokens[i] = (i * 5 + 3) % 33;
    float *x = malloc(2 * T * 24 * sizeof *x);
    QK_ASSERT_OK(qk_llama_embed(m, tokens, 2 * T, x));
    for (int l = 0; l < 3; l++)
        QK_ASSERT_OK(
            qk_llama_layer_forward(&hp, l, qk_llama_model_layer(m, l), x, 2, T, NULL, NULL));
    qk_llama_context *ctx;
    QK_ASSERT_OK(qk_llama_context_create(m, T, &ctx));
    float logits[T * 33], mine[33], xn[24];
    for (int s = 0; s < 2; s++) {
        qk_llama_context_reset(ctx);
        QK_ASSERT_OK(qk_llama_decode(ctx, tokens + s * T, T, logits, true));
        /* last position of sequence s: RMSNorm then output, computed here */
        const float *h = x + ((size_t)s * T + T - 1) * 24;
        double ss = 0;
        for (int i = 0; i < 24; i++) ss += (double)h[i] * h[i];
        const float k = 1.0f / sqrtf((float)(ss / 24) + hp.rms_eps);
        const float *nw = qk_llama_model_output_norm(m)->data;
        for (int i = 0; i < 24; i++) xn[i] = h[i] * k * nw[i];
        QK_ASSERT_OK(qk_matmul(qk_llama_model_output(m), xn, 1, mine));
        for (int v = 0; v < 33; v++) QK_ASSERT_NEAR_ABS(mine[v], logits[(T - 1) * 33 + v], 1e-5);
    }
    free(x);
    qk_llama_context_free(ctx);
    qk_llama_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_gqa_untied),
        cmocka_unit_test(test_forward_tied_bias_mha),
        cmocka_unit_test(test_forward_head_dim_not_embd_over_heads),
        cmocka_unit_test(test_hooks_and_errors),
        cmocka_unit_test(test_perplexity_known_value),
        cmocka_unit_test(test_layer_by_layer_equals_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
