/*
** quantkit quantize MODEL -o OUT --type T [--method M --calib FILE ...]
** Round-to-nearest quantization to llama.cpp's GGUF types and mixes (see
** docs/QUANTIZE.md for which tensor gets which type), or calibrated
** post-training quantization (GPTQ, AWQ; docs/CALIBRATED.md) onto those
** block types or onto affine grids (--bits, --group ...).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"
#include "quantize_checkpoint.h"
#include "quantize_config.h"
#include "quantize_mixed.h"

typedef struct quantize_progress {
    cli_progress bar;
} quantize_progress;

static void on_tensor(void *user, size_t done, size_t total, const char *name, qk_type type) {
    quantize_progress *p = user;
    (void)name, (void)type;
    p->bar.total = total;
    cli_progress_update(&p->bar, done);
}

/* "REGEX=TYPE" -> override; the regex is the part before the last '='. */
static bool parse_override(const char *text, char **pattern, qk_type *type) {
    const char *eq = strrchr(text, '=');
    if (!eq || eq == text) return false;
    if (qk_type_from_name(eq + 1, type) != QK_OK) return false;
    *pattern = strndup(text, (size_t)(eq - text));
    return *pattern != NULL;
}

static void print_plan(const qk_quantize_report *rep) {
    printf("%-32s %-16s %-7s -> %-7s %-12s %10s\n", "tensor", "shape", "from", "to", "why",
           "bytes");
    for (size_t i = 0; i < rep->n_tensors; i++) {
        const qk_quantize_tensor_info *t = &rep->tensors[i];
        char shape[48];
        if (t->ndim == 1)
            snprintf(shape, sizeof shape, "[%lld]", (long long)t->shape[0]);
        else
            snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)t->shape[0],
                     (long long)t->shape[1]);
        printf("%-32s %-16s %-7s -> %-7s %-12s %10llu\n", t->name, shape, qk_type_name(t->from),
               qk_type_name(t->to), qk_mix_reason_name(t->reason), (unsigned long long)t->bytes);
    }
}

static json_t *report_json(const char *in, const char *out, const char *type,
                           const qk_quantize_report *rep) {
    json_t *o = json_object();
    json_object_set_new(o, "input", json_string(in));
    if (out) json_object_set_new(o, "output", json_string(out));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "input_bytes", json_integer((json_int_t)rep->input_bytes));
    json_object_set_new(o, "bytes", json_integer((json_int_t)rep->output_bytes));
    json_object_set_new(o, "tensor_bytes", json_integer((json_int_t)rep->tensor_bytes));
    json_object_set_new(o, "weights", json_integer((json_int_t)rep->n_weights));
    json_object_set_new(o, "bits_per_weight", json_real(rep->bits_per_weight));
    json_object_set_new(o, "seconds", json_real(rep->seconds));
    json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)rep->peak_rss_bytes));
    json_object_set_new(o, "threads", json_integer(qk_threads_get()));
    json_object_set_new(o, "nonfinite", json_integer((json_int_t)rep->n_nonfinite));
    json_t *arr = json_array();
    for (size_t i = 0; i < rep->n_tensors; i++) {
        const qk_quantize_tensor_info *t = &rep->tensors[i];
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(t->name));
        json_object_set_new(e, "from", json_string(qk_type_name(t->from)));
        json_object_set_new(e, "to", json_string(qk_type_name(t->to)));
        json_object_set_new(e, "reason", json_string(qk_mix_reason_name(t->reason)));
        json_object_set_new(e, "bytes", json_integer((json_int_t)t->bytes));
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, "tensors", arr);
    return o;
}

/* ---- calibrated quantization (--method, --bits) -------------------------- */

typedef struct calib_args {
    const char *method, *calib_path, *format;
    int64_t samples, len, seed, bits, group, block, awq_seqs;
    bool sym, asym, act_order, static_groups, mse, refit, fp_target, measure, no_true_sequential;
    double damp;
    const char *block_scales;
} calib_args;

static void on_layer(void *user, int32_t layer, int32_t n_layer, const char *stage) {
    cli_progress *bar = user;
    (void)stage;
    bar->total = (uint64_t)n_layer;
    cli_progress_update(bar, (uint64_t)layer);
}

