/*
** quantkit eval MODEL --text FILE [--ctx N] [--chunks K] [--ref REF_MODEL]
**               [--simulate SPEC [--calib FILE]]
** Perplexity as llama.cpp's llama-perplexity computes it; with --ref also
** the mean KL divergence to a reference model and top-1 agreement. With
** --simulate the model's weights are first transformed in memory
** (qk_simulate_apply: w4g128, nf4, awq_w4g128, llm_int8, smoothquant_w8a8
** ...), calibrated on windows of --calib text where the method needs it.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"

typedef struct eval_progress {
    bool print; /* running estimate on stderr (human mode) */
} eval_progress;

/* Simulation settings from the command line. */
typedef struct eval_sim {
    const char *spec;
    const char *calib_path;
    int64_t n_samples, sample_len, seed, awq_search_seqs;
    bool include_output;
    qk_llm_int8_stats int8_stats;
    qk_simulate_report report;
} eval_sim;

static void on_sim_progress(void *user, const char *what, int32_t done, int32_t total) {
    const bool *print = user;
    if (*print) fprintf(stderr, "%s: layer %d/%d\n", what, done, total);
}

/* Transform the model as sim->spec says; calibration windows from
** sim->calib_path when given. Returns 0, or the exit code after printing
** the error. */
static int run_simulation(qk_llama_model *model, const qk_tokenizer *tok, eval_sim *sim,
                          bool print) {
    int32_t *ids = NULL, *windows = NULL;
    size_t n_ids = 0, text_len = 0;
    char *text = NULL;
    int32_t n_windows = 0;
    int rc = 1;
    qk_status st = QK_OK;
    if (sim->calib_path) {
        if (!cli_read_file(sim->calib_path, &text, &text_len)) {
            rc = cli_fail("eval", "cannot read calibration file %s", sim->calib_path);
            goto done;
        }
        st = qk_tokenizer_encode_alloc(tok, text, text_len, false, false, &ids, &n_ids);
        qk_calib_sampling cs = {.n_samples = (int32_t)sim->n_samples,
                                .sample_len = (int32_t)sim->sample_len,
                                .seed = (uint64_t)sim->seed,
                                .bos = qk_tokenizer_add_bos(tok) ? qk_tokenizer_bos_id(tok) : -1};
        if (st == QK_OK) st = qk_calib_sample(ids, (int64_t)n_ids, &cs, NULL, &n_windows);
        if (st != QK_OK) {
            rc = cli_fail_status("eval", st);
            goto done;
        }
        windows = malloc((size_t)n_windows * (size_t)sim->sample_len * sizeof *windows);
        if (!windows) {
            rc = cli_fail("eval", "no memory for %d calibration windows", n_windows);
            goto done;
        }
        if ((st = qk_calib_sample(ids, (int64_t)n_ids, &cs, windows, &n_windows)) != QK_OK) {
            rc = cli_fail_status("eval", st);
            goto done;
        }
    }
    qk_simulate_options so = {.calib_tokens = windows,
                              .n_calib = n_windows,
                              .calib_len = (int32_t)sim->sample_len,
                              .include_output = sim->include_output,
                              .awq_search_seqs = (int32_t)sim->awq_search_seqs,
                              .int8_stats = &sim->int8_stats,
                              .progress = on_sim_progress,
                              .progress_user = &print};
    if ((st = qk_simulate_apply(model, sim->spec, &so, &sim->report)) != QK_OK) {
        rc = cli_fail_status("eval", st);
        goto done;
    }
    rc = 0;
done:
    free(text);
    free(ids);
    free(windows);
    return rc;
}

static void sim_json(json_t *o, const eval_sim *sim) {
    json_t *j = json_object();
    const qk_simulate_report *r = &sim->report;
    json_object_set_new(j, "method", json_string(r->method));
    json_object_set_new(j, "linears", json_integer(r->n_linears));
    json_object_set_new(j, "seconds", json_real(r->seconds));
    if (sim->calib_path) {
        json_object_set_new(j, "calib", json_string(sim->calib_path));
        json_object_set_new(j, "calib_samples", json_integer(sim->n_samples));
        json_object_set_new(j, "calib_len", json_integer(sim->sample_len));
    }
    if (strncmp(r->method, "awq_", 4) == 0) {
        static const char *groups[QK_AWQ_GROUP_COUNT] = {"qkv", "o", "gate_up", "down"};
        json_t *g = json_object();
        for (int i = 0; i < QK_AWQ_GROUP_COUNT; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "err_plain", json_real(r->awq_err_plain[i]));
            json_object_set_new(e, "err_best", json_real(r->awq_err_best[i]));
            json_object_set_new(e, "mean_ratio", json_real(r->awq_mean_ratio[i]));
            json_object_set_new(g, groups[i], e);
        }
        json_object_set_new(j, "awq_groups", g);
        json_object_set_new(j, "awq_clip_mean_ratio", json_real(r->awq_clip_mean_ratio));
    }
    if (sim->int8_stats.calls > 0) {
        json_object_set_new(j, "int8_products", json_integer(sim->int8_stats.calls));
        json_object_set_new(
            j, "outlier_cols_mean",
            json_real((double)sim->int8_stats.outlier_cols / (double)sim->int8_stats.calls));
        json_object_set_new(j, "outlier_cols_max", json_integer(sim->int8_stats.max_outlier_cols));
    }
    json_object_set_new(o, "simulate", j);
}

