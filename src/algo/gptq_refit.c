/*
** Scale refit after GPTQ on an affine grid.
**
** GPTQ fixes each group's scale before it rounds the group's columns, from
** weights that the later error feedback keeps changing, so once every code
** is known the scales are no longer the best ones for those codes. With the
** codes q and the integer zeros z fixed, a row's dequantized weight is
** linear in its G group scales, w'_c = s_g(c) * a_c with a_c = q_c - z_g(c),
** and the layer's output error on the calibration inputs,
**   e(s) = (w - w') H (w - w')^T = wHw - 2 b.s + s^T M s,
**   M[g][k] = sum_{c in g, c' in k} a_c H[c][c'] a_c',
**   b[g]    = sum_{c in g} a_c (w H)[c],
** is least at M s = b. The zeros stay: every checkpoint layout stores them
** as integers. The solved scales are rounded to the stored type, and a row
** takes them only when they are positive, finite, at least FLT_EPSILON (the
** grid's smallest scale) and lower e(s) -- evaluated in closed form with the
** rounded values -- so a refit never increases the error.
*/
#include <cblas.h> /* cblas_dgemm */
#include <float.h> /* FLT_EPSILON */
#include <math.h>  /* isfinite */
#include <stdlib.h>
#include <string.h>

#include "algo/gptq_internal.h"
#include "core/error.h"
#include "quantkit/kernels.h"

/* Rows per tile: at most 256, fewer when the per-row G x G systems are large,
** so a thread's scratch stays near 32 MiB. */
#define REFIT_ROW_TILE 256
#define REFIT_SCRATCH_BYTES (32u << 20)

/* Solve (m + lambda I) s = b + lambda s0 for one row by Cholesky (m is g x
** g, symmetric, overwritten). The small ridge toward the current scales
** keeps directions the data cannot see (a group whose codes all sit on the
** zero point) at their current value. Returns false when m is not positive
** definite even so. */
static bool solve_row(double *m, const double *b, const double *s0, int64_t g, double *s) {
    double trace = 0.0;
    for (int64_t i = 0; i < g; i++) trace += m[i * g + i];
    if (!(trace > 0.0)) return false;
    const double lambda = 1e-12 * trace / (double)g;
    for (int64_t i = 0; i < g; i++) {
        m[i * g + i] += lambda;
        s[i] = b[i] + lambda * s0[i];
    }
    /* m = L L^T in the lower triangle */
    for (int64_t j = 0; j < g; j++) {
        double d = m[j * g + j];
        for (int64_t k = 0; k < j; k++) d -= m[j * g + k] * m[j * g + k];
        if (!(d > 0.0)) return false;
        d = sqrt(d);
        m[j * g + j] = d;
        for (int64_t i = j + 1; i < g; i++) {
            double v = m[i * g + j];
            for (int64_t k = 0; k < j; k++) v -= m[i * g + k] * m[j * g + k];
            m[i * g + j] = v / d;
        }
    }
    for (int64_t i = 0; i < g; i++) { /* L y = rhs */
        double v = s[i];
        for (int64_t k = 0; k < i; k++) v -= m[i * g + k] * s[k];
        s[i] = v / m[i * g + i];
    }
    for (int64_t i = g - 1; i >= 0; i--) { /* L^T s = y */
        double v = s[i];
        for (int64_t k = i + 1; k < g; k++) v -= m[k * g + i] * s[k];
        s[i] = v / m[i * g + i];
    }
    return true;
}

/* e(s) - wHw = s^T M s - 2 b.s, with m the unfactored matrix. */
static double rel_error(const double *m, const double *b, const double *s, int64_t g) {
    double e = 0.0;
    for (int64_t i = 0; i < g; i++) {
        double v = 0.0;
        for (int64_t k = 0; k < g; k++) v += m[i * g + k] * s[k];
        e += s[i] * (v - 2.0 * b[i]);
    }
    return e;
}

static float stored_scale(double s, qk_type scale_type) {
    const float f = (float)s;
    return scale_type == QK_TYPE_F16 ? qk_f16_to_f32(qk_f32_to_f16(f)) : f;
}

