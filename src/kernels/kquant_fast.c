/*
** The plain-C reference of quantkit's fast K-quant algorithm: kquant_lanes.h
** compiled without SIMD flags (its 16-lane vectors are loops).
*/
#include "kernels/kquant_lanes.h"

void qk_kquant_q2_k_ref(const float *x, void *dst, int64_t n) {
    kq_quantize_row(&QK_KQ_Q2K, QK_TYPE_Q2_K, x, dst, n);
}
void qk_kquant_q3_k_ref(const float *x, void *dst, int64_t n) {
    kq_quantize_row(&QK_KQ_Q3K, QK_TYPE_Q3_K, x, dst, n);
}
void qk_kquant_q4_k_ref(const float *x, void *dst, int64_t n) {
    kq_quantize_row(&QK_KQ_Q4K, QK_TYPE_Q4_K, x, dst, n);
}
void qk_kquant_q5_k_ref(const float *x, void *dst, int64_t n) {
    kq_quantize_row(&QK_KQ_Q5K, QK_TYPE_Q5_K, x, dst, n);
}
void qk_kquant_q6_k_ref(const float *x, void *dst, int64_t n) {
    kq_quantize_row(&QK_KQ_Q6K, QK_TYPE_Q6_K, x, dst, n);
}
