/*
** quantkit's fast K-quant algorithm (kquant.h): the driver, whose scalar
** decisions every variant shares, the plain-C reference kernels, the
** parameters of each type and the byte packing.
*/
#include <float.h>   /* FLT_MAX */
#include <pthread.h> /* pthread_once */

#include "kernels/kquant.h"

/* ---- parameters ----------------------------------------------------------- */

static qk_kq_params P_Q2K, P_Q3K, P_Q4K, P_Q5K, P_Q6K;
static pthread_once_t params_once = PTHREAD_ONCE_INIT;

/* Candidate k's numerator: nmax + (lo + 0.1 k), in float, in this order. */
static void fill(qk_kq_params *p, int nsub, int sublen, int qmin, int qmax, int smin, int smax,
                 int mmax, float nmax, float lo) {
    p->nsub = nsub, p->sublen = sublen, p->qmin = qmin, p->qmax = qmax;
    p->smin = smin, p->smax = smax, p->mmax = mmax;
    for (int k = 0; k < QK_KQ_CANDIDATES; k++) p->num[k] = nmax + (lo + 0.1f * (float)k);
}

static void init_params(void) {
    fill(&P_Q2K, 16, 16, 0, 3, 0, 15, 15, 3.0f, -1.0f);
    fill(&P_Q4K, 8, 32, 0, 15, 0, 63, 63, 15.0f, -1.0f);
    fill(&P_Q5K, 8, 32, 0, 31, 0, 63, 63, 31.0f, -1.0f);
    fill(&P_Q3K, 16, 16, -4, 3, -32, 31, -1, 4.0f, -0.8f);
    fill(&P_Q6K, 16, 16, -32, 31, -128, 127, -1, 32.0f, -0.8f);
}

const qk_kq_params *qk_kq_params_for(qk_type type) {
    pthread_once(&params_once, init_params);
    switch (type) {
    case QK_TYPE_Q2_K:
        return &P_Q2K;
    case QK_TYPE_Q3_K:
        return &P_Q3K;
    case QK_TYPE_Q4_K:
        return &P_Q4K;
    case QK_TYPE_Q5_K:
        return &P_Q5K;
    case QK_TYPE_Q6_K:
        return &P_Q6K;
    default:
        return NULL;
    }
}

/* ---- reference kernels ------------------------------------------------------ */

static int search_ref(const qk_kq_params *p, const float *xs, const float *x, float range, float sx,
                      qk_kq_sums *best) {
    const float lo = (float)p->qmin, hi = (float)p->qmax, n = (float)p->sublen;
    const bool asym = p->mmax >= 0;
    int kbest = -1;
    float gbest = -FLT_MAX;
    for (int k = 0; k < QK_KQ_CANDIDATES; k++) {
        const float is = p->num[k] / range;
        qk_kq_sums s = {0.0f, 0.0f, 0.0f};
        for (int i = 0; i < p->sublen; i++) {
            const float q = qk_kq_round(xs[i] * is, lo, hi);
            s.sq = s.sq + q;
            s.sqq = fmaf(q, q, s.sqq);
            s.sqx = fmaf(q, x[i], s.sqx);
        }
        const float g = qk_kq_gain(asym, n, sx, &s);
        if (g > gbest) gbest = g, kbest = k, *best = s;
    }
    return kbest;
}

static void requant_ref(const qk_kq_params *p, const float *x, float D, float M, const float *s,
                        const float *m, int8_t *q, qk_kq_sums *sums) {
    const float lo = (float)p->qmin, hi = (float)p->qmax;
    for (int j = 0; j < p->nsub; j++) {
        const float dl = D * s[j], ml = M * m[j];
        const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
        float lane[16] = {0};
        float sq = 0.0f, sqq = 0.0f;
        for (int i = j * p->sublen; i < (j + 1) * p->sublen; i++) {
            const float v = idl != 0.0f ? qk_kq_round((x[i] + ml) * idl, lo, hi) : 0.0f;
            q[i] = (int8_t)v;
            sq = sq + v;
            sqq = fmaf(v, v, sqq);
            lane[i % 16] = fmaf(v, x[i], lane[i % 16]);
        }
        sums[j].sq = sq, sums[j].sqq = sqq;
        sums[j].sqx = qk_kq_tree16(lane);
    }
}

