/*
** quantkit report, sensitivity and allocation: every quantizable 2-D weight
** of REF in every candidate format (quantkit/sensitivity.h: weight SQNR,
** output error on calibration activations, HAWQ Hessian estimate, the
** allocator's predicted loss), ranked by the predicted loss in one format,
** and the mixed-precision allocation (quantkit/mixed.h) for a byte budget
** (--budget, by default QUANT's file size), next to QUANT's own formats.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "report.h"

static const char *CMD = "report";

static bool has_format(const qk_sens_options *o, qk_type t) {
    for (size_t f = 0; f < o->n_formats; f++)
        if (o->formats[f] == t) return true;
    return false;
}

/* A type the sensitivity can take as a candidate (a weight storage format). */
static bool candidate_type(qk_type t) {
    const qk_type_traits *tr = qk_type_get_traits(t);
    if (!tr) return false;
    if (t == QK_TYPE_Q8_1 || t == QK_TYPE_Q8_K) return false;
    return tr->is_block || t == QK_TYPE_F16 || t == QK_TYPE_BF16;
}

/* The report row of tensor `name`, or NULL. */
static const rp_tensor_row *row_of(const rp_report *r, const char *name) {
    for (size_t k = 0; k < r->n_rows; k++)
        if (strcmp(r->rows[k].name, name) == 0) return &r->rows[k];
    return NULL;
}

/* QUANT's type for a sensitivity tensor, or -1 when QUANT lacks it. */
static int quant_type_of(const rp_report *r, const char *name) {
    const rp_tensor_row *row = row_of(r, name);
    return row && row->in_quant ? (int)row->quant_type : -1;
}

static const rp_report *g_rank_report; /* qsort has no user pointer */
static int g_rank_format;

static int cmp_rank(const void *a, const void *b) {
    const qk_sens_tensor *ta = &g_rank_report->sens.s.tensors[*(const size_t *)a];
    const qk_sens_tensor *tb = &g_rank_report->sens.s.tensors[*(const size_t *)b];
    const double pa = ta->entries[g_rank_format].predicted;
    const double pb = tb->entries[g_rank_format].predicted;
    const bool fa = isfinite(pa), fb = isfinite(pb);
    if (fa != fb) return fa ? -1 : 1; /* not available in the format: last */
    if (fa && pa != pb) return pa > pb ? -1 : 1;
    const size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    return ia < ib ? -1 : ia > ib;
}

/* The format the ranking uses: QUANT's most frequent type among the
** sensitivity's tensors when it is a candidate, else q4_k, else the first. */
static int rank_format(const rp_report *r) {
    const qk_sensitivity *s = &r->sens.s;
    size_t counts[QK_SENS_MAX_FORMATS] = {0};
    for (size_t i = 0; i < s->n_tensors; i++) {
        int t = quant_type_of(r, s->tensors[i].name);
        int f = t >= 0 ? qk_sensitivity_format_index(s, (qk_type)t) : -1;
        if (f >= 0) counts[f]++;
    }
    int best = -1;
    for (size_t f = 0; f < s->n_formats; f++)
        if (counts[f] > 0 && (best < 0 || counts[f] > counts[best])) best = (int)f;
    if (best < 0) best = qk_sensitivity_format_index(s, QK_TYPE_Q4_K);
    return best < 0 ? 0 : best;
}

static void on_sens(void *user, size_t done, size_t total, const char *name) {
    (void)total;
    (void)name;
    cli_progress_update(user, done);
}

