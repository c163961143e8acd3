/*
** Affine quantization of whole tensors: per tensor, per channel along any
** axis, per group along the last axis. The work is cut into runs of
** contiguous elements that share one scale group:
**   tensor:  chunks of the flat array, group 0;
**   group:   each group of a row;
**   channel: for a block of channels, each (outer index, channel) run of
**            `inner` elements, so a channel axis in the middle or last is
**            read row by row.
** Runs are spread over OpenMP threads; every result depends only on the
** element and its group (stochastic rounding draws from the element's flat
** index), so the output does not depend on the thread count.
*/
#include <math.h>   /* isfinite */
#include <string.h> /* memset */

#include "core/error.h"
#include "quant/affine_internal.h"

#define CHUNK ((int64_t)1 << 16)        /* elements per run for per-tensor work */
#define CHANNEL_BLOCK 64                /* channels per task for per-channel work */
#define PARALLEL_MIN ((int64_t)1 << 15) /* below this many elements, one thread */

/* Calls visit(ctx, start, len, group, percol) for every run of one task;
** tasks are numbered 0..n_tasks-1 and independent. A run is `len` elements
** from flat index `start`, all in `group`; with percol (a channel axis that
** is the innermost one) element i of the run is in group + i. */
typedef void (*run_visitor)(void *ctx, int64_t start, int64_t len, int64_t group, bool percol);

static int64_t task_count(const qk_affine_layout *l) {
    switch (l->granularity) {
    case QK_GRAN_CHANNEL:
        return (l->channels + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK;
    case QK_GRAN_GROUP:
        return l->n_groups;
    default:
        return (l->numel + CHUNK - 1) / CHUNK;
    }
}

static void visit_task(const qk_affine_layout *l, int64_t task, run_visitor visit, void *ctx) {
    switch (l->granularity) {
    case QK_GRAN_CHANNEL: {
        const int64_t c0 = task * CHANNEL_BLOCK;
        const int64_t c1 = c0 + CHANNEL_BLOCK < l->channels ? c0 + CHANNEL_BLOCK : l->channels;
        if (l->inner == 0) return;
        for (int64_t o = 0; o < l->outer; o++) {
            if (l->inner == 1)
                visit(ctx, o * l->channels + c0, c1 - c0, c0, true);
            else
                for (int64_t c = c0; c < c1; c++)
                    visit(ctx, (o * l->channels + c) * l->inner, l->inner, c, false);
        }
        return;
    }
    case QK_GRAN_GROUP: {
        const int64_t row = task / l->groups_per_row, j = task % l->groups_per_row;
        const int64_t start = j * l->group_size;
        const int64_t len = l->row_len - start < l->group_size ? l->row_len - start : l->group_size;
        visit(ctx, row * l->row_len + start, len, task, false);
        return;
    }
    default: {
        const int64_t start = task * CHUNK;
        visit(ctx, start, l->numel - start < CHUNK ? l->numel - start : CHUNK, 0, false);
        return;
    }
    }
}

static void visit_all(const qk_affine_layout *l, run_visitor visit, void *ctx) {
    const int64_t n_tasks = task_count(l);
#pragma omp parallel for schedule(static) if (l->numel >= PARALLEL_MIN)
    for (int64_t t = 0; t < n_tasks; t++) visit_task(l, t, visit, ctx);
}

/* ---- visitors ----------------------------------------------------------- */

typedef struct minmax_ctx {
    const float *x;
    float *lo, *hi; /* per group (per task for a tensor: see below) */
    bool per_chunk; /* tensor granularity: results per chunk, merged after */
} minmax_ctx;

static void minmax_visit(void *vctx, int64_t start, int64_t len, int64_t group, bool percol) {
    minmax_ctx *c = (minmax_ctx *)vctx;
    if (percol) {
        const float *x = c->x + start;
        float *lo = c->lo + group, *hi = c->hi + group;
        for (int64_t i = 0; i < len; i++) {
            lo[i] = x[i] < lo[i] ? x[i] : lo[i];
            hi[i] = x[i] > hi[i] ? x[i] : hi[i];
        }
        return;
    }
    const int64_t slot = c->per_chunk ? start / CHUNK : group;
    qk_affine_minmax_run(c->x + start, (size_t)len, &c->lo[slot], &c->hi[slot]);
}

typedef struct quant_ctx {
    const float *x;
    const qk_affine_params *params;
    const float *inv; /* 1.0f / scale per group */
    qk_rounding rounding;
    uint64_t key;
    uint8_t *codes; /* one byte per element */
} quant_ctx;

static void quant_visit(void *vctx, int64_t start, int64_t len, int64_t group, bool percol) {
    quant_ctx *c = (quant_ctx *)vctx;
    if (!percol) {
        qk_affine_quantize_run(c->x + start, (size_t)len, &c->params[group], c->rounding, c->key,
                               (uint64_t)start, c->codes + start);
        return;
    }
    /* one element per group, with the same element kernels as the runs */
    const float *x = c->x + start, *inv = c->inv + group;
    const qk_affine_params *p = c->params + group;
    const float qmin = (float)p->qmin, qmax = (float)p->qmax; /* common to all groups */
    uint8_t *codes = c->codes + start;
    int8_t *c8 = (int8_t *)codes;
    if (c->rounding == QK_ROUND_STOCHASTIC) {
        for (int64_t i = 0; i < len; i++) {
            const double v =
                qk_affine_code_stochastic(x[i], (double)p[i].scale, (double)p[i].zero_point, qmin,
                                          qmax, qk_affine_sr_bits(c->key, (uint64_t)(start + i)));
            if (p->qmin < 0)
                c8[i] = (int8_t)v;
            else
                codes[i] = (uint8_t)v;
        }
    } else if (p->qmin < 0) {
        for (int64_t i = 0; i < len; i++)
            c8[i] =
                (int8_t)qk_affine_code_nearest(x[i], inv[i], (float)p[i].zero_point, qmin, qmax);
    } else {
        for (int64_t i = 0; i < len; i++)
            codes[i] =
                (uint8_t)qk_affine_code_nearest(x[i], inv[i], (float)p[i].zero_point, qmin, qmax);
    }
}

typedef struct dequant_ctx {
    const uint8_t *codes;
    const qk_affine_params *params;
    float *y;
} dequant_ctx;

static void dequant_visit(void *vctx, int64_t start, int64_t len, int64_t group, bool percol) {
    dequant_ctx *c = (dequant_ctx *)vctx;
    if (!percol) {
        qk_affine_dequantize_run(c->codes + start, (size_t)len, &c->params[group], c->y + start);
        return;
    }
    const qk_affine_params *p = c->params + group;
    const uint8_t *codes = c->codes + start;
    float *y = c->y + start;
    for (int64_t i = 0; i < len; i++) {
        const int32_t q = p->qmin < 0 ? (int32_t)(int8_t)codes[i] : (int32_t)codes[i];
        y[i] = (float)(q - p[i].zero_point) * p[i].scale;
    }
}

/* ---- quantize ----------------------------------------------------------- */

static int64_t first_nonfinite(const float *x, int64_t n) {
    int64_t first = n;
    const int64_t n_chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) reduction(min : first) if (n >= PARALLEL_MIN)
    for (int64_t k = 0; k < n_chunks; k++) {
        const int64_t start = k * CHUNK, len = n - start < CHUNK ? n - start : CHUNK;
        const size_t i = qk_affine_first_nonfinite(x + start, (size_t)len);
        if ((int64_t)i < len && start + (int64_t)i < first) first = start + (int64_t)i;
    }
    return first;
}

