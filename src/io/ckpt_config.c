/*
** config.json "quantization_config" of quantized checkpoints: writing it
** (and AutoGPTQ's quantize_config.json) and reading it back.
**
** Fields, as the tools write them:
**   AutoGPTQ BaseQuantizeConfig.to_dict(): bits, group_size, damp_percent,
**     desc_act, static_groups, sym, true_sequential, model_name_or_path,
**     model_file_base_name, quant_method "gptq"; GPTQModel adds
**     checkpoint_format "gptq" | "gptq_v2" (older files lack it: v1).
**   AutoAWQ (transformers AwqConfig): quant_method "awq", bits (w_bit),
**     group_size (q_group_size), zero_point, version "gemm".
**   compressed-tensors QuantizationConfig: quant_method
**     "compressed-tensors", format, config_groups {name: {targets, weights
**     {num_bits, type, symmetric, strategy, group_size, actorder, dynamic},
**     input_activations, output_activations, format}}, ignore,
**     kv_cache_scheme, quantization_status.
*/
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* strcmp, strdup */
#include <strings.h> /* strcasecmp */

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h> /* pcre2_compile, pcre2_match */

#include "core/error.h"
#include "io/ckpt.h"

/* ---- writing ------------------------------------------------------------ */

static json_t *gptq_json(const qk_checkpoint_config *c) {
    json_t *o = json_object();
    json_object_set_new(o, "bits", json_integer(c->bits));
    json_object_set_new(o, "group_size", json_integer(c->group_size));
    json_object_set_new(o, "damp_percent", json_real(c->damp_percent));
    json_object_set_new(o, "desc_act", json_boolean(c->desc_act));
    json_object_set_new(o, "static_groups", json_boolean(c->static_groups));
    json_object_set_new(o, "sym", json_boolean(c->symmetric));
    json_object_set_new(o, "true_sequential", json_boolean(c->true_sequential));
    json_object_set_new(o, "model_name_or_path", json_null());
    json_object_set_new(o, "model_file_base_name", json_string("model"));
    json_object_set_new(o, "quant_method", json_string("gptq"));
    json_object_set_new(o, "checkpoint_format", json_string(qk_checkpoint_format_name(c->format)));
    return o;
}

json_t *qk_ckpt_quantize_config_json(const qk_checkpoint_config *c) {
    return gptq_json(c);
}

json_t *qk_ckpt_config_json(const qk_checkpoint_config *c) {
    json_t *o;
    switch (c->format) {
    case QK_CHECKPOINT_GPTQ:
    case QK_CHECKPOINT_GPTQ_V2:
        return gptq_json(c);
    case QK_CHECKPOINT_AWQ:
        o = json_object();
        json_object_set_new(o, "quant_method", json_string("awq"));
        json_object_set_new(o, "bits", json_integer(c->bits));
        json_object_set_new(o, "group_size", json_integer(c->group_size));
        json_object_set_new(o, "zero_point", json_true());
        json_object_set_new(o, "version", json_string("gemm"));
        json_object_set_new(o, "modules_to_not_convert", json_null());
        return o;
    case QK_CHECKPOINT_COMPRESSED_TENSORS: {
        json_t *w = json_object();
        json_object_set_new(w, "num_bits", json_integer(c->bits));
        json_object_set_new(w, "type", json_string("int"));
        json_object_set_new(w, "symmetric", json_boolean(c->symmetric));
        const bool channel = c->group_size <= 0;
        json_object_set_new(w, "strategy", json_string(channel ? "channel" : "group"));
        json_object_set_new(w, "group_size", channel ? json_null() : json_integer(c->group_size));
        json_object_set_new(w, "block_structure", json_null());
        json_object_set_new(w, "actorder", c->desc_act ? json_string("group") : json_null());
        json_object_set_new(w, "dynamic", json_false());
        json_object_set_new(w, "observer", json_string("minmax"));
        json_object_set_new(w, "observer_kwargs", json_object());
        json_t *g = json_object();
        json_t *targets = json_array();
        json_array_append_new(targets, json_string("Linear"));
        json_object_set_new(g, "targets", targets);
        json_object_set_new(g, "weights", w);
        json_object_set_new(g, "input_activations", json_null());
        json_object_set_new(g, "output_activations", json_null());
        json_object_set_new(g, "format", json_string("pack-quantized"));
        json_t *groups = json_object();
        json_object_set_new(groups, "group_0", g);
        o = json_object();
        json_object_set_new(o, "config_groups", groups);
        json_object_set_new(o, "format", json_string("pack-quantized"));
        json_object_set_new(o, "global_compression_ratio", json_null());
        json_t *ignore = json_array();
        json_array_append_new(ignore, json_string("lm_head"));
        json_object_set_new(o, "ignore", ignore);
        json_object_set_new(o, "kv_cache_scheme", json_null());
        json_object_set_new(o, "quant_method", json_string("compressed-tensors"));
        json_object_set_new(o, "quantization_status", json_string("compressed"));
        return o;
    }
    }
    return json_null();
}

