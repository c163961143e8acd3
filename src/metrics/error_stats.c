/*
** Streaming error statistics (metrics.h): per-block double sums in index
** order, blocks combined in order with Neumaier compensation, so that the
** result depends neither on chunking nor on the thread count.
*/
#include <math.h>   /* fabs, isfinite, log10, sqrt, INFINITY */
#include <string.h> /* memset */

#include "core/error.h"
#include "quantkit/metrics.h"

enum { S_XX = 0, S_YY = 1, S_XY = 2, S_EE = 3, S_AE = 4, N_SUMS = 5 };

/* Blocks summed per parallel group (bounded stack use). */
#define GROUP_BLOCKS 256

typedef struct block_sums {
    double s[N_SUMS];
    double max;         /* largest |x-y| (-1 before any element) */
    uint64_t max_index; /* its first index */
    int64_t bad;        /* global index of the first non-finite element, or -1 */
} block_sums;

static void neumaier_add(double *sum, double *comp, double v) {
    double t = *sum + v;
    if (fabs(*sum) >= fabs(v))
        *comp += (*sum - t) + v;
    else
        *comp += (v - t) + *sum;
    *sum = t;
}

/* Continue `b` with n elements whose global indices start at `base`. */
static void sum_range(const float *x, const float *y, size_t n, uint64_t base, block_sums *b) {
    double xx = b->s[S_XX], yy = b->s[S_YY], xy = b->s[S_XY], ee = b->s[S_EE], ae = b->s[S_AE];
    double mx = b->max;
    uint64_t mi = b->max_index;
    for (size_t i = 0; i < n; i++) {
        const float xv = x[i], yv = y[i];
        if (!isfinite(xv) || !isfinite(yv)) {
            b->bad = (int64_t)(base + i);
            return;
        }
        const double xd = xv, yd = yv, d = xd - yd, ad = fabs(d);
        xx += xd * xd;
        yy += yd * yd;
        xy += xd * yd;
        ee += d * d;
        ae += ad;
        if (ad > mx) {
            mx = ad;
            mi = base + i;
        }
    }
    b->s[S_XX] = xx;
    b->s[S_YY] = yy;
    b->s[S_XY] = xy;
    b->s[S_EE] = ee;
    b->s[S_AE] = ae;
    b->max = mx;
    b->max_index = mi;
}

void qk_error_accum_init(qk_error_accum *acc) {
    if (!acc) return;
    memset(acc, 0, sizeof *acc);
    acc->max_abs_error = -1.0;
}

static void commit_block(qk_error_accum *t) {
    for (int k = 0; k < N_SUMS; k++) {
        neumaier_add(&t->total[k], &t->comp[k], t->block[k]);
        t->block[k] = 0.0;
    }
}

static qk_status bad_element(int64_t index, const float *x, const float *y, uint64_t base) {
    const size_t i = (size_t)((uint64_t)index - base);
    const char *which = isfinite(x[i]) ? "approximation" : "reference";
    return qk_error_set(QK_ERR_NONFINITE, "error metrics: %s element %lld is not finite", which,
                        (long long)index);
}

