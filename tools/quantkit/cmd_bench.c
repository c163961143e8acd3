/*
** quantkit bench [--json] [--threads N] [--quick] [--model DIR] [--seconds S]
**
** Kernel throughput next to this machine's memory bandwidth, measured in
** the same run, at 1 thread and at N threads (--threads, default all
** cores):
**   memory: STREAM-like read (sum of a buffer) and triad (a = b + s c),
**     cache-resident (256 KiB) and DRAM-sized (256 MiB read in 16 pieces,
**     the sum of each piece's best time; 3 x 32 MiB triad);
**   per weight type, per op (quantize f32 -> type, dequantize type -> f32,
**     matvec: qk_matmul with one activation row, matmul: 64 rows), GB/s of
**     weight bytes (of f32 input for quantize) and elements/s; cache-resident
**     sizes and the DRAM-sized 4096 x 14336 matrix (its first 1024 rows,
**     58.7 MB of f32, for quantization; the cache is flushed before every
**     timed DRAM repetition); matvec as a ratio of the read
**     bandwidth; the K quantizers' RMSE next to the reference search's;
**     affine int4 per-group quantization ("int4_g128": asymmetric, groups
**     of 128 along rows, f16 scales);
**   end to end (--model DIR): quantize DIR to q4_k_m (seconds), then the
**     prompt (one batch of 128 tokens) and decode (64 single tokens)
**     tokens/s of the result.
** Each figure is the best of repeated runs filling --seconds (default 0.2,
** at least 2 runs). --quick uses small sizes (a smoke test: the "dram"
** figures are then not DRAM-sized).
*/
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"

/* Weight types benchmarked, in output order. */
static const qk_type BENCH_TYPES[] = {
    QK_TYPE_F16,  QK_TYPE_BF16, QK_TYPE_Q4_0, QK_TYPE_Q4_1, QK_TYPE_Q5_0, QK_TYPE_Q5_1,
    QK_TYPE_Q8_0, QK_TYPE_Q2_K, QK_TYPE_Q3_K, QK_TYPE_Q4_K, QK_TYPE_Q5_K, QK_TYPE_Q6_K,
};
#define N_BENCH_TYPES (sizeof BENCH_TYPES / sizeof BENCH_TYPES[0])

/* Sizes of one run. */
typedef struct bench_sizes {
    int64_t big_rows, big_cols;     /* the DRAM-sized matrix */
    int64_t q_rows;                 /* its rows timed for quantization (f32 input > LLC) */
    int64_t small_rows, small_cols; /* cache-resident */
    int64_t mm_rows, mm_cols, mm_n; /* matmul: weight rows, cols, activation rows */
    size_t read_bytes, triad_elems, flush_bytes, cache_bytes;
    double budget; /* seconds per figure */
} bench_sizes;

/* ------------------------------------------------------------------------
** Data and timing
*/
static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* N(0,1) by Box-Muller. */
static void fill_normal(float *x, size_t n, uint64_t seed) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; i += 2) {
        const double u1 = ((double)(splitmix(&s) >> 11) + 1.0) * 0x1.0p-53;
        const double u2 = (double)(splitmix(&s) >> 11) * 0x1.0p-53;
        const double r = sqrt(-2.0 * log(u1));
        x[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
}

typedef void (*bench_fn)(void *ctx);

/* Volatile sink so the compiler keeps the reads. */
static volatile uint64_t g_sink;

/* Evict the caches: read a buffer larger than the last level (reads only,
** so no dirty lines are left to be written back during the timed run). */
static void flush_caches(unsigned char *buf, size_t n) {
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i += 64) acc += buf[i];
    g_sink += acc;
}

/* Best time of one call of fn: repetitions until `budget` seconds have been
** spent (at least 2, at most 1000); the caches flushed before each when
** flush is given. */
static double time_best(bench_fn fn, void *ctx, double budget, unsigned char *flush,
                        size_t flush_bytes) {
    double best = 1e30, spent = 0.0;
    for (int rep = 0; rep < 1000 && (rep < 2 || spent < budget); rep++) {
        if (flush) flush_caches(flush, flush_bytes);
        const double t0 = qk_time_seconds();
        fn(ctx);
        const double dt = qk_time_seconds() - t0;
        spent += dt;
        if (dt < best) best = dt;
    }
    return best > 0.0 ? best : 1e-9;
}

/* ------------------------------------------------------------------------
** Memory bandwidth
*/
typedef struct mem_ctx {
    const uint64_t *src;
    size_t n; /* 64-bit words */
    double *a, *b, *c;
    size_t m; /* triad elements */
} mem_ctx;

