/*
** AVX-512 kernels of the fast K-quant algorithm (kquant.h): the candidate
** search and the joint evaluation with one candidate per lane (16 lanes,
** elements in sequence, so each lane repeats the reference's operations
** exactly), and the re-rounding across elements with the reference's
** 16-lane tree for the sums of q x.
*/
#include <float.h>
#include <immintrin.h>

#include "kernels/kquant.h"

static inline __m512 round_clamp(__m512 v, __m512 lo, __m512 hi) {
    v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_min_ps(_mm512_max_ps(v, lo), hi); /* max(NaN, lo) is lo */
}

static int search_avx512(const qk_kq_params *p, const float *xs, const float *x, float range,
                         float sx, qk_kq_sums *best) {
    const __m512 lo = _mm512_set1_ps((float)p->qmin), hi = _mm512_set1_ps((float)p->qmax);
    const __m512 is = _mm512_div_ps(_mm512_loadu_ps(p->num), _mm512_set1_ps(range));
    __m512 sq = _mm512_setzero_ps(), sqq = _mm512_setzero_ps(), sqx = _mm512_setzero_ps();
    for (int i = 0; i < p->sublen; i++) {
        const __m512 q = round_clamp(_mm512_mul_ps(_mm512_set1_ps(xs[i]), is), lo, hi);
        sq = _mm512_add_ps(sq, q);
        sqq = _mm512_fmadd_ps(q, q, sqq);
        sqx = _mm512_fmadd_ps(q, _mm512_set1_ps(x[i]), sqx);
    }
    /* qk_kq_gain, lane by lane */
    const __m512 neg = _mm512_set1_ps(-FLT_MAX), zero = _mm512_setzero_ps();
    const __m512 gc = _mm512_div_ps(_mm512_mul_ps(sqx, sqx), sqq);
    __m512 g;
    if (p->mmax >= 0) {
        const __m512 n = _mm512_set1_ps((float)p->sublen), vsx = _mm512_set1_ps(sx);
        const __m512 det = _mm512_sub_ps(_mm512_mul_ps(n, sqq), _mm512_mul_ps(sq, sq));
        const __m512 t1 = _mm512_sub_ps(_mm512_mul_ps(n, sqx), _mm512_mul_ps(sq, vsx));
        const __m512 t2 = _mm512_sub_ps(_mm512_mul_ps(sqq, vsx), _mm512_mul_ps(sq, sqx));
        const __m512 gu =
            _mm512_div_ps(_mm512_add_ps(_mm512_mul_ps(t1, sqx), _mm512_mul_ps(t2, vsx)), det);
        const __mmask16 con = _mm512_cmp_ps_mask(t2, zero, _CMP_GT_OQ);
        const __mmask16 ok_c = _mm512_cmp_ps_mask(sqx, zero, _CMP_GT_OQ);
        const __mmask16 ok_u = _mm512_cmp_ps_mask(t1, zero, _CMP_GT_OQ);
        const __mmask16 ok_d = _mm512_cmp_ps_mask(det, zero, _CMP_GT_OQ);
        g = _mm512_mask_blend_ps(con, _mm512_mask_blend_ps(ok_u, neg, gu),
                                 _mm512_mask_blend_ps(ok_c, neg, gc));
        g = _mm512_mask_blend_ps(ok_d, neg, g);
    } else {
        g = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(sqq, zero, _CMP_GT_OQ), neg, gc);
    }
    /* NaN (overflowed sums) never wins, as in the reference's comparison */
    g = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(g, g, _CMP_ORD_Q), neg, g);
    const float gmax = _mm512_reduce_max_ps(g);
    if (!(gmax > -FLT_MAX)) return -1;
    const int k = __builtin_ctz(_mm512_cmp_ps_mask(g, _mm512_set1_ps(gmax), _CMP_EQ_OQ));
    float a[16];
    _mm512_storeu_ps(a, sq), best->sq = a[k];
    _mm512_storeu_ps(a, sqq), best->sqq = a[k];
    _mm512_storeu_ps(a, sqx), best->sqx = a[k];
    return k;
}

