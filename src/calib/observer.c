/*
** qk_observer: configuration, batch validation, per-channel split and the
** dispatch to the per-kind operations (observer_impl.h).
*/
#include <math.h>   /* isfinite, isnan */
#include <stdlib.h> /* calloc, free, malloc */
#include <string.h> /* memset */

#include "calib/observer_impl.h"
#include "core/error.h"

struct qk_observer {
    qk_observer_config cfg;
    const qk_observer_ops *ops;
    int64_t channels;      /* 1 per tensor; per channel 0 until known */
    qk_obs_chan *chan;     /* [channels] */
    unsigned char *states; /* [channels * ops->state_size] */
    void *work;            /* ops->work_bytes(cfg) bytes, or NULL */
};

static const qk_observer_ops *ops_for(qk_observer_kind kind) {
    switch (kind) {
    case QK_OBSERVER_MINMAX:
        return &qk_obs_minmax_ops;
    case QK_OBSERVER_MOVING_AVERAGE:
        return &qk_obs_moving_average_ops;
    case QK_OBSERVER_PERCENTILE:
        return &qk_obs_percentile_ops;
    case QK_OBSERVER_ENTROPY:
        return &qk_obs_entropy_ops;
    case QK_OBSERVER_HIST_MSE:
        return &qk_obs_hist_mse_ops;
    case QK_OBSERVER_HISTOGRAM:
        return &qk_obs_histogram_ops;
    case QK_OBSERVER_KIND_COUNT:
        break;
    }
    return NULL;
}

const char *qk_observer_kind_name(qk_observer_kind kind) {
    switch (kind) {
    case QK_OBSERVER_MINMAX:
        return "minmax";
    case QK_OBSERVER_MOVING_AVERAGE:
        return "moving_average";
    case QK_OBSERVER_PERCENTILE:
        return "percentile";
    case QK_OBSERVER_ENTROPY:
        return "entropy";
    case QK_OBSERVER_HIST_MSE:
        return "hist_mse";
    case QK_OBSERVER_HISTOGRAM:
        return "histogram";
    case QK_OBSERVER_KIND_COUNT:
        break;
    }
    return "?";
}

void qk_observer_config_default(qk_observer_config *cfg, qk_observer_kind kind) {
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->per_channel = false;
    cfg->ch_axis = 0;
    cfg->averaging_constant = 0.01f;
    cfg->percentile = 99.99;
    cfg->percentile_abs = false;
    cfg->bins = 2048;
    cfg->start_bin = 128;
    cfg->upsample_rate = 128;
    cfg->torch_int_bounds = true;
}

void qk_obs_clip_symmetric(const qk_obs_chan *chan, double amax, float *lo, float *hi) {
    double l = chan->min, h = chan->max;
    if (l < -amax) l = -amax;
    if (h > amax) h = amax;
    if (l > h) l = h; /* cannot happen for amax >= 0; keeps lo <= hi */
    *lo = (float)l;
    *hi = (float)h;
}

static qk_status check_config(const qk_observer_config *cfg) {
    if (!ops_for(cfg->kind))
        return qk_error_set(QK_ERR_CONFIG, "observer: unknown kind %d", (int)cfg->kind);
    const char *name = qk_observer_kind_name(cfg->kind);
    if (cfg->per_channel && (cfg->ch_axis < -QK_MAX_DIMS || cfg->ch_axis >= QK_MAX_DIMS))
        return qk_error_set(QK_ERR_CONFIG, "%s observer: channel axis %d out of range", name,
                            (int)cfg->ch_axis);
    switch (cfg->kind) {
    case QK_OBSERVER_MOVING_AVERAGE:
        if (!(cfg->averaging_constant > 0.0f && cfg->averaging_constant <= 1.0f))
            return qk_error_set(QK_ERR_CONFIG,
                                "%s observer: averaging constant %g is not in (0, 1]", name,
                                (double)cfg->averaging_constant);
        break;
    case QK_OBSERVER_PERCENTILE:
        if (!(cfg->percentile >= 50.0 && cfg->percentile <= 100.0))
            return qk_error_set(QK_ERR_CONFIG, "%s observer: percentile %g is not in [50, 100]",
                                name, cfg->percentile);
        break;
    case QK_OBSERVER_ENTROPY:
    case QK_OBSERVER_HIST_MSE:
    case QK_OBSERVER_HISTOGRAM:
        if (cfg->bins < 2 || cfg->bins > (1 << 20))
            return qk_error_set(QK_ERR_CONFIG, "%s observer: %d bins (2..1048576)", name,
                                (int)cfg->bins);
        if (cfg->kind == QK_OBSERVER_HISTOGRAM &&
            (cfg->upsample_rate < 1 || cfg->upsample_rate > (1 << 16)))
            return qk_error_set(QK_ERR_CONFIG, "%s observer: upsample rate %d (1..65536)", name,
                                (int)cfg->upsample_rate);
        if (cfg->kind != QK_OBSERVER_HISTOGRAM && cfg->start_bin < 0)
            return qk_error_set(QK_ERR_CONFIG, "%s observer: start bin %d < 0", name,
                                (int)cfg->start_bin);
        break;
    default:
        break;
    }
    return QK_OK;
}

