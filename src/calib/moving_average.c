/*
** Moving-average min-max observer (torch.ao MovingAverageMinMaxObserver and
** MovingAveragePerChannelMinMaxObserver). The first batch initialises the
** averages with its extremes; every later batch does, in f32 as torch does,
**     min = min + c * (batch_min - min),   max = max + c * (batch_max - max).
**
** Merge: the average is linear in the batch extremes. After k batches with
** extremes x_1..x_k starting from m_0 it is
**     m_k = (1-c)^k m_0 + sum_{j=1..k} c (1-c)^(k-j) x_j,
** while an observer that started with x_1 holds m'_k = m_k - (1-c)^k (m_0 - x_1)
** (its first batch counts as "m_0 = x_1"). So folding `other` (k batches,
** first extremes f, average m_o) into this observer's m gives
**     m_o + (1-c)^k (m - f),
** what sequential observation gives up to rounding (computed in double).
*/
#include <math.h> /* pow */

#include "calib/observer_impl.h"

typedef struct ma_state {
    uint64_t batches;           /* batches averaged */
    float min, max;             /* the averages */
    float first_min, first_max; /* extremes of the first batch */
} ma_state;

static qk_status ma_init(void *st, const qk_observer_config *cfg) {
    (void)cfg;
    ma_state *s = st;
    s->batches = 0;
    s->min = s->max = s->first_min = s->first_max = 0.0f;
    return QK_OK;
}

static void ma_destroy(void *st) {
    (void)st;
}

static void ma_reset(void *st, const qk_observer_config *cfg) {
    ma_init(st, cfg);
}

static void ma_observe(void *st, const qk_obs_chan *chan, const qk_obs_batch *b,
                       const qk_observer_config *cfg, void *work) {
    (void)chan, (void)work;
    ma_state *s = st;
    if (s->batches == 0) {
        s->min = s->first_min = b->min;
        s->max = s->first_max = b->max;
    } else {
        const float c = cfg->averaging_constant;
        s->min = s->min + c * (b->min - s->min);
        s->max = s->max + c * (b->max - s->max);
    }
    s->batches++;
}

static void ma_merge(void *st, const qk_obs_chan *chan, const void *other,
                     const qk_obs_chan *other_chan, const qk_observer_config *cfg, void *work) {
    (void)chan, (void)other_chan, (void)work;
    ma_state *s = st;
    const ma_state *o = other;
    if (o->batches == 0) return;
    if (s->batches == 0) {
        *s = *o;
        return;
    }
    const double decay = pow(1.0 - (double)cfg->averaging_constant, (double)o->batches);
    s->min = (float)((double)o->min + decay * ((double)s->min - (double)o->first_min));
    s->max = (float)((double)o->max + decay * ((double)s->max - (double)o->first_max));
    s->batches += o->batches;
}

static qk_status ma_range(void *st, const qk_obs_chan *chan, const qk_observer_config *cfg,
                          const qk_observer_target *target, float *lo, float *hi, void *work) {
    (void)chan, (void)cfg, (void)target, (void)work;
    const ma_state *s = st;
    *lo = s->min;
    *hi = s->max;
    return QK_OK;
}

const qk_observer_ops qk_obs_moving_average_ops = {
    .state_size = sizeof(ma_state),
    .work_bytes = NULL,
    .init = ma_init,
    .destroy = ma_destroy,
    .reset = ma_reset,
    .reserve = NULL,
    .observe = ma_observe,
    .merge = ma_merge,
    .range = ma_range,
};
