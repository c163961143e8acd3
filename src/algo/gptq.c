/*
** GPTQ onto an affine grid (AutoGPTQ / GPTQModel checkpoints): group
** parameters with torch.ao's conventions (quant.h), optional MSE search,
** dynamic or static groups, act-order with AutoGPTQ's g_idx; and the
** round-to-nearest baseline on the same grid.
*/
#include <math.h> /* nearbyintf, fabs, pow */
#include <stdlib.h>
#include <string.h>

#include "algo/gptq_internal.h"
#include "core/error.h"
#include "quantkit/quant.h"

/* GPTQ's MSE search (quant.py): grid 100, maxshrink 0.8, norm 2.4. */
#define QK_GPTQ_MSE_GRID 100
#define QK_GPTQ_MSE_SHRINK 80
#define QK_GPTQ_MSE_NORM 2.4

static qk_status check_options(const qk_gptq_options *opt, int64_t rows, int64_t cols) {
    if (!opt) return qk_error_set(QK_ERR_INVALID_ARG, "gptq: NULL options");
    if (rows <= 0 || cols <= 0 || cols > INT32_MAX || rows > INT32_MAX)
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq: weight of %lld x %lld", (long long)rows,
                            (long long)cols);
    if (opt->bits < 2 || opt->bits > 8)
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq: %d bits (2..8)", opt->bits);
    if (opt->group_size < 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq: group size %d", opt->group_size);
    if (opt->scale_type != QK_TYPE_F16 && opt->scale_type != QK_TYPE_F32)
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq: scales must be f16 or f32, not %s",
                            qk_type_name(opt->scale_type));
    if (opt->block_size <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq: block size %d", opt->block_size);
    return QK_OK;
}

/* The quant.h scheme of the grid: unsigned codes [0, 2^bits - 1] for both
** symmetric (zero 2^(bits-1)) and asymmetric grids. */
static qk_affine_scheme grid_scheme(const qk_gptq_options *opt) {
    qk_affine_scheme s = qk_affine_scheme_default(opt->bits, opt->symmetric);
    s.range = QK_QRANGE_UNSIGNED;
    s.scale_type = opt->scale_type;
    return s;
}

static int32_t quantize_code(float x, float scale, int32_t zero, int32_t maxq) {
    float q = nearbyintf(x * (1.0f / scale)) + (float)zero;
    q = q < 0.0f ? 0.0f : q > (float)maxq ? (float)maxq : q;
    return (int32_t)q;
}

/* Parameters of the values x[0..n) as one group. */
static qk_status find_params(const float *x, int64_t n, const qk_affine_scheme *scheme, bool mse,
                             float *scale, int32_t *zero) {
    float lo = x[0], hi = x[0];
    for (int64_t i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    qk_affine_params p;
    qk_status st = qk_affine_scheme_params(scheme, lo, hi, &p);
    if (st != QK_OK) return st;
    *scale = p.scale;
    *zero = p.zero_point;
    if (!mse) return QK_OK;
    double best = INFINITY;
    for (int k = 0; k < QK_GPTQ_MSE_SHRINK; k++) {
        const float f = 1.0f - (float)k / (float)QK_GPTQ_MSE_GRID;
        if ((st = qk_affine_scheme_params(scheme, f * lo, f * hi, &p)) != QK_OK) return st;
        double err = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const int32_t q = quantize_code(x[i], p.scale, p.zero_point, p.qmax);
            const float y = (float)(q - p.zero_point) * p.scale;
            err += pow(fabs((double)y - (double)x[i]), QK_GPTQ_MSE_NORM);
        }
        if (err < best) {
            best = err;
            *scale = p.scale;
            *zero = p.zero_point;
        }
    }
    return QK_OK;
}

/* The lazy block size: a multiple of the group size for dynamic groups
** (see gptq.h). */
static int32_t effective_block(int32_t bs, int64_t group, bool dynamic) {
    if (!dynamic) return bs;
    if (group <= bs) return (int32_t)(bs / group * group);
    if (group % bs == 0) return bs;
    return (int32_t)group;
}

