/*
** The kernel tables, built once: the reference table, then each SIMD level
** as a copy of the level below with its own functions put over it. The
** level quantkit uses is qk_isa_get() (CPU features, QK_FORCE_REF, QK_ISA).
** Also the checked, parallel row entry points.
*/
#include <float.h>   /* FLT_MAX */
#include <pthread.h> /* pthread_once */
#include <stdlib.h>  /* malloc */

#include "core/error.h"
#include "kernels/kernels_internal.h"
#include "quant/ggml_internal.h"

static qk_kernel_ops tables[3][QK_TYPE_COUNT];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    qk_kernels_fill_ref(tables[QK_ISA_REF]);
    qk_kernels_fill_ref_k(tables[QK_ISA_REF]);
    memcpy(tables[QK_ISA_AVX2], tables[QK_ISA_REF], sizeof tables[QK_ISA_REF]);
    qk_kernels_fill_avx2(tables[QK_ISA_AVX2]);
    qk_kernels_fill_avx2_dot32(tables[QK_ISA_AVX2]);
    qk_kernels_fill_avx2_kquant(tables[QK_ISA_AVX2]);
    memcpy(tables[QK_ISA_AVX512], tables[QK_ISA_AVX2], sizeof tables[QK_ISA_AVX2]);
    qk_kernels_fill_avx512(tables[QK_ISA_AVX512]);
    qk_kernels_fill_avx512_dot32(tables[QK_ISA_AVX512]);
    qk_kernels_fill_avx512_k(tables[QK_ISA_AVX512]);
    qk_kernels_fill_avx512_kquant(tables[QK_ISA_AVX512]);
    for (int isa = QK_ISA_AVX2; isa <= QK_ISA_AVX512; isa++)
        for (int t = 0; t < QK_TYPE_COUNT; t++)
            if (tables[isa][t].dequantize_row) tables[isa][t].isa = (qk_isa)isa;
}

/* Whether this CPU can run level `isa` (independent of QK_ISA/QK_FORCE_REF,
** so that tests can compare every level the hardware has). */
static bool cpu_has(qk_isa isa) {
    const qk_cpu_features *f = qk_cpu_get_features();
    const bool avx2 = f->avx2 && f->fma && f->f16c && f->bmi2;
    switch (isa) {
    case QK_ISA_REF:
        return true;
    case QK_ISA_AVX2:
        return avx2;
    case QK_ISA_AVX512:
        return avx2 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni;
    }
    return false;
}

const qk_kernel_ops *qk_kernels_get(qk_type type, qk_isa isa) {
    if ((int)type < 0 || type >= QK_TYPE_COUNT || (int)isa < 0 || isa > QK_ISA_AVX512) return NULL;
    if (!cpu_has(isa)) return NULL;
    pthread_once(&tables_once, build_tables);
    const qk_kernel_ops *ops = &tables[isa][type];
    return ops->dequantize_row ? ops : NULL;
}

qk_status qk_kernels_act_bytes(qk_type type, int64_t n, size_t *out_bytes) {
    const qk_kernel_ops *ops = qk_kernels_get(type, QK_ISA_REF);
    if (!ops || !ops->quantize_act)
        return qk_error_set(QK_ERR_UNSUPPORTED, "kernels: %s has no quantized-activation dot",
                            qk_type_name(type));
    size_t bytes;
    qk_status st = qk_type_row_bytes(ops->act_type, n, &bytes);
    if (st != QK_OK) return st;
    if (n < 0 || n % qk_type_get_traits(type)->block_elems != 0)
        return qk_error_set(QK_ERR_SHAPE, "kernels: %lld elements are not whole %s blocks",
                            (long long)n, qk_type_name(type));
    *out_bytes = ops->act_type == QK_TYPE_Q8_0 ? qk_act32_bytes(n) : bytes;
    return QK_OK;
}

/* ---- checked row entry points ------------------------------------------- */

