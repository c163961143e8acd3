/*
** quantkit quantize --save-config / --config: the run's decisions as a
** JSON config, and a replay that uses them as they are (every tensor's
** type explicit, the importance statistics recomputed from the recorded
** calibration windows or read from the recorded statistics file). Runs of
** the calibrated pipeline (--method, --bits, --format) record every
** setting of the pipeline in method.params (docs/CONFIG.md lists them).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantize_config.h"

#define FAIL_STATUS(st) cli_fail_status("quantize", (st))
#define NO_MEMORY() cli_fail("quantize", "no memory for the config")

/* ---- the calibrated pipeline's settings as method.params ------------------ */

bool quantize_ptq_calibrated(const quantize_ptq_plan *p) {
    return p->ptq.method != QK_PTQ_RTN;
}

enum { P_ALL = 1, P_GRID = 2, P_BLOCKS = 4, P_GPTQ = 8, P_AWQ = 16 };

typedef struct param_spec {
    const char *name;
    qk_config_kind kind;
    int when; /* P_* */
} param_spec;

/* Every parameter, and which runs record it: all; the affine grid; GGUF
** block types; GPTQ (also written into checkpoint configs); AWQ. */
static const param_spec SPECS[] = {
    {"target", QK_CONFIG_STRING, P_ALL},
    {"true_sequential", QK_CONFIG_BOOL, P_ALL},
    {"bits", QK_CONFIG_INT, P_GRID},
    {"group", QK_CONFIG_INT, P_GRID},
    {"sym", QK_CONFIG_BOOL, P_GRID},
    {"mse", QK_CONFIG_BOOL, P_GRID},
    {"scale_type", QK_CONFIG_STRING, P_GRID},
    {"refit_scales", QK_CONFIG_BOOL, P_GRID},
    {"block_scales", QK_CONFIG_STRING, P_BLOCKS},
    {"act_order", QK_CONFIG_BOOL, P_GPTQ},
    {"static_groups", QK_CONFIG_BOOL, P_GPTQ},
    {"damp", QK_CONFIG_REAL, P_GPTQ},
    {"damp_max", QK_CONFIG_REAL, P_GPTQ},
    {"block_size", QK_CONFIG_INT, P_GPTQ},
    {"fp_target", QK_CONFIG_BOOL, P_GPTQ},
    {"awq_grid", QK_CONFIG_INT, P_AWQ},
    {"awq_duo_scaling", QK_CONFIG_BOOL, P_AWQ},
    {"awq_scale_vo_gqa", QK_CONFIG_BOOL, P_AWQ},
    {"awq_keep_identity", QK_CONFIG_BOOL, P_AWQ},
    {"awq_clip", QK_CONFIG_BOOL, P_AWQ},
    {"awq_clip_max_shrink", QK_CONFIG_REAL, P_AWQ},
    {"awq_clip_grid", QK_CONFIG_INT, P_AWQ},
    {"awq_clip_tokens", QK_CONFIG_INT, P_AWQ},
    {"awq_search_seqs", QK_CONFIG_INT, P_AWQ},
};
#define N_SPECS (sizeof SPECS / sizeof SPECS[0])

/* The parameter groups a run of `method` onto `format` records. */
static int groups_of(qk_ptq_method method, bool affine, const char *format) {
    const bool gptq = method == QK_PTQ_GPTQ || method == QK_PTQ_AWQ_GPTQ;
    const bool awq = method == QK_PTQ_AWQ || method == QK_PTQ_AWQ_GPTQ;
    return P_ALL | (affine ? P_GRID : P_BLOCKS) | (gptq || strcmp(format, "gguf") ? P_GPTQ : 0) |
           (awq ? P_AWQ : 0);
}

