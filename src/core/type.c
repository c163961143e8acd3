/*
** Element type traits, tensor views, and bulk conversion between plain
** scalar types.
*/
#include <math.h>    /* isnan, nearbyint */
#include <string.h>  /* memcpy */
#include <strings.h> /* strcasecmp */

#include "core/error.h"

/* Block sizes and byte sizes of the ggml formats follow ggml-common.h; the
** static_asserts on the block structs live in include/quantkit/ggml_blocks.h. */
static const qk_type_traits TYPE_TRAITS[QK_TYPE_COUNT] = {
    [QK_TYPE_F32] = {"f32", 1, 4, true, false},
    [QK_TYPE_F16] = {"f16", 1, 2, true, false},
    [QK_TYPE_BF16] = {"bf16", 1, 2, true, false},
    [QK_TYPE_F64] = {"f64", 1, 8, true, false},
    [QK_TYPE_F8_E4M3] = {"f8_e4m3", 1, 1, true, false},
    [QK_TYPE_F8_E5M2] = {"f8_e5m2", 1, 1, true, false},
    [QK_TYPE_I8] = {"i8", 1, 1, false, false},
    [QK_TYPE_U8] = {"u8", 1, 1, false, false},
    [QK_TYPE_I16] = {"i16", 1, 2, false, false},
    [QK_TYPE_U16] = {"u16", 1, 2, false, false},
    [QK_TYPE_I32] = {"i32", 1, 4, false, false},
    [QK_TYPE_U32] = {"u32", 1, 4, false, false},
    [QK_TYPE_I64] = {"i64", 1, 8, false, false},
    [QK_TYPE_U64] = {"u64", 1, 8, false, false},
    [QK_TYPE_BOOL] = {"bool", 1, 1, false, false},
    [QK_TYPE_Q4_0] = {"q4_0", 32, 18, false, true},
    [QK_TYPE_Q4_1] = {"q4_1", 32, 20, false, true},
    [QK_TYPE_Q5_0] = {"q5_0", 32, 22, false, true},
    [QK_TYPE_Q5_1] = {"q5_1", 32, 24, false, true},
    [QK_TYPE_Q8_0] = {"q8_0", 32, 34, false, true},
    [QK_TYPE_Q8_1] = {"q8_1", 32, 36, false, true},
    [QK_TYPE_Q2_K] = {"q2_k", 256, 84, false, true},
    [QK_TYPE_Q3_K] = {"q3_k", 256, 110, false, true},
    [QK_TYPE_Q4_K] = {"q4_k", 256, 144, false, true},
    [QK_TYPE_Q5_K] = {"q5_k", 256, 176, false, true},
    [QK_TYPE_Q6_K] = {"q6_k", 256, 210, false, true},
    [QK_TYPE_Q8_K] = {"q8_k", 256, 292, false, true},
    [QK_TYPE_IQ4_NL] = {"iq4_nl", 32, 18, false, true},
};

const qk_type_traits *qk_type_get_traits(qk_type type) {
    if ((int)type < 0 || type >= QK_TYPE_COUNT) return NULL;
    return &TYPE_TRAITS[type];
}

const char *qk_type_name(qk_type type) {
    const qk_type_traits *t = qk_type_get_traits(type);
    return t ? t->name : "?";
}

qk_status qk_type_from_name(const char *name, qk_type *out) {
    if (!name || !out) return qk_error_set(QK_ERR_INVALID_ARG, "type name: NULL argument");
    for (int i = 0; i < QK_TYPE_COUNT; i++) {
        if (strcasecmp(name, TYPE_TRAITS[i].name) == 0) {
            *out = (qk_type)i;
            return QK_OK;
        }
    }
    return qk_error_set(QK_ERR_UNKNOWN_TYPE, "unknown type name '%s'", name);
}

qk_status qk_type_row_bytes(qk_type type, int64_t n, size_t *out_bytes) {
    const qk_type_traits *t = qk_type_get_traits(type);
    if (!t) return qk_error_set(QK_ERR_UNKNOWN_TYPE, "type id %d out of range", (int)type);
    if (n < 0) return qk_error_set(QK_ERR_SHAPE, "negative element count %lld", (long long)n);
    if (n % t->block_elems != 0)
        return qk_error_set(QK_ERR_SHAPE, "%lld elements is not a whole number of %s blocks of %d",
                            (long long)n, t->name, (int)t->block_elems);
    size_t bytes;
    if ((uint64_t)(n / t->block_elems) > SIZE_MAX ||
        !qk_mul_size((size_t)(n / t->block_elems), (size_t)t->block_bytes, &bytes))
        return qk_error_set(QK_ERR_OVERFLOW, "%lld elements of %s overflow size_t", (long long)n,
                            t->name);
    *out_bytes = bytes;
    return QK_OK;
}

