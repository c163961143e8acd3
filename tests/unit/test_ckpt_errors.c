/*
** Checkpoint errors: the writer refuses what a format cannot hold (and
** leaves nothing behind), and broken checkpoint folders (bad configs,
** wrong shapes or dtypes, missing tensors, out-of-range g_idx) fail to
** open with the status and a message naming the file and the tensor.
*/
#include <dirent.h> /* opendir */
#include <unistd.h> /* unlink */

#include <jansson.h>

#include "ckpt_test_util.h"

static const ckt_dims DIMS = {
    .embd = 64, .heads = 4, .kv_heads = 2, .ff = 96, .layers = 2, .vocab = 40};

#define ASSERT_MSG_HAS(needle)                                                                     \
    do {                                                                                           \
        if (!strstr(qk_last_error(), (needle)))                                                    \
            fail_msg("message \"%s\" does not contain \"%s\"", qk_last_error(), (needle));         \
    } while (0)

static qk_model_source *open_model(void) {
    const char *model = ckt_make_hf_model("model", &DIMS, 5);
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(model, NULL, &src));
    return src;
}

static void name_of(int l, int k, char *buf) {
    snprintf(buf, 64, "blk.%d.%s.weight", l, CKT_LINEAR[k]);
}

/* Write a complete checkpoint of `src` under `config` to `out`. */
static void write_ckpt(qk_model_source *src, const qk_checkpoint_config *config, const char *out) {
    qk_checkpoint_options opt;
    qk_checkpoint_options_init(&opt, config->format);
    opt.config = *config;
    qk_checkpoint_writer *w;
    QK_ASSERT_OK(qk_checkpoint_writer_create(out, src, &opt, &w));
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 3);
    for (int l = 0; l < DIMS.layers; l++)
        for (int k = 0; k < 7; k++) {
            int64_t rows, cols;
            ckt_dims_of(&DIMS, k, &rows, &cols);
            qk_quantized_linear q = ckt_random_linear(&rng, config, rows, cols);
            char name[64];
            name_of(l, k, name);
            QK_ASSERT_OK(qk_checkpoint_writer_add_linear(w, name, &q));
            qk_quantized_linear_free(&q);
        }
    QK_ASSERT_OK(qk_checkpoint_writer_commit(w, NULL));
    qk_checkpoint_writer_free(w);
}

/* No entry of the test folder is a temporary ".NAME.qk-tmp-..." folder. */
static void assert_no_temp_left(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", qk_test_tmp_path("x"));
    dir[strlen(dir) - 2] = '\0';
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, "qk-tmp")) fail_msg("left behind: %s/%s", dir, de->d_name);
    closedir(d);
}