static qk_status record_params(qk_quant_config *c, const quantize_ptq_plan *p) {
    const int g = groups_of(p->ptq.method, p->affine, p->format);
    const qk_gptq_options *o = &p->ptq.gptq;
    const qk_awq_options *a = &p->ptq.awq;
    qk_status st = qk_quant_config_set_string(c, "target", p->affine ? "affine" : "gguf");
    if (st == QK_OK) st = qk_quant_config_set_bool(c, "true_sequential", p->ptq.true_sequential);
    if (st == QK_OK && (g & P_GRID)) {
        if ((st = qk_quant_config_set_int(c, "bits", o->bits)) == QK_OK &&
            (st = qk_quant_config_set_int(c, "group", o->group_size)) == QK_OK &&
            (st = qk_quant_config_set_bool(c, "sym", o->symmetric)) == QK_OK &&
            (st = qk_quant_config_set_bool(c, "mse", o->mse)) == QK_OK &&
            (st = qk_quant_config_set_string(c, "scale_type", qk_type_name(o->scale_type))) ==
                QK_OK)
            st = qk_quant_config_set_bool(c, "refit_scales", o->refit_scales);
    }
    if (st == QK_OK && (g & P_BLOCKS))
        st = qk_quant_config_set_string(c, "block_scales", p->block_scales);
    if (st == QK_OK && (g & P_GPTQ)) {
        if ((st = qk_quant_config_set_bool(c, "act_order", o->act_order)) == QK_OK &&
            (st = qk_quant_config_set_bool(c, "static_groups", o->static_groups)) == QK_OK &&
            (st = qk_quant_config_set_real(c, "damp", o->damp)) == QK_OK &&
            (st = qk_quant_config_set_real(c, "damp_max", o->damp_max)) == QK_OK &&
            (st = qk_quant_config_set_int(c, "block_size", o->block_size)) == QK_OK)
            st = qk_quant_config_set_bool(c, "fp_target", p->ptq.fp_target);
    }
    if (st == QK_OK && (g & P_AWQ)) {
        if ((st = qk_quant_config_set_int(c, "awq_grid", a->n_grid)) == QK_OK &&
            (st = qk_quant_config_set_bool(c, "awq_duo_scaling", a->duo_scaling)) == QK_OK &&
            (st = qk_quant_config_set_bool(c, "awq_scale_vo_gqa", a->scale_vo_gqa)) == QK_OK &&
            (st = qk_quant_config_set_bool(c, "awq_keep_identity", a->keep_identity)) == QK_OK &&
            (st = qk_quant_config_set_bool(c, "awq_clip", a->clip)) == QK_OK &&
            (st = qk_quant_config_set_real(c, "awq_clip_max_shrink", a->clip_max_shrink)) ==
                QK_OK &&
            (st = qk_quant_config_set_int(c, "awq_clip_grid", a->clip_n_grid)) == QK_OK &&
            (st = qk_quant_config_set_int(c, "awq_clip_tokens", a->clip_n_tokens)) == QK_OK)
            st = qk_quant_config_set_int(c, "awq_search_seqs", a->search_n_seq);
    }
    return st;
}

/* The tensors of a checkpoint: each quantized linear as "affine", AWQ's
** replaced tensors f32, every other tensor as the source stores it. */
static int record_checkpoint_tensors(qk_quant_config *c, const char *in_path,
                                     const quantize_ptq_plan *p, const qk_ptq_result *res) {
    qk_model_source *src;
    qk_status st = qk_model_source_open(in_path, NULL, &src);
    if (st != QK_OK) return FAIL_STATUS(st);
    const size_t n = qk_model_source_tensor_count(src);
    c->tensors = calloc(n ? n : 1, sizeof *c->tensors);
    bool no_memory = !c->tensors;
    for (size_t i = 0; !no_memory && i < n && st == QK_OK; i++) {
        qk_model_tensor t;
        if ((st = qk_model_source_tensor_info(src, i, &t)) != QK_OK) break;
        qk_config_tensor *e = &c->tensors[c->n_tensors++];
        no_memory = !(e->name = strdup(t.name));
        e->type = t.type;
        for (size_t k = 0; k < res->n_tensors; k++)
            if (strcmp(res->tensors[k].name, t.name) == 0) e->type = QK_TYPE_F32;
        for (size_t k = 0; k < res->n_linears; k++)
            if (strcmp(res->linears[k].name, t.name) == 0) {
                e->type = QK_TYPE_COUNT;
                e->bits = p->ptq.gptq.bits;
                e->group = p->ptq.gptq.group_size;
            }
    }
    qk_model_source_close(src);
    if (st != QK_OK) return FAIL_STATUS(st);
    return no_memory ? NO_MEMORY() : 0;
}

