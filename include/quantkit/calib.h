/*
** quantkit calib: observers that watch f32 tensors (weights or activations)
** and choose a clipping range [min, max] from which affine quantization
** parameters follow.
**
** Life cycle:  create -> observe(batch)... -> compute(params) -> merge / reset -> free.
**
** Kinds (config.kind):
**   QK_OBSERVER_MINMAX          running min and max (torch.ao MinMaxObserver,
**                               PerChannelMinMaxObserver).
**   QK_OBSERVER_MOVING_AVERAGE  moving-average min and max (torch.ao
**                               MovingAverage[PerChannel]MinMaxObserver): the
**                               first batch initialises, then each batch does
**                               min += c * (batch_min - min), same for max, in
**                               f32 as torch does.
**   QK_OBSERVER_PERCENTILE      exact percentiles of every value observed
**                               (the values are kept: 4 bytes per element).
**   QK_OBSERVER_ENTROPY         TensorRT's entropy calibration: histogram of
**                               |x| and the KL(P||Q) search for amax.
**   QK_OBSERVER_HIST_MSE        TensorRT's MSE calibration on the same |x|
**                               histogram: amax minimising the histogram-
**                               weighted squared error of the bin centres.
**   QK_OBSERVER_HISTOGRAM       torch.ao HistogramObserver (torch 1.13): a
**                               histogram of x and the L2-norm
**                               _non_linear_param_search.
**
** Every kind works per tensor or per channel (config.per_channel, the channel
** axis config.ch_axis of an up-to-4-D view; a negative axis counts from the
** end). The channel count is fixed by the first non-empty batch and later
** batches must have the same count.
**
** Batches are qk_tensor_view's of QK_TYPE_F32. An empty batch is a no-op. A
** batch holding NaN or +-Inf fails with QK_ERR_NONFINITE naming the first such
** element's flat (row-major) index, and leaves the observer unchanged; so does
** every other failing observe or merge.
**
** compute() asks for a quantized range (bits, signed/restricted/unsigned,
** symmetric or affine): the observer chooses its clipping range [lo, hi] for
** that range (qk_observer_range) and turns it into scale and zero point with
** qk_affine_params_from_minmax (torch.ao's rules: the range is widened to
** include 0, scale >= FLT_EPSILON, ties to even).
**
** How each kind chooses [lo, hi] (n values observed per channel, min/max the
** smallest and largest of them):
**   MINMAX          [min, max].
**   MOVING_AVERAGE  the averaged [min, max].
**   PERCENTILE      p = config.percentile in [50, 100]. With linear
**                   interpolation between order statistics (numpy's default
**                   "linear" method): for sorted values v[0..n-1],
**                   P(q) = v[k] + f * (v[k+1] - v[k]) with h = (n-1)*q/100,
**                   k = floor(h), f = h - k (v[k+1] is not needed when f = 0).
**                   Two-sided (percentile_abs false): hi = P(p) and lo is the
**                   mirror order statistic, rank h' = (n-1) - (n-1)*p/100.
**                   percentile_abs: amax = P(p) of |x|, [lo, hi] =
**                   [max(min, -amax), min(max, amax)]. p = 100 gives [min, max].
**   ENTROPY         the histogram (see QK_OBSERVER_ENTROPY below) gives amax;
**                   [lo, hi] = [max(min, -amax), min(max, amax)].
**   HIST_MSE        as ENTROPY with the MSE amax.
**   HISTOGRAM       torch's search result [new_min, new_max].
**
** TensorRT |x| histogram (ENTROPY, HIST_MSE), following pytorch-quantization's
** HistogramCalibrator (torch_hist variant):
**   - the first batch with max|x| > 0 sets bin width w = max|x| / bins over
**     [0, max|x|]; edges are k*w; a value on an edge goes to the bin above it,
**     the top edge into the last bin.
**   - a later batch with a larger max|x| appends bins of the same width until
**     it fits (TensorRT's range growth). quantkit caps the count at 4*bins:
**     beyond that, adjacent bins are summed in pairs (w doubles) until it
**     fits; this coarsening keeps the counts exact.
**   - while only zeros have been seen the width is 0 and all counts sit in
**     bin 0; the first non-zero batch re-bins them (they stay in bin 0).
**   ENTROPY (TensorRT _compute_amax_entropy): on a copy of the counts,
**   bins[0] = bins[1]; target bins T = 2^(bits-1), or 2^bits when the
**   requested range is unsigned and nothing negative was observed. For each
**   i = start_bin .. nbins: P = bins[0..i-1] with sum(bins[i..]) added to
**   P[i-1]; Q: bin j of bins[0..i-1] belongs to chunk floor(j*T/i), and each
**   chunk's total is spread evenly over its non-zero bins (zero bins stay
**   zero). KL(P||Q) = sum p*ln(p/q) after normalising both (scipy.stats.entropy;
**   +Inf where q = 0 < p). amax = i*w for the last i reaching the minimum.
**   HIST_MSE (TensorRT _compute_amax_mse): centres c_k = (k+0.5)*w; for each
**   candidate k = start_bin .. nbins-1, amax = c_k, s = M/amax with
**   M = T - 1, error = sum_j count_j * (round(c_j*s)/s - c_j)^2 with the code
**   clamped to [.., M] (ties to even); amax = the first minimum.
**   When there are fewer bins than start_bin the candidates are
**   start = nbins (ENTROPY) / nbins-1 (HIST_MSE), i.e. amax = the largest |x|.
**
** torch HistogramObserver (HISTOGRAM), as torch 1.13 computes it:
**   - bins (2048) over [min, max] of what was seen; the first batch is
**     histogrammed with torch.histc's f32 arithmetic. torch 1.13 passes
**     histc the bounds truncated to integers (int(min), int(max)), dropping
**     values outside them; config.torch_int_bounds (default true) reproduces
**     this, false histograms over the exact bounds (what newer torch does).
**   - a later batch widening the range: torch's _adjust_min_max (grid of
**     bin_width/upsample_rate, downsample rate ceil(upsample*new/old), only
**     the max relaxed) and _combine_histograms (the old histogram upsampled
**     by upsample_rate, placed at start_idx, integrated and resampled), in
**     closed form. Counts are kept in double (torch: f32).
**   - compute: _non_linear_param_search with dst_nbins = 2^bits, step 1e-5
**     in quantile space, the density*(e^3-b^3)/3 error, stop when the error
**     rises; [lo, hi] = [min + w*start, min + w*(end+1)] in f32.
**   Deviations from torch, both for cases torch handles badly: a constant
**   history (min == max) is kept and its count placed in the bin holding
**   that value (torch 1.13 discards it); a range growing by more than 2^24x
**   in one step is re-binned by uniform overlap instead of torch's upsampled
**   grid (which would need 2^35+ cells).
**
** Merge: obs->merge(other) with the same configuration. MINMAX, PERCENTILE:
** exactly what one observer seeing obs's batches then other's would report.
** MOVING_AVERAGE: the same up to f32 rounding: with other having seen k
** batches, first batch extremes f and average m_o, the result is
** m_o + (1-c)^k * (m_obs - f) (the average is linear in its inputs).
** ENTROPY / HIST_MSE / HISTOGRAM: the histograms are combined. If both have
** the same grid (same width, or same [min, max] for HISTOGRAM) the counts
** add exactly; otherwise obs's histogram is extended as for a wider batch and
** other's counts are spread over the new bins in proportion to overlap
** (uniform density inside each bin), an approximation of seeing the data.
**
** Reset returns the observer to its freshly created state.
*/
#ifndef QUANTKIT_CALIB_H
#define QUANTKIT_CALIB_H

