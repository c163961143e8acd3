/*
** quantkit report, the figures: drawn with PLplot, once with its "svg"
** device (text stays text, the page inlines it) and, for --png, once with
** "pngcairo" (Debian's plplot-driver-cairo). Both devices write into memory
** (open_memstream handed to plsfile; plend closes it); the caller writes the
** bytes out atomically. PLplot keeps one global plotting stream, so figures
** are drawn one after another on the calling thread.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plplot.h>

#include "cli.h"
#include "report.h"

static const char *CMD = "report";

/* Colour map 0 (PLplot's indexed colours): white page, dark axes, then a
** qualitative palette for series. */
enum {
    C_BG = 0,
    C_FG = 1,
    C_GRID = 2,
    C_SERIES = 3,
    N_SERIES = 10,
    N_COLORS = C_SERIES + N_SERIES
};
static const PLINT PALETTE[N_COLORS][3] = {
    {255, 255, 255}, {34, 34, 34},   {200, 200, 200}, {31, 119, 180}, {255, 127, 14},
    {214, 39, 40},   {44, 160, 44},  {148, 103, 189}, {140, 86, 75},  {227, 119, 194},
    {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

/* The message of PLplot's last non-fatal error (plabort) during a figure. */
static char g_plot_error[512];

static void on_plabort(PLCHAR_VECTOR message) {
    if (!g_plot_error[0]) snprintf(g_plot_error, sizeof g_plot_error, "%s", message);
}

static int on_plexit(PLCHAR_VECTOR message) {
    fprintf(stderr, "quantkit report: error: PLplot: %s\n", message);
    return 1;
}

/* PLplot reads '#' as the start of an escape sequence: double it. */
static void pl_text(const char *in, char *out, size_t size) {
    size_t k = 0;
    for (; *in && k + 2 < size; in++) {
        if (*in == '#') out[k++] = '#';
        out[k++] = *in;
    }
    out[k] = '\0';
}

static bool device_available(const char *name) {
    int n = 128;
    const char **menu = malloc((size_t)n * sizeof *menu), **devs = malloc((size_t)n * sizeof *devs);
    bool found = false;
    if (menu && devs) {
        plgDevs(&menu, &devs, &n);
        for (int k = 0; k < n && !found; k++) found = strcmp(devs[k], name) == 0;
    }
    free(menu);
    free(devs);
    return found;
}

typedef void (*draw_fn)(const void *data);

/* Draw one figure on device `dev` into memory. */
static bool render_one(const char *dev, PLINT width, PLINT height, draw_fn draw, const void *data,
                       char **out, size_t *out_len) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cli_fail(CMD, "cannot open a memory stream for a figure"), false;
    PLINT r[N_COLORS], g[N_COLORS], b[N_COLORS];
    for (int k = 0; k < N_COLORS; k++) {
        r[k] = PALETTE[k][0];
        g[k] = PALETTE[k][1];
        b[k] = PALETTE[k][2];
    }
    g_plot_error[0] = '\0';
    plsabort(on_plabort);
    plsexit(on_plexit);
    plsdev(dev);
    plsfile(f); /* plend closes it */
    plspage(0, 0, width, height, 0, 0);
    plscmap0n(N_COLORS);
    plscmap0(r, g, b, N_COLORS);
    plinit();
    plfontld(1);
    pladv(0);
    draw(data);
    plend();
    if (g_plot_error[0]) {
        free(buf);
        return cli_fail(CMD, "PLplot (%s device): %s", dev, g_plot_error), false;
    }
    *out = buf;
    *out_len = len;
    return true;
}

/* PLplot's SVG names its clip paths "text-clippingN" in every file: prefix
** them with the figure's stem so ids stay unique on the page, and drop the
** XML prolog and DOCTYPE (not allowed inside HTML). */
static bool svg_for_html(const char *stem, char **svg, size_t *len) {
    const char *start = strstr(*svg, "<svg");
    if (!start) return cli_fail(CMD, "PLplot's SVG for %s has no <svg> element", stem), false;
    static const char *const keys[] = {"id=\"text-clipping", "url(#text-clipping"};
    size_t prefix_len = strlen(stem) + 1;
    size_t count = 0;
    for (size_t k = 0; k < 2; k++)
        for (const char *p = strstr(start, keys[k]); p; p = strstr(p + 1, keys[k])) count++;
    size_t n = strlen(start) + count * prefix_len + 1;
    char *out = malloc(n), *o = out;
    if (!out) return cli_fail(CMD, "no memory for figure %s", stem), false;
    const char *p = start;
    for (;;) {
        const char *hit = NULL;
        size_t hit_key = 0;
        for (size_t k = 0; k < 2; k++) {
            const char *h = strstr(p, keys[k]);
            if (h && (!hit || h < hit)) hit = h, hit_key = k;
        }
        if (!hit) break;
        size_t head = (size_t)(hit - p) + (hit_key == 0 ? 4 : 5); /* through `id="` or `url(#` */
        memcpy(o, p, head);
        o += head;
        o += sprintf(o, "%s-", stem);
        p += head;
    }
    strcpy(o, p);
    /* PLplot indents every attribute on its own line: fold each run of
    ** white space that holds a newline into one space (such runs are only
    ** inside tags or between elements; text content stays on one line) */
    char *w = out;
    for (const char *q = out; *q;) {
        const char *e = q;
        bool newline = false;
        while (*e == ' ' || *e == '\n' || *e == '\t') newline |= *e++ == '\n';
        if (e == q) {
            *w++ = *q++;
        } else if (newline) {
            *w++ = ' ';
            q = e;
        } else {
            while (q < e) *w++ = *q++;
        }
    }
    *w = '\0';
    /* the page shows a figure at its size in pixels (as its PNG), not in
    ** points: width="900pt" becomes width="900" (same length, padded) */
    char *tag_end = strchr(out, '>');
    for (size_t k = 0; k < 2 && tag_end; k++) {
        char *a = strstr(out, k == 0 ? " width=\"" : " height=\"");
        if (!a || a > tag_end) continue;
        char *q = strchr(a + 3, '"');
        char *e = q ? strchr(q + 1, '"') : NULL;
        if (e && e - q > 3 && e < tag_end && memcmp(e - 2, "pt", 2) == 0) {
            memmove(e - 2, e, (size_t)(tag_end - e));
            tag_end[-2] = ' ';
            tag_end[-1] = ' ';
        }
    }
    free(*svg);
    *svg = out;
    *len = strlen(out);
    return true;
}

static bool render(rp_figure *fig, PLINT width, PLINT height, draw_fn draw, const void *data,
                   bool want_png) {
    if (!render_one("svg", width, height, draw, data, &fig->svg, &fig->svg_len)) return false;
    if (!svg_for_html(fig->file_stem, &fig->svg, &fig->svg_len)) return false;
    if (want_png) {
        char *png;
        if (!render_one("pngcairo", width, height, draw, data, &png, &fig->png_len)) return false;
        fig->png = (unsigned char *)png;
    }
    return true;
}

/* A filled rectangle [x0, x1] x [y0, y1] in world coordinates. */
static void box(double x0, double x1, double y0, double y1) {
    PLFLT x[4] = {x0, x1, x1, x0}, y[4] = {y0, y0, y1, y1};
    plfill(4, x, y);
}

static void dashed_vline(double x, double y0, double y1) {
    PLFLT xs[2] = {x, x}, ys[2] = {y0, y1};
    pllsty(2);
    plline(2, xs, ys);
    pllsty(1);
}

/* ---- SQNR of every tensor: horizontal bars, one colour per QUANT type */

/* pixels: per bar, under and over the plot */
#define SQNR_ROW 16.0
#define SQNR_BOTTOM 70.0
#define SQNR_TOP 50.0

typedef struct sqnr_data {
    const rp_report *r;
} sqnr_data;

static int type_color(qk_type *seen, int *n_seen, qk_type t) {
    for (int k = 0; k < *n_seen; k++)
        if (seen[k] == t) return C_SERIES + k % N_SERIES;
    seen[*n_seen] = t;
    return C_SERIES + (*n_seen)++ % N_SERIES;
}

static void draw_sqnr(const void *data) {
    const rp_report *r = ((const sqnr_data *)data)->r;
    double hi = 0, lo = 0;
    size_t n = 0;
    for (size_t k = 0; k < r->n_rows; k++) {
        const rp_tensor_row *row = &r->rows[k];
        if (!row->compared) continue;
        n++;
        if (isfinite(row->err.sqnr_db)) {
            hi = fmax(hi, row->err.sqnr_db);
            lo = fmin(lo, row->err.sqnr_db);
        }
    }
    hi = hi > 0 ? hi * 1.08 : 1.0;
    plschr(0, 0.7);
    plcol0(C_FG);
    /* names need room on the left: 30% of the width */
    const double page_h = SQNR_BOTTOM + SQNR_ROW * (double)n + SQNR_TOP;
    plvpor(0.30, 0.97, SQNR_BOTTOM / page_h, 1.0 - SQNR_TOP / page_h);
    plwind(lo, hi, 0, (double)n);
    plcol0(C_GRID);
    plbox("g", 0, 0, "", 0, 0);
    plcol0(C_FG);
    plbox("bcnt", 0, 0, "bc", 0, 0);
    qk_type seen[QK_TYPE_COUNT];
    int n_seen = 0;
    size_t i = 0;
    char label[160];
    for (size_t k = 0; k < r->n_rows; k++) {
        const rp_tensor_row *row = &r->rows[k];
        if (!row->compared) continue;
        const double y0 = (double)(n - 1 - i) + 0.15, y1 = (double)(n - 1 - i) + 0.85;
        const bool exact = !isfinite(row->err.sqnr_db);
        plcol0(exact ? C_GRID : type_color(seen, &n_seen, row->quant_type));
        box(0, exact ? hi : row->err.sqnr_db, y0, y1);
        plcol0(C_FG);
        pl_text(row->name, label, sizeof label);
        plmtex("lv", 0.6, (y0 + y1) / 2 / (double)n, 1.0, label);
        if (exact) plptex(hi * 0.98, (y0 + y1) / 2, 1, 0, 1.0, "exact (no error)");
        i++;
    }
    if (isfinite(r->total.sqnr_db)) {
        plcol0(C_FG);
        dashed_vline(r->total.sqnr_db, 0, (double)n);
    }
    plschr(0, 0.9);
    pllab("SQNR (dB, higher is better; dashed: all tensors together)", "", "");
    /* legend: the QUANT types */
    PLINT opts[QK_TYPE_COUNT], colors[QK_TYPE_COUNT], patterns[QK_TYPE_COUNT],
        text_colors[QK_TYPE_COUNT];
    PLFLT scales[QK_TYPE_COUNT], widths[QK_TYPE_COUNT];
    const char *names[QK_TYPE_COUNT];
    for (int k = 0; k < n_seen; k++) {
        opts[k] = PL_LEGEND_COLOR_BOX;
        colors[k] = C_SERIES + k % N_SERIES;
        patterns[k] = 0;
        scales[k] = 0.8;
        widths[k] = 1;
        text_colors[k] = C_FG;
        names[k] = qk_type_name(seen[k]);
    }
    if (n_seen > 0) {
        PLFLT lw, lh;
        plschr(0, 0.8);
        pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
                 PL_POSITION_TOP | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 0, 0.02, 0.1, C_BG,
                 C_FG, 1, 1, n_seen, n_seen, opts, 1.0, 0.8, 2.0, 0, text_colors, names, colors,
                 patterns, scales, widths, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    }
}

/* ---- histograms of one tensor: original, dequantized, error */

typedef struct hist_data {
    const rp_report *r;
    const rp_detail *d;
} hist_data;

/* One panel in the horizontal slice [x0, x1] of the page. */
static void draw_hist_panel(double x0, double x1, const rp_hist *h, int color, const char *xlabel,
                            const char *title, double mark_lo, double mark_hi) {
    double ymax = 0;
    for (int32_t k = 0; k < h->bins; k++) ymax = fmax(ymax, h->counts[k]);
    const double base = -0.3; /* log10 of 0.5: a single count still shows */
    const double top = log10(fmax(ymax, 1.0)) + 0.3;
    const double wx = x1 - x0;
    plvpor(x0 + 0.17 * wx, x0 + 0.90 * wx, 0.2, 0.85);
    plwind(h->lo, h->hi, base, top);
    plcol0(C_GRID);
    plbox("g", 0, 0, "g", 1, 0);
    /* the histogram as one filled step outline (one SVG element, not one per bin) */
    const size_t n_pts = 2 * (size_t)h->bins + 2;
    PLFLT *px = malloc(n_pts * sizeof *px), *py = malloc(n_pts * sizeof *py);
    if (px && py) {
        const double w = (h->hi - h->lo) / h->bins;
        size_t p = 0;
        px[p] = h->lo, py[p++] = base;
        for (int32_t k = 0; k < h->bins; k++) {
            const double y = h->counts[k] > 0 ? log10(h->counts[k]) : base;
            px[p] = h->lo + k * w, py[p++] = y;
            px[p] = h->lo + (k + 1) * w, py[p++] = y;
        }
        px[p] = h->hi, py[p++] = base;
        plcol0(color);
        plfill((PLINT)p, px, py);
    }
    free(px);
    free(py);
    plcol0(C_FG);
    if (mark_lo > h->lo && mark_lo < h->hi) dashed_vline(mark_lo, base, top);
    if (mark_hi > h->lo && mark_hi < h->hi) dashed_vline(mark_hi, base, top);
    plbox("bcnt", 0, 0, "bcntlv", 1, 0);
    pllab(xlabel, "count", title);
}

static void draw_hist(const void *data) {
    const hist_data *hd = data;
    const rp_detail *d = hd->d;
    const rp_tensor_row *row = &hd->r->rows[d->row];
    const bool has_q = row->compared;
    char title[256], name[160];
    pl_text(row->name, name, sizeof name);
    const double third = has_q ? 1.0 / 3.0 : 1.0;
    plschr(0, 0.8);
    snprintf(title, sizeof title, "%s: original (%s)", name, qk_type_name(row->ref_type));
    draw_hist_panel(0, third, &d->orig, C_SERIES, "value (dashed: mean \xc2\xb1 k std)", title,
                    row->outl.lo, row->outl.hi);
    if (!has_q) return;
    snprintf(title, sizeof title, "dequantized (%s, %.2f bits/weight)",
             qk_type_name(row->quant_type), row->bpw);
    draw_hist_panel(third, 2 * third, &d->deq, C_SERIES + 1, "value", title, row->outl.lo,
                    row->outl.hi);
    snprintf(title, sizeof title, "error = dequantized - original");
    char xlabel[64];
    if (isfinite(row->err.sqnr_db))
        snprintf(xlabel, sizeof xlabel, "error (SQNR %.2f dB)", row->err.sqnr_db);
    else
        snprintf(xlabel, sizeof xlabel, "error (none: exact)");
    draw_hist_panel(2 * third, 1.0, &d->err, C_SERIES + 2, xlabel, title, NAN, NAN);
}

/* ---- outlier impact: SQNR of each method, grouped by tensor */

typedef struct outlier_data {
    const rp_report *r;
    int32_t n_methods; /* of the group with the most */
    size_t n_groups;
} outlier_data;

/* pixels: 11 per bar slot, 70 under the plot, the legend over it */
static double outliers_height(const outlier_data *od) {
    return 70.0 + 11.0 * (od->n_methods + 1.0) * (double)od->n_groups + 40.0 + 20.0 * od->n_methods;
}

static void draw_outliers(const void *data) {
    const outlier_data *od = data;
    const rp_report *r = od->r;
    double hi = 0, lo = 0;
    for (size_t di = 0; di < r->n_details; di++)
        for (int32_t m = 0; m < r->details[di].n_methods; m++) {
            double s = r->details[di].methods[m].err.sqnr_db;
            if (isfinite(s)) hi = fmax(hi, s), lo = fmin(lo, s);
        }
    hi = hi > 0 ? hi * 1.08 : 1.0;
    const double slot = (double)od->n_methods + 1.0; /* bars per group plus a gap */
    const double n_y = slot * (double)od->n_groups;
    const double page_h = outliers_height(od);
    plschr(0, 0.75);
    plvpor(0.30, 0.97, 70.0 / page_h, 1.0 - (40.0 + 20.0 * od->n_methods) / page_h);
    plwind(lo, hi, 0, n_y);
    plcol0(C_GRID);
    plbox("g", 0, 0, "", 0, 0);
    plcol0(C_FG);
    plbox("bcnt", 0, 0, "bc", 0, 0);
    char label[160];
    size_t g = 0;
    for (size_t di = 0; di < r->n_details; di++) {
        const rp_detail *d = &r->details[di];
        if (d->n_methods == 0) continue;
        const double top = n_y - (double)g * slot;
        for (int32_t m = 0; m < d->n_methods; m++) {
            const double y1 = top - 0.5 - m, y0 = y1 - 0.8;
            double s = d->methods[m].err.sqnr_db;
            plcol0(C_SERIES + d->methods[m].kind % N_SERIES);
            box(0, isfinite(s) ? s : hi, y0, y1);
        }
        plcol0(C_FG);
        pl_text(r->rows[d->row].name, label, sizeof label);
        plmtex("lv", 0.6, (top - 0.5 - d->n_methods / 2.0) / n_y, 1.0, label);
        g++;
    }
    plschr(0, 0.9);
    pllab("SQNR against the original (dB, higher is better)", "", "");
    /* legend: every method kind that occurs, by kind (its colour) */
    PLINT opts[RP_MAX_METHODS], colors[RP_MAX_METHODS], patterns[RP_MAX_METHODS],
        text_colors[RP_MAX_METHODS];
    PLFLT scales[RP_MAX_METHODS], widths[RP_MAX_METHODS];
    const char *names[RP_MAX_METHODS];
    PLINT n_legend = 0;
    for (int32_t kind = 0; kind < RP_MAX_METHODS; kind++) {
        const char *name = NULL;
        for (size_t di = 0; di < r->n_details && !name; di++)
            for (int32_t m = 0; m < r->details[di].n_methods; m++)
                if (r->details[di].methods[m].kind == kind) name = r->details[di].methods[m].name;
        if (!name) continue;
        opts[n_legend] = PL_LEGEND_COLOR_BOX;
        colors[n_legend] = C_SERIES + kind % N_SERIES;
        patterns[n_legend] = 0;
        scales[n_legend] = 0.8;
        widths[n_legend] = 1;
        text_colors[n_legend] = C_FG;
        /* the stored format's name differs per tensor: name it generically */
        names[n_legend] = kind == RP_METHOD_STORED ? "as stored in QUANT" : name;
        n_legend++;
    }
    PLFLT lw, lh;
    plschr(0, 0.8);
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_TOP | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 0, 0.02, 0.1, C_BG, C_FG,
             1, n_legend, 1, n_legend, opts, 1.0, 0.8, 2.0, 0, text_colors, names, colors, patterns,
             scales, widths, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
}

bool rp_draw_figures(rp_report *r, bool want_png) {
    if (!device_available("svg"))
        return cli_fail(CMD, "PLplot has no 'svg' device (Debian package libplplot17)"), false;
    if (want_png && !device_available("pngcairo"))
        return cli_fail(CMD, "PLplot has no 'pngcairo' device for --png (Debian package "
                             "plplot-driver-cairo)"),
               false;
    if (r->n_compared > 0) {
        snprintf(r->fig_sqnr.file_stem, sizeof r->fig_sqnr.file_stem, "sqnr");
        sqnr_data sd = {r};
        const PLINT h = (PLINT)(SQNR_BOTTOM + SQNR_ROW * (double)r->n_compared + SQNR_TOP);
        if (!render(&r->fig_sqnr, 900, h, draw_sqnr, &sd, want_png)) return false;
    }
    if (r->n_details > 0) {
        r->fig_hist = calloc(r->n_details, sizeof *r->fig_hist);
        if (!r->fig_hist) return cli_fail(CMD, "no memory for the figures"), false;
    }
    outlier_data od = {r, 0, 0};
    for (size_t di = 0; di < r->n_details; di++) {
        const rp_detail *d = &r->details[di];
        const rp_tensor_row *row = &r->rows[d->row];
        char safe[140];
        rp_safe_name(row->name, safe, sizeof safe);
        snprintf(r->fig_hist[di].file_stem, sizeof r->fig_hist[di].file_stem, "hist-%s", safe);
        hist_data hd = {r, d};
        if (!render(&r->fig_hist[di], row->compared ? 1200 : 420, 320, draw_hist, &hd, want_png))
            return false;
        if (d->n_methods > 0) {
            od.n_groups++;
            if (d->n_methods > od.n_methods) od.n_methods = d->n_methods;
        }
    }
    if (od.n_groups > 0) {
        snprintf(r->fig_outliers.file_stem, sizeof r->fig_outliers.file_stem, "outliers");
        const PLINT h = (PLINT)outliers_height(&od);
        if (!render(&r->fig_outliers, 900, h, draw_outliers, &od, want_png)) return false;
    }
    return true;
}
