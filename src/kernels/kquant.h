/*
** Internal: quantkit's fast K-quant algorithm (kquant_fast.c), shared by its
** plain-C reference and the SIMD variants.
**
** A super-block of 256 values in nsub sub-blocks of sublen:
**   asymmetric (Q2_K, Q4_K, Q5_K): y = (D * s_j) * q - (M * m_j),
**       q in [0, qmax], s_j in [0, smax], m_j in [0, mmax], D, M f16
**   symmetric (Q3_K, Q6_K): y = (D * s_j) * q, q in [qmin, qmax],
**       s_j in [smin, smax], D f16
** The quantizer minimizes the plain squared error:
**  1. per sub-block, 16 candidate inverse scales; for each the quants by
**     rounding and the least-squares scale (and min <= 0) for them in
**     closed form; the candidate explaining the most energy wins;
**  2. D (and M) chosen among 9 values each by the error the rounding of the
**     sub-block scales (and mins) adds for fixed quants (a quadratic form
**     per sub-block), then 16 (D, M) pairs around it compared by the exact
**     error with every sub-block's scale rounded and quants re-rounded;
**  3. two rounds of: quants re-rounded; per sub-block 16 (scale, min) pairs
**     along the valley of its error (the min that fits each scale), each
**     with its quants re-rounded, against the current pair; quants
**     re-rounded; D (and M) by least squares among neighbouring f16 codes;
**  4. the quants re-rounded for the final scales.
** The per-element work is in three kernels (candidate search, re-rounding
** with sums, joint evaluation of 16 pairs); the SIMD files implement them
** with exactly the reference's floating-point operations (fused
** multiply-adds where the reference calls fmaf, sums in element order per
** lane, and over a sub-block in the 16-lane tree order of qk_kq_tree16).
** Every decision in between is this file's scalar code, shared by all
** variants, so all variants write the same bytes.
*/
#ifndef QK_KERNELS_KQUANT_H
#define QK_KERNELS_KQUANT_H

#include "kernels/kernels_internal.h"

#define QK_KQ_CANDIDATES 16
#define QK_KQ_ROUNDS 2
/* Sub-blocks (and super-blocks) below this largest magnitude are zero. */
#define QK_KQ_EPS 1e-15f

typedef struct qk_kq_params {
    int nsub, sublen;
    int qmin, qmax;
    int smin, smax;
    int mmax; /* -1: symmetric */
    /* candidate numerators: inverse scale k is num[k] / range, range =
    ** max - min (asymmetric) or -amax (symmetric, amax the signed value of
    ** largest magnitude) */
    float num[QK_KQ_CANDIDATES];
} qk_kq_params;

/* Sums of one sub-block's quants. */
typedef struct qk_kq_sums {
    float sq, sqq, sqx; /* sum q, sum q^2, sum q x */
} qk_kq_sums;

typedef struct qk_kq_kernels {
    /* Candidate search of one sub-block x: xs = x - min (asymmetric; range
    ** = max - min > 0) or x (symmetric; range = -amax). For each candidate
    ** k: is = num[k] / range, q_i = qk_kq_round(xs_i * is), and in element
    ** order sq = sq + q, sqq = fmaf(q, q, sqq), sqx = fmaf(q, x_i, sqx);
    ** then qk_kq_gain(asym, sublen, sx, sums). Returns the first candidate
    ** of largest gain (its sums in *best), or -1 when none is usable. */
    int (*search)(const qk_kq_params *p, const float *xs, const float *x, float range, float sx,
                  qk_kq_sums *best);
    /* Re-round the super-block: per sub-block j, dl = D * s[j], idl = dl != 0
    ** ? 1 / dl : 0, ml = M * m[j] (M = 0 when symmetric); q_i =
    ** qk_kq_round((x_i + ml) * idl) (0 where idl is 0); sq and sqq in element
    ** order and sqx over 16 lanes (lane i % 16, fmaf(q, x, lane)) then the
    ** tree. */
    void (*requant)(const qk_kq_params *p, const float *x, float D, float M, const float *s,
                    const float *m, int8_t *q, qk_kq_sums *sums);
    /* 16 (scale, min) candidates c for one sub-block x: dl = D[c] * s[c]
    ** (never 0), idl = 1 / dl, ml = M[c] * m[c]; t = fmaf(x_i, idl, ml * idl),
    ** q = qk_kq_round(t), e = fmaf(t - q, t - q, e) in element order; err[c]
    ** = e * (dl * dl), the squared error of the re-rounded quants. */
    void (*joint)(const qk_kq_params *p, const float *x, const float *D, const float *s,
                  const float *M, const float *m, float *err);
} qk_kq_kernels;