/* Sum of n words with 8 independent chains; threads take equal slices. */
static void mem_read(void *p) {
    const mem_ctx *c = p;
    uint64_t total = 0;
#pragma omp parallel reduction(+ : total)
    {
        const size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
        const size_t per = (c->n / nt) & ~(size_t)7;
        const size_t i0 = t * per, i1 = t + 1 == nt ? c->n & ~(size_t)7 : i0 + per;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (size_t i = i0; i < i1; i += 8) {
            s0 += c->src[i];
            s1 += c->src[i + 1];
            s2 += c->src[i + 2];
            s3 += c->src[i + 3];
            s4 += c->src[i + 4];
            s5 += c->src[i + 5];
            s6 += c->src[i + 6];
            s7 += c->src[i + 7];
        }
        total += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
    }
    g_sink += total;
}

/* STREAM's triad a = b + 3 c (24 bytes per element counted). */
static void mem_triad(void *p) {
    const mem_ctx *c = p;
    double *restrict a = c->a;
    const double *restrict b = c->b, *restrict cc = c->c;
    const int64_t m = (int64_t)c->m;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++) a[i] = b[i] + 3.0 * cc[i];
}

/* ------------------------------------------------------------------------
** Kernels
*/
typedef struct kern_ctx {
    qk_type type;
    const float *x; /* f32 input [rows, cols] */
    void *q;        /* quantized [rows, cols] */
    float *y;       /* f32 output */
    const float *act;
    int64_t rows, cols, n_act;
    qk_status st;
} kern_ctx;

static void run_quantize(void *p) {
    kern_ctx *c = p;
    qk_status st =
        qk_kernels_quantize_rows(c->type, c->x, c->q, c->rows, c->cols, NULL, QK_KQUANT_FAST);
    if (st != QK_OK) c->st = st;
}

static void run_dequantize(void *p) {
    kern_ctx *c = p;
    qk_status st = qk_kernels_dequantize_rows(c->type, c->q, c->y, c->rows, c->cols);
    if (st != QK_OK) c->st = st;
}

static void run_matmul(void *p) {
    kern_ctx *c = p;
    const qk_tensor_view w = {
        .type = c->type, .ndim = 2, .shape = {c->rows, c->cols}, .data = c->q};
    qk_status st = qk_matmul(&w, c->act, c->n_act, c->y);
    if (st != QK_OK) c->st = st;
}

/* Everything one thread count needs. */
typedef struct bench_state {
    const bench_sizes *sz;
    float *big_x;   /* big_rows x big_cols f32, N(0,1) */
    void *big_q;    /* quantized big matrix (largest type) */
    float *big_y;   /* dequantized big matrix */
    float *small_y; /* small dequantized */
    void *small_q;
    float *act; /* mm_n x max(cols) activations */
    unsigned char *flush;
    double read_gbs[2], triad_gbs[2]; /* [cache, dram] */
} bench_state;

static void add_figure(json_t *list, const char *type, const char *op, const char *size,
                       int64_t rows, int64_t cols, double seconds, double weight_bytes,
                       double elements, int threads, double read_gbs) {
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "op", json_string(op));
    json_object_set_new(o, "size", json_string(size));
    json_object_set_new(o, "rows", json_integer(rows));
    json_object_set_new(o, "cols", json_integer(cols));
    json_object_set_new(o, "seconds", json_real(seconds));
    json_object_set_new(o, "weight_bytes", json_integer((json_int_t)weight_bytes));
    json_object_set_new(o, "weight_gbs", json_real(weight_bytes / seconds * 1e-9));
    json_object_set_new(o, "elements_per_s", json_real(elements / seconds));
    if (strcmp(op, "quantize") == 0) {
        const double in_gbs = elements * 4.0 / seconds * 1e-9;
        json_object_set_new(o, "input_gbs", json_real(in_gbs));
        json_object_set_new(o, "input_gbs_per_thread", json_real(in_gbs / threads));
    }
    if (strcmp(op, "matvec") == 0)
        json_object_set_new(o, "read_ratio", json_real(weight_bytes / seconds * 1e-9 / read_gbs));
    json_array_append_new(list, o);
}

/* Root mean square of x - y over n. */
static double rmse(const float *x, const float *y, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)x[i] - (double)y[i];
        s += d * d;
    }
    return sqrt(s / (double)n);
}

