/*
** quantkit quantize MODEL -o OUT --format gptq|gptq_v2|awq|compressed-tensors
**   [--bits B] [--group G] [--sym] [--method rtn]
** Writes a Hugging Face folder in AutoGPTQ (v1 / v2), AutoAWQ GEMM or
** compressed-tensors pack-quantized layout (quantkit/checkpoint.h).
*/
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "quantize_checkpoint.h"

static void on_linear(void *user, size_t done, size_t total, const char *name) {
    cli_progress *bar = user;
    (void)name;
    bar->total = total;
    cli_progress_update(bar, done);
}

int quantize_checkpoint(const quantize_checkpoint_args *a) {
    qk_checkpoint_format format;
    qk_status st = qk_checkpoint_format_from_name(a->format, &format);
    if (st != QK_OK) return cli_fail_status("quantize", st);
    const char *method = a->method ? a->method : "rtn";
    if (strcmp(method, "rtn") != 0)
        return cli_fail("quantize", "--method %s: checkpoint formats support rtn", method);
    if (!a->out_dir) return cli_fail("quantize", "-o OUT (a folder) is required");
    qk_checkpoint_options opt;
    qk_checkpoint_options_init(&opt, format);
    if (a->bits) opt.config.bits = (int32_t)a->bits;
    if (a->group) opt.config.group_size = a->group < 0 ? -1 : (int32_t)a->group;
    opt.config.symmetric = a->sym;
    opt.tokenizer_path = a->tokenizer;
    if ((st = qk_checkpoint_config_check(&opt.config)) != QK_OK)
        return cli_fail_status("quantize", st);
    cli_progress bar;
    cli_progress_begin(&bar, "quantize", 1, a->common->json);
    qk_checkpoint_report rep;
    const double t0 = qk_time_seconds();
    st = qk_checkpoint_quantize(a->in_path, a->out_dir, &opt, NULL, NULL, on_linear, &bar, &rep);
    cli_progress_end(&bar);
    if (st != QK_OK) return cli_fail_status("quantize", st);
    const double seconds = qk_time_seconds() - t0;
    if (a->common->json) {
        json_t *o = json_object();
        json_object_set_new(o, "input", json_string(a->in_path));
        json_object_set_new(o, "output", json_string(a->out_dir));
        json_object_set_new(o, "format", json_string(qk_checkpoint_format_name(format)));
        json_object_set_new(o, "method", json_string(method));
        json_object_set_new(o, "bits", json_integer(opt.config.bits));
        json_object_set_new(o, "group_size", json_integer(opt.config.group_size));
        json_object_set_new(o, "symmetric", json_boolean(opt.config.symmetric));
        json_object_set_new(o, "bytes", json_integer((json_int_t)rep.folder_bytes));
        json_object_set_new(o, "safetensors_bytes", json_integer((json_int_t)rep.file_bytes));
        json_object_set_new(o, "linear_weights", json_integer((json_int_t)rep.linear_weights));
        json_object_set_new(o, "linear_bytes", json_integer((json_int_t)rep.linear_bytes));
        json_object_set_new(o, "bits_per_weight", json_real(rep.bits_per_weight));
        json_object_set_new(o, "seconds", json_real(seconds));
        cli_json_print(o);
    } else {
        char b[32];
        printf("quantized %s -> %s (%s, %s, %d-bit, group %d%s)\n", a->in_path, a->out_dir,
               qk_checkpoint_format_name(format), method, opt.config.bits, opt.config.group_size,
               opt.config.symmetric ? ", symmetric" : "");
        printf("  %s in the folder; linears %.4f bits per weight over %llu weights; %.2f s\n",
               cli_format_bytes(rep.folder_bytes, b, sizeof b), rep.bits_per_weight,
               (unsigned long long)rep.linear_weights, seconds);
    }
    return 0;
}
