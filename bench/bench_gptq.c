/*
** bench_gptq: time and peak memory of GPTQ on one synthetic linear layer.
**
**   bench_gptq [--rows 4096] [--cols 4096] [--seqs 128] [--len 2048]
**              [--bits 4] [--group 128] [--act-order] [--threads 2] [--json]
**
** The weight W [rows, cols] is N(0, 0.02^2). The inputs are generated one
** sequence (len tokens) at a time and never kept: x = diag(s) (z + B u) with
** z ~ N(0, I_cols), u ~ N(0, I_16), B [cols, 16] ~ N(0, 0.5^2) (correlated
** channels, so H is not diagonal) and per-channel magnitudes s = exp(N(0,
** 0.5^2)), 1% of them times 20 (outlier channels). Phases timed apart:
** accumulating H = 2/n sum x x^T (qk_hessian_add per sequence), GPTQ
** (qk_gptq_quantize), and round-to-nearest on the same grid for the
** H-weighted error ratio. Peak memory is getrusage's maxrss of the process.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantkit/quantkit.h"

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next_u64(rng *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(rng *r) {
    return (double)(next_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Box-Muller, both values. */
static void normals(rng *r, float *x, int64_t n, float sigma) {
    for (int64_t i = 0; i < n; i += 2) {
        const double u1 = uniform(r) + 1e-300, u2 = uniform(r);
        const double m = sqrt(-2.0 * log(u1)) * sigma;
        x[i] = (float)(m * cos(6.283185307179586 * u2));
        if (i + 1 < n) x[i + 1] = (float)(m * sin(6.283185307179586 * u2));
    }
}

static int64_t arg_int(int argc, char **argv, const char *name, int64_t def) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return strtoll(argv[i + 1], NULL, 10);
    return def;
}

static int has_flag(int argc, char **argv, const char *name) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

#define RANK 16

int main(int argc, char **argv) {
    if (has_flag(argc, argv, "--help")) {
        printf("usage: bench_gptq [--rows 4096] [--cols 4096] [--seqs 128] [--len 2048] [--bits 4] "
               "[--group 128] [--act-order] [--threads 2] [--json]\n");
        return 0;
    }
    const int64_t rows = arg_int(argc, argv, "--rows", 4096);
    const int64_t cols = arg_int(argc, argv, "--cols", 4096);
    const int64_t seqs = arg_int(argc, argv, "--seqs", 128);
    const int64_t len = arg_int(argc, argv, "--len", 2048);
    const int threads = (int)arg_int(argc, argv, "--threads", 2);
    const int json = has_flag(argc, argv, "--json");
    if (rows <= 0 || cols <= 0 || seqs <= 0 || len <= 0 || threads <= 0) {
        fprintf(stderr, "bench_gptq: sizes and --threads must be positive\n");
        return 2;
    }
    qk_threads_set(threads);
    qk_gptq_options opt;
    qk_gptq_options_init(&opt);
    opt.bits = (int32_t)arg_int(argc, argv, "--bits", 4);
    opt.group_size = (int32_t)arg_int(argc, argv, "--group", 128);
    opt.act_order = has_flag(argc, argv, "--act-order");

    rng r = {.s = 12345};
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    float *wq = malloc((size_t)(rows * cols) * sizeof *wq);
    float *x = malloc((size_t)(len * cols) * sizeof *x);
    float *b = malloc((size_t)(cols * RANK) * sizeof *b);
    float *s = malloc((size_t)cols * sizeof *s);
    float u[RANK];
    if (!w || !wq || !x || !b || !s) {
        fprintf(stderr, "bench_gptq: out of memory\n");
        return 1;
    }
    normals(&r, w, rows * cols, 0.02f);
    normals(&r, b, cols * RANK, 0.5f);
    normals(&r, s, cols, 0.5f);
    for (int64_t c = 0; c < cols; c++) s[c] = expf(s[c]) * (next_u64(&r) % 100 == 0 ? 20.0f : 1.0f);

    qk_hessian *h;
    qk_status st = qk_hessian_create(cols, &h);
    double t_gen = 0.0, t_h = 0.0;
    for (int64_t q = 0; q < seqs && st == QK_OK; q++) {
        double t0 = qk_time_seconds();
        normals(&r, x, len * cols, 1.0f);
        for (int64_t t = 0; t < len; t++) {
            normals(&r, u, RANK, 1.0f);
            float *xr = x + t * cols;
            for (int64_t c = 0; c < cols; c++) {
                float acc = xr[c];
                for (int k = 0; k < RANK; k++) acc += b[c * RANK + k] * u[k];
                xr[c] = acc * s[c];
            }
        }
        const double t1 = qk_time_seconds();
        t_gen += t1 - t0;
        st = qk_hessian_add(h, x, len);
        t_h += qk_time_seconds() - t1;
    }
    qk_quantized_linear ql = {0}, qr = {0};
    qk_gptq_report rep = {0};
    double t_gptq = 0.0, err = 0.0, err_rtn = 0.0;
    if (st == QK_OK) {
        const double t0 = qk_time_seconds();
        st = qk_gptq_quantize(w, rows, cols, qk_hessian_data(h), &opt, &ql, wq, &rep);
        t_gptq = qk_time_seconds() - t0;
    }
    if (st == QK_OK) st = qk_hessian_error(qk_hessian_data(h), w, wq, rows, cols, &err);
    if (st == QK_OK) st = qk_rtn_quantize(w, rows, cols, &opt, &qr, wq);
    if (st == QK_OK) st = qk_hessian_error(qk_hessian_data(h), w, wq, rows, cols, &err_rtn);
    if (st != QK_OK) {
        fprintf(stderr, "bench_gptq: %s\n", qk_last_error());
        return 1;
    }
    const size_t peak = qk_peak_rss_bytes();
    if (json) {
        printf("{\"rows\": %lld, \"cols\": %lld, \"tokens\": %lld, \"bits\": %d, \"group\": %d, "
               "\"act_order\": %s, \"threads\": %d, \"hessian_seconds\": %.3f, "
               "\"gptq_seconds\": %.3f, \"seconds\": %.3f, \"generate_seconds\": %.3f, "
               "\"peak_rss_bytes\": %zu, \"damp\": %g, \"err_h\": %.6g, \"err_h_rtn\": %.6g}\n",
               (long long)rows, (long long)cols, (long long)(seqs * len), opt.bits, opt.group_size,
               opt.act_order ? "true" : "false", threads, t_h, t_gptq, t_h + t_gptq, t_gen, peak,
               rep.damp, err, err_rtn);
    } else {
        printf("GPTQ %lld x %lld, %lld x %lld calibration tokens, W%d g%d%s, %d threads\n",
               (long long)rows, (long long)cols, (long long)seqs, (long long)len, opt.bits,
               opt.group_size, opt.act_order ? " act-order" : "", threads);
        printf("  Hessian %.2f s, GPTQ %.2f s (total %.2f s; input generation %.2f s not "
               "counted)\n",
               t_h, t_gptq, t_h + t_gptq, t_gen);
        printf("  peak memory %.1f MiB; H-weighted error GPTQ %.6g, RTN %.6g (ratio %.3f)\n",
               (double)peak / 1048576.0, err, err_rtn, err_rtn > 0 ? err / err_rtn : 0.0);
    }
    qk_quantized_linear_free(&ql);
    qk_quantized_linear_free(&qr);
    qk_hessian_free(h);
    free(w), free(wq), free(x), free(b), free(s);
    return 0;
}
