/*
** quantkit report: the data behind `quantkit report REF QUANT -o report.html`
** and the three steps that fill and show it (files of the CLI, public API
** only; a failing step prints one error line, as commands do, and returns
** false):
**   report_analysis.c  per-tensor error statistics, histograms, and the
**                      outlier-impact comparison of chosen tensors;
**   report_plot.c      the figures, drawn by PLplot (SVG for the page, PNG
**                      for --png);
**   report_sens.c      sensitivity ranking and mixed-precision allocation
**                      (quantkit/sensitivity.h, quantkit/mixed.h);
**   report_html.c      one self-contained HTML page (inline CSS and SVG, no
**                      script, nothing fetched), written atomically.
*/
#ifndef QK_REPORT_H
#define QK_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quantkit/quantkit.h"

/* One model of the comparison. */
typedef struct rp_model_info {
    const char *path;   /* as given (borrowed from argv) */
    const char *format; /* "hf", "gguf", "llama2c" */
    qk_model_hparams hparams;
    size_t n_tensors;
    uint64_t params;    /* elements of every tensor */
    uint64_t bytes;     /* stored bytes of every tensor */
    double bpw;         /* 8 * bytes / params */
    char type_mix[256]; /* "q4_K 36, q6_K 5, f32 13" */
} rp_model_info;

/* One tensor (a row of the table): the union of both models' tensors, in
** REF's order, then those only QUANT has. */
typedef struct rp_tensor_row {
    char *name; /* owned */
    int32_t ndim;
    int64_t shape[QK_MAX_DIMS];
    int64_t numel;
    bool in_ref, in_quant;
    size_t ref_index, quant_index; /* source indices when present */
    qk_type ref_type, quant_type;
    size_t ref_bytes, quant_bytes;
    double bpw;            /* QUANT's stored bits per weight (0 when absent) */
    bool compared;         /* both present with the same element count */
    qk_error_stats err;    /* QUANT against REF (when compared) */
    qk_outlier_stats outl; /* outliers of REF's values at k (when in_ref) */
    int32_t detail;        /* index into rp_report.details, or -1 */
} rp_tensor_row;

/* A histogram over [lo, hi] with `bins` equal bins (the last bin is closed). */
typedef struct rp_hist {
    double lo, hi;
    int32_t bins;
    double *counts; /* owned, `bins` entries */
} rp_hist;

/* One way of quantizing a tensor in the outlier-impact comparison. */
enum {
    RP_METHOD_STORED = 0,     /* QUANT's own format */
    RP_METHOD_MINMAX = 1,     /* RTN per tensor, min-max range */
    RP_METHOD_PERCENTILE = 2, /* RTN per tensor, percentile range */
    RP_METHOD_KSIGMA = 3,     /* RTN per tensor after clipping at mean +- k std */
    RP_METHOD_CHANNEL = 4     /* RTN per channel (rows), min-max */
};
typedef struct rp_method {
    int32_t kind; /* RP_METHOD_* */
    char name[64];
    double bpw;
    qk_error_stats err;
    double inlier_mse, outlier_mse; /* error split by the k-sigma outlier mask */
} rp_method;

enum { RP_MAX_METHODS = 5 };

/* A chosen tensor: histograms and the outlier-impact comparison. */
typedef struct rp_detail {
    size_t row;
    rp_hist orig, deq; /* the same bins, over the range of both */
    rp_hist err;       /* QUANT - REF, symmetric around 0 */
    int32_t n_methods; /* 0 when the comparison does not apply (not 2-D) */
    rp_method methods[RP_MAX_METHODS];
} rp_detail;

/* Perplexity / KL of QUANT with REF as the reference (--text). */
typedef struct rp_ppl {
    bool present;
    const char *text_path;
    int32_t n_ctx;
    int64_t n_tokens;
    qk_ppl_result res;
} rp_ppl;

/* A figure: SVG text for the page and, with --png, the same figure as PNG. */
typedef struct rp_figure {
    char file_stem[160]; /* PNG file name without ".png" */
    char *svg;           /* owned, NUL-terminated; NULL when not drawn */
    size_t svg_len;
    unsigned char *png; /* owned; NULL unless PNGs were asked for */
    size_t png_len;
} rp_figure;