qk_status qk_error_accum_add(qk_error_accum *acc, const float *x, const float *y, size_t n) {
    if (!acc || (n && (!x || !y)))
        return qk_error_set(QK_ERR_INVALID_ARG, "error metrics: NULL argument");
    const uint64_t B = QK_METRICS_BLOCK;
    const uint64_t base = acc->n;
    qk_error_accum t = *acc;
    size_t i = 0;
    /* 1. finish the incomplete block */
    if (t.n % B != 0 && n > 0) {
        size_t take = (size_t)(B - t.n % B);
        if (take > n) take = n;
        block_sums bs;
        memcpy(bs.s, t.block, sizeof bs.s);
        bs.max = t.max_abs_error;
        bs.max_index = t.max_abs_index;
        bs.bad = -1;
        sum_range(x, y, take, t.n, &bs);
        if (bs.bad >= 0) return bad_element(bs.bad, x, y, base);
        memcpy(t.block, bs.s, sizeof bs.s);
        t.max_abs_error = bs.max;
        t.max_abs_index = bs.max_index;
        t.n += take;
        i = take;
        if (t.n % B == 0) commit_block(&t);
    }
    /* 2. whole blocks, in parallel groups, folded in order */
    while (n - i >= B) {
        size_t nblocks = (n - i) / B;
        if (nblocks > GROUP_BLOCKS) nblocks = GROUP_BLOCKS;
        block_sums group[GROUP_BLOCKS];
        const float *xg = x + i, *yg = y + i;
        const uint64_t gbase = t.n;
#pragma omp parallel for schedule(static) if (nblocks >= 8)
        for (size_t g = 0; g < nblocks; g++) {
            block_sums *b = &group[g];
            memset(b->s, 0, sizeof b->s);
            b->max = -1.0;
            b->max_index = 0;
            b->bad = -1;
            sum_range(xg + g * B, yg + g * B, (size_t)B, gbase + g * B, b);
        }
        for (size_t g = 0; g < nblocks; g++) {
            const block_sums *b = &group[g];
            if (b->bad >= 0) return bad_element(b->bad, x, y, base);
            memcpy(t.block, b->s, sizeof b->s);
            commit_block(&t);
            if (b->max > t.max_abs_error) {
                t.max_abs_error = b->max;
                t.max_abs_index = b->max_index;
            }
        }
        t.n += nblocks * B;
        i += nblocks * (size_t)B;
    }
    /* 3. the start of a new incomplete block */
    if (i < n) {
        block_sums bs;
        memset(bs.s, 0, sizeof bs.s);
        bs.max = t.max_abs_error;
        bs.max_index = t.max_abs_index;
        bs.bad = -1;
        sum_range(x + i, y + i, n - i, t.n, &bs);
        if (bs.bad >= 0) return bad_element(bs.bad, x, y, base);
        memcpy(t.block, bs.s, sizeof bs.s);
        t.max_abs_error = bs.max;
        t.max_abs_index = bs.max_index;
        t.n += n - i;
    }
    *acc = t;
    return QK_OK;
}

void qk_error_accum_result(const qk_error_accum *acc, qk_error_stats *out) {
    if (!acc || !out) return;
    double s[N_SUMS];
    for (int k = 0; k < N_SUMS; k++) {
        double sum = acc->total[k], comp = acc->comp[k];
        neumaier_add(&sum, &comp, acc->block[k]);
        s[k] = sum + comp;
    }
    memset(out, 0, sizeof *out);
    out->n = acc->n;
    out->sum_sq_ref = s[S_XX];
    out->sum_sq_test = s[S_YY];
    out->dot = s[S_XY];
    out->sum_sq_error = s[S_EE];
    if (acc->n > 0) {
        out->mse = s[S_EE] / (double)acc->n;
        out->mae = s[S_AE] / (double)acc->n;
        out->max_abs_error = acc->max_abs_error;
        out->max_abs_index = acc->max_abs_index;
    }
    if (s[S_EE] == 0.0)
        out->sqnr_db = INFINITY;
    else if (s[S_XX] == 0.0)
        out->sqnr_db = -INFINITY;
    else
        out->sqnr_db = 10.0 * log10(s[S_XX] / s[S_EE]);
    if (s[S_XX] == 0.0 && s[S_YY] == 0.0) {
        out->cosine = 1.0;
    } else if (s[S_XX] == 0.0 || s[S_YY] == 0.0) {
        out->cosine = 0.0;
    } else {
        double c = s[S_XY] / (sqrt(s[S_XX]) * sqrt(s[S_YY]));
        out->cosine = c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
    }
}

qk_status qk_error_stats_compute(const float *x, const float *y, size_t n, qk_error_stats *out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "error metrics: NULL output");
    qk_error_accum acc;
    qk_error_accum_init(&acc);
    qk_status st = qk_error_accum_add(&acc, x, y, n);
    if (st != QK_OK) return st;
    qk_error_accum_result(&acc, out);
    return QK_OK;
}
