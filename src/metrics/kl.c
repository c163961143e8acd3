/*
** KL divergence between discrete distributions, from weights or from logits
** (metrics.h). Sums are Neumaier-compensated doubles.
*/
#include <math.h> /* exp, fabs, isfinite, isnan, log, INFINITY */

#include "core/error.h"
#include "quantkit/metrics.h"

typedef struct ksum {
    double s, c;
} ksum;

static void ksum_add(ksum *k, double v) {
    double t = k->s + v;
    if (fabs(k->s) >= fabs(v))
        k->c += (k->s - t) + v;
    else
        k->c += (v - t) + k->s;
    k->s = t;
}

static double ksum_get(const ksum *k) {
    return k->s + k->c;
}

static qk_status check_weights(const double *w, size_t n, const char *name, double *total) {
    ksum t = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(w[i]))
            return qk_error_set(QK_ERR_NONFINITE, "KL divergence: %s[%zu] is not finite", name, i);
        if (w[i] < 0.0)
            return qk_error_set(QK_ERR_INVALID_ARG, "KL divergence: %s[%zu] = %g is negative", name,
                                i, w[i]);
        ksum_add(&t, w[i]);
    }
    *total = ksum_get(&t);
    if (!(*total > 0.0))
        return qk_error_set(QK_ERR_INVALID_ARG, "KL divergence: %s sums to 0", name);
    if (!isfinite(*total))
        return qk_error_set(QK_ERR_NONFINITE, "KL divergence: %s sums past the double range", name);
    return QK_OK;
}

qk_status qk_kl_divergence(const double *p, const double *q, size_t n, double *out) {
    if (!p || !q || !out) return qk_error_set(QK_ERR_INVALID_ARG, "KL divergence: NULL argument");
    double sp, sq;
    qk_status st = check_weights(p, n, "p", &sp);
    if (st == QK_OK) st = check_weights(q, n, "q", &sq);
    if (st != QK_OK) return st;
    ksum kl = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (p[i] == 0.0) continue;
        if (q[i] == 0.0) {
            *out = INFINITY;
            return QK_OK;
        }
        const double pn = p[i] / sp, qn = q[i] / sq;
        ksum_add(&kl, pn * log(pn / qn));
    }
    const double v = ksum_get(&kl);
    *out = v > 0.0 ? v : 0.0;
    return QK_OK;
}

/* max and ln(sum exp(a - max)) of one logit vector. */
static qk_status log_normaliser(const float *a, size_t n, const char *name, double *max,
                                double *lse) {
    double m = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        const float v = a[i];
        if (isnan(v) || v == INFINITY)
            return qk_error_set(QK_ERR_NONFINITE, "KL divergence: %s[%zu] is %s", name, i,
                                isnan(v) ? "NaN" : "+Inf");
        if (v > m) m = v;
    }
    if (m == -INFINITY)
        return qk_error_set(QK_ERR_INVALID_ARG, "KL divergence: every %s is -Inf", name);
    ksum s = {0, 0};
    for (size_t i = 0; i < n; i++) ksum_add(&s, exp((double)a[i] - m));
    *max = m;
    *lse = log(ksum_get(&s));
    return QK_OK;
}

qk_status qk_kl_divergence_logits(const float *logits_p, const float *logits_q, size_t n,
                                  double *out) {
    if (!logits_p || !logits_q || !out)
        return qk_error_set(QK_ERR_INVALID_ARG, "KL divergence: NULL argument");
    if (n == 0) return qk_error_set(QK_ERR_INVALID_ARG, "KL divergence: no logits");
    double mp, lp, mq, lq;
    qk_status st = log_normaliser(logits_p, n, "logits_p", &mp, &lp);
    if (st == QK_OK) st = log_normaliser(logits_q, n, "logits_q", &mq, &lq);
    if (st != QK_OK) return st;
    ksum kl = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (logits_p[i] == -INFINITY) continue; /* p_i = 0 */
        const double la = ((double)logits_p[i] - mp) - lp;
        if (logits_q[i] == -INFINITY) {
            *out = INFINITY;
            return QK_OK;
        }
        const double lb = ((double)logits_q[i] - mq) - lq;
        ksum_add(&kl, exp(la) * (la - lb));
    }
    const double v = ksum_get(&kl);
    *out = v > 0.0 ? v : 0.0;
    return QK_OK;
}
