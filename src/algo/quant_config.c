/*
** The quantization config (quantkit/quant_config.h): building it, and
** writing it as JSON. Reading and validation are in quant_config_load.c,
** the checks against a model in quant_config_check.c.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "quantkit/io.h"
#include "quantkit/quant_config.h"
#include "quantkit/quantize.h"

qk_status qk_quant_config_init(qk_quant_config *c) {
    if (!c) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    memset(c, 0, sizeof *c);
    c->schema_version = QK_QUANT_CONFIG_VERSION;
    c->quantkit_version = strdup(qk_version());
    c->method = strdup("rtn");
    c->format = strdup("gguf");
    c->quantize_output = true;
    c->token_embd_type = -1;
    c->output_type = -1;
    c->max_kl = NAN;
    c->predicted_kl = NAN;
    if (!c->quantkit_version || !c->method || !c->format) {
        qk_quant_config_free(c);
        return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    }
    return QK_OK;
}

void qk_quant_config_free(qk_quant_config *c) {
    if (!c) return;
    free(c->quantkit_version);
    free(c->input_path);
    for (size_t i = 0; i < c->n_input_files; i++) free(c->input_files[i].name);
    free(c->input_files);
    free(c->type);
    for (size_t i = 0; i < c->n_overrides; i++) free(c->overrides[i].pattern);
    free(c->overrides);
    free(c->name);
    free(c->tokenizer);
    free(c->format);
    free(c->method);
    for (size_t i = 0; i < c->n_params; i++) {
        free(c->params[i].name);
        free(c->params[i].s);
    }
    free(c->params);
    free(c->importance_path);
    free(c->calib_text);
    free(c->proxy);
    free(c->kl_mode);
    for (size_t i = 0; i < c->n_tensors; i++) free(c->tensors[i].name);
    free(c->tensors);
    free(c->output_path);
    for (size_t i = 0; i < c->n_output_files; i++) free(c->output_files[i].name);
    free(c->output_files);
    memset(c, 0, sizeof *c);
}

/* ---- method parameters --------------------------------------------------- */

const qk_config_param *qk_quant_config_param(const qk_quant_config *c, const char *name) {
    if (!c || !name) return NULL;
    for (size_t i = 0; i < c->n_params; i++)
        if (strcmp(c->params[i].name, name) == 0) return &c->params[i];
    return NULL;
}

/* The parameter `name`, added empty when missing. */
static qk_status param_slot(qk_quant_config *c, const char *name, qk_config_param **out) {
    if (!c || !name) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    for (size_t i = 0; i < c->n_params; i++)
        if (strcmp(c->params[i].name, name) == 0) {
            free(c->params[i].s);
            c->params[i].s = NULL;
            *out = &c->params[i];
            return QK_OK;
        }
    qk_config_param *p = realloc(c->params, (c->n_params + 1) * sizeof *p);
    if (!p) return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    c->params = p;
    memset(&p[c->n_params], 0, sizeof *p);
    p[c->n_params].name = strdup(name);
    if (!p[c->n_params].name) return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    *out = &p[c->n_params++];
    return QK_OK;
}

qk_status qk_quant_config_set_int(qk_quant_config *c, const char *name, int64_t v) {
    qk_config_param *p;
    qk_status st = param_slot(c, name, &p);
    if (st != QK_OK) return st;
    p->kind = QK_CONFIG_INT;
    p->i = v;
    return QK_OK;
}

qk_status qk_quant_config_set_real(qk_quant_config *c, const char *name, double v) {
    if (!isfinite(v))
        return qk_error_set(QK_ERR_INVALID_ARG, "quant config: method.params.%s is not finite",
                            name ? name : "?");
    qk_config_param *p;
    qk_status st = param_slot(c, name, &p);
    if (st != QK_OK) return st;
    p->kind = QK_CONFIG_REAL;
    p->r = v;
    return QK_OK;
}

qk_status qk_quant_config_set_bool(qk_quant_config *c, const char *name, bool v) {
    qk_config_param *p;
    qk_status st = param_slot(c, name, &p);
    if (st != QK_OK) return st;
    p->kind = QK_CONFIG_BOOL;
    p->b = v;
    return QK_OK;
}

qk_status qk_quant_config_set_string(qk_quant_config *c, const char *name, const char *v) {
    if (!v) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    qk_config_param *p;
    qk_status st = param_slot(c, name, &p);
    if (st != QK_OK) return st;
    p->kind = QK_CONFIG_STRING;
    p->s = strdup(v);
    if (!p->s) return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    return QK_OK;
}