static void joint_ref(const qk_kq_params *p, const float *x, const float *D, const float *s,
                      const float *M, const float *m, float *err) {
    const float lo = (float)p->qmin, hi = (float)p->qmax;
    for (int c = 0; c < 16; c++) {
        const float dl = D[c] * s[c], ml = M[c] * m[c];
        const float idl = 1.0f / dl, mi = ml * idl;
        float e = 0.0f;
        for (int i = 0; i < p->sublen; i++) {
            const float t = fmaf(x[i], idl, mi);
            const float d = t - qk_kq_round(t, lo, hi);
            e = fmaf(d, d, e);
        }
        err[c] = e * (dl * dl);
    }
}

const qk_kq_kernels qk_kq_kernels_ref = {search_ref, requant_ref, joint_ref};

/* ---- the driver -------------------------------------------------------------- */

static int clampi(double v, int lo, int hi) {
    if (!(v >= lo)) return lo; /* NaN too */
    if (v > hi) return hi;
    return (int)v;
}

/* nearest(v) (ties to even) clamped to [lo, hi] (|lo|, |hi| < 2^20), NaN
** gives lo: clamped first, then rounded by adding and removing 1.5 * 2^23
** (exact for |v| <= 2^22). */
static inline int round_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return lo;
    if (v > (float)hi) return hi;
    return (int)((v + 12582912.0f) - 12582912.0f);
}

/* As round_clamp on floats, branch-free (vectorizable): NaN gives lo. */
static inline float round_clampf(float v, float lo, float hi) {
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    return (v + 12582912.0f) - 12582912.0f;
}

