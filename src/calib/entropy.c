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
#include <math.h>   /* log, INFINITY */
#include <stdlib.h> /* calloc, free, malloc */

#include "calib/abs_histogram.h"
#include "core/error.h"

/* KL(P||Q) for candidate i (see the header comment), visiting only the m
** non-zero bins idx[0..m-1] (all below i). P sums to `total` (the tail
** joins P[i-1]); Q sums to `below` = sum(bins[0..i-1]) (each chunk keeps
** its mass). sums and cnt (T entries) are zero on entry and on return. */
static double kl_for(const double *bins, const int64_t *idx, int64_t m, int64_t i, int64_t t,
                     double tail, double total, double below, double *sums, int64_t *cnt) {
    for (int64_t k = 0; k < m; k++) {
        const int64_t c = idx[k] * t / i;
        sums[c] += bins[idx[k]];
        cnt[c]++;
    }
    double kl = 0.0;
    for (int64_t k = 0; k < m; k++) {
        const int64_t j = idx[k], c = j * t / i;
        const double p = (bins[j] + (j == i - 1 ? tail : 0.0)) / total;
        const double q = sums[c] / (double)cnt[c] / below;
        kl += p * log(p / q);
    }
    for (int64_t k = 0; k < m; k++) {
        const int64_t c = idx[k] * t / i;
        sums[c] = 0.0;
        cnt[c] = 0;
    }
    return kl;
}

/* amax by the KL search over an |x| histogram. Candidates whose last bin
** is empty while mass lies above it have KL = +Inf (P[i-1] > 0 = Q[i-1])
** and are not evaluated. */
static qk_status entropy_amax(const qk_abs_hist *h, const qk_observer_config *cfg, int64_t t,
                              double *amax) {
    const int64_t n = h->nbins;
    *amax = (double)n * h->width;
    if (h->width == 0.0 || n < 2) return QK_OK;
    double *bins = malloc((size_t)n * sizeof(double));
    double *sums = calloc((size_t)t, sizeof(double));
    int64_t *cnt = calloc((size_t)t, sizeof(int64_t));
    int64_t *idx = malloc((size_t)n * sizeof(int64_t));
    qk_status st = QK_OK;
    if (!bins || !sums || !cnt || !idx) {
        st = qk_error_set(QK_ERR_NOMEM, "entropy observer: %lld bins", (long long)n);
        goto done;
    }
    for (int64_t j = 0; j < n; j++) bins[j] = h->counts[j];
    bins[0] = bins[1];
    int64_t nnz = 0;
    double total = 0.0;
    for (int64_t j = 0; j < n; j++) {
        total += bins[j];
        if (bins[j] != 0.0) idx[nnz++] = j;
    }
    if (!(total > 0.0)) goto done;
    int64_t start = cfg->start_bin < n ? cfg->start_bin : n;
    if (start < 1) start = 1;
    double below = 0.0, tail = 0.0;
    for (int64_t j = 0; j < start; j++) below += bins[j];
    for (int64_t j = start; j < n; j++) tail += bins[j];
    int64_t m = 0; /* non-zero bins below i */
    while (m < nnz && idx[m] < start) m++;
    double best = INFINITY;
    int64_t best_i = n;
    for (int64_t i = start; i <= n; i++) {
        double kl = INFINITY;
        if (!(bins[i - 1] == 0.0 && tail > 0.0) && below > 0.0)
            kl = kl_for(bins, idx, m, i, t, tail, total, below, sums, cnt);
        if (kl <= best) { /* '<=': the last i reaching the minimum */
            best = kl;
            best_i = i;
        }
        if (i < n) {
            below += bins[i];
            tail -= bins[i];
            if (bins[i] != 0.0) m++;
        }
    }
    *amax = (double)best_i * h->width;
done:
    free(bins);
    free(sums);
    free(cnt);
    free(idx);
    return st;
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