static void test_writer_refuses(void **state) {
    (void)state;
    qk_model_source *src = open_model();
    qk_checkpoint_options opt;
    qk_checkpoint_options_init(&opt, QK_CHECKPOINT_GPTQ);
    opt.config.group_size = 32;
    qk_checkpoint_writer *w;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 9);

    /* an existing, non-empty destination */
    const char *busy = qk_test_tmp_path("busy");
    mkdir(busy, 0755);
    char file[4200];
    snprintf(file, sizeof file, "%s/keep.txt", busy);
    assert_int_equal(qk_test_write_file(file, "x", 1), 0);
    QK_ASSERT_STATUS(qk_checkpoint_writer_create(busy, src, &opt, &w), QK_ERR_IO);
    ASSERT_MSG_HAS("not empty");

    const char *out = qk_test_tmp_path("refused");
    QK_ASSERT_OK(qk_checkpoint_writer_create(out, src, &opt, &w));
    qk_quantized_linear q = ckt_random_linear(&rng, &opt.config, 64, 64);
    /* GPTQ v1 stores zero - 1: a zero point of 0 cannot be written */
    q.zeros[5] = 0;
    QK_ASSERT_STATUS(qk_checkpoint_writer_add_linear(w, "blk.0.attn_q.weight", &q),
                     QK_ERR_INVALID_ARG);
    ASSERT_MSG_HAS("blk.0.attn_q.weight");
    ASSERT_MSG_HAS("gptq_v2");
    q.zeros[5] = 3;
    /* a code beyond 4 bits */
    q.codes[70] = 16;
    QK_ASSERT_STATUS(qk_checkpoint_writer_add_linear(w, "blk.0.attn_q.weight", &q),
                     QK_ERR_INVALID_ARG);
    ASSERT_MSG_HAS("row 1, column 6");
    q.codes[70] = 15;
    /* an act-order g_idx without desc_act */
    q.g_idx = calloc(64, sizeof *q.g_idx);
    for (int c = 0; c < 64; c++) q.g_idx[c] = 1 - c / 32;
    QK_ASSERT_STATUS(qk_checkpoint_writer_add_linear(w, "blk.0.attn_q.weight", &q),
                     QK_ERR_INVALID_ARG);
    ASSERT_MSG_HAS("desc_act");
    free(q.g_idx);
    q.g_idx = NULL;
    /* an f16-overflowing scale */
    q.scales[2] = 1e6f;
    QK_ASSERT_STATUS(qk_checkpoint_writer_add_linear(w, "blk.0.attn_q.weight", &q),
                     QK_ERR_OVERFLOW);
    q.scales[2] = 0.5f;
    /* names and shapes */
    QK_ASSERT_STATUS(qk_checkpoint_writer_add_linear(w, "token_embd.weight", &q),
                     QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_checkpoint_writer_add_linear(w, "blk.0.attn_k.weight", &q), QK_ERR_SHAPE);
    QK_ASSERT_OK(qk_checkpoint_writer_add_linear(w, "blk.0.attn_q.weight", &q));
    QK_ASSERT_STATUS(qk_checkpoint_writer_add_linear(w, "blk.0.attn_q.weight", &q),
                     QK_ERR_INVALID_ARG);
    ASSERT_MSG_HAS("twice");
    qk_quantized_linear_free(&q);
    /* commit with linears missing */
    QK_ASSERT_STATUS(qk_checkpoint_writer_commit(w, NULL), QK_ERR_STATE);
    ASSERT_MSG_HAS("blk.0.attn_k.weight");
    qk_checkpoint_writer_free(w);
    struct stat sb;
    assert_int_not_equal(stat(out, &sb), 0); /* nothing at the destination */
    assert_no_temp_left();

    /* AWQ: no act-order, 4 bits only; compressed-tensors 2..8 bits */
    qk_checkpoint_options_init(&opt, QK_CHECKPOINT_AWQ);
    opt.config.desc_act = true;
    QK_ASSERT_STATUS(qk_checkpoint_writer_create(out, src, &opt, &w), QK_ERR_INVALID_ARG);
    opt.config.desc_act = false;
    opt.config.bits = 3;
    QK_ASSERT_STATUS(qk_checkpoint_writer_create(out, src, &opt, &w), QK_ERR_INVALID_ARG);
    qk_checkpoint_options_init(&opt, QK_CHECKPOINT_COMPRESSED_TENSORS);
    opt.config.bits = 9;
    QK_ASSERT_STATUS(qk_checkpoint_writer_create(out, src, &opt, &w), QK_ERR_INVALID_ARG);
    /* symmetric config, asymmetric zero point */
    opt.config.bits = 4;
    opt.config.group_size = 32;
    QK_ASSERT_OK(qk_checkpoint_writer_create(out, src, &opt, &w));
    q = ckt_random_linear(&rng, &opt.config, 64, 64);
    q.zeros[0] = 3;
    QK_ASSERT_STATUS(qk_checkpoint_writer_add_linear(w, "blk.0.attn_q.weight", &q),
                     QK_ERR_INVALID_ARG);
    ASSERT_MSG_HAS("symmetric");
    qk_quantized_linear_free(&q);
    qk_checkpoint_writer_free(w);
    assert_no_temp_left();
    qk_model_source_close(src);

    /* GPTQ needs dimensions that are multiples of 32 */
    const ckt_dims odd = {
        .embd = 64, .heads = 4, .kv_heads = 2, .ff = 72, .layers = 1, .vocab = 40};
    const char *m = ckt_make_hf_model("odd-model", &odd, 1);
    QK_ASSERT_OK(qk_model_source_open(m, NULL, &src));
    qk_checkpoint_options_init(&opt, QK_CHECKPOINT_GPTQ);
    QK_ASSERT_STATUS(qk_checkpoint_writer_create(out, src, &opt, &w), QK_ERR_SHAPE);
    ASSERT_MSG_HAS("blk.0.ffn_gate.weight");
    ASSERT_MSG_HAS("multiples of 32");
    qk_model_source_close(src);
    assert_no_temp_left();
}

