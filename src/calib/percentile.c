/*
** Percentile observer: keeps every observed value (4 bytes each) so that
** its percentiles are exact, whatever the batching or merging.
**
** Percentile q of n values with linear interpolation between order
** statistics (numpy's default "linear" method): h = (n-1)*q/100,
** k = floor(h), f = h - k, P = v[k] + f*(v[k+1] - v[k]) in double, rounded
** to f32. Order statistics come from an in-place three-way quickselect
** (pivot: median of three pseudo-random positions), O(n) expected; the
** values are reordered but the multiset never changes. -0 is stored as +0 so
** that results depend only on the values.
**
** Two-sided: hi = P(p); lo uses the mirror rank (n-1) - h. With
** percentile_abs the stored values are |x|, amax = P(p) and the range is
** [max(min, -amax), min(max, amax)].
*/
#include <math.h>   /* fabsf, floor */
#include <stdlib.h> /* realloc, free */
#include <string.h> /* memcpy */

#include "calib/observer_impl.h"
#include "core/error.h"

typedef struct pct_state {
    float *v;   /* stored values (|x| with percentile_abs) */
    size_t n;   /* values stored */
    size_t cap; /* capacity of v */
} pct_state;

static qk_status pct_init(void *st, const qk_observer_config *cfg) {
    (void)cfg;
    pct_state *s = st;
    s->v = NULL;
    s->n = s->cap = 0;
    return QK_OK;
}

static void pct_destroy(void *st) {
    pct_state *s = st;
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static void pct_reset(void *st, const qk_observer_config *cfg) {
    (void)cfg;
    ((pct_state *)st)->n = 0;
}

static qk_status pct_reserve(void *st, const qk_obs_chan *chan, const qk_obs_chan *add,
                             const void *other, const qk_observer_config *cfg) {
    (void)chan, (void)other, (void)cfg;
    pct_state *s = st;
    if (add->n > (uint64_t)(SIZE_MAX / sizeof(float)) - s->n)
        return qk_error_set(QK_ERR_OVERFLOW, "percentile observer: too many values");
    size_t need = s->n + (size_t)add->n;
    if (need <= s->cap) return QK_OK;
    size_t cap = s->cap + s->cap / 2;
    if (cap < need) cap = need;
    if (cap > SIZE_MAX / sizeof(float)) cap = need;
    float *nv = realloc(s->v, cap * sizeof(float));
    if (!nv) return qk_error_set(QK_ERR_NOMEM, "percentile observer: storing %zu values", need);
    s->v = nv;
    s->cap = cap;
    return QK_OK;
}

static void pct_observe(void *st, const qk_obs_chan *chan, const qk_obs_batch *b,
                        const qk_observer_config *cfg, void *work) {
    (void)chan, (void)work;
    pct_state *s = st;
    float *dst = s->v + s->n;
    if (cfg->percentile_abs) {
        for (size_t i = 0; i < b->n; i++) dst[i] = fabsf(b->x[i]);
    } else {
        for (size_t i = 0; i < b->n; i++) dst[i] = b->x[i] + 0.0f; /* -0 -> +0 */
    }
    s->n += b->n;
}

static void pct_merge(void *st, const qk_obs_chan *chan, const void *other,
                      const qk_obs_chan *other_chan, const qk_observer_config *cfg, void *work) {
    (void)chan, (void)other_chan, (void)cfg, (void)work;
    pct_state *s = st;
    const pct_state *o = other;
    if (o->n) memcpy(s->v + s->n, o->v, o->n * sizeof(float));
    s->n += o->n;
}

static uint64_t mix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float median3(float a, float b, float c) {
    if (a > b) {
        float t = a;
        a = b;
        b = t;
    }
    if (b > c) b = c;
    return a > b ? a : b;
}

/* Rearrange v[0..n-1] so that v[k] is the k-th smallest (0-based), with
** nothing larger before it and nothing smaller after it. */
static void select_kth(float *v, size_t n, size_t k) {
    size_t lo = 0, hi = n;
    uint64_t rng = (uint64_t)n * 0x2545F4914F6CDD1Dull + k;
    while (hi - lo > 1) {
        size_t len = hi - lo;
        float pivot =
            median3(v[lo + (size_t)(mix64(&rng) % len)], v[lo + (size_t)(mix64(&rng) % len)],
                    v[lo + (size_t)(mix64(&rng) % len)]);
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            float x = v[i];
            if (x < pivot) {
                v[i++] = v[lt];
                v[lt++] = x;
            } else if (x > pivot) {
                v[i] = v[--gt];
                v[gt] = x;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

/* Interpolated value at fractional rank h in [0, n-1]. */
static double value_at_rank(float *v, size_t n, double h) {
    if (h < 0) h = 0;
    if (h > (double)(n - 1)) h = (double)(n - 1);
    size_t k = (size_t)floor(h);
    double f = h - (double)k;
    select_kth(v, n, k);
    double a = v[k];
    if (f == 0.0 || k + 1 >= n) return a;
    float b = v[k + 1];
    for (size_t i = k + 2; i < n; i++)
        if (v[i] < b) b = v[i];
    return a + f * ((double)b - a);
}

static qk_status pct_range(void *st, const qk_obs_chan *chan, const qk_observer_config *cfg,
                           const qk_observer_target *target, float *lo, float *hi, void *work) {
    (void)target, (void)work;
    pct_state *s = st;
    if (cfg->percentile >= 100.0 || s->n == 1) {
        *lo = chan->min;
        *hi = chan->max;
        return QK_OK;
    }
    const double h = (double)(s->n - 1) * cfg->percentile / 100.0;
    if (cfg->percentile_abs) {
        qk_obs_clip_symmetric(chan, value_at_rank(s->v, s->n, h), lo, hi);
        return QK_OK;
    }
    *hi = (float)value_at_rank(s->v, s->n, h);
    *lo = (float)value_at_rank(s->v, s->n, (double)(s->n - 1) - h);
    return QK_OK;
}

const qk_observer_ops qk_obs_percentile_ops = {
    .state_size = sizeof(pct_state),
    .work_bytes = NULL,
    .init = pct_init,
    .destroy = pct_destroy,
    .reset = pct_reset,
    .reserve = pct_reserve,
    .observe = pct_observe,
    .merge = pct_merge,
    .range = pct_range,
};