/* What the report options chose. */
typedef struct rp_settings {
    double outlier_k;       /* k of |x - mean| > k * std */
    int32_t clip_bits;      /* bits of the RTN comparison */
    double clip_percentile; /* two-sided percentile clipping */
    int32_t hist_bins;
    const char *tensors_regex; /* NULL: the default choice */
    int32_t n_worst;           /* default choice: this many lowest SQNR */
} rp_settings;

/* Sensitivity ranking and mixed-precision allocation (report_sens.c). */
typedef struct rp_sens {
    bool present;
    const char *calib_path; /* statistics file, or NULL (every m_j = 1) */
    qk_sensitivity s;       /* owned: REF's quantizable tensors x candidates */
    size_t *order;          /* owned: indices into s.tensors, most sensitive first */
    int32_t rank_format;    /* index into s.formats the ranking uses */
    double quant_predicted; /* summed predicted loss of QUANT's own formats (NaN
                               when one is not a candidate) */
    uint64_t budget;        /* bytes of the allocation's file (0: none) */
    bool budget_is_quant;   /* the budget is QUANT's file size (no --budget) */
    bool alloc_present;
    qk_mixed_result alloc; /* owned when alloc_present */
    char alloc_note[320];  /* why there is no allocation */
} rp_sens;

/* What the command line asked of the sensitivity. */
typedef struct rp_sens_request {
    const char *ref_path, *quant_path, *html_path; /* html_path: temporary files go next to it */
    const char *calib_path;                        /* --calib STATS, or NULL */
    const char *tokenizer_path;
    size_t n_formats; /* 0: the defaults plus QUANT's formats */
    qk_type formats[QK_SENS_MAX_FORMATS];
    uint64_t budget; /* --budget, 0: QUANT's file size */
    bool json;       /* progress as for --json */
} rp_sens_request;

typedef struct rp_report {
    rp_settings settings;
    rp_model_info ref, quant;
    rp_tensor_row *rows; /* owned */
    size_t n_rows;
    size_t n_compared;
    qk_error_stats total; /* over every compared tensor */
    rp_detail *details;   /* owned */
    size_t n_details;
    rp_ppl ppl;
    rp_sens sens;
    double seconds; /* time to make the report */
    /* figures (owned) */
    rp_figure fig_sqnr;     /* SQNR of every tensor */
    rp_figure *fig_hist;    /* n_details histogram figures */
    rp_figure fig_outliers; /* outlier-impact comparison */
} rp_report;

/* ---- report_analysis.c */

/* Fill ref, quant, rows, n_compared and total from two open sources. The
** progress callback (may be NULL) gets the rows done so far. */
typedef void (*rp_progress_fn)(void *user, size_t done, size_t total);
bool rp_compare_models(const qk_model_source *ref, const qk_model_source *quant,
                       const char *ref_path, const char *quant_path, rp_report *r,
                       rp_progress_fn progress, void *progress_user);

/* Mark the tensors to show in detail: those whose name matches
** settings.tensors_regex (POSIX extended), or by default the n_worst
** compared tensors of lowest finite SQNR plus token_embd.weight and
** output.weight. Allocates r->details. */
bool rp_choose_tensors(rp_report *r);

/* Histograms and outlier-impact comparison of every chosen tensor. */
bool rp_compute_details(const qk_model_source *ref, const qk_model_source *quant, rp_report *r);

/* Release everything the report owns (figures included). */
void rp_report_free(rp_report *r);

/* ---- report_sens.c */

/* The sensitivity of REF's quantizable tensors in every candidate format,
** ranked, and the allocation for the budget (needs r->rows). An explicit
** budget that cannot be met fails; QUANT's size only leaves a note. */
bool rp_compute_sensitivity(rp_report *r, const rp_sens_request *req);
void rp_sens_free(rp_sens *sn);

/* ---- report_plot.c */

/* Draw every figure of the report: SVG always, PNG too when want_png. */
bool rp_draw_figures(rp_report *r, bool want_png);

/* ---- report_html.c */

/* Write the page to `path` (atomically: temporary file, fsync, rename). */
bool rp_write_html(const rp_report *r, const char *path);

/* A file-name-safe form of a tensor name ([A-Za-z0-9._-], others '_'). */
void rp_safe_name(const char *name, char *out, size_t size);

#endif
