/*
** quantkit quantize --save-config / --config: the run's decisions as a
** JSON config, and a replay that uses them as they are (every tensor's
** type explicit, the importance statistics recomputed from the recorded
** calibration windows or read from the recorded statistics file).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantize_config.h"

#define FAIL_STATUS(st) cli_fail_status("quantize", (st))

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
    } else if (r->imatrix_path) {
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
    if ((st = qk_quant_config_set_tensors(c, r->rep)) != QK_OK ||
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

int quantize_config_replay(const char *cfg_path, const char *in_path, bool quiet,
                           qk_quantize_options *opt, quantize_replay *r) {
    memset(r, 0, sizeof *r);
    qk_status st = qk_quant_config_load(cfg_path, &r->cfg);
    if (st != QK_OK) return FAIL_STATUS(st);
    qk_quant_config *c = &r->cfg;
    if (strcmp(c->method, "rtn") != 0)
        return cli_fail("quantize", "%s: method.name: '%s' cannot be replayed (rtn)", cfg_path,
                        c->method);
    if ((st = qk_quant_config_check_params(c, NULL, NULL, 0)) != QK_OK)
        return cli_fail("quantize", "%s: %s", cfg_path, qk_last_error());
    qk_config_check check;
    st = qk_quant_config_check_model(c, in_path, NULL, NULL, false, &check);
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
    if (!r->overrides || !r->types) return cli_fail("quantize", "no memory for the config");
    for (size_t i = 0; i < c->n_overrides; i++) {
        r->overrides[i].pattern = c->overrides[i].pattern;
        r->overrides[i].type = c->overrides[i].type;
    }
    opt->mix.overrides = r->overrides;
    opt->mix.n_overrides = c->n_overrides;
    opt->name = c->name;
    opt->tokenizer_path = c->tokenizer;
    opt->allow_requantize = c->allow_requantize;
    for (size_t i = 0; i < c->n_tensors; i++) {
        r->types[i].name = c->tensors[i].name;
        r->types[i].type = c->tensors[i].type;
    }
    opt->tensor_types = r->types;
    opt->n_tensor_types = c->n_tensors;
    if (c->has_allocation && c->budget_bytes) opt->max_output_bytes = c->budget_bytes;
    if (c->importance == QK_CONFIG_IMPORTANCE_FILE) {
        if ((st = qk_calib_stats_load(c->importance_path, &r->imatrix)) != QK_OK)
            return FAIL_STATUS(st);
        opt->importance = r->imatrix;
    } else if (c->importance == QK_CONFIG_IMPORTANCE_CALIBRATION) {
        int rc = quantize_calibrate(in_path, c->tokenizer, c->calib_text, c->calib_samples,
                                    c->calib_len, c->calib_seed, quiet, &r->calib);
        if (rc != 0) return rc;
        opt->importance = r->calib.stats;
    }
    return 0;
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