/* IEEE binary16 bits to f32, exact (inline: the driver converts often). */
static inline float f16f(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    uint32_t bits;
    if (e == 0) {
        const float v = (float)mant * 5.9604644775390625e-8f; /* 2^-24 */
        return sign ? -v : v;
    }
    if (e == 31)
        bits = sign | 0x7F800000u | (mant << 13);
    else
        bits = sign | ((e + 112u) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Sub-block statistics that do not depend on the quants. */
typedef struct sub_stats {
    float sx, sxx;
} sub_stats;

/* Error of a sub-block of n values for decoded scale dl and min ml with
** fixed quants (their sums s). */
static double sub_error(double n, const sub_stats *st, const qk_kq_sums *s, float dl, float ml) {
    const double a = dl, b = ml;
    return a * a * s->sqq - 2.0 * a * b * s->sq + n * b * b - 2.0 * a * s->sqx + 2.0 * b * st->sx +
           st->sxx;
}

/* f16 codes next to `target` (nearest and one each way) and `cur`, finite. */
static int f16_candidates(double target, uint16_t cur, uint16_t *c) {
    int n = 0;
    c[n++] = cur;
    if (!(target == target) || fabs(target) > 65504.0) return n;
    const uint16_t h = qk_f32_to_f16((float)target);
    const int mag = h & 0x7FFF, sign = h & 0x8000;
    for (int dm = -1; dm <= 1; dm++) {
        const int m2 = mag + dm;
        if (m2 < 0 || m2 >= 0x7C00) continue;
        const uint16_t k = (uint16_t)(sign | m2);
        bool seen = false;
        for (int i = 0; i < n; i++) seen |= c[i] == k;
        if (!seen) c[n++] = k;
    }
    return n;
}

static void requant(const qk_kq_params *p, const qk_kq_kernels *k, const float *x, qk_kq_block *b,
                    qk_kq_sums *sums) {
    const bool asym = p->mmax >= 0;
    float s[16], m[16];
    for (int j = 0; j < p->nsub; j++) s[j] = (float)b->s[j], m[j] = asym ? (float)b->m[j] : 0.0f;
    k->requant(p, x, f16f(b->d), asym ? f16f(b->dmin) : 0.0f, s, m, b->q, sums);
}

/* Integer scale and min of sub-block j for D, M from its continuous a, mn. */
static void round_scales(const qk_kq_params *p, float iD, float iM, float a, float mn, int *s,
                         int *m) {
    *s = iD != 0.0f ? round_clamp(a * iD, p->smin, p->smax) : 0;
    *m = p->mmax >= 0 && iM > 0.0f ? round_clamp(-mn * iM, 0, p->mmax) : 0;
}

/* 1 / v, or 0 for 0 (and for non-finite v). */
static inline float inv(float v) {
    return v != 0.0f && isfinite(v) ? 1.0f / v : 0.0f;
}

/* A joint candidate's scale, never 0 (the joint kernel needs dl != 0). */
static int nonzero_scale(const qk_kq_params *p, int s, double toward) {
    s = s < p->smin ? p->smin : s > p->smax ? p->smax : s;
    if (s == 0) s = toward < 0.0 && p->smin < 0 ? -1 : 1;
    return s;
}

/* 1. The continuous scale (and min) of each sub-block; returns whether
** any sub-block has a usable scale. */
static void fit_sub_blocks(const qk_kq_params *p, const qk_kq_kernels *k, const float *x,
                           sub_stats *st, float *a, float *mn, qk_kq_sums *win) {
    const bool asym = p->mmax >= 0;
    const int L = p->sublen;
    const float nf = (float)L;
    for (int j = 0; j < p->nsub; j++) {
        const float *xj = x + j * L;
        float lane[16], lane2[16];
        for (int l = 0; l < 16; l++) lane[l] = xj[l], lane2[l] = xj[l] * xj[l];
        for (int i = 16; i < L; i += 16)
            for (int l = 0; l < 16; l++)
                lane[l] = lane[l] + xj[i + l], lane2[l] = lane2[l] + xj[i + l] * xj[i + l];
        st[j].sx = qk_kq_tree16(lane);
        st[j].sxx = qk_kq_tree16(lane2);
        a[j] = 0.0f, mn[j] = 0.0f;
        memset(&win[j], 0, sizeof win[j]);
        float xs[32], range;
        if (asym) {
            float lo = xj[0], hi = xj[0];
            for (int i = 1; i < L; i++) lo = xj[i] < lo ? xj[i] : lo, hi = xj[i] > hi ? xj[i] : hi;
            if (lo > 0.0f) lo = 0.0f;
            mn[j] = lo;
            range = hi - lo;
            if (!(range > 0.0f) || !(range <= FLT_MAX)) continue;
            for (int i = 0; i < L; i++) xs[i] = xj[i] - lo;
        } else {
            float amax = 0.0f, vmax = 0.0f;
            for (int i = 0; i < L; i++)
                if (fabsf(xj[i]) > amax) amax = fabsf(xj[i]), vmax = xj[i];
            if (amax < QK_KQ_EPS) continue;
            range = -vmax;
            memcpy(xs, xj, (size_t)L * sizeof *xs);
        }
        qk_kq_sums w;
        if (k->search(p, xs, xj, range, st[j].sx, &w) < 0) {
            /* nothing usable: spread the range over the levels */
            a[j] = asym ? range / (float)p->qmax : -range / (float)p->qmin;
            continue;
        }
        win[j] = w;
        if (!asym) {
            a[j] = w.sqx / w.sqq;
            continue;
        }
        /* x ~ a q + mn by least squares, mn <= 0 (the stored min is -mn) */
        const float det = nf * w.sqq - w.sq * w.sq;
        const float t2 = w.sqq * st[j].sx - w.sq * w.sqx;
        if (t2 > 0.0f) {
            a[j] = w.sqx / w.sqq, mn[j] = 0.0f;
        } else {
            a[j] = (nf * w.sqx - w.sq * st[j].sx) / det, mn[j] = t2 / det;
        }
    }
}

/* 2a. D (and M): 9 values each, by the error the rounding of the scales
** (and mins) adds for the search's quants: sub-block j grows by
** da^2 sqq - 2 da db sq + n db^2 (da, db the errors of D s, M m). */
static void choose_super(const qk_kq_params *p, const float *a, const float *mn,
                         const qk_kq_sums *win, qk_kq_block *b) {
    const bool asym = p->mmax >= 0;
    const float n = (float)p->sublen, smin = (float)p->smin, smax = (float)p->smax;
    const float mmaxf = asym ? (float)p->mmax : 0.0f;
    float sqq[16], sq[16];
    for (int j = 0; j < p->nsub; j++) sqq[j] = win[j].sqq, sq[j] = win[j].sq;
    float amax = 0.0f, vmax = 0.0f, mmx = 0.0f;
    for (int j = 0; j < p->nsub; j++) {
        if (fabsf(a[j]) > amax) amax = fabsf(a[j]), vmax = a[j];
        if (-mn[j] > mmx) mmx = -mn[j];
    }
    /* asymmetric scales are >= 0: the largest maps to smax; symmetric: the
    ** one of largest magnitude maps to smin (ggml's convention) */
    const float top = asym ? amax : vmax, top_m = mmx;
    const float range_s = asym ? (float)p->smax : (float)p->smin;
    b->d = qk_f32_to_f16(asym || amax >= QK_KQ_EPS ? top / range_s : 0.0f);
    b->dmin = asym ? qk_f32_to_f16(top_m / (float)p->mmax) : 0;
    for (int pass = 0; pass < (asym ? 2 : 1); pass++) {
        const bool for_d = pass == 0;
        const float base = for_d ? top : top_m;
        const float levels = for_d ? range_s : (float)p->mmax;
        if (!(fabsf(base) > 0.0f)) continue;
        float best = -1.0f;
        uint16_t keep = for_d ? b->d : b->dmin;
        for (int c = -4; c <= 4; c++) {
            const uint16_t h = qk_f32_to_f16(base / (levels + 0.25f * (float)c));
            const float D = for_d ? f16f(h) : f16f(b->d);
            const float M = asym ? (for_d ? f16f(b->dmin) : f16f(h)) : 0.0f;
            const float iD = inv(D), iM = inv(M);
            float e = 0.0f;
            for (int j = 0; j < p->nsub; j++) {
                const float sj = round_clampf(a[j] * iD, smin, smax);
                const float mj = round_clampf(-mn[j] * iM, 0.0f, mmaxf);
                const float da = D * sj - a[j], db = M * mj + mn[j];
                e += da * da * sqq[j] - 2.0f * da * db * sq[j] + n * db * db;
            }
            if (best < 0.0f || e < best) best = e, keep = h;
        }
        if (for_d)
            b->d = keep;
        else
            b->dmin = keep;
    }
}

/* 2b. 16 (D, M) pairs around the current ones by the exact error, every
** sub-block's scale (and min) rounded and its quants re-rounded. */
static void search_super(const qk_kq_params *p, const qk_kq_kernels *k, const float *x,
                         const float *a, const float *mn, qk_kq_block *b) {
    const bool asym = p->mmax >= 0;
    const float D0 = f16f(b->d), M0 = asym ? f16f(b->dmin) : 0.0f;
    if (!(D0 != 0.0f) || !isfinite(D0) || !isfinite(M0)) return;
    uint16_t hd[16], hm[16];
    for (int t = 0; t < 16; t++) {
        const int td = asym ? t / 4 - 1 : t - 7, tm = asym ? t % 4 - 1 : 0;
        hd[t] = qk_f32_to_f16(D0 * (1.0f + 0.02f * (float)td));
        hm[t] = asym ? qk_f32_to_f16(M0 * (1.0f + 0.02f * (float)tm)) : 0;
    }
    hd[0] = b->d, hm[0] = b->dmin;
    float Dv[16], Mv[16], iD[16], iM[16];
    for (int t = 0; t < 16; t++) {
        Dv[t] = f16f(hd[t]), Mv[t] = asym ? f16f(hm[t]) : 0.0f;
        iD[t] = inv(Dv[t]), iM[t] = inv(Mv[t]);
    }
    const float smin = (float)p->smin, smax = (float)p->smax, mmaxf = asym ? (float)p->mmax : 0.0f;
    float tot[16] = {0};
    for (int j = 0; j < p->nsub; j++) {
        float sv[16], mv[16], err[16];
        const float one = a[j] < 0.0f && p->smin < 0 ? -1.0f : 1.0f;
        for (int t = 0; t < 16; t++) {
            const float sr = round_clampf(a[j] * iD[t], smin, smax);
            sv[t] = sr != 0.0f ? sr : one; /* the joint kernel needs a scale */
            mv[t] = round_clampf(-mn[j] * iM[t], 0.0f, mmaxf);
        }
        k->joint(p, x + j * p->sublen, Dv, sv, Mv, mv, err);
        for (int t = 0; t < 16; t++) tot[t] += err[t];
    }
    int best = 0;
    for (int t = 1; t < 16; t++)
        if (tot[t] < tot[best]) best = t;
    b->d = hd[best], b->dmin = hm[best];
}

/* 3. One round of sub-block scale (and min) refits and super-block scale
** refits; `sums` holds the sums of the current quants and is updated.
** Returns false when the block has no usable scale. */
static bool refine_round(const qk_kq_params *p, const qk_kq_kernels *k, const float *x,
                         const sub_stats *st, qk_kq_block *b, qk_kq_sums *sums) {
    const bool asym = p->mmax >= 0;
    const float nf = (float)p->sublen;
    const float D = f16f(b->d), M = asym ? f16f(b->dmin) : 0.0f;
    if (!(D != 0.0f) || !isfinite(D) || !isfinite(M)) return false;
    const float iM = inv(M);
    for (int j = 0; j < p->nsub; j++) {
        const qk_kq_sums *s = &sums[j];
        double A, B = 0.0;
        if (asym) {
            const double det = (double)nf * s->sqq - (double)s->sq * s->sq;
            if (!(det > 0.0)) continue;
            A = ((double)nf * s->sqx - (double)s->sq * st[j].sx) / det;
            B = ((double)s->sq * s->sqx - (double)s->sqq * st[j].sx) / det;
            if (B < 0.0) B = 0.0, A = s->sqx / (double)s->sqq;
        } else {
            if (!(s->sqq > 0.0f)) continue;
            A = s->sqx / (double)s->sqq;
        }
        /* 16 pairs: scales f-1..f+2 each with the 4 mins around the one that
        ** fits the current quants best (the valley of the error); without
        ** mins, 16 scales f-7..f+8 */
        const int f = clampi(floor(A / D), p->smin - 16, p->smax + 16);
        int cs[16], cm[16];
        if (asym && M > 0.0f) {
            for (int r = 0; r < 4; r++) {
                const int sc = nonzero_scale(p, f - 1 + r, A);
                const float mlt = ((D * (float)sc) * s->sq - st[j].sx) / nf;
                const int g = clampi(floorf(mlt * iM), -16, p->mmax + 16) - 1;
                for (int c = 4 * r; c < 4 * r + 4; c++) {
                    const int mv = g + c % 4;
                    cs[c] = sc, cm[c] = mv < 0 ? 0 : mv > p->mmax ? p->mmax : mv;
                }
            }
        } else {
            for (int c = 0; c < 16; c++) cs[c] = nonzero_scale(p, f - 7 + c, A), cm[c] = b->m[j];
        }
        float Dv[16], Mv[16], sv[16], mv[16], err[16];
        for (int c = 0; c < 16; c++) {
            Dv[c] = D, Mv[c] = M;
            sv[c] = (float)cs[c], mv[c] = asym ? (float)cm[c] : 0.0f;
        }
        k->joint(p, x + j * p->sublen, Dv, sv, Mv, mv, err);
        int best = 0;
        for (int c = 1; c < 16; c++)
            if (err[c] < err[best]) best = c;
        if (err[best] < sub_error(nf, &st[j], s, D * (float)b->s[j], M * (float)b->m[j]))
            b->s[j] = cs[best], b->m[j] = cm[best];
    }
    requant(p, k, x, b, sums);
    /* D (and M) by least squares: x ~ D (s q) - M m, fixed quants */
    double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
    for (int j = 0; j < p->nsub; j++) {
        const double s = b->s[j], m = b->m[j];
        saa += s * s * sums[j].sqq, sax += s * sums[j].sqx;
        if (asym) sab += s * m * sums[j].sq, sbb += m * m * nf, sbx += m * st[j].sx;
    }
    if (!(saa > 0.0)) return true;
    double Dt = sax / saa, Mt = M;
    const double det = saa * sbb - sab * sab;
    if (asym && sbb > 0.0 && det > 0.0) {
        Dt = (sax * sbb - sab * sbx) / det;
        Mt = (sab * sax - saa * sbx) / det;
    }
    uint16_t dc[4], mc[4];
    const int nd = f16_candidates(Dt, b->d, dc);
    const int nm = asym ? f16_candidates(Mt, b->dmin, mc) : (mc[0] = b->dmin, 1);
    double sxx = 0.0;
    for (int j = 0; j < p->nsub; j++) sxx += st[j].sxx;
    double best = -1.0;
    uint16_t bd = b->d, bm = b->dmin;
    for (int id = 0; id < nd; id++) {
        for (int im = 0; im < nm; im++) {
            /* the block's error for D, M with fixed quants */
            const double Dc = f16f(dc[id]), Mc = asym ? f16f(mc[im]) : 0.0;
            const double e = Dc * Dc * saa - 2.0 * Dc * Mc * sab + Mc * Mc * sbb - 2.0 * Dc * sax +
                             2.0 * Mc * sbx + sxx;
            if (best < 0.0 || e < best) best = e, bd = dc[id], bm = mc[im];
        }
    }
    b->d = bd, b->dmin = bm;
    return true;
}

void qk_kq_quantize_block(const qk_kq_params *p, const qk_kq_kernels *k, const float *x,
                          qk_kq_block *b) {
    sub_stats st[16];
    float a[16], mn[16];
    qk_kq_sums win[16], sums[16];
    memset(b, 0, sizeof *b);
    fit_sub_blocks(p, k, x, st, a, mn, win);
    choose_super(p, a, mn, win, b);
    search_super(p, k, x, a, mn, b);
    const float iD = inv(f16f(b->d)), iM = p->mmax >= 0 ? inv(f16f(b->dmin)) : 0.0f;
    for (int j = 0; j < p->nsub; j++) round_scales(p, iD, iM, a[j], mn[j], &b->s[j], &b->m[j]);
    requant(p, k, x, b, sums);
    for (int round = 0; round < QK_KQ_ROUNDS; round++) {
        if (!refine_round(p, k, x, st, b, sums)) break;
        requant(p, k, x, b, sums);
    }
}

/* ---- packing ------------------------------------------------------------------ */

static void pack_scales_k4(uint8_t *q, const int *ls, const int *lm) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
    }
}