/* Index of the first non-finite value of x[0..n), or n. */
static int64_t first_nonfinite(const float *x, int64_t n) {
    /* blocks of 64, branch-free: an all-ones exponent plus one carries into
    ** bit 31 (integer adds and ors the compiler vectorizes) */
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t b[64], any = 0;
        memcpy(b, x + i, sizeof b);
        for (int k = 0; k < 64; k++) any |= (b[k] & 0x7F800000u) + 0x00800000u;
        if (any & 0x80000000u) break;
    }
    for (; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n;
}

/* Whether x[0..n) is finite with every |x_i| <= limit (a positive float):
** one branch-free pass on the bit patterns (for non-negative floats the
** integer order is the float order, and NaN/Inf are above every finite
** limit), vectorized by the compiler; the exact checks run only on rows
** that fail it. */
static bool row_clean(const float *x, int64_t n, float limit, bool avx512) {
    if (!(limit <= FLT_MAX)) limit = FLT_MAX;
    uint32_t lim;
    memcpy(&lim, &limit, sizeof lim);
    if (avx512) return qk_kernels_avx512_row_clean(x, n, lim);
    int32_t bad = 0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        int32_t b[64];
        memcpy(b, x + i, sizeof b);
        for (int k = 0; k < 64; k++) bad |= (b[k] & 0x7FFFFFFF) > (int32_t)lim;
    }
    for (; i < n; i++) {
        int32_t b;
        memcpy(&b, x + i, sizeof b);
        bad |= (b & 0x7FFFFFFF) > (int32_t)lim;
    }
    return bad == 0;
}

/* ggml's own block quantizer over a row of K-format blocks (importance:
** the row's, sliced per block, or NULL). */
static void ggml_k_row(qk_type type, const float *x, void *dst, int64_t n, const float *imp) {
    const size_t bytes = (size_t)qk_type_get_traits(type)->block_bytes;
    for (int64_t b = 0; b < n / QK_GGML_QK_K; b++) {
        const float *xb = x + b * QK_GGML_QK_K, *ib = imp ? imp + b * QK_GGML_QK_K : NULL;
        void *y = (unsigned char *)dst + (size_t)b * bytes;
        switch (type) {
        case QK_TYPE_Q2_K:
            qk_ggml_q2_k_block_ggml(xb, y, ib);
            break;
        case QK_TYPE_Q3_K:
            qk_ggml_q3_k_block_ggml(xb, y, ib);
            break;
        case QK_TYPE_Q4_K:
            qk_ggml_q4_k_block_ggml(xb, y, ib);
            break;
        case QK_TYPE_Q5_K:
            qk_ggml_q5_k_block_ggml(xb, y, ib);
            break;
        default:
            qk_ggml_q6_k_block_ggml(xb, y, ib);
            break;
        }
    }
}

