/*
** GPTQ onto llama.cpp's block formats. Every block format but the
** codebook ones decodes each sub-block affinely: y = A * L + B with the
** integer code L in a fixed range and A, B formed from the block's scale
** fields in the order ggml's dequantizer forms them:
**   type  elems sub  L range     A                  B
**   q4_0   32   32  [-8, 7]      d                  0      (q = L + 8)
**   q4_1   32   32  [0, 15]      d                  m
**   q5_0   32   32  [-16, 15]    d                  0      (q = L + 16)
**   q5_1   32   32  [0, 31]      d                  m
**   q8_0   32   32  [-128, 127]  d                  0
**   q2_k  256   16  [0, 3]       d * sc             -(dmin * m)
**   q3_k  256   16  [-4, 3]      d * (sc - 32)      0
**   q4_k  256   32  [0, 15]      d * sc             -(dmin * m)
**   q5_k  256   32  [0, 31]      d * sc             -(dmin * m)
**   q6_k  256   16  [-32, 31]    d * sc             0      (q = L + 32)
** (ggml's products: (q - 8) * d, q * d + m, d1 * q - m1, (d * sc) * q; x +
** 0 and x - m equal x and x + (-m) exactly.) The block's scales come from
** qk_quantize_row; GPTQ then picks every L, and the codes are packed into
** the block's quant fields (the layouts of include/quantkit/ggml.h).
*/
#include <math.h> /* nearbyint */
#include <stdlib.h>
#include <string.h>

#include "algo/gptq_internal.h"
#include "core/error.h"
#include "quantkit/ggml.h"

typedef struct block_format {
    int32_t elems, bytes, sublen, lmin, lmax;
} block_format;

static bool format_of(qk_type type, block_format *f) {
    switch (type) {
    case QK_TYPE_Q4_0:
        *f = (block_format){32, 18, 32, -8, 7};
        return true;
    case QK_TYPE_Q4_1:
        *f = (block_format){32, 20, 32, 0, 15};
        return true;
    case QK_TYPE_Q5_0:
        *f = (block_format){32, 22, 32, -16, 15};
        return true;
    case QK_TYPE_Q5_1:
        *f = (block_format){32, 24, 32, 0, 31};
        return true;
    case QK_TYPE_Q8_0:
        *f = (block_format){32, 34, 32, -128, 127};
        return true;
    case QK_TYPE_Q2_K:
        *f = (block_format){256, 84, 16, 0, 3};
        return true;
    case QK_TYPE_Q3_K:
        *f = (block_format){256, 110, 16, -4, 3};
        return true;
    case QK_TYPE_Q4_K:
        *f = (block_format){256, 144, 32, 0, 15};
        return true;
    case QK_TYPE_Q5_K:
        *f = (block_format){256, 176, 32, 0, 31};
        return true;
    case QK_TYPE_Q6_K:
        *f = (block_format){256, 210, 16, -32, 31};
        return true;
    default:
        return false;
    }
}

bool qk_gptq_block_type_supported(qk_type type) {
    block_format f;
    return format_of(type, &f);
}