bool rp_compute_sensitivity(rp_report *r, const rp_sens_request *req) {
    rp_sens *sn = &r->sens;
    qk_calib_stats *stats = NULL;
    qk_status st;
    bool ok = false;
    sn->calib_path = req->calib_path;
    if (req->calib_path && (st = qk_calib_stats_load(req->calib_path, &stats)) != QK_OK)
        return cli_fail_status(CMD, st), false;

    qk_type_request treq;
    if ((st = qk_type_request_parse("q4_k_m", &treq)) != QK_OK) {
        cli_fail_status(CMD, st);
        goto done;
    }
    qk_quantize_options qopt;
    qk_quantize_options_init(&qopt, &treq);
    qopt.allow_requantize = true;
    qopt.tokenizer_path = req->tokenizer_path;
    qopt.importance = stats;

    qk_sens_options so;
    qk_sens_options_init(&so);
    if (req->n_formats > 0) {
        if (req->n_formats > QK_SENS_MAX_FORMATS) {
            cli_fail(CMD, "--formats: at most %d formats", QK_SENS_MAX_FORMATS);
            goto done;
        }
        so.n_formats = req->n_formats;
        memcpy(so.formats, req->formats, req->n_formats * sizeof *req->formats);
    }
    /* QUANT's own formats of 2-D tensors too, room permitting, so that
    ** QUANT's choice is priced on the same scale */
    for (size_t k = 0; k < r->n_rows; k++) {
        const rp_tensor_row *row = &r->rows[k];
        if (!row->in_quant || row->ndim != 2 || !candidate_type(row->quant_type)) continue;
        if (has_format(&so, row->quant_type) || so.n_formats >= QK_SENS_MAX_FORMATS) continue;
        so.formats[so.n_formats++] = row->quant_type;
    }
    so.stats = stats;
    so.quantize = &qopt;
    cli_progress prog;
    cli_progress_begin(&prog, "sensitivity", r->n_rows, req->json);
    so.progress = on_sens;
    so.progress_user = &prog;
    st = qk_sensitivity_compute(req->ref_path, &so, &sn->s);
    cli_progress_end(&prog);
    if (st != QK_OK) {
        cli_fail_status(CMD, st);
        goto done;
    }
    sn->present = true;

    /* the ranking */
    sn->order = malloc((sn->s.n_tensors ? sn->s.n_tensors : 1) * sizeof *sn->order);
    if (!sn->order) {
        cli_fail(CMD, "no memory");
        goto done;
    }
    for (size_t i = 0; i < sn->s.n_tensors; i++) sn->order[i] = i;
    sn->rank_format = rank_format(r);
    g_rank_report = r;
    g_rank_format = sn->rank_format;
    qsort(sn->order, sn->s.n_tensors, sizeof *sn->order, cmp_rank);

    /* QUANT's own formats, priced */
    sn->quant_predicted = 0.0;
    for (size_t i = 0; i < sn->s.n_tensors; i++) {
        const qk_sens_tensor *t = &sn->s.tensors[i];
        int qt = quant_type_of(r, t->name);
        int f = qt >= 0 ? qk_sensitivity_format_index(&sn->s, (qk_type)qt) : -1;
        if (f < 0 || !t->entries[f].available) {
            sn->quant_predicted = NAN;
            break;
        }
        sn->quant_predicted += t->entries[f].predicted;
    }

    /* the allocation */
    sn->budget = req->budget;
    if (sn->budget == 0) {
        struct stat sb;
        if (stat(req->quant_path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            sn->budget = (uint64_t)sb.st_size;
            sn->budget_is_quant = true;
        } else {
            snprintf(sn->alloc_note, sizeof sn->alloc_note,
                     "QUANT is not one file: give --budget SIZE for an allocation.");
        }
    }
    if (sn->budget > 0) {
        qk_mixed_options mo;
        qk_mixed_options_init(&mo);
        mo.budget_bytes = sn->budget;
        st = qk_mixed_allocate(req->ref_path, req->html_path, &qopt, &sn->s, &mo, &sn->alloc);
        if (st == QK_OK) {
            sn->alloc_present = true;
        } else if (!sn->budget_is_quant) {
            cli_fail_status(CMD, st); /* an explicit --budget that cannot be met */
            goto done;
        } else {
            snprintf(sn->alloc_note, sizeof sn->alloc_note, "No allocation at QUANT's size: %s",
                     qk_last_error());
        }
    }
    ok = true;
done:
    qk_calib_stats_free(stats);
    return ok;
}

void rp_sens_free(rp_sens *sn) {
    qk_sensitivity_free(&sn->s);
    free(sn->order);
    if (sn->alloc_present) qk_mixed_result_free(&sn->alloc);
    memset(sn, 0, sizeof *sn);
}
