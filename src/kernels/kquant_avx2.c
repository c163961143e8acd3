/*
** AVX2 kernels of the fast K-quant algorithm (kquant.h): as the AVX-512
** ones, with the 16 candidate lanes in two 8-lane registers and the
** 16-lane tree of the re-rounding as two 8-lane partial sums added first.
*/
#include <float.h>
#include <immintrin.h>

#include "kernels/kquant.h"

static inline __m256 round_clamp(__m256 v, __m256 lo, __m256 hi) {
    v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_min_ps(_mm256_max_ps(v, lo), hi); /* max(NaN, lo) is lo */
}

static inline __m256 blendv(__m256 if0, __m256 if1, __m256 mask) {
    return _mm256_blendv_ps(if0, if1, mask);
}

/* qk_kq_gain on 8 lanes. */
static inline __m256 gain8(bool asym, float n_, float sx_, __m256 sq, __m256 sqq, __m256 sqx) {
    const __m256 neg = _mm256_set1_ps(-FLT_MAX), zero = _mm256_setzero_ps();
    const __m256 gc = _mm256_div_ps(_mm256_mul_ps(sqx, sqx), sqq);
    __m256 g;
    if (asym) {
        const __m256 n = _mm256_set1_ps(n_), sx = _mm256_set1_ps(sx_);
        const __m256 det = _mm256_sub_ps(_mm256_mul_ps(n, sqq), _mm256_mul_ps(sq, sq));
        const __m256 t1 = _mm256_sub_ps(_mm256_mul_ps(n, sqx), _mm256_mul_ps(sq, sx));
        const __m256 t2 = _mm256_sub_ps(_mm256_mul_ps(sqq, sx), _mm256_mul_ps(sq, sqx));
        const __m256 gu =
            _mm256_div_ps(_mm256_add_ps(_mm256_mul_ps(t1, sqx), _mm256_mul_ps(t2, sx)), det);
        const __m256 con = _mm256_cmp_ps(t2, zero, _CMP_GT_OQ);
        const __m256 ok_c = _mm256_cmp_ps(sqx, zero, _CMP_GT_OQ);
        const __m256 ok_u = _mm256_cmp_ps(t1, zero, _CMP_GT_OQ);
        const __m256 ok_d = _mm256_cmp_ps(det, zero, _CMP_GT_OQ);
        g = blendv(blendv(neg, gu, ok_u), blendv(neg, gc, ok_c), con);
        g = blendv(neg, g, ok_d);
    } else {
        g = blendv(neg, gc, _mm256_cmp_ps(sqq, zero, _CMP_GT_OQ));
    }
    return blendv(neg, g, _mm256_cmp_ps(g, g, _CMP_ORD_Q));
}