/* Q4_K / Q5_K 6-bit scale and min of sub-block j (ggml's get_scale_min_k4). */
static void k4_scale_min(const uint8_t *q, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q3_K 6-bit scale of sub-block j, offset 32. */
static int k3_scale(const uint8_t *s, int j) {
    const int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return low | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

/* A and B of every sub-block of one block. */
static void block_grid(qk_type type, const void *blk, float *a, float *b) {
    switch (type) {
    case QK_TYPE_Q4_0: {
        const qk_block_q4_0 *x = blk;
        a[0] = qk_f16_to_f32(x->d), b[0] = 0.0f;
        break;
    }
    case QK_TYPE_Q4_1: {
        const qk_block_q4_1 *x = blk;
        a[0] = qk_f16_to_f32(x->d), b[0] = qk_f16_to_f32(x->m);
        break;
    }
    case QK_TYPE_Q5_0: {
        const qk_block_q5_0 *x = blk;
        a[0] = qk_f16_to_f32(x->d), b[0] = 0.0f;
        break;
    }
    case QK_TYPE_Q5_1: {
        const qk_block_q5_1 *x = blk;
        a[0] = qk_f16_to_f32(x->d), b[0] = qk_f16_to_f32(x->m);
        break;
    }
    case QK_TYPE_Q8_0: {
        const qk_block_q8_0 *x = blk;
        a[0] = qk_f16_to_f32(x->d), b[0] = 0.0f;
        break;
    }
    case QK_TYPE_Q2_K: {
        const qk_block_q2_k *x = blk;
        const float d = qk_f16_to_f32(x->d), dmin = qk_f16_to_f32(x->dmin);
        for (int j = 0; j < 16; j++) {
            a[j] = d * (float)(x->scales[j] & 0xF);
            b[j] = -(dmin * (float)(x->scales[j] >> 4));
        }
        break;
    }
    case QK_TYPE_Q3_K: {
        const qk_block_q3_k *x = blk;
        const float d = qk_f16_to_f32(x->d);
        for (int j = 0; j < 16; j++) a[j] = d * (float)(k3_scale(x->scales, j) - 32), b[j] = 0.0f;
        break;
    }
    case QK_TYPE_Q4_K:
    case QK_TYPE_Q5_K: {
        const qk_block_q4_k *x4 = blk;
        const qk_block_q5_k *x5 = blk;
        const bool is4 = type == QK_TYPE_Q4_K;
        const float d = qk_f16_to_f32(is4 ? x4->d : x5->d);
        const float dmin = qk_f16_to_f32(is4 ? x4->dmin : x5->dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(is4 ? x4->scales : x5->scales, j, &sc, &m);
            a[j] = d * (float)sc;
            b[j] = -(dmin * (float)m);
        }
        break;
    }
    case QK_TYPE_Q6_K: {
        const qk_block_q6_k *x = blk;
        const float d = qk_f16_to_f32(x->d);
        for (int j = 0; j < 16; j++) a[j] = d * (float)x->scales[j], b[j] = 0.0f;
        break;
    }
    default:
        break;
    }
}

/* Pack codes L[elems] (in the ranges above) into the quant fields. */
static void block_set_codes(qk_type type, void *blk, const int8_t *L) {
    switch (type) {
    case QK_TYPE_Q4_0:
    case QK_TYPE_Q4_1: {
        uint8_t *qs =
            type == QK_TYPE_Q4_0 ? ((qk_block_q4_0 *)blk)->qs : ((qk_block_q4_1 *)blk)->qs;
        const int off = type == QK_TYPE_Q4_0 ? 8 : 0;
        for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((L[j] + off) | ((L[j + 16] + off) << 4));
        break;
    }
    case QK_TYPE_Q5_0:
    case QK_TYPE_Q5_1: {
        const bool is0 = type == QK_TYPE_Q5_0;
        uint8_t *qs = is0 ? ((qk_block_q5_0 *)blk)->qs : ((qk_block_q5_1 *)blk)->qs;
        uint8_t *qh = is0 ? ((qk_block_q5_0 *)blk)->qh : ((qk_block_q5_1 *)blk)->qh;
        const int off = is0 ? 16 : 0;
        uint32_t h = 0;
        for (int j = 0; j < 16; j++) {
            const int q0 = L[j] + off, q1 = L[j + 16] + off;
            qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            h |= (uint32_t)(q0 >> 4) << j;
            h |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
        break;
    }
    case QK_TYPE_Q8_0:
        memcpy(((qk_block_q8_0 *)blk)->qs, L, 32);
        break;
    case QK_TYPE_Q2_K:
    case QK_TYPE_Q3_K: {
        /* low 2 bits: element e at bits 2 * ((e % 128) / 32) of qs[32 * (e / 128) + e % 32];
        ** Q3_K's high bit of (L + 4) at bit e / 32 of hmask[e % 32] */
        const bool is3 = type == QK_TYPE_Q3_K;
        uint8_t *qs = is3 ? ((qk_block_q3_k *)blk)->qs : ((qk_block_q2_k *)blk)->qs;
        memset(qs, 0, 64);
        if (is3) memset(((qk_block_q3_k *)blk)->hmask, 0, 32);
        for (int e = 0; e < 256; e++) {
            const int u = L[e] + (is3 ? 4 : 0);
            qs[32 * (e / 128) + e % 32] |= (uint8_t)((u & 3) << (2 * ((e % 128) / 32)));
            if (is3 && (u >> 2)) ((qk_block_q3_k *)blk)->hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        }
        break;
    }
    case QK_TYPE_Q4_K:
    case QK_TYPE_Q5_K: {
        /* element 64 g + l in the low nibble of qs[32 g + l], 64 g + 32 + l in the high
        ** one; Q5_K's fifth bits at bits 2 g and 2 g + 1 of qh[l] */
        const bool is4 = type == QK_TYPE_Q4_K;
        uint8_t *qs = is4 ? ((qk_block_q4_k *)blk)->qs : ((qk_block_q5_k *)blk)->qs;
        if (!is4) memset(((qk_block_q5_k *)blk)->qh, 0, 32);
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++) {
                const int q0 = L[64 * g + l], q1 = L[64 * g + 32 + l];
                qs[32 * g + l] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
                if (!is4)
                    ((qk_block_q5_k *)blk)->qh[l] |=
                        (uint8_t)(((q0 >> 4) << (2 * g)) | ((q1 >> 4) << (2 * g + 1)));
            }
        break;
    }
    case QK_TYPE_Q6_K: {
        /* per half h: elements 128 h + l + 32 k (k = 0..3) share ql and qh bytes */
        qk_block_q6_k *x = blk;
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                int q[4];
                for (int k = 0; k < 4; k++) q[k] = L[128 * h + 32 * k + l] + 32;
                x->ql[64 * h + l] = (uint8_t)((q[0] & 0xF) | ((q[2] & 0xF) << 4));
                x->ql[64 * h + l + 32] = (uint8_t)((q[1] & 0xF) | ((q[3] & 0xF) << 4));
                x->qh[32 * h + l] = (uint8_t)((q[0] >> 4) | ((q[1] >> 4) << 2) |
                                              ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6));
            }
        break;
    }
    default:
        break;
    }
}

