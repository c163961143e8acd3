/*
** Reading a quantization config (quantkit/quant_config.h) strictly: every
** field is checked for presence, JSON type and value; an unknown field is
** an error. Messages name the field as a path: "cfg.json: tensors[3].type:
** unknown format 'q9_k'".
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "quantkit/checkpoint.h"
#include "quantkit/mix.h"
#include "quantkit/quant_config.h"

typedef struct loader {
    const char *file;
    char path[160]; /* the field being read */
} loader;

static qk_status bad(const loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static qk_status bad(const loader *l, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qk_error_set(QK_ERR_CONFIG, "%s: %s: %s", l->file, l->path, msg);
}

/* Set l->path to base + "." + key (or "[i]"). */
static void at(loader *l, const char *base, const char *key) {
    snprintf(l->path, sizeof l->path, "%s%s%s", base, base[0] ? "." : "", key);
}

/* Every key of `o` must be in `keys` (NULL-terminated). */
static qk_status only_keys(loader *l, const char *base, const json_t *o, const char *const *keys) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0) i++;
        if (!keys[i]) {
            at(l, base, k);
            return bad(l, "unknown field");
        }
    }
    return QK_OK;
}

/* The member `key` of `o`; missing is an error unless optional. */
static qk_status member(loader *l, const char *base, const json_t *o, const char *key,
                        bool optional, json_t **out) {
    at(l, base, key);
    *out = json_object_get(o, key);
    if (!*out && !optional) return bad(l, "missing");
    return QK_OK;
}

static qk_status get_string(loader *l, const char *base, const json_t *o, const char *key,
                            bool nullable, char **out) {
    json_t *v;
    qk_status st = member(l, base, o, key, nullable, &v);
    if (st != QK_OK) return st;
    if (!v || json_is_null(v)) {
        if (!nullable) return bad(l, "expected a string, not null");
        *out = NULL;
        return QK_OK;
    }
    if (!json_is_string(v)) return bad(l, "expected a string");
    *out = strdup(json_string_value(v));
    return *out ? QK_OK : qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
}

static qk_status get_bool(loader *l, const char *base, const json_t *o, const char *key,
                          bool *out) {
    json_t *v;
    qk_status st = member(l, base, o, key, false, &v);
    if (st != QK_OK) return st;
    if (!json_is_boolean(v)) return bad(l, "expected true or false");
    *out = json_is_true(v);
    return QK_OK;
}

/* An optional boolean: absent leaves *out as it is. */
static qk_status get_bool_optional(loader *l, const char *base, const json_t *o, const char *key,
                                   bool *out) {
    json_t *v;
    qk_status st = member(l, base, o, key, true, &v);
    if (st != QK_OK || !v) return st;
    if (!json_is_boolean(v)) return bad(l, "expected true or false");
    *out = json_is_true(v);
    return QK_OK;
}

static qk_status get_int(loader *l, const char *base, const json_t *o, const char *key, int64_t lo,
                         int64_t hi, int64_t *out) {
    json_t *v;
    qk_status st = member(l, base, o, key, false, &v);
    if (st != QK_OK) return st;
    if (!json_is_integer(v)) return bad(l, "expected an integer");
    const int64_t x = (int64_t)json_integer_value(v);
    if (x < lo || x > hi)
        return bad(l, "%lld is out of range [%lld, %lld]", (long long)x, (long long)lo,
                   (long long)hi);
    *out = x;
    return QK_OK;
}

/* A number or null (NaN). */
static qk_status get_real_or_null(loader *l, const char *base, const json_t *o, const char *key,
                                  double *out) {
    json_t *v;
    qk_status st = member(l, base, o, key, false, &v);
    if (st != QK_OK) return st;
    if (json_is_null(v)) {
        *out = NAN;
        return QK_OK;
    }
    if (!json_is_number(v)) return bad(l, "expected a number or null");
    *out = json_number_value(v);
    if (!(*out >= 0)) return bad(l, "must not be negative");
    return QK_OK;
}

