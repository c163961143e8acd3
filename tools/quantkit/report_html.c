/*
** quantkit report, the page: one self-contained HTML file (inline CSS, the
** figures as inline SVG, no script, nothing fetched). Every piece of text that
** comes from the models or the command line is escaped. The file is written
** through qk_atomic_file (temporary file, fsync, rename).
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

static const char *CMD = "report";

typedef struct html {
    qk_atomic_file *f;
    qk_status st; /* sticky */
} html;

static void raw(html *h, const char *s, size_t n) {
    if (h->st == QK_OK) h->st = qk_atomic_file_write(h->f, s, n);
}

static void put(html *h, const char *s) {
    raw(h, s, strlen(s));
}

static void out(html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(html *h, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof buf) {
        raw(h, buf, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        if (h->st == QK_OK) h->st = QK_ERR_NOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    raw(h, big, (size_t)n);
    free(big);
}

/* Text with &, <, >, " and ' escaped (safe in elements and attributes). */
static void text(html *h, const char *s) {
    const char *run = s;
    for (; *s; s++) {
        const char *e = NULL;
        switch (*s) {
        case '&':
            e = "&amp;";
            break;
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&#39;";
            break;
        default:
            continue;
        }
        raw(h, run, (size_t)(s - run));
        put(h, e);
        run = s + 1;
    }
    raw(h, run, (size_t)(s - run));
}

static const char *STYLE =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;"
    "max-width:1280px;padding:0 1.2em 3em;color:#222;background:#fff;line-height:1.4}"
    "h1{margin:.8em 0 .1em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}"
    "nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4em 1.2em}"
    "a{color:#1f5fa6}table{border-collapse:collapse;font-size:.86em;margin:.6em 0}"
    "th,td{border:1px solid #ddd;padding:.2em .5em;text-align:right;white-space:nowrap}"
    "th{background:#f3f3f3}table.tensors th{position:sticky;top:0}td.l,th.l{text-align:left}"
    "th[colspan]{text-align:center}"
    "tr.chosen td.name{font-weight:600}.muted{color:#777}.note{color:#555;font-size:.9em}"
    ".kv td:first-child{text-align:left;color:#555}.scroll{overflow-x:auto}"
    "figure{margin:1em 0}figure svg{max-width:100%;height:auto;display:block}"
    "figcaption{color:#555;font-size:.9em}.cards{display:flex;flex-wrap:wrap;gap:.8em}"
    ".card{border:1px solid #ddd;border-radius:6px;padding:.5em .9em;min-width:10em}"
    ".card b{display:block;font-size:1.3em}";

static void fmt_shape(const rp_tensor_row *row, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t d = 0; d < row->ndim && used < size; d++) {
        int w =
            snprintf(buf + used, size - used, "%s%lld", d ? " x " : "", (long long)row->shape[d]);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (row->ndim == 0) snprintf(buf, size, "scalar");
}

/* Background of an SQNR cell: red (<= 5 dB) to green (>= 40 dB). */
static double sqnr_hue(double db) {
    if (!isfinite(db)) return 120;
    double t = (db - 5.0) / 35.0;
    return 120.0 * (t < 0 ? 0 : t > 1 ? 1 : t);
}

static void sqnr_cell(html *h, double db) {
    if (isfinite(db))
        out(h, "<td style=\"background:hsl(%.0f,70%%,88%%)\">%.2f</td>", sqnr_hue(db), db);
    else
        put(h, "<td style=\"background:hsl(120,70%,88%)\">exact</td>");
}

static void figure(html *h, const rp_figure *fig, const char *caption) {
    if (!fig->svg) return;
    out(h, "<figure id=\"fig-");
    text(h, fig->file_stem);
    put(h, "\">");
    raw(h, fig->svg, fig->svg_len);
    put(h, "<figcaption>");
    text(h, caption);
    if (fig->png) {
        put(h, " (also ");
        text(h, fig->file_stem);
        put(h, ".png)");
    }
    put(h, "</figcaption></figure>\n");
}

static void model_rows(html *h, const char *role, const rp_model_info *m) {
    char size[32];
    out(h, "<tr><td class=\"l\">%s</td><td class=\"l\">", role);
    text(h, m->path);
    out(h, "</td><td class=\"l\">%s</td><td class=\"l\">", m->format);
    text(h, m->hparams.arch);
    out(h, "</td><td>%zu</td><td>%llu</td><td>%s</td><td>%.3f</td><td class=\"l\">", m->n_tensors,
        (unsigned long long)m->params, cli_format_bytes(m->bytes, size, sizeof size), m->bpw);
    text(h, m->type_mix);
    put(h, "</td></tr>\n");
}

static void section_models(html *h, const rp_report *r) {
    const qk_model_hparams *hp = &r->ref.hparams;
    put(h, "<section id=\"models\"><h2>Models</h2>\n<div class=\"scroll\"><table><tr><th "
           "class=\"l\">role</th><th class=\"l\">path</th><th class=\"l\">format</th><th "
           "class=\"l\">arch</th><th>tensors</th><th>parameters</th><th>size</th><th>bits/weight</"
           "th><th class=\"l\">tensor types</th></tr>\n");
    model_rows(h, "REF", &r->ref);
    model_rows(h, "QUANT", &r->quant);
    out(h,
        "</table></div>\n<p class=\"note\">REF: %d layers, embedding %d, feed-forward %d, %d "
        "heads (%d KV), vocabulary %d. Sizes are the stored tensor bytes; bits/weight = 8 x "
        "bytes / parameters.</p>\n",
        hp->n_layer, hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv, hp->n_vocab);
    put(h, "<div class=\"cards\">");
    out(h, "<div class=\"card\">tensors compared<b>%zu</b></div>", r->n_compared);
    if (isfinite(r->total.sqnr_db))
        out(h, "<div class=\"card\">SQNR, all tensors<b>%.2f dB</b></div>", r->total.sqnr_db);
    out(h, "<div class=\"card\">cosine, all tensors<b>%.6f</b></div>", r->total.cosine);
    out(h, "<div class=\"card\">size ratio QUANT/REF<b>%.3f</b></div>",
        r->ref.bytes ? (double)r->quant.bytes / (double)r->ref.bytes : 0.0);
    if (r->ppl.present) {
        out(h, "<div class=\"card\">perplexity REF &rarr; QUANT<b>%.4f &rarr; %.4f</b></div>",
            r->ppl.res.ref_ppl, r->ppl.res.ppl);
        out(h, "<div class=\"card\">mean KL(REF || QUANT)<b>%.6f</b></div>", r->ppl.res.kl_mean);
    }
    put(h, "</div></section>\n");
}

static void section_ppl(html *h, const rp_report *r) {
    if (!r->ppl.present) return;
    const qk_ppl_result *p = &r->ppl.res;
    put(h, "<section id=\"perplexity\"><h2>Perplexity and KL divergence</h2>\n<p>Text ");
    text(h, r->ppl.text_path);
    out(h,
        ": %lld tokens, %d chunks of %d tokens, %lld tokens scored (llama-perplexity's method: "
        "BOS first, second half of each chunk scored).</p>\n",
        (long long)r->ppl.n_tokens, p->n_chunks, r->ppl.n_ctx, (long long)p->n_scored);
    put(h, "<table class=\"kv\">");
    out(h, "<tr><td>perplexity of REF</td><td>%.4f</td></tr>", p->ref_ppl);
    out(h, "<tr><td>perplexity of QUANT</td><td>%.4f &plusmn; %.4f</td></tr>", p->ppl,
        p->ppl_stderr);
    out(h, "<tr><td>change</td><td>%+.3f%%</td></tr>",
        p->ref_ppl > 0 ? 100.0 * (p->ppl / p->ref_ppl - 1.0) : 0.0);
    out(h, "<tr><td>mean KL(REF || QUANT), nats per token</td><td>%.6f &plusmn; %.6f</td></tr>",
        p->kl_mean, p->kl_stderr);
    out(h, "<tr><td>top-1 agreement</td><td>%.2f%%</td></tr>", 100.0 * p->top1_agree);
    put(h, "</table></section>\n");
}

static void section_tensors(html *h, const rp_report *r) {
    out(h,
        "<section id=\"tensors\"><h2>Per-tensor errors</h2>\n<p class=\"note\">Every tensor "
        "of both models (%zu). Errors of QUANT's dequantized values against REF's; outliers "
        "are REF's values with |x - mean| &gt; %g std. Bold rows are shown in detail "
        "below.</p>\n",
        r->n_rows, r->settings.outlier_k);
    put(h, "<div class=\"scroll\"><table class=\"tensors\" id=\"tensor-table\"><thead><tr><th "
           "class=\"l\">#</th><th class=\"l\">tensor</th><th class=\"l\">shape</th><th "
           "class=\"l\">REF type</th><th class=\"l\">QUANT type</th><th>bits/weight</th><th>SQNR "
           "dB</th><th>cosine</th><th>MSE</th><th>max |error|</th><th>outliers</th><th>outlier "
           "%</th><th>max |z|</th></tr></thead>\n<tbody>\n");
    for (size_t k = 0; k < r->n_rows; k++) {
        const rp_tensor_row *row = &r->rows[k];
        char shape[96];
        fmt_shape(row, shape, sizeof shape);
        out(h, "<tr class=\"tensor%s\" data-name=\"", row->detail >= 0 ? " chosen" : "");
        text(h, row->name);
        out(h, "\"><td class=\"l\">%zu</td><td class=\"l name\">", k);
        if (row->detail >= 0) {
            char safe[140];
            rp_safe_name(row->name, safe, sizeof safe);
            out(h, "<a href=\"#fig-hist-%s\">", safe);
            text(h, row->name);
            put(h, "</a>");
        } else {
            text(h, row->name);
        }
        out(h, "</td><td class=\"l\">%s</td><td class=\"l\">%s</td><td class=\"l\">%s</td>", shape,
            row->in_ref ? qk_type_name(row->ref_type) : "absent",
            row->in_quant ? qk_type_name(row->quant_type) : "absent");
        if (row->in_quant)
            out(h, "<td>%.3f</td>", row->bpw);
        else
            put(h, "<td class=\"muted\">-</td>");
        if (row->compared) {
            sqnr_cell(h, row->err.sqnr_db);
            out(h, "<td>%.6f</td><td>%.3e</td><td>%.3e</td>", row->err.cosine, row->err.mse,
                row->err.max_abs_error);
        } else {
            put(h, "<td class=\"muted\" colspan=\"4\">not compared</td>");
        }
        if (row->in_ref)
            out(h, "<td>%llu</td><td>%.3f</td><td>%.1f</td>", (unsigned long long)row->outl.count,
                100.0 * row->outl.fraction, row->outl.max_abs_z);
        else
            put(h, "<td class=\"muted\" colspan=\"3\">-</td>");
        put(h, "</tr>\n");
    }
    put(h, "</tbody></table></div>\n");
    figure(h, &r->fig_sqnr, "SQNR of every compared tensor, coloured by QUANT's storage type.");
    put(h, "</section>\n");
}

static void section_histograms(html *h, const rp_report *r) {
    if (r->n_details == 0) return;
    put(h, "<section id=\"histograms\"><h2>Value histograms</h2>\n<p class=\"note\">");
    if (r->settings.tensors_regex) {
        put(h, "Tensors matching <code>");
        text(h, r->settings.tensors_regex);
        put(h, "</code>.");
    } else {
        out(h,
            "By default the %d tensors of lowest SQNR (those with an error), and token_embd / "
            "output (--tensors REGEX chooses others).",
            r->settings.n_worst);
    }
    out(h,
        " Counts on a log scale over %d bins; the original and dequantized histograms share "
        "their bins. Dashed lines: mean &plusmn; %g std of the original.</p>\n",
        r->settings.hist_bins, r->settings.outlier_k);
    for (size_t di = 0; di < r->n_details; di++) {
        const rp_tensor_row *row = &r->rows[r->details[di].row];
        char caption[512];
        char sqnr[32];
        if (isfinite(row->err.sqnr_db))
            snprintf(sqnr, sizeof sqnr, "SQNR %.2f dB", row->err.sqnr_db);
        else
            snprintf(sqnr, sizeof sqnr, "no error");
        if (row->compared)
            snprintf(
                caption, sizeof caption, "%s: %s -> %s, %s, cosine %.6f, %llu outliers (%.3f%%).",
                row->name, qk_type_name(row->ref_type), qk_type_name(row->quant_type), sqnr,
                row->err.cosine, (unsigned long long)row->outl.count, 100.0 * row->outl.fraction);
        else
            snprintf(caption, sizeof caption, "%s: %s (not in QUANT), %llu outliers (%.3f%%).",
                     row->name, qk_type_name(row->ref_type), (unsigned long long)row->outl.count,
                     100.0 * row->outl.fraction);
        figure(h, &r->fig_hist[di], caption);
    }
    put(h, "</section>\n");
}

static void section_outliers(html *h, const rp_report *r) {
    if (!r->fig_outliers.svg) return;
    const int bits = r->settings.clip_bits;
    out(h,
        "<section id=\"outliers\"><h2>Outlier impact</h2>\n<p class=\"note\">Each chosen 2-D "
        "tensor quantized by round-to-nearest to asymmetric int%d (one f32 scale and a %d-bit "
        "zero point per scale group): one range for the whole tensor taken from its min and "
        "max, from the two-sided %g%% percentiles (percentile observer), or from min and max "
        "after clipping the outliers to mean &plusmn; %g std; and one range per output "
        "channel (row). QUANT's own format is listed first. The MSE is split between the "
        "tensor's outliers (|x - mean| &gt; %g std) and the other values.</p>\n",
        bits, bits, r->settings.clip_percentile, r->settings.outlier_k, r->settings.outlier_k);
    put(h, "<div class=\"scroll\"><table class=\"outliers\"><tr><th class=\"l\">tensor</th><th "
           "class=\"l\">quantization</th><th>bits/weight</th><th>SQNR dB</th><th>MSE</th><th>MSE "
           "on inliers</th><th>MSE on outliers</th><th>max |error|</th></tr>\n");
    for (size_t di = 0; di < r->n_details; di++) {
        const rp_detail *d = &r->details[di];
        for (int32_t m = 0; m < d->n_methods; m++) {
            const rp_method *me = &d->methods[m];
            put(h, "<tr>");
            if (m == 0) {
                out(h, "<td class=\"l\" rowspan=\"%d\">", d->n_methods);
                text(h, r->rows[d->row].name);
                put(h, "</td>");
            }
            put(h, "<td class=\"l\">");
            text(h, me->name);
            out(h, "</td><td>%.3f</td>", me->bpw);
            sqnr_cell(h, me->err.sqnr_db);
            out(h, "<td>%.3e</td><td>%.3e</td><td>%.3e</td><td>%.3e</td></tr>\n", me->err.mse,
                me->inlier_mse, me->outlier_mse, me->err.max_abs_error);
        }
    }
    put(h, "</table></div>\n");
    figure(h, &r->fig_outliers, "SQNR of each quantization of the chosen tensors.");
    put(h, "</section>\n");
}

/* A number or "-" when it was not computed. */
static void num_cell(html *h, const char *fmt, double v) {
    if (isfinite(v))
        out(h, fmt, v);
    else
        put(h, "<td class=\"muted\">-</td>");
}

static double type_bpw(qk_type t) {
    const qk_type_traits *tr = qk_type_get_traits(t);
    return tr ? 8.0 * tr->block_bytes / tr->block_elems : 0.0;
}

static void section_sensitivity(html *h, const rp_report *r) {
    const rp_sens *sn = &r->sens;
    if (!sn->present) return;
    const qk_sensitivity *s = &sn->s;
    /* the columns in order of bits per weight */
    size_t col[QK_SENS_MAX_FORMATS];
    for (size_t f = 0; f < s->n_formats; f++) {
        size_t k = f;
        for (; k > 0 && type_bpw(s->formats[col[k - 1]]) > type_bpw(s->formats[f]); k--)
            col[k] = col[k - 1];
        col[k] = f;
    }
    const qk_type rank_type = s->formats[sn->rank_format];
    out(h,
        "<section id=\"sensitivity\"><h2>Sensitivity ranking</h2>\n<p class=\"note\">Every "
        "quantizable 2-D weight of REF (%zu) quantized by quantkit's reference quantizer to "
        "each candidate format, as <code>quantkit quantize</code> would write it. SQNR of the "
        "weights; output error = ||WX - W'X||<sup>2</sup> / ||WX||<sup>2</sup> on the captured "
        "calibration inputs (needs X<sup>T</sup>X); Hessian = HAWQ estimate, tr(X<sup>T</sup>X)"
        "/n / columns &times; ||W - W'||<sup>2</sup>. Ranked by the predicted loss (proxy: %s) "
        "in %s, most sensitive first. ",
        s->n_tensors, qk_sens_proxy_name(s->proxy), qk_type_name(rank_type));
    if (sn->calib_path) {
        put(h, "Calibration statistics: ");
        text(h, sn->calib_path);
        put(h, ".");
    } else {
        put(h, "No calibration statistics (--calib STATS from <code>quantkit calibrate "
               "--xtx</code>): every input channel weighs 1 and the output error is not "
               "available.");
    }
    out(h, " Computed in %.1f s.</p>\n", s->seconds);
    put(h, "<div class=\"scroll\"><table class=\"sensitivity\" id=\"sensitivity-table\"><thead>"
           "<tr><th class=\"l\" rowspan=\"2\">rank</th><th class=\"l\" rowspan=\"2\">tensor</th>"
           "<th class=\"l\" rowspan=\"2\">shape</th><th class=\"l\" rowspan=\"2\">QUANT type</th>");
    out(h, "<th rowspan=\"2\">predicted loss in %s</th>", qk_type_name(rank_type));
    for (size_t c = 0; c < s->n_formats; c++)
        out(h, "<th colspan=\"3\">%s</th>", qk_type_name(s->formats[col[c]]));
    put(h, "</tr><tr>");
    for (size_t f = 0; f < s->n_formats; f++)
        put(h, "<th>SQNR dB</th><th>output error</th><th>Hessian</th>");
    put(h, "</tr></thead>\n<tbody>\n");
    for (size_t k = 0; k < s->n_tensors; k++) {
        const qk_sens_tensor *t = &s->tensors[sn->order[k]];
        const rp_tensor_row *row = NULL;
        for (size_t i = 0; i < r->n_rows && !row; i++)
            if (strcmp(r->rows[i].name, t->name) == 0) row = &r->rows[i];
        put(h, "<tr class=\"sens\" data-name=\"");
        text(h, t->name);
        out(h, "\"><td class=\"l\">%zu</td><td class=\"l\">", k + 1);
        text(h, t->name);
        out(h, "</td><td class=\"l\">%lld x %lld</td><td class=\"l\">%s</td>", (long long)t->rows,
            (long long)t->cols, row && row->in_quant ? qk_type_name(row->quant_type) : "absent");
        num_cell(h, "<td>%.4e</td>", t->entries[sn->rank_format].predicted);
        for (size_t c = 0; c < s->n_formats; c++) {
            const qk_sens_entry *e = &t->entries[col[c]];
            if (!e->available) {
                put(h, "<td class=\"muted\" colspan=\"3\">n/a</td>");
                continue;
            }
            sqnr_cell(h, e->sqnr_db);
            num_cell(h, "<td>%.3e</td>", e->output_rel);
            num_cell(h, "<td>%.3e</td>", e->hawq);
        }
        put(h, "</tr>\n");
    }
    put(h, "</tbody></table></div></section>\n");
}

/* "q4_K 20, q6_K 7": the allocation's formats by count. */
static void alloc_mix(const qk_mixed_result *a, char *buf, size_t size) {
    size_t counts[QK_TYPE_COUNT] = {0};
    qk_type order[QK_TYPE_COUNT];
    int n = 0;
    for (size_t i = 0; i < a->n_tensors; i++) {
        qk_type t = a->tensors[i].type;
        if (!a->tensors[i].allocated || (int)t < 0 || t >= QK_TYPE_COUNT) continue;
        if (counts[t]++ == 0) order[n++] = t;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < n && used < size; k++) {
        int w = snprintf(buf + used, size - used, "%s%s %zu", k ? ", " : "", qk_type_name(order[k]),
                         counts[order[k]]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

static void section_allocation(html *h, const rp_report *r) {
    const rp_sens *sn = &r->sens;
    if (!sn->present) return;
    put(h, "<section id=\"allocation\"><h2>Mixed-precision allocation</h2>\n");
    if (!sn->alloc_present) {
        put(h, "<p class=\"note\">");
        text(h, sn->alloc_note);
        put(h, "</p></section>\n");
        return;
    }
    const qk_mixed_result *a = &sn->alloc;
    char b1[32], mix[256];
    alloc_mix(a, mix, sizeof mix);
    out(h,
        "<p class=\"note\">One candidate format per quantizable tensor, chosen to minimise the "
        "summed predicted loss with the whole GGUF file (header and alignment padding "
        "included) at most the budget: %llu bytes (%s, %s)",
        (unsigned long long)sn->budget, cli_format_bytes(sn->budget, b1, sizeof b1),
        sn->budget_is_quant ? "QUANT's file size" : "--budget");
    out(h,
        ". The other tensors keep the types of <code>--type q4_k_m</code>'s plan. Solved "
        "by %s dynamic programming over %llu-byte buckets.</p>\n",
        a->alloc.exact ? "exact" : "rounded-up", (unsigned long long)a->alloc.granularity);
    put(h, "<table class=\"kv\" id=\"allocation-summary\">");
    out(h, "<tr><td>budget, bytes</td><td>%llu</td></tr>", (unsigned long long)sn->budget);
    out(h, "<tr><td>file size, bytes</td><td>%llu</td></tr>", (unsigned long long)a->file_bytes);
    out(h, "<tr><td>header, bytes</td><td>%llu</td></tr>", (unsigned long long)a->header_bytes);
    out(h, "<tr><td>tensor data, bytes</td><td>%llu</td></tr>",
        (unsigned long long)a->tensor_bytes);
    out(h, "<tr><td>alignment, bytes</td><td>%u</td></tr>", a->alignment);
    out(h, "<tr><td>bits per weight</td><td>%.4f</td></tr>", a->bits_per_weight);
    out(h, "<tr><td>formats</td><td>%s</td></tr>", mix);
    out(h, "<tr><td>predicted loss, allocation</td><td>%.4e</td></tr>", a->predicted_loss);
    if (isfinite(sn->quant_predicted))
        out(h, "<tr><td>predicted loss, QUANT's formats</td><td>%.4e</td></tr>",
            sn->quant_predicted);
    put(h, "</table>\n");
    put(h, "<div class=\"scroll\"><table class=\"allocation\" id=\"allocation-table\"><thead><tr>"
           "<th class=\"l\">tensor</th><th class=\"l\">allocated</th><th>bytes</th>"
           "<th>predicted loss</th><th class=\"l\">QUANT type</th><th>QUANT bytes</th>"
           "<th>predicted loss</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < a->n_tensors; i++) {
        const qk_mixed_tensor *t = &a->tensors[i];
        const rp_tensor_row *row = NULL;
        for (size_t k = 0; k < r->n_rows && !row; k++)
            if (strcmp(r->rows[k].name, t->name) == 0) row = &r->rows[k];
        const qk_sens_tensor *st = qk_sensitivity_find(&sn->s, t->name);
        out(h, "<tr class=\"alloc%s\" data-name=\"", t->allocated ? "" : " fixed");
        text(h, t->name);
        put(h, "\"><td class=\"l\">");
        text(h, t->name);
        out(h, "</td><td class=\"l\">%s%s</td><td>%llu</td>", qk_type_name(t->type),
            t->allocated ? "" : " (fixed)", (unsigned long long)t->bytes);
        if (t->allocated)
            out(h, "<td>%.3e</td>", t->predicted);
        else
            put(h, "<td class=\"muted\">-</td>");
        if (row && row->in_quant) {
            out(h, "<td class=\"l\">%s</td><td>%zu</td>", qk_type_name(row->quant_type),
                row->quant_bytes);
            int f = st ? qk_sensitivity_format_index(&sn->s, row->quant_type) : -1;
            if (f >= 0 && st->entries[f].available)
                out(h, "<td>%.3e</td>", st->entries[f].predicted);
            else
                put(h, "<td class=\"muted\">-</td>");
        } else {
            put(h, "<td class=\"muted\" colspan=\"3\">absent</td>");
        }
        put(h, "</tr>\n");
    }
    put(h, "</tbody></table></div></section>\n");
}

static void section_notes(html *h, const rp_report *r) {
    out(h,
        "<section id=\"method\"><h2>How the numbers are computed</h2>\n<ul class=\"note\">"
        "<li>Both models are read tensor by tensor in llama.cpp's naming and dequantized to "
        "f32. Sums are in double.</li>"
        "<li>MSE = mean (y - x)<sup>2</sup>; SQNR = 10 log<sub>10</sub>(&Sigma;x<sup>2</sup> / "
        "&Sigma;(y - x)<sup>2</sup>) dB (exact when the error is 0); cosine = &Sigma;xy / "
        "(|x| |y|).</li>"
        "<li>Outliers: |x - mean| &gt; %g std (population std); max |z| = max |x - mean| / "
        "std.</li>"
        "<li>Made by quantkit %s in %.1f s.</li></ul></section>\n",
        r->settings.outlier_k, qk_version(), r->seconds);
}

bool rp_write_html(const rp_report *r, const char *path) {
    html h = {NULL, QK_OK};
    qk_status st = qk_atomic_file_open(path, &h.f);
    if (st != QK_OK) return cli_fail_status(CMD, st), false;
    put(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>quantkit report: ");
    text(&h, r->quant.path);
    put(&h, " vs ");
    text(&h, r->ref.path);
    put(&h, "</title><style>");
    put(&h, STYLE);
    put(&h, "</style></head><body>\n<h1>Quantization report</h1>\n<p><b>REF</b> ");
    text(&h, r->ref.path);
    put(&h, " &rarr; <b>QUANT</b> ");
    text(&h, r->quant.path);
    put(&h, "</p>\n<nav><ul><li><a href=\"#models\">models</a></li>");
    if (r->ppl.present) put(&h, "<li><a href=\"#perplexity\">perplexity / KL</a></li>");
    put(&h, "<li><a href=\"#tensors\">per-tensor errors</a></li>");
    if (r->n_details) put(&h, "<li><a href=\"#histograms\">histograms</a></li>");
    if (r->fig_outliers.svg) put(&h, "<li><a href=\"#outliers\">outlier impact</a></li>");
    if (r->sens.present)
        put(&h, "<li><a href=\"#sensitivity\">sensitivity ranking</a></li><li><a "
                "href=\"#allocation\">mixed-precision allocation</a></li>");
    put(&h, "<li><a href=\"#method\">method</a></li></ul></nav>\n");
    section_models(&h, r);
    section_ppl(&h, r);
    section_tensors(&h, r);
    section_histograms(&h, r);
    section_outliers(&h, r);
    section_sensitivity(&h, r);
    section_allocation(&h, r);
    section_notes(&h, r);
    put(&h, "</body></html>\n");
    if (h.st != QK_OK) {
        qk_atomic_file_abort(h.f);
        return cli_fail_status(CMD, h.st), false;
    }
    if ((st = qk_atomic_file_commit(h.f)) != QK_OK) return cli_fail_status(CMD, st), false;
    return true;
}
