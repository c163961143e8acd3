/*
** Sensitivity analysis (quantkit/sensitivity.h): the weight-side numbers
** on a 2 x 2 layer worked by hand; on stories260k every entry recomputed
** independently (quantize with the statistics' importance, dequantize,
** sums in the test), the end-to-end KL equal to qk_perplexity's KL of the
** same model with that one tensor replaced, and the calibrated predicted
** loss equal to gain * proxy with gain = KL / proxy in the KL format.
** labels: fixtures
*/
#include "qk_test.h"

/* W = [[1, 2], [3, 4]], W' = [[0.5, 1.5], [2, 4]], dW = [[0.5, 0.5], [1, 0]];
** m = [2, 3], S = [[2, 1], [1, 3]].
**   column sums of dW^2: [1.25, 0.25], total 1.5
**   imatrix_err = 2 * 1.25 + 3 * 0.25 = 3.25
**   hawq = (2 + 3) / 2 * 1.5 = 3.75
**   output_err = [.5 .5] S [.5 .5]^T + [1 0] S [1 0]^T = 1.75 + 2 = 3.75
**   tr(W S W^T) = [1 2] S [1 2]^T + [3 4] S [3 4]^T = 18 + 90 = 108
**   mse = 1.5 / 4; sqnr = 10 log10(30 / 1.5); cosine = 25.5 / sqrt(30 * 22.5) */
static void test_weight_errors_by_hand(void **state) {
    (void)state;
    const float w[4] = {1, 2, 3, 4}, wq[4] = {0.5f, 1.5f, 2, 4};
    const double m[2] = {2, 3}, s[4] = {2, 1, 1, 3};
    qk_sens_entry e;
    memset(&e, 0, sizeof e);
    double power;
    QK_ASSERT_OK(qk_sens_weight_errors(w, wq, 2, 2, m, s, &e, &power));
    assert_true(e.imatrix_err == 3.25);
    assert_true(e.hawq == 3.75);
    QK_ASSERT_NEAR_REL(e.output_err, 3.75, 1e-15);
    QK_ASSERT_NEAR_REL(power, 108.0, 1e-15);
    QK_ASSERT_NEAR_REL(e.output_rel, 3.75 / 108.0, 1e-15);
    QK_ASSERT_NEAR_REL(e.mse, 0.375, 1e-15);
    QK_ASSERT_NEAR_REL(e.sqnr_db, 10.0 * log10(20.0), 1e-12);
    QK_ASSERT_NEAR_REL(e.cosine, 25.5 / sqrt(675.0), 1e-12);
    /* without statistics: every m_j = 1, no output error */
    QK_ASSERT_OK(qk_sens_weight_errors(w, wq, 2, 2, NULL, NULL, &e, &power));
    assert_true(e.imatrix_err == 1.5);
    assert_true(e.hawq == 1.5);
    assert_true(isnan(e.output_err) && isnan(e.output_rel) && isnan(power));
    QK_ASSERT_STATUS(qk_sens_weight_errors(w, wq, 0, 2, NULL, NULL, &e, NULL), QK_ERR_INVALID_ARG);
}

static void test_names(void **state) {
    (void)state;
    qk_sens_proxy p;
    qk_sens_kl_mode k;
    QK_ASSERT_OK(qk_sens_proxy_parse("output", &p));
    assert_int_equal(p, QK_SENS_PROXY_OUTPUT);
    assert_string_equal(qk_sens_proxy_name(QK_SENS_PROXY_HAWQ), "hawq");
    QK_ASSERT_STATUS(qk_sens_proxy_parse("fisher", &p), QK_ERR_INVALID_ARG);
    QK_ASSERT_OK(qk_sens_kl_mode_parse("calibrate", &k));
    assert_int_equal(k, QK_SENS_KL_CALIBRATE);
    QK_ASSERT_STATUS(qk_sens_kl_mode_parse("some", &k), QK_ERR_INVALID_ARG);
}

/* ---- stories260k ------------------------------------------------------------ */

enum { LEN = 64, N_CALIB = 6, N_KL = 2 };