double qk_type_bits_per_weight(qk_type type) {
    const qk_type_traits *t = qk_type_get_traits(type);
    if (!t) return 0.0;
    return 8.0 * (double)t->block_bytes / (double)t->block_elems;
}

/* ------------------------------------------------------------------------
** Tensor views
*/
qk_status qk_tensor_view_init(qk_tensor_view *view, qk_type type, int32_t ndim,
                              const int64_t *shape, void *data) {
    const qk_type_traits *t = qk_type_get_traits(type);
    if (!view) return qk_error_set(QK_ERR_INVALID_ARG, "tensor view: NULL view");
    if (!t) return qk_error_set(QK_ERR_UNKNOWN_TYPE, "tensor view: type id %d", (int)type);
    if (ndim < 0 || ndim > QK_MAX_DIMS)
        return qk_error_set(QK_ERR_SHAPE, "tensor view: %d dimensions (at most %d)", (int)ndim,
                            QK_MAX_DIMS);
    if (ndim > 0 && !shape) return qk_error_set(QK_ERR_INVALID_ARG, "tensor view: NULL shape");
    int64_t numel = 1;
    for (int32_t i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return qk_error_set(QK_ERR_SHAPE, "tensor view: dimension %d is negative (%lld)",
                                (int)i, (long long)shape[i]);
        if (shape[i] != 0 && numel > INT64_MAX / shape[i])
            return qk_error_set(QK_ERR_OVERFLOW, "tensor view: shape product overflows at dim %d",
                                (int)i);
        numel *= shape[i];
    }
    if (ndim > 0 && shape[ndim - 1] % t->block_elems != 0)
        return qk_error_set(QK_ERR_SHAPE,
                            "tensor view: innermost dimension %lld is not a multiple of the "
                            "%s block size %d",
                            (long long)shape[ndim - 1], t->name, (int)t->block_elems);
    size_t bytes;
    qk_status st = qk_type_row_bytes(type, numel, &bytes);
    if (st != QK_OK) return st;
    memset(view, 0, sizeof *view);
    view->type = type;
    view->ndim = ndim;
    for (int32_t i = 0; i < ndim; i++) view->shape[i] = shape[i];
    view->data = data;
    return QK_OK;
}

int64_t qk_tensor_view_numel(const qk_tensor_view *view) {
    int64_t n = 1;
    for (int32_t i = 0; i < view->ndim; i++) n *= view->shape[i];
    return n;
}

int64_t qk_tensor_view_rows(const qk_tensor_view *view) {
    int64_t n = 1;
    for (int32_t i = 0; i + 1 < view->ndim; i++) n *= view->shape[i];
    return n;
}

qk_status qk_tensor_view_nbytes(const qk_tensor_view *view, size_t *out_bytes) {
    return qk_type_row_bytes(view->type, qk_tensor_view_numel(view), out_bytes);
}

/* ------------------------------------------------------------------------
** Bulk conversion between plain scalar types, through double (exact for
** every integer up to 2^53 and every float type here). Integer targets
** round half to even and saturate.
*/
static bool is_plain(qk_type type) {
    const qk_type_traits *t = qk_type_get_traits(type);
    return t && !t->is_block;
}