/* Per-group observed ranges into lo/hi (n_groups each). */
static qk_status group_ranges(const qk_affine_layout *l, const float *x, float *lo, float *hi) {
    if (l->granularity == QK_GRAN_TENSOR) {
        const int64_t n_chunks = (l->numel + CHUNK - 1) / CHUNK;
        float *clo = NULL, *chi = NULL;
        if (n_chunks > 0) {
            clo = (float *)qk_aligned_alloc(64, (size_t)n_chunks * 2 * sizeof(float));
            if (!clo) return qk_error_set(QK_ERR_NOMEM, "affine quantize: out of memory");
            chi = clo + n_chunks;
            for (int64_t k = 0; k < n_chunks; k++) clo[k] = chi[k] = x[k * CHUNK];
        }
        minmax_ctx ctx = {x, clo, chi, true};
        visit_all(l, minmax_visit, &ctx);
        lo[0] = hi[0] = 0.0f; /* an empty tensor observes [0, 0] */
        if (n_chunks > 0) lo[0] = clo[0], hi[0] = chi[0];
        for (int64_t k = 1; k < n_chunks; k++) {
            lo[0] = clo[k] < lo[0] ? clo[k] : lo[0];
            hi[0] = chi[k] > hi[0] ? chi[k] : hi[0];
        }
        qk_aligned_free(clo);
        return QK_OK;
    }
    /* start each group from its first element (an empty group stays [0, 0]) */
    for (int64_t g = 0; g < l->n_groups; g++) lo[g] = hi[g] = 0.0f;
    if (l->numel > 0) {
        if (l->granularity == QK_GRAN_CHANNEL) {
            for (int64_t c = 0; c < l->channels && l->inner > 0; c++)
                lo[c] = hi[c] = x[c * l->inner];
        } else {
            for (int64_t g = 0; g < l->n_groups; g++) {
                const int64_t row = g / l->groups_per_row, j = g % l->groups_per_row;
                lo[g] = hi[g] = x[row * l->row_len + j * l->group_size];
            }
        }
    }
    minmax_ctx ctx = {x, lo, hi, false};
    visit_all(l, minmax_visit, &ctx);
    return QK_OK;
}

