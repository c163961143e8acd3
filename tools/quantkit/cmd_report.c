/*
** quantkit report REF QUANT -o report.html [--png DIR] [--tensors REGEX]
**                 [--text FILE [--ctx N] [--chunks K]] [--calib STATS]
**                 [--budget SIZE] [--formats LIST]
** One self-contained HTML page about what quantizing REF into QUANT cost:
** the models, every tensor's errors and outliers, histograms of chosen
** tensors, the outlier-impact comparison, the sensitivity ranking of REF's
** tensors in the candidate formats, the mixed-precision allocation for a
** byte budget, and perplexity / KL on a text.
** The figures are drawn by PLplot; --png DIR also writes them as PNG files.
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"
#include "report.h"

static const char *CMD = "report";

static void on_rows(void *user, size_t done, size_t total) {
    (void)total;
    cli_progress_update(user, done);
}

/* Perplexity of QUANT with REF as the reference model (KL, top-1). */
static bool run_ppl(rp_report *r, const char *ref_path, const char *quant_path,
                    const char *text_path, const char *tokenizer_path, int32_t n_ctx,
                    int32_t n_chunks) {
    qk_llama_model *model = NULL, *ref_model = NULL;
    qk_llama_context *ctx = NULL, *ref_ctx = NULL;
    qk_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, text_len = 0;
    char *text = NULL;
    bool ok = false;
    qk_status st;
    if (!cli_read_file(text_path, &text, &text_len)) {
        cli_fail(CMD, "cannot read text file %s", text_path);
        goto done;
    }
    if ((st = qk_tokenizer_load_for_model(quant_path, tokenizer_path, NULL, &tok)) != QK_OK ||
        (st = qk_llama_model_load(quant_path, &model)) != QK_OK ||
        (st = qk_llama_model_load(ref_path, &ref_model)) != QK_OK ||
        (st = qk_llama_context_create(model, n_ctx, &ctx)) != QK_OK ||
        (st = qk_llama_context_create(ref_model, n_ctx, &ref_ctx)) != QK_OK) {
        cli_fail_status(CMD, st);
        goto done;
    }
    const bool add_bos = qk_tokenizer_add_bos(tok);
    if ((st = qk_tokenizer_encode_alloc(tok, text, text_len, add_bos, false, &ids, &n_ids)) !=
            QK_OK ||
        (st = qk_perplexity(ctx, ref_ctx, ids, (int64_t)n_ids, n_ctx, n_chunks,
                            add_bos ? qk_tokenizer_bos_id(tok) : -1, NULL, NULL, &r->ppl.res)) !=
            QK_OK) {
        cli_fail_status(CMD, st);
        goto done;
    }
    r->ppl.present = true;
    r->ppl.text_path = text_path;
    r->ppl.n_ctx = n_ctx;
    r->ppl.n_tokens = (int64_t)n_ids;
    ok = true;
done:
    free(ids);
    free(text);
    qk_tokenizer_free(tok);
    qk_llama_context_free(ctx);
    qk_llama_context_free(ref_ctx);
    qk_llama_model_free(model);
    qk_llama_model_free(ref_model);
    return ok;
}

/* Write one figure's PNG into dir (atomically); appends its path to `list`. */
static bool write_png(const char *dir, const rp_figure *fig, json_t *list) {
    if (!fig->png) return true;
    size_t n = strlen(dir) + strlen(fig->file_stem) + 6;
    char *path = malloc(n);
    if (!path) return cli_fail(CMD, "no memory"), false;
    snprintf(path, n, "%s/%s.png", dir, fig->file_stem);
    qk_atomic_file *f = NULL;
    qk_status st = qk_atomic_file_open(path, &f);
    if (st == QK_OK && (st = qk_atomic_file_write(f, fig->png, fig->png_len)) != QK_OK)
        qk_atomic_file_abort(f);
    else if (st == QK_OK)
        st = qk_atomic_file_commit(f);
    if (st == QK_OK && list) json_array_append_new(list, json_string(path));
    free(path);
    if (st != QK_OK) return cli_fail_status(CMD, st), false;
    return true;
}