#include "quantkit/core.h"
#include "quantkit/quant.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qk_observer_kind {
    QK_OBSERVER_MINMAX = 0,
    QK_OBSERVER_MOVING_AVERAGE = 1,
    QK_OBSERVER_PERCENTILE = 2,
    QK_OBSERVER_ENTROPY = 3,
    QK_OBSERVER_HIST_MSE = 4,
    QK_OBSERVER_HISTOGRAM = 5,
    QK_OBSERVER_KIND_COUNT
} qk_observer_kind;

typedef struct qk_observer_config {
    qk_observer_kind kind;
    bool per_channel;         /* false: one range for the whole tensor */
    int32_t ch_axis;          /* per channel: the channel axis (-1 = last) */
    float averaging_constant; /* MOVING_AVERAGE: in (0, 1]; default 0.01 */
    double percentile;        /* PERCENTILE: in [50, 100]; default 99.99 */
    bool percentile_abs;      /* PERCENTILE: percentile of |x| (symmetric clip) */
    int32_t bins;             /* histogram kinds: bins (>= 2); default 2048 */
    int32_t start_bin;        /* ENTROPY, HIST_MSE: first candidate bin; default 128 */
    int32_t upsample_rate;    /* HISTOGRAM: default 128 */
    bool torch_int_bounds;    /* HISTOGRAM: torch 1.13's int(min)/int(max) histc bounds */
} qk_observer_config;