qk_status qk_kernels_quantize_rows(qk_type type, const float *x, void *dst, int64_t nrows,
                                   int64_t ncols, const float *importance,
                                   qk_kquant_method method) {
    const qk_type_traits *tr = qk_type_get_traits(type);
    const qk_kernel_ops *ops = qk_kernels_get(type, qk_isa_get());
    const bool is_k = tr && tr->is_block && tr->block_elems == QK_GGML_QK_K;
    const bool ggml = method == QK_KQUANT_GGML &&
                      (type == QK_TYPE_Q2_K || type == QK_TYPE_Q3_K || type == QK_TYPE_Q4_K ||
                       type == QK_TYPE_Q5_K || type == QK_TYPE_Q6_K);
    if (!ggml &&
        (!tr || !tr->is_block || !ops || !ops->quantize_row ||
         (importance && qk_type_uses_importance(type)) || (is_k && method != QK_KQUANT_FAST)))
        return qk_quantize_rows(type, x, dst, nrows, ncols, importance);
    if (nrows < 0)
        return qk_error_set(QK_ERR_SHAPE, "quantize: negative row count %lld", (long long)nrows);
    size_t row_bytes;
    if (qk_type_row_bytes(type, ncols, &row_bytes) != QK_OK)
        return qk_error_prefix("quantize %s", tr->name);
    if (nrows == 0 || ncols == 0) return QK_OK;
    if (!x || !dst) return qk_error_set(QK_ERR_INVALID_ARG, "quantize: NULL buffer");
    size_t total;
    if (ncols > INT64_MAX / nrows || !qk_mul_size(row_bytes, (size_t)nrows, &total))
        return qk_error_set(QK_ERR_OVERFLOW, "quantize: %lld x %lld elements overflow",
                            (long long)nrows, (long long)ncols);
    const int64_t nblocks = ncols / tr->block_elems;
    const float limit = qk_type_max_magnitude(type);
    const bool avx512 = ops->isa == QK_ISA_AVX512;
    /* each row: finiteness, then the kernel, then the scales; the first
    ** failing row (lowest index) is reported whatever the thread count */
    int64_t first_bad = nrows;
    /* runs of 8 consecutive rows per thread: the kernels prefetch the next row */
#pragma omp parallel for schedule(dynamic, 8) reduction(min : first_bad)
    for (int64_t r = 0; r < nrows; r++) {
        const float *xr = x + r * ncols;
        unsigned char *yr = (unsigned char *)dst + (size_t)r * row_bytes;
        if (!row_clean(xr, ncols, limit, avx512)) {
            if (r < first_bad) first_bad = r;
            continue;
        }
        if (ggml)
            ggml_k_row(type, xr, yr, ncols, importance);
        else
            ops->quantize_row(xr, yr, ncols);
        if (qk_ggml_first_overflowed_block(type, yr, nblocks) >= 0 && r < first_bad) first_bad = r;
    }
    if (first_bad == nrows) return QK_OK;
    const int64_t r = first_bad;
    const float *xr = x + r * ncols;
    const int64_t c = first_nonfinite(xr, ncols);
    if (c < ncols)
        return qk_error_set(QK_ERR_NONFINITE, "quantize: row %lld, column %lld is %g", (long long)r,
                            (long long)c, (double)xr[c]);
    const qk_status st = qk_quantize_check_magnitude(type, xr, ncols, r);
    if (st != QK_OK) return st;
    const int64_t b =
        qk_ggml_first_overflowed_block(type, (unsigned char *)dst + (size_t)r * row_bytes, nblocks);
    return qk_ggml_scale_overflow_error(type, xr, b, r);
}

qk_status qk_kernels_dequantize_rows(qk_type type, const void *src, float *y, int64_t nrows,
                                     int64_t ncols) {
    const qk_kernel_ops *ops = qk_kernels_get(type, qk_isa_get());
    if (nrows < 0)
        return qk_error_set(QK_ERR_SHAPE, "dequantize: negative row count %lld", (long long)nrows);
    size_t row_bytes;
    qk_status st = qk_type_row_bytes(type, ncols, &row_bytes);
    if (st != QK_OK) return qk_error_prefix("dequantize %s", qk_type_name(type));
    if (nrows == 0 || ncols == 0) return QK_OK;
    if (!src || !y) return qk_error_set(QK_ERR_INVALID_ARG, "dequantize: NULL buffer");
    if (ncols > INT64_MAX / nrows)
        return qk_error_set(QK_ERR_OVERFLOW, "dequantize: %lld x %lld elements overflow",
                            (long long)nrows, (long long)ncols);
    if (!ops) {
        for (int64_t r = 0; r < nrows; r++) {
            st = qk_dequantize_row(type, (const unsigned char *)src + (size_t)r * row_bytes,
                                   y + r * ncols, ncols);
            if (st != QK_OK) return st;
        }
        return QK_OK;
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < nrows; r++)
        ops->dequantize_row((const unsigned char *)src + (size_t)r * row_bytes, y + r * ncols,
                            ncols);
    return QK_OK;
}
