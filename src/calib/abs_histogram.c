/*
** TensorRT-style histogram of |x| (pytorch-quantization HistogramCalibrator,
** torch_hist variant): the first batch with max|x| > 0 sets the width to
** max|x| / bins over [0, max|x|]; a larger max later appends bins of the
** same width; past 4*bins bins, adjacent bins are summed in pairs until the
** range fits (an exact coarsening, since the new edges are old edges).
** A value v goes to bin k with k*w <= v < (k+1)*w (the top edge to the last
** bin). While only zeros were seen, width is 0 and bin 0 holds them.
*/
#include <math.h>   /* ceil, fabs, floor */
#include <stdlib.h> /* calloc, free, realloc */
#include <string.h> /* memset */

#include "calib/abs_histogram.h"
#include "core/error.h"

int64_t qk_abs_hist_max_bins(const qk_observer_config *cfg) {
    return 4 * (int64_t)cfg->bins;
}

/* The layout after values up to amax arrive: width, bins and the factor
** (a power of two) by which existing bins are coarsened. */
typedef struct hist_plan {
    double width;
    int64_t nbins;
    double factor; /* 1: unchanged grid */
} hist_plan;

static hist_plan make_plan(const qk_abs_hist *h, const qk_observer_config *cfg, double amax) {
    hist_plan p = {h->width, h->nbins, 1.0};
    if (h->width == 0.0) {
        if (amax == 0.0) {
            p.nbins = 1;
        } else {
            p.width = amax / (double)cfg->bins;
            p.nbins = cfg->bins;
        }
        return p;
    }
    if (amax <= (double)h->nbins * h->width) return p;
    const double max_bins = (double)qk_abs_hist_max_bins(cfg);
    double f = 1.0;
    while (ceil(amax / (h->width * f)) > max_bins) f *= 2.0;
    double w = h->width * f;
    double need = ceil(amax / w);
    while (need * w < amax) need += 1.0;
    double old_bins = ceil((double)h->nbins / f);
    if (need < old_bins) need = old_bins;
    p.width = w;
    p.nbins = (int64_t)need;
    p.factor = f;
    return p;
}

qk_status qk_abs_hist_init(qk_abs_hist *h, const qk_observer_config *cfg) {
    h->nbins = 0;
    h->width = 0.0;
    h->cap = cfg->bins;
    h->counts = calloc((size_t)h->cap, sizeof(double));
    if (!h->counts) return qk_error_set(QK_ERR_NOMEM, "histogram observer: %d bins", cfg->bins);
    return QK_OK;
}

void qk_abs_hist_destroy(qk_abs_hist *h) {
    free(h->counts);
    h->counts = NULL;
    h->cap = h->nbins = 0;
}

void qk_abs_hist_reset(qk_abs_hist *h) {
    memset(h->counts, 0, (size_t)h->cap * sizeof(double));
    h->nbins = 0;
    h->width = 0.0;
}

qk_status qk_abs_hist_reserve(qk_abs_hist *h, const qk_observer_config *cfg, double amax,
                              const qk_abs_hist *other) {
    int64_t need = make_plan(h, cfg, amax).nbins;
    if (other && h->nbins == 0 && other->nbins > need) need = other->nbins; /* copy */
    if (need <= h->cap) return QK_OK;
    double *nc = realloc(h->counts, (size_t)need * sizeof(double));
    if (!nc)
        return qk_error_set(QK_ERR_NOMEM, "histogram observer: growing to %lld bins",
                            (long long)need);
    memset(nc + h->cap, 0, (size_t)(need - h->cap) * sizeof(double));
    h->counts = nc;
    h->cap = need;
    return QK_OK;
}

/* Switch to the plan's grid (capacity reserved). */
static void apply_plan(qk_abs_hist *h, const hist_plan *p) {
    if (p->factor > 1.0) {
        if (p->factor >= (double)h->nbins) {
            double total = 0.0;
            for (int64_t j = 0; j < h->nbins; j++) total += h->counts[j];
            memset(h->counts, 0, (size_t)h->nbins * sizeof(double));
            h->counts[0] = total;
        } else {
            const int64_t f = (int64_t)p->factor;
            for (int64_t j = 0; j * f < h->nbins; j++) {
                double s = 0.0;
                for (int64_t k = j * f; k < (j + 1) * f && k < h->nbins; k++) s += h->counts[k];
                h->counts[j] = s;
            }
            int64_t used = (h->nbins + f - 1) / f;
            memset(h->counts + used, 0, (size_t)(h->nbins - used) * sizeof(double));
        }
    }
    if (p->nbins > h->nbins)
        memset(h->counts + h->nbins, 0, (size_t)(p->nbins - h->nbins) * sizeof(double));
    h->nbins = p->nbins;
    h->width = p->width;
}

