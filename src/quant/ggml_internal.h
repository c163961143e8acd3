/*
** Internal to the ggml block formats (src/quant/ggml_*.c): the per-type row
** functions the dispatcher (ggml_row.c) calls, and the scale searches the
** quantizers share (ggml_search.c).
**
** Row functions receive arguments the dispatcher has already checked: x
** finite, n a positive multiple of the block size, importance NULL or n
** finite non-negative weights whose maximum is in [0.5, 1) (scaled by a
** power of two, which changes no decision of any search: every weighted sum
** they compare scales exactly).
*/
#ifndef QK_QUANT_GGML_INTERNAL_H
#define QK_QUANT_GGML_INTERNAL_H

#include <math.h>   /* fabsf, sqrtf */
#include <string.h> /* memcpy */

#include "quantkit/ggml.h"

#define QK_GGML_MIN(a, b) ((a) < (b) ? (a) : (b))
#define QK_GGML_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Blocks below this largest magnitude are treated as all zero (ggml's
** GROUP_MAX_EPS). */
#define QK_GGML_GROUP_MAX_EPS 1e-15f

/* Round to nearest, ties to even, as ggml's nearest_int for |v| <= 4194303:
** adding 1.5 * 2^23 leaves the rounded integer (plus 2^22) in the low
** mantissa bits, under the default rounding mode. Outside that range the
** result is clamped and NaN gives 0, so the value is always defined. */
static inline int qk_ggml_nearest_int(float v) {
    if (!(fabsf(v) <= 4194303.f)) return v > 0 ? 4194303 : v < 0 ? -4194303 : 0;
    const float t = v + 12582912.f;
    int32_t bits;
    memcpy(&bits, &t, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

typedef void (*qk_ggml_quantize_fn)(const float *x, void *dst, int64_t n, const float *imp);
typedef void (*qk_ggml_dequantize_fn)(const void *src, float *y, int64_t n);

/* ggml_legacy.c */
void qk_ggml_quantize_q4_0(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q4_1(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q5_0(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q5_1(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q8_0(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q8_1(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_dequantize_q4_0(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q4_1(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q5_0(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q5_1(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q8_0(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q8_1(const void *src, float *y, int64_t n);

/* ggml_q2k.c, ggml_q3k.c, ggml_q4k.c (Q4_K, Q5_K), ggml_q6k.c (Q6_K, Q8_K),
** ggml_iq4nl.c */
void qk_ggml_quantize_q2_k(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q3_k(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q4_k(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q5_k(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q6_k(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_q8_k(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_quantize_iq4_nl(const float *x, void *dst, int64_t n, const float *imp);
void qk_ggml_dequantize_q2_k(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q3_k(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q4_k(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q5_k(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q6_k(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_q8_k(const void *src, float *y, int64_t n);
void qk_ggml_dequantize_iq4_nl(const void *src, float *y, int64_t n);

/* ggml's own quantizer for one super-block (what llama-quantize writes:
** quantize_row_*_ref without importance, the imatrix path with it), exposed
** so that tests can compare with llama.cpp's files. `imp` is the block's
** slice of the importance (or NULL). The quantizers above start from this
** and refine it (ggml_kquant.c). */
void qk_ggml_q2_k_block_ggml(const float *x, qk_block_q2_k *y, const float *imp);
void qk_ggml_q3_k_block_ggml(const float *x, qk_block_q3_k *y, const float *imp);
void qk_ggml_q4_k_block_ggml(const float *x, qk_block_q4_k *y, const float *imp);
void qk_ggml_q5_k_block_ggml(const float *x, qk_block_q5_k *y, const float *imp);
void qk_ggml_q6_k_block_ggml(const float *x, qk_block_q6_k *y, const float *imp);
void qk_ggml_iq4_nl_block_ggml(const float *x, qk_block_iq4_nl *y, const float *imp);

/* Index of the first block of a quantized row whose f16 scale is Inf or
** NaN (its values needed a scale beyond the f16 range), or -1 (also for
** types that are not ggml block formats). */
int64_t qk_ggml_first_overflowed_block(qk_type type, const void *row, int64_t nblocks);
/* That block's QK_ERR_NUMERIC, naming the row (row < 0: a single row), the
** elements and their largest magnitude; x is the row's input. */
qk_status qk_ggml_scale_overflow_error(qk_type type, const float *x, int64_t block, int64_t row);

/* ---- super-block refinement (ggml_kquant.c) ----------------------------
** A K-quant super-block in a common form: value i of sub-block j is
**   y = (D * s[j]) * L[i] - (M * m[j])      (asymmetric: Q2_K, Q4_K, Q5_K)
**   y = (D * s[j]) * L[i]                   (symmetric: Q3_K, Q6_K)
** with D, M f16 and the products formed in that order, exactly as ggml's
** dequantizers form them; IQ4_NL is one sub-block with L an index into its
** codebook, y = D * kvalues[L].
*/
typedef struct qk_ggml_kparams {
    int nsub;               /* sub-blocks per super-block */
    int sublen;             /* elements per sub-block */
    int lmin, lmax;         /* range of L */
    int smin, smax;         /* range of the sub-block scales s */
    int mmax;               /* range [0, mmax] of the sub-block mins; -1: symmetric */
    const int8_t *codebook; /* non-NULL: y = D * codebook[L] (one sub-block) */
} qk_ggml_kparams;

typedef struct qk_ggml_kblock {
    uint16_t d, dmin; /* f16 bits of D and M */
    int16_t s[16], m[16];
    int8_t L[QK_GGML_QK_K];
} qk_ggml_kblock;

/* The values the block decodes to. */
void qk_ggml_kblock_decode(const qk_ggml_kparams *p, const qk_ggml_kblock *b, float *y);
/* Sum of w[i] * (x[i] - y[i])^2 (w NULL: weights 1), in double. */
double qk_ggml_kblock_error(const qk_ggml_kparams *p, const qk_ggml_kblock *b, const float *x,
                            const float *w);
/* Lower the error of `b` by coordinate descent: each round refits the
** quants given the scales, each sub-block's scale (and min) together with
** its quants, and D (and M) given the rest, keeping a change only when the
** exact decoded error falls. Never increases the error. Returns it. */
double qk_ggml_kblock_refine(const qk_ggml_kparams *p, qk_ggml_kblock *b, const float *x,
                             const float *w);

/* ---- the two-start search (ggml_kquant.c) -----------------------------
** quantkit's quantizers of the K formats and IQ4_NL: every block starts
** from ggml's own block (with the importance) and from a second start (the
** other weighting), both are refined, and the lower weighted squared error
** wins (ggml's start on a tie). A format supplies its starts and its
** packing; blocks of importance weights that are all zero count as none. */
#define QK_GGML_KFORMAT_MAX_BYTES 256 /* packed bytes of the largest block */

typedef struct qk_ggml_kformat {
    const qk_ggml_kparams *params;
    int block_elems;    /* values per block */
    size_t block_bytes; /* packed bytes per block, <= QK_GGML_KFORMAT_MAX_BYTES */
    /* Start s (0: ggml's block with importance w; 1: the second start):
    ** its packed bytes and its common form. */
    void (*start)(const float *x, const float *w, int s, void *packed, qk_ggml_kblock *k);
    /* Packs a block given in the common form. */
    void (*pack)(const qk_ggml_kblock *k, void *packed);
    /* false: a start whose super-scale D is 0 is kept as ggml writes it */
    bool refine_zero_scale;
} qk_ggml_kformat;

void qk_ggml_quantize_two_starts(const qk_ggml_kformat *f, const float *x, void *dst, int64_t n,
                                 const float *imp);

/* ---- scale searches (ggml_search.c) ------------------------------------
** Each follows the arithmetic of the ggml function of the same name
** (ggml-quants.c), so that callers that need ggml's exact output get it.
*/

/* Symmetric: x[i] ~ scale * (L[i] - nmax), L in [0, 2*nmax-1]. Weights are
** qw, or by rmse_type 1: x^2, 2: 1, 3: |x|, 4: sqrt|x|. rmse_type 0 is plain
** rounding; a negative type stops after the first least-squares step.
** Otherwise 18 more candidate inverse scales -(nmax + 0.1 k)/max, k in
** [-9, 9] \ {0}, keeping the best weighted least-squares fit. */
float qk_ggml_make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type,
                             const float *qw);

/* As make_qx_quants with weights x^2, then up to 5 rounds of changing one
** quant at a time while that improves the weighted fit (do_rmse), L in
** [0, 2*nmax-1]. */
float qk_ggml_make_q3_quants(int n, int nmax, const float *x, int8_t *L, bool do_rmse);

/* Asymmetric: x[i] ~ scale * L[i] - the_min, L in [0, nmax], the_min >= 0.
** Tries inverse scales (rmin + rdelta k + nmax) / (max - min), k in
** [0, nstep], fitting scale and min by weighted least squares for each;
** keeps the lowest weighted squared (or absolute, use_mad) error. */
float qk_ggml_make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                               float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                               bool use_mad);

/* As make_qkx2_quants; weights may be NULL (then x^2) and quants of a
** candidate are clamped before rounding so that no step overflows. */
float qk_ggml_make_qkx3_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                               float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                               bool use_mad);

/* Non-negative values x ~ scale * L, L in [0, nmax], weighted by qw: the
** best of 9 inverse scales (nmax + 0.1 k) / max, then up to 5 rounds of
** single-quant changes. */
float qk_ggml_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw);

/* Index of the entry of the sorted table val[0..n) nearest to x (ties to
** the larger entry). */
int qk_ggml_best_index_int8(int n, const int8_t *val, float x);

#endif