/* The code whose grid value a * L + b is nearest to w (ties: the lower L). */
static int nearest_code(double w, float a, float b, int lmin, int lmax) {
    if (a == 0.0f) return lmin > 0 ? lmin : lmax < 0 ? lmax : 0;
    double t = nearbyint((w - (double)b) / (double)a);
    t = t < lmin ? lmin : t > lmax ? lmax : t;
    const int l0 = (int)t;
    int best = l0;
    double best_err = fabs(w - (double)(a * (float)l0 + b));
    for (int l = l0 - 1; l <= l0 + 1; l += 2) {
        if (l < lmin || l > lmax) continue;
        const double e = fabs(w - (double)(a * (float)l + b));
        if (e < best_err || (e == best_err && l < best)) best = l, best_err = e;
    }
    return best;
}

typedef struct blocks_ctx {
    qk_type type;
    block_format f;
    bool dynamic;
    int64_t rows, cols, nsub; /* sub-blocks per row */
    size_t row_bytes;
    uint8_t *dst;
    float *a, *b; /* [rows * nsub] */
    int8_t *L;    /* [rows * cols], original column order */
    const float *imp;
    const int64_t *perm;
} blocks_ctx;

static void extract_grid(blocks_ctx *k, int64_t r, int64_t blk) {
    const int64_t per = k->f.elems / k->f.sublen;
    block_grid(k->type, k->dst + (size_t)r * k->row_bytes + (size_t)blk * k->f.bytes,
               k->a + r * k->nsub + blk * per, k->b + r * k->nsub + blk * per);
}

static qk_status blocks_begin(void *vctx, int64_t c, int64_t r0, int64_t r1, const double *wd) {
    blocks_ctx *k = vctx;
    if (!k->dynamic || c % k->f.elems != 0) return QK_OK;
    float x[QK_GGML_QK_K];
    const int64_t blk = c / k->f.elems;
    for (int64_t r = r0; r < r1; r++) {
        const double *wr = wd + (size_t)(r - r0) * k->cols + c;
        for (int i = 0; i < k->f.elems; i++) x[i] = (float)wr[i];
        qk_status st = qk_quantize_row(k->type, x,
                                       k->dst + (size_t)r * k->row_bytes + (size_t)blk * k->f.bytes,
                                       k->f.elems, k->imp ? k->imp + c : NULL);
        if (st != QK_OK)
            return qk_error_prefix("gptq: row %lld block %lld", (long long)r, (long long)blk);
        extract_grid(k, r, blk);
    }
    return QK_OK;
}

static double blocks_quantize(void *vctx, int64_t r, int64_t c, double w) {
    blocks_ctx *k = vctx;
    const int64_t orig = k->perm ? k->perm[c] : c;
    const size_t s = (size_t)(r * k->nsub + orig / k->f.sublen);
    const int l = nearest_code(w, k->a[s], k->b[s], k->f.lmin, k->f.lmax);
    k->L[(size_t)r * k->cols + orig] = (int8_t)l;
    return (double)(k->a[s] * (float)l + k->b[s]);
}