/* The pipeline part of a config: params, calibration, tensors. */
static int fill_ptq(qk_quant_config *c, const quantize_run *r) {
    const quantize_ptq_plan *p = r->ptq;
    const qk_ptq_result *res = r->ptq_result;
    qk_status st;
    free(c->method);
    free(c->format);
    c->method = strdup(qk_ptq_method_name(p->ptq.method));
    c->format = strdup(p->format);
    if (!c->method || !c->format) return NO_MEMORY();
    if ((st = record_params(c, p)) != QK_OK) return FAIL_STATUS(st);
    if (quantize_ptq_calibrated(p)) {
        c->has_calibration = true;
        if (!(c->calib_text = strdup(p->calib_path))) return NO_MEMORY();
        if ((st = qk_file_sha256(p->calib_path, c->calib_sha256, NULL)) != QK_OK)
            return FAIL_STATUS(st);
        c->calib_samples = p->samples;
        c->calib_len = res->sample_len;
        c->calib_seed = p->seed;
    }
    return r->rep ? 0 : record_checkpoint_tensors(c, r->in_path, p, res);
}

static int fill(qk_quant_config *c, const quantize_run *r) {
    qk_status st;
    const qk_quantize_options *o = r->opt;
    if ((st = qk_quant_config_set_input(c, r->in_path)) != QK_OK) return FAIL_STATUS(st);
    c->type = strdup(r->req->name);
    c->pure = r->req->pure;
    c->quantize_output = o->mix.quantize_output;
    c->token_embd_type = o->mix.token_embd_type;
    c->output_type = o->mix.output_type;
    c->overrides = calloc(o->mix.n_overrides + 1, sizeof *c->overrides);
    if (!c->type || !c->overrides) return cli_fail("quantize", "no memory for the config");
    for (size_t i = 0; i < o->mix.n_overrides; i++) {
        c->overrides[i].pattern = strdup(o->mix.overrides[i].pattern);
        c->overrides[i].type = o->mix.overrides[i].type;
        c->n_overrides++;
        if (!c->overrides[i].pattern) return cli_fail("quantize", "no memory for the config");
    }
    if (o->name && !(c->name = strdup(o->name)))
        return cli_fail("quantize", "no memory for the config");
    if (o->tokenizer_path && !(c->tokenizer = strdup(o->tokenizer_path)))
        return cli_fail("quantize", "no memory for the config");
    c->allow_requantize = o->allow_requantize;
    c->allow_nonfinite = o->allow_nonfinite;
    /* round-to-nearest: the reference quantizer of each type, no parameters */
    const quantize_mixed_args *mx = r->mixed;
    const quantize_mixed_state *ms = r->mstate;
    if (mx && mx->calib_path) {
        c->importance = QK_CONFIG_IMPORTANCE_CALIBRATION;
        c->has_calibration = true;
        c->calib_text = strdup(mx->calib_path);
        memcpy(c->calib_sha256, ms->calib.sha256, sizeof c->calib_sha256);
        c->calib_samples = (int32_t)mx->samples;
        c->calib_len = ms->calib.sample_len;
        c->calib_seed = (uint64_t)mx->seed;
        if (!c->calib_text) return cli_fail("quantize", "no memory for the config");
    } else if (r->imatrix_path && o->importance) {
        c->importance = QK_CONFIG_IMPORTANCE_FILE;
        c->importance_path = strdup(r->imatrix_path);
        if (!c->importance_path) return cli_fail("quantize", "no memory for the config");
        if ((st = qk_file_sha256(r->imatrix_path, c->importance_sha256, NULL)) != QK_OK)
            return FAIL_STATUS(st);
    }
    if (mx) {
        c->has_allocation = true;
        c->budget_bytes = ms->budget_bytes;
        c->max_kl = ms->budget_bytes ? NAN : mx->max_kl;
        c->proxy = strdup(qk_sens_proxy_name(ms->sens.proxy));
        c->kl_mode = strdup(qk_sens_kl_mode_name(ms->sens.kl_mode));
        c->kl_format = ms->sens.kl_format;
        c->kl_chunks = ms->sens.kl_chunks;
        c->n_formats = ms->sens.n_formats;
        memcpy(c->formats, ms->sens.formats, ms->sens.n_formats * sizeof *c->formats);
        c->predicted_kl = ms->sens.kl_mode != QK_SENS_KL_NONE ? ms->result.predicted_loss : NAN;
        if (!c->proxy || !c->kl_mode) return cli_fail("quantize", "no memory for the config");
    }
    int rc;
    if (r->ptq && (rc = fill_ptq(c, r)) != 0) return rc;
    if ((r->rep && (st = qk_quant_config_set_tensors(c, r->rep)) != QK_OK) ||
        (st = qk_quant_config_set_output(c, r->output)) != QK_OK)
        return FAIL_STATUS(st);
    return 0;
}