/* ---- reading ------------------------------------------------------------ */

/* Integer field `key` of `o` (absent: `def`; `required` makes absence an error). */
static qk_status get_int(const json_t *o, const char *key, const char *where, bool required,
                         int64_t def, int64_t *out) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return qk_error_set(QK_ERR_CONFIG, "%s: quantization_config has no \"%s\"", where, key);
        *out = def;
        return QK_OK;
    }
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return QK_OK;
    }
    return qk_error_set(QK_ERR_CONFIG, "%s: quantization_config \"%s\" is not an integer", where,
                        key);
}

static qk_status get_bool(const json_t *o, const char *key, const char *where, bool def,
                          bool *out) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return QK_OK;
    }
    if (!json_is_boolean(v))
        return qk_error_set(QK_ERR_CONFIG, "%s: quantization_config \"%s\" is not true/false",
                            where, key);
    *out = json_is_true(v);
    return QK_OK;
}

/* String field (NULL when absent or null). */
static qk_status get_str(const json_t *o, const char *key, const char *where, const char **out) {
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v)) return QK_OK;
    if (!json_is_string(v))
        return qk_error_set(QK_ERR_CONFIG, "%s: quantization_config \"%s\" is not a string", where,
                            key);
    *out = json_string_value(v);
    return QK_OK;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        qk_status try_st_ = (expr);                                                                \
        if (try_st_ != QK_OK) return try_st_;                                                      \
    } while (0)

static qk_status add_scheme(ckpt_config *c, const qk_checkpoint_config *qc, const json_t *targets,
                            const char *where) {
    ckpt_scheme *s = realloc(c->schemes, (size_t)(c->n_schemes + 1) * sizeof *s);
    if (!s) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", where);
    c->schemes = s;
    s = &c->schemes[c->n_schemes++];
    memset(s, 0, sizeof *s);
    s->config = *qc;
    const size_t n = targets ? json_array_size(targets) : 1;
    s->targets = calloc(n ? n : 1, sizeof *s->targets);
    if (!s->targets) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", where);
    for (size_t i = 0; i < n; i++) {
        const json_t *t = targets ? json_array_get(targets, i) : NULL;
        if (targets && !json_is_string(t))
            return qk_error_set(QK_ERR_CONFIG, "%s: a config group's targets are not strings",
                                where);
        s->targets[i] = strdup(targets ? json_string_value(t) : "Linear");
        if (!s->targets[i]) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", where);
        s->n_targets++;
    }
    return qk_checkpoint_config_check(&s->config) == QK_OK
               ? QK_OK
               : qk_error_prefix("%s: quantization_config", where);
}

/* checkpoint_format of a GPTQ config (or of quantize_config.json beside it). */
static qk_status gptq_version(const json_t *qc, const char *where, const char *folder,
                              qk_checkpoint_format *out) {
    const char *f;
    TRY(get_str(qc, "checkpoint_format", where, &f));
    json_t *side = NULL;
    if (!f) {
        char path[4096];
        snprintf(path, sizeof path, "%s/quantize_config.json", folder);
        side = json_load_file(path, 0, NULL);
        if (side && json_is_object(side)) {
            const json_t *v = json_object_get(side, "checkpoint_format");
            if (json_is_string(v)) f = json_string_value(v);
        }
    }
    qk_status st = QK_OK;
    if (!f || strcasecmp(f, "gptq") == 0)
        *out = QK_CHECKPOINT_GPTQ;
    else if (strcasecmp(f, "gptq_v2") == 0)
        *out = QK_CHECKPOINT_GPTQ_V2;
    else
        st = qk_error_set(QK_ERR_UNSUPPORTED,
                          "%s: GPTQ checkpoint_format \"%s\" is not supported (gptq, gptq_v2 are)",
                          where, f);
    json_decref(side);
    return st;
}

