/*
** torch.ao HistogramObserver (torch 1.13) with the L2 _non_linear_param_search.
**
** State per channel: `bins` counts over [min, max] (torch's min_val/max_val,
** f32). The arithmetic that decides discrete outcomes (which bin a value
** falls in, the grid adjustment when the range grows, the quantile
** thresholds, the final [min, max]) is done in f32 exactly as torch's tensor
** ops do it; the error norms are summed in double. calib.h lists the two
** places where quantkit deliberately differs.
*/
#include <math.h>   /* ceilf, copysignf, floorf, fmodf, nearbyintf, truncf, INFINITY */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* memcpy, memset */

#include "calib/observer_impl.h"
#include "core/error.h"

typedef struct th_state {
    double *hist;   /* [bins] */
    float min, max; /* range the bins cover */
} th_state;

/* Growth by more than this factor in one step leaves torch's upsampled grid
** (it would need bins * upsample * factor cells) for uniform re-binning. */
#define TH_MAX_GROWTH 16777216.0f

static size_t th_work_bytes(const qk_observer_config *cfg) {
    return (3 * (size_t)cfg->bins + 1) * sizeof(double);
}

static qk_status th_init(void *st, const qk_observer_config *cfg) {
    th_state *s = st;
    s->min = s->max = 0.0f;
    s->hist = calloc((size_t)cfg->bins, sizeof(double));
    if (!s->hist) return qk_error_set(QK_ERR_NOMEM, "histogram observer: %d bins", cfg->bins);
    return QK_OK;
}

static void th_destroy(void *st) {
    th_state *s = st;
    free(s->hist);
    s->hist = NULL;
}

static void th_reset(void *st, const qk_observer_config *cfg) {
    th_state *s = st;
    memset(s->hist, 0, (size_t)cfg->bins * sizeof(double));
    s->min = s->max = 0.0f;
}

/* ---- torch.histc ---------------------------------------------------------
** Bounds as the observer passes them (int() truncation in torch 1.13), then
** histc's rules: equal bounds -> the data's extremes -> +-1; values outside
** [lo, hi] are dropped; pos = (int)((x - lo) * bins / (hi - lo)) in f32, the
** top edge into the last bin. Counts are added to `out`. */
static void torch_histc(const qk_observer_config *cfg, const qk_obs_batch *b, float lo_in,
                        float hi_in, double *out) {
    double lo = cfg->torch_int_bounds ? (double)truncf(lo_in) : (double)lo_in;
    double hi = cfg->torch_int_bounds ? (double)truncf(hi_in) : (double)hi_in;
    if (lo == hi) {
        lo = b->min;
        hi = b->max;
    }
    if (lo == hi) {
        lo -= 1.0;
        hi += 1.0;
    }
    const float lo_f = (float)lo, hi_f = (float)hi;
    const float span = hi_f - lo_f;
    const float nb = (float)cfg->bins;
    const int64_t bins = cfg->bins;
    for (size_t i = 0; i < b->n; i++) {
        const float v = b->x[i];
        if (!(v >= lo_f && v <= hi_f)) continue;
        float t = v - lo_f;
        t = t * nb;
        t = t / span;
        int64_t pos = (int64_t)t;
        if (pos >= bins) pos = bins - 1;
        out[pos] += 1.0;
    }
}

/* The histc bin (exact bounds) of a single value, for a constant history. */
static int64_t histc_bin_of(int32_t bins, float lo, float hi, float v) {
    if (!(hi > lo)) return bins / 2;
    float t = ((v - lo) * (float)bins) / (hi - lo);
    int64_t pos = t < 0.0f ? 0 : (int64_t)t;
    return pos >= bins ? bins - 1 : pos;
}

/* Add `mass` spread uniformly over [a, b) to the grid [lo, lo + bins*w),
** the first and last bins extended to -+infinity. */
static void spread(double *dst, int32_t bins, double lo, double w, double a, double b,
                   double mass) {
    if (mass == 0.0) return;
    int64_t j0 = (int64_t)floor((a - lo) / w), j1 = (int64_t)floor((b - lo) / w);
    if (j0 < 0) j0 = 0;
    if (j1 < 0) j1 = 0;
    if (j0 > bins - 1) j0 = bins - 1;
    if (j1 > bins - 1) j1 = bins - 1;
    if (!(b > a) || j0 == j1) {
        dst[j0] += mass;
        return;
    }
    for (int64_t j = j0; j <= j1; j++) {
        double l = j == j0 ? a : lo + (double)j * w;
        double r = j == j1 ? b : lo + (double)(j + 1) * w;
        if (r > l) dst[j] += mass * (r - l) / (b - a);
    }
}