/* The defaults for `kind` (per tensor, ch_axis 0, the values above,
** torch_int_bounds true). */
void qk_observer_config_default(qk_observer_config *cfg, qk_observer_kind kind);
/* Name of a kind ("minmax", "moving_average", "percentile", "entropy",
** "hist_mse", "histogram"), or "?" when out of range. */
const char *qk_observer_kind_name(qk_observer_kind kind);

/* The range to compute parameters for. */
typedef struct qk_observer_target {
    int32_t bits;         /* 1..16 */
    qk_qrange_kind range; /* signed, signed restricted, unsigned (qk_qrange_for_bits) */
    bool symmetric;       /* symmetric (zero point 0 or mid-range) or affine */
} qk_observer_target;

typedef struct qk_observer qk_observer;

/* Create an observer (the configuration is copied). Fails with
** QK_ERR_INVALID_ARG / QK_ERR_CONFIG on a bad configuration. */
qk_status qk_observer_create(const qk_observer_config *cfg, qk_observer **out);
/* Free an observer; NULL is a no-op. */
void qk_observer_free(qk_observer *obs);
/* The configuration (borrowed, valid until the observer is freed). */
const qk_observer_config *qk_observer_get_config(const qk_observer *obs);

/* Observe one batch (QK_TYPE_F32 view, 0..4 dims; per channel it needs the
** channel axis). */
qk_status qk_observer_observe(qk_observer *obs, const qk_tensor_view *batch);
/* Observe `n` contiguous values: a 1-D batch (per channel: one channel per
** element, so ch_axis must be 0 or -1). */
qk_status qk_observer_observe_f32(qk_observer *obs, const float *x, size_t n);

/* Number of channels: 1 per tensor; per channel 0 until the first
** non-empty batch. */
int64_t qk_observer_channels(const qk_observer *obs);
/* Number of values observed (per tensor), or by each channel. */
uint64_t qk_observer_count(const qk_observer *obs);

/* The clipping range chosen for `target`, per channel: lo[c], hi[c] for
** c < qk_observer_channels(); `n` is the capacity of lo and hi. Fails with
** QK_ERR_STATE when nothing has been observed, QK_ERR_INVALID_ARG when n is
** too small. May reorder the observer's internal storage (PERCENTILE), never
** what it reports. */
qk_status qk_observer_range(qk_observer *obs, const qk_observer_target *target, float *lo,
                            float *hi, size_t n);
/* Affine parameters for `target` per channel (out[0..channels-1]; `n` is
** the capacity of out): qk_affine_params_from_minmax(lo, hi) on
** qk_observer_range's result. */
qk_status qk_observer_compute(qk_observer *obs, const qk_observer_target *target,
                              qk_affine_params *out, size_t n);

/* Fold what `other` has seen into `obs` (see Merge above). Both must have
** the same configuration and channel count (or one must be empty);
** `other` is unchanged. */
qk_status qk_observer_merge(qk_observer *obs, const qk_observer *other);
/* Forget everything observed (the configuration stays). */
void qk_observer_reset(qk_observer *obs);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_CALIB_H */
