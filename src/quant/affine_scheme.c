/*
** Affine schemes: defaults and checks, the layout of scale groups, the
** parameters of one group (torch's rules plus scale storage), and the exact
** storage figure (bits per weight).
*/
#include <math.h>   /* nearbyintf, isfinite */
#include <string.h> /* memset */

#include "core/error.h"
#include "quant/affine_internal.h"

qk_affine_scheme qk_affine_scheme_default(int32_t bits, bool symmetric) {
    qk_affine_scheme s;
    memset(&s, 0, sizeof s);
    s.bits = bits;
    s.symmetric = symmetric;
    s.range = symmetric ? QK_QRANGE_SIGNED_RESTRICTED : QK_QRANGE_UNSIGNED;
    s.granularity = QK_GRAN_TENSOR;
    s.axis = 0;
    s.group_size = 0;
    s.rounding = QK_ROUND_NEAREST_EVEN;
    s.seed = 0;
    s.range_mode = QK_RANGE_MINMAX;
    s.clip_min = 0.0f;
    s.clip_max = 0.0f;
    s.scale_type = QK_TYPE_F32;
    s.zp_storage = QK_ZP_PACKED;
    return s;
}

qk_status qk_affine_scheme_check(const qk_affine_scheme *s) {
    if (!s) return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme: NULL");
    if (s->bits < 2 || s->bits > 8)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme: bits %d (2..8)", (int)s->bits);
    if ((int)s->range < 0 || (int)s->range > (int)QK_QRANGE_UNSIGNED)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme: unknown range kind %d",
                            (int)s->range);
    switch (s->granularity) {
    case QK_GRAN_TENSOR:
    case QK_GRAN_CHANNEL:
        break;
    case QK_GRAN_GROUP:
        if (s->group_size < 1)
            return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme: group size %d (>= 1)",
                                (int)s->group_size);
        break;
    default:
        return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme: unknown granularity %d",
                            (int)s->granularity);
    }
    if (s->rounding != QK_ROUND_NEAREST_EVEN && s->rounding != QK_ROUND_STOCHASTIC)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme: unknown rounding %d",
                            (int)s->rounding);
    switch (s->range_mode) {
    case QK_RANGE_MINMAX:
        break;
    case QK_RANGE_CLIP:
    case QK_RANGE_FIXED:
        if (!isfinite(s->clip_min) || !isfinite(s->clip_max) || !(s->clip_min <= s->clip_max))
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "affine scheme: clip range [%g, %g] is not finite and ordered",
                                (double)s->clip_min, (double)s->clip_max);
        break;
    default:
        return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme: unknown range mode %d",
                            (int)s->range_mode);
    }
    if (s->scale_type != QK_TYPE_F32 && s->scale_type != QK_TYPE_F16 &&
        s->scale_type != QK_TYPE_BF16)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme: scale type %s (f32, f16 or bf16)",
                            qk_type_name(s->scale_type));
    if ((int)s->zp_storage < 0 || (int)s->zp_storage > (int)QK_ZP_F32)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme: unknown zero-point storage %d",
                            (int)s->zp_storage);
    return QK_OK;
}

