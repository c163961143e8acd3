/*
** quantkit compare A B: per-tensor MSE, MAE, max error, SQNR and cosine
** between two models of any supported formats (dequantizing as needed),
** plus totals over every tensor both have. A is the reference.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"

static json_t *stats_json(const qk_error_stats *s) {
    json_t *o = json_object();
    json_object_set_new(o, "mse", json_real(s->mse));
    json_object_set_new(o, "mae", json_real(s->mae));
    json_object_set_new(o, "max_error", json_real(s->max_abs_error));
    /* JSON has no infinity: an exact match reports sqnr null */
    json_object_set_new(o, "sqnr_db", isfinite(s->sqnr_db) ? json_real(s->sqnr_db) : json_null());
    json_object_set_new(o, "cosine", json_real(s->cosine));
    return o;
}

int cmd_compare(int argc, char **argv) {
    cli_common common;
    const char *positional[2];
    int n_positional;
    if (!cli_parse("compare", argc, argv, NULL, 0, &common, positional, 2, &n_positional)) return 2;
    if (common.help) {
        cli_usage("compare", "REF_MODEL MODEL", NULL, 0);
        return 0;
    }
    if (n_positional != 2) return cli_fail("compare", "give two models: REF_MODEL MODEL");
    qk_model_source *a = NULL, *b = NULL;
    qk_status st;
    if ((st = qk_model_source_open(positional[0], NULL, &a)) != QK_OK ||
        (st = qk_model_source_open(positional[1], NULL, &b)) != QK_OK) {
        qk_model_source_close(a);
        return cli_fail_status("compare", st);
    }
    int rc = 1;
    float *xa = NULL, *xb = NULL;
    size_t cap = 0;
    qk_error_accum total;
    qk_error_accum_init(&total);
    json_t *arr = common.json ? json_array() : NULL;
    size_t compared = 0, only_a = 0;
    if (!common.json)
        printf("%-36s %-7s %-7s %12s %12s %12s %9s %10s\n", "tensor", "ref", "model", "mse", "mae",
               "max_err", "sqnr_db", "cosine");
    for (size_t i = 0; i < qk_model_source_tensor_count(a); i++) {
        qk_model_tensor ta, tb;
        if ((st = qk_model_source_tensor_info(a, i, &ta)) != QK_OK) goto fail;
        int64_t j = qk_model_source_find_tensor(b, ta.name);
        if (j < 0) {
            only_a++;
            continue;
        }
        if ((st = qk_model_source_tensor_info(b, (size_t)j, &tb)) != QK_OK) goto fail;
        int64_t na = 1, nb = 1;
        for (int32_t d = 0; d < ta.ndim; d++) na *= ta.shape[d];
        for (int32_t d = 0; d < tb.ndim; d++) nb *= tb.shape[d];
        if (na != nb) {
            rc = cli_fail("compare", "tensor '%s' has %lld elements in %s and %lld in %s", ta.name,
                          (long long)na, positional[0], (long long)nb, positional[1]);
            goto done;
        }
        if ((size_t)na > cap) {
            float *pa = realloc(xa, (size_t)na * sizeof *xa),
                  *pb = realloc(xb, (size_t)na * sizeof *xb);
            if (pa) xa = pa;
            if (pb) xb = pb;
            if (!pa || !pb) {
                rc = cli_fail("compare", "no memory for tensor '%s'", ta.name);
                goto done;
            }
            cap = (size_t)na;
        }
        if ((st = qk_model_source_read_f32(a, i, xa, na, NULL, 0)) != QK_OK ||
            (st = qk_model_source_read_f32(b, (size_t)j, xb, na, NULL, 0)) != QK_OK)
            goto fail;
        qk_error_stats s;
        if ((st = qk_error_stats_compute(xa, xb, (size_t)na, &s)) != QK_OK) goto fail;
        if ((st = qk_error_accum_add(&total, xa, xb, (size_t)na)) != QK_OK) goto fail;
        compared++;
        if (arr) {
            json_t *e = stats_json(&s);
            json_object_set_new(e, "name", json_string(ta.name));
            json_object_set_new(e, "ref_type", json_string(qk_type_name(ta.type)));
            json_object_set_new(e, "type", json_string(qk_type_name(tb.type)));
            json_object_set_new(e, "elements", json_integer(na));
            json_array_append_new(arr, e);
        } else {
            printf("%-36s %-7s %-7s %12.4e %12.4e %12.4e %9.2f %10.7f\n", ta.name,
                   qk_type_name(ta.type), qk_type_name(tb.type), s.mse, s.mae, s.max_abs_error,
                   s.sqnr_db, s.cosine);
        }
    }
    qk_error_stats tot;
    qk_error_accum_result(&total, &tot);
    if (common.json) {
        json_t *o = json_object();
        json_object_set_new(o, "ref", json_string(positional[0]));
        json_object_set_new(o, "model", json_string(positional[1]));
        json_object_set_new(o, "tensors", arr);
        json_object_set_new(o, "total", stats_json(&tot));
        json_object_set_new(o, "compared", json_integer((json_int_t)compared));
        json_object_set_new(o, "only_in_ref", json_integer((json_int_t)only_a));
        arr = NULL;
        cli_json_print(o);
    } else {
        printf("%-36s %-7s %-7s %12.4e %12.4e %12.4e %9.2f %10.7f\n", "TOTAL", "", "", tot.mse,
               tot.mae, tot.max_abs_error, tot.sqnr_db, tot.cosine);
        printf("%zu tensors compared", compared);
        if (only_a) printf(", %zu only in %s", only_a, positional[0]);
        printf("\n");
    }
    rc = 0;
    goto done;
fail:
    rc = cli_fail_status("compare", st);
done:
    json_decref(arr);
    free(xa);
    free(xb);
    qk_model_source_close(a);
    qk_model_source_close(b);
    return rc;
}
