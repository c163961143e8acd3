/*
** quantize_tensors: quantize a few seeded weight-like tensors with quantkit's
** numeric formats and print what each costs (bits per weight) and how close
** it stays (MSE, SQNR, max error).
**
** Tensors (256 x 1024, f32, fixed seeds):
**   normal      N(0, 1)
**   heavy-tail  Student-t-like values (normal / sqrt(uniform)) plus 16
**               planted outliers of +-40
**   row-scaled  N(0, 1) rows, each scaled by exp(uniform(-3, 3)), as the
**               output rows of a real linear layer differ in scale
** Formats: int8 per channel (symmetric, one f32 scale per row), int4 and
** int3 with groups of 128 (f16 scale, f16 zero point when asymmetric), NF4
** with and without double quantization, and both FP4 codes, block 64.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "quantkit/quantkit.h"

#define ROWS 256
#define COLS 1024
#define N ((size_t)ROWS * COLS)

/* ---- seeded data (splitmix64 + Box-Muller) ------------------------------ */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}
static double uniform01(uint64_t *s) {
    return (double)(next_u64(s) >> 11) * 0x1p-53;
}
static float normal(uint64_t *s) {
    const double u = 1.0 - uniform01(s), v = uniform01(s);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void make_tensors(float *normal_t, float *heavy, float *scaled) {
    uint64_t s = 1;
    for (size_t i = 0; i < N; i++) normal_t[i] = normal(&s);
    s = 2;
    for (size_t i = 0; i < N; i++) heavy[i] = normal(&s) / (float)sqrt(uniform01(&s) + 0.05);
    for (int k = 0; k < 16; k++) heavy[next_u64(&s) % N] = (k % 2 ? 40.0f : -40.0f);
    s = 3;
    for (int r = 0; r < ROWS; r++) {
        const float row_scale = (float)exp(6.0 * uniform01(&s) - 3.0);
        for (int c = 0; c < COLS; c++) scaled[(size_t)r * COLS + c] = row_scale * normal(&s);
    }
}

/* ---- formats ------------------------------------------------------------ */
typedef enum { AFFINE, BLOCKWISE } format_kind;

typedef struct format {
    const char *name;
    format_kind kind;
    qk_affine_scheme affine;
    qk_blockwise_config blockwise;
} format;

static format affine_format(const char *name, int bits, bool sym, int group) {
    format f = {name, AFFINE, qk_affine_scheme_default(bits, sym), {QK_CODEBOOK_NF4, 64, false}};
    if (group > 0) {
        f.affine.granularity = QK_GRAN_GROUP;
        f.affine.group_size = group;
        f.affine.scale_type = QK_TYPE_F16;
        f.affine.zp_storage = QK_ZP_F16;
    } else {
        f.affine.granularity = QK_GRAN_CHANNEL; /* one scale per output row */
        f.affine.axis = 0;
    }
    return f;
}

static format blockwise_format(const char *name, qk_codebook cb, bool dq) {
    format f = {name, BLOCKWISE, qk_affine_scheme_default(4, false), {cb, 64, dq}};
    return f;
}

/* Quantize x with f, dequantize into y, and report the bits per weight. */
static qk_status run_format(const format *f, float *x, float *y, double *bpw) {
    int64_t shape[2] = {ROWS, COLS};
    qk_status st;
    if (f->kind == AFFINE) {
        qk_tensor_view v;
        st = qk_tensor_view_init(&v, QK_TYPE_F32, 2, shape, x);
        if (st != QK_OK) return st;
        qk_affine_tensor q;
        st = qk_affine_quantize(&v, &f->affine, &q);
        if (st != QK_OK) return st;
        st = qk_affine_dequantize(&q, y, N);
        qk_affine_tensor_free(&q);
        if (st != QK_OK) return st;
        return qk_affine_bits_per_weight(&f->affine, 2, shape, bpw);
    }
    qk_blockwise_tensor q;
    st = qk_blockwise_quantize(x, N, &f->blockwise, &q);
    if (st != QK_OK) return st;
    st = qk_blockwise_dequantize(&q, y, N);
    qk_blockwise_tensor_free(&q);
    if (st != QK_OK) return st;
    return qk_blockwise_bits_per_weight(&f->blockwise, N, bpw);
}

int main(void) {
    float *tensors[3], *y = malloc(N * sizeof *y);
    for (int t = 0; t < 3; t++) tensors[t] = malloc(N * sizeof(float));
    if (!y || !tensors[0] || !tensors[1] || !tensors[2]) {
        fprintf(stderr, "quantize_tensors: out of memory\n");
        return 1;
    }
    make_tensors(tensors[0], tensors[1], tensors[2]);
    const char *tensor_names[3] = {"normal", "heavy-tail", "row-scaled"};
    const format formats[] = {
        affine_format("int8 per-channel sym", 8, true, 0),
        affine_format("int4 g128 asym", 4, false, 128),
        affine_format("int4 g128 sym", 4, true, 128),
        affine_format("int3 g128 asym", 3, false, 128),
        blockwise_format("nf4 b64 + dq", QK_CODEBOOK_NF4, true),
        blockwise_format("nf4 b64", QK_CODEBOOK_NF4, false),
        blockwise_format("fp4 (bnb) b64", QK_CODEBOOK_FP4_BNB, false),
        blockwise_format("fp4 e2m1 b64", QK_CODEBOOK_FP4_E2M1, false),
    };
    const int n_formats = (int)(sizeof formats / sizeof formats[0]);
    printf("quantkit %s: %d x %d f32 tensors, fixed seeds\n", qk_version(), ROWS, COLS);
    for (int t = 0; t < 3; t++) {
        printf("\n%s\n", tensor_names[t]);
        printf("  %-22s %10s %12s %9s %10s\n", "format", "bits/w", "MSE", "SQNR dB", "max err");
        for (int k = 0; k < n_formats; k++) {
            double bpw = 0;
            qk_status st = run_format(&formats[k], tensors[t], y, &bpw);
            qk_error_stats e;
            if (st == QK_OK) st = qk_error_stats_compute(tensors[t], y, N, &e);
            if (st != QK_OK) {
                fprintf(stderr, "quantize_tensors: %s on %s: %s\n", formats[k].name,
                        tensor_names[t], qk_last_error());
                return 1;
            }
            printf("  %-22s %10.6f %12.4e %9.2f %10.4f\n", formats[k].name, bpw, e.mse, e.sqnr_db,
                   e.max_abs_error);
        }
    }
    for (int t = 0; t < 3; t++) free(tensors[t]);
    free(y);
    return 0;
}