qk_status qk_affine_layout_init(const qk_affine_scheme *s, int32_t ndim, const int64_t *shape,
                                qk_affine_layout *out) {
    if (!s || !out || (ndim > 0 && !shape))
        return qk_error_set(QK_ERR_INVALID_ARG, "affine layout: NULL argument");
    qk_status st = qk_affine_scheme_check(s);
    if (st != QK_OK) return st;
    if (ndim < 0 || ndim > QK_MAX_DIMS)
        return qk_error_set(QK_ERR_SHAPE, "affine layout: %d dimensions (0..%d)", (int)ndim,
                            QK_MAX_DIMS);
    qk_affine_layout l;
    memset(&l, 0, sizeof l);
    l.granularity = s->granularity;
    l.ndim = ndim;
    int64_t numel = 1;
    for (int32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return qk_error_set(QK_ERR_SHAPE, "affine layout: dimension %d is negative (%lld)",
                                (int)d, (long long)shape[d]);
        if (shape[d] != 0 && numel > INT64_MAX / shape[d])
            return qk_error_set(QK_ERR_OVERFLOW, "affine layout: shape product overflows at %d",
                                (int)d);
        numel *= shape[d];
        l.shape[d] = shape[d];
    }
    l.numel = numel;
    switch (s->granularity) {
    case QK_GRAN_TENSOR:
        l.n_groups = 1;
        break;
    case QK_GRAN_CHANNEL: {
        if (ndim == 0)
            return qk_error_set(QK_ERR_SHAPE, "affine layout: per-channel needs a dimension");
        const int32_t axis = s->axis < 0 ? s->axis + ndim : s->axis;
        if (axis < 0 || axis >= ndim)
            return qk_error_set(QK_ERR_SHAPE, "affine layout: axis %d outside a %d-D tensor",
                                (int)s->axis, (int)ndim);
        /* products of sub-shapes cannot overflow when the whole product does not,
        ** except when a zero dimension hides it: check each partial product */
        int64_t outer = 1, inner = 1;
        for (int32_t d = 0; d < axis; d++) {
            if (shape[d] != 0 && outer > INT64_MAX / shape[d])
                return qk_error_set(QK_ERR_OVERFLOW, "affine layout: shape overflows");
            outer *= shape[d];
        }
        for (int32_t d = axis + 1; d < ndim; d++) {
            if (shape[d] != 0 && inner > INT64_MAX / shape[d])
                return qk_error_set(QK_ERR_OVERFLOW, "affine layout: shape overflows");
            inner *= shape[d];
        }
        l.outer = outer;
        l.channels = shape[axis];
        l.inner = inner;
        l.n_groups = shape[axis];
        break;
    }
    case QK_GRAN_GROUP: {
        const int64_t row_len = ndim == 0 ? 1 : shape[ndim - 1];
        int64_t rows = 1;
        for (int32_t d = 0; d + 1 < ndim; d++) {
            if (shape[d] != 0 && rows > INT64_MAX / shape[d])
                return qk_error_set(QK_ERR_OVERFLOW, "affine layout: shape overflows");
            rows *= shape[d];
        }
        l.rows = rows;
        l.row_len = row_len;
        l.group_size = s->group_size;
        l.groups_per_row = row_len / s->group_size + (row_len % s->group_size != 0);
        if (l.groups_per_row != 0 && rows > INT64_MAX / l.groups_per_row)
            return qk_error_set(QK_ERR_OVERFLOW, "affine layout: group count overflows");
        l.n_groups = rows * l.groups_per_row;
        break;
    }
    }
    *out = l;
    return QK_OK;
}

int64_t qk_affine_layout_group(const qk_affine_layout *l, int64_t e) {
    switch (l->granularity) {
    case QK_GRAN_CHANNEL:
        return (e / l->inner) % l->channels;
    case QK_GRAN_GROUP:
        return (e / l->row_len) * l->groups_per_row + (e % l->row_len) / l->group_size;
    default:
        return 0;
    }
}

void qk_affine_apply_range_mode(const qk_affine_scheme *s, float *lo, float *hi) {
    if (s->range_mode == QK_RANGE_FIXED) {
        *lo = s->clip_min;
        *hi = s->clip_max;
    } else if (s->range_mode == QK_RANGE_CLIP) {
        const float a = s->clip_min, b = s->clip_max;
        *lo = *lo < a ? a : *lo > b ? b : *lo;
        *hi = *hi < a ? a : *hi > b ? b : *hi;
    }
}

/* The smallest f16 / bf16 value >= s (s > 0 finite); +Inf when none. */
static float round_up_to(qk_type type, float s) {
    if (type == QK_TYPE_F16) {
        uint16_t h = qk_f32_to_f16(s);
        if (qk_f16_to_f32(h) < s) h++; /* positive: the next code is the next value up */
        return qk_f16_to_f32(h);
    }
    uint16_t h = qk_f32_to_bf16(s);
    if (qk_bf16_to_f32(h) < s) h++;
    return qk_bf16_to_f32(h);
}

