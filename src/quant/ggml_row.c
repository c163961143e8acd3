/*
** Row entry points of the ggml block formats: argument checks, the table of
** per-type functions, plain float types, and the parallel loop over rows.
*/
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* malloc, free */
#include <string.h> /* memcpy */

#include "core/error.h"
#include "quant/ggml_internal.h"

const int8_t qk_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                    1,    13,   25,  38,  53,  69,  89,  113};

typedef struct ggml_kind {
    qk_ggml_quantize_fn quantize;
    qk_ggml_dequantize_fn dequantize;
    bool uses_importance;
    /* Byte offsets of the block's f16 scale fields (-1 ends the list), to
    ** reject blocks whose scale overflowed f16. */
    int half_offsets[2];
} ggml_kind;

static const ggml_kind *kind_of(qk_type type) {
    static const ggml_kind KINDS[QK_TYPE_COUNT] = {
        [QK_TYPE_Q4_0] = {qk_ggml_quantize_q4_0, qk_ggml_dequantize_q4_0, true, {0, -1}},
        [QK_TYPE_Q4_1] = {qk_ggml_quantize_q4_1, qk_ggml_dequantize_q4_1, true, {0, 2}},
        [QK_TYPE_Q5_0] = {qk_ggml_quantize_q5_0, qk_ggml_dequantize_q5_0, true, {0, -1}},
        [QK_TYPE_Q5_1] = {qk_ggml_quantize_q5_1, qk_ggml_dequantize_q5_1, true, {0, 2}},
        [QK_TYPE_Q8_0] = {qk_ggml_quantize_q8_0, qk_ggml_dequantize_q8_0, false, {0, -1}},
        [QK_TYPE_Q8_1] = {qk_ggml_quantize_q8_1, qk_ggml_dequantize_q8_1, false, {0, 2}},
        [QK_TYPE_Q2_K] = {qk_ggml_quantize_q2_k, qk_ggml_dequantize_q2_k, true, {80, 82}},
        [QK_TYPE_Q3_K] = {qk_ggml_quantize_q3_k, qk_ggml_dequantize_q3_k, true, {108, -1}},
        [QK_TYPE_Q4_K] = {qk_ggml_quantize_q4_k, qk_ggml_dequantize_q4_k, true, {0, 2}},
        [QK_TYPE_Q5_K] = {qk_ggml_quantize_q5_k, qk_ggml_dequantize_q5_k, true, {0, 2}},
        [QK_TYPE_Q6_K] = {qk_ggml_quantize_q6_k, qk_ggml_dequantize_q6_k, true, {208, -1}},
        /* Q8_K's d is an f32 (-max / 127), which cannot overflow */
        [QK_TYPE_Q8_K] = {qk_ggml_quantize_q8_k, qk_ggml_dequantize_q8_k, false, {-1, -1}},
        [QK_TYPE_IQ4_NL] = {qk_ggml_quantize_iq4_nl, qk_ggml_dequantize_iq4_nl, true, {0, -1}},
    };
    if ((int)type < 0 || type >= QK_TYPE_COUNT || !KINDS[type].quantize) return NULL;
    return &KINDS[type];
}

/* Largest magnitude any block of the format can dequantize to, as a
** multiple of the largest f16 (65504): the largest |code product| of the
** format (see qk_type_max_magnitude in quantkit/ggml.h). */
/* clang-format off */
static double max_code_product(qk_type type) {
    switch (type) {
    case QK_TYPE_Q4_0: return 8;           /* d * (q - 8), q in [0, 15] */
    case QK_TYPE_Q4_1: return 15 + 1;      /* d * q + m, q in [0, 15] */
    case QK_TYPE_Q5_0: return 16;          /* d * (q - 16), q in [0, 31] */
    case QK_TYPE_Q5_1: return 31 + 1;      /* d * q + m, q in [0, 31] */
    case QK_TYPE_Q8_0: return 128;         /* d * q, q int8 */
    case QK_TYPE_Q8_1: return 128;         /* d * q, q int8 */
    case QK_TYPE_Q2_K: return 15 * 3 + 15; /* d * sc * q - dmin * m, sc, m 4-bit, q 2-bit */
    case QK_TYPE_Q3_K: return 32 * 4;      /* d * (sc - 32) * (q - 4), sc 6-bit, q 3-bit */
    case QK_TYPE_Q4_K: return 63 * 15 + 63;  /* d * sc * q - dmin * m, sc, m 6-bit, q 4-bit */
    case QK_TYPE_Q5_K: return 63 * 31 + 63;  /* the same with q 5-bit */
    case QK_TYPE_Q6_K: return 128 * 32;      /* d * sc * (q - 32), sc int8, q 6-bit */
    case QK_TYPE_IQ4_NL: return 127;         /* d * value, |value| <= 127 */
    default: return 0;
    }
}