/* ---- broken checkpoints --------------------------------------------------- */

static char good_gptq[4096], good_ct[4096], good_awq[4096], good_ct_act[4096];

static void copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/%s", from_dir, name);
    snprintf(b, sizeof b, "%s/%s", to_dir, name);
    size_t n;
    unsigned char *d = qk_test_read_file(a, &n);
    if (!d) return;
    assert_int_equal(qk_test_write_file(b, d, n), 0);
    free(d);
}

/* A copy of checkpoint `from` as folder `name`; returns its path. */
static const char *copy_ckpt(const char *from, const char *name) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", qk_test_tmp_path(name));
    mkdir(dir, 0755);
    copy_file(from, dir, "config.json");
    copy_file(from, dir, "model.safetensors");
    copy_file(from, dir, "quantize_config.json");
    return dir;
}

/* Replace `from` by `to` in dir/config.json (must occur). */
static void edit_config(const char *dir, const char *from, const char *to) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t n;
    char *text = (char *)qk_test_read_file(path, &n);
    assert_non_null(text);
    text = realloc(text, n + 1);
    text[n] = '\0';
    char *at = strstr(text, from);
    if (!at) fail_msg("%s has no \"%s\"", path, from);
    size_t head = (size_t)(at - text), fl = strlen(from), tl = strlen(to);
    char *out = malloc(n - fl + tl + 1);
    memcpy(out, text, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, at + fl, n - head - fl + 1);
    assert_int_equal(qk_test_write_file(path, out, strlen(out)), 0);
    free(out);
    free(text);
}

static void expect_open_fails(const char *dir, qk_status status, const char *needle1,
                              const char *needle2) {
    qk_model_source *s = NULL;
    QK_ASSERT_STATUS(qk_model_source_open(dir, NULL, &s), status);
    print_message("  %s\n", qk_last_error());
    ASSERT_MSG_HAS(needle1);
    if (needle2) ASSERT_MSG_HAS(needle2);
    assert_null(s);
}

static int setup(void **state) {
    (void)state;
    if (good_gptq[0]) return 0; /* written once per process */
    qk_model_source *src = open_model();
    qk_checkpoint_config c;
    qk_checkpoint_config_init(&c, QK_CHECKPOINT_GPTQ);
    c.group_size = 32;
    c.desc_act = true;
    snprintf(good_gptq, sizeof good_gptq, "%s", qk_test_tmp_path("good-gptq"));
    write_ckpt(src, &c, good_gptq);
    qk_checkpoint_config_init(&c, QK_CHECKPOINT_COMPRESSED_TENSORS);
    c.symmetric = false;
    c.group_size = 32;
    snprintf(good_ct, sizeof good_ct, "%s", qk_test_tmp_path("good-ct"));
    write_ckpt(src, &c, good_ct);
    c.desc_act = true;
    snprintf(good_ct_act, sizeof good_ct_act, "%s", qk_test_tmp_path("good-ct-act"));
    write_ckpt(src, &c, good_ct_act);
    qk_checkpoint_config_init(&c, QK_CHECKPOINT_AWQ);
    c.group_size = 32;
    snprintf(good_awq, sizeof good_awq, "%s", qk_test_tmp_path("good-awq"));
    write_ckpt(src, &c, good_awq);
    qk_model_source_close(src);
    return 0;
}

static void assert_same_checkpoint(const char *a_dir, const char *b_dir);

