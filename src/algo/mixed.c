/*
** A model's mixed-precision allocation (quantkit/mixed.h): the tensors the
** sensitivity analysis measured are the knapsack's items, each option's
** bytes padded to the file's alignment; every other tensor and the header
** are fixed bytes. So the allocation's total is the output file's size.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/mixed.h"
#include "quantkit/quantize.h"

void qk_mixed_options_init(qk_mixed_options *opt) {
    memset(opt, 0, sizeof *opt);
}

void qk_mixed_result_free(qk_mixed_result *r) {
    if (!r) return;
    free(r->tensors);
    r->tensors = NULL;
    r->n_tensors = 0;
}

size_t qk_mixed_tensor_types(const qk_mixed_result *r, qk_tensor_type *out, size_t capacity) {
    size_t n = 0;
    for (size_t i = 0; r && i < r->n_tensors; i++) {
        if (!r->tensors[i].allocated) continue;
        if (out && n < capacity) {
            out[n].name = r->tensors[i].name;
            out[n].type = r->tensors[i].type;
        }
        n++;
    }
    return n;
}

static uint64_t padded(uint64_t bytes, uint32_t alignment) {
    const uint64_t a = alignment ? alignment : 1;
    return bytes + (a - bytes % a) % a;
}

static bool allowed(const qk_mixed_options *opt, qk_type type) {
    if (!opt->formats || opt->n_formats == 0) return true;
    for (size_t i = 0; i < opt->n_formats; i++)
        if (opt->formats[i] == type) return true;
    return false;
}

/* The knapsack item of one measured tensor: its usable formats. */
static qk_status make_item(const qk_sens_tensor *t, const qk_sensitivity *sens,
                           const qk_mixed_options *opt, uint32_t alignment, qk_alloc_item *it,
                           int32_t *format_of) {
    memset(it, 0, sizeof *it);
    for (size_t f = 0; f < sens->n_formats; f++) {
        const qk_sens_entry *e = &t->entries[f];
        if (!e->available || !allowed(opt, e->type)) continue;
        if (!isfinite(e->predicted))
            return qk_error_set(QK_ERR_NONFINITE,
                                "allocation: tensor '%s' as %s has predicted loss %g", t->name,
                                qk_type_name(e->type), e->predicted);
        if (it->n_options == QK_ALLOC_MAX_OPTIONS) break;
        it->bytes[it->n_options] = padded(e->bytes, alignment);
        it->cost[it->n_options] = e->predicted;
        format_of[it->n_options] = (int32_t)f;
        it->n_options++;
    }
    if (it->n_options == 0)
        return qk_error_set(QK_ERR_NOT_FOUND,
                            "allocation: tensor '%s' has no allowed candidate format", t->name);
    return QK_OK;
}