int quantize_config_save(const char *path, const quantize_run *run) {
    qk_quant_config c;
    qk_status st = qk_quant_config_init(&c);
    if (st != QK_OK) return FAIL_STATUS(st);
    int rc = fill(&c, run);
    if (rc == 0 && (st = qk_quant_config_save(&c, path)) != QK_OK) rc = FAIL_STATUS(st);
    qk_quant_config_free(&c);
    return rc;
}

/* ---- replay --------------------------------------------------------------- */

/* Method parameter `name` of the applicable set (present: checked by
** qk_quant_config_check_params), as an integer in [lo, hi]. */
static bool param_int(const qk_quant_config *c, const char *file, const char *name, int64_t lo,
                      int64_t hi, int32_t *out) {
    const qk_config_param *p = qk_quant_config_param(c, name);
    if (p->i < lo || p->i > hi) {
        cli_fail("quantize", "%s: method.params.%s: %lld is out of range [%lld, %lld]", file, name,
                 (long long)p->i, (long long)lo, (long long)hi);
        return false;
    }
    *out = (int32_t)p->i;
    return true;
}

static bool param_real(const qk_quant_config *c, const char *file, const char *name, double lo,
                       double hi, double *out) {
    const qk_config_param *p = qk_quant_config_param(c, name);
    const double v = p->kind == QK_CONFIG_INT ? (double)p->i : p->r;
    if (!(v >= lo && v <= hi)) {
        cli_fail("quantize", "%s: method.params.%s: %g is out of range [%g, %g]", file, name, v, lo,
                 hi);
        return false;
    }
    *out = v;
    return true;
}

static bool param_bool(const qk_quant_config *c, const char *name) {
    return qk_quant_config_param(c, name)->b;
}

/* "gguf" / "affine", "imatrix" / "hessian" / "plain", "f16" / "f32". */
static bool param_choice(const qk_quant_config *c, const char *file, const char *name,
                         const char *a, const char *b, const char *d, const char **out) {
    const char *v = qk_quant_config_param(c, name)->s;
    if (strcmp(v, a) == 0 || strcmp(v, b) == 0 || (d && strcmp(v, d) == 0)) {
        *out = v;
        return true;
    }
    if (d)
        cli_fail("quantize", "%s: method.params.%s: '%s': expected %s, %s or %s", file, name, v, a,
                 b, d);
    else
        cli_fail("quantize", "%s: method.params.%s: '%s': expected %s or %s", file, name, v, a, b);
    return false;
}

