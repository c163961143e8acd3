/*
** Internal: TensorRT-style histogram of |x| shared by the ENTROPY and
** HIST_MSE observers (calib.h describes the binning and range growth).
*/
#ifndef QK_CALIB_ABS_HISTOGRAM_H
#define QK_CALIB_ABS_HISTOGRAM_H

#include "calib/observer_impl.h"

typedef struct qk_abs_hist {
    double *counts; /* [cap]; bins [0, nbins) in use, exact integers unless merged */
    int64_t nbins;  /* 0: nothing seen; 1 with width 0: only zeros seen */
    int64_t cap;
    double width; /* bin width; edges are k*width */
} qk_abs_hist;

/* Bins beyond which the histogram is coarsened (calib.h). */
int64_t qk_abs_hist_max_bins(const qk_observer_config *cfg);

qk_status qk_abs_hist_init(qk_abs_hist *h, const qk_observer_config *cfg);
void qk_abs_hist_destroy(qk_abs_hist *h);
void qk_abs_hist_reset(qk_abs_hist *h);
/* Capacity for values up to `amax` joining (or, with `other`, for merging
** that histogram). */
qk_status qk_abs_hist_reserve(qk_abs_hist *h, const qk_observer_config *cfg, double amax,
                              const qk_abs_hist *other);
/* Add n finite values whose largest magnitude is amax (after reserve). */
void qk_abs_hist_add(qk_abs_hist *h, const qk_observer_config *cfg, const float *x, size_t n,
                     double amax);
/* Fold `other` in (after reserve with other); `amax` is other's largest |x|. */
void qk_abs_hist_merge(qk_abs_hist *h, const qk_observer_config *cfg, const qk_abs_hist *other,
                       double amax);

/* Whether the target range is one-sided (TensorRT's `unsigned`): an
** unsigned range and nothing negative observed. */
bool qk_abs_hist_one_sided(const qk_obs_chan *chan, const qk_observer_target *target);

/* Observer operations shared by ENTROPY and HIST_MSE (state: qk_abs_hist). */
qk_status qk_abs_hist_obs_init(void *st, const qk_observer_config *cfg);
void qk_abs_hist_obs_destroy(void *st);
void qk_abs_hist_obs_reset(void *st, const qk_observer_config *cfg);
qk_status qk_abs_hist_obs_reserve(void *st, const qk_obs_chan *chan, const qk_obs_chan *add,
                                  const void *other, const qk_observer_config *cfg);
void qk_abs_hist_obs_observe(void *st, const qk_obs_chan *chan, const qk_obs_batch *b,
                             const qk_observer_config *cfg, void *work);
void qk_abs_hist_obs_merge(void *st, const qk_obs_chan *chan, const void *other,
                           const qk_obs_chan *other_chan, const qk_observer_config *cfg,
                           void *work);

#endif
