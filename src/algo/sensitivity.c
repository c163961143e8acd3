/*
** Sensitivity of every quantizable weight to every candidate format
** (quantkit/sensitivity.h): quantize exactly as `quantkit quantize` would,
** dequantize, and measure the weight error, the importance-weighted and
** Hessian-style estimates, the output error on the calibration inputs and,
** optionally, the end-to-end KL.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "algo/sensitivity_internal.h"
#include "core/error.h"
#include "quantkit/calibrate.h"
#include "quantkit/ggml.h"
#include "quantkit/gptq.h"
#include "quantkit/io.h"
#include "quantkit/metrics.h"
#include "quantkit/quantize.h"

static const char *const proxy_names[] = {"imatrix", "hawq", "output"};
static const char *const kl_mode_names[] = {"none", "calibrate", "all"};

const char *qk_sens_proxy_name(qk_sens_proxy p) {
    return (unsigned)p < 3 ? proxy_names[p] : "?";
}

qk_status qk_sens_proxy_parse(const char *text, qk_sens_proxy *out) {
    for (int i = 0; text && i < 3; i++)
        if (strcasecmp(text, proxy_names[i]) == 0) {
            *out = (qk_sens_proxy)i;
            return QK_OK;
        }
    return qk_error_set(QK_ERR_INVALID_ARG,
                        "unknown sensitivity proxy '%s' (imatrix, hawq, output)",
                        text ? text : "(null)");
}

const char *qk_sens_kl_mode_name(qk_sens_kl_mode m) {
    return (unsigned)m < 3 ? kl_mode_names[m] : "?";
}

qk_status qk_sens_kl_mode_parse(const char *text, qk_sens_kl_mode *out) {
    for (int i = 0; text && i < 3; i++)
        if (strcasecmp(text, kl_mode_names[i]) == 0) {
            *out = (qk_sens_kl_mode)i;
            return QK_OK;
        }
    return qk_error_set(QK_ERR_INVALID_ARG, "unknown KL mode '%s' (none, calibrate, all)",
                        text ? text : "(null)");
}

void qk_sens_options_init(qk_sens_options *opt) {
    memset(opt, 0, sizeof *opt);
    const qk_type def[] = {QK_TYPE_Q2_K, QK_TYPE_Q3_K, QK_TYPE_Q4_K, QK_TYPE_Q5_K,
                           QK_TYPE_Q6_K, QK_TYPE_Q8_0, QK_TYPE_F16};
    opt->n_formats = sizeof def / sizeof def[0];
    memcpy(opt->formats, def, sizeof def);
    opt->proxy = QK_SENS_PROXY_IMATRIX;
    opt->kl_mode = QK_SENS_KL_NONE;
    opt->kl_format = QK_TYPE_Q3_K;
}

void qk_sensitivity_free(qk_sensitivity *s) {
    if (!s) return;
    free(s->tensors);
    s->tensors = NULL;
    s->n_tensors = 0;
}

const qk_sens_tensor *qk_sensitivity_find(const qk_sensitivity *s, const char *name) {
    for (size_t i = 0; s && name && i < s->n_tensors; i++)
        if (strcmp(s->tensors[i].name, name) == 0) return &s->tensors[i];
    return NULL;
}

int qk_sensitivity_format_index(const qk_sensitivity *s, qk_type type) {
    for (size_t i = 0; s && i < s->n_formats; i++)
        if (s->formats[i] == type) return (int)i;
    return -1;
}

/* ---- the weight-side numbers --------------------------------------------- */