/* RMSE of the fast K quantizer, of ggml's own block quantizer (the issue's
** reference) and of quantkit's search (what `quantize` writes) on x [rows,
** cols] into o, with the two slow ones' speeds (K formats). */
static qk_status kquant_rmse(qk_type type, const float *x, int64_t rows, int64_t cols, void *q,
                             float *y, json_t *o) {
    const size_t n = (size_t)(rows * cols);
    qk_status st = qk_kernels_quantize_rows(type, x, q, rows, cols, NULL, QK_KQUANT_FAST);
    if (st == QK_OK) st = qk_kernels_dequantize_rows(type, q, y, rows, cols);
    if (st != QK_OK) return st;
    json_object_set_new(o, "rmse", json_real(rmse(x, y, n)));
    const double t0 = qk_time_seconds();
    st = qk_kernels_quantize_rows(type, x, q, rows, cols, NULL, QK_KQUANT_SEARCH);
    const double dt = qk_time_seconds() - t0;
    if (st == QK_OK) st = qk_kernels_dequantize_rows(type, q, y, rows, cols);
    if (st != QK_OK) return st;
    json_object_set_new(o, "rmse_search", json_real(rmse(x, y, n)));
    json_object_set_new(o, "search_input_gbs", json_real((double)n * 4.0 / dt * 1e-9));
    const double t1 = qk_time_seconds();
    st = qk_kernels_quantize_rows(type, x, q, rows, cols, NULL, QK_KQUANT_GGML);
    const double dt1 = qk_time_seconds() - t1;
    if (st == QK_OK) st = qk_kernels_dequantize_rows(type, q, y, rows, cols);
    if (st != QK_OK) return st;
    json_object_set_new(o, "rmse_ggml", json_real(rmse(x, y, n)));
    json_object_set_new(o, "ggml_input_gbs", json_real((double)n * 4.0 / dt1 * 1e-9));
    return QK_OK;
}

static bool is_k_type(qk_type t) {
    return t == QK_TYPE_Q2_K || t == QK_TYPE_Q3_K || t == QK_TYPE_Q4_K || t == QK_TYPE_Q5_K ||
           t == QK_TYPE_Q6_K;
}

/* The figures of one type at the current thread count into list. */
static qk_status bench_type(bench_state *s, qk_type type, int threads, json_t *list) {
    const bench_sizes *z = s->sz;
    const char *name = qk_type_name(type);
    size_t big_bytes, small_bytes, mm_bytes;
    qk_status st = qk_type_row_bytes(type, z->big_cols, &big_bytes);
    if (st == QK_OK) st = qk_type_row_bytes(type, z->small_cols, &small_bytes);
    if (st == QK_OK) st = qk_type_row_bytes(type, z->mm_cols, &mm_bytes);
    if (st != QK_OK) return st;
    big_bytes *= (size_t)z->big_rows;
    small_bytes *= (size_t)z->small_rows;
    mm_bytes *= (size_t)z->mm_rows;
    const double big_n = (double)z->big_rows * (double)z->big_cols;
    const double small_n = (double)z->small_rows * (double)z->small_cols;
    kern_ctx big = {type, s->big_x, s->big_q, s->big_y, s->act, z->big_rows, z->big_cols, 1, QK_OK};
    kern_ctx small = {type,          s->big_x,      s->small_q, s->small_y, s->act,
                      z->small_rows, z->small_cols, 1,          QK_OK};
    double t;

    /* quantize (f32 input bytes), cache then DRAM */
    t = time_best(run_quantize, &small, z->budget, NULL, 0);
    add_figure(list, name, "quantize", "cache", small.rows, small.cols, t, (double)small_bytes,
               small_n, threads, 0);
    if (is_k_type(type)) {
        st = kquant_rmse(type, s->big_x, small.rows, small.cols, s->small_q, s->small_y,
                         json_array_get(list, json_array_size(list) - 1));
        if (st != QK_OK) return st;
    }
    /* the first q_rows rows (shorter runs: a best time survives a busy
    ** machine), then their bytes repeated over the whole matrix */
    kern_ctx qz = big;
    qz.rows = z->q_rows;
    t = time_best(run_quantize, &qz, z->budget, s->flush, z->flush_bytes);
    add_figure(list, name, "quantize", "dram", qz.rows, qz.cols, t,
               (double)(big_bytes / (size_t)z->big_rows * (size_t)qz.rows),
               (double)qz.rows * (double)qz.cols, threads, 0);
    const size_t q_bytes = big_bytes / (size_t)z->big_rows * (size_t)qz.rows;
    for (size_t off = q_bytes; off < big_bytes; off += q_bytes)
        memcpy((unsigned char *)s->big_q + off, s->big_q,
               big_bytes - off < q_bytes ? big_bytes - off : q_bytes);
    if (qz.st != QK_OK) return qz.st;
    /* dequantize (weight bytes) */
    run_quantize(&small);
    t = time_best(run_dequantize, &small, z->budget, NULL, 0);
    add_figure(list, name, "dequantize", "cache", small.rows, small.cols, t, (double)small_bytes,
               small_n, threads, 0);
    t = time_best(run_dequantize, &big, z->budget, s->flush, z->flush_bytes);
    add_figure(list, name, "dequantize", "dram", big.rows, big.cols, t, (double)big_bytes, big_n,
               threads, 0);
    /* matvec: one activation row */
    t = time_best(run_matmul, &small, z->budget, NULL, 0);
    add_figure(list, name, "matvec", "cache", small.rows, small.cols, t, (double)small_bytes,
               small_n, threads, s->read_gbs[0]);
    t = time_best(run_matmul, &big, z->budget, s->flush, z->flush_bytes);
    add_figure(list, name, "matvec", "dram", big.rows, big.cols, t, (double)big_bytes, big_n,
               threads, s->read_gbs[1]);
    /* matmul: mm_n activation rows on the first mm_rows x mm_cols */
    kern_ctx mm = {type,       s->big_x,   s->small_q, s->big_y, s->act,
                   z->mm_rows, z->mm_cols, z->mm_n,    QK_OK};
    run_quantize(&mm);
    t = time_best(run_matmul, &mm, z->budget, NULL, 0);
    add_figure(list, name, "matmul", "cache", mm.rows, mm.cols, t, (double)mm_bytes,
               (double)mm.rows * (double)mm.cols * (double)mm.n_act, threads, 0);
    json_object_set_new(json_array_get(list, json_array_size(list) - 1), "activation_rows",
                        json_integer(mm.n_act));
    if (big.st != QK_OK) return big.st;
    if (small.st != QK_OK) return small.st;
    return mm.st;
}