/* Add a histogram over [smin, smax] to the grid [lo, hi] by uniform overlap. */
static void resample_into(double *dst, int32_t bins, float lo, float hi, const double *src,
                          float smin, float smax) {
    const double w = ((double)hi - (double)lo) / bins;
    if (smin == smax) {
        double total = 0.0;
        for (int32_t k = 0; k < bins; k++) total += src[k];
        dst[histc_bin_of(bins, lo, hi, smin)] += total;
        return;
    }
    const double sw = ((double)smax - (double)smin) / bins;
    for (int32_t k = 0; k < bins; k++)
        spread(dst, bins, lo, w, smin + k * sw, smin + (k + 1) * sw, src[k]);
}

/* torch's _adjust_min_max: the new range on a grid of the old bin width /
** upsample_rate. Returns false when the growth is beyond TH_MAX_GROWTH. */
typedef struct th_adjust {
    float cmin, cmax;
    int64_t downsample;
    int64_t start_idx;
} th_adjust;

static bool adjust_min_max(const th_state *s, const qk_observer_config *cfg, float cmin, float cmax,
                           th_adjust *adj) {
    const float hbw = (s->max - s->min) / (float)((int64_t)cfg->bins * cfg->upsample_rate);
    const float grid = (float)cfg->bins * hbw;
    const float span = cmax - cmin;
    const float ratio = span / grid;
    if (!(ratio <= TH_MAX_GROWTH * (float)cfg->upsample_rate)) return false;
    const int64_t ds = (int64_t)ceilf(ratio);
    const float e = (float)ds * grid - span;
    adj->cmin = cmin;
    adj->cmax = cmax + e;
    adj->downsample = ds < 1 ? 1 : ds;
    adj->start_idx = (int64_t)nearbyintf((s->min - cmin) / hbw);
    return isfinite(adj->cmax);
}

/* torch's _combine_histograms in closed form: the old histogram, upsampled
** (each bin repeated upsample_rate times), placed at cell start_idx of a
** grid of bins*downsample cells, integrated and cut into bins of downsample
** cells, divided by upsample_rate; added to `dst`. prefix: bins+1 doubles. */
static void combine_upsampled(double *dst, const double *old, const qk_observer_config *cfg,
                              const th_adjust *adj, double *prefix) {
    const int64_t bins = cfg->bins, up = cfg->upsample_rate, ds = adj->downsample;
    prefix[0] = 0.0;
    for (int64_t k = 0; k < bins; k++) prefix[k + 1] = prefix[k] + old[k];
    const int64_t cells = bins * up;
    /* S(t): sum of the cells before t; cells past the grid's end count at its end */
    double prev = 0.0;
    for (int64_t j = 0; j < bins; j++) {
        int64_t t = (j + 1) * ds;
        if (j == bins - 1 && t < adj->start_idx + cells) t = adj->start_idx + cells;
        int64_t u = t - adj->start_idx;
        if (u < 0) u = 0;
        if (u > cells) u = cells;
        const int64_t q = u / up, r = u % up;
        double s = prefix[q] * (double)up + (q < bins ? (double)r * old[q] : 0.0);
        dst[j] += (s - prev) / (double)up;
        prev = s;
    }
}

/* Reset the grid to [cmin, cmax] with `batch` and `other` (a histogram over
** [omin, omax], may be NULL) and the old histogram re-binned. */
static void regrid(th_state *s, const qk_observer_config *cfg, float cmin, float cmax,
                   const qk_obs_batch *batch, const double *other, float omin, float omax,
                   double *work) {
    const int32_t bins = cfg->bins;
    double *next = work;
    memset(next, 0, (size_t)bins * sizeof(double));
    if (batch) torch_histc(cfg, batch, cmin, cmax, next);
    resample_into(next, bins, cmin, cmax, s->hist, s->min, s->max);
    if (other) resample_into(next, bins, cmin, cmax, other, omin, omax);
    memcpy(s->hist, next, (size_t)bins * sizeof(double));
    s->min = cmin;
    s->max = cmax;
}