/* The pipeline's settings from the options (quantize_config.h). */
static int plan_from_args(const calib_args *a, quantize_ptq_plan *p) {
    memset(p, 0, sizeof *p);
    qk_ptq_options_init(&p->ptq);
    qk_status st;
    if ((st = qk_ptq_method_parse(a->method, &p->ptq.method)) != QK_OK)
        return cli_fail_status("quantize", st);
    p->format = a->format;
    p->affine = a->bits > 0 || strcmp(a->format, "gguf") != 0;
    p->block_scales = a->block_scales;
    qk_gptq_options *g = &p->ptq.gptq;
    g->bits = a->bits > 0 ? (int32_t)a->bits : 4;
    g->group_size = (int32_t)a->group;
    g->symmetric = a->sym;
    g->act_order = a->act_order;
    g->static_groups = a->static_groups;
    g->mse = a->mse;
    g->refit_scales = a->refit;
    g->damp = a->damp;
    g->block_size = (int32_t)a->block;
    g->hessian_importance = strcmp(a->block_scales, "hessian") == 0;
    /* act-order onto block formats keeps block scales from the original weights */
    if (!p->affine && g->act_order) g->static_groups = true;
    p->ptq.true_sequential = !a->no_true_sequential;
    p->ptq.fp_target = a->fp_target;
    p->ptq.awq.search_n_seq = (int32_t)a->awq_seqs;
    p->calib_path = a->calib_path;
    p->samples = (int32_t)a->samples;
    p->sample_len = (int32_t)a->len;
    p->seed = (uint64_t)a->seed;
    return 0;
}

/* Tokenize the calibration text and draw the windows. */
static int calib_windows(const char *in_path, const char *tokenizer_path,
                         const quantize_ptq_plan *a, int32_t sample_len, int32_t **windows,
                         int32_t *n_windows) {
    qk_tokenizer *tok = NULL;
    char *text = NULL;
    size_t text_len = 0, n_ids = 0;
    int32_t *ids = NULL;
    int rc = 1;
    qk_status st;
    if ((st = qk_tokenizer_load_for_model(in_path, tokenizer_path, NULL, &tok)) != QK_OK) {
        rc = cli_fail_status("quantize", st);
        goto done;
    }
    if (!cli_read_file(a->calib_path, &text, &text_len)) {
        rc = cli_fail("quantize", "cannot read calibration file %s", a->calib_path);
        goto done;
    }
    if ((st = qk_tokenizer_encode_alloc(tok, text, text_len, false, false, &ids, &n_ids)) !=
        QK_OK) {
        rc = cli_fail_status("quantize", st);
        goto done;
    }
    qk_calib_sampling s = {.n_samples = (int32_t)a->samples,
                           .sample_len = sample_len,
                           .seed = (uint64_t)a->seed,
                           .bos = qk_tokenizer_add_bos(tok) ? qk_tokenizer_bos_id(tok) : -1};
    if ((st = qk_calib_sample(ids, (int64_t)n_ids, &s, NULL, n_windows)) != QK_OK) {
        rc = cli_fail_status("quantize", st);
        goto done;
    }
    *windows = malloc((size_t)*n_windows * (size_t)sample_len * sizeof **windows);
    if (!*windows) {
        rc = cli_fail("quantize", "no memory for %d calibration windows", *n_windows);
        goto done;
    }
    if ((st = qk_calib_sample(ids, (int64_t)n_ids, &s, *windows, n_windows)) != QK_OK) {
        rc = cli_fail_status("quantize", st);
        goto done;
    }
    rc = 0;
done:
    free(ids);
    free(text);
    qk_tokenizer_free(tok);
    return rc;
}

static void print_ptq(const qk_ptq_result *r, const calib_args *a, bool measure) {
    char c[32];
    printf("  method %s", qk_ptq_method_name(r->method));
    if (r->n_samples)
        printf(", calibration %s: %d windows of %d tokens (seed %lld)", a->calib_path, r->n_samples,
               r->sample_len, (long long)a->seed);
    printf("\n  calibrated pipeline %.2f s (forward passes %.2f s, AWQ %.2f s, quantization %.2f "
           "s), peak memory %s\n",
           r->seconds, r->hessian_seconds, r->awq_seconds, r->gptq_seconds,
           cli_format_bytes(r->peak_rss_bytes, c, sizeof c));
    if (!measure) return;
    printf("  %-28s %8s %12s %12s %8s\n", "tensor", "type", "H-err", "H-err RTN", "ratio");
    for (size_t i = 0; i < r->n_linears; i++) {
        const qk_ptq_linear *l = &r->linears[i];
        printf("  %-28s %8s %12.6f %12.6f %8.3f\n", l->name,
               l->type == QK_TYPE_COUNT ? "affine" : qk_type_name(l->type), l->err_h, l->err_h_rtn,
               l->err_h_rtn > 0 ? l->err_h / l->err_h_rtn : 0.0);
    }
}

