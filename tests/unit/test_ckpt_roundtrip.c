/*
** Checkpoint write -> read round trips on a tiny random HF Llama (bf16):
** for every format (GPTQ v1/v2, AWQ GEMM, compressed-tensors) and bit width
** it allows, group sizes (incl. per channel), act-order g_idx, symmetric
** and asymmetric, random linears given to the writer in scrambled order
** come back through the model source
**   - as qk_quantized_linears equal to the input with f16-rounded scales,
**   - as f32 tensors bit-identical to qk_quantized_linear_dequantize of that,
**   - with q/k rows in HF order in the file (checked against a permutation
**     derived here from io.h's description, reading with hf_layout),
** and every other tensor byte-identical to the source, still bf16.
*/
#include "ckpt_test_util.h"

static const ckt_dims DIMS = {
    .embd = 64, .heads = 4, .kv_heads = 2, .ff = 96, .layers = 2, .vocab = 40};

/* HF row of presented (llama.cpp-order) row r of a q/k weight with `heads`
** heads: rows viewed as [heads, 2, half] in HF are [heads, half, 2] in
** llama.cpp, so presented row h*per + 2i + j is HF row h*per + j*half + i. */
static int64_t hf_row(int64_t r, int64_t rows, int64_t heads) {
    const int64_t per = rows / heads, half = per / 2, h = r / per, w = r % per;
    return h * per + (w % 2) * half + w / 2;
}

static void assert_linear_equal(const qk_quantized_linear *got, const qk_quantized_linear *want,
                                const int64_t *row_map) {
    assert_int_equal(got->bits, want->bits);
    assert_int_equal(got->rows, want->rows);
    assert_int_equal(got->cols, want->cols);
    assert_int_equal(got->n_groups, want->n_groups);
    assert_int_equal(got->group_size, want->group_size);
    for (int64_t r = 0; r < want->rows; r++) {
        const int64_t gr = row_map ? row_map[r] : r;
        assert_memory_equal(got->codes + gr * got->cols, want->codes + r * want->cols,
                            (size_t)want->cols);
        for (int64_t g = 0; g < want->n_groups; g++) {
            assert_int_equal(got->zeros[g * got->rows + gr], want->zeros[g * want->rows + r]);
            QK_ASSERT_F32_BITS_EQ(got->scales[g * got->rows + gr],
                                  qk_f16_to_f32(qk_f32_to_f16(want->scales[g * want->rows + r])));
        }
    }
    for (int64_t c = 0; c < want->cols; c++)
        assert_int_equal(qk_quantized_linear_group(got, c), qk_quantized_linear_group(want, c));
}

typedef struct variant {
    qk_checkpoint_format format;
    int bits, group;
    bool sym, desc_act;
} variant;