/* The reference's tree over the 16 lanes of v. */
static inline float tree16(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

static inline float hsum_exact(__m512 v) {
    return _mm512_reduce_add_ps(v); /* sums of integers below 2^24: exact in any order */
}

static void requant_avx512(const qk_kq_params *p, const float *x, float D, float M, const float *s,
                           const float *m, int8_t *q, qk_kq_sums *sums) {
    const __m512 lo = _mm512_set1_ps((float)p->qmin), hi = _mm512_set1_ps((float)p->qmax);
    /* the sub-blocks' dl, idl, ml, 16 at a time */
    const __mmask16 kn = (__mmask16)((1u << p->nsub) - 1);
    const __m512 dl = _mm512_mul_ps(_mm512_set1_ps(D), _mm512_maskz_loadu_ps(kn, s));
    const __mmask16 nz = _mm512_cmp_ps_mask(dl, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    float idl[16], ml[16];
    _mm512_storeu_ps(idl, _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0f), dl));
    _mm512_storeu_ps(ml, _mm512_mul_ps(_mm512_set1_ps(M), _mm512_maskz_loadu_ps(kn, m)));
    for (int j = 0; j < p->nsub; j++) {
        const float *xj = x + j * p->sublen;
        const __m512 vi = _mm512_set1_ps(idl[j]), vm = _mm512_set1_ps(ml[j]);
        __m512 sq = _mm512_setzero_ps(), sqq = _mm512_setzero_ps(), lane = _mm512_setzero_ps();
        for (int i = 0; i < p->sublen; i += 16) {
            const __m512 xv = _mm512_loadu_ps(xj + i);
            __m512 v = _mm512_setzero_ps();
            if (idl[j] != 0.0f) v = round_clamp(_mm512_mul_ps(_mm512_add_ps(xv, vm), vi), lo, hi);
            _mm_storeu_si128((__m128i *)(q + j * p->sublen + i),
                             _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
            sq = _mm512_add_ps(sq, v);
            sqq = _mm512_fmadd_ps(v, v, sqq);
            lane = _mm512_fmadd_ps(v, xv, lane);
        }
        sums[j].sq = hsum_exact(sq);
        sums[j].sqq = hsum_exact(sqq);
        sums[j].sqx = tree16(lane);
    }
}

static void joint_avx512(const qk_kq_params *p, const float *x, const float *D, const float *s,
                         const float *M, const float *m, float *err) {
    const __m512 lo = _mm512_set1_ps((float)p->qmin), hi = _mm512_set1_ps((float)p->qmax);
    const __m512 vd = _mm512_mul_ps(_mm512_loadu_ps(D), _mm512_loadu_ps(s));
    const __m512 ml = _mm512_mul_ps(_mm512_loadu_ps(M), _mm512_loadu_ps(m));
    const __m512 vi = _mm512_div_ps(_mm512_set1_ps(1.0f), vd);
    const __m512 mi = _mm512_mul_ps(ml, vi);
    __m512 e0 = _mm512_setzero_ps();
    for (int i = 0; i < p->sublen; i++) {
        const __m512 t = _mm512_fmadd_ps(_mm512_set1_ps(x[i]), vi, mi);
        const __m512 d = _mm512_sub_ps(t, round_clamp(t, lo, hi));
        e0 = _mm512_fmadd_ps(d, d, e0);
    }
    _mm512_storeu_ps(err, _mm512_mul_ps(e0, _mm512_mul_ps(vd, vd)));
}

const qk_kq_kernels qk_kq_kernels_avx512 = {search_avx512, requant_avx512, joint_avx512};

#define QK_KQ_ROW(name, TYPE)                                                                      \
    static void quantize_##name(const float *x, void *dst, int64_t n) {                            \
        qk_kq_quantize_row(TYPE, &qk_kq_kernels_avx512, x, dst, n);                                \
    }
QK_KQ_ROW(q2_k, QK_TYPE_Q2_K)
QK_KQ_ROW(q3_k, QK_TYPE_Q3_K)
QK_KQ_ROW(q4_k, QK_TYPE_Q4_K)
QK_KQ_ROW(q5_k, QK_TYPE_Q5_K)
QK_KQ_ROW(q6_k, QK_TYPE_Q6_K)
#undef QK_KQ_ROW

void qk_kernels_fill_avx512_kquant(qk_kernel_ops *t) {
    t[QK_TYPE_Q2_K].quantize_row = quantize_q2_k;
    t[QK_TYPE_Q3_K].quantize_row = quantize_q3_k;
    t[QK_TYPE_Q4_K].quantize_row = quantize_q4_k;
    t[QK_TYPE_Q5_K].quantize_row = quantize_q5_k;
    t[QK_TYPE_Q6_K].quantize_row = quantize_q6_k;
}