static qk_status parse_type(loader *l, const json_t *v, bool nullable, int32_t *out) {
    if (nullable && json_is_null(v)) {
        *out = -1;
        return QK_OK;
    }
    if (!json_is_string(v))
        return bad(l, nullable ? "expected a type name or null" : "expected a type name");
    qk_type t;
    if (qk_type_from_name(json_string_value(v), &t) != QK_OK) {
        qk_clear_error();
        return bad(l, "unknown format '%s'", json_string_value(v));
    }
    *out = (int32_t)t;
    return QK_OK;
}

static qk_status get_type(loader *l, const char *base, const json_t *o, const char *key,
                          bool nullable, int32_t *out) {
    json_t *v;
    qk_status st = member(l, base, o, key, false, &v);
    return st != QK_OK ? st : parse_type(l, v, nullable, out);
}

static qk_status get_sha(loader *l, const char *base, const json_t *o, const char *key,
                         char out[65]) {
    json_t *v;
    qk_status st = member(l, base, o, key, false, &v);
    if (st != QK_OK) return st;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    bool ok = s && strlen(s) == 64;
    for (size_t i = 0; ok && i < 64; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (!ok) return bad(l, "expected 64 lower-case hex digits");
    memcpy(out, s, 65);
    return QK_OK;
}

/* The member `key` as an object (or null when nullable: *out NULL). */
static qk_status get_object(loader *l, const char *base, const json_t *o, const char *key,
                            bool nullable, json_t **out) {
    qk_status st = member(l, base, o, key, false, out);
    if (st != QK_OK) return st;
    if (nullable && json_is_null(*out)) {
        *out = NULL;
        return QK_OK;
    }
    if (!json_is_object(*out))
        return bad(l, nullable ? "expected an object or null" : "expected an object");
    return QK_OK;
}

static qk_status get_array(loader *l, const char *base, const json_t *o, const char *key,
                           json_t **out) {
    qk_status st = member(l, base, o, key, false, out);
    if (st != QK_OK) return st;
    if (!json_is_array(*out)) return bad(l, "expected an array");
    return QK_OK;
}

/* Element i of the array `arr` (at path `name`) as an object; its path,
** "name[i]", goes to base and l->path. */
#define ELEMENT_PATH_MAX 48
static qk_status object_element(loader *l, const json_t *arr, const char *name, size_t i,
                                char base[ELEMENT_PATH_MAX], const json_t **out) {
    snprintf(base, ELEMENT_PATH_MAX, "%s[%zu]", name, i);
    snprintf(l->path, sizeof l->path, "%s", base);
    *out = json_array_get(arr, i);
    return json_is_object(*out) ? QK_OK : bad(l, "expected an object");
}

/* An array of files (input.files, output.files) at path `name`. */
static qk_status load_files(loader *l, const json_t *files, const char *name, qk_config_file **out,
                            size_t *n_out) {
    static const char *const fkeys[] = {"name", "bytes", "sha256", NULL};
    const size_t n = json_array_size(files);
    qk_status st = QK_OK;
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out) return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    for (size_t i = 0; i < n && st == QK_OK; i++) {
        char base[ELEMENT_PATH_MAX];
        const json_t *f;
        if ((st = object_element(l, files, name, i, base, &f)) != QK_OK) return st;
        qk_config_file *cf = &(*out)[(*n_out)++];
        int64_t bytes = 0;
        if ((st = only_keys(l, base, f, fkeys)) == QK_OK &&
            (st = get_string(l, base, f, "name", false, &cf->name)) == QK_OK &&
            (st = get_int(l, base, f, "bytes", 0, INT64_MAX, &bytes)) == QK_OK)
            st = get_sha(l, base, f, "sha256", cf->sha256);
        cf->bytes = (uint64_t)bytes;
    }
    return st;
}

static qk_status load_input(loader *l, const json_t *in, qk_quant_config *c) {
    static const char *const keys[] = {"path", "files", NULL};
    qk_status st = only_keys(l, "input", in, keys);
    if (st == QK_OK) st = get_string(l, "input", in, "path", true, &c->input_path);
    json_t *files;
    if (st == QK_OK) st = get_array(l, "input", in, "files", &files);
    if (st != QK_OK) return st;
    return load_files(l, files, "input.files", &c->input_files, &c->n_input_files);
}