static void free_channels(qk_observer *obs) {
    if (obs->states) {
        for (int64_t c = 0; c < obs->channels; c++)
            obs->ops->destroy(obs->states + (size_t)c * obs->ops->state_size);
    }
    free(obs->states);
    free(obs->chan);
    obs->states = NULL;
    obs->chan = NULL;
    obs->channels = 0;
}

static qk_status alloc_channels(qk_observer *obs, int64_t channels) {
    size_t ssize = obs->ops->state_size ? obs->ops->state_size : 1;
    size_t bytes;
    if ((uint64_t)channels > SIZE_MAX || !qk_mul_size((size_t)channels, ssize, &bytes))
        return qk_error_set(QK_ERR_OVERFLOW, "observer: %lld channels", (long long)channels);
    obs->chan = calloc((size_t)channels, sizeof *obs->chan);
    obs->states = calloc(1, bytes);
    if (!obs->chan || !obs->states) {
        free(obs->chan);
        free(obs->states);
        obs->chan = NULL;
        obs->states = NULL;
        return qk_error_set(QK_ERR_NOMEM, "observer: state for %lld channels", (long long)channels);
    }
    for (int64_t c = 0; c < channels; c++) {
        qk_status st = obs->ops->init(obs->states + (size_t)c * obs->ops->state_size, &obs->cfg);
        if (st != QK_OK) {
            obs->channels = c; /* destroy the ones initialised */
            free_channels(obs);
            return st;
        }
    }
    obs->channels = channels;
    return QK_OK;
}

static void *state_of(const qk_observer *obs, int64_t c) {
    return obs->states + (size_t)c * obs->ops->state_size;
}

const void *qk_observer_state(const qk_observer *obs, int64_t channel) {
    if (!obs || channel < 0 || channel >= obs->channels) return NULL;
    return state_of(obs, channel);
}

qk_status qk_observer_create(const qk_observer_config *cfg, qk_observer **out) {
    if (!cfg || !out) return qk_error_set(QK_ERR_INVALID_ARG, "observer create: NULL argument");
    *out = NULL;
    qk_status st = check_config(cfg);
    if (st != QK_OK) return st;
    qk_observer *obs = calloc(1, sizeof *obs);
    if (!obs) return qk_error_set(QK_ERR_NOMEM, "observer create");
    obs->cfg = *cfg;
    obs->ops = ops_for(cfg->kind);
    size_t wb = obs->ops->work_bytes ? obs->ops->work_bytes(cfg) : 0;
    if (wb) {
        obs->work = malloc(wb);
        if (!obs->work) {
            free(obs);
            return qk_error_set(QK_ERR_NOMEM, "observer create: %zu bytes of scratch", wb);
        }
    }
    if (!cfg->per_channel) {
        st = alloc_channels(obs, 1);
        if (st != QK_OK) {
            free(obs->work);
            free(obs);
            return st;
        }
    }
    *out = obs;
    return QK_OK;
}

void qk_observer_free(qk_observer *obs) {
    if (!obs) return;
    free_channels(obs);
    free(obs->work);
    free(obs);
}

const qk_observer_config *qk_observer_get_config(const qk_observer *obs) {
    return obs ? &obs->cfg : NULL;
}