static void test_bad_configs(void **state) {
    (void)state;
    const char *d = copy_ckpt(good_gptq, "bad-method");
    edit_config(d, "\"quant_method\": \"gptq\"", "\"quant_method\": \"bitsandbytes\"");
    expect_open_fails(d, QK_ERR_UNSUPPORTED, "config.json", "bitsandbytes");
    d = copy_ckpt(good_gptq, "no-bits");
    edit_config(d, "\"bits\": 4,", "");
    expect_open_fails(d, QK_ERR_CONFIG, "config.json", "\"bits\"");
    d = copy_ckpt(good_gptq, "bits-string");
    edit_config(d, "\"bits\": 4", "\"bits\": \"4\"");
    expect_open_fails(d, QK_ERR_CONFIG, "config.json", "not an integer");
    d = copy_ckpt(good_gptq, "marlin");
    edit_config(d, "\"checkpoint_format\": \"gptq\"", "\"checkpoint_format\": \"marlin\"");
    expect_open_fails(d, QK_ERR_UNSUPPORTED, "marlin", NULL);
    /* a 3-bit config over 4-bit tensors: the shapes give it away */
    d = copy_ckpt(good_gptq, "wrong-bits");
    edit_config(d, "\"bits\": 4", "\"bits\": 3");
    expect_open_fails(d, QK_ERR_SHAPE, "model.layers.0.self_attn.q_proj.qweight", "[8, 64]");
    /* AWQ GEMV and compressed-tensors formats other than pack-quantized */
    d = copy_ckpt(good_gptq, "awq-gemv");
    edit_config(d, "\"quant_method\": \"gptq\"",
                "\"quant_method\": \"awq\", \"version\": \"gemv\"");
    expect_open_fails(d, QK_ERR_UNSUPPORTED, "gemv", NULL);
    d = copy_ckpt(good_ct, "ct-naive");
    edit_config(d, "\"format\": \"pack-quantized\"\n", "\"format\": \"naive-quantized\"\n");
    edit_config(d, "\"format\": \"pack-quantized\"", "\"format\": \"naive-quantized\"");
    expect_open_fails(d, QK_ERR_UNSUPPORTED, "naive-quantized", NULL);
    d = copy_ckpt(good_ct, "ct-acts");
    edit_config(d, "\"input_activations\": null", "\"input_activations\": {\"num_bits\": 8}");
    expect_open_fails(d, QK_ERR_UNSUPPORTED, "activations", NULL);
    d = copy_ckpt(good_ct, "ct-target");
    edit_config(d, "\"Linear\"", "\"re:.*mlp.*\"");
    expect_open_fails(d, QK_ERR_NOT_FOUND, "model.layers.0.self_attn.q_proj", NULL);
    /* targets are Python regular expressions: \d, (?:...) and a trailing $
    ** select every linear here */
    d = copy_ckpt(good_ct, "ct-target-python-re");
    edit_config(d, "\"Linear\"",
                "\"re:model\\\\.layers\\\\.\\\\d+\\\\.(?:self_attn|mlp)\\\\.[a-z_]+_proj$\"");
    assert_same_checkpoint(d, good_ct);
    /* hostile patterns from the file cost bounded time and memory and match
    ** nothing (POSIX regcomp took gigabytes for the stacked quantifiers;
    ** found by fuzz ckpt_config): stacked quantifiers (invalid), a repeat too
    ** large to compile, catastrophic backtracking, an overlong pattern */
    static const char *const hostile[] = {
        "\"re:.*sel+++++++++++++++++++++++++++++++++++++++++++++++++f_attn.*\"",
        "\"re:((((.{200}){200}){200}){200})\"", "\"re:(.*)*(.*)*(.*)*(.*)*(.*)*(.*)*x\"", NULL};
    char long_target[1100];
    snprintf(long_target, sizeof long_target, "\"re:%01030d\"", 0);
    for (int i = 0; i < 4; i++) {
        d = copy_ckpt(good_ct, "ct-target-hostile");
        edit_config(d, "\"Linear\"", hostile[i] ? hostile[i] : long_target);
        expect_open_fails(d, QK_ERR_NOT_FOUND, "model.layers.0.self_attn.q_proj", NULL);
    }
}

