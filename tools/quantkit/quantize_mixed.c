/*
** quantkit quantize --budget / --max-kl: calibration statistics, the
** sensitivity of every tensor in every candidate format, the allocation.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quantize_mixed.h"

#define FAIL_STATUS(st) cli_fail_status("quantize", (st))

bool quantize_parse_budget(const char *text, uint64_t n_weights, uint64_t *out) {
    const size_t n = strlen(text);
    if (n > 3 && strcmp(text + n - 3, "bpw") == 0) {
        char *end;
        const double bpw = strtod(text, &end);
        if (end != text + n - 3 || !(bpw > 0) || !(bpw < 64)) return false;
        *out = (uint64_t)floor(bpw * (double)n_weights / 8.0);
        return *out > 0;
    }
    return cli_parse_size(text, out) && *out > 0;
}

/* "q2_k,q3_k,..." into types. */
static int parse_formats(const char *text, qk_sens_options *so) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    so->n_formats = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (so->n_formats == QK_SENS_MAX_FORMATS)
            return cli_fail("quantize", "--mixed-formats: at most %d formats", QK_SENS_MAX_FORMATS);
        if (qk_type_from_name(tok, &so->formats[so->n_formats]) != QK_OK)
            return cli_fail("quantize", "--mixed-formats: unknown format '%s'", tok);
        so->n_formats++;
    }
    if (so->n_formats == 0) return cli_fail("quantize", "--mixed-formats: no format given");
    return 0;
}

void quantize_calib_free(quantize_calib *c) {
    if (!c) return;
    qk_calib_stats_free(c->stats);
    free(c->windows);
    free(c->counts);
    memset(c, 0, sizeof *c);
}

int quantize_calibrate(const char *in_path, const char *tokenizer_path, const char *calib_path,
                       int64_t samples, int64_t len, uint64_t seed, bool quiet, quantize_calib *c) {
    memset(c, 0, sizeof *c);
    qk_llama_model *model = NULL;
    qk_tokenizer *tok = NULL;
    char *text = NULL;
    size_t text_len = 0, n_ids = 0;
    int32_t *ids = NULL;
    int rc = 1;
    qk_status st;
    if ((st = qk_llama_model_load(in_path, &model)) != QK_OK ||
        (st = qk_tokenizer_load_for_model(in_path, tokenizer_path, NULL, &tok)) != QK_OK) {
        rc = FAIL_STATUS(st);
        goto done;
    }
    if (!cli_read_file(calib_path, &text, &text_len)) {
        rc = cli_fail("quantize", "cannot read calibration file %s", calib_path);
        goto done;
    }
    qk_sha256_hex(text, text_len, c->sha256);
    if ((st = qk_tokenizer_encode_alloc(tok, text, text_len, false, false, &ids, &n_ids)) !=
        QK_OK) {
        rc = FAIL_STATUS(st);
        goto done;
    }
    const qk_llama_hparams *hp = qk_llama_model_hparams(model);
    if (len <= 0) len = hp->n_ctx_train > 0 && hp->n_ctx_train < 512 ? hp->n_ctx_train : 512;
    c->sample_len = (int32_t)len;
    qk_calib_sampling cs = {.n_samples = (int32_t)samples,
                            .sample_len = c->sample_len,
                            .seed = seed,
                            .bos = qk_tokenizer_add_bos(tok) ? qk_tokenizer_bos_id(tok) : -1};
    if ((st = qk_calib_sample(ids, (int64_t)n_ids, &cs, NULL, &c->n_windows)) != QK_OK) {
        rc = FAIL_STATUS(st);
        goto done;
    }
    const size_t n_tok = (size_t)c->n_windows * (size_t)c->sample_len;
    c->windows = malloc(n_tok * sizeof *c->windows);
    c->n_vocab = hp->n_vocab;
    c->counts = calloc((size_t)hp->n_vocab, sizeof *c->counts);
    if (!c->windows || !c->counts) {
        rc = cli_fail("quantize", "no memory for %d calibration windows", c->n_windows);
        goto done;
    }
    /* X^T X for the output proxy; the mean x^2 (the importance) does not
    ** depend on it */
    if ((st = qk_calib_sample(ids, (int64_t)n_ids, &cs, c->windows, &c->n_windows)) != QK_OK ||
        (st = qk_calib_stats_create(hp, true, &c->stats)) != QK_OK) {
        rc = FAIL_STATUS(st);
        goto done;
    }
    for (size_t i = 0; i < n_tok; i++)
        if (c->windows[i] >= 0 && c->windows[i] < hp->n_vocab) c->counts[c->windows[i]]++;
    cli_progress bar;
    cli_progress_begin(&bar, "calibrate", (uint64_t)c->n_windows, quiet);
    st = qk_calib_collect(model, c->windows, c->n_windows, c->sample_len, c->stats, NULL, NULL);
    cli_progress_end(&bar);
    rc = st == QK_OK ? 0 : FAIL_STATUS(st);
done:
    free(ids);
    free(text);
    qk_tokenizer_free(tok);
    qk_llama_model_free(model);
    if (rc != 0) quantize_calib_free(c);
    return rc;
}