static void th_observe(void *st, const qk_obs_chan *chan, const qk_obs_batch *b,
                       const qk_observer_config *cfg, void *work) {
    th_state *s = st;
    const int32_t bins = cfg->bins;
    if (chan->n == 0) {
        s->min = b->min;
        s->max = b->max;
        memset(s->hist, 0, (size_t)bins * sizeof(double));
        torch_histc(cfg, b, s->min, s->max, s->hist);
        return;
    }
    const float cmin = b->min < s->min ? b->min : s->min;
    const float cmax = b->max > s->max ? b->max : s->max;
    th_adjust adj;
    if (s->min == s->max || !adjust_min_max(s, cfg, cmin, cmax, &adj)) {
        if (cmin == s->min && cmax == s->max) { /* constant history, same value again */
            torch_histc(cfg, b, cmin, cmax, s->hist);
            return;
        }
        regrid(s, cfg, cmin, cmax, b, NULL, 0.0f, 0.0f, work);
        return;
    }
    double *next = work, *prefix = (double *)work + bins;
    memset(next, 0, (size_t)bins * sizeof(double));
    torch_histc(cfg, b, adj.cmin, adj.cmax, next);
    if (adj.cmin == s->min && adj.cmax == s->max) {
        for (int32_t k = 0; k < bins; k++) s->hist[k] += next[k];
        return;
    }
    combine_upsampled(next, s->hist, cfg, &adj, prefix);
    memcpy(s->hist, next, (size_t)bins * sizeof(double));
    s->min = adj.cmin;
    s->max = adj.cmax;
}

static qk_status th_reserve(void *st, const qk_obs_chan *chan, const qk_obs_chan *add,
                            const void *other, const qk_observer_config *cfg) {
    (void)st, (void)other, (void)cfg;
    float lo = chan->n && chan->min < add->min ? chan->min : add->min;
    float hi = chan->n && chan->max > add->max ? chan->max : add->max;
    if (!isfinite(hi - lo))
        return qk_error_set(QK_ERR_OVERFLOW,
                            "histogram observer: range [%g, %g] is wider than f32 allows",
                            (double)lo, (double)hi);
    return QK_OK;
}

static void th_merge(void *st, const qk_obs_chan *chan, const void *other_st,
                     const qk_obs_chan *other_chan, const qk_observer_config *cfg, void *work) {
    (void)other_chan;
    th_state *s = st;
    const th_state *o = other_st;
    const int32_t bins = cfg->bins;
    if (chan->n == 0) {
        memcpy(s->hist, o->hist, (size_t)bins * sizeof(double));
        s->min = o->min;
        s->max = o->max;
        return;
    }
    if (s->min == o->min && s->max == o->max) {
        for (int32_t k = 0; k < bins; k++) s->hist[k] += o->hist[k];
        return;
    }
    const float cmin = o->min < s->min ? o->min : s->min;
    const float cmax = o->max > s->max ? o->max : s->max;
    th_adjust adj;
    if (s->min == s->max || !adjust_min_max(s, cfg, cmin, cmax, &adj)) {
        regrid(s, cfg, cmin, cmax, NULL, o->hist, o->min, o->max, work);
        return;
    }
    double *next = work, *prefix = (double *)work + bins;
    memset(next, 0, (size_t)bins * sizeof(double));
    resample_into(next, bins, adj.cmin, adj.cmax, o->hist, o->min, o->max);
    if (adj.cmin == s->min && adj.cmax == s->max) {
        for (int32_t k = 0; k < bins; k++) s->hist[k] += next[k];
        return;
    }
    combine_upsampled(next, s->hist, cfg, &adj, prefix);
    memcpy(s->hist, next, (size_t)bins * sizeof(double));
    s->min = adj.cmin;
    s->max = adj.cmax;
}

/* ---- the L2 search ------------------------------------------------------ */

/* torch.div(a, b, rounding_mode='floor') on f32 (Python floor semantics). */
static float div_floor_f32(float a, float b) {
    if (b == 0.0f) return a / b;
    const float mod = fmodf(a, b);
    float div = (a - mod) / b;
    if (mod != 0.0f && (b < 0.0f) != (mod < 0.0f)) div -= 1.0f;
    if (div == 0.0f) return copysignf(0.0f, a / b);
    float fl = floorf(div);
    if (div - fl > 0.5f) fl += 1.0f;
    return fl;
}