typedef struct affine_ctx {
    qk_affine_scheme scheme;
    bool mse, dynamic;
    int32_t maxq;
    int64_t rows, cols, group;
    const int64_t *perm;
    qk_quantized_linear *out;
} affine_ctx;

static qk_status affine_begin(void *vctx, int64_t c, int64_t r0, int64_t r1, const double *wd) {
    affine_ctx *a = vctx;
    if (!a->dynamic || c % a->group != 0) return QK_OK;
    const int64_t n = c + a->group < a->cols ? a->group : a->cols - c;
    float buf[4096];
    float *x = n <= 4096 ? buf : malloc((size_t)n * sizeof *x);
    if (!x) return qk_error_set(QK_ERR_NOMEM, "gptq: no memory");
    const int64_t g = c / a->group;
    qk_status st = QK_OK;
    for (int64_t r = r0; r < r1 && st == QK_OK; r++) {
        const double *wr = wd + (size_t)(r - r0) * a->cols + c;
        for (int64_t i = 0; i < n; i++) x[i] = (float)wr[i];
        const size_t k = (size_t)g * a->rows + r;
        st = find_params(x, n, &a->scheme, a->mse, &a->out->scales[k], &a->out->zeros[k]);
    }
    if (x != buf) free(x);
    return st;
}

static double affine_quantize(void *vctx, int64_t r, int64_t c, double w) {
    affine_ctx *a = vctx;
    const int64_t orig = a->perm ? a->perm[c] : c;
    const int64_t g = a->dynamic ? c / a->group : orig / a->group;
    const size_t k = (size_t)g * a->rows + r;
    const float scale = a->out->scales[k];
    const int32_t zero = a->out->zeros[k];
    const int32_t q = quantize_code((float)w, scale, zero, a->maxq);
    a->out->codes[(size_t)r * a->cols + orig] = (uint8_t)q;
    return (double)((float)(q - zero) * scale);
}

/* Parameters of every group from w in the original column order (dead
** columns as 0): static groups and per channel. */
static qk_status static_params(const float *w, const uint8_t *dead, const affine_ctx *a) {
    qk_status status = QK_OK;
#pragma omp parallel
    {
        float *x = malloc((size_t)a->group * sizeof *x);
        qk_status st = x ? QK_OK : qk_error_set(QK_ERR_NOMEM, "gptq: no memory");
#pragma omp for schedule(static)
        for (int64_t r = 0; r < a->rows; r++) {
            for (int64_t c0 = 0; c0 < a->cols && st == QK_OK; c0 += a->group) {
                const int64_t n = c0 + a->group < a->cols ? a->group : a->cols - c0;
                for (int64_t i = 0; i < n; i++)
                    x[i] = dead && dead[c0 + i] ? 0.0f : w[(size_t)r * a->cols + c0 + i];
                const size_t k = (size_t)(c0 / a->group) * a->rows + r;
                st = find_params(x, n, &a->scheme, a->mse, &a->out->scales[k], &a->out->zeros[k]);
            }
        }
        free(x);
        if (st != QK_OK) {
#pragma omp critical(qk_gptq_static)
            status = st;
        }
    }
    /* the parameter functions fail only on non-finite input, checked before */
    if (status != QK_OK) return qk_error_set(status, "gptq: group parameters failed");
    return QK_OK;
}

