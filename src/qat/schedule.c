/*
** QAT schedule (observer warm-up, start step, freeze step, progressive bit
** reduction) and batch-norm folding.
*/
#include <math.h> /* sqrt, isfinite */

#include "core/error.h"
#include "quantkit/qat.h"

static int progressive_bits(const qk_qat_schedule *s, int64_t step, int final_bits) {
    if (final_bits <= 0 || s->bits_from <= final_bits || s->bits_every <= 0) return final_bits;
    const int64_t drops = step <= s->start_step ? 0 : (step - s->start_step) / s->bits_every;
    const int64_t bits = (int64_t)s->bits_from - drops;
    return bits > final_bits ? (int)bits : final_bits;
}

qk_qat_phase qk_qat_schedule_phase(const qk_qat_schedule *s, int64_t step) {
    qk_qat_phase p;
    p.observe = s->freeze_step < 0 || step < s->freeze_step;
    p.fake_quant = step >= s->start_step;
    p.weight_bits = progressive_bits(s, step, s->weight_bits);
    p.act_bits = progressive_bits(s, step, s->act_bits);
    return p;
}

qk_status qk_qat_fold_batchnorm(float *weight, float *bias, int64_t channels, int64_t per_channel,
                                const float *gamma, const float *beta, const float *mean,
                                const float *var, float eps) {
    if (!weight || !bias || !gamma || !beta || !mean || !var)
        return qk_error_set(QK_ERR_INVALID_ARG, "fold batchnorm: NULL argument");
    if (channels < 0 || per_channel < 0)
        return qk_error_set(QK_ERR_SHAPE, "fold batchnorm: negative shape");
    if (!(eps >= 0.0f))
        return qk_error_set(QK_ERR_INVALID_ARG, "fold batchnorm: eps %g", (double)eps);
    for (int64_t c = 0; c < channels; c++) {
        const double den = (double)var[c] + (double)eps;
        if (!(den > 0.0) || !isfinite(den))
            return qk_error_set(QK_ERR_NUMERIC, "fold batchnorm: channel %lld: var + eps = %g",
                                (long long)c, den);
    }
    for (int64_t c = 0; c < channels; c++) {
        const double f = (double)gamma[c] / sqrt((double)var[c] + (double)eps);
        float *w = weight + c * per_channel;
        for (int64_t k = 0; k < per_channel; k++) w[k] = (float)((double)w[k] * f);
        bias[c] = (float)(((double)bias[c] - (double)mean[c]) * f + (double)beta[c]);
    }
    return QK_OK;
}