static int search_avx2(const qk_kq_params *p, const float *xs, const float *x, float range,
                       float sx, qk_kq_sums *best) {
    const __m256 lo = _mm256_set1_ps((float)p->qmin), hi = _mm256_set1_ps((float)p->qmax);
    const __m256 r = _mm256_set1_ps(range);
    const __m256 is0 = _mm256_div_ps(_mm256_loadu_ps(p->num), r);
    const __m256 is1 = _mm256_div_ps(_mm256_loadu_ps(p->num + 8), r);
    __m256 sq0 = _mm256_setzero_ps(), sqq0 = sq0, sqx0 = sq0, sq1 = sq0, sqq1 = sq0, sqx1 = sq0;
    for (int i = 0; i < p->sublen; i++) {
        const __m256 xv = _mm256_set1_ps(xs[i]), xo = _mm256_set1_ps(x[i]);
        const __m256 q0 = round_clamp(_mm256_mul_ps(xv, is0), lo, hi);
        const __m256 q1 = round_clamp(_mm256_mul_ps(xv, is1), lo, hi);
        sq0 = _mm256_add_ps(sq0, q0), sq1 = _mm256_add_ps(sq1, q1);
        sqq0 = _mm256_fmadd_ps(q0, q0, sqq0), sqq1 = _mm256_fmadd_ps(q1, q1, sqq1);
        sqx0 = _mm256_fmadd_ps(q0, xo, sqx0), sqx1 = _mm256_fmadd_ps(q1, xo, sqx1);
    }
    const bool asym = p->mmax >= 0;
    float g[16], a[16], b[16], c[16];
    _mm256_storeu_ps(g, gain8(asym, (float)p->sublen, sx, sq0, sqq0, sqx0));
    _mm256_storeu_ps(g + 8, gain8(asym, (float)p->sublen, sx, sq1, sqq1, sqx1));
    int k = -1;
    float gbest = -FLT_MAX;
    for (int i = 0; i < 16; i++)
        if (g[i] > gbest) gbest = g[i], k = i;
    if (k < 0) return -1;
    _mm256_storeu_ps(a, sq0), _mm256_storeu_ps(a + 8, sq1);
    _mm256_storeu_ps(b, sqq0), _mm256_storeu_ps(b + 8, sqq1);
    _mm256_storeu_ps(c, sqx0), _mm256_storeu_ps(c + 8, sqx1);
    best->sq = a[k], best->sqq = b[k], best->sqx = c[k];
    return k;
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static void requant_avx2(const qk_kq_params *p, const float *x, float D, float M, const float *s,
                         const float *m, int8_t *q, qk_kq_sums *sums) {
    const __m256 lo = _mm256_set1_ps((float)p->qmin), hi = _mm256_set1_ps((float)p->qmax);
    float idl[16], ml[16];
    for (int h = 0; h < 2 && 8 * h < p->nsub; h++) {
        const __m256 dl = _mm256_mul_ps(_mm256_set1_ps(D), _mm256_loadu_ps(s + 8 * h));
        const __m256 nz = _mm256_cmp_ps(dl, _mm256_setzero_ps(), _CMP_NEQ_UQ);
        _mm256_storeu_ps(idl + 8 * h, _mm256_and_ps(nz, _mm256_div_ps(_mm256_set1_ps(1.0f), dl)));
        _mm256_storeu_ps(ml + 8 * h, _mm256_mul_ps(_mm256_set1_ps(M), _mm256_loadu_ps(m + 8 * h)));
    }
    for (int j = 0; j < p->nsub; j++) {
        const float *xj = x + j * p->sublen;
        const __m256 vi = _mm256_set1_ps(idl[j]), vm = _mm256_set1_ps(ml[j]);
        __m256 sq = _mm256_setzero_ps(), sqq = sq, l0 = sq, l1 = sq; /* lanes 0-7, 8-15 */
        for (int i = 0; i < p->sublen; i += 8) {
            const __m256 xv = _mm256_loadu_ps(xj + i);
            __m256 v = _mm256_setzero_ps();
            if (idl[j] != 0.0f) v = round_clamp(_mm256_mul_ps(_mm256_add_ps(xv, vm), vi), lo, hi);
            const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(_mm256_cvtps_epi32(v)),
                                              _mm256_extracti128_si256(_mm256_cvtps_epi32(v), 1));
            _mm_storel_epi64((__m128i *)(q + j * p->sublen + i), _mm_packs_epi16(w, w));
            sq = _mm256_add_ps(sq, v);
            sqq = _mm256_fmadd_ps(v, v, sqq);
            if ((i / 8) % 2 == 0)
                l0 = _mm256_fmadd_ps(v, xv, l0);
            else
                l1 = _mm256_fmadd_ps(v, xv, l1);
        }
        sums[j].sq = hsum8(sq); /* integers below 2^24: exact in any order */
        sums[j].sqq = hsum8(sqq);
        sums[j].sqx = hsum8(_mm256_add_ps(l0, l1)); /* the tree: lane l + lane l + 8 first */
    }
}

static void joint_avx2(const qk_kq_params *p, const float *x, const float *D, const float *s,
                       const float *M, const float *m, float *err) {
    const __m256 lo = _mm256_set1_ps((float)p->qmin), hi = _mm256_set1_ps((float)p->qmax);
    for (int h = 0; h < 2; h++) {
        const __m256 vd = _mm256_mul_ps(_mm256_loadu_ps(D + 8 * h), _mm256_loadu_ps(s + 8 * h));
        const __m256 ml = _mm256_mul_ps(_mm256_loadu_ps(M + 8 * h), _mm256_loadu_ps(m + 8 * h));
        const __m256 vi = _mm256_div_ps(_mm256_set1_ps(1.0f), vd);
        const __m256 mi = _mm256_mul_ps(ml, vi);
        __m256 e = _mm256_setzero_ps();
        for (int i = 0; i < p->sublen; i++) {
            const __m256 t = _mm256_fmadd_ps(_mm256_set1_ps(x[i]), vi, mi);
            const __m256 d = _mm256_sub_ps(t, round_clamp(t, lo, hi));
            e = _mm256_fmadd_ps(d, d, e);
        }
        _mm256_storeu_ps(err + 8 * h, _mm256_mul_ps(e, _mm256_mul_ps(vd, vd)));
    }
}

const qk_kq_kernels qk_kq_kernels_avx2 = {search_avx2, requant_avx2, joint_avx2};

#define QK_KQ_ROW(name, TYPE)                                                                      \
    static void quantize_##name(const float *x, void *dst, int64_t n) {                            \
        qk_kq_quantize_row(TYPE, &qk_kq_kernels_avx2, x, dst, n);                                  \
    }
QK_KQ_ROW(q2_k, QK_TYPE_Q2_K)
QK_KQ_ROW(q3_k, QK_TYPE_Q3_K)
QK_KQ_ROW(q4_k, QK_TYPE_Q4_K)
QK_KQ_ROW(q5_k, QK_TYPE_Q5_K)
QK_KQ_ROW(q6_k, QK_TYPE_Q6_K)
#undef QK_KQ_ROW

void qk_kernels_fill_avx2_kquant(qk_kernel_ops *t) {
    t[QK_TYPE_Q2_K].quantize_row = quantize_q2_k;
    t[QK_TYPE_Q3_K].quantize_row = quantize_q3_k;
    t[QK_TYPE_Q4_K].quantize_row = quantize_q4_k;
    t[QK_TYPE_Q5_K].quantize_row = quantize_q5_k;
    t[QK_TYPE_Q6_K].quantize_row = quantize_q6_k;
}