/* r->ptq from a config of the calibrated pipeline. Returns 0 or the exit code. */
static int replay_ptq(const char *file, const char *calib_path, quantize_replay *r) {
    const qk_quant_config *c = &r->cfg;
    quantize_ptq_plan *p = &r->ptq;
    memset(p, 0, sizeof *p);
    qk_ptq_options_init(&p->ptq);
    if (qk_ptq_method_parse(c->method, &p->ptq.method) != QK_OK) {
        qk_clear_error();
        return cli_fail("quantize",
                        "%s: method.name: '%s' cannot be replayed (rtn, gptq, awq, "
                        "awq+gptq)",
                        file, c->method);
    }
    const qk_config_param *target = qk_quant_config_param(c, "target");
    if (!target || target->kind != QK_CONFIG_STRING)
        return cli_fail("quantize", "%s: method.params.target: %s", file,
                        target ? "expected a string" : "missing");
    const char *t;
    if (!param_choice(c, file, "target", "gguf", "affine", NULL, &t)) return 1;
    p->affine = strcmp(t, "affine") == 0;
    p->format = c->format;
    if (!p->affine && strcmp(c->format, "gguf") != 0)
        return cli_fail("quantize", "%s: method.params.target: a %s checkpoint needs \"affine\"",
                        file, c->format);
    /* exactly the parameters this run records, with their kinds */
    const int g = groups_of(p->ptq.method, p->affine, p->format);
    const char *known[N_SPECS];
    qk_config_kind kinds[N_SPECS];
    size_t n = 0;
    for (size_t i = 0; i < N_SPECS; i++)
        if (SPECS[i].when & g) {
            known[n] = SPECS[i].name;
            kinds[n++] = SPECS[i].kind;
        }
    if (qk_quant_config_check_params(c, known, kinds, n) != QK_OK)
        return cli_fail("quantize", "%s: %s", file, qk_last_error());
    for (size_t i = 0; i < n; i++)
        if (!qk_quant_config_param(c, known[i]))
            return cli_fail("quantize", "%s: method.params.%s: missing", file, known[i]);
    qk_gptq_options *o = &p->ptq.gptq;
    qk_awq_options *a = &p->ptq.awq;
    p->ptq.true_sequential = param_bool(c, "true_sequential");
    if (g & P_GRID) {
        const char *scale;
        if (!param_int(c, file, "bits", 2, 8, &o->bits) ||
            !param_int(c, file, "group", 0, INT32_MAX, &o->group_size) ||
            !param_choice(c, file, "scale_type", "f16", "f32", NULL, &scale))
            return 1;
        o->symmetric = param_bool(c, "sym");
        o->mse = param_bool(c, "mse");
        o->refit_scales = param_bool(c, "refit_scales");
        o->scale_type = strcmp(scale, "f16") == 0 ? QK_TYPE_F16 : QK_TYPE_F32;
    }
    if ((g & P_BLOCKS) &&
        !param_choice(c, file, "block_scales", "imatrix", "hessian", "plain", &p->block_scales))
        return 1;
    p->block_scales = p->block_scales ? p->block_scales : "imatrix";
    o->hessian_importance = strcmp(p->block_scales, "hessian") == 0;
    if (g & P_GPTQ) {
        if (!param_real(c, file, "damp", 0.0, 1.0, &o->damp) ||
            !param_real(c, file, "damp_max", 0.0, 1e6, &o->damp_max) ||
            !param_int(c, file, "block_size", 1, INT32_MAX, &o->block_size))
            return 1;
        o->act_order = param_bool(c, "act_order");
        o->static_groups = param_bool(c, "static_groups");
        p->ptq.fp_target = param_bool(c, "fp_target");
    }
    if (g & P_AWQ) {
        double shrink;
        if (!param_int(c, file, "awq_grid", 1, 1 << 16, &a->n_grid) ||
            !param_real(c, file, "awq_clip_max_shrink", 0.0, 1.0, &shrink) ||
            !param_int(c, file, "awq_clip_grid", 1, 1 << 16, &a->clip_n_grid) ||
            !param_int(c, file, "awq_clip_tokens", 1, INT32_MAX, &a->clip_n_tokens) ||
            !param_int(c, file, "awq_search_seqs", 0, INT32_MAX, &a->search_n_seq))
            return 1;
        a->clip_max_shrink = (float)shrink;
        a->duo_scaling = param_bool(c, "awq_duo_scaling");
        a->scale_vo_gqa = param_bool(c, "awq_scale_vo_gqa");
        a->keep_identity = param_bool(c, "awq_keep_identity");
        a->clip = param_bool(c, "awq_clip");
    }
    if (c->importance == QK_CONFIG_IMPORTANCE_CALIBRATION)
        return cli_fail("quantize",
                        "%s: importance.source: \"calibration\" is for "
                        "round-to-nearest runs (method %s)",
                        file, c->method);
    if (quantize_ptq_calibrated(p)) {
        if (!c->has_calibration)
            return cli_fail("quantize", "%s: calibration: missing (method %s needs it)", file,
                            c->method);
        if (c->calib_samples < 1)
            return cli_fail("quantize", "%s: calibration.samples: must be at least 1", file);
        p->calib_path = calib_path ? calib_path : c->calib_text;
        p->samples = c->calib_samples;
        p->sample_len = c->calib_len;
        p->seed = c->calib_seed;
    }
    r->has_ptq = true;
    return 0;
}