/* Affine int4 per-group quantization (asymmetric, groups of 128, f16
** scales): "int4_g128" quantize figures; weight bytes are its storage. */
typedef struct affine_ctx {
    qk_affine_scheme scheme;
    const float *x;
    int64_t rows, cols;
    void *codes;
    float *scales;
    int32_t *zps;
    qk_status st;
} affine_ctx;

static void run_affine(void *p) {
    affine_ctx *c = p;
    qk_status st = qk_kernels_affine_quantize_rows(&c->scheme, c->x, c->rows, c->cols, c->codes,
                                                   c->scales, c->zps);
    if (st != QK_OK) c->st = st;
}

static qk_status bench_affine(bench_state *s, int threads, json_t *list) {
    const bench_sizes *z = s->sz;
    qk_affine_scheme sch = qk_affine_scheme_default(4, false);
    sch.granularity = QK_GRAN_GROUP;
    sch.group_size = 128;
    sch.scale_type = QK_TYPE_F16;
    const int64_t groups = z->big_rows * ((z->big_cols + 127) / 128);
    float *scales = malloc((size_t)groups * sizeof *scales);
    int32_t *zps = malloc((size_t)groups * sizeof *zps);
    if (!scales || !zps) {
        free(scales), free(zps);
        return QK_ERR_NOMEM;
    }
    qk_status st = QK_OK;
    for (int k = 0; k < 2 && st == QK_OK; k++) {
        const bool dram = k == 1;
        affine_ctx c = {sch,
                        s->big_x,
                        dram ? z->q_rows : z->small_rows,
                        dram ? z->big_cols : z->small_cols,
                        s->big_q,
                        scales,
                        zps,
                        QK_OK};
        uint64_t bits = 0;
        const int64_t shape[2] = {c.rows, c.cols};
        st = qk_affine_storage_bits(&sch, 2, shape, &bits);
        if (st != QK_OK) break;
        const double t =
            time_best(run_affine, &c, z->budget, dram ? s->flush : NULL, dram ? z->flush_bytes : 0);
        add_figure(list, "int4_g128", "quantize", dram ? "dram" : "cache", c.rows, c.cols, t,
                   (double)bits / 8.0, (double)c.rows * (double)c.cols, threads, 0);
        st = c.st;
    }
    free(scales), free(zps);
    return st;
}