static void on_sens(void *user, size_t done, size_t total, const char *name) {
    cli_progress *bar = user;
    (void)name;
    bar->total = total;
    cli_progress_update(bar, done);
}

int quantize_mixed_prepare(const quantize_mixed_args *a, qk_quantize_options *opt,
                           quantize_mixed_state *s) {
    memset(s, 0, sizeof *s);
    qk_sens_options so;
    qk_sens_options_init(&so);
    int rc;
    qk_status st;
    if (a->formats && (rc = parse_formats(a->formats, &so)) != 0) return rc;
    if (a->proxy && (st = qk_sens_proxy_parse(a->proxy, &so.proxy)) != QK_OK)
        return FAIL_STATUS(st);
    so.kl_mode = a->calib_path ? QK_SENS_KL_CALIBRATE : QK_SENS_KL_NONE;
    if (a->kl_mode && (st = qk_sens_kl_mode_parse(a->kl_mode, &so.kl_mode)) != QK_OK)
        return FAIL_STATUS(st);
    if (so.kl_mode != QK_SENS_KL_NONE && !a->calib_path)
        return cli_fail("quantize", "--sens-kl %s needs --calib FILE",
                        qk_sens_kl_mode_name(so.kl_mode));
    if (!a->budget && !isnan(a->max_kl) && so.kl_mode == QK_SENS_KL_NONE)
        return cli_fail("quantize", "--max-kl needs measured KL: give --calib FILE");
    if (a->samples <= 0 || a->samples > 1 << 20 || a->len < 0 || a->len > 1 << 20 ||
        a->kl_chunks <= 0 || a->kl_chunks > 1 << 16)
        return cli_fail("quantize", "--calib-samples / --calib-len / --kl-chunks out of range");
    uint64_t check;
    if (a->budget && !quantize_parse_budget(a->budget, (uint64_t)1 << 40, &check))
        return cli_fail("quantize",
                        "--budget '%s': expected bytes (1234, 4.5MB, 3MiB) or bits per weight "
                        "(4.8bpw)",
                        a->budget);
    rc = 0;
    if (a->calib_path) {
        rc = quantize_calibrate(a->in_path, a->tokenizer_path, a->calib_path, a->samples, a->len,
                                (uint64_t)a->seed, a->quiet, &s->calib);
        if (rc == 0) {
            so.stats = s->calib.stats;
            so.token_counts = s->calib.counts;
            so.n_token_counts = s->calib.n_vocab;
            so.kl_tokens = s->calib.windows;
            so.kl_chunks =
                (int32_t)(a->kl_chunks < s->calib.n_windows ? a->kl_chunks : s->calib.n_windows);
            so.kl_chunk_len = s->calib.sample_len;
            opt->importance = s->calib.stats; /* the file is quantized as measured */
        }
    } else {
        so.stats = opt->importance;
    }
    so.quantize = opt;
    cli_progress bar;
    if (rc == 0) {
        cli_progress_begin(&bar, "sensitivity", 1, a->quiet);
        so.progress = on_sens;
        so.progress_user = &bar;
        st = qk_sensitivity_compute(a->in_path, &so, &s->sens);
        cli_progress_end(&bar);
        if (st != QK_OK) rc = FAIL_STATUS(st);
    }
    if (rc != 0) return rc;

    qk_mixed_options mo;
    qk_mixed_options_init(&mo);
    if (a->budget) {
        qk_quantize_report plan;
        if ((st = qk_quantize_plan(a->in_path, opt, &plan)) != QK_OK) return FAIL_STATUS(st);
        const uint64_t n_weights = plan.n_weights;
        qk_quantize_report_free(&plan);
        if (!quantize_parse_budget(a->budget, n_weights, &s->budget_bytes))
            return cli_fail("quantize",
                            "--budget '%s': expected bytes (1234, 4.5MB, 3MiB) or bits per "
                            "weight (4.8bpw)",
                            a->budget);
        mo.budget_bytes = s->budget_bytes;
    } else {
        mo.max_loss = a->max_kl;
    }
    if ((st = qk_mixed_allocate(a->in_path, a->output, opt, &s->sens, &mo, &s->result)) != QK_OK)
        return FAIL_STATUS(st);
    s->types = malloc((s->result.n_tensors + 1) * sizeof *s->types);
    if (!s->types) return cli_fail("quantize", "no memory for the allocation");
    s->n_types = qk_mixed_tensor_types(&s->result, s->types, s->result.n_tensors);
    opt->tensor_types = s->types;
    opt->n_tensor_types = s->n_types;
    opt->max_output_bytes = s->budget_bytes;
    return 0;
}