static bool write_pngs(const char *dir, const rp_report *r, json_t *list) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_fail(CMD, "cannot create folder %s: %s", dir, strerror(errno)), false;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_fail(CMD, "--png %s is not a folder", dir), false;
    if (!write_png(dir, &r->fig_sqnr, list) || !write_png(dir, &r->fig_outliers, list))
        return false;
    for (size_t d = 0; d < r->n_details; d++)
        if (!write_png(dir, &r->fig_hist[d], list)) return false;
    return true;
}

/* "q4_k,q6_k,q8_0" into req->formats. */
static bool parse_formats(const char *list, rp_sens_request *req) {
    char buf[256];
    if (strlen(list) >= sizeof buf) return cli_fail(CMD, "--formats: list too long"), false;
    strcpy(buf, list);
    req->n_formats = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        qk_type t;
        if (qk_type_from_name(tok, &t) != QK_OK)
            return cli_fail(CMD, "--formats: unknown type '%s'", tok), false;
        if (req->n_formats >= QK_SENS_MAX_FORMATS)
            return cli_fail(CMD, "--formats: at most %d formats", QK_SENS_MAX_FORMATS), false;
        req->formats[req->n_formats++] = t;
    }
    if (req->n_formats == 0) return cli_fail(CMD, "--formats: no format given"), false;
    return true;
}

static json_t *sens_json(const rp_sens *sn) {
    json_t *o = json_object();
    json_t *formats = json_array();
    for (size_t f = 0; f < sn->s.n_formats; f++)
        json_array_append_new(formats, json_string(qk_type_name(sn->s.formats[f])));
    json_object_set_new(o, "formats", formats);
    json_object_set_new(o, "rank_format",
                        json_string(qk_type_name(sn->s.formats[sn->rank_format])));
    json_t *ranking = json_array();
    for (size_t i = 0; i < sn->s.n_tensors; i++)
        json_array_append_new(ranking, json_string(sn->s.tensors[sn->order[i]].name));
    json_object_set_new(o, "ranking", ranking);
    json_object_set_new(o, "seconds", json_real(sn->s.seconds));
    return o;
}

static json_t *alloc_json(const rp_sens *sn) {
    json_t *o = json_object();
    json_object_set_new(o, "budget", json_integer((json_int_t)sn->budget));
    if (!sn->alloc_present) {
        json_object_set_new(o, "note", json_string(sn->alloc_note));
        return o;
    }
    const qk_mixed_result *a = &sn->alloc;
    json_object_set_new(o, "file_bytes", json_integer((json_int_t)a->file_bytes));
    json_object_set_new(o, "bits_per_weight", json_real(a->bits_per_weight));
    json_object_set_new(o, "predicted_loss", json_real(a->predicted_loss));
    if (isfinite(sn->quant_predicted))
        json_object_set_new(o, "quant_predicted_loss", json_real(sn->quant_predicted));
    json_t *types = json_object();
    for (size_t i = 0; i < a->n_tensors; i++)
        if (a->tensors[i].allocated)
            json_object_set_new(types, a->tensors[i].name,
                                json_string(qk_type_name(a->tensors[i].type)));
    json_object_set_new(o, "types", types);
    return o;
}

static json_t *summary_json(const rp_report *r, const char *output, json_t *pngs) {
    json_t *o = json_object();
    json_object_set_new(o, "output", json_string(output));
    json_object_set_new(o, "ref", json_string(r->ref.path));
    json_object_set_new(o, "model", json_string(r->quant.path));
    json_object_set_new(o, "tensors", json_integer((json_int_t)r->n_rows));
    json_object_set_new(o, "compared", json_integer((json_int_t)r->n_compared));
    json_object_set_new(o, "sqnr_db",
                        isfinite(r->total.sqnr_db) ? json_real(r->total.sqnr_db) : json_null());
    json_object_set_new(o, "cosine", json_real(r->total.cosine));
    json_t *chosen = json_array();
    for (size_t d = 0; d < r->n_details; d++)
        json_array_append_new(chosen, json_string(r->rows[r->details[d].row].name));
    json_object_set_new(o, "detailed", chosen);
    if (r->ppl.present) {
        json_object_set_new(o, "ppl", json_real(r->ppl.res.ppl));
        json_object_set_new(o, "ref_ppl", json_real(r->ppl.res.ref_ppl));
        json_object_set_new(o, "kl", json_real(r->ppl.res.kl_mean));
        json_object_set_new(o, "top1", json_real(r->ppl.res.top1_agree));
        json_object_set_new(o, "chunks", json_integer(r->ppl.res.n_chunks));
    }
    if (r->sens.present) {
        json_object_set_new(o, "sensitivity", sens_json(&r->sens));
        json_object_set_new(o, "allocation", alloc_json(&r->sens));
    }
    json_object_set_new(o, "png", pngs ? pngs : json_array());
    json_object_set_new(o, "seconds", json_real(r->seconds));
    return o;
}