/* Seconds to read the DRAM buffer (read_bytes, 8 times the last-level
** cache): the buffer is read in 16 pieces in order, again and again (so
** every piece comes from DRAM), each piece timed on its own; the sum of
** each piece's best time, so a piece interrupted by another process on a
** busy machine does not count. */
static double dram_read_seconds(const bench_state *s) {
    enum { PIECES = 16 };
    const bench_sizes *z = s->sz;
    double best[PIECES], spent = 0.0;
    for (int p = 0; p < PIECES; p++) best[p] = 1e30;
    const size_t words = z->read_bytes / 8 / PIECES;
    for (int rep = 0; rep < 1000 && (rep < 3 || spent < z->budget); rep++) {
        for (int p = 0; p < PIECES; p++) {
            mem_ctx mc = {.src = (const uint64_t *)s->big_x + (size_t)p * words, .n = words};
            const double t0 = qk_time_seconds();
            mem_read(&mc);
            const double dt = qk_time_seconds() - t0;
            spent += dt;
            if (dt < best[p]) best[p] = dt;
        }
    }
    double total = 0.0;
    for (int p = 0; p < PIECES; p++) total += best[p];
    return total > 0.0 ? total : 1e-9;
}

/* Memory figures and every type at `threads` threads into run. */
static qk_status bench_threads(bench_state *s, int threads, json_t *run, bool print) {
    const bench_sizes *z = s->sz;
    qk_threads_set(threads);
    json_object_set_new(run, "threads", json_integer(threads));
    mem_ctx mc = {.src = (const uint64_t *)s->big_x, .n = z->cache_bytes / 8};
    double t = time_best(mem_read, &mc, z->budget, NULL, 0);
    s->read_gbs[0] = (double)z->cache_bytes / t * 1e-9;
    s->read_gbs[1] = (double)z->read_bytes / dram_read_seconds(s) * 1e-9;
    /* triad in the f32 matrix's memory (after the read buffer's first part) */
    double *base = (double *)s->big_y;
    for (int k = 0; k < 2; k++) {
        const size_t m = k == 0 ? z->cache_bytes / 24 : z->triad_elems;
        mem_ctx tc = {.a = base, .b = base + m, .c = base + 2 * m, .m = m};
        for (size_t i = 0; i < 3 * m; i++) base[i] = (double)(i & 1023);
        t = time_best(mem_triad, &tc, z->budget, NULL, 0);
        s->triad_gbs[k] = (double)m * 24.0 / t * 1e-9;
    }
    json_t *mem = json_object();
    json_object_set_new(mem, "read_cache_gbs", json_real(s->read_gbs[0]));
    json_object_set_new(mem, "read_dram_gbs", json_real(s->read_gbs[1]));
    json_object_set_new(mem, "triad_cache_gbs", json_real(s->triad_gbs[0]));
    json_object_set_new(mem, "triad_dram_gbs", json_real(s->triad_gbs[1]));
    json_object_set_new(mem, "read_dram_bytes", json_integer((json_int_t)z->read_bytes));
    json_object_set_new(run, "memory", mem);
    if (print)
        printf("threads %d: read %.1f GB/s (cache %.1f), triad %.1f GB/s (cache %.1f)\n", threads,
               s->read_gbs[1], s->read_gbs[0], s->triad_gbs[1], s->triad_gbs[0]);
    json_t *list = json_array();
    json_object_set_new(run, "kernels", list);
    for (size_t i = 0; i <= N_BENCH_TYPES; i++) {
        const size_t first = json_array_size(list);
        qk_status st = i < N_BENCH_TYPES ? bench_type(s, BENCH_TYPES[i], threads, list)
                                         : bench_affine(s, threads, list);
        if (st != QK_OK) return st;
        for (size_t j = first; print && j < json_array_size(list); j++) {
            json_t *o = json_array_get(list, j);
            const char *op = json_string_value(json_object_get(o, "op"));
            printf("  %-5s %-10s %-5s %6lldx%-6lld %8.2f GB/s %9.3g elem/s",
                   json_string_value(json_object_get(o, "type")), op,
                   json_string_value(json_object_get(o, "size")),
                   (long long)json_integer_value(json_object_get(o, "rows")),
                   (long long)json_integer_value(json_object_get(o, "cols")),
                   json_real_value(json_object_get(o, "weight_gbs")),
                   json_real_value(json_object_get(o, "elements_per_s")));
            if (json_object_get(o, "input_gbs"))
                printf("  input %.2f GB/s/thread",
                       json_real_value(json_object_get(o, "input_gbs_per_thread")));
            if (json_object_get(o, "read_ratio"))
                printf("  %.0f%% of read",
                       100.0 * json_real_value(json_object_get(o, "read_ratio")));
            if (json_object_get(o, "rmse_search"))
                printf("  rmse %.5f (ggml %.5f, search %.5f)",
                       json_real_value(json_object_get(o, "rmse")),
                       json_real_value(json_object_get(o, "rmse_ggml")),
                       json_real_value(json_object_get(o, "rmse_search")));
            printf("\n");
        }
        fflush(stdout);
    }
    return QK_OK;
}