void qk_kq_pack(qk_type type, const qk_kq_block *b, void *dst) {
    switch (type) {
    case QK_TYPE_Q4_K: {
        qk_block_q4_k *y = dst;
        y->d = b->d, y->dmin = b->dmin;
        pack_scales_k4(y->scales, b->s, b->m);
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++)
                y->qs[32 * g + l] = (uint8_t)(b->q[64 * g + l] | (b->q[64 * g + 32 + l] << 4));
        return;
    }
    case QK_TYPE_Q5_K: {
        qk_block_q5_k *y = dst;
        y->d = b->d, y->dmin = b->dmin;
        pack_scales_k4(y->scales, b->s, b->m);
        memset(y->qh, 0, sizeof y->qh);
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++) {
                const int l1 = b->q[64 * g + l], l2 = b->q[64 * g + 32 + l];
                y->qs[32 * g + l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
                y->qh[l] |= (uint8_t)(((l1 >> 4) << (2 * g)) | ((l2 >> 4) << (2 * g + 1)));
            }
        return;
    }
    case QK_TYPE_Q2_K: {
        qk_block_q2_k *y = dst;
        y->d = b->d, y->dmin = b->dmin;
        for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(b->s[j] | (b->m[j] << 4));
        memset(y->qs, 0, sizeof y->qs);
        for (int i = 0; i < QK_GGML_QK_K; i++)
            y->qs[32 * (i / 128) + i % 32] |= (uint8_t)((b->q[i] & 3) << (2 * ((i % 128) / 32)));
        return;
    }
    case QK_TYPE_Q3_K: {
        qk_block_q3_k *y = dst;
        y->d = b->d;
        memset(y->scales, 0, sizeof y->scales);
        for (int j = 0; j < 16; j++) {
            const int l = b->s[j] + 32;
            if (j < 8)
                y->scales[j] = (uint8_t)(l & 0xF);
            else
                y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
            y->scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
        }
        memset(y->qs, 0, sizeof y->qs);
        memset(y->hmask, 0, sizeof y->hmask);
        for (int i = 0; i < QK_GGML_QK_K; i++) {
            const int v = b->q[i] + 4;
            y->qs[32 * (i / 128) + i % 32] |= (uint8_t)((v & 3) << (2 * ((i % 128) / 32)));
            y->hmask[i % 32] |= (uint8_t)((v >> 2) << (i / 32));
        }
        return;
    }
    case QK_TYPE_Q6_K: {
        qk_block_q6_k *y = dst;
        y->d = b->d;
        for (int j = 0; j < 16; j++) y->scales[j] = (int8_t)b->s[j];
        for (int h = 0; h < 2; h++) {
            const int8_t *L = b->q + 128 * h;
            uint8_t *ql = y->ql + 64 * h, *qh = y->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                const int q1 = L[l] + 32, q2 = L[l + 32] + 32, q3 = L[l + 64] + 32,
                          q4 = L[l + 96] + 32;
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] =
                    (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
        return;
    }
    default:
        return;
    }
}