int64_t qk_observer_channels(const qk_observer *obs) {
    return obs ? obs->channels : 0;
}

uint64_t qk_observer_count(const qk_observer *obs) {
    return obs && obs->channels > 0 ? obs->chan[0].n : 0;
}

void qk_observer_reset(qk_observer *obs) {
    if (!obs) return;
    if (obs->cfg.per_channel) {
        free_channels(obs);
        return;
    }
    obs->ops->reset(obs->states, &obs->cfg);
    memset(obs->chan, 0, sizeof *obs->chan);
}

static bool has_data(const qk_observer *obs) {
    return obs->channels > 0 && obs->chan[0].n > 0;
}

/* ---- observe ----------------------------------------------------------- */

static qk_status nonfinite_error(float v, int64_t index) {
    const char *what = isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
    return qk_error_set(QK_ERR_NONFINITE, "observer: batch element %lld is %s", (long long)index,
                        what);
}

/* First pass over a batch laid out as [outer][channels][inner]: check every
** value is finite and find each channel's extremes. */
static qk_status scan_batch(const float *x, int64_t outer, int64_t channels, int64_t inner,
                            float *bmin, float *bmax) {
    for (int64_t c = 0; c < channels; c++) {
        bmin[c] = INFINITY;
        bmax[c] = -INFINITY;
    }
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c = 0; c < channels; c++) {
            const float *row = x + (o * channels + c) * inner;
            float lo = bmin[c], hi = bmax[c];
            for (int64_t i = 0; i < inner; i++) {
                float v = row[i];
                if (!isfinite(v)) return nonfinite_error(v, (o * channels + c) * inner + i);
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            bmin[c] = lo;
            bmax[c] = hi;
        }
    }
    return QK_OK;
}

qk_status qk_observer_observe(qk_observer *obs, const qk_tensor_view *batch) {
    if (!obs || !batch) return qk_error_set(QK_ERR_INVALID_ARG, "observe: NULL argument");
    if (batch->type != QK_TYPE_F32)
        return qk_error_set(QK_ERR_UNSUPPORTED, "observe: batch type %s (only f32)",
                            qk_type_name(batch->type));
    if (batch->ndim < 0 || batch->ndim > QK_MAX_DIMS)
        return qk_error_set(QK_ERR_SHAPE, "observe: %d dimensions", (int)batch->ndim);
    int64_t numel = 1;
    for (int32_t d = 0; d < batch->ndim; d++) {
        int64_t s = batch->shape[d];
        if (s < 0)
            return qk_error_set(QK_ERR_SHAPE, "observe: dimension %d is %lld", d, (long long)s);
        if (s != 0 && numel > INT64_MAX / s)
            return qk_error_set(QK_ERR_OVERFLOW, "observe: shape product overflows");
        numel *= s;
    }
    int64_t outer = 1, channels = 1, inner = numel;
    if (obs->cfg.per_channel) {
        int32_t axis = obs->cfg.ch_axis < 0 ? obs->cfg.ch_axis + batch->ndim : obs->cfg.ch_axis;
        if (axis < 0 || axis >= batch->ndim)
            return qk_error_set(QK_ERR_SHAPE, "observe: channel axis %d of a %d-D batch",
                                (int)obs->cfg.ch_axis, (int)batch->ndim);
        outer = 1;
        inner = 1;
        for (int32_t d = 0; d < axis; d++) outer *= batch->shape[d];
        for (int32_t d = axis + 1; d < batch->ndim; d++) inner *= batch->shape[d];
        channels = batch->shape[axis];
    }
    if (numel == 0) return QK_OK;
    if (!batch->data) return qk_error_set(QK_ERR_INVALID_ARG, "observe: NULL data");
    if (obs->channels != 0 && channels != obs->channels)
        return qk_error_set(QK_ERR_SHAPE, "observe: batch has %lld channels, observer has %lld",
                            (long long)channels, (long long)obs->channels);
    if ((uint64_t)channels > SIZE_MAX / (2 * sizeof(float)) ||
        (uint64_t)(outer * inner) > SIZE_MAX / sizeof(float))
        return qk_error_set(QK_ERR_OVERFLOW, "observe: batch too large");

    const float *x = batch->data;
    float one_min, one_max;
    float *bmin = &one_min, *bmax = &one_max, *gather = NULL;
    if (channels > 1) {
        bmin = malloc((size_t)channels * 2 * sizeof(float));
        if (!bmin) return qk_error_set(QK_ERR_NOMEM, "observe: %lld channels", (long long)channels);
        bmax = bmin + channels;
    }
    qk_status st = scan_batch(x, outer, channels, inner, bmin, bmax);
    if (st == QK_OK && outer > 1 && channels > 1) {
        gather = malloc((size_t)(outer * inner) * sizeof(float));
        if (!gather) st = qk_error_set(QK_ERR_NOMEM, "observe: gathering a channel");
    }
    bool fresh = false;
    if (st == QK_OK && obs->channels == 0) {
        st = alloc_channels(obs, channels);
        fresh = st == QK_OK;
    }
    const uint64_t per_chan = (uint64_t)(outer * inner);
    for (int64_t c = 0; st == QK_OK && c < channels && obs->ops->reserve; c++) {
        qk_obs_chan add = {per_chan, bmin[c], bmax[c]};
        st = obs->ops->reserve(state_of(obs, c), &obs->chan[c], &add, NULL, &obs->cfg);
    }
    if (st != QK_OK) {
        if (fresh) free_channels(obs);
    } else {
        for (int64_t c = 0; c < channels; c++) {
            const float *src = x + c * inner;
            if (gather) {
                for (int64_t o = 0; o < outer; o++)
                    memcpy(gather + o * inner, x + (o * channels + c) * inner,
                           (size_t)inner * sizeof(float));
                src = gather;
            }
            qk_obs_batch b = {src, (size_t)per_chan, bmin[c], bmax[c]};
            qk_obs_chan *ch = &obs->chan[c];
            obs->ops->observe(state_of(obs, c), ch, &b, &obs->cfg, obs->work);
            if (ch->n == 0 || b.min < ch->min) ch->min = b.min;
            if (ch->n == 0 || b.max > ch->max) ch->max = b.max;
            ch->n += per_chan;
        }
    }
    free(gather);
    if (channels > 1) free(bmin);
    return st;
}