static json_t *ptq_json(const qk_ptq_result *r, const calib_args *a) {
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(qk_ptq_method_name(r->method)));
    if (r->n_samples) {
        json_object_set_new(o, "calib", json_string(a->calib_path));
        json_object_set_new(o, "samples", json_integer(r->n_samples));
        json_object_set_new(o, "len", json_integer(r->sample_len));
        json_object_set_new(o, "seed", json_integer(a->seed));
    }
    json_object_set_new(o, "seconds", json_real(r->seconds));
    json_object_set_new(o, "forward_seconds", json_real(r->hessian_seconds));
    json_object_set_new(o, "quantize_seconds", json_real(r->gptq_seconds));
    json_object_set_new(o, "awq_seconds", json_real(r->awq_seconds));
    json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)r->peak_rss_bytes));
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n_linears; i++) {
        const qk_ptq_linear *l = &r->linears[i];
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(l->name));
        json_object_set_new(e, "gptq", json_boolean(l->gptq));
        if (l->gptq) {
            json_object_set_new(e, "damp", json_real(l->report.damp));
            json_object_set_new(e, "dead_cols", json_integer(l->report.dead_cols));
            json_object_set_new(e, "loss", json_real(l->report.loss));
        }
        if (a->measure) {
            json_object_set_new(e, "err_h", json_real(l->err_h));
            json_object_set_new(e, "err_h_rtn", json_real(l->err_h_rtn));
        }
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, "linears", arr);
    return o;
}

/* What the calibrated path records (--save-config) or replays (--config). */
typedef struct calib_record {
    const char *save_config;  /* or NULL */
    const char *imatrix_path; /* --imatrix, or NULL */
    const char *replayed;     /* --config, or NULL */
    const quantize_replay *replay;
} calib_record;

/* Write the config of a finished calibrated run, or say how the replay went. */
static int calib_record_done(const calib_record *w, const char *in_path, const char *output,
                             const qk_type_request *req, const qk_quantize_options *qopt,
                             const quantize_ptq_plan *plan, const qk_ptq_result *res,
                             const qk_quantize_report *rep, bool quiet) {
    if (w->replayed && !quiet) quantize_config_print_replay(w->replayed, w->replay, output);
    if (!w->save_config) return 0;
    const quantize_run run = {.in_path = in_path,
                              .output = output,
                              .req = req,
                              .opt = qopt,
                              .imatrix_path = w->imatrix_path,
                              .rep = rep,
                              .ptq = plan,
                              .ptq_result = res};
    return quantize_config_save(w->save_config, &run);
}