float qk_type_max_magnitude(qk_type type) {
    const double p = max_code_product(type);
    if (p > 0) return (float)(65504.0 * p);
    switch (type) {
    case QK_TYPE_F16: return 65504.0f;
    case QK_TYPE_BF16: return 0x1.fep127f; /* 0x7F7F */
    case QK_TYPE_F8_E4M3: return 448.0f;
    case QK_TYPE_F8_E5M2: return 57344.0f;
    default: return INFINITY; /* f32, Q8_K (f32 scale) */
    }
}
/* clang-format on */

/* The first block of row `x` with an element above the format's largest
** magnitude, as QK_ERR_NUMERIC naming it (row < 0: a single row); QK_OK
** when there is none. Checked before quantizing: such blocks cannot be
** represented, and in the K formats' searches their squares overflow f32
** (which made Q3_K and Q6_K write all-zero blocks). */
qk_status qk_quantize_check_magnitude(qk_type type, const float *x, int64_t n, int64_t row) {
    if (max_code_product(type) <= 0) return QK_OK; /* float types, Q8_K */
    const float limit = qk_type_max_magnitude(type);
    const qk_type_traits *t = qk_type_get_traits(type);
    const int64_t be = t->block_elems > 0 ? t->block_elems : 1;
    for (int64_t i = 0; i < n; i++) {
        if (!(fabsf(x[i]) > limit)) continue;
        const int64_t b = i / be;
        char where[48] = "";
        if (row >= 0) snprintf(where, sizeof where, "row %lld, ", (long long)row);
        return qk_error_set(QK_ERR_NUMERIC,
                            "quantize %s: %selements %lld..%lld: element %lld is %g, beyond the "
                            "largest magnitude %s can hold (%g)",
                            t->name, where, (long long)(b * be), (long long)((b + 1) * be - 1),
                            (long long)i, (double)x[i], t->name, (double)limit);
    }
    return QK_OK;
}

static bool is_plain_float(qk_type type) {
    return type == QK_TYPE_F32 || type == QK_TYPE_F16 || type == QK_TYPE_BF16 ||
           type == QK_TYPE_F8_E4M3 || type == QK_TYPE_F8_E5M2;
}

bool qk_type_uses_importance(qk_type type) {
    const ggml_kind *k = kind_of(type);
    return k && k->uses_importance;
}

/* n elements of `type`: a known type, n >= 0 and whole blocks. */
static qk_status check_count(const char *what, qk_type type, int64_t n) {
    size_t bytes;
    qk_status st = qk_type_row_bytes(type, n, &bytes);
    if (st != QK_OK) return qk_error_prefix("%s %s", what, qk_type_name(type));
    return QK_OK;
}

static qk_status check_finite(const float *x, int64_t n, int64_t row, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            if (row >= 0)
                return qk_error_set(QK_ERR_NONFINITE, "%s: row %lld, column %lld is %g", what,
                                    (long long)row, (long long)i, (double)x[i]);
            return qk_error_set(QK_ERR_NONFINITE, "%s: element %lld is %g", what, (long long)i,
                                (double)x[i]);
        }
    }
    return QK_OK;
}