/* quantize.format: optional ("gguf" when absent), "gguf" or a checkpoint format. */
static qk_status load_format(loader *l, const json_t *q, qk_quant_config *c) {
    json_t *v;
    qk_status st = member(l, "quantize", q, "format", true, &v);
    if (st != QK_OK || !v) return st;
    if (!json_is_string(v)) return bad(l, "expected a string");
    const char *f = json_string_value(v);
    qk_checkpoint_format cf;
    if (strcmp(f, "gguf") != 0 && qk_checkpoint_format_from_name(f, &cf) != QK_OK) {
        qk_clear_error();
        return bad(l, "unknown format '%s' (gguf, gptq, gptq_v2, awq, compressed-tensors)", f);
    }
    free(c->format);
    c->format = strdup(f);
    return c->format ? QK_OK : qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
}

static qk_status load_quantize(loader *l, const json_t *q, qk_quant_config *c) {
    static const char *const keys[] = {
        "type",      "pure", "quantize_output", "token_embedding_type", "output_tensor_type",
        "overrides", "name", "tokenizer",       "allow_requantize",     "allow_nonfinite",
        "format",    NULL};
    static const char *const okeys[] = {"pattern", "type", NULL};
    qk_status st = only_keys(l, "quantize", q, keys);
    if (st == QK_OK) st = get_string(l, "quantize", q, "type", false, &c->type);
    if (st == QK_OK) {
        qk_type_request req;
        if (qk_type_request_parse(c->type, &req) != QK_OK) {
            qk_clear_error();
            at(l, "quantize", "type");
            return bad(l, "unknown type '%s'", c->type);
        }
    }
    if (st == QK_OK) st = get_bool(l, "quantize", q, "pure", &c->pure);
    if (st == QK_OK) st = get_bool(l, "quantize", q, "quantize_output", &c->quantize_output);
    if (st == QK_OK)
        st = get_type(l, "quantize", q, "token_embedding_type", true, &c->token_embd_type);
    if (st == QK_OK) st = get_type(l, "quantize", q, "output_tensor_type", true, &c->output_type);
    if (st == QK_OK) st = get_string(l, "quantize", q, "name", true, &c->name);
    if (st == QK_OK) st = get_string(l, "quantize", q, "tokenizer", true, &c->tokenizer);
    if (st == QK_OK) st = get_bool(l, "quantize", q, "allow_requantize", &c->allow_requantize);
    if (st == QK_OK)
        st = get_bool_optional(l, "quantize", q, "allow_nonfinite", &c->allow_nonfinite);
    if (st == QK_OK) st = load_format(l, q, c);
    json_t *ov;
    if (st == QK_OK) st = get_array(l, "quantize", q, "overrides", &ov);
    if (st != QK_OK) return st;
    const size_t n = json_array_size(ov);
    c->overrides = calloc(n ? n : 1, sizeof *c->overrides);
    if (!c->overrides) return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    for (size_t i = 0; i < n && st == QK_OK; i++) {
        char base[ELEMENT_PATH_MAX];
        const json_t *e;
        if ((st = object_element(l, ov, "quantize.overrides", i, base, &e)) != QK_OK) return st;
        qk_config_override *o = &c->overrides[c->n_overrides++];
        int32_t t = 0;
        if ((st = only_keys(l, base, e, okeys)) == QK_OK &&
            (st = get_string(l, base, e, "pattern", false, &o->pattern)) == QK_OK)
            st = get_type(l, base, e, "type", false, &t);
        o->type = (qk_type)t;
    }
    return st;
}

static qk_status load_method(loader *l, const json_t *m, qk_quant_config *c) {
    static const char *const keys[] = {"name", "params", NULL};
    qk_status st = only_keys(l, "method", m, keys);
    free(c->method);
    c->method = NULL;
    if (st == QK_OK) st = get_string(l, "method", m, "name", false, &c->method);
    json_t *params;
    if (st == QK_OK) st = get_object(l, "method", m, "params", false, &params);
    if (st != QK_OK) return st;
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v) {
        at(l, "method.params", k);
        if (json_is_integer(v))
            st = qk_quant_config_set_int(c, k, (int64_t)json_integer_value(v));
        else if (json_is_real(v))
            st = qk_quant_config_set_real(c, k, json_real_value(v));
        else if (json_is_boolean(v))
            st = qk_quant_config_set_bool(c, k, json_is_true(v));
        else if (json_is_string(v))
            st = qk_quant_config_set_string(c, k, json_string_value(v));
        else
            return bad(l, "expected an integer, number, boolean or string");
        if (st != QK_OK) return st;
    }
    return QK_OK;
}