/* The calibrated path: pipeline, then the output format. */
static int quantize_calibrated(const char *in_path, const char *output, const char *tokenizer_path,
                               qk_quantize_options *qopt, const qk_type_request *req,
                               const quantize_ptq_plan *plan, const calib_args *a,
                               const calib_record *w, const cli_common *common) {
    qk_ptq_options popt = plan->ptq;
    qk_status st;
    const bool ckpt = strcmp(plan->format, "gguf") != 0;
    const bool affine = plan->affine;
    qk_checkpoint_options copt;
    if (ckpt) {
        qk_checkpoint_format cf;
        if ((st = qk_checkpoint_format_from_name(plan->format, &cf)) != QK_OK)
            return cli_fail_status("quantize", st);
        if (!output) return cli_fail("quantize", "-o OUT (a folder) is required");
        qk_checkpoint_options_init(&copt, cf);
        copt.config.bits = popt.gptq.bits;
        copt.config.group_size = popt.gptq.group_size > 0 ? popt.gptq.group_size : -1;
        copt.config.symmetric = popt.gptq.symmetric;
        copt.config.desc_act = popt.gptq.act_order;
        copt.config.static_groups = popt.gptq.static_groups;
        copt.config.damp_percent = popt.gptq.damp;
        copt.config.true_sequential = popt.true_sequential;
        copt.tokenizer_path = tokenizer_path;
        if ((st = qk_checkpoint_config_check(&copt.config)) != QK_OK)
            return cli_fail_status("quantize", st);
    }
    popt.gguf = affine ? NULL : qopt;
    popt.measure = a->measure;
    if (qopt->importance && strcmp(plan->block_scales, "plain") == 0) qopt->importance = NULL;
    int32_t *windows = NULL, n_windows = 0, sample_len = 0;
    if (quantize_ptq_calibrated(plan)) {
        if (!plan->calib_path)
            return cli_fail("quantize", "--method %s needs --calib FILE", a->method);
        qk_model_source *src;
        if ((st = qk_model_source_open(in_path, NULL, &src)) != QK_OK)
            return cli_fail_status("quantize", st);
        const int32_t n_ctx = qk_model_source_hparams(src)->n_ctx_train;
        qk_model_source_close(src);
        sample_len = plan->sample_len > 0        ? plan->sample_len
                     : n_ctx > 0 && n_ctx < 2048 ? n_ctx
                                                 : 2048;
        int rc = calib_windows(in_path, tokenizer_path, plan, sample_len, &windows, &n_windows);
        if (rc != 0) return rc;
    }
    qk_ptq_result res;
    cli_progress bar;
    cli_progress_begin(&bar, a->method, 1, common->json);
    popt.progress = on_layer;
    popt.progress_user = &bar;
    st = qk_ptq_run(in_path, windows, n_windows, sample_len, &popt, &res);
    cli_progress_end(&bar);
    free(windows);
    if (st != QK_OK) return cli_fail_status("quantize", st);
    for (size_t i = 0; i < res.n_linears; i++) {
        const qk_ptq_linear *l = &res.linears[i];
        if (l->gptq && l->report.damp_raises > 0)
            fprintf(stderr,
                    "quantkit quantize: warning: %s: Hessian not positive definite with damp %g; "
                    "raised to %g\n",
                    l->name, popt.gptq.damp, l->report.damp);
    }
    if (ckpt) { /* a Hugging Face checkpoint of the affine result */
        const double t0 = qk_time_seconds();
        qk_checkpoint_report crep;
        st = qk_ptq_write_checkpoint(in_path, output, &res, &copt, &crep);
        const double seconds = res.seconds + qk_time_seconds() - t0;
        const size_t peak = qk_peak_rss_bytes();
        if (st == QK_OK && common->json) {
            json_t *o = json_object();
            json_object_set_new(o, "input", json_string(in_path));
            json_object_set_new(o, "output", json_string(output));
            json_object_set_new(o, "format",
                                json_string(qk_checkpoint_format_name(copt.config.format)));
            json_object_set_new(o, "method", json_string(a->method));
            json_object_set_new(o, "bits", json_integer(copt.config.bits));
            json_object_set_new(o, "group_size", json_integer(copt.config.group_size));
            json_object_set_new(o, "symmetric", json_boolean(copt.config.symmetric));
            json_object_set_new(o, "bytes", json_integer((json_int_t)crep.folder_bytes));
            json_object_set_new(o, "linear_weights", json_integer((json_int_t)crep.linear_weights));
            json_object_set_new(o, "bits_per_weight", json_real(crep.bits_per_weight));
            json_object_set_new(o, "seconds", json_real(seconds));
            json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)peak));
            json_object_set_new(o, "threads", json_integer(qk_threads_get()));
            json_object_set_new(o, "ptq", ptq_json(&res, a));
            cli_json_print(o);
        } else if (st == QK_OK) {
            char b[32];
            printf("quantized %s -> %s (%s, %s, %d-bit, group %d%s%s)\n", in_path, output,
                   qk_checkpoint_format_name(copt.config.format), a->method, copt.config.bits,
                   copt.config.group_size, copt.config.symmetric ? ", symmetric" : "",
                   a->act_order ? ", act-order" : "");
            printf("  %s in the folder; linears %.4f bits per weight over %llu weights\n",
                   cli_format_bytes(crep.folder_bytes, b, sizeof b), crep.bits_per_weight,
                   (unsigned long long)crep.linear_weights);
            print_ptq(&res, a, a->measure);
            printf("  %.2f s in all, %d threads, peak memory %s\n", seconds, qk_threads_get(),
                   cli_format_bytes(peak, b, sizeof b));
        }
        int rc = st == QK_OK ? calib_record_done(w, in_path, output, req, qopt, plan, &res, NULL,
                                                 common->json)
                             : cli_fail_status("quantize", st);
        qk_ptq_result_free(&res);
        return rc;
    }
    qk_quantize_report rep;
    st = qk_ptq_write_gguf(in_path, output, &res, qopt, &rep);
    if (st != QK_OK) {
        qk_ptq_result_free(&res);
        return cli_fail_status("quantize", st);
    }
    if (common->json) {
        json_t *o = report_json(in_path, output, req->name, &rep);
        json_object_set_new(o, "ptq", ptq_json(&res, a));
        json_object_set_new(o, "seconds", json_real(res.seconds + rep.seconds));
        json_object_set_new(o, "peak_rss_bytes",
                            json_integer((json_int_t)(rep.peak_rss_bytes > res.peak_rss_bytes
                                                          ? rep.peak_rss_bytes
                                                          : res.peak_rss_bytes)));
        if (affine) {
            json_object_set_new(o, "bits", json_integer(a->bits));
            json_object_set_new(o, "group", json_integer(a->group));
            json_object_set_new(o, "sym", json_boolean(a->sym));
        }
        cli_json_print(o);
    } else {
        char b[32], c[32];
        if (affine)
            printf("quantized %s -> %s (affine %lld bits, %s, %s%s, dequantized to %s)\n", in_path,
                   output, (long long)a->bits, a->group > 0 ? "groups" : "per channel",
                   a->sym ? "symmetric" : "asymmetric", a->act_order ? ", act-order" : "",
                   req->name);
        else
            printf("quantized %s -> %s (%s%s)\n", in_path, output, req->name,
                   req->pure ? ", pure" : "");
        printf("  %s -> %s, %.4f bits per weight over %llu weights\n",
               cli_format_bytes(rep.input_bytes, b, sizeof b),
               cli_format_bytes(rep.output_bytes, c, sizeof c), rep.bits_per_weight,
               (unsigned long long)rep.n_weights);
        print_ptq(&res, a, a->measure);
        printf("  %.2f s in all, %d threads, peak memory %s\n", res.seconds + rep.seconds,
               qk_threads_get(),
               cli_format_bytes(rep.peak_rss_bytes > res.peak_rss_bytes ? rep.peak_rss_bytes
                                                                        : res.peak_rss_bytes,
                                b, sizeof b));
    }
    const int rc = calib_record_done(w, in_path, output, req, qopt, plan, &res, &rep, common->json);
    qk_quantize_report_free(&rep);
    qk_ptq_result_free(&res);
    return rc;
}