void quantize_mixed_print(const quantize_mixed_state *s) {
    const qk_mixed_result *r = &s->result;
    printf("mixed-precision allocation (%s%s, %zu candidate formats):\n",
           qk_sens_proxy_name(s->sens.proxy),
           s->sens.kl_mode == QK_SENS_KL_NONE  ? ""
           : s->sens.kl_mode == QK_SENS_KL_ALL ? " + KL measured per format"
                                               : " scaled by measured KL",
           s->sens.n_formats);
    printf("  %-28s %-6s %10s %12s\n", "tensor", "type", "bytes", "predicted");
    for (size_t i = 0; i < r->n_tensors; i++) {
        const qk_mixed_tensor *t = &r->tensors[i];
        if (!t->allocated) continue;
        printf("  %-28s %-6s %10llu %12.4g\n", t->name, qk_type_name(t->type),
               (unsigned long long)t->bytes, t->predicted);
    }
    char a[32], b[32];
    if (s->budget_bytes)
        printf("  file %llu bytes (%s) of a budget of %llu (%s), %.4f bits per weight, predicted "
               "loss %.6g%s\n",
               (unsigned long long)r->file_bytes, cli_format_bytes(r->file_bytes, a, sizeof a),
               (unsigned long long)s->budget_bytes, cli_format_bytes(s->budget_bytes, b, sizeof b),
               r->bits_per_weight, r->predicted_loss, r->alloc.exact ? " (exact optimum)" : "");
    else
        printf("  file %llu bytes (%s), %.4f bits per weight, predicted loss %.6g%s\n",
               (unsigned long long)r->file_bytes, cli_format_bytes(r->file_bytes, a, sizeof a),
               r->bits_per_weight, r->predicted_loss, r->alloc.exact ? " (exact optimum)" : "");
}

void *quantize_mixed_json(const quantize_mixed_state *s) {
    const qk_mixed_result *r = &s->result;
    json_t *o = json_object();
    if (s->budget_bytes)
        json_object_set_new(o, "budget_bytes", json_integer((json_int_t)s->budget_bytes));
    json_object_set_new(o, "file_bytes", json_integer((json_int_t)r->file_bytes));
    json_object_set_new(o, "bits_per_weight", json_real(r->bits_per_weight));
    json_object_set_new(o, "predicted_loss", json_real(r->predicted_loss));
    json_object_set_new(o, "exact", json_boolean(r->alloc.exact));
    json_object_set_new(o, "proxy", json_string(qk_sens_proxy_name(s->sens.proxy)));
    json_object_set_new(o, "kl", json_string(qk_sens_kl_mode_name(s->sens.kl_mode)));
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n_tensors; i++) {
        const qk_mixed_tensor *t = &r->tensors[i];
        if (!t->allocated) continue;
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(t->name));
        json_object_set_new(e, "type", json_string(qk_type_name(t->type)));
        json_object_set_new(e, "bytes", json_integer((json_int_t)t->bytes));
        json_object_set_new(e, "predicted", json_real(t->predicted));
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, "tensors", arr);
    return o;
}

void quantize_mixed_free(quantize_mixed_state *s) {
    if (!s) return;
    quantize_calib_free(&s->calib);
    qk_sensitivity_free(&s->sens);
    qk_mixed_result_free(&s->result);
    free(s->types);
    memset(s, 0, sizeof *s);
}