static qk_status load_importance(loader *l, const json_t *imp, qk_quant_config *c) {
    static const char *const fkeys[] = {"source", "path", "sha256", NULL};
    static const char *const ckeys[] = {"source", NULL};
    char *source = NULL;
    qk_status st = get_string(l, "importance", imp, "source", false, &source);
    if (st != QK_OK) return st;
    if (strcmp(source, "file") == 0) {
        c->importance = QK_CONFIG_IMPORTANCE_FILE;
        if ((st = only_keys(l, "importance", imp, fkeys)) == QK_OK &&
            (st = get_string(l, "importance", imp, "path", false, &c->importance_path)) == QK_OK)
            st = get_sha(l, "importance", imp, "sha256", c->importance_sha256);
    } else if (strcmp(source, "calibration") == 0) {
        c->importance = QK_CONFIG_IMPORTANCE_CALIBRATION;
        st = only_keys(l, "importance", imp, ckeys);
    } else {
        at(l, "importance", "source");
        st = bad(l, "'%s': expected \"file\" or \"calibration\"", source);
    }
    free(source);
    return st;
}

static qk_status load_calibration(loader *l, const json_t *cal, qk_quant_config *c) {
    static const char *const keys[] = {"text", "sha256", "samples", "len", "seed", NULL};
    int64_t samples = 0, len = 0, seed = 0;
    qk_status st = only_keys(l, "calibration", cal, keys);
    if (st == QK_OK) st = get_string(l, "calibration", cal, "text", false, &c->calib_text);
    if (st == QK_OK) st = get_sha(l, "calibration", cal, "sha256", c->calib_sha256);
    if (st == QK_OK) st = get_int(l, "calibration", cal, "samples", 0, INT32_MAX, &samples);
    if (st == QK_OK) st = get_int(l, "calibration", cal, "len", 1, 1 << 20, &len);
    if (st == QK_OK) st = get_int(l, "calibration", cal, "seed", 0, INT64_MAX, &seed);
    c->calib_samples = (int32_t)samples;
    c->calib_len = (int32_t)len;
    c->calib_seed = (uint64_t)seed;
    c->has_calibration = st == QK_OK;
    return st;
}

static qk_status load_allocation(loader *l, const json_t *al, qk_quant_config *c) {
    static const char *const keys[] = {"budget_bytes", "max_kl",  "proxy",        "kl", "kl_format",
                                       "kl_chunks",    "formats", "predicted_kl", NULL};
    qk_status st = only_keys(l, "allocation", al, keys);
    json_t *v;
    if (st == QK_OK) st = member(l, "allocation", al, "budget_bytes", false, &v);
    if (st != QK_OK) return st;
    if (json_is_integer(v) && json_integer_value(v) > 0)
        c->budget_bytes = (uint64_t)json_integer_value(v);
    else if (!json_is_null(v))
        return bad(l, "expected a positive integer or null");
    int64_t chunks = 0;
    int32_t kl_format = 0;
    if ((st = get_real_or_null(l, "allocation", al, "max_kl", &c->max_kl)) != QK_OK) return st;
    if (c->budget_bytes == 0 && isnan(c->max_kl)) {
        at(l, "allocation", "budget_bytes");
        return bad(l, "neither budget_bytes nor max_kl is given");
    }
    if ((st = get_string(l, "allocation", al, "proxy", false, &c->proxy)) != QK_OK) return st;
    if (strcmp(c->proxy, "imatrix") && strcmp(c->proxy, "hawq") && strcmp(c->proxy, "output")) {
        at(l, "allocation", "proxy");
        return bad(l, "'%s': expected imatrix, hawq or output", c->proxy);
    }
    if ((st = get_string(l, "allocation", al, "kl", false, &c->kl_mode)) != QK_OK) return st;
    if (strcmp(c->kl_mode, "none") && strcmp(c->kl_mode, "calibrate") &&
        strcmp(c->kl_mode, "all")) {
        at(l, "allocation", "kl");
        return bad(l, "'%s': expected none, calibrate or all", c->kl_mode);
    }
    if ((st = get_type(l, "allocation", al, "kl_format", false, &kl_format)) != QK_OK ||
        (st = get_int(l, "allocation", al, "kl_chunks", 0, 1 << 16, &chunks)) != QK_OK ||
        (st = get_real_or_null(l, "allocation", al, "predicted_kl", &c->predicted_kl)) != QK_OK)
        return st;
    c->kl_format = (qk_type)kl_format;
    c->kl_chunks = (int32_t)chunks;
    json_t *fm;
    if ((st = get_array(l, "allocation", al, "formats", &fm)) != QK_OK) return st;
    const size_t cap = sizeof c->formats / sizeof c->formats[0];
    if (json_array_size(fm) == 0 || json_array_size(fm) > cap)
        return bad(l, "expected 1..%zu formats", cap);
    for (size_t i = 0; i < json_array_size(fm); i++) {
        snprintf(l->path, sizeof l->path, "allocation.formats[%zu]", i);
        int32_t t = 0;
        if ((st = parse_type(l, json_array_get(fm, i), false, &t)) != QK_OK) return st;
        c->formats[c->n_formats++] = (qk_type)t;
    }
    c->has_allocation = true;
    return QK_OK;
}

