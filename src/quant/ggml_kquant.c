/*
** Refinement of K-quant (and IQ4_NL) super-blocks by coordinate descent on
** the exact decoded error.
**
** ggml's quantizers fit each sub-block's scale (and min) in f32, then round
** those to 4, 6 or 8 bits against one f16 super-scale, and round the quants
** once more. Each rounding is done with the others fixed at values that no
** longer hold. Starting from that result, each round here
**   1. re-picks every quant as the level nearest its value given the final
**      sub-block scale and min (checking the neighbours of the rounded
**      quotient with the exact float decoding),
**   2. refits each sub-block's integer scale and min: weighted least squares
**      on its quants gives a continuous optimum; every integer pair within
**      one of it (and the current pair) is tried with the quants re-picked
**      for that pair,
**   3. refits the f16 super-scales D (and M) the same way (least squares,
**      then the nearest f16 codes and their neighbours),
** and keeps a change only if the decoded error, computed with the products
** in ggml's order, goes down. So the result is never worse than the start.
*/
#include <string.h> /* memcpy */

#include "quant/ggml_internal.h"

/* One decoded value, with ggml's order of products. */
static float decode_one(const qk_ggml_kparams *p, float D, float M, int s, int m, int L) {
    if (p->codebook) return D * (float)p->codebook[L];
    const float dl = D * (float)s;
    if (p->mmax < 0) return dl * (float)L;
    const float ml = M * (float)m;
    return dl * (float)L - ml;
}

static double sq(double v) {
    return v * v;
}

/* Error of sub-block j with scale s, min m and D, M (the products of
** decode_one, hoisted out of the loop). */
static double sub_error(const qk_ggml_kparams *p, const qk_ggml_kblock *b, int j, float D, float M,
                        int s, int m, const float *x, const float *w) {
    const int i0 = j * p->sublen, i1 = i0 + p->sublen;
    double err = 0;
    if (p->codebook) {
        for (int i = i0; i < i1; i++)
            err += (w ? w[i] : 1.0) * sq((double)x[i] - D * (float)p->codebook[b->L[i]]);
        return err;
    }
    const float dl = D * (float)s;
    const float ml = p->mmax < 0 ? 0.0f : M * (float)m;
    if (p->mmax < 0) {
        for (int i = i0; i < i1; i++)
            err += (w ? w[i] : 1.0) * sq((double)x[i] - dl * (float)b->L[i]);
    } else {
        for (int i = i0; i < i1; i++)
            err += (w ? w[i] : 1.0) * sq((double)x[i] - (dl * (float)b->L[i] - ml));
    }
    return err;
}

static double block_error(const qk_ggml_kparams *p, const qk_ggml_kblock *b, float D, float M,
                          const float *x, const float *w) {
    double err = 0;
    for (int j = 0; j < p->nsub; j++) err += sub_error(p, b, j, D, M, b->s[j], b->m[j], x, w);
    return err;
}

void qk_ggml_kblock_decode(const qk_ggml_kparams *p, const qk_ggml_kblock *b, float *y) {
    const float D = qk_f16_to_f32(b->d), M = qk_f16_to_f32(b->dmin);
    for (int j = 0; j < p->nsub; j++)
        for (int i = j * p->sublen; i < (j + 1) * p->sublen; i++)
            y[i] = decode_one(p, D, M, b->s[j], b->m[j], b->L[i]);
}

double qk_ggml_kblock_error(const qk_ggml_kparams *p, const qk_ggml_kblock *b, const float *x,
                            const float *w) {
    return block_error(p, b, qk_f16_to_f32(b->d), qk_f16_to_f32(b->dmin), x, w);
}

/* 1. Each quant: the best of the rounded quotient, its neighbours and the
** current value (ties keep the current one). */
static void refit_quants(const qk_ggml_kparams *p, qk_ggml_kblock *b, const float *x) {
    const float D = qk_f16_to_f32(b->d), M = qk_f16_to_f32(b->dmin);
    for (int j = 0; j < p->nsub; j++) {
        const int s = b->s[j], m = b->m[j];
        float dl, ml = 0.0f;
        if (p->codebook) {
            dl = D;
        } else {
            dl = D * (float)s;
            if (p->mmax >= 0) ml = M * (float)m;
        }
        if (dl == 0.0f) continue; /* every quant decodes alike */
        for (int i = j * p->sublen; i < (j + 1) * p->sublen; i++) {
            int l0;
            if (p->codebook)
                l0 = qk_ggml_best_index_int8(16, p->codebook, x[i] / dl);
            else
                l0 = qk_ggml_nearest_int((x[i] + ml) / dl);
            int best = b->L[i];
            double best_err = sq((double)x[i] - decode_one(p, D, M, s, m, best));
            for (int l = l0 - 1; l <= l0 + 1; l++) {
                if (l < p->lmin || l > p->lmax || l == b->L[i]) continue;
                const double e = sq((double)x[i] - decode_one(p, D, M, s, m, l));
                if (e < best_err) best_err = e, best = l;
            }
            b->L[i] = (int8_t)best;
        }
    }
}

