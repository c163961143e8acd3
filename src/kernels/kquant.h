/*
** Internal: quantkit's fast K-quant algorithm. kquant_lanes.h holds the
** algorithm (and describes it); it is compiled once per instruction-set
** level (kquant_fast.c: the plain-C reference; kquant_avx2.c,
** kquant_avx512.c) and every level writes the same bytes. This header has
** what the levels share: the types' parameters, the block in common form
** and its packing.
**
** A super-block of 256 values in nsub sub-blocks of sublen:
**   asymmetric (Q2_K, Q4_K, Q5_K): y = (D * s_j) * q - (M * m_j),
**       q in [0, qmax], s_j in [0, smax], m_j in [0, mmax], D, M f16
**   symmetric (Q3_K, Q6_K): y = (D * s_j) * q, q in [qmin, qmax],
**       s_j in [smin, smax], D f16
*/
#ifndef QK_KERNELS_KQUANT_H
#define QK_KERNELS_KQUANT_H

#include "kernels/kernels_internal.h"

/* Candidate inverse scales per sub-block (even), refinement rounds, and
** the super-block scale's candidates each side of the first guess. */
#ifndef QK_KQ_CANDIDATES
#define QK_KQ_CANDIDATES 8
#endif
#ifndef QK_KQ_ROUNDS
#define QK_KQ_ROUNDS 1
#endif
#ifndef KQ_SUPER_C
#define KQ_SUPER_C 2
#endif
/* Sub-blocks (and super-blocks) below this largest magnitude are zero. */
#define QK_KQ_EPS 1e-15f

typedef struct qk_kq_params {
    int nsub, sublen;
    int qmin, qmax;
    int smin, smax;
    int mmax; /* -1: symmetric */
    /* candidate k's inverse scale is (nmax + (lo + step k)) / range, range =
    ** max - min (asymmetric) or -amax (symmetric, amax the signed value of
    ** largest magnitude) */
    float nmax, lo, step;
} qk_kq_params;

/* The types' parameters (constants, so that each type's code is compiled
** for them). */
static const qk_kq_params QK_KQ_Q2K = {16, 16, 0, 3, 0, 15, 15, 3.0f, -1.0f, 0.2f};
static const qk_kq_params QK_KQ_Q3K = {16, 16, -4, 3, -32, 31, -1, 4.0f, -0.8f, 0.2f};
static const qk_kq_params QK_KQ_Q4K = {8, 32, 0, 15, 0, 63, 63, 15.0f, -1.0f, 0.2f};
static const qk_kq_params QK_KQ_Q5K = {8, 32, 0, 31, 0, 63, 63, 31.0f, -1.0f, 0.2f};
static const qk_kq_params QK_KQ_Q6K = {16, 16, -32, 31, -128, 127, -1, 32.0f, -0.8f, 0.2f};

/* One quantized super-block in common form. */
typedef struct qk_kq_block {
    uint16_t d, dmin;
    int s[16], m[16];
    uint8_t v[QK_GGML_QK_K]; /* quant - qmin */
} qk_kq_block;

/* Row quantizers of the reference (ops->quantize_row of QK_ISA_REF). */
void qk_kquant_q2_k_ref(const float *x, void *dst, int64_t n);
void qk_kquant_q3_k_ref(const float *x, void *dst, int64_t n);
void qk_kquant_q4_k_ref(const float *x, void *dst, int64_t n);
void qk_kquant_q5_k_ref(const float *x, void *dst, int64_t n);
void qk_kquant_q6_k_ref(const float *x, void *dst, int64_t n);

#endif
