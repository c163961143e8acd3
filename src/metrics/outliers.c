/*
** Outlier statistics (|x - mean| > k*std) and the effect of clipping the
** outliers on quantization error (metrics.h).
*/
#include <math.h>   /* fabs, isfinite, sqrt */
#include <stdlib.h> /* malloc, free */
#include <string.h> /* memset */

#include "core/error.h"
#include "quantkit/metrics.h"

static void neumaier_add(double *sum, double *comp, double v) {
    double t = *sum + v;
    if (fabs(*sum) >= fabs(v))
        *comp += (*sum - t) + v;
    else
        *comp += (v - t) + *sum;
    *sum = t;
}

/* mean, population std, and the bounds; checks finiteness and k. */
static qk_status moments(const float *x, size_t n, double k, qk_outlier_stats *st) {
    memset(st, 0, sizeof *st);
    if (!(k >= 0.0) || !isfinite(k))
        return qk_error_set(QK_ERR_INVALID_ARG, "outliers: k = %g (finite, >= 0)", k);
    if (n && !x) return qk_error_set(QK_ERR_INVALID_ARG, "outliers: NULL data");
    st->n = n;
    st->k = k;
    double s = 0.0, c = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return qk_error_set(QK_ERR_NONFINITE, "outliers: element %zu is not finite", i);
        neumaier_add(&s, &c, x[i]);
    }
    if (n == 0) return QK_OK;
    const double mean = (s + c) / (double)n;
    /* second pass: sum of squared deviations, corrected by the (tiny) sum of
    ** deviations (the "corrected two-pass" formula) */
    double ss = 0.0, sc = 0.0, d = 0.0, dc = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double dev = (double)x[i] - mean;
        neumaier_add(&ss, &sc, dev * dev);
        neumaier_add(&d, &dc, dev);
    }
    const double dsum = d + dc;
    double var = ((ss + sc) - dsum * dsum / (double)n) / (double)n;
    if (var < 0.0) var = 0.0;
    st->mean = mean;
    st->std = sqrt(var);
    st->lo = mean - k * st->std;
    st->hi = mean + k * st->std;
    return QK_OK;
}

static bool is_outlier(const qk_outlier_stats *st, float v) {
    return fabs((double)v - st->mean) > st->k * st->std;
}

qk_status qk_outliers_find(const float *x, size_t n, double k, qk_outlier_stats *out,
                           uint64_t *indices, size_t capacity) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "outliers: NULL output");
    if (capacity && !indices)
        return qk_error_set(QK_ERR_INVALID_ARG, "outliers: NULL index buffer");
    qk_outlier_stats st;
    qk_status s = moments(x, n, k, &st);
    if (s != QK_OK) return s;
    double max_dev = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double dev = fabs((double)x[i] - st.mean);
        if (dev > max_dev) max_dev = dev;
        if (dev > st.k * st.std) {
            if (st.count < capacity) indices[st.count] = i;
            st.count++;
        }
    }
    st.fraction = n ? (double)st.count / (double)n : 0.0;
    st.max_abs_z = st.std > 0.0 ? max_dev / st.std : 0.0;
    *out = st;
    return QK_OK;
}

/* Clip outliers of x into dst using stats st. */
static void clip_into(const float *x, float *dst, size_t n, const qk_outlier_stats *st) {
    const float lo = (float)st->lo, hi = (float)st->hi;
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        dst[i] = is_outlier(st, v) ? ((double)v < st->mean ? lo : hi) : v;
    }
}

qk_status qk_outliers_clip(const float *x, float *dst, size_t n, double k, qk_outlier_stats *out) {
    if (n && !dst) return qk_error_set(QK_ERR_INVALID_ARG, "outliers: NULL destination");
    qk_outlier_stats st;
    qk_status s = qk_outliers_find(x, n, k, &st, NULL, 0);
    if (s != QK_OK) return s;
    clip_into(x, dst, n, &st);
    if (out) *out = st;
    return QK_OK;
}

qk_status qk_outlier_clip_compare(const float *x, const float *y_plain, const float *y_clipped,
                                  size_t n, double k, qk_outlier_clip_report *out) {
    if (!out || (n && (!y_plain || !y_clipped)))
        return qk_error_set(QK_ERR_INVALID_ARG, "outlier clipping: NULL argument");
    qk_outlier_clip_report r;
    memset(&r, 0, sizeof r);
    qk_status s = qk_outliers_find(x, n, k, &r.outliers, NULL, 0);
    if (s == QK_OK) s = qk_error_stats_compute(x, y_plain, n, &r.plain);
    if (s == QK_OK) s = qk_error_stats_compute(x, y_clipped, n, &r.clipped);
    if (s != QK_OK) return qk_error_prefix("outlier clipping");
    /* split the squared errors by the outlier mask */
    double in_p = 0, in_pc = 0, in_c = 0, in_cc = 0, out_p = 0, out_pc = 0, out_c = 0, out_cc = 0;
    for (size_t i = 0; i < n; i++) {
        const double dp = (double)x[i] - (double)y_plain[i];
        const double dc = (double)x[i] - (double)y_clipped[i];
        if (is_outlier(&r.outliers, x[i])) {
            neumaier_add(&out_p, &out_pc, dp * dp);
            neumaier_add(&out_c, &out_cc, dc * dc);
        } else {
            neumaier_add(&in_p, &in_pc, dp * dp);
            neumaier_add(&in_c, &in_cc, dc * dc);
        }
    }
    const uint64_t n_out = r.outliers.count, n_in = (uint64_t)n - n_out;
    if (n_in) {
        r.plain_inlier_mse = (in_p + in_pc) / (double)n_in;
        r.clipped_inlier_mse = (in_c + in_cc) / (double)n_in;
    }
    if (n_out) {
        r.plain_outlier_mse = (out_p + out_pc) / (double)n_out;
        r.clipped_outlier_mse = (out_c + out_cc) / (double)n_out;
    }
    *out = r;
    return QK_OK;
}

qk_status qk_outlier_clip_effect(const float *x, size_t n, double k, qk_qdq_fn qdq, void *user,
                                 qk_outlier_clip_report *out) {
    if (!qdq || !out) return qk_error_set(QK_ERR_INVALID_ARG, "outlier clipping: NULL argument");
    if (n > SIZE_MAX / (3 * sizeof(float)))
        return qk_error_set(QK_ERR_OVERFLOW, "outlier clipping: %zu values", n);
    qk_outlier_stats st;
    qk_status s = qk_outliers_find(x, n, k, &st, NULL, 0);
    if (s != QK_OK) return s;
    float *buf = malloc((n ? n : 1) * 3 * sizeof(float));
    if (!buf) return qk_error_set(QK_ERR_NOMEM, "outlier clipping: %zu values", n);
    float *y_plain = buf, *xc = buf + n, *y_clipped = buf + 2 * n;
    s = qdq(user, x, y_plain, n);
    if (s == QK_OK) {
        clip_into(x, xc, n, &st);
        s = qdq(user, xc, y_clipped, n);
    }
    if (s == QK_OK) s = qk_outlier_clip_compare(x, y_plain, y_clipped, n, k, out);
    free(buf);
    return s;
}