typedef struct refit_layout {
    int64_t rows, cols, groups;
    int64_t *ord;  /* [cols] columns sorted by group (stable) */
    int64_t *goff; /* [groups + 1] group k is ord[goff[k] .. goff[k+1]) */
    double *hp;    /* [cols * cols] H in the order ord */
} refit_layout;

static void layout_free(refit_layout *l) {
    free(l->ord);
    free(l->goff);
    qk_aligned_free(l->hp);
}

static qk_status layout_init(const qk_quantized_linear *q, const double *h, refit_layout *l) {
    memset(l, 0, sizeof *l);
    l->rows = q->rows, l->cols = q->cols, l->groups = q->n_groups;
    const size_t n = (size_t)q->cols;
    l->ord = malloc(n * sizeof *l->ord);
    l->goff = calloc((size_t)l->groups + 1, sizeof *l->goff);
    l->hp = qk_aligned_alloc(64, n * n * sizeof *l->hp);
    if (!l->ord || !l->goff || !l->hp) {
        layout_free(l);
        return qk_error_set(QK_ERR_NOMEM, "gptq refit: no memory for a %lld x %lld Hessian",
                            (long long)q->cols, (long long)q->cols);
    }
    for (int64_t c = 0; c < q->cols; c++) l->goff[qk_quantized_linear_group(q, c) + 1]++;
    for (int64_t k = 0; k < l->groups; k++) l->goff[k + 1] += l->goff[k];
    int64_t *fill = malloc((size_t)l->groups * sizeof *fill);
    if (!fill) {
        layout_free(l);
        return qk_error_set(QK_ERR_NOMEM, "gptq refit: no memory");
    }
    memcpy(fill, l->goff, (size_t)l->groups * sizeof *fill);
    for (int64_t c = 0; c < q->cols; c++) l->ord[fill[qk_quantized_linear_group(q, c)]++] = c;
    free(fill);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) l->hp[i * n + j] = h[l->ord[i] * n + l->ord[j]];
    return QK_OK;
}

/* One thread's scratch for a tile of nr rows. */
typedef struct refit_scratch {
    double *ap, *wp, *t; /* [nr * cols]: codes minus zeros, weights, products */
    double *mm, *bb;     /* [nr * G * G], [nr * G]: each row's system */
    double *m, *vec;     /* [G * G], [3 * G] */
} refit_scratch;

static void scratch_free(refit_scratch *s) {
    qk_aligned_free(s->ap);
    qk_aligned_free(s->wp);
    qk_aligned_free(s->t);
    free(s->mm);
    free(s->bb);
    free(s->m);
    free(s->vec);
}

static bool scratch_alloc(refit_scratch *s, size_t nr, size_t cols, size_t G) {
    memset(s, 0, sizeof *s);
    s->ap = qk_aligned_alloc(64, nr * cols * sizeof(double));
    s->wp = qk_aligned_alloc(64, nr * cols * sizeof(double));
    s->t = qk_aligned_alloc(64, nr * cols * sizeof(double));
    s->mm = malloc(nr * G * G * sizeof(double));
    s->bb = malloc(nr * G * sizeof(double));
    s->m = malloc(G * G * sizeof(double));
    s->vec = malloc(3 * G * sizeof(double));
    return s->ap && s->wp && s->t && s->mm && s->bb && s->m && s->vec;
}

/* sum over group g's positions of x[i] * y[i] (one row, layout order). */
static double group_dot(const refit_layout *l, int64_t g, const double *x, const double *y) {
    double v = 0.0;
    for (int64_t i = l->goff[g]; i < l->goff[g + 1]; i++) v += x[i] * y[i];
    return v;
}