qk_status qk_observer_observe_f32(qk_observer *obs, const float *x, size_t n) {
    if ((uint64_t)n > (uint64_t)INT64_MAX)
        return qk_error_set(QK_ERR_OVERFLOW, "observe: %zu values", n);
    qk_tensor_view v;
    memset(&v, 0, sizeof v);
    v.type = QK_TYPE_F32;
    v.ndim = 1;
    v.shape[0] = (int64_t)n;
    v.data = (void *)x;
    return qk_observer_observe(obs, &v);
}

/* ---- merge ------------------------------------------------------------- */

static bool same_config(const qk_observer_config *a, const qk_observer_config *b) {
    if (a->kind != b->kind || a->per_channel != b->per_channel) return false;
    if (a->per_channel && a->ch_axis != b->ch_axis) return false;
    switch (a->kind) {
    case QK_OBSERVER_MOVING_AVERAGE:
        return a->averaging_constant == b->averaging_constant;
    case QK_OBSERVER_PERCENTILE:
        return a->percentile == b->percentile && a->percentile_abs == b->percentile_abs;
    case QK_OBSERVER_ENTROPY:
    case QK_OBSERVER_HIST_MSE:
        return a->bins == b->bins && a->start_bin == b->start_bin;
    case QK_OBSERVER_HISTOGRAM:
        return a->bins == b->bins && a->upsample_rate == b->upsample_rate &&
               a->torch_int_bounds == b->torch_int_bounds;
    default:
        return true;
    }
}

