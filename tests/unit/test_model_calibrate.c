/*
** Calibration capture: window sampling is deterministic and within range;
** the accumulated statistics equal sums computed independently from the
** rows a recording hook saw (sum x^2, sum |x|, X^T X in double); q/k/v and
** gate/up share one entry; statistics survive a save/load round trip; the
** importance vector is sum x^2 / rows.
*/
#include "qk_test.h"
#include "qk_test_model.h"

static void test_sampling(void **state) {
    (void)state;
    int32_t tokens[100];
    for (int i = 0; i < 100; i++) tokens[i] = 1000 + i;
    qk_calib_sampling s = {.n_samples = 7, .sample_len = 10, .seed = 42, .bos = 1};
    int32_t n = 0, a[100], b[100];
    QK_ASSERT_OK(qk_calib_sample(tokens, 100, &s, NULL, &n));
    assert_int_equal(n, 7);
    QK_ASSERT_OK(qk_calib_sample(tokens, 100, &s, a, &n));
    QK_ASSERT_OK(qk_calib_sample(tokens, 100, &s, b, &n));
    assert_memory_equal(a, b, 70 * sizeof a[0]); /* same seed, same windows */
    for (int w = 0; w < 7; w++) {
        assert_int_equal(a[w * 10], 1); /* BOS first */
        const int start = a[w * 10 + 1] - 1000 - 1;
        assert_true(start >= 0 && start <= 90);
        for (int j = 1; j < 10; j++) assert_int_equal(a[w * 10 + j], 1000 + start + j);
    }
    s.seed = 43;
    QK_ASSERT_OK(qk_calib_sample(tokens, 100, &s, b, &n));
    assert_memory_not_equal(a, b, 70 * sizeof a[0]);
    /* 0 samples: every whole window in order */
    s.n_samples = 0;
    s.bos = -1;
    QK_ASSERT_OK(qk_calib_sample(tokens, 100, &s, NULL, &n));
    assert_int_equal(n, 10);
    QK_ASSERT_OK(qk_calib_sample(tokens, 100, &s, a, &n));
    for (int i = 0; i < 100; i++) assert_int_equal(a[i], 1000 + i);
    s.sample_len = 101;
    QK_ASSERT_STATUS(qk_calib_sample(tokens, 100, &s, NULL, &n), QK_ERR_INVALID_ARG);
}

/* Recording hook: every (layer, linear) input row, kept in double sums. */
typedef struct record {
    int64_t cols[8][QK_LINEAR_COUNT];
    int64_t rows[8][QK_LINEAR_COUNT];
    double *x2[8][QK_LINEAR_COUNT], *ax[8][QK_LINEAR_COUNT], *xtx[8][QK_LINEAR_COUNT];
} record;

static void record_hook(void *user, int32_t layer, qk_llama_linear which, const float *x,
                        int64_t n_rows, int64_t n_cols) {
    record *r = user;
    int l = layer < 0 ? 7 : layer;
    if (!r->x2[l][which]) {
        r->cols[l][which] = n_cols;
        r->x2[l][which] = calloc((size_t)n_cols, sizeof(double));
        r->ax[l][which] = calloc((size_t)n_cols, sizeof(double));
        r->xtx[l][which] = calloc((size_t)(n_cols * n_cols), sizeof(double));
    }
    for (int64_t i = 0; i < n_rows; i++)
        for (int64_t j = 0; j < n_cols; j++) {
            const double v = x[i * n_cols + j];
            r->x2[l][which][j] += v * v;
            r->ax[l][which][j] += fabs(v);
            for (int64_t k = 0; k < n_cols; k++)
                r->xtx[l][which][j * n_cols + k] += v * (double)x[i * n_cols + k];
        }
    r->rows[l][which] += n_rows;
}