/* ------------------------------------------------------------------------
** End to end
*/
static int bench_e2e(const char *model_dir, json_t *out, bool print) {
    char path[] = "/tmp/quantkit-bench-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) return cli_fail("bench", "cannot create a temporary file in /tmp");
    close(fd);
    qk_type_request req;
    qk_status st = qk_type_request_parse("q4_k_m", &req);
    qk_quantize_options opt;
    qk_quantize_options_init(&opt, &req);
    qk_quantize_report rep;
    memset(&rep, 0, sizeof rep);
    const double t0 = qk_time_seconds();
    if (st == QK_OK) st = qk_quantize_model(model_dir, path, &opt, &rep);
    const double q_seconds = qk_time_seconds() - t0;
    qk_quantize_report_free(&rep);
    qk_llama_model *model = NULL;
    qk_llama_context *ctx = NULL;
    int32_t *tokens = NULL;
    if (st == QK_OK) st = qk_llama_model_load(path, &model);
    remove(path);
    enum { N_PROMPT = 128, N_DECODE = 64 };
    if (st == QK_OK) st = qk_llama_context_create(model, N_PROMPT + N_DECODE, &ctx);
    if (st != QK_OK) {
        qk_llama_model_free(model);
        return cli_fail_status("bench", st);
    }
    const int32_t n_vocab = qk_llama_model_hparams(model)->n_vocab;
    tokens = malloc((N_PROMPT + N_DECODE) * sizeof *tokens);
    if (!tokens) {
        qk_llama_context_free(ctx);
        qk_llama_model_free(model);
        return cli_fail("bench", "no memory");
    }
    for (int i = 0; i < N_PROMPT + N_DECODE; i++) tokens[i] = (int32_t)((i * 7919 + 13) % n_vocab);
    /* best of 3 prompt runs; decode after the last */
    double t_prompt = 1e30, t_decode = 0.0;
    for (int rep_i = 0; rep_i < 3 && st == QK_OK; rep_i++) {
        qk_llama_context_reset(ctx);
        const double a = qk_time_seconds();
        st = qk_llama_decode(ctx, tokens, N_PROMPT, NULL, false);
        const double dt = qk_time_seconds() - a;
        if (dt < t_prompt) t_prompt = dt;
    }
    const double b = qk_time_seconds();
    for (int i = 0; i < N_DECODE && st == QK_OK; i++)
        st = qk_llama_decode(ctx, tokens + N_PROMPT + i, 1, NULL, false);
    t_decode = qk_time_seconds() - b;
    qk_llama_context_free(ctx);
    qk_llama_model_free(model);
    free(tokens);
    if (st != QK_OK) return cli_fail_status("bench", st);
    json_object_set_new(out, "model", json_string(model_dir));
    json_object_set_new(out, "quantize_type", json_string("q4_k_m"));
    json_object_set_new(out, "quantize_seconds", json_real(q_seconds));
    json_object_set_new(out, "prompt_tokens", json_integer(N_PROMPT));
    json_object_set_new(out, "prompt_tokens_per_s", json_real(N_PROMPT / t_prompt));
    json_object_set_new(out, "decode_tokens", json_integer(N_DECODE));
    json_object_set_new(out, "decode_tokens_per_s", json_real(N_DECODE / t_decode));
    json_object_set_new(out, "threads", json_integer(qk_threads_get()));
    if (print)
        printf("end to end (%d threads): quantize %s to q4_k_m %.2f s; prompt %.1f tokens/s, "
               "decode %.1f tokens/s\n",
               qk_threads_get(), model_dir, q_seconds, N_PROMPT / t_prompt, N_DECODE / t_decode);
    return 0;
}

/* ------------------------------------------------------------------------
** The acceptance figures, read back from the runs: per thread
** count, matvec of the DRAM matrix as a fraction of the read bandwidth
** (q4_0, q4_k, q8_0), quantization input GB/s per thread of the DRAM
** matrix (q4_0, q8_0: bar 8; q2_k, q4_k, q6_k: bar 1) and the K formats'
** RMSE ratio to the search (bar 1).
*/
static json_t *find_figure(json_t *run, const char *type, const char *op, const char *size) {
    json_t *list = json_object_get(run, "kernels");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *o = json_array_get(list, i);
        if (strcmp(json_string_value(json_object_get(o, "type")), type) == 0 &&
            strcmp(json_string_value(json_object_get(o, "op")), op) == 0 &&
            strcmp(json_string_value(json_object_get(o, "size")), size) == 0)
            return o;
    }
    return NULL;
}

