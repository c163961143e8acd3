/*
** MSE calibration, TensorRT's method (pytorch-quantization calib/histogram.py,
** _compute_amax_mse) on the |x| histogram of abs_histogram.c:
**   centres c_j = (j + 0.5) * w;
**   for each candidate k = start_bin .. nbins-1: amax = c_k,
**     s = M / amax with M = T - 1 (T as for ENTROPY: 2^(bits-1), or 2^bits
**     for a one-sided target), fq(c) = min(round(c*s), M) / s (ties to even),
**     error = sum_j count_j * (fq(c_j) - c_j)^2;
**   amax = the centre of the first candidate with the smallest error.
** With fewer bins than start_bin the only candidate is the last bin's
** centre; a 1-bit signed target (M = 0) keeps amax = the top edge.
*/
#include <math.h>   /* nearbyint, INFINITY */
#include <stdlib.h> /* free, malloc */

#include "calib/abs_histogram.h"
#include "core/error.h"

static qk_status mse_amax(const qk_abs_hist *h, const qk_observer_config *cfg, double m,
                          double *amax) {
    const int64_t n = h->nbins;
    *amax = (double)n * h->width;
    if (h->width == 0.0 || m < 1.0) return QK_OK;
    int64_t *idx = malloc((size_t)n * sizeof(int64_t));
    if (!idx) return qk_error_set(QK_ERR_NOMEM, "MSE observer: %lld bins", (long long)n);
    int64_t nnz = 0;
    for (int64_t j = 0; j < n; j++)
        if (h->counts[j] != 0.0) idx[nnz++] = j;
    int64_t start = cfg->start_bin < n - 1 ? cfg->start_bin : n - 1;
    double best = INFINITY;
    int64_t best_k = start;
    for (int64_t k = start; k < n; k++) {
        const double a = ((double)k + 0.5) * h->width;
        const double s = m / a;
        double err = 0.0;
        for (int64_t z = 0; z < nnz; z++) {
            const int64_t j = idx[z];
            const double c = ((double)j + 0.5) * h->width;
            double q = nearbyint(c * s);
            if (q > m) q = m;
            const double d = q / s - c;
            err += h->counts[j] * d * d;
        }
        if (err < best) { /* '<': the first candidate reaching the minimum */
            best = err;
            best_k = k;
        }
    }
    free(idx);
    *amax = ((double)best_k + 0.5) * h->width;
    return QK_OK;
}

static qk_status mse_range(void *st, const qk_obs_chan *chan, const qk_observer_config *cfg,
                           const qk_observer_target *target, float *lo, float *hi, void *work) {
    (void)work;
    const int32_t bits = target->bits - 1 + (qk_abs_hist_one_sided(chan, target) ? 1 : 0);
    const double m = (double)((int64_t)1 << (bits > 0 ? bits : 0)) - 1.0;
    double amax = 0.0;
    qk_status s = mse_amax(st, cfg, m, &amax);
    if (s != QK_OK) return s;
    qk_obs_clip_symmetric(chan, amax, lo, hi);
    return QK_OK;
}

const qk_observer_ops qk_obs_hist_mse_ops = {
    .state_size = sizeof(qk_abs_hist),
    .work_bytes = NULL,
    .init = qk_abs_hist_obs_init,
    .destroy = qk_abs_hist_obs_destroy,
    .reset = qk_abs_hist_obs_reset,
    .reserve = qk_abs_hist_obs_reserve,
    .observe = qk_abs_hist_obs_observe,
    .merge = qk_abs_hist_obs_merge,
    .range = mse_range,
};