qk_status qk_gptq_quantize(const float *w, int64_t rows, int64_t cols, const double *h,
                           const qk_gptq_options *opt, qk_quantized_linear *out, float *w_out,
                           qk_gptq_report *report) {
    if (!w || !h || !out) return qk_error_set(QK_ERR_INVALID_ARG, "gptq: NULL argument");
    memset(out, 0, sizeof *out);
    qk_status st = check_options(opt, rows, cols);
    if (st != QK_OK) return st;
    const double t0 = qk_time_seconds();
    const int64_t group = opt->group_size > 0 && opt->group_size < cols ? opt->group_size : cols;
    const bool per_channel = group == cols;
    st = qk_quantized_linear_alloc(out, opt->bits, (int32_t)group, opt->symmetric, rows, cols,
                                   opt->act_order);
    if (st != QK_OK) return st;
    qk_gptq_prep prep;
    double *wd = NULL;
    if ((st = qk_gptq_prepare(h, cols, opt, opt->act_order, &prep)) != QK_OK) goto fail;
    if ((st = qk_gptq_working(w, rows, cols, &prep, &wd)) != QK_OK) goto fail;
    affine_ctx a = {.scheme = grid_scheme(opt),
                    .mse = opt->mse,
                    .dynamic = !per_channel && !opt->static_groups,
                    .maxq = (1 << opt->bits) - 1,
                    .rows = rows,
                    .cols = cols,
                    .group = group,
                    .perm = prep.perm,
                    .out = out};
    if (!a.dynamic && (st = static_params(w, prep.dead, &a)) != QK_OK) goto fail;
    const qk_gptq_target target = {affine_begin, affine_quantize, &a};
    double loss = 0.0;
    const int32_t bs = effective_block(opt->block_size, group, a.dynamic);
    if ((st = qk_gptq_run(&prep, wd, rows, bs, &target, &loss)) != QK_OK) goto fail;
    if (out->g_idx) {
        for (int64_t c = 0; c < cols; c++) {
            const int64_t orig = prep.perm[c];
            out->g_idx[orig] = (int32_t)(a.dynamic ? c / group : orig / group);
        }
    }
    if (opt->refit_scales) {
        if ((st = qk_gptq_refit_scales(w, h, opt->scale_type, out, NULL)) != QK_OK) goto fail;
        if (w_out && (st = qk_quantized_linear_dequantize(out, w_out)) != QK_OK) goto fail;
    } else if (w_out) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                const int64_t orig = prep.perm ? prep.perm[c] : c;
                w_out[(size_t)r * cols + orig] = (float)wd[(size_t)r * cols + c];
            }
    }
    if (report) {
        report->damp = prep.damp;
        report->damp_raises = prep.raises;
        report->dead_cols = prep.dead_cols;
        report->loss = loss;
        report->seconds = qk_time_seconds() - t0;
    }
    qk_aligned_free(wd);
    qk_gptq_prep_free(&prep);
    return QK_OK;
fail:
    qk_aligned_free(wd);
    qk_gptq_prep_free(&prep);
    qk_quantized_linear_free(out);
    return st;
}

qk_status qk_rtn_quantize(const float *w, int64_t rows, int64_t cols, const qk_gptq_options *opt,
                          qk_quantized_linear *out, float *w_out) {
    if (!w || !out) return qk_error_set(QK_ERR_INVALID_ARG, "rtn: NULL argument");
    memset(out, 0, sizeof *out);
    qk_status st = check_options(opt, rows, cols);
    if (st != QK_OK) return st;
    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite(w[i]))
            return qk_error_set(QK_ERR_NONFINITE, "rtn: weight row %lld column %lld is %g",
                                (long long)(i / cols), (long long)(i % cols), (double)w[i]);
    const int64_t group = opt->group_size > 0 && opt->group_size < cols ? opt->group_size : cols;
    st = qk_quantized_linear_alloc(out, opt->bits, (int32_t)group, opt->symmetric, rows, cols,
                                   false);
    if (st != QK_OK) return st;
    affine_ctx a = {.scheme = grid_scheme(opt),
                    .mse = opt->mse,
                    .maxq = (1 << opt->bits) - 1,
                    .rows = rows,
                    .cols = cols,
                    .group = group,
                    .out = out};
    if ((st = static_params(w, NULL, &a)) != QK_OK) {
        qk_quantized_linear_free(out);
        return st;
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            const double y = affine_quantize(&a, r, c, (double)w[(size_t)r * cols + c]);
            if (w_out) w_out[(size_t)r * cols + c] = (float)y;
        }
    return QK_OK;
}