int quantize_config_replay(const char *cfg_path, const char *in_path, const char *calib_path,
                           bool quiet, qk_quantize_options *opt, quantize_replay *r) {
    memset(r, 0, sizeof *r);
    qk_status st = qk_quant_config_load(cfg_path, &r->cfg);
    if (st != QK_OK) return FAIL_STATUS(st);
    qk_quant_config *c = &r->cfg;
    const bool pipeline =
        strcmp(c->method, "rtn") != 0 || c->n_params > 0 || strcmp(c->format, "gguf") != 0;
    int rc;
    if (pipeline && (rc = replay_ptq(cfg_path, calib_path, r)) != 0) return rc;
    if (!pipeline && (st = qk_quant_config_check_params(c, NULL, NULL, 0)) != QK_OK)
        return cli_fail("quantize", "%s: %s", cfg_path, qk_last_error());
    if (calib_path && !c->has_calibration)
        return cli_fail("quantize", "--calib %s: %s records no calibration text", calib_path,
                        cfg_path);
    qk_config_check check;
    st = qk_quant_config_check_model(c, in_path, NULL, calib_path, false, &check);
    if (st != QK_OK) return cli_fail("quantize", "%s: %s", cfg_path, qk_last_error());
    if (check.version_differs && !quiet)
        fprintf(stderr, "quantkit quantize: warning: %s was written by quantkit %s (this is %s)\n",
                cfg_path, c->quantkit_version ? c->quantkit_version : "?", qk_version());
    if ((st = qk_type_request_parse(c->type, &r->req)) != QK_OK) return FAIL_STATUS(st);
    if (c->pure) r->req.pure = true;
    qk_quantize_options_init(opt, &r->req);
    opt->mix.quantize_output = c->quantize_output;
    opt->mix.token_embd_type = c->token_embd_type;
    opt->mix.output_type = c->output_type;
    r->overrides = calloc(c->n_overrides + 1, sizeof *r->overrides);
    r->types = calloc(c->n_tensors + 1, sizeof *r->types);
    if (!r->overrides || !r->types) return NO_MEMORY();
    for (size_t i = 0; i < c->n_overrides; i++) {
        r->overrides[i].pattern = c->overrides[i].pattern;
        r->overrides[i].type = c->overrides[i].type;
    }
    opt->mix.overrides = r->overrides;
    opt->mix.n_overrides = c->n_overrides;
    opt->name = c->name;
    opt->tokenizer_path = c->tokenizer;
    opt->allow_requantize = c->allow_requantize;
    opt->allow_nonfinite = c->allow_nonfinite;
    if (strcmp(c->format, "gguf") == 0) { /* a checkpoint's tensors are a record only */
        for (size_t i = 0; i < c->n_tensors; i++) {
            r->types[i].name = c->tensors[i].name;
            r->types[i].type = c->tensors[i].type;
        }
        opt->tensor_types = r->types;
        opt->n_tensor_types = c->n_tensors;
    }
    if (c->has_allocation && c->budget_bytes) opt->max_output_bytes = c->budget_bytes;
    if (c->importance == QK_CONFIG_IMPORTANCE_FILE) {
        if ((st = qk_calib_stats_load(c->importance_path, &r->imatrix)) != QK_OK)
            return FAIL_STATUS(st);
        opt->importance = r->imatrix;
    } else if (c->importance == QK_CONFIG_IMPORTANCE_CALIBRATION) {
        const char *text = calib_path ? calib_path : c->calib_text;
        int rc2 = quantize_calibrate(in_path, c->tokenizer, text, c->calib_samples, c->calib_len,
                                     c->calib_seed, quiet, &r->calib);
        if (rc2 != 0) return rc2;
        opt->importance = r->calib.stats;
    }
    return 0;
}

void quantize_config_print_replay(const char *cfg_path, const quantize_replay *r,
                                  const char *output) {
    char hex[65];
    if (!r->cfg.has_output || qk_path_sha256(output, hex, NULL) != QK_OK) return;
    printf("replayed %s: output %s the recorded one (sha256 %s)\n", cfg_path,
           strcmp(hex, r->cfg.output_sha256) == 0 ? "identical to" : "DIFFERS from", hex);
}

void quantize_replay_free(quantize_replay *r) {
    if (!r) return;
    qk_quant_config_free(&r->cfg);
    free(r->overrides);
    free(r->types);
    qk_calib_stats_free(r->imatrix);
    quantize_calib_free(&r->calib);
    memset(r, 0, sizeof *r);
}