typedef struct s260k {
    char model[4096];
    qk_calib_stats *stats;
    int32_t windows[N_CALIB * LEN];
    int64_t counts[512];
} s260k;

static void setup_260k(s260k *t) {
    /* qk_test_fixture's buffers are reused: keep a copy */
    snprintf(t->model, sizeof t->model, "%s",
             qk_test_fixture("models/stories260k/stories260K.bin"));
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_load_for_model(
        t->model, qk_test_fixture("models/stories260k/tok512.bin"), NULL, &tok));
    size_t n;
    unsigned char *text = qk_test_read_file(qk_test_fixture("text/tinystories_val.txt"), &n);
    assert_non_null(text);
    int32_t *ids;
    size_t n_ids;
    QK_ASSERT_OK(qk_tokenizer_encode_alloc(tok, (const char *)text, n < 20000 ? n : 20000, false,
                                           false, &ids, &n_ids));
    qk_calib_sampling s = {
        .n_samples = N_CALIB, .sample_len = LEN, .seed = 5, .bos = qk_tokenizer_bos_id(tok)};
    int32_t nw;
    QK_ASSERT_OK(qk_calib_sample(ids, (int64_t)n_ids, &s, t->windows, &nw));
    memset(t->counts, 0, sizeof t->counts);
    for (int i = 0; i < N_CALIB * LEN; i++) t->counts[t->windows[i]]++;
    qk_llama_model *m;
    QK_ASSERT_OK(qk_llama_model_load(t->model, &m));
    QK_ASSERT_OK(qk_calib_stats_create(qk_llama_model_hparams(m), true, &t->stats));
    QK_ASSERT_OK(qk_calib_collect(m, t->windows, N_CALIB, LEN, t->stats, NULL, NULL));
    qk_llama_model_free(m);
    free(ids);
    free(text);
    qk_tokenizer_free(tok);
}

/* The numbers of one entry, computed here from scratch. */
static void check_entry(const s260k *t, qk_model_source *src, const qk_sens_tensor *st,
                        const qk_sens_entry *e) {
    const int64_t rows = st->rows, cols = st->cols, n = rows * cols;
    float *w = malloc((size_t)n * sizeof *w), *wq = malloc((size_t)n * sizeof *wq);
    void *q = malloc((size_t)n * 4);
    float *imp = malloc((size_t)cols * sizeof *imp);
    const int64_t idx = qk_model_source_find_tensor(src, st->name);
    assert_true(idx >= 0);
    QK_ASSERT_OK(qk_model_source_read_f32(src, (size_t)idx, w, n, NULL, 0));
    const bool has_imp = qk_calib_stats_importance(t->stats, st->name, imp, cols) == QK_OK;
    qk_clear_error();
    assert_int_equal(has_imp, st->has_importance);
    size_t rb;
    QK_ASSERT_OK(qk_type_row_bytes(e->type, cols, &rb));
    assert_int_equal(e->bytes, rb * (size_t)rows);
    QK_ASSERT_OK(qk_quantize_rows(e->type, w, q, rows, cols,
                                  has_imp && qk_type_uses_importance(e->type) ? imp : NULL));
    for (int64_t r = 0; r < rows; r++)
        QK_ASSERT_OK(qk_dequantize_row(e->type, (unsigned char *)q + r * rb, wq + r * cols, cols));
    /* m: the statistics' mean x^2 of this input (the output's for the tied
    ** token_embd) */
    qk_calib_input in;
    QK_ASSERT_OK(qk_calib_stats_get_by_name(
        t->stats, strcmp(st->name, "token_embd.weight") == 0 ? "output.weight" : st->name, &in));
    double sq = 0, weighted = 0, trace = 0, out = 0;
    for (int64_t j = 0; j < cols; j++) {
        double cs = 0;
        for (int64_t r = 0; r < rows; r++) {
            const double d = (double)w[r * cols + j] - wq[r * cols + j];
            cs += d * d;
        }
        sq += cs;
        weighted += in.sum_x2[j] / in.n_rows * cs;
        trace += in.sum_x2[j] / in.n_rows;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < cols; i++)
            for (int64_t j = 0; j < cols; j++)
                out += ((double)w[r * cols + i] - wq[r * cols + i]) * in.xtx[i * cols + j] /
                       in.n_rows * ((double)w[r * cols + j] - wq[r * cols + j]);
    QK_ASSERT_NEAR_REL(e->mse, sq / (double)n, 1e-9);
    QK_ASSERT_NEAR_REL(e->imatrix_err, weighted, 1e-9);
    QK_ASSERT_NEAR_REL(e->hawq, trace / (double)cols * sq, 1e-9);
    QK_ASSERT_NEAR_REL(e->output_err, out, 1e-8);
    free(w);
    free(wq);
    free(q);
    free(imp);
}