static void check_input(const qk_calib_stats *st, const record *r, int layer, qk_llama_linear w) {
    qk_calib_input in;
    QK_ASSERT_OK(qk_calib_stats_get(st, layer, w, &in));
    const int l = layer < 0 ? 7 : layer;
    assert_int_equal(in.n_cols, r->cols[l][w]);
    assert_int_equal(in.n_rows, r->rows[l][w]);
    for (int64_t j = 0; j < in.n_cols; j++) {
        QK_ASSERT_NEAR_REL(in.sum_x2[j], r->x2[l][w][j], 1e-12);
        QK_ASSERT_NEAR_REL(in.sum_abs[j], r->ax[l][w][j], 1e-12);
    }
    /* X^T X is formed per batch in f32 by BLAS: relative error ~ rows * eps */
    assert_non_null(in.xtx);
    double scale = 0;
    for (int64_t j = 0; j < in.n_cols; j++) scale = fmax(scale, in.sum_x2[j]);
    for (int64_t j = 0; j < in.n_cols * in.n_cols; j++)
        QK_ASSERT_NEAR_ABS(in.xtx[j], r->xtx[l][w][j], 1e-5 * scale);
}

static void test_statistics_and_file(void **state) {
    (void)state;
    qk_llama_hparams hp = {.n_vocab = 40,
                           .n_embd = 16,
                           .n_ff = 24,
                           .n_layer = 2,
                           .n_head = 4,
                           .n_head_kv = 2,
                           .head_dim = 4,
                           .n_ctx_train = 64,
                           .rms_eps = 1e-5f,
                           .rope_theta = 10000.0f};
    qk_llama_model *m = qk_test_random_model(&hp, 77);
    int32_t windows[3 * 12];
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 5);
    for (int i = 0; i < 36; i++) windows[i] = (int32_t)(qk_test_rng_u64(&rng) % 40);
    qk_calib_stats *st;
    QK_ASSERT_OK(qk_calib_stats_create(&hp, true, &st));
    QK_ASSERT_OK(qk_calib_collect(m, windows, 3, 12, st, NULL, NULL));
    assert_int_equal(qk_calib_stats_rows(st), 36);

    /* the same windows through a recording hook */
    record *r = calloc(1, sizeof *r);
    qk_llama_context *ctx;
    QK_ASSERT_OK(qk_llama_context_create(m, 12, &ctx));
    qk_llama_context_set_hook(ctx, record_hook, r);
    float logits[12 * 40];
    for (int w = 0; w < 3; w++) {
        qk_llama_context_reset(ctx);
        QK_ASSERT_OK(qk_llama_decode(ctx, windows + w * 12, 12, logits, true));
    }
    for (int l = 0; l < 2; l++)
        for (int w = 0; w < QK_LINEAR_OUTPUT; w++) check_input(st, r, l, (qk_llama_linear)w);
    check_input(st, r, -1, QK_LINEAR_OUTPUT);
    /* q, k and v read one input: one entry */
    qk_calib_input a, b;
    QK_ASSERT_OK(qk_calib_stats_get(st, 1, QK_LINEAR_K, &a));
    QK_ASSERT_OK(qk_calib_stats_get_by_name(st, "blk.1.attn_v.weight", &b));
    assert_ptr_equal(a.sum_x2, b.sum_x2);
    float imp[24];
    QK_ASSERT_OK(qk_calib_stats_importance(st, "blk.0.ffn_down.weight", imp, 24));
    for (int j = 0; j < 24; j++)
        QK_ASSERT_NEAR_REL(imp[j], r->x2[0][QK_LINEAR_DOWN][j] / 36.0, 1e-6);
    QK_ASSERT_STATUS(qk_calib_stats_importance(st, "blk.0.ffn_down.weight", imp, 23), QK_ERR_SHAPE);
    QK_ASSERT_STATUS(qk_calib_stats_get_by_name(st, "token_embd.weight", &a), QK_ERR_NOT_FOUND);

    /* save and load: identical numbers */
    const char *path = qk_test_tmp_path("stats.gguf");
    qk_calib_meta meta = {.text_path = "calib.txt",
                          .text_sha256 = "00ff",
                          .sampling = {.n_samples = 3, .sample_len = 12, .seed = 9, .bos = -1},
                          .n_samples_used = 3};
    QK_ASSERT_OK(qk_calib_stats_save(st, &meta, path));
    qk_calib_stats *back;
    QK_ASSERT_OK(qk_calib_stats_load(path, &back));
    for (int l = -1; l < 2; l++)
        for (int w = l < 0 ? QK_LINEAR_OUTPUT : 0; w <= (l < 0 ? QK_LINEAR_OUTPUT : QK_LINEAR_DOWN);
             w++) {
            QK_ASSERT_OK(qk_calib_stats_get(st, l, (qk_llama_linear)w, &a));
            QK_ASSERT_OK(qk_calib_stats_get(back, l, (qk_llama_linear)w, &b));
            assert_int_equal(a.n_rows, b.n_rows);
            assert_memory_equal(a.sum_x2, b.sum_x2, (size_t)a.n_cols * sizeof(double));
            assert_memory_equal(a.sum_abs, b.sum_abs, (size_t)a.n_cols * sizeof(double));
            assert_memory_equal(a.xtx, b.xtx, (size_t)(a.n_cols * a.n_cols) * sizeof(double));
        }
    qk_calib_stats_free(back);
    /* a file that is not calibration statistics */
    qk_gguf_writer *wr;
    const char *other = qk_test_tmp_path("other.gguf");
    QK_ASSERT_OK(qk_gguf_writer_create(other, &wr));
    QK_ASSERT_OK(qk_gguf_writer_add_str(wr, "general.type", "model"));
    QK_ASSERT_OK(qk_gguf_writer_commit(wr));
    qk_gguf_writer_free(wr);
    QK_ASSERT_STATUS(qk_calib_stats_load(other, &back), QK_ERR_CORRUPT);

    for (int l = 0; l < 8; l++)
        for (int w = 0; w < QK_LINEAR_COUNT; w++)
            free(r->x2[l][w]), free(r->ax[l][w]), free(r->xtx[l][w]);
    free(r);
    qk_llama_context_free(ctx);
    qk_calib_stats_free(st);
    qk_llama_model_free(m);
}