static double load_as_double(qk_type type, const void *src, size_t i) {
    const unsigned char *p = (const unsigned char *)src;
    switch (type) {
    case QK_TYPE_F32: {
        float v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case QK_TYPE_F16: {
        uint16_t v;
        memcpy(&v, p + 2 * i, 2);
        return qk_f16_to_f32(v);
    }
    case QK_TYPE_BF16: {
        uint16_t v;
        memcpy(&v, p + 2 * i, 2);
        return qk_bf16_to_f32(v);
    }
    case QK_TYPE_F64: {
        double v;
        memcpy(&v, p + 8 * i, 8);
        return v;
    }
    case QK_TYPE_F8_E4M3:
        return qk_fp8_e4m3_to_f32(p[i]);
    case QK_TYPE_F8_E5M2:
        return qk_fp8_e5m2_to_f32(p[i]);
    case QK_TYPE_I8:
        return (int8_t)p[i];
    case QK_TYPE_U8:
        return p[i];
    case QK_TYPE_BOOL:
        return p[i] != 0;
    case QK_TYPE_I16: {
        int16_t v;
        memcpy(&v, p + 2 * i, 2);
        return v;
    }
    case QK_TYPE_U16: {
        uint16_t v;
        memcpy(&v, p + 2 * i, 2);
        return v;
    }
    case QK_TYPE_I32: {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case QK_TYPE_U32: {
        uint32_t v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case QK_TYPE_I64: {
        int64_t v;
        memcpy(&v, p + 8 * i, 8);
        return (double)v;
    }
    case QK_TYPE_U64: {
        uint64_t v;
        memcpy(&v, p + 8 * i, 8);
        return (double)v;
    }
    default:
        return 0.0;
    }
}

/* Round half to even and clamp into [lo, hi] (v is not NaN). */
static double round_clamp(double v, double lo, double hi) {
    double r = nearbyint(v); /* default rounding mode: ties to even */
    if (r < lo) r = lo;
    if (r > hi) r = hi;
    return r;
}

static void store_from_double(qk_type type, void *dst, size_t i, double v) {
    unsigned char *p = (unsigned char *)dst;
    switch (type) {
    case QK_TYPE_F32: {
        float f = (float)v;
        memcpy(p + 4 * i, &f, 4);
        break;
    }
    case QK_TYPE_F16: {
        uint16_t h = qk_f32_to_f16((float)v);
        memcpy(p + 2 * i, &h, 2);
        break;
    }
    case QK_TYPE_BF16: {
        uint16_t h = qk_f32_to_bf16((float)v);
        memcpy(p + 2 * i, &h, 2);
        break;
    }
    case QK_TYPE_F64:
        memcpy(p + 8 * i, &v, 8);
        break;
    case QK_TYPE_F8_E4M3:
        p[i] = qk_f32_to_fp8_e4m3((float)v, true);
        break;
    case QK_TYPE_F8_E5M2:
        p[i] = qk_f32_to_fp8_e5m2((float)v, true);
        break;
    case QK_TYPE_I8:
        p[i] = (unsigned char)(int8_t)round_clamp(v, INT8_MIN, INT8_MAX);
        break;
    case QK_TYPE_U8:
        p[i] = (unsigned char)round_clamp(v, 0, UINT8_MAX);
        break;
    case QK_TYPE_BOOL:
        p[i] = v != 0.0;
        break;
    case QK_TYPE_I16: {
        int16_t x = (int16_t)round_clamp(v, INT16_MIN, INT16_MAX);
        memcpy(p + 2 * i, &x, 2);
        break;
    }
    case QK_TYPE_U16: {
        uint16_t x = (uint16_t)round_clamp(v, 0, UINT16_MAX);
        memcpy(p + 2 * i, &x, 2);
        break;
    }
    case QK_TYPE_I32: {
        int32_t x = (int32_t)round_clamp(v, INT32_MIN, INT32_MAX);
        memcpy(p + 4 * i, &x, 4);
        break;
    }
    case QK_TYPE_U32: {
        uint32_t x = (uint32_t)round_clamp(v, 0, UINT32_MAX);
        memcpy(p + 4 * i, &x, 4);
        break;
    }
    case QK_TYPE_I64: {
        /* 2^63 is exactly representable; values at or beyond it saturate */
        double r = nearbyint(v);
        int64_t x = r >= 9223372036854775808.0   ? INT64_MAX
                    : r < -9223372036854775808.0 ? INT64_MIN
                                                 : (int64_t)r;
        memcpy(p + 8 * i, &x, 8);
        break;
    }
    case QK_TYPE_U64: {
        double r = nearbyint(v);
        uint64_t x = r >= 18446744073709551616.0 ? UINT64_MAX : r <= 0 ? 0 : (uint64_t)r;
        memcpy(p + 8 * i, &x, 8);
        break;
    }
    default:
        break;
    }
}

qk_status qk_convert(qk_type src_type, const void *src, qk_type dst_type, void *dst, size_t n) {
    if (!is_plain(src_type) || !is_plain(dst_type))
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "convert: %s -> %s is not a plain scalar conversion",
                            qk_type_name(src_type), qk_type_name(dst_type));
    if (n > 0 && (!src || !dst)) return qk_error_set(QK_ERR_INVALID_ARG, "convert: NULL buffer");
    const qk_type_traits *dt = qk_type_get_traits(dst_type);
    if (src_type == dst_type) {
        size_t bytes;
        if (!qk_mul_size(n, (size_t)dt->block_bytes, &bytes))
            return qk_error_set(QK_ERR_OVERFLOW, "convert: %zu elements overflow", n);
        memcpy(dst, src, bytes);
        return QK_OK;
    }
    /* Every source value is exact as a double. Narrow float targets round
    ** from the float of that value: a single rounding for every source but
    ** f64, where f64 -> f16/bf16/fp8 may round twice (documented). */
    for (size_t i = 0; i < n; i++) {
        double v = load_as_double(src_type, src, i);
        if (isnan(v) && !dt->is_float && dst_type != QK_TYPE_BOOL)
            return qk_error_set(QK_ERR_NONFINITE, "convert %s -> %s: element %zu is NaN",
                                qk_type_name(src_type), qk_type_name(dst_type), i);
        store_from_double(dst_type, dst, i, v);
    }
    return QK_OK;
}