static int64_t bin_of(const qk_abs_hist *h, double a) {
    if (h->width == 0.0) return 0;
    double q = floor(a / h->width);
    int64_t k = q >= (double)h->nbins ? h->nbins - 1 : (int64_t)q;
    if (k > 0 && (double)k * h->width > a)
        k--;
    else if (k + 1 < h->nbins && (double)(k + 1) * h->width <= a)
        k++;
    return k;
}

void qk_abs_hist_add(qk_abs_hist *h, const qk_observer_config *cfg, const float *x, size_t n,
                     double amax) {
    hist_plan p = make_plan(h, cfg, amax);
    apply_plan(h, &p);
    for (size_t i = 0; i < n; i++) h->counts[bin_of(h, fabs((double)x[i]))] += 1.0;
}

void qk_abs_hist_merge(qk_abs_hist *h, const qk_observer_config *cfg, const qk_abs_hist *other,
                       double amax) {
    if (other->nbins == 0) return;
    if (h->nbins == 0) {
        memcpy(h->counts, other->counts, (size_t)other->nbins * sizeof(double));
        h->nbins = other->nbins;
        h->width = other->width;
        return;
    }
    hist_plan p = make_plan(h, cfg, amax);
    apply_plan(h, &p);
    if (other->width == 0.0 || other->width == h->width) {
        /* zeros only, or the same edges: counts add bin for bin */
        for (int64_t j = 0; j < other->nbins; j++)
            if (other->counts[j] != 0.0)
                h->counts[j < h->nbins ? j : h->nbins - 1] += other->counts[j];
        return;
    }
    if (h->width == 0.0) { /* cannot happen: amax > 0 when other has width */
        for (int64_t j = 0; j < other->nbins; j++) h->counts[0] += other->counts[j];
        return;
    }
    /* spread each of other's bins over ours in proportion to overlap */
    const double top = (double)h->nbins * h->width;
    for (int64_t j = 0; j < other->nbins; j++) {
        double c = other->counts[j];
        if (c == 0.0) continue;
        double b = (double)j * other->width, e = (double)(j + 1) * other->width;
        if (b >= top) {
            h->counts[h->nbins - 1] += c;
            continue;
        }
        double beyond = e > top ? (e - top) / (e - b) * c : 0.0;
        if (e > top) e = top;
        double dens = (c - beyond) / (e - b);
        int64_t k0 = bin_of(h, b), k1 = bin_of(h, e);
        for (int64_t k = k0; k <= k1; k++) {
            double lo = (double)k * h->width, hi = (double)(k + 1) * h->width;
            if (lo < b) lo = b;
            if (hi > e) hi = e;
            if (hi > lo) h->counts[k] += dens * (hi - lo);
        }
        h->counts[h->nbins - 1] += beyond;
    }
}

/* ---- observer operations shared by ENTROPY and HIST_MSE ---- */

qk_status qk_abs_hist_obs_init(void *st, const qk_observer_config *cfg) {
    return qk_abs_hist_init(st, cfg);
}

void qk_abs_hist_obs_destroy(void *st) {
    qk_abs_hist_destroy(st);
}

void qk_abs_hist_obs_reset(void *st, const qk_observer_config *cfg) {
    (void)cfg;
    qk_abs_hist_reset(st);
}

static double chan_amax(const qk_obs_chan *c) {
    double a = fabs((double)c->min), b = fabs((double)c->max);
    return a > b ? a : b;
}

qk_status qk_abs_hist_obs_reserve(void *st, const qk_obs_chan *chan, const qk_obs_chan *add,
                                  const void *other, const qk_observer_config *cfg) {
    (void)chan;
    return qk_abs_hist_reserve(st, cfg, chan_amax(add), other);
}

void qk_abs_hist_obs_observe(void *st, const qk_obs_chan *chan, const qk_obs_batch *b,
                             const qk_observer_config *cfg, void *work) {
    (void)chan, (void)work;
    double a = fabs((double)b->min), c = fabs((double)b->max);
    qk_abs_hist_add(st, cfg, b->x, b->n, a > c ? a : c);
}

void qk_abs_hist_obs_merge(void *st, const qk_obs_chan *chan, const void *other,
                           const qk_obs_chan *other_chan, const qk_observer_config *cfg,
                           void *work) {
    (void)chan, (void)work;
    qk_abs_hist_merge(st, cfg, other, chan_amax(other_chan));
}

bool qk_abs_hist_one_sided(const qk_obs_chan *chan, const qk_observer_target *target) {
    return target->range == QK_QRANGE_UNSIGNED && chan->min >= 0.0f;
}