/* A calibration file states the model shape, and the statistics are
** allocated for it before any tensor is read: a shape the file cannot hold
** is refused with an error naming the file, before anything is allocated
** (found by fuzzing: a 2 KB file asked for 2.7 GB). A complete file larger
** than the slack still loads. */
static void write_calib_header(const char *path, const qk_llama_hparams *hp, bool xtx_tensor) {
    qk_gguf_writer *w;
    QK_ASSERT_OK(qk_gguf_writer_create(path, &w));
    QK_ASSERT_OK(qk_gguf_writer_add_u32(w, "quantkit.calib.version", 1));
    QK_ASSERT_OK(qk_gguf_writer_add_i32(w, "quantkit.calib.n_vocab", hp->n_vocab));
    QK_ASSERT_OK(qk_gguf_writer_add_i32(w, "quantkit.calib.n_embd", hp->n_embd));
    QK_ASSERT_OK(qk_gguf_writer_add_i32(w, "quantkit.calib.n_ff", hp->n_ff));
    QK_ASSERT_OK(qk_gguf_writer_add_i32(w, "quantkit.calib.n_layer", hp->n_layer));
    QK_ASSERT_OK(qk_gguf_writer_add_i32(w, "quantkit.calib.n_head", hp->n_head));
    QK_ASSERT_OK(qk_gguf_writer_add_i32(w, "quantkit.calib.n_head_kv", hp->n_head_kv));
    QK_ASSERT_OK(qk_gguf_writer_add_i32(w, "quantkit.calib.head_dim", hp->head_dim));
    const int64_t one = 1;
    const double zero = 0;
    if (xtx_tensor)
        QK_ASSERT_OK(qk_gguf_writer_add_tensor(w, "blk.0.attn_in.xtx", QK_TYPE_F64, 1, &one));
    QK_ASSERT_OK(qk_gguf_writer_begin(w));
    if (xtx_tensor) QK_ASSERT_OK(qk_gguf_writer_write(w, &zero, sizeof zero));
    QK_ASSERT_OK(qk_gguf_writer_commit(w));
    qk_gguf_writer_free(w);
}