qk_status qk_affine_group_params(const qk_affine_scheme *s, int32_t qmin, int32_t qmax, float lo,
                                 float hi, qk_affine_params *out) {
    qk_affine_params p;
    qk_status st = qk_affine_params_from_minmax(lo, hi, qmin, qmax, s->symmetric, &p);
    if (st != QK_OK) return st;
    if (s->scale_type != QK_TYPE_F32) {
        const float rounded = round_up_to(s->scale_type, p.scale);
        if (!isfinite(rounded))
            return qk_error_set(QK_ERR_OVERFLOW, "affine params: scale %g of [%g, %g] overflows %s",
                                (double)p.scale, (double)lo, (double)hi,
                                qk_type_name(s->scale_type));
        p.scale = rounded;
        if (!s->symmetric) { /* torch's zero point, with the stored scale */
            const float min_neg = lo < 0.0f ? lo : 0.0f;
            const float shifted = (float)qmin - nearbyintf(min_neg / p.scale);
            p.zero_point = shifted < (float)qmin   ? qmin
                           : shifted > (float)qmax ? qmax
                                                   : (int32_t)shifted;
        }
    }
    st = qk_affine_check_params(&p, "affine params");
    if (st != QK_OK) return st;
    *out = p;
    return QK_OK;
}

qk_status qk_affine_scheme_params(const qk_affine_scheme *scheme, float min, float max,
                                  qk_affine_params *out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "affine scheme params: NULL output");
    qk_status st = qk_affine_scheme_check(scheme);
    if (st != QK_OK) return st;
    int32_t qmin, qmax;
    st = qk_qrange_for_bits(scheme->bits, scheme->range, &qmin, &qmax);
    if (st != QK_OK) return st;
    if (!isfinite(min) || !isfinite(max))
        return qk_error_set(QK_ERR_NONFINITE, "affine scheme params: range [%g, %g] is not finite",
                            (double)min, (double)max);
    qk_affine_apply_range_mode(scheme, &min, &max);
    return qk_affine_group_params(scheme, qmin, qmax, min, max, out);
}

/* ------------------------------------------------------------------------
** Storage figure.
*/
static bool add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return false;
    *out = a + b;
    return true;
}

static bool packed_bits_u64(uint64_t n, int bits, uint64_t *out) {
    if (n > UINT64_MAX / 8) return false;
    /* ceil(n * bits / 8) * 8 without overflowing n * bits */
    const uint64_t whole = n / 8 * (uint64_t)bits, rest = n % 8 * (uint64_t)bits;
    const uint64_t bytes = whole + (rest + 7) / 8;
    if (bytes > UINT64_MAX / 8) return false;
    *out = bytes * 8;
    return true;
}

qk_status qk_affine_storage_bits(const qk_affine_scheme *scheme, int32_t ndim, const int64_t *shape,
                                 uint64_t *out_bits) {
    if (!out_bits) return qk_error_set(QK_ERR_INVALID_ARG, "affine storage: NULL output");
    qk_affine_layout l;
    qk_status st = qk_affine_layout_init(scheme, ndim, shape, &l);
    if (st != QK_OK) return st;
    uint64_t total, part;
    const uint64_t groups = (uint64_t)l.n_groups;
    const uint64_t scale_bits = scheme->scale_type == QK_TYPE_F32 ? 32 : 16;
    if (!packed_bits_u64((uint64_t)l.numel, scheme->bits, &total) || groups > UINT64_MAX / 32 ||
        !add_u64(total, groups * scale_bits, &total))
        return qk_error_set(QK_ERR_OVERFLOW, "affine storage: bit count overflows");
    if (!scheme->symmetric) {
        switch (scheme->zp_storage) {
        case QK_ZP_PACKED:
            if (!packed_bits_u64(groups, scheme->bits, &part))
                return qk_error_set(QK_ERR_OVERFLOW, "affine storage: bit count overflows");
            break;
        case QK_ZP_8BIT:
            part = groups * 8;
            break;
        case QK_ZP_F16:
            part = groups * 16;
            break;
        default:
            part = groups * 32;
            break;
        }
        if (!add_u64(total, part, &total))
            return qk_error_set(QK_ERR_OVERFLOW, "affine storage: bit count overflows");
    }
    *out_bits = total;
    return QK_OK;
}

qk_status qk_affine_bits_per_weight(const qk_affine_scheme *scheme, int32_t ndim,
                                    const int64_t *shape, double *out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "affine bits per weight: NULL output");
    uint64_t bits;
    qk_status st = qk_affine_storage_bits(scheme, ndim, shape, &bits);
    if (st != QK_OK) return st;
    int64_t numel = 1;
    for (int32_t d = 0; d < ndim; d++) numel *= shape[d];
    if (numel == 0)
        return qk_error_set(QK_ERR_SHAPE, "affine bits per weight: the tensor is empty");
    *out = (double)bits / (double)numel;
    return QK_OK;
}
