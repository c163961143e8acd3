/*
** The quantization config: every field survives save -> load; the digest
** of a known text is the published SHA-256, that of a folder the SHA-256 of
** its `sha256sum *` manifest; method parameters are checked against a
** method's list; the fields of calibrated runs (output format, non-finite
** flag, affine tensors, output folders) survive save -> load; broken files
** fail with QK_ERR_CONFIG naming the field.
*/
#include <math.h>
#include <sys/stat.h>

#include "qk_test.h"

static void write_text(const char *path, const char *text) {
    assert_int_equal(qk_test_write_file(path, text, strlen(text)), 0);
}

static void test_digest(void **state) {
    (void)state;
    const char *p = qk_test_tmp_path("abc.txt");
    write_text(p, "abc");
    char hex[65];
    uint64_t n;
    QK_ASSERT_OK(qk_file_sha256(p, hex, &n));
    /* FIPS 180-2, appendix B.1 */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(n, 3);
    QK_ASSERT_STATUS(qk_file_sha256(qk_test_tmp_path("absent.txt"), hex, &n), QK_ERR_IO);
}

static void fill(qk_quant_config *c, const char *model) {
    QK_ASSERT_OK(qk_quant_config_init(c));
    QK_ASSERT_OK(qk_quant_config_set_input(c, model));
    c->type = strdup("q4_k_m");
    c->pure = true;
    c->quantize_output = false;
    c->token_embd_type = QK_TYPE_Q6_K;
    c->output_type = -1;
    c->overrides = calloc(1, sizeof *c->overrides);
    c->overrides[0].pattern = strdup("attn_v");
    c->overrides[0].type = QK_TYPE_Q8_0;
    c->n_overrides = 1;
    c->name = strdup("tiny");
    free(c->method);
    c->method = strdup("gptq");
    QK_ASSERT_OK(qk_quant_config_set_int(c, "bits", 4));
    QK_ASSERT_OK(qk_quant_config_set_real(c, "damp", 0.01));
    QK_ASSERT_OK(qk_quant_config_set_bool(c, "act_order", true));
    QK_ASSERT_OK(qk_quant_config_set_string(c, "scales", "hessian"));
    QK_ASSERT_OK(qk_quant_config_set_int(c, "bits", 3)); /* replaces */
    c->importance = QK_CONFIG_IMPORTANCE_CALIBRATION;
    c->has_calibration = true;
    c->calib_text = strdup("calib.txt");
    memset(c->calib_sha256, 'a', 64);
    c->calib_samples = 128;
    c->calib_len = 512;
    c->calib_seed = 1234567890123ull;
    c->has_allocation = true;
    c->budget_bytes = 4331456;
    c->proxy = strdup("imatrix");
    c->kl_mode = strdup("calibrate");
    c->kl_format = QK_TYPE_Q3_K;
    c->kl_chunks = 4;
    c->n_formats = 2;
    c->formats[0] = QK_TYPE_Q2_K;
    c->formats[1] = QK_TYPE_F16;
    c->predicted_kl = 0.0069213;
    c->tensors = calloc(2, sizeof *c->tensors);
    c->tensors[0].name = strdup("token_embd.weight");
    c->tensors[0].type = QK_TYPE_Q6_K;
    c->tensors[1].name = strdup("blk.0.attn_q.weight");
    c->tensors[1].type = QK_TYPE_Q3_K;
    c->n_tensors = 2;
}

