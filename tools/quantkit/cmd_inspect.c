/*
** quantkit inspect MODEL: format, architecture, hyper-parameters, tensor
** table (name, type, shape, bytes), parameter count and bits per weight.
*/
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"

static void shape_text(const qk_model_tensor *t, char *buf, size_t size) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "[");
    for (int32_t d = 0; d < t->ndim && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

int cmd_inspect(int argc, char **argv) {
    bool tensors_only = false;
    const cli_option options[] = {
        {"tensors", CLI_FLAG, &tensors_only, "print only the tensor table"},
    };
    const size_t n_options = sizeof options / sizeof options[0];
    cli_common common;
    const char *positional[1];
    int n_positional;
    if (!cli_parse("inspect", argc, argv, options, n_options, &common, positional, 1,
                   &n_positional))
        return 2;
    if (common.help) {
        cli_usage("inspect", "MODEL", options, n_options);
        return 0;
    }
    if (n_positional != 1) return cli_fail("inspect", "give one MODEL (see --help)");
    const char *path = positional[0];
    qk_model_source *src;
    qk_status st = qk_model_source_open(path, NULL, &src);
    if (st != QK_OK) return cli_fail_status("inspect", st);
    const qk_model_hparams *hp = qk_model_source_hparams(src);
    const size_t n = qk_model_source_tensor_count(src);
    uint64_t params = 0, bytes = 0;
    size_t type_count[QK_TYPE_COUNT] = {0};
    json_t *arr = common.json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        qk_model_tensor t;
        if ((st = qk_model_source_tensor_info(src, i, &t)) != QK_OK) {
            qk_model_source_close(src);
            json_decref(arr);
            return cli_fail_status("inspect", st);
        }
        int64_t numel = 1;
        for (int32_t d = 0; d < t.ndim; d++) numel *= t.shape[d];
        params += (uint64_t)numel;
        bytes += t.nbytes;
        type_count[t.type]++;
        if (arr) {
            json_t *e = json_object(), *shape = json_array();
            for (int32_t d = 0; d < t.ndim; d++)
                json_array_append_new(shape, json_integer(t.shape[d]));
            json_object_set_new(e, "name", json_string(t.name));
            json_object_set_new(e, "file_name", json_string(t.file_name));
            json_object_set_new(e, "type", json_string(qk_type_name(t.type)));
            json_object_set_new(e, "shape", shape);
            json_object_set_new(e, "bytes", json_integer((json_int_t)t.nbytes));
            json_array_append_new(arr, e);
        }
    }
    const double bpw = params ? 8.0 * (double)bytes / (double)params : 0.0;
    if (common.json) {
        json_t *o = json_object(), *h = json_object();
        json_object_set_new(o, "path", json_string(path));
        json_object_set_new(o, "format",
                            json_string(qk_model_format_name(qk_model_source_format(src))));
        json_object_set_new(o, "arch", json_string(hp->arch));
        json_object_set_new(h, "n_vocab", json_integer(hp->n_vocab));
        json_object_set_new(h, "n_embd", json_integer(hp->n_embd));
        json_object_set_new(h, "n_ff", json_integer(hp->n_ff));
        json_object_set_new(h, "n_layer", json_integer(hp->n_layer));
        json_object_set_new(h, "n_head", json_integer(hp->n_head));
        json_object_set_new(h, "n_head_kv", json_integer(hp->n_head_kv));
        json_object_set_new(h, "head_dim", json_integer(hp->head_dim));
        json_object_set_new(h, "n_ctx_train", json_integer(hp->n_ctx_train));
        json_object_set_new(h, "rms_eps", json_real(hp->rms_eps));
        json_object_set_new(h, "rope_theta", json_real(hp->rope_theta));
        json_object_set_new(h, "attn_bias", json_boolean(hp->attn_bias));
        json_object_set_new(h, "tied_output", json_boolean(hp->tied_output));
        json_object_set_new(o, "hparams", h);
        json_object_set_new(o, "params", json_integer((json_int_t)params));
        json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
        json_object_set_new(o, "bits_per_weight", json_real(bpw));
        json_object_set_new(o, "tensors", arr);
        cli_json_print(o);
    } else {
        if (!tensors_only) {
            printf("%s: %s model, architecture %s\n", path,
                   qk_model_format_name(qk_model_source_format(src)), hp->arch);
            printf("  vocab %d, embd %d, ff %d, layers %d, heads %d (kv %d, dim %d), ctx %d\n",
                   hp->n_vocab, hp->n_embd, hp->n_ff, hp->n_layer, hp->n_head, hp->n_head_kv,
                   hp->head_dim, hp->n_ctx_train);
            printf("  rms_eps %g, rope_theta %g%s%s\n", (double)hp->rms_eps, (double)hp->rope_theta,
                   hp->attn_bias ? ", q/k/v biases" : "", hp->tied_output ? ", tied output" : "");
        }
        printf("%-36s %-8s %-16s %12s\n", "tensor", "type", "shape", "bytes");
        for (size_t i = 0; i < n; i++) {
            qk_model_tensor t;
            qk_model_source_tensor_info(src, i, &t);
            char shape[64];
            shape_text(&t, shape, sizeof shape);
            printf("%-36s %-8s %-16s %12zu\n", t.name, qk_type_name(t.type), shape, t.nbytes);
        }
        char size_buf[32];
        printf("%zu tensors, %llu parameters, %s, %.4f bits per weight (", n,
               (unsigned long long)params, cli_format_bytes(bytes, size_buf, sizeof size_buf), bpw);
        bool first = true;
        for (int t = 0; t < QK_TYPE_COUNT; t++)
            if (type_count[t]) {
                printf("%s%zu %s", first ? "" : ", ", type_count[t], qk_type_name((qk_type)t));
                first = false;
            }
        printf(")\n");
    }
    qk_model_source_close(src);
    return 0;
}
