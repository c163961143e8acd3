/*
** Internal to GPTQ (src/algo/gptq*.c): the preparation of H (dead columns,
** act-order, damping, the upper Cholesky factor of H^-1) and the column
** loop shared by the affine and block-format targets.
*/
#ifndef QK_ALGO_GPTQ_INTERNAL_H
#define QK_ALGO_GPTQ_INTERNAL_H

#include "quantkit/gptq.h"

/* Rows per tile: each tile runs the whole column loop on its own. */
#define QK_GPTQ_ROW_TILE 64

typedef struct qk_gptq_prep {
    int64_t cols;
    double *u;         /* [cols * cols] upper factor of H^-1, processing order (lower part 0) */
    int64_t *perm;     /* processing position -> original column; NULL: identity */
    uint8_t *dead;     /* [cols], original order: 1 when H[c][c] was 0 */
    double damp;       /* fraction used */
    int32_t raises;    /* times it was multiplied by 10 */
    int64_t dead_cols; /* count of dead columns */
} qk_gptq_prep;

/* Dead columns, act-order permutation, damping with automatic raises and
** the factorisation. h is not modified. */
qk_status qk_gptq_prepare(const double *h, int64_t cols, const qk_gptq_options *opt, bool act_order,
                          qk_gptq_prep *p);
void qk_gptq_prep_free(qk_gptq_prep *p);

/* W as double in processing order, dead columns zeroed: [rows * cols]. */
qk_status qk_gptq_working(const float *w, int64_t rows, int64_t cols, const qk_gptq_prep *p,
                          double **out);

/* What a target does inside the column loop of one row tile. */
typedef struct qk_gptq_target {
    /* Before position c is quantized (rows r0 .. r1-1 of the tile). wd
    ** points at row r0 of the working matrix (row stride cols), whose
    ** columns < block end are fully updated. */
    qk_status (*begin_column)(void *ctx, int64_t c, int64_t r0, int64_t r1, const double *wd);
    /* The grid value nearest to w for row r at position c; records the
    ** code. Returns the dequantized value. */
    double (*quantize)(void *ctx, int64_t r, int64_t c, double w);
    void *ctx;
} qk_gptq_target;

/* The column loop for rows r0 .. r1-1 (at most QK_GPTQ_ROW_TILE), lazy
** blocks of block_size columns. err has QK_GPTQ_ROW_TILE * block_size
** doubles. Adds GPTQ's loss (sum (w - q)^2 / d^2 / 2) of the tile to *loss. */
qk_status qk_gptq_run_tile(const qk_gptq_prep *p, double *wd, int64_t r0, int64_t r1,
                           int32_t block_size, const qk_gptq_target *t, double *err, double *loss);

/* Run every row tile in parallel (fixed tiles, so thread-count
** independent); per-tile losses summed in tile order. */
qk_status qk_gptq_run(const qk_gptq_prep *p, double *wd, int64_t rows, int32_t block_size,
                      const qk_gptq_target *t, double *loss);

#endif
