/*
** Entropy (KL) calibration, TensorRT's method (pytorch-quantization
** calib/histogram.py, _compute_amax_entropy) on the |x| histogram of
** abs_histogram.c:
**   bins = a copy of the counts with bins[0] = bins[1];
**   T = 2^(bits-1), or 2^bits for a one-sided target (abs_histogram.h);
**   for i = start_bin .. nbins (stride 1):
**     P = bins[0..i-1], P[i-1] += sum(bins[i..]);
**     Q: bin j < i belongs to chunk floor(j*T/i) (numpy digitize against
**        linspace(0, i, T+1)); each chunk's total over bins[0..i-1] is spread
**        evenly over the chunk's non-zero bins, zero bins stay zero;
**     KL(P||Q) = sum_j p_j ln(p_j/q_j) with p, q normalised to sum 1, terms
**        with p_j = 0 dropped, +Inf when q_j = 0 < p_j (scipy.stats.entropy);
**   amax = i*w for the last i attaining the minimum KL.
** With fewer bins than start_bin the only candidate is i = nbins.
*/
#include <math.h>   /* log, INFINITY, fabsf */
#include <stdlib.h> /* malloc, free */

#include "calib/abs_histogram.h"
#include "core/error.h"

/* KL(P||Q) for candidate i (see the header comment); sums and nz are
** scratch of T entries. */
static double kl_for(const double *bins, int64_t nbins, int64_t i, int64_t t, double tail,
                     double *sums, int64_t *nz) {
    for (int64_t c = 0; c < t; c++) {
        sums[c] = 0.0;
        nz[c] = 0;
    }
    for (int64_t j = 0; j < i; j++) {
        int64_t c = j * t / i;
        sums[c] += bins[j];
        nz[c] += bins[j] != 0.0;
    }
    double psum = 0.0, qsum = 0.0;
    for (int64_t j = 0; j < i; j++) {
        double p = bins[j] + (j == i - 1 ? tail : 0.0);
        psum += p;
        if (bins[j] != 0.0) {
            int64_t c = j * t / i;
            qsum += sums[c] / (double)nz[c];
        }
    }
    (void)nbins;
    if (psum <= 0.0 || qsum <= 0.0) return INFINITY;
    double kl = 0.0;
    for (int64_t j = 0; j < i; j++) {
        double p = bins[j] + (j == i - 1 ? tail : 0.0);
        if (p == 0.0) continue;
        if (bins[j] == 0.0) return INFINITY;
        int64_t c = j * t / i;
        double pn = p / psum, qn = sums[c] / (double)nz[c] / qsum;
        kl += pn * log(pn / qn);
    }
    return kl;
}

/* amax by the KL search over an |x| histogram. */
static qk_status entropy_amax(const qk_abs_hist *h, const qk_observer_config *cfg, int64_t t,
                              double *amax) {
    const int64_t n = h->nbins;
    if (h->width == 0.0 || n < 2) {
        *amax = (double)n * h->width;
        return QK_OK;
    }
    double *bins = malloc((size_t)(n + t) * sizeof(double));
    int64_t *nz = malloc((size_t)t * sizeof(int64_t));
    if (!bins || !nz) {
        free(bins);
        free(nz);
        return qk_error_set(QK_ERR_NOMEM, "entropy observer: %lld bins", (long long)n);
    }
    double *sums = bins + n;
    for (int64_t j = 0; j < n; j++) bins[j] = h->counts[j];
    bins[0] = bins[1];
    /* tail[i] = sum(bins[i..n-1]), accumulated from the top */
    int64_t start = cfg->start_bin < n ? cfg->start_bin : n;
    if (start < 1) start = 1;
    double best = INFINITY;
    int64_t best_i = n;
    double tail = 0.0;
    for (int64_t j = n - 1; j >= start; j--) tail += bins[j];
    /* walk i upwards; the tail loses bins[i] as i grows */
    for (int64_t i = start; i <= n; i++) {
        double kl = kl_for(bins, n, i, t, tail, sums, nz);
        if (kl <= best) { /* '<=': the last i reaching the minimum */
            best = kl;
            best_i = i;
        }
        if (i < n) tail -= bins[i];
    }
    free(bins);
    free(nz);
    *amax = (double)best_i * h->width;
    return QK_OK;
}

static qk_status ent_range(void *st, const qk_obs_chan *chan, const qk_observer_config *cfg,
                           const qk_observer_target *target, float *lo, float *hi, void *work) {
    (void)work;
    const int32_t bits = target->bits - 1 + (qk_abs_hist_one_sided(chan, target) ? 1 : 0);
    const int64_t t = (int64_t)1 << (bits > 0 ? bits : 0);
    double amax = 0.0;
    qk_status s = entropy_amax(st, cfg, t, &amax);
    if (s != QK_OK) return s;
    qk_obs_clip_symmetric(chan, amax, lo, hi);
    return QK_OK;
}

const qk_observer_ops qk_obs_entropy_ops = {
    .state_size = sizeof(qk_abs_hist),
    .work_bytes = NULL,
    .init = qk_abs_hist_obs_init,
    .destroy = qk_abs_hist_obs_destroy,
    .reset = qk_abs_hist_obs_reset,
    .reserve = qk_abs_hist_obs_reserve,
    .observe = qk_abs_hist_obs_observe,
    .merge = qk_abs_hist_obs_merge,
    .range = ent_range,
};