static qk_status parse_ct_group(ckpt_config *c, const char *gname, const json_t *g,
                                const char *global_format, const char *where) {
    if (!json_is_object(g))
        return qk_error_set(QK_ERR_CONFIG, "%s: config group \"%s\" is not an object", where,
                            gname);
    const char *format;
    TRY(get_str(g, "format", where, &format));
    if (!format) format = global_format;
    if (!format || strcmp(format, "pack-quantized") != 0)
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: compressed-tensors format \"%s\" (group \"%s\") is not supported "
                            "(pack-quantized is)",
                            where, format ? format : "(none)", gname);
    const json_t *ia = json_object_get(g, "input_activations");
    if (ia && !json_is_null(ia))
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: config group \"%s\" quantizes activations; only weight-only "
                            "schemes are supported",
                            where, gname);
    const json_t *w = json_object_get(g, "weights");
    if (!json_is_object(w))
        return qk_error_set(QK_ERR_CONFIG, "%s: config group \"%s\" has no \"weights\"", where,
                            gname);
    const char *type, *strategy;
    TRY(get_str(w, "type", where, &type));
    TRY(get_str(w, "strategy", where, &strategy));
    if (type && strcmp(type, "int") != 0)
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: config group \"%s\" has weights of type \"%s\" (int is supported)",
                            where, gname, type);
    qk_checkpoint_config qc;
    qk_checkpoint_config_init(&qc, QK_CHECKPOINT_COMPRESSED_TENSORS);
    int64_t bits = 0, group = 0;
    bool dynamic = false;
    TRY(get_int(w, "num_bits", where, true, 0, &bits));
    TRY(get_bool(w, "symmetric", where, true, &qc.symmetric));
    TRY(get_bool(w, "dynamic", where, false, &dynamic));
    if (dynamic)
        return qk_error_set(QK_ERR_UNSUPPORTED, "%s: config group \"%s\" is dynamic", where, gname);
    if (!strategy || strcmp(strategy, "group") == 0) {
        TRY(get_int(w, "group_size", where, true, 0, &group));
    } else if (strcmp(strategy, "channel") == 0) {
        group = -1;
    } else {
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: config group \"%s\" has strategy \"%s\" (group and channel are "
                            "supported)",
                            where, gname, strategy);
    }
    if (bits < 2 || bits > 8 || group == 0 || group < -1 || group > INT32_MAX)
        return qk_error_set(QK_ERR_CONFIG,
                            "%s: config group \"%s\": num_bits %lld, group_size %lld", where, gname,
                            (long long)bits, (long long)group);
    qc.bits = (int32_t)bits;
    qc.group_size = (int32_t)group;
    /* actorder: null/false none; "group" (or true) stores weight_g_idx; "weight"
    ** only reorders the quantization, groups stay contiguous */
    const json_t *ao = json_object_get(w, "actorder");
    qc.desc_act =
        json_is_true(ao) || (json_is_string(ao) && strcmp(json_string_value(ao), "group") == 0);
    const json_t *targets = json_object_get(g, "targets");
    if (!json_is_array(targets))
        return qk_error_set(QK_ERR_CONFIG, "%s: config group \"%s\" has no \"targets\" list", where,
                            gname);
    return add_scheme(c, &qc, targets, where);
}