/* Per-column (or, for token_embd, per-row) squared error sums. */
static qk_status weight_errors(const float *w, const float *wq, int64_t rows, int64_t cols,
                               const double *m, bool per_row, const double *xtx, qk_sens_entry *out,
                               double *output_power) {
    qk_error_stats es;
    qk_status st = qk_error_stats_compute(w, wq, (size_t)(rows * cols), &es);
    if (st != QK_OK) return st;
    out->mse = es.mse;
    out->sqnr_db = es.sqnr_db;
    out->cosine = es.cosine;
    const int64_t nw = per_row ? rows : cols; /* entries of m */
    double *sq = calloc((size_t)nw, sizeof *sq);
    if (!sq) return qk_error_set(QK_ERR_NOMEM, "sensitivity: no memory");
    for (int64_t i = 0; i < rows; i++) {
        const float *a = w + (size_t)i * cols, *b = wq + (size_t)i * cols;
        if (per_row) {
            double s = 0.0;
            for (int64_t j = 0; j < cols; j++) {
                const double d = (double)a[j] - (double)b[j];
                s += d * d;
            }
            sq[i] = s;
        } else {
            for (int64_t j = 0; j < cols; j++) {
                const double d = (double)a[j] - (double)b[j];
                sq[j] += d * d;
            }
        }
    }
    double total = 0.0, weighted = 0.0, trace = 0.0;
    for (int64_t j = 0; j < nw; j++) {
        const double mj = m ? m[j] : 1.0;
        total += sq[j];
        weighted += mj * sq[j];
        trace += mj;
    }
    free(sq);
    out->imatrix_err = weighted;
    out->hawq = trace / (double)nw * total;
    out->output_err = NAN;
    out->output_rel = NAN;
    if (per_row && m) {
        /* one-hot inputs: S = diag(m), exact */
        double ref = 0.0;
        for (int64_t i = 0; i < rows; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < cols; j++)
                s += (double)w[(size_t)i * cols + j] * w[(size_t)i * cols + j];
            ref += m[i] * s;
        }
        out->output_err = weighted;
        out->output_rel = ref > 0 ? weighted / ref : NAN;
        if (output_power) *output_power = ref;
    } else if (xtx) {
        double err, ref;
        float *zero = calloc((size_t)(rows * cols), sizeof *zero);
        if (!zero) return qk_error_set(QK_ERR_NOMEM, "sensitivity: no memory");
        st = qk_hessian_error(xtx, w, wq, rows, cols, &err);
        if (st == QK_OK) st = qk_hessian_error(xtx, w, zero, rows, cols, &ref);
        free(zero);
        if (st != QK_OK) return st;
        out->output_err = err;
        out->output_rel = ref > 0 ? err / ref : NAN;
        if (output_power) *output_power = ref;
    }
    return QK_OK;
}

qk_status qk_sens_weight_errors(const float *w, const float *wq, int64_t rows, int64_t cols,
                                const double *mean_x2, const double *xtx, qk_sens_entry *out,
                                double *output_power) {
    if (!w || !wq || !out || rows <= 0 || cols <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "sensitivity: bad weight-error arguments");
    if (output_power) *output_power = NAN;
    return weight_errors(w, wq, rows, cols, mean_x2, false, xtx, out, output_power);
}

/* ---- the whole model ------------------------------------------------------ */

typedef struct sens_work {
    const qk_sens_options *opt;
    qk_model_source *src;
    qk_sens_kl *kl;
    float *w, *wq, *importance;
    void *q;
    double *m, *xtx;
    size_t cap;     /* elements w / wq hold */
    size_t cap_m;   /* elements m / importance hold */
    size_t cap_xtx; /* elements xtx holds */
} sens_work;

static double proxy_value(const qk_sens_entry *e, qk_sens_proxy p) {
    switch (p) {
    case QK_SENS_PROXY_HAWQ:
        return e->hawq;
    case QK_SENS_PROXY_OUTPUT:
        return e->output_err;
    default:
        return e->imatrix_err;
    }
}

static qk_status grow(sens_work *wk, int64_t rows, int64_t cols) {
    const size_t n = (size_t)(rows * cols);
    if (n > wk->cap) {
        free(wk->w);
        free(wk->wq);
        free(wk->q);
        wk->w = malloc(n * sizeof *wk->w);
        wk->wq = malloc(n * sizeof *wk->wq);
        wk->q = malloc(n * sizeof(float)); /* every candidate takes at most 4 bytes a weight */
        wk->cap = n;
        if (!wk->w || !wk->wq || !wk->q) {
            wk->cap = 0;
            return qk_error_set(QK_ERR_NOMEM, "sensitivity: no memory for a %zu-value tensor", n);
        }
    }
    const size_t need = (size_t)(rows > cols ? rows : cols);
    if (need > wk->cap_m) {
        free(wk->importance);
        free(wk->m);
        wk->importance = malloc(need * sizeof *wk->importance);
        wk->m = malloc(need * sizeof *wk->m);
        wk->cap_m = need;
        if (!wk->importance || !wk->m) {
            wk->cap_m = 0;
            return qk_error_set(QK_ERR_NOMEM, "sensitivity: no memory for statistics");
        }
    }
    const size_t nx = (size_t)cols * (size_t)cols;
    if (wk->opt->stats && nx > wk->cap_xtx) {
        free(wk->xtx);
        wk->xtx = malloc(nx * sizeof *wk->xtx);
        wk->cap_xtx = nx;
        if (!wk->xtx) {
            wk->cap_xtx = 0;
            return qk_error_set(QK_ERR_NOMEM, "sensitivity: no memory for a %lld^2 X^T X",
                                (long long)cols);
        }
    }
    return QK_OK;
}