int cmd_report(int argc, char **argv) {
    const char *output = NULL, *png_dir = NULL, *regex = NULL, *text_path = NULL,
               *tokenizer_path = NULL, *calib_path = NULL, *formats = NULL;
    uint64_t budget = 0;
    bool no_sens = false;
    int64_t n_ctx = 512, n_chunks = 0, bins = 80, worst = 4, clip_bits = 4;
    double k = 3.0, percentile = 99.9;
    const cli_option options[] = {
        {"output", CLI_STRING, &output, "the HTML file to write (-o, required)"},
        {"png", CLI_STRING, &png_dir, "also write every figure as a PNG file into this folder"},
        {"tensors", CLI_STRING, &regex,
         "show these tensors in detail (POSIX extended regex; default: the lowest SQNRs and "
         "token_embd / output)"},
        {"worst", CLI_INT, &worst, "default detail: this many lowest-SQNR tensors (default 4)"},
        {"text", CLI_STRING, &text_path, "text for perplexity and KL divergence of QUANT vs REF"},
        {"ctx", CLI_INT, &n_ctx, "tokens per perplexity chunk (default 512)"},
        {"chunks", CLI_INT, &n_chunks, "evaluate only the first K chunks (default all)"},
        {"tokenizer", CLI_STRING, &tokenizer_path, "tokenizer file when the model has none"},
        {"outlier-k", CLI_DOUBLE, &k, "outliers: |x - mean| > k std (default 3)"},
        {"clip-bits", CLI_INT, &clip_bits, "bits of the outlier-impact comparison (default 4)"},
        {"percentile", CLI_DOUBLE, &percentile, "percentile of the clipping range (default 99.9)"},
        {"bins", CLI_INT, &bins, "histogram bins (default 80)"},
        {"calib", CLI_STRING, &calib_path,
         "calibration statistics (quantkit calibrate, --xtx for the output error) for the "
         "sensitivity ranking"},
        {"formats", CLI_STRING, &formats,
         "candidate formats of the sensitivity, comma-separated (default q2_k,q3_k,q4_k,q5_k,"
         "q6_k,q8_0,f16; QUANT's own formats are added, up to 8 in all)"},
        {"budget", CLI_SIZE, &budget,
         "file size of the mixed-precision allocation (default: QUANT's file size)"},
        {"no-sensitivity", CLI_FLAG, &no_sens, "leave out the sensitivity ranking and allocation"},
    };
    const size_t n_options = sizeof options / sizeof options[0];
    cli_common common;
    const char *positional[2];
    int n_positional;
    if (!cli_parse(CMD, argc, argv, options, n_options, &common, positional, 2, &n_positional))
        return 2;
    if (common.help) {
        cli_usage(CMD, "REF_MODEL QUANT_MODEL -o report.html [--png DIR] [--text FILE]", options,
                  n_options);
        return 0;
    }
    if (n_positional != 2) return cli_fail(CMD, "give two models: REF_MODEL QUANT_MODEL");
    if (!output) return cli_fail(CMD, "-o report.html is required");
    if (n_ctx < 4 || n_ctx > 1 << 20)
        return cli_fail(CMD, "--ctx %lld out of range", (long long)n_ctx);
    if (n_chunks < 0 || n_chunks > INT32_MAX) return cli_fail(CMD, "--chunks must be >= 0");
    if (bins < 2 || bins > 100000) return cli_fail(CMD, "--bins must be in 2..100000");
    if (worst < 0 || worst > 10000) return cli_fail(CMD, "--worst must be in 0..10000");
    if (clip_bits < 2 || clip_bits > 8) return cli_fail(CMD, "--clip-bits must be in 2..8");
    if (!(k > 0) || !isfinite(k)) return cli_fail(CMD, "--outlier-k must be > 0");
    if (!(percentile >= 50 && percentile <= 100))
        return cli_fail(CMD, "--percentile must be in [50, 100]");
    rp_sens_request sreq;
    memset(&sreq, 0, sizeof sreq);
    if (formats && !parse_formats(formats, &sreq)) return 1;
    if (no_sens && (calib_path || formats || budget))
        return cli_fail(CMD, "--no-sensitivity with --calib, --formats or --budget");

    const double t0 = qk_time_seconds();
    rp_report r;
    memset(&r, 0, sizeof r);
    r.settings = (rp_settings){.outlier_k = k,
                               .clip_bits = (int32_t)clip_bits,
                               .clip_percentile = percentile,
                               .hist_bins = (int32_t)bins,
                               .tensors_regex = regex,
                               .n_worst = (int32_t)worst};
    qk_model_source *ref = NULL, *quant = NULL;
    json_t *pngs = NULL;
    int rc = 1;
    qk_status st;
    if ((st = qk_model_source_open(positional[0], NULL, &ref)) != QK_OK ||
        (st = qk_model_source_open(positional[1], NULL, &quant)) != QK_OK) {
        rc = cli_fail_status(CMD, st);
        goto done;
    }
    cli_progress prog;
    cli_progress_begin(&prog, "comparing tensors", qk_model_source_tensor_count(ref), common.json);
    bool ok = rp_compare_models(ref, quant, positional[0], positional[1], &r, on_rows, &prog);
    cli_progress_end(&prog);
    if (!ok || !rp_choose_tensors(&r) || !rp_compute_details(ref, quant, &r)) goto done;
    /* the sources are not needed any more; the perplexity run loads models */
    qk_model_source_close(ref);
    qk_model_source_close(quant);
    ref = quant = NULL;
    sreq.ref_path = positional[0];
    sreq.quant_path = positional[1];
    sreq.html_path = output;
    sreq.calib_path = calib_path;
    sreq.tokenizer_path = tokenizer_path;
    sreq.budget = budget;
    sreq.json = common.json;
    if (!no_sens && !rp_compute_sensitivity(&r, &sreq)) goto done;
    if (text_path && !run_ppl(&r, positional[0], positional[1], text_path, tokenizer_path,
                              (int32_t)n_ctx, (int32_t)n_chunks))
        goto done;
    if (!rp_draw_figures(&r, png_dir != NULL)) goto done;
    if (png_dir) {
        pngs = json_array();
        if (!write_pngs(png_dir, &r, pngs)) goto done;
    }
    r.seconds = qk_time_seconds() - t0;
    if (!rp_write_html(&r, output)) goto done;
    if (common.json) {
        cli_json_print(summary_json(&r, output, pngs));
        pngs = NULL;
    } else {
        printf("%s: %zu tensors (%zu compared), %zu shown in detail", output, r.n_rows,
               r.n_compared, r.n_details);
        if (isfinite(r.total.sqnr_db)) printf(", SQNR %.2f dB", r.total.sqnr_db);
        if (r.ppl.present)
            printf(", ppl %.4f -> %.4f, KL %.6f", r.ppl.res.ref_ppl, r.ppl.res.ppl,
                   r.ppl.res.kl_mean);
        printf("\n");
        if (r.sens.alloc_present)
            printf("allocation for %llu bytes: file %llu bytes, %.4f bits/weight, predicted loss "
                   "%.4e\n",
                   (unsigned long long)r.sens.budget, (unsigned long long)r.sens.alloc.file_bytes,
                   r.sens.alloc.bits_per_weight, r.sens.alloc.predicted_loss);
        if (png_dir) printf("PNG figures: %zu in %s\n", json_array_size(pngs), png_dir);
    }
    rc = 0;
done:
    json_decref(pngs);
    qk_model_source_close(ref);
    qk_model_source_close(quant);
    rp_report_free(&r);
    return rc;
}