/* Round to nearest even, clamped to [lo, hi] in float; NaN gives lo. */
static inline float qk_kq_round(float v, float lo, float hi) {
    v = nearbyintf(v);
    if (!(v >= lo)) v = lo;
    if (v > hi) v = hi;
    return v;
}

/* Energy the least-squares fit of a candidate explains; -FLT_MAX when the
** candidate is unusable. Asymmetric: x ~ a q + c with c <= 0. */
static inline float qk_kq_gain(bool asym, float n, float sx, const qk_kq_sums *s) {
    if (!asym) return s->sqq > 0.0f ? (s->sqx * s->sqx) / s->sqq : -3.4028235e38f;
    const float det = n * s->sqq - s->sq * s->sq;
    const float t1 = n * s->sqx - s->sq * sx;
    const float t2 = s->sqq * sx - s->sq * s->sqx;
    if (!(det > 0.0f)) return -3.4028235e38f;
    if (t2 > 0.0f) return s->sqx > 0.0f ? (s->sqx * s->sqx) / s->sqq : -3.4028235e38f;
    return t1 > 0.0f ? (t1 * s->sqx + t2 * sx) / det : -3.4028235e38f;
}

/* The 16-lane tree: p[l] += p[l + 8], then + 4, + 2, + 1; returns p[0]. */
static inline float qk_kq_tree16(float *p) {
    for (int h = 8; h >= 1; h /= 2)
        for (int l = 0; l < h; l++) p[l] = p[l] + p[l + h];
    return p[0];
}

/* One quantized super-block in common form. */
typedef struct qk_kq_block {
    uint16_t d, dmin;
    int s[16], m[16];
    int8_t q[QK_GGML_QK_K];
} qk_kq_block;

/* The driver: quantize 256 values with the given kernels. */
void qk_kq_quantize_block(const qk_kq_params *p, const qk_kq_kernels *k, const float *x,
                          qk_kq_block *out);

/* Parameters of a type (Q2_K..Q6_K), NULL for others. */
const qk_kq_params *qk_kq_params_for(qk_type type);
/* The reference kernels and those of the SIMD levels. */
extern const qk_kq_kernels qk_kq_kernels_ref;
extern const qk_kq_kernels qk_kq_kernels_avx2;
extern const qk_kq_kernels qk_kq_kernels_avx512;
/* Pack a block into the type's bytes. */
void qk_kq_pack(qk_type type, const qk_kq_block *b, void *dst);

/* A row with the given kernels. */
void qk_kq_quantize_row(qk_type type, const qk_kq_kernels *k, const float *x, void *dst, int64_t n);

/* Row quantizers of the reference (ops->quantize_row of QK_ISA_REF). */
void qk_kquant_q2_k_ref(const float *x, void *dst, int64_t n);
void qk_kquant_q3_k_ref(const float *x, void *dst, int64_t n);
void qk_kquant_q4_k_ref(const float *x, void *dst, int64_t n);
void qk_kquant_q5_k_ref(const float *x, void *dst, int64_t n);
void qk_kquant_q6_k_ref(const float *x, void *dst, int64_t n);

#endif
