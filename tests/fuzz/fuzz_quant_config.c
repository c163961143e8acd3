/*
** Fuzz target: quantkit's own JSON quantization config
** (qk_quant_config_load, quantkit/quant_config.h). Input: the file. When it
** loads, the config keeps the header's promises (schema version, known
** types, hex digests of 64 characters, at most 16 allocation formats), and
** it saves and loads back to the same config: saving the reloaded config
** gives the same bytes as saving the first.
*/
#include "fuzz_common.h"

static bool hex64(const char *s) {
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[64] == '\0';
}

static bool valid_type(int64_t t) {
    return t >= 0 && t < QK_TYPE_COUNT;
}

static void check_config(const qk_quant_config *c) {
    FUZZ_CHECK(c->schema_version == QK_QUANT_CONFIG_VERSION);
    FUZZ_CHECK(c->method != NULL);
    FUZZ_CHECK(c->token_embd_type == -1 || valid_type(c->token_embd_type));
    FUZZ_CHECK(c->output_type == -1 || valid_type(c->output_type));
    FUZZ_CHECK(c->n_input_files == 0 || c->input_files != NULL);
    for (size_t i = 0; i < c->n_input_files; i++) {
        FUZZ_CHECK(c->input_files[i].name != NULL);
        FUZZ_CHECK(hex64(c->input_files[i].sha256));
    }
    for (size_t i = 0; i < c->n_overrides; i++)
        FUZZ_CHECK(c->overrides[i].pattern != NULL && valid_type(c->overrides[i].type));
    for (size_t i = 0; i < c->n_params; i++) {
        const qk_config_param *p = &c->params[i];
        FUZZ_CHECK(p->name != NULL && p->kind >= QK_CONFIG_INT && p->kind <= QK_CONFIG_STRING);
        FUZZ_CHECK(p->kind != QK_CONFIG_STRING || p->s != NULL);
        FUZZ_CHECK(qk_quant_config_param(c, p->name) != NULL);
    }
    if (c->importance == QK_CONFIG_IMPORTANCE_FILE) FUZZ_CHECK(hex64(c->importance_sha256));
    if (c->has_calibration) FUZZ_CHECK(hex64(c->calib_sha256));
    if (c->has_allocation) {
        FUZZ_CHECK(c->n_formats <= 16);
        for (size_t i = 0; i < c->n_formats; i++) FUZZ_CHECK(valid_type(c->formats[i]));
    }
    FUZZ_CHECK(c->n_tensors == 0 || c->tensors != NULL);
    for (size_t i = 0; i < c->n_tensors; i++) /* a format, or affine codes of 2..8 bits */
        FUZZ_CHECK(c->tensors[i].name != NULL &&
                   (c->tensors[i].bits ? c->tensors[i].bits >= 2 && c->tensors[i].bits <= 8 &&
                                             c->tensors[i].group >= 0
                                       : valid_type(c->tensors[i].type)));
    FUZZ_CHECK(c->format != NULL);
    if (c->has_output) FUZZ_CHECK(hex64(c->output_sha256));
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL);
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            buf = realloc(buf, cap);
            FUZZ_CHECK(buf != NULL);
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    *n = len;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("cfg.json", data, size);
    qk_quant_config c;
    qk_clear_error();
    qk_status st = qk_quant_config_load(path, &c);
    fuzz_check_status(st);
    if (st != QK_OK) {
        FUZZ_CHECK(st == QK_ERR_CONFIG || st == QK_ERR_CORRUPT || st == QK_ERR_IO ||
                   st == QK_ERR_UNSUPPORTED);
        return 0;
    }
    check_config(&c);
    /* save, load, save: the same bytes */
    const char *a = fuzz_path("saved-a.json"), *b = fuzz_path("saved-b.json");
    qk_clear_error();
    st = qk_quant_config_save(&c, a);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK);
    qk_quant_config back;
    qk_clear_error();
    st = qk_quant_config_load(a, &back);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK);
    check_config(&back);
    FUZZ_CHECK(back.n_tensors == c.n_tensors && back.n_params == c.n_params);
    qk_clear_error();
    st = qk_quant_config_save(&back, b);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK);
    size_t na, nb;
    unsigned char *ta = slurp(a, &na), *tb = slurp(b, &nb);
    FUZZ_CHECK(na == nb && memcmp(ta, tb, na) == 0);
    free(ta);
    free(tb);
    qk_quant_config_free(&back);
    qk_quant_config_free(&c);
    return 0;
}
