/*
** quantkit report, the numbers: per-tensor error statistics of QUANT against
** REF (metrics.h, as `quantkit compare`), outliers of REF's values, the
** choice of tensors to show in detail, their histograms, and the
** outlier-impact comparison (RTN affine quantization from quant.h with and
** without clipping, percentile ranges from calib.h, error split by the
** outlier mask from metrics.h).
*/
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

static const char *CMD = "report";

static int64_t numel_of(int32_t ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int32_t d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

/* "q4_k 36, q6_k 5, f32 13": types in order of first appearance. */
static void type_mix(const qk_model_source *src, char *out, size_t size) {
    size_t counts[QK_TYPE_COUNT] = {0};
    qk_type order[QK_TYPE_COUNT];
    int n_order = 0;
    for (size_t i = 0; i < qk_model_source_tensor_count(src); i++) {
        qk_model_tensor t;
        if (qk_model_source_tensor_info(src, i, &t) != QK_OK) continue;
        if ((int)t.type < 0 || t.type >= QK_TYPE_COUNT) continue;
        if (counts[t.type]++ == 0) order[n_order++] = t.type;
    }
    out[0] = '\0';
    size_t used = 0;
    for (int k = 0; k < n_order && used < size; k++) {
        int w = snprintf(out + used, size - used, "%s%s %zu", k ? ", " : "", qk_type_name(order[k]),
                         counts[order[k]]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

static bool model_info(const qk_model_source *src, const char *path, rp_model_info *m) {
    memset(m, 0, sizeof *m);
    m->path = path;
    m->format = qk_model_format_name(qk_model_source_format(src));
    m->hparams = *qk_model_source_hparams(src);
    m->n_tensors = qk_model_source_tensor_count(src);
    for (size_t i = 0; i < m->n_tensors; i++) {
        qk_model_tensor t;
        qk_status st = qk_model_source_tensor_info(src, i, &t);
        if (st != QK_OK) return cli_fail_status(CMD, st), false;
        m->params += (uint64_t)numel_of(t.ndim, t.shape);
        m->bytes += t.nbytes;
    }
    m->bpw = m->params ? 8.0 * (double)m->bytes / (double)m->params : 0.0;
    type_mix(src, m->type_mix, sizeof m->type_mix);
    return true;
}

/* Grow a float buffer to n elements. */
static bool reserve(float **buf, size_t *cap, size_t n, const char *what) {
    if (n <= *cap) return true;
    float *p = realloc(*buf, n * sizeof *p);
    if (!p) return cli_fail(CMD, "no memory for tensor '%s' (%zu values)", what, n), false;
    *buf = p;
    *cap = n;
    return true;
}

static bool add_row(rp_report *r, size_t *cap, const qk_model_tensor *t) {
    if (r->n_rows == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        rp_tensor_row *p = realloc(r->rows, nc * sizeof *p);
        if (!p) return cli_fail(CMD, "no memory for the tensor table"), false;
        r->rows = p;
        *cap = nc;
    }
    rp_tensor_row *row = &r->rows[r->n_rows];
    memset(row, 0, sizeof *row);
    row->name = strdup(t->name);
    if (!row->name) return cli_fail(CMD, "no memory for the tensor table"), false;
    row->ndim = t->ndim;
    memcpy(row->shape, t->shape, sizeof row->shape);
    row->numel = numel_of(t->ndim, t->shape);
    row->detail = -1;
    r->n_rows++;
    return true;
}

bool rp_compare_models(const qk_model_source *ref, const qk_model_source *quant,
                       const char *ref_path, const char *quant_path, rp_report *r,
                       rp_progress_fn progress, void *progress_user) {
    if (!model_info(ref, ref_path, &r->ref) || !model_info(quant, quant_path, &r->quant))
        return false;
    size_t cap = 0;
    qk_status st;
    /* the rows: REF's tensors in order, then QUANT's own */
    for (size_t i = 0; i < r->ref.n_tensors; i++) {
        qk_model_tensor t;
        if ((st = qk_model_source_tensor_info(ref, i, &t)) != QK_OK)
            return cli_fail_status(CMD, st), false;
        if (!add_row(r, &cap, &t)) return false;
        rp_tensor_row *row = &r->rows[r->n_rows - 1];
        row->in_ref = true;
        row->ref_index = i;
        row->ref_type = t.type;
        row->ref_bytes = t.nbytes;
        int64_t j = qk_model_source_find_tensor(quant, t.name);
        if (j >= 0) {
            qk_model_tensor q;
            if ((st = qk_model_source_tensor_info(quant, (size_t)j, &q)) != QK_OK)
                return cli_fail_status(CMD, st), false;
            row->in_quant = true;
            row->quant_index = (size_t)j;
            row->quant_type = q.type;
            row->quant_bytes = q.nbytes;
            row->bpw = row->numel ? 8.0 * (double)q.nbytes / (double)row->numel : 0.0;
            row->compared = numel_of(q.ndim, q.shape) == row->numel;
        }
    }
    for (size_t j = 0; j < r->quant.n_tensors; j++) {
        qk_model_tensor q;
        if ((st = qk_model_source_tensor_info(quant, j, &q)) != QK_OK)
            return cli_fail_status(CMD, st), false;
        if (qk_model_source_find_tensor(ref, q.name) >= 0) continue;
        if (!add_row(r, &cap, &q)) return false;
        rp_tensor_row *row = &r->rows[r->n_rows - 1];
        row->in_quant = true;
        row->quant_index = j;
        row->quant_type = q.type;
        row->quant_bytes = q.nbytes;
        row->bpw = row->numel ? 8.0 * (double)q.nbytes / (double)row->numel : 0.0;
    }

    /* the numbers, one tensor at a time */
    float *x = NULL, *y = NULL;
    size_t cap_x = 0, cap_y = 0;
    qk_error_accum total;
    qk_error_accum_init(&total);
    bool ok = false;
    for (size_t k = 0; k < r->n_rows; k++) {
        rp_tensor_row *row = &r->rows[k];
        if (row->in_ref) {
            if (!reserve(&x, &cap_x, (size_t)row->numel, row->name)) goto done;
            if ((st = qk_model_source_read_f32(ref, row->ref_index, x, row->numel, NULL, 0)) !=
                    QK_OK ||
                (st = qk_outliers_find(x, (size_t)row->numel, r->settings.outlier_k, &row->outl,
                                       NULL, 0)) != QK_OK) {
                cli_fail_status(CMD, st);
                goto done;
            }
        }
        if (row->compared) {
            if (!reserve(&y, &cap_y, (size_t)row->numel, row->name)) goto done;
            if ((st = qk_model_source_read_f32(quant, row->quant_index, y, row->numel, NULL, 0)) !=
                    QK_OK ||
                (st = qk_error_stats_compute(x, y, (size_t)row->numel, &row->err)) != QK_OK ||
                (st = qk_error_accum_add(&total, x, y, (size_t)row->numel)) != QK_OK) {
                cli_fail_status(CMD, st);
                goto done;
            }
            r->n_compared++;
        }
        if (progress) progress(progress_user, k + 1, r->n_rows);
    }
    qk_error_accum_result(&total, &r->total);
    ok = true;
done:
    free(x);
    free(y);
    return ok;
}

/* ---- choosing the tensors shown in detail */

static bool add_detail(rp_report *r, size_t row) {
    if (r->rows[row].detail >= 0 || !r->rows[row].in_ref) return true;
    rp_detail *p = realloc(r->details, (r->n_details + 1) * sizeof *p);
    if (!p) return cli_fail(CMD, "no memory for the tensor details"), false;
    r->details = p;
    memset(&p[r->n_details], 0, sizeof p[r->n_details]);
    p[r->n_details].row = row;
    r->rows[row].detail = (int32_t)r->n_details;
    r->n_details++;
    return true;
}

bool rp_choose_tensors(rp_report *r) {
    if (r->settings.tensors_regex) {
        regex_t re;
        int rc = regcomp(&re, r->settings.tensors_regex, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[256];
            regerror(rc, &re, msg, sizeof msg);
            return cli_fail(CMD, "--tensors '%s': %s", r->settings.tensors_regex, msg), false;
        }
        bool ok = true;
        for (size_t k = 0; k < r->n_rows && ok; k++)
            if (regexec(&re, r->rows[k].name, 0, NULL, 0) == 0) ok = add_detail(r, k);
        regfree(&re);
        if (ok && r->n_details == 0)
            return cli_fail(CMD, "--tensors '%s' matches no tensor of %s",
                            r->settings.tensors_regex, r->ref.path),
                   false;
        return ok;
    }
    /* the n_worst lowest finite SQNRs among compared tensors, worst first */
    for (int32_t w = 0; w < r->settings.n_worst; w++) {
        size_t best = SIZE_MAX;
        for (size_t k = 0; k < r->n_rows; k++) {
            const rp_tensor_row *row = &r->rows[k];
            if (!row->compared || row->detail >= 0 || !isfinite(row->err.sqnr_db)) continue;
            if (best == SIZE_MAX || row->err.sqnr_db < r->rows[best].err.sqnr_db) best = k;
        }
        if (best == SIZE_MAX) break;
        if (!add_detail(r, best)) return false;
    }
    static const char *const always[] = {"token_embd.weight", "output.weight"};
    for (size_t a = 0; a < 2; a++)
        for (size_t k = 0; k < r->n_rows; k++)
            if (strcmp(r->rows[k].name, always[a]) == 0 && !add_detail(r, k)) return false;
    return true;
}

/* ---- histograms */

static bool hist_init(rp_hist *h, double lo, double hi, int32_t bins) {
    if (!(hi > lo)) {
        /* a constant tensor: one value in the middle of a small range */
        double w = fabs(lo) > 0 ? fabs(lo) * 1e-3 : 1e-6;
        lo -= w;
        hi += w;
    }
    h->lo = lo;
    h->hi = hi;
    h->bins = bins;
    h->counts = calloc((size_t)bins, sizeof *h->counts);
    if (!h->counts) return cli_fail(CMD, "no memory for a histogram"), false;
    return true;
}

static void hist_add(rp_hist *h, const float *v, size_t n, const float *minus) {
    const double scale = (double)h->bins / (h->hi - h->lo);
    for (size_t i = 0; i < n; i++) {
        double x = minus ? (double)v[i] - (double)minus[i] : (double)v[i];
        double b = floor((x - h->lo) * scale);
        int32_t k = b < 0 ? 0 : b >= h->bins ? h->bins - 1 : (int32_t)b;
        h->counts[k] += 1.0;
    }
}

static void min_max(const float *v, size_t n, double *lo, double *hi) {
    double a = n ? v[0] : 0, b = n ? v[0] : 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i] < a) a = v[i];
        if (v[i] > b) b = v[i];
    }
    *lo = a;
    *hi = b;
}

/* ---- outlier-impact comparison */

typedef struct method_ctx {
    const float *x;      /* REF's values */
    const float *y_base; /* the per-tensor min-max RTN (the baseline of the split) */
    size_t n;
    double k;
} method_ctx;

static bool method_fill(const method_ctx *c, int32_t kind, const float *y, const char *name,
                        double bpw, rp_method *m) {
    qk_outlier_clip_report rep;
    qk_status st = qk_outlier_clip_compare(c->x, c->y_base, y, c->n, c->k, &rep);
    if (st != QK_OK) return cli_fail_status(CMD, st), false;
    m->kind = kind;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->bpw = bpw;
    m->err = rep.clipped;
    m->inlier_mse = rep.clipped_inlier_mse;
    m->outlier_mse = rep.clipped_outlier_mse;
    return true;
}

/* Quantize-dequantize `in` (the tensor's shape) with `scheme` into out. */
static qk_status rtn(const float *in, const rp_tensor_row *row, const qk_affine_scheme *scheme,
                     float *out) {
    qk_tensor_view v;
    qk_status st = qk_tensor_view_init(&v, QK_TYPE_F32, row->ndim, row->shape, (void *)in);
    if (st != QK_OK) return st;
    qk_affine_tensor q;
    if ((st = qk_affine_quantize(&v, scheme, &q)) != QK_OK) return st;
    st = qk_affine_dequantize(&q, out, (size_t)row->numel);
    qk_affine_tensor_free(&q);
    return st;
}

static bool outlier_methods(const rp_report *r, const rp_tensor_row *row, const float *x,
                            const float *y_quant, rp_detail *d) {
    const size_t n = (size_t)row->numel;
    const int32_t bits = r->settings.clip_bits;
    float *base = malloc(n * sizeof *base), *y = malloc(n * sizeof *y),
          *clipped = malloc(n * sizeof *clipped);
    qk_observer *obs = NULL;
    bool ok = false;
    qk_status st = QK_OK;
    if (!base || !y || !clipped) {
        cli_fail(CMD, "no memory for the outlier comparison of '%s'", row->name);
        goto done;
    }
    qk_affine_scheme per_tensor = qk_affine_scheme_default(bits, false);
    double bpw_tensor, bpw_channel;
    if ((st = rtn(x, row, &per_tensor, base)) != QK_OK ||
        (st = qk_affine_bits_per_weight(&per_tensor, row->ndim, row->shape, &bpw_tensor)) != QK_OK)
        goto fail;
    method_ctx c = {.x = x, .y_base = base, .n = n, .k = r->settings.outlier_k};
    char name[64];
    int32_t m = 0;
    if (y_quant) {
        snprintf(name, sizeof name, "%s as stored in QUANT", qk_type_name(row->quant_type));
        if (!method_fill(&c, RP_METHOD_STORED, y_quant, name, row->bpw, &d->methods[m++]))
            goto done;
    }
    snprintf(name, sizeof name, "int%d per tensor, min-max (no clipping)", bits);
    if (!method_fill(&c, RP_METHOD_MINMAX, base, name, bpw_tensor, &d->methods[m++])) goto done;

    /* two-sided percentile range from the percentile observer */
    qk_observer_config cfg;
    qk_observer_config_default(&cfg, QK_OBSERVER_PERCENTILE);
    cfg.percentile = r->settings.clip_percentile;
    qk_observer_target target = {.bits = bits, .range = QK_QRANGE_UNSIGNED, .symmetric = false};
    float lo, hi;
    if ((st = qk_observer_create(&cfg, &obs)) != QK_OK ||
        (st = qk_observer_observe_f32(obs, x, n)) != QK_OK ||
        (st = qk_observer_range(obs, &target, &lo, &hi, 1)) != QK_OK)
        goto fail;
    qk_affine_scheme pct = per_tensor;
    pct.range_mode = QK_RANGE_FIXED;
    pct.clip_min = lo;
    pct.clip_max = hi;
    if ((st = rtn(x, row, &pct, y)) != QK_OK) goto fail;
    snprintf(name, sizeof name, "int%d per tensor, percentile %g clipping", bits,
             r->settings.clip_percentile);
    if (!method_fill(&c, RP_METHOD_PERCENTILE, y, name, bpw_tensor, &d->methods[m++])) goto done;

    /* outliers clipped to mean +- k std before the min-max range */
    qk_outlier_stats os;
    if ((st = qk_outliers_clip(x, clipped, n, r->settings.outlier_k, &os)) != QK_OK ||
        (st = rtn(clipped, row, &per_tensor, y)) != QK_OK)
        goto fail;
    snprintf(name, sizeof name, "int%d per tensor, clipped at mean \xc2\xb1 %g std", bits,
             r->settings.outlier_k);
    if (!method_fill(&c, RP_METHOD_KSIGMA, y, name, bpw_tensor, &d->methods[m++])) goto done;

    /* one scale per output channel (row) */
    qk_affine_scheme per_channel = per_tensor;
    per_channel.granularity = QK_GRAN_CHANNEL;
    per_channel.axis = 0;
    if ((st = rtn(x, row, &per_channel, y)) != QK_OK ||
        (st = qk_affine_bits_per_weight(&per_channel, row->ndim, row->shape, &bpw_channel)) !=
            QK_OK)
        goto fail;
    snprintf(name, sizeof name, "int%d per channel (rows), min-max", bits);
    if (!method_fill(&c, RP_METHOD_CHANNEL, y, name, bpw_channel, &d->methods[m++])) goto done;
    d->n_methods = m;
    ok = true;
    goto done;
fail:
    cli_fail(CMD, "outlier comparison of '%s': %s", row->name,
             *qk_last_error() ? qk_last_error() : qk_status_str(st));
done:
    qk_observer_free(obs);
    free(base);
    free(y);
    free(clipped);
    return ok;
}

bool rp_compute_details(const qk_model_source *ref, const qk_model_source *quant, rp_report *r) {
    float *x = NULL, *y = NULL;
    size_t cap_x = 0, cap_y = 0;
    bool ok = false;
    qk_status st;
    for (size_t di = 0; di < r->n_details; di++) {
        rp_detail *d = &r->details[di];
        const rp_tensor_row *row = &r->rows[d->row];
        const size_t n = (size_t)row->numel;
        if (!reserve(&x, &cap_x, n, row->name)) goto done;
        if ((st = qk_model_source_read_f32(ref, row->ref_index, x, row->numel, NULL, 0)) != QK_OK) {
            cli_fail_status(CMD, st);
            goto done;
        }
        double lo, hi;
        min_max(x, n, &lo, &hi);
        if (row->compared) {
            if (!reserve(&y, &cap_y, n, row->name)) goto done;
            if ((st = qk_model_source_read_f32(quant, row->quant_index, y, row->numel, NULL, 0)) !=
                QK_OK) {
                cli_fail_status(CMD, st);
                goto done;
            }
            double lo2, hi2;
            min_max(y, n, &lo2, &hi2);
            lo = fmin(lo, lo2);
            hi = fmax(hi, hi2);
        }
        if (!hist_init(&d->orig, lo, hi, r->settings.hist_bins)) goto done;
        hist_add(&d->orig, x, n, NULL);
        if (row->compared) {
            if (!hist_init(&d->deq, lo, hi, r->settings.hist_bins)) goto done;
            hist_add(&d->deq, y, n, NULL);
            const double m = row->err.max_abs_error;
            if (!hist_init(&d->err, -m, m, r->settings.hist_bins)) goto done;
            hist_add(&d->err, y, n, x);
        }
        if (row->ndim == 2 && row->numel > 0 &&
            !outlier_methods(r, row, x, row->compared ? y : NULL, d))
            goto done;
    }
    ok = true;
done:
    free(x);
    free(y);
    return ok;
}

static void figure_free(rp_figure *f) {
    free(f->svg);
    free(f->png);
    f->svg = NULL;
    f->png = NULL;
}

void rp_report_free(rp_report *r) {
    for (size_t k = 0; k < r->n_rows; k++) free(r->rows[k].name);
    free(r->rows);
    for (size_t d = 0; d < r->n_details; d++) {
        free(r->details[d].orig.counts);
        free(r->details[d].deq.counts);
        free(r->details[d].err.counts);
        if (r->fig_hist) figure_free(&r->fig_hist[d]);
    }
    free(r->details);
    free(r->fig_hist);
    figure_free(&r->fig_sqnr);
    figure_free(&r->fig_outliers);
    rp_sens_free(&r->sens);
    memset(r, 0, sizeof *r);
}

void rp_safe_name(const char *name, char *out, size_t size) {
    size_t k = 0;
    for (; name[k] && k + 1 < size; k++) {
        char c = name[k];
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '-';
        out[k] = keep ? c : '_';
    }
    if (size) out[k < size ? k : size - 1] = '\0';
}