/* The statistics of tensor `name`: m (mean x^2 per input), S (X^T X / n)
** when captured, the quantizer's importance, and whether m is per row. */
static qk_status tensor_stats(sens_work *wk, const char *name, int64_t rows, int64_t cols,
                              bool embd, qk_sens_tensor *t, bool *per_row, bool *have_m,
                              bool *have_xtx) {
    const qk_sens_options *o = wk->opt;
    *per_row = false;
    *have_m = false;
    *have_xtx = false;
    t->has_importance = false;
    if (embd) {
        *per_row = true;
        *have_m = true;
        int64_t total = 0;
        for (int64_t v = 0; o->token_counts && v < rows && v < o->n_token_counts; v++)
            total += o->token_counts[v];
        for (int64_t v = 0; v < rows; v++) {
            const int64_t c = o->token_counts && v < o->n_token_counts ? o->token_counts[v] : 0;
            wk->m[v] = total > 0 ? (double)c / (double)total : 1.0 / (double)rows;
        }
        return QK_OK;
    }
    if (!o->stats) return QK_OK;
    /* a tied token_embd is the output projection: the output's input
    ** statistics apply (quantize gives it no importance, and neither do we) */
    const bool tied_embd = strcmp(name, "token_embd.weight") == 0;
    qk_calib_input in;
    if (qk_calib_stats_get_by_name(o->stats, tied_embd ? "output.weight" : name, &in) != QK_OK ||
        in.n_cols != cols || in.n_rows <= 0) {
        qk_clear_error();
        return QK_OK;
    }
    const double n = (double)in.n_rows;
    for (int64_t j = 0; j < cols; j++) wk->m[j] = in.sum_x2[j] / n;
    *have_m = true;
    if (in.xtx) {
        for (int64_t i = 0; i < cols * cols; i++) wk->xtx[i] = in.xtx[i] / n;
        *have_xtx = true;
    }
    if (!tied_embd && qk_calib_stats_importance(o->stats, name, wk->importance, cols) == QK_OK)
        t->has_importance = true;
    else
        qk_clear_error();
    return QK_OK;
}

static qk_status dequantize_rows(qk_type type, const void *q, float *y, int64_t rows,
                                 int64_t cols) {
    size_t rb;
    qk_status st = qk_type_row_bytes(type, cols, &rb);
    if (st != QK_OK) return st;
    if (type == QK_TYPE_F32) {
        memcpy(y, q, (size_t)(rows * cols) * sizeof *y);
        return QK_OK;
    }
    for (int64_t r = 0; r < rows; r++) {
        st = qk_dequantize_row(type, (const unsigned char *)q + (size_t)r * rb,
                               y + (size_t)r * cols, cols);
        if (st != QK_OK) return st;
    }
    return QK_OK;
}

static qk_status quantize_rows(qk_type type, const float *w, void *q, int64_t rows, int64_t cols,
                               const float *importance) {
    if (type == QK_TYPE_F32) {
        memcpy(q, w, (size_t)(rows * cols) * sizeof *w);
        return QK_OK;
    }
    return qk_quantize_rows(type, w, q, rows, cols,
                            importance && qk_type_uses_importance(type) ? importance : NULL);
}

/* Does format f get a KL measurement for this tensor? */
static bool measure_kl(const qk_sens_options *o, const qk_sens_tensor *t, size_t f, size_t cal) {
    if (o->kl_mode == QK_SENS_KL_ALL) return t->entries[f].available;
    if (o->kl_mode == QK_SENS_KL_CALIBRATE) return f == cal;
    return false;
}

/* The format KL calibration uses for this tensor: kl_format when it fits,
** else the available format with the fewest bits. */
static size_t calibration_format(const qk_sensitivity *s, const qk_sens_tensor *t, qk_type want) {
    size_t best = s->n_formats;
    for (size_t f = 0; f < s->n_formats; f++) {
        if (!t->entries[f].available) continue;
        if (s->formats[f] == want) return f;
        if (best == s->n_formats ||
            qk_type_bits_per_weight(s->formats[f]) < qk_type_bits_per_weight(s->formats[best]))
            best = f;
    }
    return best;
}

