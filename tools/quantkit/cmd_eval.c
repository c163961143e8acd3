/*
** quantkit eval MODEL --text FILE [--ctx N] [--chunks K] [--ref REF_MODEL]
** Perplexity as llama.cpp's llama-perplexity computes it; with --ref also
** the mean KL divergence to a reference model and top-1 agreement.
*/
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"

typedef struct eval_progress {
    bool print; /* running estimate on stderr (human mode) */
} eval_progress;

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
    const cli_option options[] = {
        {"text", CLI_STRING, &text_path, "evaluation text file (required)"},
        {"ctx", CLI_INT, &n_ctx, "tokens per chunk (default 512)"},
        {"chunks", CLI_INT, &n_chunks, "evaluate only the first K chunks (default all)"},
        {"ref", CLI_STRING, &ref_path, "reference model: adds mean KL divergence and top-1 agreement"},
        {"tokenizer", CLI_STRING, &tokenizer_path,
         "tokenizer file (tokenizer.model, tokenizer.json, llama2.c tokenizer.bin)"},
    };
    const size_t n_options = sizeof options / sizeof options[0];
    cli_common common;
    const char *positional[1];
    int n_positional;
    if (!cli_parse("eval", argc, argv, options, n_options, &common, positional, 1, &n_positional))
        return 2;
    if (common.help) {
        cli_usage("eval", "MODEL --text FILE [--ctx N] [--chunks K] [--ref REF_MODEL]", options,
                  n_options);
        return 0;
    }
    if (n_positional != 1) return cli_fail("eval", "give one MODEL (see --help)");
    if (!text_path) return cli_fail("eval", "--text FILE is required");
    if (n_ctx < 4 || n_ctx > 1 << 20) return cli_fail("eval", "--ctx %lld out of range", (long long)n_ctx);
    if (n_chunks < 0 || n_chunks > INT32_MAX) return cli_fail("eval", "--chunks must be >= 0");
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
    const bool add_bos = qk_tokenizer_add_bos(tok);
    if ((st = qk_tokenizer_encode_alloc(tok, text, text_len, add_bos, false, &ids, &n_ids)) != QK_OK) {
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