/* KL of the model with one tensor replaced, by qk_perplexity over the KL
** windows laid end to end (each starts with BOS; llama-perplexity scores
** the same positions). */
static double kl_by_perplexity(const char *model_path, const int32_t *windows, const char *name,
                               qk_type type, qk_calib_stats *stats) {
    qk_llama_model *m, *ref;
    QK_ASSERT_OK(qk_llama_model_load(model_path, &m));
    QK_ASSERT_OK(qk_llama_model_load(model_path, &ref));
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(model_path, NULL, &src));
    const int64_t idx = qk_model_source_find_tensor(src, name);
    qk_model_tensor ti;
    QK_ASSERT_OK(qk_model_source_tensor_info(src, (size_t)idx, &ti));
    const int64_t rows = ti.shape[0], cols = ti.shape[1];
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    void *q = malloc((size_t)(rows * cols) * 4);
    float *imp = malloc((size_t)cols * sizeof *imp);
    QK_ASSERT_OK(qk_model_source_read_f32(src, (size_t)idx, w, rows * cols, NULL, 0));
    const bool has = qk_calib_stats_importance(stats, name, imp, cols) == QK_OK;
    qk_clear_error();
    QK_ASSERT_OK(qk_quantize_rows(type, w, q, rows, cols, has ? imp : NULL));
    size_t rb;
    QK_ASSERT_OK(qk_type_row_bytes(type, cols, &rb));
    for (int64_t r = 0; r < rows; r++)
        QK_ASSERT_OK(qk_dequantize_row(type, (unsigned char *)q + r * rb, w + r * cols, cols));
    qk_tensor_view v;
    const int64_t shape[2] = {rows, cols};
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape, w));
    QK_ASSERT_OK(qk_llama_model_set_tensor(m, name, &v));
    qk_llama_context *c, *rc;
    QK_ASSERT_OK(qk_llama_context_create(m, LEN, &c));
    QK_ASSERT_OK(qk_llama_context_create(ref, LEN, &rc));
    qk_ppl_result res;
    QK_ASSERT_OK(
        qk_perplexity(c, rc, windows, N_KL * LEN, LEN, N_KL, windows[0], NULL, NULL, &res));
    assert_int_equal(res.n_chunks, N_KL);
    qk_llama_context_free(c);
    qk_llama_context_free(rc);
    qk_llama_model_free(m);
    qk_llama_model_free(ref);
    qk_model_source_close(src);
    free(w);
    free(q);
    free(imp);
    return res.kl_mean;
}

