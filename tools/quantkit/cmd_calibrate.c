/*
** quantkit calibrate MODEL --calib FILE -o STATS
** Runs the model over calibration text and stores, per linear input, the
** count, per-column sum of x^2 (llama.cpp imatrix semantics) and sum |x|
** (AWQ), optionally X^T X. STATS feeds `quantkit quantize --imatrix`.
*/
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"

static void on_window(void *user, int32_t done, int32_t total) {
    cli_progress *bar = user;
    bar->total = (uint64_t)total;
    cli_progress_update(bar, (uint64_t)done);
}

int cmd_calibrate(int argc, char **argv) {
    const char *calib_path = NULL, *output = NULL, *tokenizer_path = NULL;
    int64_t n_samples = 128, sample_len = 512, seed = 0;
    bool xtx = false;
    const cli_option options[] = {
        {"calib", CLI_STRING, &calib_path, "calibration text file (required)"},
        {"output", CLI_STRING, &output, "statistics file to write (-o, required)"},
        {"samples", CLI_INT, &n_samples, "windows to run (default 128; 0 = every window in order)"},
        {"len", CLI_INT, &sample_len, "tokens per window (default 512)"},
        {"seed", CLI_INT, &seed, "seed of the window positions (default 0)"},
        {"xtx", CLI_FLAG, &xtx, "also keep X^T X per input (n_cols^2 doubles each)"},
        {"tokenizer", CLI_STRING, &tokenizer_path, "tokenizer file (llama2.c checkpoints)"},
    };
    const size_t n_options = sizeof options / sizeof options[0];
    cli_common common;
    const char *positional[1];
    int n_positional;
    if (!cli_parse("calibrate", argc, argv, options, n_options, &common, positional, 1,
                   &n_positional))
        return 2;
    if (common.help) {
        cli_usage("calibrate", "MODEL --calib FILE -o STATS", options, n_options);
        return 0;
    }
    if (n_positional != 1) return cli_fail("calibrate", "give one MODEL (see --help)");
    if (!calib_path || !output)
        return cli_fail("calibrate", "--calib FILE and -o STATS are required");
    if (n_samples < 0 || n_samples > INT32_MAX || sample_len < 2 || sample_len > 1 << 20)
        return cli_fail("calibrate", "--samples / --len out of range");
    const char *model_path = positional[0];
    int rc = 1;
    qk_llama_model *model = NULL;
    qk_tokenizer *tok = NULL;
    qk_calib_stats *stats = NULL;
    char *text = NULL;
    size_t text_len = 0, n_ids = 0;
    int32_t *ids = NULL, *windows = NULL;
    qk_status st;
    const double t0 = qk_time_seconds();
    if ((st = qk_llama_model_load(model_path, &model)) != QK_OK ||
        (st = qk_tokenizer_load_for_model(model_path, tokenizer_path, NULL, &tok)) != QK_OK) {
        rc = cli_fail_status("calibrate", st);
        goto done;
    }
    if (!cli_read_file(calib_path, &text, &text_len)) {
        rc = cli_fail("calibrate", "cannot read calibration file %s", calib_path);
        goto done;
    }
    if ((st = qk_tokenizer_encode_alloc(tok, text, text_len, false, false, &ids, &n_ids)) !=
        QK_OK) {
        rc = cli_fail_status("calibrate", st);
        goto done;
    }
    qk_calib_sampling s = {.n_samples = (int32_t)n_samples,
                           .sample_len = (int32_t)sample_len,
                           .seed = (uint64_t)seed,
                           .bos = qk_tokenizer_add_bos(tok) ? qk_tokenizer_bos_id(tok) : -1};
    int32_t n_windows = 0;
    if ((st = qk_calib_sample(ids, (int64_t)n_ids, &s, NULL, &n_windows)) != QK_OK) {
        rc = cli_fail_status("calibrate", st);
        goto done;
    }
    windows = malloc((size_t)n_windows * (size_t)sample_len * sizeof *windows);
    if (!windows) {
        rc = cli_fail("calibrate", "no memory for %d windows", n_windows);
        goto done;
    }
    if ((st = qk_calib_sample(ids, (int64_t)n_ids, &s, windows, &n_windows)) != QK_OK ||
        (st = qk_calib_stats_create(qk_llama_model_hparams(model), xtx, &stats)) != QK_OK) {
        rc = cli_fail_status("calibrate", st);
        goto done;
    }
    cli_progress bar;
    cli_progress_begin(&bar, "calibrate", (uint64_t)n_windows, common.json);
    st = qk_calib_collect(model, windows, n_windows, (int32_t)sample_len, stats, on_window, &bar);
    cli_progress_end(&bar);
    if (st != QK_OK) {
        rc = cli_fail_status("calibrate", st);
        goto done;
    }
    char digest[65];
    qk_sha256_hex(text, text_len, digest);
    qk_calib_meta meta = {
        .text_path = calib_path, .text_sha256 = digest, .sampling = s, .n_samples_used = n_windows};
    if ((st = qk_calib_stats_save(stats, &meta, output)) != QK_OK) {
        rc = cli_fail_status("calibrate", st);
        goto done;
    }
    const double seconds = qk_time_seconds() - t0;
    if (common.json) {
        json_t *o = json_object();
        json_object_set_new(o, "model", json_string(model_path));
        json_object_set_new(o, "calib", json_string(calib_path));
        json_object_set_new(o, "calib_sha256", json_string(digest));
        json_object_set_new(o, "output", json_string(output));
        json_object_set_new(o, "samples", json_integer(n_windows));
        json_object_set_new(o, "len", json_integer(sample_len));
        json_object_set_new(o, "seed", json_integer(seed));
        json_object_set_new(o, "tokens", json_integer(qk_calib_stats_rows(stats)));
        json_object_set_new(o, "seconds", json_real(seconds));
        json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)qk_peak_rss_bytes()));
        cli_json_print(o);
    } else {
        printf("calibrated %s on %s (%zu tokens): %d windows of %lld tokens, seed %lld -> %s\n",
               model_path, calib_path, n_ids, n_windows, (long long)sample_len, (long long)seed,
               output);
        printf("  %.2f s, %d threads\n", seconds, qk_threads_get());
    }
    rc = 0;
done:
    free(windows);
    free(ids);
    free(text);
    qk_calib_stats_free(stats);
    qk_tokenizer_free(tok);
    qk_llama_model_free(model);
    return rc;
}