/* An entry's "type": a format name, or "affine" with "bits" and "group". */
static qk_status load_tensor_type(loader *l, const char *base, const json_t *e, bool gguf,
                                  qk_config_tensor *t) {
    json_t *v;
    qk_status st = member(l, base, e, "type", false, &v);
    if (st != QK_OK) return st;
    const bool affine = json_is_string(v) && strcmp(json_string_value(v), "affine") == 0;
    if (!affine) {
        int32_t type = 0;
        if ((st = parse_type(l, v, false, &type)) != QK_OK) return st;
        t->type = (qk_type)type;
        json_t *extra =
            json_object_get(e, "bits") ? json_object_get(e, "bits") : json_object_get(e, "group");
        if (extra) {
            at(l, base, json_object_get(e, "bits") ? "bits" : "group");
            return bad(l, "only for \"affine\" tensors");
        }
        return QK_OK;
    }
    if (gguf) return bad(l, "\"affine\" tensors need a checkpoint format (quantize.format)");
    int64_t bits = 0, group = 0;
    if ((st = get_int(l, base, e, "bits", 2, 8, &bits)) != QK_OK ||
        (st = get_int(l, base, e, "group", 0, INT32_MAX, &group)) != QK_OK)
        return st;
    t->type = QK_TYPE_COUNT;
    t->bits = (int32_t)bits;
    t->group = (int32_t)group;
    return QK_OK;
}

static qk_status load_tensors(loader *l, const json_t *root, qk_quant_config *c) {
    static const char *const keys[] = {"name", "type", "bits", "group", NULL};
    const bool gguf = strcmp(c->format, "gguf") == 0;
    json_t *ts;
    qk_status st = get_array(l, "", root, "tensors", &ts);
    if (st != QK_OK) return st;
    const size_t n = json_array_size(ts);
    if (n == 0) return bad(l, "no tensors");
    c->tensors = calloc(n, sizeof *c->tensors);
    if (!c->tensors) return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    for (size_t i = 0; i < n; i++) {
        char base[ELEMENT_PATH_MAX];
        const json_t *e;
        if ((st = object_element(l, ts, "tensors", i, base, &e)) != QK_OK) return st;
        qk_config_tensor *t = &c->tensors[c->n_tensors++];
        if ((st = only_keys(l, base, e, keys)) != QK_OK ||
            (st = get_string(l, base, e, "name", false, &t->name)) != QK_OK ||
            (st = load_tensor_type(l, base, e, gguf, t)) != QK_OK)
            return st;
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->tensors[k].name, t->name) == 0) {
                at(l, base, "name");
                return bad(l, "'%s' is listed twice", t->name);
            }
    }
    return QK_OK;
}