static void test_stories260k(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    s260k t;
    setup_260k(&t);
    qk_sens_options o;
    qk_sens_options_init(&o);
    const qk_type fmts[] = {QK_TYPE_Q2_K, QK_TYPE_Q4_0, QK_TYPE_Q8_0, QK_TYPE_F16};
    o.n_formats = 4;
    memcpy(o.formats, fmts, sizeof fmts);
    o.stats = t.stats;
    o.token_counts = t.counts;
    o.n_token_counts = 512;
    o.proxy = QK_SENS_PROXY_OUTPUT;
    o.kl_mode = QK_SENS_KL_CALIBRATE;
    o.kl_format = QK_TYPE_Q4_0;
    o.kl_tokens = t.windows;
    o.kl_chunks = N_KL;
    o.kl_chunk_len = LEN;
    qk_sensitivity s;
    QK_ASSERT_OK(qk_sensitivity_compute(t.model, &o, &s));
    /* 5 layers x 7 linears + the tied token_embd (no output.weight) */
    assert_int_equal(s.n_tensors, 36);
    assert_string_equal(s.tensors[0].name, "token_embd.weight");
    assert_null(qk_sensitivity_find(&s, "output.weight"));
    assert_int_equal(qk_sensitivity_format_index(&s, QK_TYPE_Q8_0), 2);
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(t.model, NULL, &src));
    for (size_t i = 0; i < s.n_tensors; i++) {
        const qk_sens_tensor *st = &s.tensors[i];
        const bool down = strstr(st->name, "ffn_down") != NULL; /* 172 columns */
        /* q2_k needs rows of 256; q4_0/q8_0 rows of 32 */
        assert_false(st->entries[0].available);
        assert_true(isnan(st->entries[0].predicted));
        assert_int_equal(st->entries[1].available, !down);
        assert_int_equal(st->entries[2].available, !down);
        assert_true(st->entries[3].available);
        assert_true(st->has_xtx);
        /* KL measured in q4_0, or f16 where q4_0 does not fit */
        const size_t cal = down ? 3 : 1;
        for (size_t f = 0; f < 4; f++) {
            const qk_sens_entry *e = &st->entries[f];
            if (!e->available) continue;
            check_entry(&t, src, st, e);
            assert_int_equal(isnan(e->kl), f != cal);
            assert_true(e->sqnr_db > 0 && e->cosine > 0.9 && e->cosine <= 1.0);
            QK_ASSERT_NEAR_REL(e->output_rel, e->output_err / st->output_power, 1e-12);
            QK_ASSERT_NEAR_REL(e->predicted, st->gain * e->output_err, 1e-12);
        }
        QK_ASSERT_NEAR_REL(st->gain, st->entries[cal].kl / st->entries[cal].output_err, 1e-12);
        if (!down) {
            /* more bits, less damage */
            assert_true(st->entries[1].output_err > st->entries[2].output_err);
            assert_true(st->entries[2].output_err > st->entries[3].output_err);
            assert_true(st->entries[1].kl > 0);
        }
    }
    qk_model_source_close(src);
    /* the KL of two tensors against an independent measurement */
    const char *names[] = {"blk.1.attn_v.weight", "token_embd.weight"};
    for (int k = 0; k < 2; k++) {
        const qk_sens_tensor *st = qk_sensitivity_find(&s, names[k]);
        assert_non_null(st);
        const double want = kl_by_perplexity(t.model, t.windows, names[k], QK_TYPE_Q4_0, t.stats);
        QK_ASSERT_NEAR_REL(st->entries[1].kl, want, 1e-9);
    }
    qk_sensitivity_free(&s);
    /* no statistics: proxy output is impossible; imatrix works with m = 1 */
    o.stats = NULL;
    o.kl_mode = QK_SENS_KL_NONE;
    QK_ASSERT_STATUS(qk_sensitivity_compute(t.model, &o, &s), QK_ERR_INVALID_ARG);
    assert_non_null(strstr(qk_last_error(), "X^T X"));
    o.proxy = QK_SENS_PROXY_IMATRIX;
    QK_ASSERT_OK(qk_sensitivity_compute(t.model, &o, &s));
    for (size_t i = 0; i < s.n_tensors; i++) {
        const qk_sens_entry *e = &s.tensors[i].entries[3];
        assert_false(s.tensors[i].has_importance);
        QK_ASSERT_NEAR_REL(e->predicted, e->mse * (double)(s.tensors[i].rows * s.tensors[i].cols),
                           1e-9);
    }
    qk_sensitivity_free(&s);
    /* bad options */
    o.formats[1] = QK_TYPE_Q8_K;
    QK_ASSERT_STATUS(qk_sensitivity_compute(t.model, &o, &s), QK_ERR_UNSUPPORTED);
    o.formats[1] = QK_TYPE_F16;
    QK_ASSERT_STATUS(qk_sensitivity_compute(t.model, &o, &s), QK_ERR_INVALID_ARG);
    qk_calib_stats_free(t.stats);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weight_errors_by_hand),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_stories260k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