/* Check the importance weights and copy them scaled by the power of two
** that brings their maximum into [0.5, 1) (exact, so no search decision
** changes, and huge or tiny weights cannot overflow or underflow the
** weighted sums). *out is NULL when `imp` is NULL; free() it. */
static qk_status prepare_importance(const float *imp, int64_t n, float **out) {
    *out = NULL;
    if (!imp) return QK_OK;
    float max = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(imp[i]))
            return qk_error_set(QK_ERR_NONFINITE, "importance: column %lld is %g", (long long)i,
                                (double)imp[i]);
        if (imp[i] < 0.0f)
            return qk_error_set(QK_ERR_INVALID_ARG, "importance: column %lld is negative (%g)",
                                (long long)i, (double)imp[i]);
        if (imp[i] > max) max = imp[i];
    }
    float *w = malloc((size_t)n * sizeof *w);
    if (!w) return qk_error_set(QK_ERR_NOMEM, "importance: %lld weights", (long long)n);
    int e = 0;
    if (max > 0.0f) frexpf(max, &e);
    for (int64_t i = 0; i < n; i++) w[i] = ldexpf(imp[i], -e);
    *out = w;
    return QK_OK;
}

int64_t qk_ggml_first_overflowed_block(qk_type type, const void *row, int64_t nblocks) {
    const ggml_kind *k = kind_of(type);
    if (!k) return -1;
    const size_t block_bytes = (size_t)qk_type_get_traits(type)->block_bytes;
    const unsigned char *p = row;
    for (int64_t b = 0; b < nblocks; b++, p += block_bytes) {
        for (int f = 0; f < 2 && k->half_offsets[f] >= 0; f++) {
            uint16_t h;
            memcpy(&h, p + k->half_offsets[f], sizeof h);
            if ((h & 0x7C00) == 0x7C00) return b;
        }
    }
    return -1;
}

qk_status qk_ggml_scale_overflow_error(qk_type type, const float *x, int64_t block, int64_t row) {
    const qk_type_traits *t = qk_type_get_traits(type);
    const int64_t lo = block * t->block_elems, hi = lo + t->block_elems;
    float amax = 0.0f;
    for (int64_t j = lo; j < hi; j++) amax = fmaxf(amax, fabsf(x[j]));
    char where[48] = "";
    if (row >= 0) snprintf(where, sizeof where, "row %lld, ", (long long)row);
    return qk_error_set(QK_ERR_NUMERIC,
                        "quantize %s: %selements %lld..%lld (largest magnitude %g) need a scale "
                        "beyond the f16 range",
                        t->name, where, (long long)lo, (long long)(hi - 1), (double)amax);
}

/* Quantize one checked row; QK_ERR_NUMERIC when a block's f16 scale
** overflowed. `row` < 0 for a single row. */
static qk_status quantize_checked(const ggml_kind *k, qk_type type, const float *x, void *dst,
                                  int64_t n, const float *w, int64_t row) {
    qk_status st = qk_quantize_check_magnitude(type, x, n, row);
    if (st != QK_OK) return st;
    k->quantize(x, dst, n, w);
    const int64_t b =
        qk_ggml_first_overflowed_block(type, dst, n / qk_type_get_traits(type)->block_elems);
    return b < 0 ? QK_OK : qk_ggml_scale_overflow_error(type, x, b, row);
}

qk_status qk_quantize_row(qk_type type, const float *x, void *dst, int64_t n,
                          const float *importance) {
    const ggml_kind *k = kind_of(type);
    if (!k && !is_plain_float(type))
        return qk_error_set(QK_ERR_UNSUPPORTED, "quantize: %s is not a ggml block or float type",
                            qk_type_name(type));
    qk_status st = check_count("quantize", type, n);
    if (st != QK_OK) return st;
    if (n > 0 && (!x || !dst)) return qk_error_set(QK_ERR_INVALID_ARG, "quantize: NULL buffer");
    st = check_finite(x, n, -1, "quantize");
    if (st != QK_OK) return st;
    if (!k) return qk_convert(QK_TYPE_F32, x, type, dst, (size_t)n);
    if (n == 0) return QK_OK;
    float *w = NULL;
    if (k->uses_importance) {
        st = prepare_importance(importance, n, &w);
        if (st != QK_OK) return st;
    }
    st = quantize_checked(k, type, x, dst, n, w, -1);
    free(w);
    return st;
}