static void test_bad_tensors(void **state) {
    (void)state;
    char st_path[4200];
    /* qweight with a row missing */
    const char *d = copy_ckpt(good_gptq, "short-qweight");
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", d);
    static int32_t words[96 * 96];
    memset(words, 0, sizeof words);
    qk_io_tensor t = {.name = "model.layers.1.mlp.down_proj.qweight",
                      .type = QK_TYPE_I32,
                      .ndim = 2,
                      .shape = {11, 64},
                      .nbytes = 11 * 64 * 4,
                      .data = words};
    ckt_rewrite(st_path, t.name, &t);
    expect_open_fails(d, QK_ERR_SHAPE, "model.layers.1.mlp.down_proj.qweight", "[11, 64]");
    ASSERT_MSG_HAS("model.safetensors");
    ASSERT_MSG_HAS("expected [12, 64]");
    /* scales stored as int32 */
    d = copy_ckpt(good_gptq, "int-scales");
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", d);
    qk_io_tensor s = {.name = "model.layers.0.self_attn.k_proj.scales",
                      .type = QK_TYPE_I32,
                      .ndim = 2,
                      .shape = {2, 32},
                      .nbytes = 2 * 32 * 4,
                      .data = words};
    ckt_rewrite(st_path, s.name, &s);
    expect_open_fails(d, QK_ERR_SHAPE, "model.layers.0.self_attn.k_proj.scales", "dtype I32");
    /* qzeros missing */
    d = copy_ckpt(good_gptq, "no-qzeros");
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", d);
    ckt_rewrite(st_path, "model.layers.1.mlp.up_proj.qzeros", NULL);
    expect_open_fails(d, QK_ERR_NOT_FOUND, "model.layers.1.mlp.up_proj.qzeros", NULL);
    /* g_idx pointing past the last group */
    d = copy_ckpt(good_gptq, "bad-g-idx");
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", d);
    int32_t gi[64];
    for (int c = 0; c < 64; c++) gi[c] = c / 32;
    gi[40] = 2; /* 2 groups: 0..1 */
    qk_io_tensor g = {.name = "model.layers.0.self_attn.v_proj.g_idx",
                      .type = QK_TYPE_I32,
                      .ndim = 1,
                      .shape = {64},
                      .nbytes = sizeof gi,
                      .data = gi};
    ckt_rewrite(st_path, g.name, &g);
    expect_open_fails(d, QK_ERR_CORRUPT, "model.layers.0.self_attn.v_proj.g_idx",
                      "element 40 is 2");
    /* compressed-tensors weight_shape that disagrees with the model */
    d = copy_ckpt(good_ct, "ct-shape");
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", d);
    int64_t shape[2] = {64, 65};
    qk_io_tensor ws = {.name = "model.layers.0.self_attn.o_proj.weight_shape",
                       .type = QK_TYPE_I64,
                       .ndim = 1,
                       .shape = {2},
                       .nbytes = sizeof shape,
                       .data = shape};
    ckt_rewrite(st_path, ws.name, &ws);
    expect_open_fails(d, QK_ERR_SHAPE, "weight_shape", "[64, 65]");
    /* without g_idx (GPTQ-for-LLaMa era files) the groups are sequential */
    d = copy_ckpt(good_gptq, "no-g-idx");
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", d);
    ckt_rewrite(st_path, "model.layers.0.self_attn.q_proj.g_idx", NULL);
    qk_model_source *src;
    QK_ASSERT_OK(qk_model_source_open(d, NULL, &src));
    qk_quantized_linear q;
    QK_ASSERT_OK(qk_checkpoint_read_linear(
        src, (size_t)qk_model_source_find_tensor(src, "blk.0.attn_q.weight"), &q));
    assert_null(q.g_idx);
    qk_quantized_linear_free(&q);
    /* plain tensors are not quantized linears */
    QK_ASSERT_STATUS(qk_checkpoint_read_linear(
                         src, (size_t)qk_model_source_find_tensor(src, "token_embd.weight"), &q),
                     QK_ERR_INVALID_ARG);
    /* and block types are not what a quantized linear reads as */
    float buf[4];
    QK_ASSERT_STATUS(
        qk_model_source_read(src, (size_t)qk_model_source_find_tensor(src, "blk.0.attn_q.weight"),
                             QK_TYPE_Q8_0, buf, sizeof buf),
        QK_ERR_UNSUPPORTED);
    qk_model_source_close(src);
}