static qk_status quantize_impl(const qk_tensor_view *x, const qk_affine_scheme *s,
                               const float *range_min, const float *range_max, int64_t n_ranges,
                               qk_affine_tensor *out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "affine quantize: NULL output");
    memset(out, 0, sizeof *out);
    if (!x || !s) return qk_error_set(QK_ERR_INVALID_ARG, "affine quantize: NULL argument");
    if (x->type != QK_TYPE_F32)
        return qk_error_set(QK_ERR_UNSUPPORTED, "affine quantize: input type %s (f32 only)",
                            qk_type_name(x->type));
    qk_affine_layout l;
    qk_status st = qk_affine_layout_init(s, x->ndim, x->shape, &l);
    if (st != QK_OK) return st;
    const float *data = (const float *)x->data;
    if (l.numel > 0 && !data) return qk_error_set(QK_ERR_INVALID_ARG, "affine quantize: NULL data");
    if (range_min && n_ranges != l.n_groups)
        return qk_error_set(QK_ERR_SHAPE, "affine quantize: %lld ranges for %lld scale groups",
                            (long long)n_ranges, (long long)l.n_groups);
    for (int64_t g = 0; range_min && g < n_ranges; g++)
        if (!isfinite(range_min[g]) || !isfinite(range_max[g]) || !(range_min[g] <= range_max[g]))
            return qk_error_set(isfinite(range_min[g]) && isfinite(range_max[g])
                                    ? QK_ERR_INVALID_ARG
                                    : QK_ERR_NONFINITE,
                                "affine quantize: range of scale group %lld [%g, %g] is not "
                                "finite and ordered",
                                (long long)g, (double)range_min[g], (double)range_max[g]);
    int32_t qmin, qmax;
    st = qk_qrange_for_bits(s->bits, s->range, &qmin, &qmax);
    if (st != QK_OK) return st;
    const int64_t bad = first_nonfinite(data, l.numel);
    if (bad < l.numel)
        return qk_error_set(QK_ERR_NONFINITE, "affine quantize: element %lld is %g", (long long)bad,
                            (double)data[bad]);
    if ((uint64_t)l.numel > SIZE_MAX / 4 || (uint64_t)l.n_groups > SIZE_MAX / 16)
        return qk_error_set(QK_ERR_OVERFLOW, "affine quantize: tensor too large");

    uint8_t *codes = (uint8_t *)qk_aligned_alloc(64, (size_t)l.numel);
    float *scales = (float *)qk_aligned_alloc(64, (size_t)l.n_groups * sizeof(float));
    int32_t *zps = (int32_t *)qk_aligned_alloc(64, (size_t)l.n_groups * sizeof(int32_t));
    qk_affine_params *params =
        (qk_affine_params *)qk_aligned_alloc(64, (size_t)l.n_groups * sizeof(qk_affine_params));
    float *lo = (float *)qk_aligned_alloc(64, (size_t)l.n_groups * 2 * sizeof(float));
    if (!codes || !scales || !zps || !params || !lo) {
        st = qk_error_set(QK_ERR_NOMEM, "affine quantize: out of memory (%lld elements)",
                          (long long)l.numel);
        goto fail;
    }
    float *hi = lo + l.n_groups;
    if (range_min) {
        for (int64_t g = 0; g < l.n_groups; g++) {
            lo[g] = range_min[g];
            hi[g] = range_max[g];
        }
    } else {
        st = group_ranges(&l, data, lo, hi);
        if (st != QK_OK) goto fail;
        for (int64_t g = 0; g < l.n_groups; g++) qk_affine_apply_range_mode(s, &lo[g], &hi[g]);
    }

    /* parameters per group; a failing group is re-run on this thread for its message */
    int64_t failed = l.n_groups;