static const char *kind_name(qk_config_kind k) {
    switch (k) {
    case QK_CONFIG_INT:
        return "an integer";
    case QK_CONFIG_REAL:
        return "a number";
    case QK_CONFIG_BOOL:
        return "a boolean";
    case QK_CONFIG_STRING:
        return "a string";
    }
    return "?";
}

qk_status qk_quant_config_check_params(const qk_quant_config *c, const char *const *known,
                                       const qk_config_kind *kinds, size_t n_known) {
    if (!c) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    for (size_t i = 0; i < c->n_params; i++) {
        const qk_config_param *p = &c->params[i];
        size_t k = 0;
        while (k < n_known && strcmp(known[k], p->name) != 0) k++;
        if (k == n_known)
            return qk_error_set(QK_ERR_CONFIG, "method.params.%s: not a parameter of method '%s'",
                                p->name, c->method ? c->method : "?");
        /* an integer is also a valid real */
        if (p->kind != kinds[k] && !(kinds[k] == QK_CONFIG_REAL && p->kind == QK_CONFIG_INT))
            return qk_error_set(QK_ERR_CONFIG, "method.params.%s: expected %s", p->name,
                                kind_name(kinds[k]));
    }
    return QK_OK;
}

/* ---- recording a run ---------------------------------------------------- */

qk_status qk_quant_config_set_tensors(qk_quant_config *c, const qk_quantize_report *rep) {
    if (!c || !rep) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    for (size_t i = 0; i < c->n_tensors; i++) free(c->tensors[i].name);
    free(c->tensors);
    c->n_tensors = 0;
    c->tensors = calloc(rep->n_tensors ? rep->n_tensors : 1, sizeof *c->tensors);
    if (!c->tensors) return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    for (size_t i = 0; i < rep->n_tensors; i++) {
        c->tensors[i].name = strdup(rep->tensors[i].name);
        c->tensors[i].type = rep->tensors[i].to;
        c->n_tensors++;
        if (!c->tensors[i].name) return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    }
    return QK_OK;
}

/* ---- writing ------------------------------------------------------------- */

static json_t *str_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

static json_t *type_or_null(int32_t t) {
    return t < 0 ? json_null() : json_string(qk_type_name((qk_type)t));
}

static json_t *real_or_null(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *files_json(const qk_config_file *files, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_object();
        json_object_set_new(f, "name", json_string(files[i].name));
        json_object_set_new(f, "bytes", json_integer((json_int_t)files[i].bytes));
        json_object_set_new(f, "sha256", json_string(files[i].sha256));
        json_array_append_new(a, f);
    }
    return a;
}

