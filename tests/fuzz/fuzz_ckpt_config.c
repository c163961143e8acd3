/*
** Fuzz target: the quantization settings of a quantized Hugging Face
** checkpoint (src/io/ckpt_config.c through qk_ckpt_source_open): the
** "quantization_config" object of config.json (GPTQ, AWQ,
** compressed-tensors), AutoGPTQ's quantize_config.json and AutoAWQ's
** quant_config.json beside a config.json without one, and the
** checkpoint_format GPTQ looks up in quantize_config.json.
**
** Input: config.json, a NUL byte, quantize_config.json, a NUL byte,
** quant_config.json (a file is absent when its NUL separator is). When the
** settings are accepted, every scheme passes qk_checkpoint_config_check,
** its targets are strings, module matching works on them, and the JSON the
** writer makes from a scheme reads back as the same scheme.
*/
#include "fuzz_common.h"
#include "io/ckpt.h"

static const char *const MODULES[] = {"model.layers.0.self_attn.q_proj",
                                      "model.layers.11.mlp.down_proj", "lm_head", ""};

static void check_scheme(const ckpt_scheme *s, qk_checkpoint_format format) {
    qk_clear_error();
    qk_status st = qk_checkpoint_config_check(&s->config);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK);
    FUZZ_CHECK(s->config.format == format);
    FUZZ_CHECK(s->config.bits >= 2 && s->config.bits <= 8);
    FUZZ_CHECK(s->config.group_size == -1 || s->config.group_size > 0);
    FUZZ_CHECK(s->n_targets >= 0 && (s->n_targets == 0 || s->targets != NULL));
    for (int32_t t = 0; t < s->n_targets; t++) {
        FUZZ_CHECK(s->targets[t] != NULL);
        (void)fuzz_touch(s->targets[t], strlen(s->targets[t]) + 1);
    }
}

/* The writer's JSON for `c`, read back from a folder with no side files. */
static void check_round_trip(const qk_checkpoint_config *c, const char *empty_folder) {
    json_t *j = qk_ckpt_config_json(c);
    FUZZ_CHECK(j != NULL && json_is_object(j));
    ckpt_config back;
    qk_clear_error();
    qk_status st = qk_ckpt_config_parse(j, "fuzz/written-config.json", empty_folder, &back);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK);
    FUZZ_CHECK(back.format == c->format && back.n_schemes == 1);
    const qk_checkpoint_config *b = &back.schemes[0].config;
    FUZZ_CHECK(b->bits == c->bits && b->group_size == c->group_size);
    FUZZ_CHECK(b->symmetric == c->symmetric && b->desc_act == c->desc_act);
    qk_ckpt_config_free(&back);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const FILES[3] = {"ck/config.json", "ck/quantize_config.json",
                                         "ck/quant_config.json"};
    char folder[600], empty[600];
    snprintf(folder, sizeof folder, "%s/ck", fuzz_dir());
    snprintf(empty, sizeof empty, "%s/empty", fuzz_dir());
    if (mkdir(folder, 0700) != 0 && access(folder, W_OK) != 0) abort();
    if (mkdir(empty, 0700) != 0 && access(empty, W_OK) != 0) abort();
    (void)fuzz_path("empty/none"); /* never written: registers the folder for removal */
    const uint8_t *p = data, *end = data + size;
    for (int f = 0; f < 3; f++) {
        if (!p) {
            unlink(fuzz_path(FILES[f]));
            continue;
        }
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);
        fuzz_write_file(FILES[f], p, len);
        p = nul ? nul + 1 : NULL;
    }

    qk_ms_ckpt *ck = NULL;
    qk_clear_error();
    qk_status st = qk_ckpt_source_open(NULL, folder, &ck);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK || st == QK_ERR_CORRUPT || st == QK_ERR_CONFIG ||
               st == QK_ERR_UNSUPPORTED || st == QK_ERR_INVALID_ARG);
    if (st != QK_OK) {
        FUZZ_CHECK(ck == NULL);
        return 0;
    }
    if (!ck) return 0; /* config.json without quantization settings */
    const ckpt_config *c = &ck->config;
    FUZZ_CHECK(c->n_schemes >= 1 && c->schemes != NULL);
    FUZZ_CHECK(c->format == QK_CHECKPOINT_COMPRESSED_TENSORS || c->n_schemes == 1);
    for (int32_t i = 0; i < c->n_schemes; i++) check_scheme(&c->schemes[i], c->format);
    for (size_t m = 0; m < sizeof MODULES / sizeof MODULES[0]; m++) {
        const ckpt_scheme *s = qk_ckpt_config_match(c, MODULES[m]);
        FUZZ_CHECK(s == NULL || (s >= c->schemes && s < c->schemes + c->n_schemes));
    }
    check_round_trip(&c->schemes[0].config, empty);
    qk_ckpt_source_free(ck);
    return 0;
}