/* Refit rows r0 .. r1-1; returns how many rows took new scales. */
static int64_t refit_tile(const refit_layout *l, const float *w, qk_quantized_linear *q,
                          qk_type scale_type, int64_t r0, int64_t r1, refit_scratch *s) {
    const int64_t cols = l->cols, G = l->groups, nr = r1 - r0;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t i = 0; i < cols; i++) {
            const int64_t c = l->ord[i], g = qk_quantized_linear_group(q, c);
            const size_t k = (size_t)g * q->rows + (size_t)(r0 + r);
            s->ap[r * cols + i] = (double)q->codes[(size_t)(r0 + r) * cols + c] - q->zeros[k];
            s->wp[r * cols + i] = (double)w[(size_t)(r0 + r) * cols + c];
        }
    /* b from t = W H */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)cols, (int)cols, 1.0,
                s->wp, (int)cols, l->hp, (int)cols, 0.0, s->t, (int)cols);
    for (int64_t r = 0; r < nr; r++)
        for (int64_t g = 0; g < G; g++)
            s->bb[r * G + g] = group_dot(l, g, s->ap + r * cols, s->t + r * cols);
    /* column k of every row's M from t = A[:, group k] H[group k, :] */
    for (int64_t k = 0; k < G; k++) {
        const int64_t k0 = l->goff[k], nk = l->goff[k + 1] - k0;
        for (int64_t r = 0; r < nr && nk == 0; r++)
            for (int64_t g = 0; g < G; g++) s->mm[((size_t)r * G + g) * G + k] = 0.0;
        if (nk == 0) continue;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)cols, (int)nk, 1.0,
                    s->ap + k0, (int)cols, l->hp + (size_t)k0 * cols, (int)cols, 0.0, s->t,
                    (int)cols);
        for (int64_t r = 0; r < nr; r++)
            for (int64_t g = 0; g < G; g++)
                s->mm[((size_t)r * G + g) * G + k] =
                    group_dot(l, g, s->ap + r * cols, s->t + r * cols);
    }
    double *s0 = s->vec, *x = s->vec + G, *xr = s->vec + 2 * G;
    int64_t changed = 0;
    for (int64_t r = 0; r < nr; r++) {
        const double *mr = s->mm + (size_t)r * G * G, *b = s->bb + r * G;
        for (int64_t g = 0; g < G; g++) s0[g] = q->scales[(size_t)g * q->rows + (size_t)(r0 + r)];
        memcpy(s->m, mr, (size_t)G * G * sizeof *s->m);
        if (!solve_row(s->m, b, s0, G, x)) continue;
        bool ok = true;
        for (int64_t g = 0; g < G && ok; g++) {
            xr[g] = x[g] > 0.0 && isfinite(x[g]) ? stored_scale(x[g], scale_type) : 0.0;
            ok = xr[g] >= FLT_EPSILON && isfinite(xr[g]);
        }
        if (!ok || !(rel_error(mr, b, xr, G) < rel_error(mr, b, s0, G))) continue;
        for (int64_t g = 0; g < G; g++)
            q->scales[(size_t)g * q->rows + (size_t)(r0 + r)] = (float)xr[g];
        changed++;
    }
    return changed;
}

qk_status qk_gptq_refit_scales(const float *w, const double *h, qk_type scale_type,
                               qk_quantized_linear *q, int64_t *rows_changed) {
    if (!w || !h || !q || !q->codes || !q->scales || !q->zeros)
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq refit: NULL argument");
    refit_layout l;
    qk_status st = layout_init(q, h, &l);
    if (st != QK_OK) return st;
    const size_t G = (size_t)l.groups, cols = (size_t)q->cols;
    size_t tile_rows = REFIT_SCRATCH_BYTES / ((G * G + 3 * cols) * sizeof(double));
    tile_rows = tile_rows < 1 ? 1 : tile_rows > REFIT_ROW_TILE ? REFIT_ROW_TILE : tile_rows;
    const int64_t nt = (int64_t)tile_rows;
    const int64_t n_tiles = (q->rows + nt - 1) / nt;
    int64_t changed = 0;
    bool nomem = false;
    qk_blas_single_thread();
#pragma omp parallel reduction(+ : changed)
    {
        refit_scratch s;
        const bool have = scratch_alloc(&s, tile_rows, cols, G);
        if (!have) {
#pragma omp atomic write
            nomem = true;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < n_tiles; k++) {
            if (!have) continue;
            const int64_t r0 = k * nt, r1 = r0 + nt < q->rows ? r0 + nt : q->rows;
            changed += refit_tile(&l, w, q, scale_type, r0, r1, &s);
        }
        scratch_free(&s);
    }
    layout_free(&l);
    /* a thread without scratch skipped its tiles: the scales would depend on
    ** the thread count, so fail rather than return a partial refit */
    if (nomem) return qk_error_set(QK_ERR_NOMEM, "gptq refit: no memory for a row tile");
    if (rows_changed) *rows_changed = changed;
    return QK_OK;
}