static double cube(double v) {
    return v * v * v;
}

/* _compute_quantization_error(start, end) */
static double quant_error(const th_state *s, const qk_observer_config *cfg, int64_t dst_nbins,
                          int64_t start, int64_t end) {
    const int32_t bins = cfg->bins;
    const double bw = ((double)s->max - (double)s->min) / bins;
    const double dbw = bw * (double)(end - start + 1) / (double)dst_nbins;
    if (dbw == 0.0) return 0.0;
    const float fbw = (float)bw, fdbw = (float)dbw;
    const float dmax = (float)(dst_nbins - 1);
    const double half = dbw / 2.0;
    const double full = (cube(half) - cube(-half)) / 3.0;
    double norm = 0.0;
    for (int32_t i = 0; i < bins; i++) {
        if (s->hist[i] == 0.0) continue;
        const float b = (float)(i - start) * fbw;
        const float e = b + fbw;
        float db = div_floor_f32(b, fdbw), de = div_floor_f32(e, fdbw);
        db = db < 0.0f ? 0.0f : (db > dmax ? dmax : db);
        de = de < 0.0f ? 0.0f : (de > dmax ? dmax : de);
        const double dens = s->hist[i] / bw;
        const double db_centre = ((double)db + 0.5) * dbw;
        const double de_centre = (double)de * dbw + half;
        double n = dens * (cube(half) - cube((double)b - db_centre)) / 3.0;
        n += ((double)de - (double)db - 1.0) * dens * full;
        n += dens * (cube((double)e - de_centre) - cube(-half)) / 3.0;
        norm += n;
    }
    return norm;
}

static qk_status th_range(void *st, const qk_obs_chan *chan, const qk_observer_config *cfg,
                          const qk_observer_target *target, float *lo, float *hi, void *work) {
    (void)chan;
    const th_state *s = st;
    const int32_t bins = cfg->bins;
    if (s->min == s->max) {
        *lo = s->min;
        *hi = s->max;
        return QK_OK;
    }
    const int64_t dst_nbins = (int64_t)1 << target->bits;
    double *csum = work;
    double total = 0.0;
    for (int32_t k = 0; k < bins; k++) {
        total += s->hist[k];
        csum[k] = total;
    }
    const double step = 1e-5;
    double alpha = 0.0, beta = 1.0, norm_min = INFINITY;
    int64_t start = 0, end = bins - 1;
    while (alpha < beta) {
        const double next_alpha = alpha + step, next_beta = beta - step;
        /* torch compares the f32 cumulative sum with the threshold cast to f32 */
        const double ta = (double)(float)(next_alpha * total);
        const double tb = (double)(float)(next_beta * total);
        int64_t l = start, r = end;
        while (l < end && csum[l] < ta) l++;
        while (r > start && csum[r] > tb) r--;
        int64_t next_start = start, next_end = end;
        if (l - start > end - r) {
            next_start = l;
            alpha = next_alpha;
        } else {
            next_end = r;
            beta = next_beta;
        }
        if (next_start == start && next_end == end) continue;
        const double norm = quant_error(s, cfg, dst_nbins, next_start, next_end);
        if (norm > norm_min) break;
        norm_min = norm;
        start = next_start;
        end = next_end;
    }
    const float w = (s->max - s->min) / (float)bins;
    *lo = s->min + w * (float)start;
    *hi = s->min + w * (float)(end + 1);
    return QK_OK;
}

qk_status qk_obs_histogram_get(const qk_observer *obs, int64_t channel, const double **hist,
                               float *min, float *max) {
    const qk_observer_config *cfg = qk_observer_get_config(obs);
    const th_state *s = qk_observer_state(obs, channel);
    if (!cfg || cfg->kind != QK_OBSERVER_HISTOGRAM || !s)
        return qk_error_set(QK_ERR_INVALID_ARG, "histogram observer: no channel %lld",
                            (long long)channel);
    *hist = s->hist;
    *min = s->min;
    *max = s->max;
    return QK_OK;
}

const qk_observer_ops qk_obs_histogram_ops = {
    .state_size = sizeof(th_state),
    .work_bytes = th_work_bytes,
    .init = th_init,
    .destroy = th_destroy,
    .reset = th_reset,
    .reserve = th_reserve,
    .observe = th_observe,
    .merge = th_merge,
    .range = th_range,
};