static qk_status one_tensor(sens_work *wk, qk_sensitivity *s, size_t index, qk_sens_tensor *t,
                            bool embd) {
    const qk_sens_options *o = wk->opt;
    const int64_t rows = t->rows, cols = t->cols;
    qk_status st = grow(wk, rows, cols);
    if (st != QK_OK) return st;
    if ((st = qk_model_source_read_f32(wk->src, index, wk->w, rows * cols, NULL, 0)) != QK_OK)
        return st;
    bool per_row, have_m, have_xtx;
    if ((st = tensor_stats(wk, t->name, rows, cols, embd, t, &per_row, &have_m, &have_xtx)) !=
        QK_OK)
        return st;
    t->has_xtx = have_xtx || (per_row && have_m);
    t->input_power = 0.0;
    for (int64_t j = 0; j < (per_row ? rows : cols); j++) t->input_power += have_m ? wk->m[j] : 1.0;
    t->output_power = NAN;
    for (size_t f = 0; f < s->n_formats; f++) {
        qk_sens_entry *e = &t->entries[f];
        const qk_type type = s->formats[f];
        const qk_type_traits *tr = qk_type_get_traits(type);
        e->type = type;
        e->available = tr && cols % tr->block_elems == 0;
        e->mse = e->sqnr_db = e->cosine = e->imatrix_err = e->hawq = NAN;
        e->output_err = e->output_rel = e->kl = e->predicted = NAN;
        e->bytes = 0;
        if (!e->available) continue;
        size_t bytes;
        if ((st = qk_type_row_bytes(type, rows * cols, &bytes)) != QK_OK) return st;
        e->bytes = bytes;
    }
    const size_t cal = calibration_format(s, t, o->kl_format);
    if (cal == s->n_formats)
        return qk_error_set(QK_ERR_SHAPE,
                            "sensitivity: tensor '%s': no candidate format holds rows of %lld",
                            t->name, (long long)cols);
    for (size_t f = 0; f < s->n_formats; f++) {
        qk_sens_entry *e = &t->entries[f];
        if (!e->available) continue;
        const float *imp = t->has_importance ? wk->importance : NULL;
        if ((st = quantize_rows(e->type, wk->w, wk->q, rows, cols, imp)) != QK_OK ||
            (st = dequantize_rows(e->type, wk->q, wk->wq, rows, cols)) != QK_OK)
            return qk_error_prefix("sensitivity: tensor '%s' as %s", t->name,
                                   qk_type_name(e->type));
        double power = NAN;
        st = weight_errors(wk->w, wk->wq, rows, cols, have_m ? wk->m : NULL, per_row,
                           have_xtx ? wk->xtx : NULL, e, &power);
        if (st != QK_OK) return qk_error_prefix("sensitivity: tensor '%s'", t->name);
        if (!isnan(power)) t->output_power = power;
        if (measure_kl(o, t, f, cal)) {
            const double t0 = qk_time_seconds();
            st = qk_sens_kl_measure(wk->kl, t->name, wk->wq, rows, cols, &e->kl);
            s->kl_seconds += qk_time_seconds() - t0;
            if (st != QK_OK) return st;
        }
    }
    /* predicted losses */
    t->gain = 1.0;
    if (o->kl_mode == QK_SENS_KL_CALIBRATE) {
        const double p = proxy_value(&t->entries[cal], o->proxy);
        t->gain = p > 0 && isfinite(p) ? t->entries[cal].kl / p : 0.0;
    }
    for (size_t f = 0; f < s->n_formats; f++) {
        qk_sens_entry *e = &t->entries[f];
        if (!e->available) continue;
        if (o->kl_mode == QK_SENS_KL_ALL) {
            e->predicted = e->kl;
        } else {
            const double p = proxy_value(e, o->proxy);
            if (isnan(p))
                return qk_error_set(QK_ERR_INVALID_ARG,
                                    "sensitivity: proxy '%s' needs X^T X statistics, which tensor "
                                    "'%s' has none of (calibrate with X^T X)",
                                    qk_sens_proxy_name(o->proxy), t->name);
            e->predicted = t->gain * p;
        }
    }
    return QK_OK;
}

static bool is_quantized(const qk_quantize_tensor_info *ti) {
    return ti->ndim == 2 && ti->reason != QK_MIX_KEEP;
}

