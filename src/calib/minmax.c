/*
** Min-max observer (torch.ao MinMaxObserver / PerChannelMinMaxObserver):
** the clipping range is the smallest and largest value observed, which the
** generic layer already tracks per channel, so this kind keeps no state.
*/
#include "calib/observer_impl.h"

static qk_status minmax_init(void *st, const qk_observer_config *cfg) {
    (void)st;
    (void)cfg;
    return QK_OK;
}

static void minmax_destroy(void *st) {
    (void)st;
}

static void minmax_reset(void *st, const qk_observer_config *cfg) {
    (void)st;
    (void)cfg;
}

static void minmax_observe(void *st, const qk_obs_chan *chan, const qk_obs_batch *b,
                           const qk_observer_config *cfg, void *work) {
    (void)st, (void)chan, (void)b, (void)cfg, (void)work;
}

static void minmax_merge(void *st, const qk_obs_chan *chan, const void *other,
                         const qk_obs_chan *other_chan, const qk_observer_config *cfg, void *work) {
    (void)st, (void)chan, (void)other, (void)other_chan, (void)cfg, (void)work;
}

static qk_status minmax_range(void *st, const qk_obs_chan *chan, const qk_observer_config *cfg,
                              const qk_observer_target *target, float *lo, float *hi, void *work) {
    (void)st, (void)cfg, (void)target, (void)work;
    *lo = chan->min;
    *hi = chan->max;
    return QK_OK;
}

const qk_observer_ops qk_obs_minmax_ops = {
    .state_size = 0,
    .work_bytes = NULL,
    .init = minmax_init,
    .destroy = minmax_destroy,
    .reset = minmax_reset,
    .reserve = NULL,
    .observe = minmax_observe,
    .merge = minmax_merge,
    .range = minmax_range,
};