#pragma omp parallel for schedule(static) reduction(min : failed) if (l.n_groups >= 4096)
    for (int64_t g = 0; g < l.n_groups; g++)
        if (qk_affine_group_params(s, qmin, qmax, lo[g], hi[g], &params[g]) != QK_OK && g < failed)
            failed = g;
    if (failed < l.n_groups) {
        st = qk_affine_group_params(s, qmin, qmax, lo[failed], hi[failed], &params[failed]);
        qk_error_prefix("affine quantize: scale group %lld (range [%g, %g])", (long long)failed,
                        (double)lo[failed], (double)hi[failed]);
        goto fail;
    }
    for (int64_t g = 0; g < l.n_groups; g++) {
        scales[g] = params[g].scale;
        zps[g] = params[g].zero_point;
    }
    /* the group ranges are no longer needed: keep each group's 1 / scale there */
    for (int64_t g = 0; g < l.n_groups; g++) lo[g] = 1.0f / params[g].scale;
    quant_ctx qc = {data, params, lo, s->rounding, qk_affine_sr_key(s->seed), codes};
    visit_all(&l, quant_visit, &qc);

    qk_aligned_free(params);
    qk_aligned_free(lo);
    out->scheme = *s;
    out->layout = l;
    out->qmin = qmin;
    out->qmax = qmax;
    out->code_type = qmin < 0 ? QK_TYPE_I8 : QK_TYPE_U8;
    out->codes = codes;
    out->scales = scales;
    out->zero_points = zps;
    return QK_OK;
fail:
    qk_aligned_free(codes);
    qk_aligned_free(scales);
    qk_aligned_free(zps);
    qk_aligned_free(params);
    qk_aligned_free(lo);
    return st;
}

qk_status qk_affine_quantize(const qk_tensor_view *x, const qk_affine_scheme *scheme,
                             qk_affine_tensor *out) {
    return quantize_impl(x, scheme, NULL, NULL, 0, out);
}

qk_status qk_affine_quantize_ranges(const qk_tensor_view *x, const qk_affine_scheme *scheme,
                                    const float *range_min, const float *range_max,
                                    int64_t n_ranges, qk_affine_tensor *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!range_min || !range_max)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine quantize: NULL ranges");
    return quantize_impl(x, scheme, range_min, range_max, n_ranges, out);
}

qk_status qk_affine_dequantize(const qk_affine_tensor *q, float *y, size_t n) {
    if (!q) return qk_error_set(QK_ERR_INVALID_ARG, "affine dequantize: NULL tensor");
    if (n != (size_t)q->layout.numel)
        return qk_error_set(QK_ERR_SHAPE, "affine dequantize: output of %zu for %lld elements", n,
                            (long long)q->layout.numel);
    if (n == 0) return QK_OK;
    if (!y || !q->codes || !q->scales || !q->zero_points)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine dequantize: NULL array");
    if ((uint64_t)q->layout.n_groups > SIZE_MAX / sizeof(qk_affine_params))
        return qk_error_set(QK_ERR_OVERFLOW, "affine dequantize: too many groups");
    qk_affine_params *params = (qk_affine_params *)qk_aligned_alloc(
        64, (size_t)q->layout.n_groups * sizeof(qk_affine_params));
    if (!params) return qk_error_set(QK_ERR_NOMEM, "affine dequantize: out of memory");
    for (int64_t g = 0; g < q->layout.n_groups; g++) {
        params[g].scale = q->scales[g];
        params[g].zero_point = q->zero_points[g];
        params[g].qmin = q->qmin;
        params[g].qmax = q->qmax;
        qk_status st = qk_affine_check_params(&params[g], "affine dequantize");
        if (st != QK_OK) {
            qk_aligned_free(params);
            return qk_error_prefix("scale group %lld", (long long)g);
        }
    }
    dequant_ctx dc = {(const uint8_t *)q->codes, params, y};
    visit_all(&q->layout, dequant_visit, &dc);
    qk_aligned_free(params);
    return QK_OK;
}

void qk_affine_tensor_free(qk_affine_tensor *q) {
    if (!q) return;
    qk_aligned_free(q->codes);
    qk_aligned_free(q->scales);
    qk_aligned_free(q->zero_points);
    memset(q, 0, sizeof *q);
}

qk_status qk_affine_pack_codes(const qk_affine_tensor *q, int order, uint8_t *dst,
                               size_t dst_size) {
    if (!q) return qk_error_set(QK_ERR_INVALID_ARG, "affine pack: NULL tensor");
    const size_t n = (size_t)q->layout.numel;
    if (q->code_type == QK_TYPE_I8)
        return qk_pack_bits_signed((const int8_t *)q->codes, n, q->scheme.bits, order, dst,
                                   dst_size);
    return qk_pack_bits((const uint8_t *)q->codes, n, q->scheme.bits, order, dst, dst_size);
}