static void test_round_trip(void **state) {
    (void)state;
    const char *model = qk_test_tmp_path("model.bin");
    write_text(model, "abc");
    qk_quant_config c, d;
    fill(&c, model);
    assert_int_equal(c.n_params, 4);
    assert_int_equal(qk_quant_config_param(&c, "bits")->i, 3);
    assert_null(qk_quant_config_param(&c, "group"));
    const char *path = qk_test_tmp_path("cfg.json");
    QK_ASSERT_OK(qk_quant_config_save(&c, path));
    QK_ASSERT_OK(qk_quant_config_load(path, &d));
    assert_int_equal(d.schema_version, 1);
    assert_string_equal(d.quantkit_version, qk_version());
    assert_string_equal(d.input_path, model);
    assert_int_equal(d.n_input_files, 1);
    assert_string_equal(d.input_files[0].name, "model.bin");
    assert_int_equal(d.input_files[0].bytes, 3);
    assert_string_equal(d.input_files[0].sha256,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(d.type, "q4_k_m");
    assert_true(d.pure);
    assert_false(d.quantize_output);
    assert_int_equal(d.token_embd_type, QK_TYPE_Q6_K);
    assert_int_equal(d.output_type, -1);
    assert_int_equal(d.n_overrides, 1);
    assert_string_equal(d.overrides[0].pattern, "attn_v");
    assert_int_equal(d.overrides[0].type, QK_TYPE_Q8_0);
    assert_string_equal(d.name, "tiny");
    assert_null(d.tokenizer);
    assert_string_equal(d.method, "gptq");
    assert_int_equal(d.n_params, 4);
    assert_int_equal(qk_quant_config_param(&d, "bits")->kind, QK_CONFIG_INT);
    assert_int_equal(qk_quant_config_param(&d, "bits")->i, 3);
    assert_true(qk_quant_config_param(&d, "damp")->r == 0.01);
    assert_true(qk_quant_config_param(&d, "act_order")->b);
    assert_string_equal(qk_quant_config_param(&d, "scales")->s, "hessian");
    assert_int_equal(d.importance, QK_CONFIG_IMPORTANCE_CALIBRATION);
    assert_true(d.has_calibration);
    assert_string_equal(d.calib_text, "calib.txt");
    assert_memory_equal(d.calib_sha256, c.calib_sha256, 65);
    assert_int_equal(d.calib_samples, 128);
    assert_int_equal(d.calib_len, 512);
    assert_true(d.calib_seed == 1234567890123ull);
    assert_true(d.has_allocation);
    assert_int_equal(d.budget_bytes, 4331456);
    assert_true(isnan(d.max_kl));
    assert_string_equal(d.proxy, "imatrix");
    assert_string_equal(d.kl_mode, "calibrate");
    assert_int_equal(d.kl_format, QK_TYPE_Q3_K);
    assert_int_equal(d.kl_chunks, 4);
    assert_int_equal(d.n_formats, 2);
    assert_int_equal(d.formats[1], QK_TYPE_F16);
    assert_true(d.predicted_kl == 0.0069213);
    assert_int_equal(d.n_tensors, 2);
    assert_string_equal(d.tensors[1].name, "blk.0.attn_q.weight");
    assert_int_equal(d.tensors[1].type, QK_TYPE_Q3_K);
    assert_false(d.has_output);
    /* parameters against a method's list */
    const char *const known[] = {"bits", "damp", "act_order", "scales"};
    const qk_config_kind kinds[] = {QK_CONFIG_INT, QK_CONFIG_REAL, QK_CONFIG_BOOL,
                                    QK_CONFIG_STRING};
    QK_ASSERT_OK(qk_quant_config_check_params(&d, known, kinds, 4));
    QK_ASSERT_STATUS(qk_quant_config_check_params(&d, known, kinds, 3), QK_ERR_CONFIG);
    assert_non_null(strstr(qk_last_error(), "method.params.scales"));
    const qk_config_kind wrong[] = {QK_CONFIG_BOOL, QK_CONFIG_REAL, QK_CONFIG_BOOL,
                                    QK_CONFIG_STRING};
    QK_ASSERT_STATUS(qk_quant_config_check_params(&d, known, wrong, 4), QK_ERR_CONFIG);
    assert_non_null(strstr(qk_last_error(), "method.params.bits: expected a boolean"));
    qk_quant_config_free(&c);
    qk_quant_config_free(&d);
}

/* Replace the first `from` in the saved file and load. */
static qk_status load_edited(const char *from, const char *to, qk_quant_config *d) {
    const char *path = qk_test_tmp_path("cfg.json");
    size_t n;
    char *text = (char *)qk_test_read_file(path, &n);
    assert_non_null(text);
    char *at = strstr(text, from);
    assert_non_null(at);
    const size_t nf = strlen(from), nt = strlen(to);
    char *edited = malloc(n - nf + nt + 1);
    memcpy(edited, text, (size_t)(at - text));
    memcpy(edited + (at - text), to, nt);
    memcpy(edited + (at - text) + nt, at + nf, n - (size_t)(at - text) - nf);
    edited[n - nf + nt] = 0;
    const char *bad = qk_test_tmp_path("bad.json");
    write_text(bad, edited);
    free(text);
    free(edited);
    return qk_quant_config_load(bad, d);
}

static void expect(const char *from, const char *to, const char *message) {
    qk_quant_config d;
    QK_ASSERT_STATUS(load_edited(from, to, &d), QK_ERR_CONFIG);
    if (!strstr(qk_last_error(), message))
        fail_msg("'%s' -> '%s': expected '%s' in '%s'", from, to, message, qk_last_error());
}

static void test_errors(void **state) {
    (void)state;
    const char *model = qk_test_tmp_path("model.bin");
    write_text(model, "abc");
    qk_quant_config c;
    fill(&c, model);
    QK_ASSERT_OK(qk_quant_config_save(&c, qk_test_tmp_path("cfg.json")));
    qk_quant_config_free(&c);
    expect("\"q3_k\"\n", "\"q9_k\"\n", "tensors[1].type: unknown format 'q9_k'");
    expect("\"schema_version\": 1", "\"schema_version\": 2", "schema_version: 2 is out of range");
    expect("\"pure\": true", "\"pure\": 1", "quantize.pure: expected true or false");
    expect("\"pure\": true", "\"purity\": true", "quantize.purity: unknown field");
    expect("\"samples\": 128", "\"samples\": -1", "calibration.samples: -1 is out of range");
    expect("\"proxy\": \"imatrix\"", "\"proxy\": \"fisher\"", "allocation.proxy: 'fisher'");
    expect("\"kl\": \"calibrate\"", "\"kl\": 3", "allocation.kl: expected a string");
    expect("\"budget_bytes\": 4331456", "\"budget_bytes\": null",
           "allocation.budget_bytes: neither budget_bytes nor max_kl");
    expect("\"source\": \"calibration\"", "\"source\": \"magic\"", "importance.source: 'magic'");
    expect("\"bits\": 3", "\"bits\": [3]", "method.params.bits: expected an integer");
    expect("\"sha256\": \"ba78", "\"sha256\": \"BA78", "input.files[0].sha256: expected 64");
    expect("\"blk.0.attn_q.weight\"", "\"token_embd.weight\"",
           "tensors[1].name: 'token_embd.weight' is listed twice");
    expect("{", "[", "column");
    expect("\"type\": \"q4_k_m\"", "\"type\": \"q4_x\"", "quantize.type: unknown type 'q4_x'");
}

/* A checkpoint run's config: format, flag, affine tensors, an output folder. */
static void fill_checkpoint(qk_quant_config *c, const char *model, const char *folder) {
    fill(c, model);
    free(c->format);
    c->format = strdup("gptq");
    c->allow_nonfinite = true;
    c->tensors[1].type = QK_TYPE_COUNT;
    c->tensors[1].bits = 5;
    c->tensors[1].group = 0;
    QK_ASSERT_OK(qk_quant_config_set_output(c, folder));
}

static void test_calibrated_fields(void **state) {
    (void)state;
    const char *model = qk_test_tmp_path("model.bin");
    write_text(model, "abc");
    const char *folder = qk_test_tmp_path("out");
    mkdir(folder, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/a.txt", folder);
    write_text(path, "abc");
    snprintf(path, sizeof path, "%s/b.txt", folder);
    write_text(path, "");
    /* `LC_ALL=C sha256sum * | sha256sum` in the folder (coreutils) */
    const char *manifest = "b49791236586476825b333079257905f8aa8f3f74345d698a8a081c6b77b6977";
    char hex[65];
    uint64_t n = 0;
    QK_ASSERT_OK(qk_path_sha256(folder, hex, &n));
    assert_string_equal(hex, manifest);
    assert_int_equal(n, 3);
    QK_ASSERT_OK(qk_path_sha256(model, hex, &n));
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    qk_quant_config c, d;
    fill_checkpoint(&c, model, folder);
    const char *cfg = qk_test_tmp_path("cfg.json");
    QK_ASSERT_OK(qk_quant_config_save(&c, cfg));
    qk_quant_config_free(&c);
    QK_ASSERT_OK(qk_quant_config_load(cfg, &d));
    assert_string_equal(d.format, "gptq");
    assert_true(d.allow_nonfinite);
    assert_int_equal(d.tensors[0].bits, 0);
    assert_int_equal(d.tensors[0].type, QK_TYPE_Q6_K);
    assert_int_equal(d.tensors[1].type, QK_TYPE_COUNT);
    assert_int_equal(d.tensors[1].bits, 5);
    assert_int_equal(d.tensors[1].group, 0);
    assert_true(d.has_output);
    assert_string_equal(d.output_sha256, manifest);
    assert_int_equal(d.output_bytes, 3);
    assert_int_equal(d.n_output_files, 2);
    assert_string_equal(d.output_files[1].name, "b.txt");
    assert_int_equal(d.output_files[1].bytes, 0);
    assert_string_equal(d.output_files[1].sha256,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    qk_quant_config_free(&d);

    expect("\"format\": \"gptq\"", "\"format\": \"onnx\"",
           "quantize.format: unknown format 'onnx'");
    expect("\"format\": \"gptq\"", "\"format\": 4", "quantize.format: expected a string");
    expect("\"allow_nonfinite\": true", "\"allow_nonfinite\": \"yes\"",
           "quantize.allow_nonfinite: expected true or false");
    expect("\"bits\": 5", "\"bits\": 9", "tensors[1].bits: 9 is out of range [2, 8]");
    expect("\"group\": 0", "\"grup\": 0", "tensors[1].grup: unknown field");
    expect("\"type\": \"q6_k\"", "\"type\": \"q6_k\", \"bits\": 4",
           "tensors[0].bits: only for \"affine\" tensors");
    expect("\"name\": \"b.txt\"", "\"name\": 5", "output.files[1].name: expected a string");
    /* an affine tensor needs a checkpoint format */
    fill_checkpoint(&c, model, folder);
    free(c.format);
    c.format = strdup("gguf");
    QK_ASSERT_OK(qk_quant_config_save(&c, cfg));
    qk_quant_config_free(&c);
    QK_ASSERT_STATUS(qk_quant_config_load(cfg, &d), QK_ERR_CONFIG);
    assert_non_null(
        strstr(qk_last_error(), "tensors[1].type: \"affine\" tensors need a checkpoint"));
}

/* Configs written before allow_nonfinite and format were recorded still load. */
static void test_older_config(void **state) {
    (void)state;
    const char *model = qk_test_tmp_path("model.bin");
    write_text(model, "abc");
    qk_quant_config c, d;
    fill(&c, model);
    QK_ASSERT_OK(qk_quant_config_save(&c, qk_test_tmp_path("cfg.json")));
    qk_quant_config_free(&c);
    QK_ASSERT_OK(
        load_edited(",\n    \"allow_nonfinite\": false,\n    \"format\": \"gguf\"", "", &d));
    assert_false(d.allow_nonfinite);
    assert_string_equal(d.format, "gguf");
    qk_quant_config_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest),       cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_calibrated_fields),
        cmocka_unit_test(test_older_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