static qk_status run(const char *model_path, const qk_sens_options *o, qk_sensitivity *s,
                     sens_work *wk) {
    qk_quantize_options qdefault;
    const qk_quantize_options *qopt = o->quantize;
    if (!qopt) {
        qk_type_request req;
        qk_status st = qk_type_request_parse("q8_0", &req);
        if (st != QK_OK) return st;
        qk_quantize_options_init(&qdefault, &req);
        qopt = &qdefault;
    }
    qk_quantize_report plan;
    qk_status st = qk_quantize_plan(model_path, qopt, &plan);
    if (st != QK_OK) return st;
    size_t n = 0;
    for (size_t i = 0; i < plan.n_tensors; i++) n += is_quantized(&plan.tensors[i]);
    s->tensors = calloc(n ? n : 1, sizeof *s->tensors);
    if (!s->tensors) st = qk_error_set(QK_ERR_NOMEM, "sensitivity: no memory");
    if (st == QK_OK) st = qk_model_source_open(model_path, NULL, &wk->src);
    if (st == QK_OK && o->kl_mode != QK_SENS_KL_NONE) {
        const double t0 = qk_time_seconds();
        st = qk_sens_kl_create(model_path, o->kl_tokens, o->kl_chunks, o->kl_chunk_len, &wk->kl);
        s->kl_seconds += qk_time_seconds() - t0;
    }
    const bool tied = st == QK_OK && qk_model_source_hparams(wk->src)->tied_output;
    for (size_t i = 0; i < plan.n_tensors && st == QK_OK; i++) {
        const qk_quantize_tensor_info *ti = &plan.tensors[i];
        if (!is_quantized(ti)) continue;
        qk_sens_tensor *t = &s->tensors[s->n_tensors++];
        strcpy(t->name, ti->name);
        t->rows = ti->shape[0];
        t->cols = ti->shape[1];
        t->stored = ti->from;
        t->layer = -1;
        if (sscanf(ti->name, "blk.%d.", &t->layer) != 1) t->layer = -1;
        /* a tied token_embd serves as the output projection: its input is
        ** the output's (the calibration statistics have it) */
        const bool embd = strcmp(ti->name, "token_embd.weight") == 0 && !tied;
        st = one_tensor(wk, s, ti->source_index, t, embd);
        if (o->progress && st == QK_OK) o->progress(o->progress_user, s->n_tensors, n, t->name);
    }
    qk_quantize_report_free(&plan);
    return st;
}

qk_status qk_sensitivity_compute(const char *model_path, const qk_sens_options *opt,
                                 qk_sensitivity *out) {
    if (!model_path || !opt || !out)
        return qk_error_set(QK_ERR_INVALID_ARG, "sensitivity: NULL argument");
    memset(out, 0, sizeof *out);
    if (opt->n_formats == 0 || opt->n_formats > QK_SENS_MAX_FORMATS)
        return qk_error_set(QK_ERR_INVALID_ARG, "sensitivity: %zu candidate formats (1..%d)",
                            opt->n_formats, QK_SENS_MAX_FORMATS);
    for (size_t f = 0; f < opt->n_formats; f++) {
        const qk_type_traits *tr = qk_type_get_traits(opt->formats[f]);
        if (!tr ||
            !(tr->is_block || opt->formats[f] == QK_TYPE_F16 || opt->formats[f] == QK_TYPE_BF16 ||
              opt->formats[f] == QK_TYPE_F32) ||
            opt->formats[f] == QK_TYPE_Q8_1 || opt->formats[f] == QK_TYPE_Q8_K)
            return qk_error_set(QK_ERR_UNSUPPORTED,
                                "sensitivity: %s is not a weight storage format",
                                qk_type_name(opt->formats[f]));
        for (size_t g = 0; g < f; g++)
            if (opt->formats[g] == opt->formats[f])
                return qk_error_set(QK_ERR_INVALID_ARG, "sensitivity: format %s listed twice",
                                    qk_type_name(opt->formats[f]));
    }
    if ((unsigned)opt->proxy > QK_SENS_PROXY_OUTPUT || (unsigned)opt->kl_mode > QK_SENS_KL_ALL)
        return qk_error_set(QK_ERR_INVALID_ARG, "sensitivity: unknown proxy or KL mode");
    const double t0 = qk_time_seconds();
    out->n_formats = opt->n_formats;
    memcpy(out->formats, opt->formats, opt->n_formats * sizeof *opt->formats);
    out->proxy = opt->proxy;
    out->kl_mode = opt->kl_mode;
    out->kl_format = opt->kl_format;
    if (opt->kl_mode != QK_SENS_KL_NONE) {
        out->kl_chunks = opt->kl_chunks;
        out->kl_chunk_len = opt->kl_chunk_len;
    }
    sens_work wk = {.opt = opt};
    qk_status st = run(model_path, opt, out, &wk);
    qk_sens_kl_free(wk.kl);
    qk_model_source_close(wk.src);
    free(wk.w);
    free(wk.wq);
    free(wk.q);
    free(wk.importance);
    free(wk.m);
    free(wk.xtx);
    out->seconds = qk_time_seconds() - t0;
    if (st != QK_OK) qk_sensitivity_free(out);
    return st;
}