qk_status qk_gptq_quantize_blocks(qk_type type, const float *w, int64_t rows, int64_t cols,
                                  const double *h, const qk_gptq_options *opt, void *dst,
                                  float *w_out, qk_gptq_report *report) {
    if (!w || !h || !opt || !dst)
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq blocks: NULL argument");
    blocks_ctx k = {.type = type, .rows = rows, .cols = cols, .dst = dst};
    if (!format_of(type, &k.f))
        return qk_error_set(QK_ERR_UNSUPPORTED, "gptq: block type %s is not supported",
                            qk_type_name(type));
    if (rows <= 0 || cols <= 0 || rows > INT32_MAX || cols > INT32_MAX || cols % k.f.elems)
        return qk_error_set(QK_ERR_SHAPE, "gptq: %lld x %lld weight for %s (blocks of %d)",
                            (long long)rows, (long long)cols, qk_type_name(type), k.f.elems);
    if (opt->block_size <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "gptq: block size %d", opt->block_size);
    if (opt->act_order && !opt->static_groups)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "gptq: act-order onto %s needs static groups "
                            "(block scales from the original weights)",
                            qk_type_name(type));
    const double t0 = qk_time_seconds();
    k.dynamic = !opt->static_groups;
    k.nsub = cols / k.f.sublen;
    k.row_bytes = (size_t)(cols / k.f.elems) * (size_t)k.f.bytes;
    qk_gptq_prep prep;
    double *wd = NULL;
    float *imp = NULL, *w0 = NULL;
    qk_status st = qk_gptq_prepare(h, cols, opt, opt->act_order, &prep);
    if (st != QK_OK) return st;
    k.perm = prep.perm;
    k.a = malloc((size_t)(rows * k.nsub) * sizeof *k.a);
    k.b = malloc((size_t)(rows * k.nsub) * sizeof *k.b);
    k.L = malloc((size_t)(rows * cols));
    if (!k.a || !k.b || !k.L) {
        st = qk_error_set(QK_ERR_NOMEM, "gptq: no memory for %lld x %lld codes", (long long)rows,
                          (long long)cols);
        goto done;
    }
    if (opt->importance) {
        k.imp = opt->importance;
    } else if (opt->hessian_importance) {
        if (!(imp = malloc((size_t)cols * sizeof *imp))) {
            st = qk_error_set(QK_ERR_NOMEM, "gptq: no memory");
            goto done;
        }
        for (int64_t c = 0; c < cols; c++) imp[c] = (float)h[(size_t)c * cols + c];
        k.imp = imp;
    }
    if ((st = qk_gptq_working(w, rows, cols, &prep, &wd)) != QK_OK) goto done;
    if (!k.dynamic) { /* every block's scales from the original weights */
        if (!(w0 = malloc((size_t)(rows * cols) * sizeof *w0))) {
            st = qk_error_set(QK_ERR_NOMEM, "gptq: no memory");
            goto done;
        }
        for (int64_t i = 0; i < rows * cols; i++) w0[i] = prep.dead[i % cols] ? 0.0f : w[i];
        if ((st = qk_quantize_rows(type, w0, dst, rows, cols, k.imp)) != QK_OK) goto done;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t blk = 0; blk < cols / k.f.elems; blk++) extract_grid(&k, r, blk);
    }
    int32_t bs = opt->block_size;
    if (k.dynamic) bs = bs < k.f.elems ? k.f.elems : bs / k.f.elems * k.f.elems;
    const qk_gptq_target target = {blocks_begin, blocks_quantize, &k};
    double loss = 0.0;
    if ((st = qk_gptq_run(&prep, wd, rows, bs, &target, &loss)) != QK_OK) goto done;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t blk = 0; blk < cols / k.f.elems; blk++)
            block_set_codes(type, k.dst + (size_t)r * k.row_bytes + (size_t)blk * k.f.bytes,
                            k.L + (size_t)r * cols + (size_t)blk * k.f.elems);
    if (w_out)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                w_out[(size_t)r * cols + (prep.perm ? prep.perm[c] : c)] =
                    (float)wd[(size_t)r * cols + c];
    if (report) {
        report->damp = prep.damp;
        report->damp_raises = prep.raises;
        report->dead_cols = prep.dead_cols;
        report->loss = loss;
        report->seconds = qk_time_seconds() - t0;
    }
done:
    qk_gptq_prep_free(&prep);
    qk_aligned_free(wd);
    free(k.a);
    free(k.b);
    free(k.L);
    free(imp);
    free(w0);
    return st;
}