int cmd_quantize(int argc, char **argv) {
    const char *output = NULL, *type_name = NULL, *imatrix_path = NULL;
    const char *tokenizer_path = NULL, *name = NULL, *embd_type = NULL, *out_type = NULL;
    bool pure = false, allow_requantize = false, dry_run = false, verbose = false;
    bool allow_nonfinite = false;
    cli_string_list overrides = {0};
    quantize_mixed_args mx = {.max_kl = NAN, .kl_chunks = 4};
    const char *save_config = NULL, *config = NULL;
    calib_args ca = {.method = "rtn",
                     .format = "gguf",
                     .samples = 128,
                     .group = 128,
                     .block = 128,
                     .damp = 0.01,
                     .block_scales = "imatrix"};
    const cli_option options[] = {
        {"output", CLI_STRING, &output, "output GGUF file, or folder for checkpoint formats (-o)"},
        {"type", CLI_STRING, &type_name,
         "q4_k_m (default), q8_0, q4_0, q6_k ... (docs/QUANTIZE.md)"},
        {"pure", CLI_FLAG, &pure, "every quantizable tensor in the base type (no mix rules)"},
        {"tensor-type", CLI_STRING_LIST, &overrides,
         "REGEX=TYPE: type for matching tensors (repeatable)"},
        {"token-embedding-type", CLI_STRING, &embd_type, "type of token_embd.weight"},
        {"output-tensor-type", CLI_STRING, &out_type, "type of output.weight"},
        {"imatrix", CLI_STRING, &imatrix_path, "importance statistics from `quantkit calibrate`"},
        {"tokenizer", CLI_STRING, &tokenizer_path,
         "tokenizer file (needed for llama2.c checkpoints)"},
        {"name", CLI_STRING, &name, "general.name to write"},
        {"allow-requantize", CLI_FLAG, &allow_requantize, "allow requantizing quantized tensors"},
        {"allow-nonfinite", CLI_FLAG, &allow_nonfinite,
         "replace NaN/Inf weights by 0 (counted) instead of failing (docs/NONFINITE.md)"},
        {"dry-run", CLI_FLAG, &dry_run,
         "print the plan (type per tensor) and sizes, write nothing"},
        {"verbose", CLI_FLAG, &verbose, "print the plan before quantizing"},
        {"method", CLI_STRING, &ca.method,
         "rtn (default), gptq, awq, awq+gptq (docs/CALIBRATED.md)"},
        {"calib", CLI_STRING, &ca.calib_path, "calibration text (gptq, awq, --budget / --max-kl)"},
        {"calib-samples", CLI_INT, &ca.samples, "calibration windows (default 128)"},
        {"calib-len", CLI_INT, &ca.len, "tokens per window (default min(2048, model context))"},
        {"seed", CLI_INT, &ca.seed, "seed of the window positions (default 0)"},
        {"format", CLI_STRING, &ca.format,
         "gguf (default), or a Hugging Face checkpoint: gptq (AutoGPTQ v1), gptq_v2, awq "
         "(AutoAWQ GEMM), compressed-tensors (pack-quantized)"},
        {"bits", CLI_INT, &ca.bits, "affine grid of 2..8 bits instead of a GGUF block type"},
        {"group", CLI_INT, &ca.group,
         "affine: input columns per group (default 128; 0 = per channel)"},
        {"sym", CLI_FLAG, &ca.sym, "affine: symmetric grid"},
        {"asym", CLI_FLAG, &ca.asym, "affine: asymmetric grid (default)"},
        {"act-order", CLI_FLAG, &ca.act_order, "gptq: columns by decreasing Hessian diagonal"},
        {"static-groups", CLI_FLAG, &ca.static_groups,
         "gptq: group scales from the original weights"},
        {"damp", CLI_DOUBLE, &ca.damp, "gptq: dampening, fraction of the mean diagonal (0.01)"},
        {"mse", CLI_FLAG, &ca.mse, "affine: MSE search of each group's range"},
        {"refit-scales", CLI_FLAG, &ca.refit, "gptq affine: refit group scales to the final codes"},
        {"fp-target", CLI_FLAG, &ca.fp_target,
         "gptq: match the f32 model's outputs on its own inputs (GPTAQ)"},
        {"gptq-block", CLI_INT, &ca.block, "gptq: lazy batch columns (default 128)"},
        {"block-scales", CLI_STRING, &ca.block_scales,
         "gptq onto block types: scales searched with the --imatrix importance (default), "
         "hessian (diag of H), or plain"},
        {"no-true-sequential", CLI_FLAG, &ca.no_true_sequential,
         "gptq: capture all inputs of a layer in one pass"},
        {"awq-search-seqs", CLI_INT, &ca.awq_seqs,
         "awq: windows AWQ's scale search uses per layer (default 0 = all)"},
        {"measure", CLI_FLAG, &ca.measure, "print each linear's H-weighted error and RTN's"},
        {"budget", CLI_STRING, &mx.budget,
         "mixed precision: largest output file (1234, 4.5MB, 3MiB, or 4.8bpw)"},
        {"max-kl", CLI_DOUBLE, &mx.max_kl,
         "mixed precision: smallest file whose predicted KL (nats) stays under X"},
        {"mixed-formats", CLI_STRING, &mx.formats,
         "candidate formats (default q2_k,q3_k,q4_k,q5_k,q6_k,q8_0,f16)"},
        {"sens-proxy", CLI_STRING, &mx.proxy, "imatrix (default), hawq or output"},
        {"sens-kl", CLI_STRING, &mx.kl_mode,
         "none, calibrate (default with --calib: KL measured once per tensor), all"},
        {"kl-chunks", CLI_INT, &mx.kl_chunks, "calibration windows the KL is measured on (4)"},
        {"save-config", CLI_STRING, &save_config, "write every decision of this run as JSON"},
        {"config", CLI_STRING, &config,
         "replay a saved config (byte-identical output; other type options are ignored)"},
    };
    const size_t n_options = sizeof options / sizeof options[0];
    cli_common common;
    const char *positional[1];
    int n_positional;
    if (!cli_parse("quantize", argc, argv, options, n_options, &common, positional, 1,
                   &n_positional))
        return 2;
    if (common.help) {
        cli_usage("quantize", "MODEL -o OUT.gguf [--type T] | MODEL -o OUT --format F [--bits B]",
                  options, n_options);
        return 0;
    }
    if (n_positional != 1) return cli_fail("quantize", "give one MODEL (see --help)");
    if (strcmp(ca.format, "gguf") != 0 && allow_nonfinite)
        return cli_fail("quantize", "--allow-nonfinite applies to GGUF output only");
    /* a round-to-nearest checkpoint that is recorded or replayed goes through the
    ** calibrated path (method rtn), which writes the same bytes and records them */
    if (strcmp(ca.format, "gguf") != 0 && strcmp(ca.method, "rtn") == 0 && !ca.calib_path &&
        !save_config && !config) {
        const quantize_checkpoint_args args = {.in_path = positional[0],
                                               .out_dir = output,
                                               .format = ca.format,
                                               .method = ca.method,
                                               .bits = ca.bits,
                                               .group = ca.group == 0 ? -1 : ca.group,
                                               .sym = ca.sym,
                                               .tokenizer = tokenizer_path,
                                               .common = &common};
        return quantize_checkpoint(&args);
    }
    if (!output && !dry_run) return cli_fail("quantize", "-o OUT.gguf is required");
    const char *in_path = positional[0];
    if (ca.sym && ca.asym) return cli_fail("quantize", "--sym and --asym exclude each other");
    if (ca.bits != 0 && (ca.bits < 2 || ca.bits > 8))
        return cli_fail("quantize", "--bits %lld: 2..8", (long long)ca.bits);
    if (ca.group < 0 || ca.group > INT32_MAX || ca.block <= 0 || ca.block > INT32_MAX)
        return cli_fail("quantize", "--group / --gptq-block out of range");
    if (ca.samples <= 0 || ca.samples > INT32_MAX || ca.len < 0 || ca.len > 1 << 20 ||
        ca.awq_seqs < 0 || ca.awq_seqs > INT32_MAX)
        return cli_fail("quantize", "--calib-samples / --calib-len out of range");
    if (!(ca.damp >= 0.0 && ca.damp <= 1.0))
        return cli_fail("quantize", "--damp must be in [0, 1]");
    if (strcmp(ca.block_scales, "imatrix") && strcmp(ca.block_scales, "hessian") &&
        strcmp(ca.block_scales, "plain"))
        return cli_fail("quantize", "--block-scales %s: imatrix, hessian or plain",
                        ca.block_scales);
    /* --bits: an affine grid; the GGUF then holds the dequantized weights */
    if (!type_name) type_name = ca.bits ? "f32" : "q4_k_m";
    bool calibrated = ca.bits > 0 || strcmp(ca.method, "rtn") != 0 || strcmp(ca.format, "gguf");

    qk_type_request req;
    if (qk_type_request_parse(type_name, &req) != QK_OK)
        return cli_fail_status("quantize", QK_ERR_UNKNOWN_TYPE);
    if (pure) req.pure = true;
    qk_quantize_options opt;
    qk_quantize_options_init(&opt, &req);
    opt.tokenizer_path = tokenizer_path;
    opt.name = name;
    opt.allow_requantize = allow_requantize;
    opt.allow_nonfinite = allow_nonfinite;
    qk_type_override ov[64];
    char *patterns[64] = {0};
    int rc = 1;
    qk_calib_stats *imatrix = NULL;
    qk_quantize_report rep = {0};
    quantize_mixed_state ms = {0};
    quantize_replay replay = {0};
    const bool mixed = mx.budget || !isnan(mx.max_kl);
    for (int i = 0; i < overrides.count; i++) {
        if (!parse_override(overrides.items[i], &patterns[i], &ov[i].type)) {
            rc = cli_fail("quantize", "--tensor-type '%s': expected REGEX=TYPE with a known type",
                          overrides.items[i]);
            goto done;
        }
        ov[i].pattern = patterns[i];
    }
    opt.mix.overrides = ov;
    opt.mix.n_overrides = (size_t)overrides.count;
    qk_type forced;
    if (embd_type) {
        if (qk_type_from_name(embd_type, &forced) != QK_OK) {
            rc = cli_fail_status("quantize", QK_ERR_UNKNOWN_TYPE);
            goto done;
        }
        opt.mix.token_embd_type = (int32_t)forced;
    }
    if (out_type) {
        if (qk_type_from_name(out_type, &forced) != QK_OK) {
            rc = cli_fail_status("quantize", QK_ERR_UNKNOWN_TYPE);
            goto done;
        }
        opt.mix.output_type = (int32_t)forced;
    }
    qk_status st;
    if (imatrix_path) {
        if ((st = qk_calib_stats_load(imatrix_path, &imatrix)) != QK_OK) {
            rc = cli_fail_status("quantize", st);
            goto done;
        }
        opt.importance = imatrix;
    }
    quantize_ptq_plan ptq_plan;
    memset(&ptq_plan, 0, sizeof ptq_plan);
    if (config) {
        if (mixed || imatrix || calibrated || save_config) {
            rc = cli_fail("quantize", "--config replays a run: no --budget, --max-kl, --imatrix, "
                                      "--method, --bits, --format, --save-config");
            goto done;
        }
        if ((rc = quantize_config_replay(config, in_path, ca.calib_path, common.json, &opt,
                                         &replay)) != 0)
            goto done;
        rc = 1;
        req = replay.req;
        if (replay.has_ptq) { /* the recorded settings, also for the messages */
            calibrated = true;
            ptq_plan = replay.ptq;
            ca.method = qk_ptq_method_name(ptq_plan.ptq.method);
            ca.format = ptq_plan.format;
            ca.calib_path = ptq_plan.calib_path;
            ca.seed = (int64_t)ptq_plan.seed;
            ca.bits = ptq_plan.affine ? ptq_plan.ptq.gptq.bits : 0;
            ca.group = ptq_plan.ptq.gptq.group_size;
            ca.sym = ptq_plan.ptq.gptq.symmetric;
            ca.act_order = ptq_plan.ptq.gptq.act_order;
        }
    } else if (calibrated && (rc = plan_from_args(&ca, &ptq_plan)) != 0) {
        goto done;
    }
    if (mixed) {
        if (calibrated) {
            rc = cli_fail("quantize", "--budget / --max-kl: round-to-nearest GGUF only (no "
                                      "--method, --bits, --format yet)");
            goto done;
        }
        mx.calib_path = ca.calib_path;
        mx.samples = ca.samples;
        mx.len = ca.len;
        mx.seed = ca.seed;
        if (mx.budget && !isnan(mx.max_kl)) {
            rc = cli_fail("quantize", "give --budget or --max-kl, not both");
            goto done;
        }
        mx.in_path = in_path;
        mx.output = output ? output : "quantkit-mixed-dry-run.gguf";
        mx.tokenizer_path = tokenizer_path;
        mx.quiet = common.json;
        if ((rc = quantize_mixed_prepare(&mx, &opt, &ms)) != 0) goto done;
        rc = 1;
        if (!common.json) quantize_mixed_print(&ms);
    }
    if (calibrated && !dry_run) {
        const calib_record w = {.save_config = save_config,
                                .imatrix_path = imatrix_path,
                                .replayed = config,
                                .replay = &replay};
        rc = quantize_calibrated(in_path, output, opt.tokenizer_path, &opt, &req, &ptq_plan, &ca,
                                 &w, &common);
        goto done;
    }
    if (dry_run) {
        if ((st = qk_quantize_plan(in_path, &opt, &rep)) != QK_OK) {
            rc = cli_fail_status("quantize", st);
            goto done;
        }
        if (common.json) {
            json_t *o = report_json(in_path, NULL, req.name, &rep);
            if (mixed) json_object_set_new(o, "allocation", quantize_mixed_json(&ms));
            cli_json_print(o);
        } else {
            print_plan(&rep);
            printf("%llu weights, %llu bytes of tensor data, %.4f bits per weight\n",
                   (unsigned long long)rep.n_weights, (unsigned long long)rep.tensor_bytes,
                   rep.bits_per_weight);
        }
        rc = 0;
        goto done;
    }
    if (verbose && !common.json) {
        qk_quantize_report plan;
        if ((st = qk_quantize_plan(in_path, &opt, &plan)) == QK_OK) {
            print_plan(&plan);
            qk_quantize_report_free(&plan);
        }
    }
    quantize_progress prog;
    cli_progress_begin(&prog.bar, "quantize", 1, common.json);
    opt.progress = on_tensor;
    opt.progress_user = &prog;
    st = qk_quantize_model(in_path, output, &opt, &rep);
    cli_progress_end(&prog.bar);
    if (st != QK_OK) {
        rc = cli_fail_status("quantize", st);
        goto done;
    }
    if (rep.n_nonfinite > 0)
        fprintf(stderr,
                "quantkit quantize: warning: %llu non-finite weights in %zu tensors "
                "replaced by 0 (--allow-nonfinite)\n",
                (unsigned long long)rep.n_nonfinite, rep.n_nonfinite_tensors);
    if (config && !common.json) quantize_config_print_replay(config, &replay, output);
    if (save_config) {
        const quantize_run run = {.in_path = in_path,
                                  .output = output,
                                  .req = &req,
                                  .opt = &opt,
                                  .imatrix_path = imatrix_path,
                                  .mixed = mixed ? &mx : NULL,
                                  .mstate = &ms,
                                  .rep = &rep};
        if ((rc = quantize_config_save(save_config, &run)) != 0) goto done;
        rc = 1;
    }
    if (common.json) {
        json_t *o = report_json(in_path, output, req.name, &rep);
        if (mixed) json_object_set_new(o, "allocation", quantize_mixed_json(&ms));
        cli_json_print(o);
    } else {
        char a[32], b[32], c[32];
        printf("quantized %s -> %s (%s%s)\n", in_path, output, req.name, req.pure ? ", pure" : "");
        printf("  %s -> %s, %.4f bits per weight over %llu weights\n",
               cli_format_bytes(rep.input_bytes, a, sizeof a),
               cli_format_bytes(rep.output_bytes, b, sizeof b), rep.bits_per_weight,
               (unsigned long long)rep.n_weights);
        printf("  %.2f s, %d threads, peak memory %s\n", rep.seconds, qk_threads_get(),
               cli_format_bytes(rep.peak_rss_bytes, c, sizeof c));
    }
    rc = 0;
done:
    quantize_mixed_free(&ms);
    quantize_replay_free(&replay);
    for (int i = 0; i < overrides.count; i++) free(patterns[i]);
    qk_quantize_report_free(&rep);
    qk_calib_stats_free(imatrix);
    return rc;
}
