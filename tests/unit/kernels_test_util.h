/*
** Shared by the kernel tests: the variant of a kernel level, and the magnitude S of a dot product
*that the
** stated bound between kernel variants is relative to (kernels.h): sum of
** |w_i x_i| over the dequantized weights, where for formats with a min the
** two parts of each weight (scaled quant and min) count separately.
*/
#ifndef QK_KERNELS_TEST_UTIL_H
#define QK_KERNELS_TEST_UTIL_H

#include "qk_test.h"

#include "kernels/kernels_internal.h"

/* The kernels of `isa` for `type`, or NULL (said once per level) when this
** CPU lacks that level: the variant is then skipped. */
static inline const qk_kernel_ops *kt_variant(qk_type type, qk_isa isa) {
    const qk_kernel_ops *ops = qk_kernels_get(type, isa);
    static bool told[3];
    if (!ops && !told[isa]) {
        told[isa] = true;
        print_message("note: this CPU has no %s kernels; that variant is skipped\n",
                      qk_isa_name(isa));
    }
    return ops;
}

/* Byte offsets of the scale field and the min field of a block (-1 when the
** format has no min). */
static inline void kt_min_fields(qk_type type, int *d_off, int *m_off) {
    *d_off = 0, *m_off = -1;
    switch (type) {
    case QK_TYPE_Q4_1:
    case QK_TYPE_Q5_1:
    case QK_TYPE_Q4_K:
    case QK_TYPE_Q5_K:
        *m_off = 2;
        break;
    case QK_TYPE_Q2_K:
        *d_off = 80, *m_off = 82;
        break;
    default:
        break;
    }
}

/* S for weight row w (n elements of type) and activation values x[n]. */
static inline double kt_dot_magnitude(qk_type type, const void *w, const float *x, int64_t n) {
    const qk_type_traits *tr = qk_type_get_traits(type);
    size_t bytes;
    QK_ASSERT_OK(qk_type_row_bytes(type, n, &bytes));
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    int d_off, m_off;
    kt_min_fields(type, &d_off, &m_off);
    double s = 0.0;
    if (m_off < 0) {
        QK_ASSERT_OK(qk_dequantize_row(type, w, a, n));
        for (int64_t i = 0; i < n; i++) s += fabs((double)a[i] * x[i]);
    } else {
        unsigned char *c = malloc(bytes);
        memcpy(c, w, bytes);
        for (int64_t k = 0; k < n / tr->block_elems; k++)
            memset(c + k * tr->block_bytes + m_off, 0, 2);
        QK_ASSERT_OK(qk_dequantize_row(type, c, a, n)); /* scaled quants */
        memcpy(c, w, bytes);
        for (int64_t k = 0; k < n / tr->block_elems; k++)
            memset(c + k * tr->block_bytes + d_off, 0, 2);
        QK_ASSERT_OK(qk_dequantize_row(type, c, b, n)); /* the mins */
        for (int64_t i = 0; i < n; i++)
            s += (fabs((double)a[i]) + fabs((double)b[i])) * fabs((double)x[i]);
        free(c);
    }
    free(a), free(b);
    return s;
}

#endif