static void round_trip(const variant *v, int index) {
    const char *model = ckt_make_hf_model("model", &DIMS, 11);
    char out[4096], model_path[4096];
    snprintf(model_path, sizeof model_path, "%s", model);
    char name[64];
    snprintf(name, sizeof name, "ckpt-%d", index);
    snprintf(out, sizeof out, "%s", qk_test_tmp_path(name));
    qk_checkpoint_options opt;
    qk_checkpoint_options_init(&opt, v->format);
    opt.config.bits = v->bits;
    opt.config.group_size = v->group;
    opt.config.symmetric = v->sym;
    opt.config.desc_act = v->desc_act;
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(model_path, NULL, &src));
    qk_checkpoint_writer *w;
    QK_ASSERT_OK(qk_checkpoint_writer_create(out, src, &opt, &w));
    /* the linears, generated in file order, handed over last layer first and
    ** within a layer in reverse (the writer holds them until their turn) */
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 100 + (uint64_t)index);
    qk_quantized_linear lin[2][7];
    char names[2][7][64];
    for (int l = 0; l < DIMS.layers; l++)
        for (int k = 0; k < 7; k++) {
            int64_t rows, cols;
            ckt_dims_of(&DIMS, k, &rows, &cols);
            lin[l][k] = ckt_random_linear(&rng, &opt.config, rows, cols);
            snprintf(names[l][k], sizeof names[l][k], "blk.%d.%s.weight", l, CKT_LINEAR[k]);
        }
    for (int l = DIMS.layers - 1; l >= 0; l--)
        for (int k = 6; k >= 0; k--) {
            if (l == 0 && k == 0)
                assert_string_equal(qk_checkpoint_writer_next_missing(w), names[0][0]);
            QK_ASSERT_OK(qk_checkpoint_writer_add_linear(w, names[l][k], &lin[l][k]));
        }
    assert_null(qk_checkpoint_writer_next_missing(w));
    qk_checkpoint_report rep;
    QK_ASSERT_OK(qk_checkpoint_writer_commit(w, &rep));
    qk_checkpoint_writer_free(w);
    assert_true(rep.linear_weights > 0);
    assert_true(rep.file_bytes > rep.linear_bytes);

    /* read back */
    qk_model_source *ck, *ck_hf;
    QK_ASSERT_OK(qk_model_source_open(out, NULL, &ck));
    qk_model_source_options hf_opt = {.hf_layout = true};
    QK_ASSERT_OK(qk_model_source_open(out, &hf_opt, &ck_hf));
    qk_checkpoint_config cfg;
    QK_ASSERT_OK(qk_checkpoint_source_config(ck, &cfg));
    assert_int_equal(cfg.format, v->format);
    assert_int_equal(cfg.bits, v->bits);
    assert_int_equal(cfg.group_size, v->group);
    /* AWQ has zero_point only: a symmetric linear is stored with its zeros */
    assert_int_equal(cfg.symmetric, v->format == QK_CHECKPOINT_AWQ ? false : v->sym);
    assert_int_equal(cfg.desc_act, v->desc_act);
    for (int l = 0; l < DIMS.layers; l++)
        for (int k = 0; k < 7; k++) {
            const qk_quantized_linear *want = &lin[l][k];
            int64_t i = qk_model_source_find_tensor(ck, names[l][k]);
            assert_true(i >= 0);
            qk_model_tensor t;
            QK_ASSERT_OK(qk_model_source_tensor_info(ck, (size_t)i, &t));
            assert_int_equal(t.type, QK_TYPE_F32);
            assert_int_equal(t.quant_bits, v->bits);
            assert_null(t.data);
            qk_quantized_linear got;
            QK_ASSERT_OK(qk_checkpoint_read_linear(ck, (size_t)i, &got));
            assert_linear_equal(&got, want, NULL);
            qk_quantized_linear_free(&got);
            /* f32 reads equal dequantize() of the linear with f16 scales, bit for bit */
            qk_quantized_linear rounded;
            QK_ASSERT_OK(qk_quantized_linear_alloc(&rounded, want->bits, want->group_size,
                                                   want->symmetric, want->rows, want->cols,
                                                   want->g_idx != NULL));
            memcpy(rounded.codes, want->codes, (size_t)(want->rows * want->cols));
            memcpy(rounded.scales, want->scales, (size_t)(want->n_groups * want->rows) * 4);
            memcpy(rounded.zeros, want->zeros, (size_t)(want->n_groups * want->rows) * 4);
            if (want->g_idx) memcpy(rounded.g_idx, want->g_idx, (size_t)want->cols * 4);
            QK_ASSERT_OK(qk_checkpoint_round_scales(&rounded));
            const size_t n = (size_t)(want->rows * want->cols);
            float *a = malloc(n * 4), *b = malloc(n * 4);
            QK_ASSERT_OK(qk_quantized_linear_dequantize(&rounded, a));
            QK_ASSERT_OK(qk_model_source_read(ck, (size_t)i, QK_TYPE_F32, b, n * 4));
            for (size_t e = 0; e < n; e++) QK_ASSERT_F32_BITS_EQ(b[e], a[e]);
            /* f16 reads are the f32 values converted */
            uint16_t *h = malloc(n * 2);
            QK_ASSERT_OK(qk_model_source_read(ck, (size_t)i, QK_TYPE_F16, h, n * 2));
            for (size_t e = 0; e < n; e += 7) assert_int_equal(h[e], qk_f32_to_f16(a[e]));
            free(h);
            free(a);
            free(b);
            qk_quantized_linear_free(&rounded);
            /* HF order in the file: q and k rows permuted, the rest as given */
            const int64_t heads = k == 0 ? DIMS.heads : k == 1 ? DIMS.kv_heads : 0;
            int64_t *map = heads ? malloc((size_t)want->rows * sizeof *map) : NULL;
            for (int64_t r = 0; heads && r < want->rows; r++) map[r] = hf_row(r, want->rows, heads);
            i = qk_model_source_find_tensor(ck_hf, names[l][k]);
            QK_ASSERT_OK(qk_checkpoint_read_linear(ck_hf, (size_t)i, &got));
            assert_linear_equal(&got, want, map);
            qk_quantized_linear_free(&got);
            free(map);
        }
    /* everything else: the source's bytes and dtype */
    for (size_t i = 0; i < qk_model_source_tensor_count(src); i++) {
        qk_model_tensor a, b;
        QK_ASSERT_OK(qk_model_source_tensor_info(src, i, &a));
        if (a.ndim == 2 && strncmp(a.name, "blk.", 4) == 0) continue;
        int64_t j = qk_model_source_find_tensor(ck, a.name);
        assert_true(j >= 0);
        QK_ASSERT_OK(qk_model_source_tensor_info(ck, (size_t)j, &b));
        assert_int_equal(b.type, QK_TYPE_BF16);
        assert_int_equal(b.quant_bits, 0);
        assert_int_equal(a.nbytes, b.nbytes);
        assert_memory_equal(a.data, b.data, a.nbytes);
    }
    /* a model loads from it */
    qk_llama_model *m;
    QK_ASSERT_OK(qk_llama_model_from_source(ck, &m));
    qk_llama_model_free(m);
    qk_model_source_close(ck);
    qk_model_source_close(ck_hf);
    qk_model_source_close(src);
    for (int l = 0; l < DIMS.layers; l++)
        for (int k = 0; k < 7; k++) qk_quantized_linear_free(&lin[l][k]);
}

