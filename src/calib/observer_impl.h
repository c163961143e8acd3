/*
** Internal: the per-kind operations behind qk_observer.
**
** The generic layer (observer.c) validates batches (finite values, shape,
** channel count), splits them per channel and keeps, for each channel, the
** count and the extremes of everything observed (qk_obs_chan). Each kind
** keeps its own per-channel state of `state_size` bytes.
**
** Updates are two-phase so that a failing observe or merge leaves the
** observer unchanged: `reserve` may allocate (and fail) but changes nothing
** an observer reports; `observe` and `merge` then cannot fail.
*/
#ifndef QK_CALIB_OBSERVER_IMPL_H
#define QK_CALIB_OBSERVER_IMPL_H

#include "quantkit/calib.h"

/* What every kind can rely on, per channel. */
typedef struct qk_obs_chan {
    uint64_t n; /* values observed */
    float min;  /* smallest value observed (valid when n > 0) */
    float max;  /* largest value observed (valid when n > 0) */
} qk_obs_chan;

/* One channel's values of a batch: finite, n > 0, with their extremes. */
typedef struct qk_obs_batch {
    const float *x;
    size_t n;
    float min, max;
} qk_obs_batch;

typedef struct qk_observer_ops {
    size_t state_size;
    /* Scratch bytes the observer allocates once and hands to observe,
    ** merge and range (shared by all channels). */
    size_t (*work_bytes)(const qk_observer_config *cfg);
    /* Set up a fresh state (may allocate). */
    qk_status (*init)(void *st, const qk_observer_config *cfg);
    void (*destroy)(void *st);
    /* Back to the fresh state (keeps allocations). */
    void (*reset)(void *st, const qk_observer_config *cfg);
    /* Make room for `add` (n values with extremes min, max) joining a
    ** channel that so far has `chan`: a batch (other == NULL) or another
    ** observer's channel state (merge). NULL when a kind never allocates. */
    qk_status (*reserve)(void *st, const qk_obs_chan *chan, const qk_obs_chan *add,
                         const void *other, const qk_observer_config *cfg);
    /* Fold a batch in; `chan` is the channel before this batch. */
    void (*observe)(void *st, const qk_obs_chan *chan, const qk_obs_batch *b,
                    const qk_observer_config *cfg, void *work);
    /* Fold another observer's channel state in. */
    void (*merge)(void *st, const qk_obs_chan *chan, const void *other,
                  const qk_obs_chan *other_chan, const qk_observer_config *cfg, void *work);
    /* The clipping range for a target; chan->n > 0. */
    qk_status (*range)(void *st, const qk_obs_chan *chan, const qk_observer_config *cfg,
                       const qk_observer_target *target, float *lo, float *hi, void *work);
} qk_observer_ops;

extern const qk_observer_ops qk_obs_minmax_ops;
extern const qk_observer_ops qk_obs_moving_average_ops;
extern const qk_observer_ops qk_obs_percentile_ops;
extern const qk_observer_ops qk_obs_entropy_ops;
extern const qk_observer_ops qk_obs_hist_mse_ops;
extern const qk_observer_ops qk_obs_histogram_ops;

/* The kind state of one channel (borrowed; NULL when out of range or not
** yet allocated), for the kinds' own inspection helpers and tests. */
const void *qk_observer_state(const qk_observer *obs, int64_t channel);

/* HISTOGRAM: one channel's counts (borrowed, cfg.bins of them) and range. */
qk_status qk_obs_histogram_get(const qk_observer *obs, int64_t channel, const double **hist,
                               float *min, float *max);

/* [max(min, -amax), min(max, amax)]: a symmetric clip of the observed range. */
void qk_obs_clip_symmetric(const qk_obs_chan *chan, double amax, float *lo, float *hi);

#endif