qk_status qk_dequantize_row(qk_type type, const void *src, float *y, int64_t n) {
    const ggml_kind *k = kind_of(type);
    if (!k && !is_plain_float(type))
        return qk_error_set(QK_ERR_UNSUPPORTED, "dequantize: %s is not a ggml block or float type",
                            qk_type_name(type));
    qk_status st = check_count("dequantize", type, n);
    if (st != QK_OK) return st;
    if (n > 0 && (!src || !y)) return qk_error_set(QK_ERR_INVALID_ARG, "dequantize: NULL buffer");
    if (!k) return qk_convert(type, src, QK_TYPE_F32, y, (size_t)n);
    k->dequantize(src, y, n);
    return QK_OK;
}

qk_status qk_quantize_rows(qk_type type, const float *x, void *dst, int64_t nrows, int64_t ncols,
                           const float *importance) {
    const ggml_kind *k = kind_of(type);
    if (!k && !is_plain_float(type))
        return qk_error_set(QK_ERR_UNSUPPORTED, "quantize: %s is not a ggml block or float type",
                            qk_type_name(type));
    if (nrows < 0)
        return qk_error_set(QK_ERR_SHAPE, "quantize: negative row count %lld", (long long)nrows);
    qk_status st = check_count("quantize", type, ncols);
    if (st != QK_OK) return st;
    if (nrows > 0 && ncols > 0 && (!x || !dst))
        return qk_error_set(QK_ERR_INVALID_ARG, "quantize: NULL buffer");
    if (nrows == 0 || ncols == 0) return QK_OK;
    if (ncols > INT64_MAX / nrows)
        return qk_error_set(QK_ERR_OVERFLOW, "quantize: %lld x %lld elements overflow",
                            (long long)nrows, (long long)ncols);
    size_t row_bytes;
    st = qk_type_row_bytes(type, ncols, &row_bytes);
    if (st != QK_OK) return st;
    size_t total;
    if (!qk_mul_size(row_bytes, (size_t)nrows, &total))
        return qk_error_set(QK_ERR_OVERFLOW, "quantize: %lld rows of %zu bytes overflow",
                            (long long)nrows, row_bytes);
    for (int64_t r = 0; r < nrows; r++) {
        st = check_finite(x + r * ncols, ncols, r, "quantize");
        if (st != QK_OK) return st;
    }
    float *w = NULL;
    if (k && k->uses_importance) {
        st = prepare_importance(importance, ncols, &w);
        if (st != QK_OK) return st;
    }
    /* Rows are independent: each thread writes its own rows, and a failing
    ** row is recorded and its error re-raised on this thread afterwards. */
    int64_t first_bad = nrows;
#pragma omp parallel for schedule(dynamic, 1) reduction(min : first_bad)
    for (int64_t r = 0; r < nrows; r++) {
        const float *xr = x + r * ncols;
        unsigned char *yr = (unsigned char *)dst + (size_t)r * row_bytes;
        qk_status s = k ? quantize_checked(k, type, xr, yr, ncols, w, r)
                        : qk_convert(QK_TYPE_F32, xr, type, yr, (size_t)ncols);
        if (s != QK_OK && r < first_bad) first_bad = r;
    }
    if (first_bad < nrows) {
        const int64_t r = first_bad;
        st = k ? quantize_checked(k, type, x + r * ncols,
                                  (unsigned char *)dst + (size_t)r * row_bytes, ncols, w, r)
               : qk_convert(QK_TYPE_F32, x + r * ncols, type,
                            (unsigned char *)dst + (size_t)r * row_bytes, (size_t)ncols);
    }
    free(w);
    return st;
}