qk_status qk_mixed_allocate_plan(const qk_quantize_report *plan, uint64_t header_bytes,
                                 uint32_t alignment, const qk_sensitivity *sens,
                                 const qk_mixed_options *opt, qk_mixed_result *out) {
    if (!plan || !sens || !opt || !out)
        return qk_error_set(QK_ERR_INVALID_ARG, "allocation: NULL argument");
    memset(out, 0, sizeof *out);
    const size_t n = plan->n_tensors;
    out->tensors = calloc(n ? n : 1, sizeof *out->tensors);
    qk_alloc_item *items = calloc(n ? n : 1, sizeof *items);
    int32_t *formats = calloc((n ? n : 1) * QK_ALLOC_MAX_OPTIONS, sizeof *formats);
    int32_t *choice = calloc(n ? n : 1, sizeof *choice);
    size_t *item_tensor = calloc(n ? n : 1, sizeof *item_tensor);
    const qk_sens_tensor **st_of = calloc(n ? n : 1, sizeof *st_of);
    qk_status st = QK_OK;
    if (!out->tensors || !items || !formats || !choice || !item_tensor || !st_of)
        st = qk_error_set(QK_ERR_NOMEM, "allocation: no memory");
    out->n_tensors = n;
    out->header_bytes = header_bytes;
    out->alignment = alignment;
    qk_alloc_options ao;
    qk_alloc_options_init(&ao);
    if (opt->max_cells) ao.max_cells = opt->max_cells;
    ao.budget = opt->budget_bytes;
    ao.max_cost = opt->max_loss;
    ao.fixed_bytes = header_bytes;
    size_t n_items = 0;
    for (size_t i = 0; i < n && st == QK_OK; i++) {
        const qk_quantize_tensor_info *ti = &plan->tensors[i];
        qk_mixed_tensor *mt = &out->tensors[i];
        strcpy(mt->name, ti->name);
        mt->type = ti->to;
        mt->bytes = ti->bytes;
        out->n_weights += (uint64_t)ti->shape[0] * (ti->ndim > 1 ? (uint64_t)ti->shape[1] : 1u) *
                          (ti->ndim > 2 ? (uint64_t)ti->shape[2] : 1u) *
                          (ti->ndim > 3 ? (uint64_t)ti->shape[3] : 1u);
        const qk_sens_tensor *t = qk_sensitivity_find(sens, ti->name);
        if (!t) {
            if (ti->ndim == 2 && ti->reason != QK_MIX_KEEP)
                st = qk_error_set(
                    QK_ERR_NOT_FOUND,
                    "allocation: tensor '%s' is quantized but has no sensitivity entry", ti->name);
            ao.fixed_bytes += padded(ti->bytes, alignment);
            continue;
        }
        st = make_item(t, sens, opt, alignment, &items[n_items],
                       formats + n_items * QK_ALLOC_MAX_OPTIONS);
        item_tensor[n_items] = i;
        st_of[n_items] = t;
        n_items++;
    }
    qk_alloc_result ar;
    if (st == QK_OK) st = qk_alloc_solve(items, n_items, &ao, choice, &ar);
    if (st == QK_OK) {
        for (size_t k = 0; k < n_items; k++) {
            const int32_t f = formats[k * QK_ALLOC_MAX_OPTIONS + choice[k]];
            const qk_sens_entry *e = &st_of[k]->entries[f];
            qk_mixed_tensor *mt = &out->tensors[item_tensor[k]];
            mt->type = e->type;
            mt->bytes = e->bytes;
            mt->predicted = e->predicted;
            mt->allocated = true;
            out->predicted_loss += e->predicted;
        }
        out->file_bytes = header_bytes;
        for (size_t i = 0; i < n; i++) {
            out->tensor_bytes += out->tensors[i].bytes;
            out->file_bytes += padded(out->tensors[i].bytes, alignment);
        }
        out->bits_per_weight =
            out->n_weights ? 8.0 * (double)out->tensor_bytes / (double)out->n_weights : 0.0;
        out->alloc = ar;
    }
    free(items);
    free(formats);
    free(choice);
    free(item_tensor);
    free(st_of);
    if (st != QK_OK) qk_mixed_result_free(out);
    return st;
}

qk_status qk_mixed_allocate(const char *in_path, const char *out_path,
                            const qk_quantize_options *qopt, const qk_sensitivity *sens,
                            const qk_mixed_options *opt, qk_mixed_result *out) {
    if (!in_path || !out_path || !qopt || !sens || !opt || !out)
        return qk_error_set(QK_ERR_INVALID_ARG, "allocation: NULL argument");
    memset(out, 0, sizeof *out);
    uint64_t offset;
    uint32_t alignment;
    qk_status st = qk_quantize_layout(in_path, out_path, qopt, &offset, &alignment);
    if (st != QK_OK) return st;
    qk_quantize_report plan;
    if ((st = qk_quantize_plan(in_path, qopt, &plan)) != QK_OK) return st;
    st = qk_mixed_allocate_plan(&plan, offset, alignment, sens, opt, out);
    qk_quantize_report_free(&plan);
    return st;
}
