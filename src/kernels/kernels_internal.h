/*
** Internal to the kernels layer: the per-ISA fill functions of the kernel
** tables, the layout of the 32-element activation rows, and the shared
** scalar helpers of the reference and SIMD files.
**
** dispatch.c builds one table of qk_kernel_ops per level: the reference
** table (ref_*.c), then the AVX2 table as a copy of it with the AVX2
** functions put over it (x86_*_avx2.c), then the AVX-512 table as a copy of
** the AVX2 one with the AVX-512 functions over it. A level has every
** function of the level below, possibly the same pointer.
*/
#ifndef QK_KERNELS_INTERNAL_H
#define QK_KERNELS_INTERNAL_H

#include <math.h>   /* roundf */
#include <string.h> /* memcpy */

#include "quantkit/ggml.h"
#include "quantkit/kernels.h"

/* Fill functions: table[type] for every type the file implements. */
void qk_kernels_fill_ref(qk_kernel_ops *table);
void qk_kernels_fill_ref_k(qk_kernel_ops *table);
void qk_kernels_fill_avx2(qk_kernel_ops *table);
void qk_kernels_fill_avx2_k(qk_kernel_ops *table);
void qk_kernels_fill_avx512(qk_kernel_ops *table);
void qk_kernels_fill_avx512_k(qk_kernel_ops *table);
void qk_kernels_fill_avx2_dot32(qk_kernel_ops *table);
void qk_kernels_fill_avx2_kquant(qk_kernel_ops *table);
void qk_kernels_fill_avx512_kquant(qk_kernel_ops *table);
void qk_kernels_fill_avx512_dot32(qk_kernel_ops *table);

/* Activation quantizers of the SIMD levels (bit-identical to the reference). */
void qk_kernels_avx2_quantize_act32(const float *x, void *act, int64_t n);
void qk_kernels_avx512_quantize_act32(const float *x, void *act, int64_t n);

/* Row check of qk_kernels_quantize_rows at the AVX-512 level: finite and
** every |x_i| <= the float whose bits are lim. */
bool qk_kernels_avx512_row_clean(const float *x, int64_t n, uint32_t lim);

/* ---- activation rows of the 32-element formats --------------------------
** n elements: nb = n / 32 blocks in G = ceil(nb / 4) groups of 4 blocks,
** 192 bytes per group, group g at 192 g:
**   +0    quants 0..15 of blocks 4g..4g+3 (16 bytes each)
**   +64   quants 16..31 of the same blocks
**   +128  f32 d[4], the blocks' scales
**   +144  int32 sum[4], the blocks' sums of quants
**   +160  int16 lane8[16]: -8 times the sum of the 8 quants one 32-bit lane
**         of a 512-bit dot covers (quants 4k..4k+3 of both halves, lane k)
** Padding blocks are all zero. Groups are self-contained, so the
** activation of columns [128 g0, 128 g1) is the slice at 192 g0. The lane
** sums are derived from the quants (qk_act32_finish) for the AVX-512
** kernels.
*/
#define QK_ACT32_GROUP_BYTES 192
static inline int64_t qk_act32_groups(int64_t n) {
    return (n / QK_GGML_QK + 3) / 4;
}
static inline size_t qk_act32_bytes(int64_t n) {
    return (size_t)qk_act32_groups(n) * QK_ACT32_GROUP_BYTES;
}
static inline float *qk_act32_d(void *act, int64_t b) {
    return (float *)((unsigned char *)act + (size_t)(b / 4) * QK_ACT32_GROUP_BYTES + 128) + b % 4;
}
static inline int32_t *qk_act32_sum(void *act, int64_t b) {
    return (int32_t *)((unsigned char *)act + (size_t)(b / 4) * QK_ACT32_GROUP_BYTES + 144) + b % 4;
}
static inline const float *qk_act32_cd(const void *act, int64_t b) {
    return (const float *)((const unsigned char *)act + (size_t)(b / 4) * QK_ACT32_GROUP_BYTES +
                           128) +
           b % 4;
}
static inline const int32_t *qk_act32_csum(const void *act, int64_t b) {
    return (const int32_t *)((const unsigned char *)act + (size_t)(b / 4) * QK_ACT32_GROUP_BYTES +
                             144) +
           b % 4;
}
static inline const int16_t *qk_act32_clane8(const void *act, int64_t g) {
    return (const int16_t *)((const unsigned char *)act + (size_t)g * QK_ACT32_GROUP_BYTES + 160);
}
/* Address of quant j (0..31) of block b. */
static inline size_t qk_act32_offset(int64_t b, int j) {
    return (size_t)(b / 4) * QK_ACT32_GROUP_BYTES + (j < 16 ? 0u : 64u) + (size_t)(b % 4) * 16u +
           (size_t)(j & 15);
}
/* Derive the lane sums from the quants (every variant calls this). */
static inline void qk_act32_finish(void *act, int64_t n) {
    for (int64_t g = 0; g < qk_act32_groups(n); g++) {
        const int8_t *q = (const int8_t *)act + (size_t)g * QK_ACT32_GROUP_BYTES;
        int16_t *lane8 = (int16_t *)((unsigned char *)act + (size_t)g * QK_ACT32_GROUP_BYTES + 160);
        for (int k = 0; k < 16; k++) {
            int s = 0;
            for (int i = 0; i < 4; i++) s += q[4 * k + i] + q[64 + 4 * k + i];
            lane8[k] = (int16_t)(-8 * s);
        }
    }
}

/* ---- scalar helpers shared by the reference and SIMD files -------------- */

/* Q8_0's quant of v = x * id: roundf (ties away from zero), and 0 for a
** value whose rounding is outside [-128, 127] or NaN (what ggml's int8
** cast gives on x86 for the Inf/NaN of a block whose scale underflowed). */
static inline int8_t qk_k_round_i8(float v) {
    float r = roundf(v);
    return r >= -128.0f && r <= 127.0f ? (int8_t)r : 0;
}

/* (int)v for v in [0, 128), else 0 (ggml's legacy quantizers' cast). */
static inline int qk_k_trunc_small(float v) {
    return v >= 0.0f && v < 128.0f ? (int)v : 0;
}

static inline uint16_t qk_k_load_u16(const void *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Reference activation quantization of one row of the 32-element layout
** (used by the SIMD files for their tails too). */
void qk_kernels_ref_quantize_act32(const float *x, void *act, int64_t n);

/* Reference dot of blocks [b0, nb) of a 32-element-format row with an
** activation row of n elements (SIMD files call it for their tails). */
double qk_kernels_ref_dot_act32_blocks(qk_type type, const void *w, const void *act, int64_t n,
                                       int64_t b0);

#endif