static void test_gptq(void **state) {
    (void)state;
    const variant v[] = {
        {QK_CHECKPOINT_GPTQ, 4, 32, false, false},   {QK_CHECKPOINT_GPTQ, 3, -1, true, false},
        {QK_CHECKPOINT_GPTQ, 2, 32, false, true},    {QK_CHECKPOINT_GPTQ, 8, 64, true, true},
        {QK_CHECKPOINT_GPTQ_V2, 4, 32, false, true}, {QK_CHECKPOINT_GPTQ_V2, 3, 32, false, false},
        {QK_CHECKPOINT_GPTQ_V2, 2, -1, true, false}, {QK_CHECKPOINT_GPTQ_V2, 8, 32, false, false},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) round_trip(&v[i], (int)i);
}

static void test_awq(void **state) {
    (void)state;
    const variant v[] = {{QK_CHECKPOINT_AWQ, 4, 32, false, false},
                         {QK_CHECKPOINT_AWQ, 4, -1, false, false},
                         {QK_CHECKPOINT_AWQ, 4, 16, true, false}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) round_trip(&v[i], 20 + (int)i);
}

static void test_compressed_tensors(void **state) {
    (void)state;
    const variant v[] = {
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 4, 32, true, false},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 4, 32, false, true},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 2, -1, false, false},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 3, 48, false, false},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 5, 16, true, true},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 6, 32, false, false},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 7, -1, true, false},
        {QK_CHECKPOINT_COMPRESSED_TENSORS, 8, 64, false, false},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) round_trip(&v[i], 40 + (int)i);
}

/* The config files say what the formats' readers look for. */
static void test_config_files(void **state) {
    (void)state;
    /* from round_trip index 0 (gptq v1 4-bit g32) and 40 (compressed-tensors) */
    const variant g = {QK_CHECKPOINT_GPTQ, 4, 32, false, false};
    round_trip(&g, 60);
    size_t n;
    char *cfg = (char *)qk_test_read_file(qk_test_tmp_path("ckpt-60/config.json"), &n);
    assert_non_null(cfg);
    cfg = realloc(cfg, n + 1);
    cfg[n] = '\0';
    assert_non_null(strstr(cfg, "\"quant_method\": \"gptq\""));
    assert_non_null(strstr(cfg, "\"checkpoint_format\": \"gptq\""));
    assert_non_null(strstr(cfg, "\"group_size\": 32"));
    assert_non_null(strstr(cfg, "\"initializer_range\": 0.02")); /* the source's keys kept */
    free(cfg);
    char *qc = (char *)qk_test_read_file(qk_test_tmp_path("ckpt-60/quantize_config.json"), &n);
    assert_non_null(qc);
    qc = realloc(qc, n + 1);
    qc[n] = '\0';
    assert_non_null(strstr(qc, "\"bits\": 4"));
    assert_non_null(strstr(qc, "\"desc_act\": false"));
    assert_non_null(strstr(qc, "\"sym\": false"));
    assert_non_null(strstr(qc, "\"damp_percent\": 0.01"));
    assert_non_null(strstr(qc, "\"true_sequential\": true"));
    free(qc);
    const variant c = {QK_CHECKPOINT_COMPRESSED_TENSORS, 4, -1, true, false};
    round_trip(&c, 61);
    cfg = (char *)qk_test_read_file(qk_test_tmp_path("ckpt-61/config.json"), &n);
    cfg = realloc(cfg, n + 1);
    cfg[n] = '\0';
    assert_non_null(strstr(cfg, "\"quant_method\": \"compressed-tensors\""));
    assert_non_null(strstr(cfg, "\"format\": \"pack-quantized\""));
    assert_non_null(strstr(cfg, "\"strategy\": \"channel\""));
    assert_non_null(strstr(cfg, "\"quantization_status\": \"compressed\""));
    free(cfg);
    /* only the model's tensors: no quantize_config.json for compressed-tensors */
    assert_null(qk_test_read_file(qk_test_tmp_path("ckpt-61/quantize_config.json"), &n));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gptq),
        cmocka_unit_test(test_awq),
        cmocka_unit_test(test_compressed_tensors),
        cmocka_unit_test(test_config_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
