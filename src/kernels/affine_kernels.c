/*
** Affine intN per-group quantization of rows (kernels.h): the driver, which
** computes each group's parameters with the scalar code of src/quant (so the
** results are qk_affine_quantize's), and the plain-C reference kernels.
*/
#include <math.h> /* isfinite */
#include <string.h>

#include "core/error.h"
#include "kernels/affine_kernels.h"
#include "kernels/kernels_internal.h"
#include "quant/affine_internal.h"

static bool minmax_ref(const float *x, int64_t n, float *lo, float *hi) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    float l = x[0], h = x[0];
    qk_affine_minmax_run(x, (size_t)n, &l, &h);
    *lo = l, *hi = h;
    return true;
}

static void quantize_ref(const float *x, int64_t n, float inv, float zp, float qmin, float qmax,
                         uint8_t *codes) {
    for (int64_t i = 0; i < n; i++) {
        const float v = qk_affine_code_nearest(x[i], inv, zp, qmin, qmax);
        codes[i] = (uint8_t)(int32_t)v;
    }
}

const qk_affine_kern qk_affine_kern_ref = {minmax_ref, quantize_ref};

const qk_affine_kern *qk_affine_kern_for(int isa) {
    const qk_cpu_features *f = qk_cpu_get_features();
    switch (isa) {
    case QK_ISA_REF:
        return &qk_affine_kern_ref;
    case QK_ISA_AVX2:
        return f->avx2 && f->fma ? &qk_affine_kern_avx2 : NULL;
    case QK_ISA_AVX512:
        return f->avx512f && f->avx512bw && f->avx512vl && f->avx2 ? &qk_affine_kern_avx512 : NULL;
    default:
        return NULL;
    }
}

qk_status qk_kernels_affine_quantize_rows(const qk_affine_scheme *scheme, const float *x,
                                          int64_t nrows, int64_t ncols, void *codes, float *scales,
                                          int32_t *zero_points) {
    return qk_kernels_affine_quantize_rows_isa(qk_isa_get(), scheme, x, nrows, ncols, codes, scales,
                                               zero_points);
}

qk_status qk_kernels_affine_quantize_rows_isa(qk_isa isa, const qk_affine_scheme *scheme,
                                              const float *x, int64_t nrows, int64_t ncols,
                                              void *codes, float *scales, int32_t *zero_points) {
    const qk_affine_kern *k = qk_affine_kern_for((int)isa);
    if (!k)
        return qk_error_set(QK_ERR_UNSUPPORTED, "affine rows: %s kernels unavailable on this CPU",
                            qk_isa_name(isa));
    qk_status st = qk_affine_scheme_check(scheme);
    if (st != QK_OK) return qk_error_prefix("affine rows");
    if (scheme->granularity != QK_GRAN_GROUP)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "affine rows: the scheme must have group granularity");
    if (scheme->rounding != QK_ROUND_NEAREST_EVEN)
        return qk_error_set(QK_ERR_UNSUPPORTED, "affine rows: only nearest-even rounding");
    if (nrows < 0 || ncols < 0)
        return qk_error_set(QK_ERR_SHAPE, "affine rows: negative shape %lld x %lld",
                            (long long)nrows, (long long)ncols);
    if (nrows == 0 || ncols == 0) return QK_OK;
    if (!x || !codes || !scales || !zero_points)
        return qk_error_set(QK_ERR_INVALID_ARG, "affine rows: NULL buffer");
    if (ncols > INT64_MAX / nrows)
        return qk_error_set(QK_ERR_OVERFLOW, "affine rows: %lld x %lld elements overflow",
                            (long long)nrows, (long long)ncols);
    int32_t qmin, qmax;
    if ((st = qk_qrange_for_bits(scheme->bits, scheme->range, &qmin, &qmax)) != QK_OK) return st;
    const int64_t G = scheme->group_size, gpr = (ncols + G - 1) / G;
    /* the first failing group (lowest index whatever the thread count) */
    int64_t first_bad = nrows * gpr;
#pragma omp parallel for schedule(dynamic, 1) reduction(min : first_bad)
    for (int64_t r = 0; r < nrows; r++) {
        for (int64_t j = 0; j < gpr; j++) {
            const int64_t g = r * gpr + j, c0 = j * G, len = ncols - c0 < G ? ncols - c0 : G;
            const float *xg = x + r * ncols + c0;
            float lo, hi;
            qk_affine_params p;
            if (!k->minmax(xg, len, &lo, &hi)) {
                if (g < first_bad) first_bad = g;
                break;
            }
            qk_affine_apply_range_mode(scheme, &lo, &hi);
            if (qk_affine_group_params(scheme, qmin, qmax, lo, hi, &p) != QK_OK) {
                if (g < first_bad) first_bad = g;
                break;
            }
            scales[g] = p.scale;
            zero_points[g] = p.zero_point;
            k->quantize(xg, len, 1.0f / p.scale, (float)p.zero_point, (float)p.qmin, (float)p.qmax,
                        (uint8_t *)codes + r * ncols + c0);
        }
    }
    if (first_bad == nrows * gpr) return QK_OK;
    const int64_t r = first_bad / gpr, j = first_bad % gpr, c0 = j * G;
    const int64_t len = ncols - c0 < G ? ncols - c0 : G;
    const float *xg = x + r * ncols + c0;
    for (int64_t i = 0; i < len; i++)
        if (!isfinite(xg[i]))
            return qk_error_set(QK_ERR_NONFINITE, "affine rows: row %lld, column %lld is %g",
                                (long long)r, (long long)(c0 + i), (double)xg[i]);
    float lo = xg[0], hi = xg[0];
    qk_affine_minmax_run(xg, (size_t)len, &lo, &hi);
    qk_affine_apply_range_mode(scheme, &lo, &hi);
    qk_affine_params p;
    if (qk_affine_group_params(scheme, qmin, qmax, lo, hi, &p) != QK_OK)
        return qk_error_prefix("affine rows: row %lld, group %lld (range [%g, %g])", (long long)r,
                               (long long)j, (double)lo, (double)hi);
    return qk_error_set(QK_ERR_NUMERIC, "affine rows: row %lld, group %lld failed", (long long)r,
                        (long long)j);
}