/* Every linear of `a` reads back as in `b`. */
static void assert_same_checkpoint(const char *a_dir, const char *b_dir) {
    qk_model_source *a, *b;
    QK_ASSERT_OK(qk_model_source_open(a_dir, NULL, &a));
    QK_ASSERT_OK(qk_model_source_open(b_dir, NULL, &b));
    qk_checkpoint_config ca, cb;
    QK_ASSERT_OK(qk_checkpoint_source_config(a, &ca));
    QK_ASSERT_OK(qk_checkpoint_source_config(b, &cb));
    assert_int_equal(ca.format, cb.format);
    assert_int_equal(ca.bits, cb.bits);
    assert_int_equal(ca.group_size, cb.group_size);
    for (int l = 0; l < DIMS.layers; l++)
        for (int k = 0; k < 7; k++) {
            char name[64];
            name_of(l, k, name);
            int64_t rows, cols;
            ckt_dims_of(&DIMS, k, &rows, &cols);
            const size_t n = (size_t)(rows * cols);
            float *x = malloc(n * 4), *y = malloc(n * 4);
            QK_ASSERT_OK(qk_model_source_read(a, (size_t)qk_model_source_find_tensor(a, name),
                                              QK_TYPE_F32, x, n * 4));
            QK_ASSERT_OK(qk_model_source_read(b, (size_t)qk_model_source_find_tensor(b, name),
                                              QK_TYPE_F32, y, n * 4));
            assert_memory_equal(x, y, n * 4);
            free(x);
            free(y);
        }
    qk_model_source_close(a);
    qk_model_source_close(b);
}

/* config.json without quantization_config, the settings in `side` (NULL:
** none); returns the folder. */
static const char *legacy_copy(const char *from, const char *name, const char *side,
                               json_t *side_obj) {
    const char *d = copy_ckpt(from, name);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", d);
    json_t *cfg = json_load_file(path, 0, NULL);
    assert_non_null(cfg);
    json_object_del(cfg, "quantization_config");
    assert_int_equal(json_dump_file(cfg, path, JSON_INDENT(2)), 0);
    json_decref(cfg);
    snprintf(path, sizeof path, "%s/quantize_config.json", d);
    unlink(path);
    if (side) {
        snprintf(path, sizeof path, "%s/%s", d, side);
        assert_int_equal(json_dump_file(side_obj, path, 0), 0);
    }
    json_decref(side_obj);
    return d;
}

/* Older AutoGPTQ / AutoAWQ folders keep the settings beside config.json. */
static void test_legacy_config_files(void **state) {
    (void)state;
    char path[4200];
    /* AutoGPTQ: quantize_config.json without quant_method or checkpoint_format (v1) */
    json_t *q = json_pack("{s:i, s:i, s:f, s:b, s:b, s:b}", "bits", 4, "group_size", 32,
                          "damp_percent", 0.01, "desc_act", 1, "sym", 0, "true_sequential", 1);
    const char *d = legacy_copy(good_gptq, "legacy-gptq", "quantize_config.json", q);
    assert_same_checkpoint(d, good_gptq);
    /* AutoAWQ: quant_config.json with w_bit, q_group_size, version "GEMM" */
    q = json_pack("{s:b, s:i, s:i, s:s}", "zero_point", 1, "q_group_size", 32, "w_bit", 4,
                  "version", "GEMM");
    d = legacy_copy(good_awq, "legacy-awq", "quant_config.json", q);
    assert_same_checkpoint(d, good_awq);
    /* compressed-tensors: weight_g_idx is used even when actorder is not "group"... */
    d = copy_ckpt(good_ct_act, "ct-gidx-noactorder");
    edit_config(d, "\"actorder\": \"group\"", "\"actorder\": null");
    assert_same_checkpoint(d, good_ct_act);
    /* ...and required when it is */
    d = copy_ckpt(good_ct_act, "ct-act-no-gidx");
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    ckt_rewrite(path, "model.layers.1.self_attn.o_proj.weight_g_idx", NULL);
    expect_open_fails(d, QK_ERR_NOT_FOUND, "model.layers.1.self_attn.o_proj.weight_g_idx", NULL);
    /* a malformed side file is an error, not a plain model */
    d = legacy_copy(good_gptq, "legacy-broken", NULL, NULL);
    snprintf(path, sizeof path, "%s/quantize_config.json", d);
    assert_int_equal(qk_test_write_file(path, "{\"bits\": 4,", 12), 0);
    expect_open_fails(d, QK_ERR_CORRUPT, "quantize_config.json", NULL);
    /* without any: the packed tensors are not a plain model */
    snprintf(path, sizeof path, "%s/quantize_config.json", d);
    unlink(path);
    expect_open_fails(d, QK_ERR_NOT_FOUND, "model.layers.0.self_attn.q_proj.weight",
                      "without a quantization_config");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_refuses),
        cmocka_unit_test_setup(test_bad_configs, setup),
        cmocka_unit_test_setup(test_bad_tensors, setup),
        cmocka_unit_test_setup(test_legacy_config_files, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