static void on_chunk(void *user, int32_t chunk, int32_t n_chunks, const qk_ppl_result *r) {
    const eval_progress *p = user;
    if (!p->print) return;
    fprintf(stderr, "[%d/%d] ppl %.4f", chunk, n_chunks, r->ppl);
    if (r->has_ref) fprintf(stderr, " kl %.6f", r->kl_mean);
    fputc(chunk == n_chunks || chunk % 8 == 0 ? '\n' : ' ', stderr);
    if (chunk == n_chunks && chunk % 8 != 0) fputc('\n', stderr);
}

int cmd_eval(int argc, char **argv) {
    const char *text_path = NULL, *ref_path = NULL, *tokenizer_path = NULL;
    int64_t n_ctx = 512, n_chunks = 0;
    eval_sim sim = {.n_samples = 128, .sample_len = 512};
    const cli_option options[] = {
        {"text", CLI_STRING, &text_path, "evaluation text file (required)"},
        {"ctx", CLI_INT, &n_ctx, "tokens per chunk (default 512)"},
        {"chunks", CLI_INT, &n_chunks, "evaluate only the first K chunks (default all)"},
        {"ref", CLI_STRING, &ref_path,
         "reference model: adds mean KL divergence and top-1 agreement"},
        {"tokenizer", CLI_STRING, &tokenizer_path,
         "tokenizer file (tokenizer.model, tokenizer.json, llama2.c tokenizer.bin)"},
        {"simulate", CLI_STRING, &sim.spec,
         "transform the weights first: w4g128, w3g128, nf4, q4_k ... (any weight format), "
         "awq_FORMAT, llm_int8[:THRESHOLD], smoothquant_w8a8[:ALPHA], w8a8"},
        {"calib", CLI_STRING, &sim.calib_path,
         "calibration text for --simulate awq_* and smoothquant_w8a8"},
        {"calib-samples", CLI_INT, &sim.n_samples,
         "calibration windows (default 128; 0 = every window in order)"},
        {"calib-len", CLI_INT, &sim.sample_len, "tokens per calibration window (default 512)"},
        {"seed", CLI_INT, &sim.seed, "seed of the calibration window positions (default 0)"},
        {"awq-search-seqs", CLI_INT, &sim.awq_search_seqs,
         "windows AWQ's searches use per layer (default 0 = all)"},
        {"include-output", CLI_FLAG, &sim.include_output,
         "--simulate also the output projection (default: kept as stored)"},
    };
    const size_t n_options = sizeof options / sizeof options[0];
    cli_common common;
    const char *positional[1];
    int n_positional;
    if (!cli_parse("eval", argc, argv, options, n_options, &common, positional, 1, &n_positional))
        return 2;
    if (common.help) {
        cli_usage("eval",
                  "MODEL --text FILE [--ctx N] [--chunks K] [--ref REF_MODEL] "
                  "[--simulate SPEC [--calib FILE]]",
                  options, n_options);
        return 0;
    }
    if (n_positional != 1) return cli_fail("eval", "give one MODEL (see --help)");
    if (!text_path) return cli_fail("eval", "--text FILE is required");
    if (n_ctx < 4 || n_ctx > 1 << 20)
        return cli_fail("eval", "--ctx %lld out of range", (long long)n_ctx);
    if (n_chunks < 0 || n_chunks > INT32_MAX) return cli_fail("eval", "--chunks must be >= 0");
    if (sim.n_samples < 0 || sim.n_samples > INT32_MAX || sim.sample_len < 2 ||
        sim.sample_len > 1 << 20 || sim.awq_search_seqs < 0 || sim.awq_search_seqs > INT32_MAX)
        return cli_fail("eval", "--calib-samples / --calib-len / --awq-search-seqs out of range");
    if (sim.calib_path && !sim.spec) return cli_fail("eval", "--calib is used with --simulate");
    const char *model_path = positional[0];

    int rc = 1;
    qk_llama_model *model = NULL, *ref_model = NULL;
    qk_llama_context *ctx = NULL, *ref_ctx = NULL;
    qk_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, text_len = 0;
    char *text = NULL;
    qk_status st;
    const double t0 = qk_time_seconds();

    if ((st = qk_llama_model_load(model_path, &model)) != QK_OK) {
        rc = cli_fail_status("eval", st);
        goto done;
    }
    if ((st = qk_tokenizer_load_for_model(model_path, tokenizer_path, NULL, &tok)) != QK_OK) {
        rc = cli_fail_status("eval", st);
        goto done;
    }
    if (!cli_read_file(text_path, &text, &text_len)) {
        rc = cli_fail("eval", "cannot read text file %s", text_path);
        goto done;
    }
    if (sim.spec && (rc = run_simulation(model, tok, &sim, !common.json)) != 0) goto done;
    rc = 1;
    const bool add_bos = qk_tokenizer_add_bos(tok);
    if ((st = qk_tokenizer_encode_alloc(tok, text, text_len, add_bos, false, &ids, &n_ids)) !=
        QK_OK) {
        rc = cli_fail_status("eval", st);
        goto done;
    }
    if (ref_path) {
        if ((st = qk_llama_model_load(ref_path, &ref_model)) != QK_OK ||
            (st = qk_llama_context_create(ref_model, (int32_t)n_ctx, &ref_ctx)) != QK_OK) {
            rc = cli_fail_status("eval", st);
            goto done;
        }
    }
    if ((st = qk_llama_context_create(model, (int32_t)n_ctx, &ctx)) != QK_OK) {
        rc = cli_fail_status("eval", st);
        goto done;
    }
    const qk_llama_hparams *hp = qk_llama_model_hparams(model);
    const int32_t bos = add_bos ? qk_tokenizer_bos_id(tok) : -1;
    if (!common.json) {
        char size_buf[32];
        printf("model: %s (%d layers, %d embd, vocab %d, weights %s)\n", model_path, hp->n_layer,
               hp->n_embd, hp->n_vocab,
               cli_format_bytes(qk_llama_model_weight_bytes(model), size_buf, sizeof size_buf));
        if (sim.spec)
            printf("simulated: %s on %lld linears (%.1f s)%s%s\n", sim.report.method,
                   (long long)sim.report.n_linears, sim.report.seconds,
                   sim.calib_path ? ", calibration " : "", sim.calib_path ? sim.calib_path : "");
        printf("text: %s, %zu tokens\n", text_path, n_ids);
        printf("method: llama-perplexity: non-overlapping chunks of %lld tokens, %s, only the "
               "second half of each chunk scored\n",
               (long long)n_ctx, bos >= 0 ? "first token of each chunk replaced by BOS" : "no BOS");
        fflush(stdout);
    }
    eval_progress prog = {.print = !common.json};
    qk_ppl_result res;
    st = qk_perplexity(ctx, ref_ctx, ids, (int64_t)n_ids, (int32_t)n_ctx, (int32_t)n_chunks, bos,
                       on_chunk, &prog, &res);
    if (st != QK_OK) {
        rc = cli_fail_status("eval", st);
        goto done;
    }
    const double seconds = qk_time_seconds() - t0;
    const size_t peak = qk_peak_rss_bytes();
    if (common.json) {
        json_t *o = json_object();
        json_object_set_new(o, "model", json_string(model_path));
        json_object_set_new(o, "text", json_string(text_path));
        json_object_set_new(o, "ctx", json_integer(n_ctx));
        json_object_set_new(o, "chunks", json_integer(res.n_chunks));
        json_object_set_new(o, "tokens", json_integer((json_int_t)n_ids));
        json_object_set_new(o, "scored", json_integer(res.n_scored));
        json_object_set_new(o, "ppl", json_real(res.ppl));
        json_object_set_new(o, "ppl_stderr", json_real(res.ppl_stderr));
        json_object_set_new(o, "nll", json_real(res.nll_mean));
        if (res.has_ref) {
            json_object_set_new(o, "ref", json_string(ref_path));
            json_object_set_new(o, "ref_ppl", json_real(res.ref_ppl));
            json_object_set_new(o, "kl", json_real(res.kl_mean));
            json_object_set_new(o, "kl_stderr", json_real(res.kl_stderr));
            json_object_set_new(o, "top1", json_real(res.top1_agree));
        }
        if (sim.spec) sim_json(o, &sim);
        json_object_set_new(o, "tokens_per_second", json_real(res.tokens_per_second));
        json_object_set_new(o, "seconds", json_real(seconds));
        json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)peak));
        json_object_set_new(o, "threads", json_integer(qk_threads_get()));
        cli_json_print(o);
    } else {
        char peak_buf[32];
        printf("Final estimate: PPL = %.4f +/- %.5f (%d chunks, %lld tokens scored)\n", res.ppl,
               res.ppl_stderr, res.n_chunks, (long long)res.n_scored);
        if (res.has_ref)
            printf("vs %s: mean KL = %.6f +/- %.6f, top-1 agreement = %.2f%%, ref PPL = %.4f\n",
                   ref_path, res.kl_mean, res.kl_stderr, 100.0 * res.top1_agree, res.ref_ppl);
        if (sim.int8_stats.calls > 0)
            printf("llm.int8: %.2f outlier columns per product on average, at most %lld\n",
                   (double)sim.int8_stats.outlier_cols / (double)sim.int8_stats.calls,
                   (long long)sim.int8_stats.max_outlier_cols);
        printf("speed: %.1f tokens/s (%d threads), %.2f s total, peak memory %s\n",
               res.tokens_per_second, qk_threads_get(), seconds,
               cli_format_bytes(peak, peak_buf, sizeof peak_buf));
    }
    rc = 0;
done:
    free(ids);
    free(text);
    qk_tokenizer_free(tok);
    qk_llama_context_free(ctx);
    qk_llama_context_free(ref_ctx);
    qk_llama_model_free(model);
    qk_llama_model_free(ref_model);
    return rc;
}