qk_status qk_observer_merge(qk_observer *obs, const qk_observer *other) {
    if (!obs || !other) return qk_error_set(QK_ERR_INVALID_ARG, "merge: NULL argument");
    if (obs == other) return qk_error_set(QK_ERR_INVALID_ARG, "merge: an observer with itself");
    if (!same_config(&obs->cfg, &other->cfg))
        return qk_error_set(QK_ERR_CONFIG,
                            "merge: %s observer into a differently configured %s "
                            "observer",
                            qk_observer_kind_name(other->cfg.kind),
                            qk_observer_kind_name(obs->cfg.kind));
    if (!has_data(other)) return QK_OK;
    if (obs->channels != 0 && obs->channels != other->channels)
        return qk_error_set(QK_ERR_SHAPE, "merge: %lld channels into %lld channels",
                            (long long)other->channels, (long long)obs->channels);
    qk_status st = QK_OK;
    bool fresh = false;
    if (obs->channels == 0) {
        st = alloc_channels(obs, other->channels);
        if (st != QK_OK) return st;
        fresh = true;
    }
    for (int64_t c = 0; c < obs->channels && obs->ops->reserve; c++) {
        st = obs->ops->reserve(state_of(obs, c), &obs->chan[c], &other->chan[c], state_of(other, c),
                               &obs->cfg);
        if (st != QK_OK) {
            if (fresh) free_channels(obs);
            return st;
        }
    }
    for (int64_t c = 0; c < obs->channels; c++) {
        qk_obs_chan *ch = &obs->chan[c];
        const qk_obs_chan *oc = &other->chan[c];
        obs->ops->merge(state_of(obs, c), ch, state_of(other, c), oc, &obs->cfg, obs->work);
        if (ch->n == 0 || oc->min < ch->min) ch->min = oc->min;
        if (ch->n == 0 || oc->max > ch->max) ch->max = oc->max;
        ch->n += oc->n;
    }
    return QK_OK;
}

/* ---- range and parameters ---------------------------------------------- */

qk_status qk_observer_range(qk_observer *obs, const qk_observer_target *target, float *lo,
                            float *hi, size_t n) {
    if (!obs || !target || !lo || !hi)
        return qk_error_set(QK_ERR_INVALID_ARG, "observer range: NULL argument");
    int32_t qmin, qmax;
    qk_status st = qk_qrange_for_bits(target->bits, target->range, &qmin, &qmax);
    if (st != QK_OK) return st;
    if (!has_data(obs))
        return qk_error_set(QK_ERR_STATE, "%s observer: nothing observed yet",
                            qk_observer_kind_name(obs->cfg.kind));
    if (n < (uint64_t)obs->channels)
        return qk_error_set(QK_ERR_INVALID_ARG, "observer range: room for %zu of %lld channels", n,
                            (long long)obs->channels);
    for (int64_t c = 0; c < obs->channels; c++) {
        st = obs->ops->range(state_of(obs, c), &obs->chan[c], &obs->cfg, target, &lo[c], &hi[c],
                             obs->work);
        if (st != QK_OK)
            return obs->channels > 1 ? qk_error_prefix("channel %lld", (long long)c) : st;
    }
    return QK_OK;
}

qk_status qk_observer_compute(qk_observer *obs, const qk_observer_target *target,
                              qk_affine_params *out, size_t n) {
    if (!obs || !target || !out)
        return qk_error_set(QK_ERR_INVALID_ARG, "observer compute: NULL argument");
    int32_t qmin, qmax;
    qk_status st = qk_qrange_for_bits(target->bits, target->range, &qmin, &qmax);
    if (st != QK_OK) return st;
    if (!has_data(obs))
        return qk_error_set(QK_ERR_STATE, "%s observer: nothing observed yet",
                            qk_observer_kind_name(obs->cfg.kind));
    if (n < (uint64_t)obs->channels)
        return qk_error_set(QK_ERR_INVALID_ARG, "observer compute: room for %zu of %lld channels",
                            n, (long long)obs->channels);
    size_t nc = (size_t)obs->channels;
    float *lo = malloc(nc * 2 * sizeof(float));
    if (!lo) return qk_error_set(QK_ERR_NOMEM, "observer compute: %zu channels", nc);
    float *hi = lo + nc;
    st = qk_observer_range(obs, target, lo, hi, nc);
    for (size_t c = 0; st == QK_OK && c < nc; c++) {
        st = qk_affine_params_from_minmax(lo[c], hi[c], qmin, qmax, target->symmetric, &out[c]);
        if (st != QK_OK && nc > 1) qk_error_prefix("channel %zu", c);
    }
    free(lo);
    return st;
}