static void test_file_states_impossible_shape(void **state) {
    (void)state;
    const char *path = qk_test_tmp_path("calib_shape.gguf");
    qk_calib_stats *st = NULL;
    /* the fuzzer's shape: 16,774,913 layers of 32 columns in a file of a few hundred bytes */
    qk_llama_hparams hp = {.n_vocab = 4,
                           .n_embd = 32,
                           .n_ff = 64,
                           .n_layer = 16774913,
                           .n_head = 2,
                           .n_head_kv = 1,
                           .head_dim = 16};
    write_calib_header(path, &hp, false);
    QK_ASSERT_STATUS(qk_calib_stats_load(path, &st), QK_ERR_CORRUPT);
    assert_null(st);
    assert_non_null(strstr(qk_last_error(), path));
    assert_non_null(strstr(qk_last_error(), "n_layer 16774913"));
    assert_non_null(strstr(qk_last_error(), "from offset"));
    /* a small shape with no tensors at all: every input unseen, loads */
    hp.n_layer = 2;
    write_calib_header(path, &hp, false);
    QK_ASSERT_OK(qk_calib_stats_load(path, &st));
    qk_calib_input in;
    QK_ASSERT_STATUS(qk_calib_stats_get(st, 0, QK_LINEAR_Q, &in), QK_ERR_NOT_FOUND);
    qk_calib_stats_free(st);
    st = NULL;
    /* the same shape with X^T X of 512 columns: 5 * 512^2 doubles (10.5 MB) for a tiny file */
    hp.n_embd = hp.n_ff = 512;
    hp.n_layer = 1;
    hp.n_head = 8;
    hp.head_dim = 64;
    write_calib_header(path, &hp, true);
    QK_ASSERT_STATUS(qk_calib_stats_load(path, &st), QK_ERR_CORRUPT);
    assert_non_null(strstr(qk_last_error(), "with X^T X"));
    /* invalid sizes are refused, naming the file */
    hp.n_ff = -1;
    write_calib_header(path, &hp, false);
    QK_ASSERT_STATUS(qk_calib_stats_load(path, &st), QK_ERR_CONFIG);
    assert_non_null(strstr(qk_last_error(), path));

    /* a complete file of 3.4 MB (X^T X of 128..384 columns) loads, rows intact */
    qk_llama_hparams big = {.n_vocab = 8,
                            .n_embd = 128,
                            .n_ff = 384,
                            .n_layer = 2,
                            .n_head = 4,
                            .n_head_kv = 2,
                            .head_dim = 32,
                            .rms_eps = 1e-5f,
                            .rope_theta = 10000.0f};
    QK_ASSERT_OK(qk_calib_stats_create(&big, true, &st));
    float *rows = calloc(2 * 384, sizeof *rows);
    assert_non_null(rows);
    for (int i = 0; i < 2 * 384; i++) rows[i] = (float)(i % 7) - 3.0f;
    for (int l = 0; l < 2; l++) {
        qk_calib_stats_hook(st, l, QK_LINEAR_Q, rows, 2, 128);
        qk_calib_stats_hook(st, l, QK_LINEAR_O, rows, 2, 128);
        qk_calib_stats_hook(st, l, QK_LINEAR_GATE, rows, 2, 128);
        qk_calib_stats_hook(st, l, QK_LINEAR_DOWN, rows, 2, 384);
    }
    qk_calib_stats_hook(st, -1, QK_LINEAR_OUTPUT, rows, 2, 128);
    QK_ASSERT_OK(qk_calib_stats_save(st, NULL, path));
    qk_calib_stats_free(st);
    QK_ASSERT_OK(qk_calib_stats_load(path, &st));
    QK_ASSERT_OK(qk_calib_stats_get(st, 1, QK_LINEAR_DOWN, &in));
    assert_int_equal(in.n_rows, 2);
    assert_int_equal(in.n_cols, 384);
    /* column 383 of the two rows: 383 % 7 - 3 = 2 and 767 % 7 - 3 = 1, so 4 + 1 */
    assert_true(in.sum_x2[383] == 5.0 && in.xtx[383 * 384 + 383] == 5.0);
    qk_calib_stats_free(st);
    free(rows);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_statistics_and_file),
        cmocka_unit_test(test_file_states_impossible_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