/* The best quants of sub-block j for scale s and min m: each the level
** whose exact decoding is nearest its value. Writes them to Lout and
** returns the sub-block's error. */
static double requant_sub(const qk_ggml_kparams *p, const qk_ggml_kblock *b, int j, float D,
                          float M, int s, int m, const float *x, const float *w, int8_t *Lout) {
    const int i0 = j * p->sublen, i1 = i0 + p->sublen;
    const float dl = D * (float)s;
    const float ml = p->mmax < 0 ? 0.0f : M * (float)m;
    double err = 0;
    for (int i = i0; i < i1; i++) {
        int best = b->L[i];
        float y = p->mmax < 0 ? dl * (float)best : dl * (float)best - ml;
        double best_e = sq((double)x[i] - y);
        if (dl != 0.0f) {
            const int l0 = qk_ggml_nearest_int((x[i] + ml) / dl);
            for (int l = l0 - 1; l <= l0 + 1; l++) {
                if (l < p->lmin || l > p->lmax || l == b->L[i]) continue;
                y = p->mmax < 0 ? dl * (float)l : dl * (float)l - ml;
                const double e = sq((double)x[i] - y);
                if (e < best_e) best_e = e, best = l;
            }
        }
        Lout[i - i0] = (int8_t)best;
        err += (w ? w[i] : 1.0) * best_e;
    }
    return err;
}

/* Integer candidates: `current` and the integers within 1 of `v`, clamped
** into [lo, hi]. Returns the count (at most 5). */
static int int_window(double v, int current, int lo, int hi, int *out) {
    int n = 0;
    out[n++] = current;
    if (v == v && v > lo - 3.0 && v < hi + 3.0) {
        const int f = (int)floor(v);
        for (int c = f - 1; c <= f + 2; c++) {
            const int k = c < lo ? lo : c > hi ? hi : c;
            bool seen = false;
            for (int i = 0; i < n; i++) seen |= out[i] == k;
            if (!seen) out[n++] = k;
        }
    }
    return n;
}

/* 2. Each sub-block's scale and min with its quants: least squares gives a
** continuous (scale, min) for the current quants; every integer pair near
** it (and the current pair) is tried with the quants re-picked for it. */
static void refit_sub_scales(const qk_ggml_kparams *p, qk_ggml_kblock *b, const float *x,
                             const float *w) {
    const float D = qk_f16_to_f32(b->d), M = qk_f16_to_f32(b->dmin);
    if (p->codebook || D == 0.0f) return;
    const bool asym = p->mmax >= 0;
    for (int j = 0; j < p->nsub; j++) {
        double sw = 0, sl = 0, sll = 0, sx = 0, slx = 0;
        for (int i = j * p->sublen; i < (j + 1) * p->sublen; i++) {
            const double wi = w ? w[i] : 1.0, l = b->L[i];
            sw += wi, sl += wi * l, sll += wi * l * l, sx += wi * x[i], slx += wi * l * x[i];
        }
        if (sll <= 0) continue;
        /* x ~ a * L - c: least squares in (a, c), c >= 0 */
        double a = slx / sll, c = 0;
        if (asym) {
            const double det = sll * sw - sl * sl;
            if (det > 0) {
                c = (sl * slx - sll * sx) / det;
                a = (slx * sw - sl * sx) / det;
                if (c < 0) c = 0, a = slx / sll;
            }
        }
        int sc[5], mc[5];
        const int ns = int_window(a / D, b->s[j], p->smin, p->smax, sc);
        const int nm =
            asym && M != 0.0f ? int_window(c / M, b->m[j], 0, p->mmax, mc) : (mc[0] = b->m[j], 1);
        int8_t Lbest[QK_GGML_QK_K], Lc[QK_GGML_QK_K];
        double best = requant_sub(p, b, j, D, M, b->s[j], b->m[j], x, w, Lbest);
        int best_s = b->s[j], best_m = b->m[j];
        for (int is = 0; is < ns; is++) {
            for (int im = 0; im < nm; im++) {
                if (sc[is] == b->s[j] && mc[im] == b->m[j]) continue;
                const double e = requant_sub(p, b, j, D, M, sc[is], mc[im], x, w, Lc);
                if (e < best) {
                    best = e, best_s = sc[is], best_m = mc[im];
                    memcpy(Lbest, Lc, (size_t)p->sublen);
                }
            }
        }
        b->s[j] = (int16_t)best_s;
        b->m[j] = (int16_t)best_m;
        memcpy(b->L + j * p->sublen, Lbest, (size_t)p->sublen);
    }
}

/* f16 codes next to `target` (nearest, one step either way) and `current`,
** finite only. Returns the count. */
static int f16_candidates(double target, uint16_t current, uint16_t *out) {
    int n = 0;
    out[n++] = current;
    if (!(target == target) || fabs(target) > 65504.0) return n;
    const uint16_t c = qk_f32_to_f16((float)target);
    const int mag = c & 0x7FFF, sign = c & 0x8000;
    for (int dm = -1; dm <= 1; dm++) {
        const int m2 = mag + dm;
        if (m2 < 0 || m2 >= 0x7C00) continue;
        const uint16_t k = (uint16_t)(sign | m2);
        bool seen = false;
        for (int i = 0; i < n; i++) seen |= out[i] == k;
        if (!seen) out[n++] = k;
    }
    return n;
}