static double num(json_t *o, const char *key) {
    return o ? json_number_value(json_object_get(o, key)) : 0.0;
}

static json_t *acceptance(json_t *runs, bool print) {
    json_t *acc = json_array();
    for (size_t r = 0; r < json_array_size(runs); r++) {
        json_t *run = json_array_get(runs, r);
        json_t *a = json_object();
        const int threads = (int)json_integer_value(json_object_get(run, "threads"));
        json_object_set_new(a, "threads", json_integer(threads));
        if (print) printf("acceptance at %d thread%s:", threads, threads == 1 ? "" : "s");
        static const char *mv[] = {"q4_0", "q4_k", "q8_0"};
        for (int i = 0; i < 3; i++) {
            char key[64];
            const double v = num(find_figure(run, mv[i], "matvec", "dram"), "read_ratio");
            snprintf(key, sizeof key, "matvec_%s_read_ratio", mv[i]);
            json_object_set_new(a, key, json_real(v));
            if (print) printf(" matvec %s %.0f%% of read;", mv[i], 100.0 * v);
        }
        static const char *qt[] = {"q4_0", "q8_0", "q2_k", "q4_k", "q6_k"};
        for (int i = 0; i < 5; i++) {
            char key[64];
            json_t *f = find_figure(run, qt[i], "quantize", "dram");
            snprintf(key, sizeof key, "quantize_%s_input_gbs_per_thread", qt[i]);
            json_object_set_new(a, key, json_real(num(f, "input_gbs_per_thread")));
            if (print)
                printf(" quantize %s %.2f GB/s/thread;", qt[i], num(f, "input_gbs_per_thread"));
            if (i >= 2) {
                json_t *c = find_figure(run, qt[i], "quantize", "cache");
                const double rg = num(c, "rmse") / num(c, "rmse_ggml");
                snprintf(key, sizeof key, "quantize_%s_rmse_ratio_to_ggml", qt[i]);
                json_object_set_new(a, key, json_real(rg));
                const double ratio = num(c, "rmse") / num(c, "rmse_search");
                snprintf(key, sizeof key, "quantize_%s_rmse_ratio_to_search", qt[i]);
                json_object_set_new(a, key, json_real(ratio));
                if (print) printf(" rmse/ggml %.4f, rmse/search %.4f;", rg, ratio);
            }
        }
        if (print) printf("\n");
        json_array_append_new(acc, a);
    }
    return acc;
}

/* ------------------------------------------------------------------------
** Command
*/
static bool alloc_state(bench_state *s, const bench_sizes *z) {
    const size_t big_n = (size_t)(z->big_rows * z->big_cols);
    size_t f32_bytes = big_n * 4;
    if (f32_bytes < z->read_bytes) f32_bytes = z->read_bytes;
    size_t y_bytes = big_n * 4;
    if (y_bytes < z->triad_elems * 24) y_bytes = z->triad_elems * 24;
    const size_t act_cols = z->big_cols > z->mm_cols ? z->big_cols : z->mm_cols;
    s->big_x = qk_aligned_alloc(64, f32_bytes);
    s->big_q = qk_aligned_alloc(64, big_n * 2); /* f16/bf16 are the largest types */
    s->big_y = qk_aligned_alloc(64, y_bytes);
    s->small_q = qk_aligned_alloc(64, (size_t)(z->mm_rows * z->mm_cols) * 2 +
                                          (size_t)(z->small_rows * z->small_cols) * 2);
    s->small_y = qk_aligned_alloc(64, (size_t)(z->small_rows * z->small_cols) * 4);
    s->act = qk_aligned_alloc(64, (size_t)z->mm_n * act_cols * 4);
    s->flush = qk_aligned_alloc(64, z->flush_bytes);
    if (!s->big_x || !s->big_q || !s->big_y || !s->small_q || !s->small_y || !s->act || !s->flush)
        return false;
    fill_normal(s->big_x, f32_bytes / 4, 1);
    fill_normal(s->act, (size_t)z->mm_n * act_cols, 2);
    memset(s->flush, 1, z->flush_bytes);
    return true;
}

static void free_state(bench_state *s) {
    qk_aligned_free(s->big_x);
    qk_aligned_free(s->big_q);
    qk_aligned_free(s->big_y);
    qk_aligned_free(s->small_q);
    qk_aligned_free(s->small_y);
    qk_aligned_free(s->act);
    qk_aligned_free(s->flush);
}

