/*
** The fast K-quant algorithm (kquant_lanes.h) compiled for AVX-512: the
** compiler vectorizes its 16-lane loops; the bytes are the reference's.
*/
#include "kernels/kquant_lanes.h"

#define QK_KQ_ROW(name, P, TYPE)                                                                   \
    static void quantize_##name(const float *x, void *dst, int64_t n) {                            \
        kq_quantize_row(&P, TYPE, x, dst, n);                                                      \
    }
QK_KQ_ROW(q2_k, QK_KQ_Q2K, QK_TYPE_Q2_K)
QK_KQ_ROW(q3_k, QK_KQ_Q3K, QK_TYPE_Q3_K)
QK_KQ_ROW(q4_k, QK_KQ_Q4K, QK_TYPE_Q4_K)
QK_KQ_ROW(q5_k, QK_KQ_Q5K, QK_TYPE_Q5_K)
QK_KQ_ROW(q6_k, QK_KQ_Q6K, QK_TYPE_Q6_K)
#undef QK_KQ_ROW

void qk_kernels_fill_avx512_kquant(qk_kernel_ops *t) {
    t[QK_TYPE_Q2_K].quantize_row = quantize_q2_k;
    t[QK_TYPE_Q3_K].quantize_row = quantize_q3_k;
    t[QK_TYPE_Q4_K].quantize_row = quantize_q4_k;
    t[QK_TYPE_Q5_K].quantize_row = quantize_q5_k;
    t[QK_TYPE_Q6_K].quantize_row = quantize_q6_k;
}