void qk_kq_quantize_row(qk_type type, const qk_kq_kernels *k, const float *x, void *dst,
                        int64_t n) {
    const qk_kq_params *p = qk_kq_params_for(type);
    const size_t bytes = (size_t)qk_type_get_traits(type)->block_bytes;
    for (int64_t i = 0; i < n / QK_GGML_QK_K; i++) {
        qk_kq_block b;
        qk_kq_quantize_block(p, k, x + i * QK_GGML_QK_K, &b);
        qk_kq_pack(type, &b, (unsigned char *)dst + (size_t)i * bytes);
    }
}

void qk_kquant_q2_k_ref(const float *x, void *dst, int64_t n) {
    qk_kq_quantize_row(QK_TYPE_Q2_K, &qk_kq_kernels_ref, x, dst, n);
}
void qk_kquant_q3_k_ref(const float *x, void *dst, int64_t n) {
    qk_kq_quantize_row(QK_TYPE_Q3_K, &qk_kq_kernels_ref, x, dst, n);
}
void qk_kquant_q4_k_ref(const float *x, void *dst, int64_t n) {
    qk_kq_quantize_row(QK_TYPE_Q4_K, &qk_kq_kernels_ref, x, dst, n);
}
void qk_kquant_q5_k_ref(const float *x, void *dst, int64_t n) {
    qk_kq_quantize_row(QK_TYPE_Q5_K, &qk_kq_kernels_ref, x, dst, n);
}
void qk_kquant_q6_k_ref(const float *x, void *dst, int64_t n) {
    qk_kq_quantize_row(QK_TYPE_Q6_K, &qk_kq_kernels_ref, x, dst, n);
}