int cmd_bench(int argc, char **argv) {
    bool quick = false;
    const char *model_dir = NULL;
    double seconds = 0.2;
    const cli_option options[] = {
        {"quick", CLI_FLAG, &quick, "small sizes (a smoke test; figures not DRAM-sized)"},
        {"model", CLI_STRING, &model_dir,
         "HF model folder: also quantize it to q4_k_m and time prompt and decode"},
        {"seconds", CLI_DOUBLE, &seconds, "time spent per figure (default 0.2)"},
    };
    const size_t n_options = sizeof options / sizeof options[0];
    cli_common common;
    const char *positional[1];
    int n_positional;
    if (!cli_parse("bench", argc, argv, options, n_options, &common, positional, 0, &n_positional))
        return 2;
    if (common.help) {
        cli_usage("bench", "[--quick] [--model DIR] [--seconds S]", options, n_options);
        return 0;
    }
    if (!(seconds >= 0.0 && seconds <= 60.0))
        return cli_fail("bench", "--seconds must be in [0, 60]");
    const int max_threads = qk_threads_get();
    bench_sizes z = {.big_rows = 4096,
                     .big_cols = 14336,
                     .q_rows = 1024,
                     .small_rows = 64,
                     .small_cols = 2048,
                     .mm_rows = 512,
                     .mm_cols = 2048,
                     .mm_n = 64,
                     .read_bytes = (size_t)256 << 20,
                     .triad_elems = (size_t)4 << 20,
                     .flush_bytes = (size_t)128 << 20,
                     .cache_bytes = (size_t)256 << 10,
                     .budget = seconds};
    if (quick)
        z = (bench_sizes){.big_rows = 32,
                          .big_cols = 1024,
                          .q_rows = 16,
                          .small_rows = 8,
                          .small_cols = 512,
                          .mm_rows = 32,
                          .mm_cols = 512,
                          .mm_n = 8,
                          .read_bytes = (size_t)1 << 20,
                          .triad_elems = (size_t)1 << 15,
                          .flush_bytes = (size_t)1 << 20,
                          .cache_bytes = (size_t)64 << 10,
                          .budget = seconds < 0.01 ? seconds : 0.01};
    bench_state s = {.sz = &z};
    if (!alloc_state(&s, &z)) {
        free_state(&s);
        return cli_fail("bench", "no memory for the benchmark buffers");
    }
    const bool print = !common.json;
    json_t *root = json_object();
    json_object_set_new(root, "isa", json_string(qk_isa_name(qk_isa_get())));
    json_object_set_new(root, "quick", json_boolean(quick));
    json_object_set_new(root, "seconds_per_figure", json_real(z.budget));
    /* the machine's 1-minute load average before and after: figures from a
    ** busy machine are lower bounds */
    double load[1] = {-1.0};
    if (getloadavg(load, 1) != 1) load[0] = -1.0;
    json_object_set_new(root, "load_average_start", json_real(load[0]));
    json_t *runs = json_array();
    json_object_set_new(root, "runs", runs);
    if (print)
        printf("quantkit bench: kernels %s, DRAM matrix %lldx%lld, best of runs over %.2f s\n",
               qk_isa_name(qk_isa_get()), (long long)z.big_rows, (long long)z.big_cols, z.budget);
    int rc = 0;
    const int counts[2] = {1, max_threads};
    for (int k = 0; k < (max_threads > 1 ? 2 : 1) && rc == 0; k++) {
        json_t *run = json_object();
        json_array_append_new(runs, run);
        qk_status st = bench_threads(&s, counts[k], run, print);
        if (st != QK_OK) rc = cli_fail_status("bench", st);
    }
    qk_threads_set(max_threads);
    free_state(&s);
    if (rc == 0) json_object_set_new(root, "acceptance", acceptance(runs, print));
    if (getloadavg(load, 1) != 1) load[0] = -1.0;
    json_object_set_new(root, "load_average_end", json_real(load[0]));
    if (print)
        printf("load average (1 min): %.2f at the start, %.2f at the end\n",
               json_real_value(json_object_get(root, "load_average_start")), load[0]);
    if (rc == 0 && model_dir) {
        json_t *e2e = json_object();
        json_object_set_new(root, "e2e", e2e);
        rc = bench_e2e(model_dir, e2e, print);
    } else {
        json_object_set_new(root, "e2e", json_null());
    }
    if (rc == 0 && common.json)
        cli_json_print(root);
    else
        json_decref(root);
    return rc;
}