/* 3. D (and M) given the sub-block scales, mins and quants. */
static void refit_super(const qk_ggml_kparams *p, qk_ggml_kblock *b, const float *x,
                        const float *w) {
    const bool asym = !p->codebook && p->mmax >= 0;
    double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
    for (int j = 0; j < p->nsub; j++) {
        for (int i = j * p->sublen; i < (j + 1) * p->sublen; i++) {
            const double wi = w ? w[i] : 1.0;
            const double A = p->codebook ? p->codebook[b->L[i]] : (double)b->s[j] * b->L[i];
            const double B = asym ? b->m[j] : 0.0;
            saa += wi * A * A, sab += wi * A * B, sbb += wi * B * B;
            sax += wi * A * x[i], sbx += wi * B * x[i];
        }
    }
    if (saa <= 0) return;
    /* x ~ D * A - M * B */
    double Dt = sax / saa, Mt = qk_f16_to_f32(b->dmin);
    const double det = saa * sbb - sab * sab;
    if (asym && det > 0) {
        Dt = (sax * sbb - sab * sbx) / det;
        Mt = (sab * sax - saa * sbx) / det;
    }
    uint16_t dc[4], mc[4];
    const int nd = f16_candidates(Dt, b->d, dc);
    const int nm = asym ? f16_candidates(Mt, b->dmin, mc) : (mc[0] = b->dmin, 1);
    double best = block_error(p, b, qk_f16_to_f32(b->d), qk_f16_to_f32(b->dmin), x, w);
    uint16_t best_d = b->d, best_m = b->dmin;
    for (int id = 0; id < nd; id++) {
        for (int im = 0; im < nm; im++) {
            if (dc[id] == b->d && mc[im] == b->dmin) continue;
            const double e = block_error(p, b, qk_f16_to_f32(dc[id]), qk_f16_to_f32(mc[im]), x, w);
            if (e < best) best = e, best_d = dc[id], best_m = mc[im];
        }
    }
    b->d = best_d;
    b->dmin = best_m;
}

double qk_ggml_kblock_refine(const qk_ggml_kparams *p, qk_ggml_kblock *b, const float *x,
                             const float *w) {
    double err = qk_ggml_kblock_error(p, b, x, w);
    for (int round = 0; round < 8; round++) {
        qk_ggml_kblock prev;
        memcpy(&prev, b, sizeof prev);
        refit_quants(p, b, x);
        refit_sub_scales(p, b, x, w);
        refit_super(p, b, x, w);
        const double e = qk_ggml_kblock_error(p, b, x, w);
        if (!(e < err)) { /* no progress (each step alone never increases it) */
            if (e > err) memcpy(b, &prev, sizeof prev);
            break;
        }
        err = e;
    }
    return err;
}

_Static_assert(sizeof(qk_block_q2_k) <= QK_GGML_KFORMAT_MAX_BYTES &&
                   sizeof(qk_block_q3_k) <= QK_GGML_KFORMAT_MAX_BYTES &&
                   sizeof(qk_block_q4_k) <= QK_GGML_KFORMAT_MAX_BYTES &&
                   sizeof(qk_block_q5_k) <= QK_GGML_KFORMAT_MAX_BYTES &&
                   sizeof(qk_block_q6_k) <= QK_GGML_KFORMAT_MAX_BYTES &&
                   sizeof(qk_block_iq4_nl) <= QK_GGML_KFORMAT_MAX_BYTES,
               "a block is larger than QK_GGML_KFORMAT_MAX_BYTES");

static bool all_zero(const float *w, int n) {
    for (int i = 0; i < n; i++)
        if (w[i] != 0.0f) return false;
    return true;
}

void qk_ggml_quantize_two_starts(const qk_ggml_kformat *f, const float *x, void *dst, int64_t n,
                                 const float *imp) {
    unsigned char *y = dst;
    for (int64_t i = 0; i < n / f->block_elems; i++, y += f->block_bytes) {
        const float *xb = x + i * f->block_elems;
        const float *wb = imp ? imp + i * f->block_elems : NULL;
        if (wb && all_zero(wb, f->block_elems)) wb = NULL;
        double best = 0;
        for (int s = 0; s < 2; s++) {
            unsigned char cand[QK_GGML_KFORMAT_MAX_BYTES];
            qk_ggml_kblock k;
            f->start(xb, wb, s, cand, &k);
            double e = qk_ggml_kblock_error(f->params, &k, xb, wb);
            if (f->refine_zero_scale || k.d != 0) {
                const double refined = qk_ggml_kblock_refine(f->params, &k, xb, wb);
                if (refined < e) e = refined, f->pack(&k, cand);
            }
            if (s == 0 || e < best) best = e, memcpy(y, cand, f->block_bytes);
        }
    }
}
