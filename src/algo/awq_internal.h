/*
** Internal: the pieces of AWQ (awq.c, awq_clip.c), exposed for the tests.
*/
#ifndef QK_ALGO_AWQ_INTERNAL_H
#define QK_ALGO_AWQ_INTERNAL_H

#include "quantkit/algo.h"

/* Mean |x| per column of x [n_rows, n_cols] (sums in double) into out. */
void qk_awq_x_mean(const float *x, int64_t n_rows, int64_t n_cols, float *out);

/* AutoAWQ's weight magnitude per input column: the matrices w[i]
** [rows[i], cols] stacked; each row cut into groups of group_size columns
** (the last may be shorter); |w| / (max |w| of its row group + 1e-6);
** mean over all stacked rows (sums in double), into out [cols].
** group_size <= 0 means whole rows. */
qk_status qk_awq_w_mean(const float *const *w, const int64_t *rows, int n_mats, int64_t cols,
                        int32_t group_size, float *out);

/* The scales for ratio r: s = x_mean^r, or with duo scaling
** s = x_mean^r / (w_mean^(1-r) + 1e-4); then s = max(s, 1e-4) and
** s /= sqrt(max(s) * min(s)). All in f32 (powf, sqrtf). */
void qk_awq_scales(const float *x_mean, const float *w_mean, int64_t n, float ratio, bool duo,
                   float *s);

/* The clip search on one weight w [rows, cols] (f32, clipped in place)
** with its input rows x [n_tok, cols] (every row used: subsample before).
** Candidates max|w| * (1 - i / n_grid) per row and group of group_size
** columns, i < n_grid * max_shrink; error of a row group: mean over the
** tokens of (x_g . (qdq(clip(w))_g - w_g))^2. The combination is checked
** as a whole at the end: if it quantizes worse than the unclipped weight
** (possible when a format couples groups), w is left unclipped. */
qk_status qk_awq_clip_linear(const qk_awq_options *opt, int32_t layer, qk_llama_linear which,
                             float *w, int64_t rows, int64_t cols, const float *x, int64_t n_tok,
                             qk_awq_clip_report *report);

#endif