qk_status qk_ckpt_config_parse(const json_t *qc, const char *where, const char *folder,
                               ckpt_config *out) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(qc))
        return qk_error_set(QK_ERR_CONFIG, "%s: quantization_config is not an object", where);
    const char *method;
    TRY(get_str(qc, "quant_method", where, &method));
    if (!method)
        return qk_error_set(QK_ERR_CONFIG, "%s: quantization_config has no \"quant_method\"",
                            where);
    qk_checkpoint_config c;
    int64_t bits = 0, group = 0;
    qk_status st;
    if (strcasecmp(method, "gptq") == 0) {
        qk_checkpoint_format f;
        TRY(gptq_version(qc, where, folder, &f));
        qk_checkpoint_config_init(&c, f);
        TRY(get_int(qc, "bits", where, true, 0, &bits));
        TRY(get_int(qc, "group_size", where, false, -1, &group));
        TRY(get_bool(qc, "sym", where, true, &c.symmetric));
        TRY(get_bool(qc, "desc_act", where, false, &c.desc_act));
        TRY(get_bool(qc, "static_groups", where, false, &c.static_groups));
        TRY(get_bool(qc, "true_sequential", where, true, &c.true_sequential));
        const json_t *d = json_object_get(qc, "damp_percent");
        if (json_is_number(d)) c.damp_percent = json_number_value(d);
        bool marlin = false;
        TRY(get_bool(qc, "is_marlin_format", where, false, &marlin));
        if (marlin)
            return qk_error_set(QK_ERR_UNSUPPORTED, "%s: Marlin-format GPTQ is not supported",
                                where);
    } else if (strcasecmp(method, "awq") == 0) {
        qk_checkpoint_config_init(&c, QK_CHECKPOINT_AWQ);
        const char *version;
        bool zero_point = true;
        TRY(get_int(qc, json_object_get(qc, "bits") ? "bits" : "w_bit", where, true, 0, &bits));
        TRY(get_int(qc, json_object_get(qc, "group_size") ? "group_size" : "q_group_size", where,
                    true, 0, &group));
        TRY(get_bool(qc, "zero_point", where, true, &zero_point));
        TRY(get_str(qc, "version", where, &version));
        if (version && strcasecmp(version, "gemm") != 0)
            return qk_error_set(QK_ERR_UNSUPPORTED,
                                "%s: AWQ version \"%s\" is not supported (gemm is)", where,
                                version);
        if (!zero_point)
            return qk_error_set(QK_ERR_UNSUPPORTED, "%s: AWQ without zero_point is not supported",
                                where);
    } else if (strcasecmp(method, "compressed-tensors") == 0) {
        const char *format, *status;
        TRY(get_str(qc, "format", where, &format));
        TRY(get_str(qc, "quantization_status", where, &status));
        if (status && strcmp(status, "compressed") != 0)
            return qk_error_set(QK_ERR_UNSUPPORTED,
                                "%s: compressed-tensors quantization_status \"%s\" (compressed is "
                                "supported)",
                                where, status);
        const json_t *groups = json_object_get(qc, "config_groups");
        if (!json_is_object(groups) || json_object_size(groups) == 0)
            return qk_error_set(QK_ERR_CONFIG, "%s: quantization_config has no \"config_groups\"",
                                where);
        out->format = QK_CHECKPOINT_COMPRESSED_TENSORS;
        const char *gname;
        json_t *g;
        json_object_foreach((json_t *)groups, gname, g) {
            st = parse_ct_group(out, gname, g, format, where);
            if (st != QK_OK) {
                qk_ckpt_config_free(out);
                return st;
            }
        }
        return QK_OK;
    } else {
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: quant_method \"%s\" is not supported (gptq, awq and "
                            "compressed-tensors are)",
                            where, method);
    }
    if (bits < 2 || bits > 8 || group > INT32_MAX)
        return qk_error_set(QK_ERR_CONFIG, "%s: quantization_config bits %lld, group_size %lld",
                            where, (long long)bits, (long long)group);
    c.bits = (int32_t)bits;
    c.group_size = (int32_t)group;
    out->format = c.format;
    st = add_scheme(out, &c, NULL, where);
    if (st != QK_OK) qk_ckpt_config_free(out);
    return st;
}

void qk_ckpt_config_free(ckpt_config *c) {
    if (!c) return;
    for (int32_t i = 0; i < c->n_schemes; i++) {
        for (int32_t t = 0; t < c->schemes[i].n_targets; t++) free(c->schemes[i].targets[t]);
        free(c->schemes[i].targets);
    }
    free(c->schemes);
    memset(c, 0, sizeof *c);
}

/* compressed-tensors target: "Linear" (the class of every module here),
** "re:PATTERN" (Python re.match: anchored at the start), or a module name.
** The patterns come from the checkpoint, so their cost is bounded: PCRE2
** (whose syntax is Python's for what such patterns use; POSIX regcomp
** took gigabytes for "a+++...+") with a pattern of at most 1024 bytes, its
** compiled size capped by PCRE2 itself, and a match limit against
** catastrophic backtracking. A pattern that does not compile, or a match
** that hits the limit, matches nothing. */
#define CKPT_RE_MAX_PATTERN 1024
#define CKPT_RE_MATCH_LIMIT 100000

static bool target_matches(const char *target, const char *module) {
    if (strcmp(target, "Linear") == 0) return true;
    if (strncmp(target, "re:", 3) != 0) return strcmp(target, module) == 0;
    const char *pattern = target + 3;
    if (strlen(pattern) > CKPT_RE_MAX_PATTERN) return false;
    int err;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_ANCHORED | PCRE2_NO_AUTO_CAPTURE, &err, &at, NULL);
    if (!re) return false;
    bool hit = false;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (md && mc) {
        pcre2_set_match_limit(mc, CKPT_RE_MATCH_LIMIT);
        pcre2_set_depth_limit(mc, CKPT_RE_MATCH_LIMIT);
        hit = pcre2_match(re, (PCRE2_SPTR)module, strlen(module), 0, 0, md, mc) >= 0;
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return hit;
}

const ckpt_scheme *qk_ckpt_config_match(const ckpt_config *c, const char *module) {
    for (int32_t i = 0; i < c->n_schemes; i++)
        for (int32_t t = 0; t < c->schemes[i].n_targets; t++)
            if (target_matches(c->schemes[i].targets[t], module)) return &c->schemes[i];
    return NULL;
}