static json_t *to_json(const qk_quant_config *c) {
    json_t *o = json_object();
    json_object_set_new(o, "schema", json_string(QK_QUANT_CONFIG_SCHEMA));
    json_object_set_new(o, "schema_version", json_integer(c->schema_version));
    json_object_set_new(o, "quantkit_version", str_or_null(c->quantkit_version));

    json_t *in = json_object();
    json_object_set_new(in, "path", str_or_null(c->input_path));
    json_object_set_new(in, "files", files_json(c->input_files, c->n_input_files));
    json_object_set_new(o, "input", in);

    json_t *q = json_object(), *ov = json_array();
    json_object_set_new(q, "type", str_or_null(c->type));
    json_object_set_new(q, "pure", json_boolean(c->pure));
    json_object_set_new(q, "quantize_output", json_boolean(c->quantize_output));
    json_object_set_new(q, "token_embedding_type", type_or_null(c->token_embd_type));
    json_object_set_new(q, "output_tensor_type", type_or_null(c->output_type));
    for (size_t i = 0; i < c->n_overrides; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "pattern", json_string(c->overrides[i].pattern));
        json_object_set_new(e, "type", json_string(qk_type_name(c->overrides[i].type)));
        json_array_append_new(ov, e);
    }
    json_object_set_new(q, "overrides", ov);
    json_object_set_new(q, "name", str_or_null(c->name));
    json_object_set_new(q, "tokenizer", str_or_null(c->tokenizer));
    json_object_set_new(q, "allow_requantize", json_boolean(c->allow_requantize));
    json_object_set_new(q, "allow_nonfinite", json_boolean(c->allow_nonfinite));
    json_object_set_new(q, "format", str_or_null(c->format));
    json_object_set_new(o, "quantize", q);

    json_t *m = json_object(), *params = json_object();
    json_object_set_new(m, "name", str_or_null(c->method));
    for (size_t i = 0; i < c->n_params; i++) {
        const qk_config_param *p = &c->params[i];
        json_t *v = p->kind == QK_CONFIG_INT    ? json_integer((json_int_t)p->i)
                    : p->kind == QK_CONFIG_REAL ? json_real(p->r)
                    : p->kind == QK_CONFIG_BOOL ? json_boolean(p->b)
                                                : json_string(p->s ? p->s : "");
        json_object_set_new(params, p->name, v);
    }
    json_object_set_new(m, "params", params);
    json_object_set_new(o, "method", m);

    if (c->importance == QK_CONFIG_IMPORTANCE_NONE) {
        json_object_set_new(o, "importance", json_null());
    } else {
        json_t *imp = json_object();
        if (c->importance == QK_CONFIG_IMPORTANCE_FILE) {
            json_object_set_new(imp, "source", json_string("file"));
            json_object_set_new(imp, "path", str_or_null(c->importance_path));
            json_object_set_new(imp, "sha256", json_string(c->importance_sha256));
        } else {
            json_object_set_new(imp, "source", json_string("calibration"));
        }
        json_object_set_new(o, "importance", imp);
    }

    if (!c->has_calibration) {
        json_object_set_new(o, "calibration", json_null());
    } else {
        json_t *cal = json_object();
        json_object_set_new(cal, "text", str_or_null(c->calib_text));
        json_object_set_new(cal, "sha256", json_string(c->calib_sha256));
        json_object_set_new(cal, "samples", json_integer(c->calib_samples));
        json_object_set_new(cal, "len", json_integer(c->calib_len));
        json_object_set_new(cal, "seed", json_integer((json_int_t)c->calib_seed));
        json_object_set_new(o, "calibration", cal);
    }

    if (!c->has_allocation) {
        json_object_set_new(o, "allocation", json_null());
    } else {
        json_t *al = json_object(), *fm = json_array();
        json_object_set_new(al, "budget_bytes",
                            c->budget_bytes ? json_integer((json_int_t)c->budget_bytes)
                                            : json_null());
        json_object_set_new(al, "max_kl", real_or_null(c->max_kl));
        json_object_set_new(al, "proxy", str_or_null(c->proxy));
        json_object_set_new(al, "kl", str_or_null(c->kl_mode));
        json_object_set_new(al, "kl_format", json_string(qk_type_name(c->kl_format)));
        json_object_set_new(al, "kl_chunks", json_integer(c->kl_chunks));
        for (size_t i = 0; i < c->n_formats; i++)
            json_array_append_new(fm, json_string(qk_type_name(c->formats[i])));
        json_object_set_new(al, "formats", fm);
        json_object_set_new(al, "predicted_kl", real_or_null(c->predicted_kl));
        json_object_set_new(o, "allocation", al);
    }

    json_t *ts = json_array();
    for (size_t i = 0; i < c->n_tensors; i++) {
        json_t *e = json_object();
        const qk_config_tensor *t = &c->tensors[i];
        json_object_set_new(e, "name", json_string(t->name));
        json_object_set_new(e, "type", json_string(t->bits ? "affine" : qk_type_name(t->type)));
        if (t->bits) {
            json_object_set_new(e, "bits", json_integer(t->bits));
            json_object_set_new(e, "group", json_integer(t->group));
        }
        json_array_append_new(ts, e);
    }
    json_object_set_new(o, "tensors", ts);

    if (!c->has_output) {
        json_object_set_new(o, "output", json_null());
    } else {
        json_t *out = json_object();
        json_object_set_new(out, "path", str_or_null(c->output_path));
        json_object_set_new(out, "bytes", json_integer((json_int_t)c->output_bytes));
        json_object_set_new(out, "sha256", json_string(c->output_sha256));
        if (c->n_output_files)
            json_object_set_new(out, "files", files_json(c->output_files, c->n_output_files));
        json_object_set_new(o, "output", out);
    }
    return o;
}

qk_status qk_quant_config_save(const qk_quant_config *c, const char *path) {
    if (!c || !path) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    json_t *o = to_json(c);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text) return qk_error_set(QK_ERR_NOMEM, "quant config: cannot format %s", path);
    qk_atomic_file *f;
    qk_status st = qk_atomic_file_open(path, &f);
    if (st == QK_OK) {
        st = qk_atomic_file_write(f, text, strlen(text));
        if (st == QK_OK) st = qk_atomic_file_write(f, "\n", 1);
        if (st == QK_OK)
            st = qk_atomic_file_commit(f);
        else
            qk_atomic_file_abort(f);
    }
    free(text);
    return st;
}