static qk_status load_output(loader *l, const json_t *out, qk_quant_config *c) {
    static const char *const keys[] = {"path", "bytes", "sha256", "files", NULL};
    int64_t bytes = 0;
    qk_status st = only_keys(l, "output", out, keys);
    if (st == QK_OK) st = get_string(l, "output", out, "path", true, &c->output_path);
    if (st == QK_OK) st = get_int(l, "output", out, "bytes", 0, INT64_MAX, &bytes);
    if (st == QK_OK) st = get_sha(l, "output", out, "sha256", c->output_sha256);
    json_t *files;
    if (st == QK_OK && (st = member(l, "output", out, "files", true, &files)) == QK_OK && files) {
        if (!json_is_array(files)) return bad(l, "expected an array");
        st = load_files(l, files, "output.files", &c->output_files, &c->n_output_files);
    }
    c->output_bytes = (uint64_t)bytes;
    c->has_output = st == QK_OK;
    return st;
}

static qk_status load_root(loader *l, const json_t *root, qk_quant_config *c) {
    static const char *const keys[] = {
        "schema",     "schema_version", "quantkit_version", "input",   "quantize", "method",
        "importance", "calibration",    "allocation",       "tensors", "output",   NULL};
    l->path[0] = 0;
    if (!json_is_object(root)) {
        snprintf(l->path, sizeof l->path, "(top)");
        return bad(l, "expected a JSON object");
    }
    qk_status st = only_keys(l, "", root, keys);
    char *schema = NULL;
    if (st == QK_OK) st = get_string(l, "", root, "schema", false, &schema);
    if (st == QK_OK && strcmp(schema, QK_QUANT_CONFIG_SCHEMA) != 0)
        st = bad(l, "'%s' is not \"%s\"", schema, QK_QUANT_CONFIG_SCHEMA);
    free(schema);
    int64_t version = 0;
    if (st == QK_OK)
        st = get_int(l, "", root, "schema_version", 1, QK_QUANT_CONFIG_VERSION, &version);
    c->schema_version = (int32_t)version;
    free(c->quantkit_version);
    c->quantkit_version = NULL;
    if (st == QK_OK) st = get_string(l, "", root, "quantkit_version", false, &c->quantkit_version);
    json_t *o;
    if (st == QK_OK && (st = get_object(l, "", root, "input", false, &o)) == QK_OK)
        st = load_input(l, o, c);
    if (st == QK_OK && (st = get_object(l, "", root, "quantize", false, &o)) == QK_OK)
        st = load_quantize(l, o, c);
    if (st == QK_OK && (st = get_object(l, "", root, "method", false, &o)) == QK_OK)
        st = load_method(l, o, c);
    if (st == QK_OK && (st = get_object(l, "", root, "importance", true, &o)) == QK_OK && o)
        st = load_importance(l, o, c);
    if (st == QK_OK && (st = get_object(l, "", root, "calibration", true, &o)) == QK_OK && o)
        st = load_calibration(l, o, c);
    if (st == QK_OK && c->importance == QK_CONFIG_IMPORTANCE_CALIBRATION && !c->has_calibration) {
        snprintf(l->path, sizeof l->path, "importance.source");
        st = bad(l, "\"calibration\" needs a calibration section");
    }
    if (st == QK_OK && (st = get_object(l, "", root, "allocation", true, &o)) == QK_OK && o)
        st = load_allocation(l, o, c);
    if (st == QK_OK) st = load_tensors(l, root, c);
    if (st == QK_OK && (st = get_object(l, "", root, "output", true, &o)) == QK_OK && o)
        st = load_output(l, o, c);
    return st;
}

qk_status qk_quant_config_load(const char *path, qk_quant_config *out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    qk_status st = qk_quant_config_init(out);
    if (st != QK_OK) return st;
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        qk_quant_config_free(out);
        return qk_error_set(QK_ERR_CONFIG, "%s: line %d, column %d: %s", path, err.line, err.column,
                            err.text);
    }
    loader l = {.file = path};
    st = load_root(&l, root, out);
    json_decref(root);
    if (st != QK_OK) qk_quant_config_free(out);
    return st;
}
