/*
** quantkit quantize MODEL -o OUT.gguf --type T
** Round-to-nearest quantization to llama.cpp's GGUF types and mixes; see
** docs/QUANTIZE.md for which tensor gets which type.
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
    printf("%-32s %-16s %-7s -> %-7s %-12s %10s\n", "tensor", "shape", "from", "to", "why", "bytes");
    for (size_t i = 0; i < rep->n_tensors; i++) {
        const qk_quantize_tensor_info *t = &rep->tensors[i];
        char shape[48];
        if (t->ndim == 1) snprintf(shape, sizeof shape, "[%lld]", (long long)t->shape[0]);
        else snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)t->shape[0], (long long)t->shape[1]);
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

int cmd_quantize(int argc, char **argv) {
    const char *output = NULL, *type_name = "q4_k_m", *imatrix_path = NULL;
    const char *tokenizer_path = NULL, *name = NULL, *embd_type = NULL, *out_type = NULL;
    bool pure = false, allow_requantize = false, dry_run = false, verbose = false;
    const char *format = "gguf", *method = NULL;
    int64_t bits = 0, group = 0;
    bool sym = false;
    cli_string_list overrides = {0};
    quantize_mixed_args mx = {.max_kl = NAN, .samples = 64, .kl_chunks = 4};
    const char *save_config = NULL, *config = NULL;
    const cli_option options[] = {
        {"output", CLI_STRING, &output, "output GGUF file, or folder for checkpoint formats (-o)"},
        {"format", CLI_STRING, &format,
         "gguf (default), or a Hugging Face checkpoint: gptq (AutoGPTQ v1), gptq_v2, awq "
         "(AutoAWQ GEMM), compressed-tensors (pack-quantized)"},
        {"method", CLI_STRING, &method, "checkpoint formats: rtn (default)"},
        {"bits", CLI_INT, &bits, "checkpoint formats: bits per weight (default 4)"},
        {"group", CLI_INT, &group, "checkpoint formats: group size (default 128; -1 per channel)"},
        {"sym", CLI_FLAG, &sym, "checkpoint formats: symmetric (zero point 2^(bits-1))"},
        {"type", CLI_STRING, &type_name, "q4_k_m (default), q8_0, q4_0, q6_k ... (docs/QUANTIZE.md)"},
        {"pure", CLI_FLAG, &pure, "every quantizable tensor in the base type (no mix rules)"},
        {"tensor-type", CLI_STRING_LIST, &overrides, "REGEX=TYPE: type for matching tensors (repeatable)"},
        {"token-embedding-type", CLI_STRING, &embd_type, "type of token_embd.weight"},
        {"output-tensor-type", CLI_STRING, &out_type, "type of output.weight"},
        {"imatrix", CLI_STRING, &imatrix_path, "importance statistics from `quantkit calibrate`"},
        {"tokenizer", CLI_STRING, &tokenizer_path, "tokenizer file (needed for llama2.c checkpoints)"},
        {"name", CLI_STRING, &name, "general.name to write"},
        {"allow-requantize", CLI_FLAG, &allow_requantize, "allow requantizing quantized tensors"},
        {"dry-run", CLI_FLAG, &dry_run, "print the plan (type per tensor) and sizes, write nothing"},
        {"verbose", CLI_FLAG, &verbose, "print the plan before quantizing"},
        {"budget", CLI_STRING, &mx.budget,
         "mixed precision: largest output file (1234, 4.5MB, 3MiB, or 4.8bpw)"},
        {"max-kl", CLI_DOUBLE, &mx.max_kl,
         "mixed precision: smallest file whose predicted KL (nats) stays under X"},
        {"calib", CLI_STRING, &mx.calib_path, "calibration text (statistics, measured KL)"},
        {"calib-samples", CLI_INT, &mx.samples, "calibration windows (default 64)"},
        {"calib-len", CLI_INT, &mx.len, "tokens per window (default min(512, model context))"},
        {"seed", CLI_INT, &mx.seed, "seed of the window positions (default 0)"},
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
    if (!cli_parse("quantize", argc, argv, options, n_options, &common, positional, 1, &n_positional))
        return 2;
    if (common.help) {
        cli_usage("quantize", "MODEL -o OUT.gguf [--type T] | MODEL -o OUT --format F [--bits B]",
                  options, n_options);
        return 0;
    }
    if (n_positional != 1) return cli_fail("quantize", "give one MODEL (see --help)");
    if (strcmp(format, "gguf") != 0) {
        const quantize_checkpoint_args args = {
            .in_path = positional[0], .out_dir = output, .format = format, .method = method,
            .bits = bits, .group = group, .sym = sym, .tokenizer = tokenizer_path,
            .common = &common};
        return quantize_checkpoint(&args);
    }
    if (!output && !dry_run) return cli_fail("quantize", "-o OUT.gguf is required");
    const char *in_path = positional[0];

    qk_type_request req;
    if (qk_type_request_parse(type_name, &req) != QK_OK) return cli_fail_status("quantize", QK_ERR_UNKNOWN_TYPE);
    if (pure) req.pure = true;
    qk_quantize_options opt;
    qk_quantize_options_init(&opt, &req);
    opt.tokenizer_path = tokenizer_path;
    opt.name = name;
    opt.allow_requantize = allow_requantize;
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
    if (config) {
        if (mixed || imatrix) {
            rc = cli_fail("quantize", "--config replays a run: no --budget, --max-kl, --imatrix");
            goto done;
        }
        if ((rc = quantize_config_replay(config, in_path, common.json, &opt, &replay)) != 0)
            goto done;
        rc = 1;
        req = replay.req;
    }
    if (mixed) {
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
    if (config && replay.cfg.has_output && !common.json) {
        char hex[65];
        if (qk_file_sha256(output, hex, NULL) == QK_OK)
            printf("replayed %s: output %s the recorded one (sha256 %s)\n", config,
                   strcmp(hex, replay.cfg.output_sha256) == 0 ? "identical to" : "DIFFERS from",
                   hex);
    }
    if (save_config) {
        const quantize_run run = {.in_path = in_path, .output = output, .req = &req, .opt = &opt,
                                  .imatrix_path = imatrix_path, .mixed = mixed ? &mx : NULL,
                                  .mstate = &ms, .rep = &rep};
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
