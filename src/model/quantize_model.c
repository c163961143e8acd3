/*
** Model in, GGUF out: plan every tensor's type with the mix rules, write
** llama.cpp's metadata, then stream the tensors one at a time (read,
** convert to f32, quantize, write). Memory stays bounded by one tensor in
** f32 plus its quantized bytes.
*/
#include <math.h> /* fabsf, isfinite, isinf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "quantkit/calibrate.h"
#include "quantkit/ggml.h"
#include "quantkit/gguf.h"
#include "quantkit/io.h"
#include "quantkit/model.h"
#include "quantkit/quantize.h"
#include "quantkit/tokenizer.h"

void qk_quantize_options_init(qk_quantize_options *opt, const qk_type_request *req) {
    memset(opt, 0, sizeof *opt);
    qk_mix_options_init(&opt->mix, req);
}

void qk_quantize_report_free(qk_quantize_report *r) {
    if (!r) return;
    free(r->tensors);
    r->tensors = NULL;
    r->n_tensors = 0;
}

/* Total size of the file or of the files in a folder (one level). */
static uint64_t input_size(const qk_model_source *src, const char *path) {
    struct stat s;
    if (stat(path, &s) != 0) return 0;
    if (S_ISREG(s.st_mode)) return (uint64_t)s.st_size;
    uint64_t total = 0;
    for (size_t i = 0; i < qk_model_source_tensor_count(src); i++) {
        qk_model_tensor t;
        if (qk_model_source_tensor_info(src, i, &t) == QK_OK) total += t.nbytes;
    }
    return total;
}

static int64_t numel_of(int32_t ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int32_t d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

/* llama.cpp's tensor order (its model loader's weight map): tensors outside
** the layers first, then by layer; by name within each. */
static int layer_of(const char *name) {
    int layer = -1;
    if (sscanf(name, "blk.%d.", &layer) != 1) return -1;
    return layer;
}

static int compare_tensors(const void *pa, const void *pb) {
    const qk_quantize_tensor_info *a = pa, *b = pb;
    int la = layer_of(a->name), lb = layer_of(b->name);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* The explicit type of tensor `name`, if the options give one. */
static qk_status explicit_type(const qk_quantize_options *opt, const qk_model_tensor *t,
                               bool *explicit_used, qk_quantize_tensor_info *ti) {
    for (size_t k = 0; k < opt->n_tensor_types; k++) {
        const qk_tensor_type *e = &opt->tensor_types[k];
        if (!e->name || strcmp(e->name, t->name) != 0) continue;
        const qk_type_traits *tr = qk_type_get_traits(e->type);
        if (!tr)
            return qk_error_set(QK_ERR_UNKNOWN_TYPE, "tensor '%s': explicit type %d is unknown",
                                t->name, (int)e->type);
        const int64_t cols = t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
        if (cols % tr->block_elems != 0)
            return qk_error_set(QK_ERR_SHAPE,
                                "tensor '%s': rows of %lld values do not fit %s (blocks of %d)",
                                t->name, (long long)cols, tr->name, (int)tr->block_elems);
        ti->to = e->type;
        ti->reason = QK_MIX_EXPLICIT;
        explicit_used[k] = true;
        return QK_OK;
    }
    return QK_OK;
}

static qk_status plan_tensors(const qk_model_source *src, const qk_quantize_options *opt,
                              qk_quantize_report *rep, bool *explicit_used) {
    const qk_model_hparams *hp = qk_model_source_hparams(src);
    const qk_mix_model mm = {.n_layer = hp->n_layer,
                             .n_gqa = hp->n_head_kv > 0 ? hp->n_head / hp->n_head_kv : 1,
                             .tied_output = hp->tied_output};
    qk_mix_options mix = opt->mix;
    if (opt->importance) mix.has_imatrix = true;
    for (size_t i = 0; i < rep->n_tensors; i++) {
        qk_model_tensor t;
        qk_status st = qk_model_source_tensor_info(src, i, &t);
        if (st != QK_OK) return st;
        qk_quantize_tensor_info *ti = &rep->tensors[i];
        if (strlen(t.name) >= sizeof ti->name)
            return qk_error_set(QK_ERR_UNSUPPORTED, "quantize: tensor name '%s' is too long",
                                t.name);
        strcpy(ti->name, t.name);
        ti->source_index = i;
        ti->from = t.type;
        ti->ndim = t.ndim;
        memcpy(ti->shape, t.shape, sizeof ti->shape);
        st = qk_mix_choose(&mix, &mm, t.name, t.type, t.ndim, t.shape, &ti->to, &ti->reason);
        if (st != QK_OK) return st;
        /* a block-format tensor the plan keeps stays as it is */
        if (ti->reason == QK_MIX_KEEP && qk_type_get_traits(t.type)->is_block) ti->to = t.type;
        if ((st = explicit_type(opt, &t, explicit_used, ti)) != QK_OK) return st;
        const int64_t numel = numel_of(t.ndim, t.shape);
        size_t bytes;
        st = qk_type_row_bytes(ti->to, numel, &bytes);
        if (st != QK_OK) return qk_error_prefix("tensor '%s'", t.name);
        ti->bytes = bytes;
        rep->n_weights += (uint64_t)numel;
        rep->tensor_bytes += bytes;
    }
    return QK_OK;
}

static qk_status make_plan(const qk_model_source *src, const qk_quantize_options *opt,
                           qk_quantize_report *rep) {
    const size_t n = qk_model_source_tensor_count(src);
    rep->tensors = calloc(n ? n : 1, sizeof *rep->tensors);
    bool *explicit_used = calloc(opt->n_tensor_types + 1, sizeof *explicit_used);
    if (!rep->tensors || !explicit_used) {
        free(explicit_used);
        return qk_error_set(QK_ERR_NOMEM, "quantize: no memory for the plan");
    }
    rep->n_tensors = n;
    qk_status st = plan_tensors(src, opt, rep, explicit_used);
    for (size_t k = 0; k < opt->n_tensor_types && st == QK_OK; k++)
        if (!explicit_used[k])
            st = qk_error_set(QK_ERR_NOT_FOUND, "quantize: explicit type for '%s': no such tensor",
                              opt->tensor_types[k].name ? opt->tensor_types[k].name : "(null)");
    free(explicit_used);
    if (st != QK_OK) return st;
    rep->bits_per_weight =
        rep->n_weights ? 8.0 * (double)rep->tensor_bytes / (double)rep->n_weights : 0;
    qsort(rep->tensors, n, sizeof *rep->tensors, compare_tensors);
    return QK_OK;
}

qk_status qk_quantize_plan(const char *in_path, const qk_quantize_options *opt,
                           qk_quantize_report *rep) {
    if (!in_path || !opt || !rep)
        return qk_error_set(QK_ERR_INVALID_ARG, "quantize: NULL argument");
    memset(rep, 0, sizeof *rep);
    qk_model_source *src;
    qk_status st = qk_model_source_open(in_path, NULL, &src);
    if (st != QK_OK) return st;
    st = make_plan(src, opt, rep);
    rep->input_bytes = input_size(src, in_path);
    qk_model_source_close(src);
    if (st != QK_OK) qk_quantize_report_free(rep);
    return st;
}

/* Non-finite weights of x[0..numel) (rows of `cols`): an error naming the
** first, or (allowed) replaced by 0 and counted in `rep`. */
static qk_status screen_nonfinite(float *x, int64_t numel, int64_t cols,
                                  const qk_quantize_options *opt, qk_quantize_report *rep,
                                  bool *changed) {
    int64_t first = -1;
    uint64_t count = 0;
    for (int64_t i = 0; i < numel; i++) {
        if (isfinite(x[i])) continue;
        if (first < 0) first = i;
        count++;
    }
    *changed = false;
    if (count == 0) return QK_OK;
    if (!opt->allow_nonfinite) {
        const int64_t c = cols > 0 ? cols : 1;
        return qk_error_set(QK_ERR_NONFINITE,
                            "%llu non-finite value%s; element %lld (row %lld, column %lld) is %s "
                            "(allow_nonfinite / --allow-nonfinite replaces them by 0)",
                            (unsigned long long)count, count == 1 ? "" : "s", (long long)first,
                            (long long)(first / c), (long long)(first % c),
                            isnan(x[first]) ? "nan"
                            : x[first] > 0  ? "inf"
                                            : "-inf");
    }
    for (int64_t i = first; i < numel; i++)
        if (!isfinite(x[i])) x[i] = 0.0f;
    rep->n_nonfinite += count;
    rep->n_nonfinite_tensors++;
    *changed = true;
    return QK_OK;
}

/* A tensor stored unchanged (same type): its values are screened too. Float
** types are repaired (allowed) by converting back; block types are only
** checked (with allow_nonfinite they are copied as they are). */
static qk_status screen_stored(qk_type type, void *out, int64_t numel, int64_t cols, float *f32,
                               const qk_quantize_options *opt, qk_quantize_report *rep) {
    const bool is_float = type == QK_TYPE_F32 || type == QK_TYPE_F16 || type == QK_TYPE_BF16;
    const bool is_block = qk_type_get_traits(type)->is_block;
    if (!is_float && !is_block) return QK_OK; /* integer tensors */
    qk_status st = is_float ? qk_convert(type, out, QK_TYPE_F32, f32, (size_t)numel)
                            : qk_dequantize_row(type, out, f32, numel);
    if (st == QK_ERR_UNSUPPORTED && is_block) {
        qk_clear_error(); /* a block type quantkit cannot decode: copied unchecked */
        return QK_OK;
    }
    if (st != QK_OK) return st;
    bool changed;
    qk_quantize_options only_check = *opt;
    if (is_block) only_check.allow_nonfinite = false;
    st = screen_nonfinite(f32, numel, cols, &only_check, rep, &changed);
    if (st == QK_ERR_NONFINITE && is_block && opt->allow_nonfinite) {
        qk_clear_error(); /* documented: copied as it is */
        return QK_OK;
    }
    if (st != QK_OK || !changed) return st;
    return qk_convert(QK_TYPE_F32, f32, type, out, (size_t)numel);
}

/* f32 -> f16/bf16 for a tensor, rejecting finite values that round to an
** infinity (f16 from 65520 up, bf16 from 0x1.ffp127 up). */
static qk_status convert_float_checked(qk_type type, const float *x, void *dst, int64_t numel,
                                       int64_t cols) {
    qk_status st = qk_convert(QK_TYPE_F32, x, type, dst, (size_t)numel);
    if (st != QK_OK) return st;
    const float limit = qk_type_max_magnitude(type);
    for (int64_t i = 0; i < numel; i++) {
        if (!(fabsf(x[i]) > limit)) continue;
        float back;
        st = qk_convert(type, (const unsigned char *)dst + (size_t)i * 2u, QK_TYPE_F32, &back, 1);
        if (st != QK_OK) return st;
        if (isinf(back)) {
            const int64_t c = cols > 0 ? cols : 1;
            return qk_error_set(QK_ERR_NUMERIC,
                                "element %lld (row %lld, column %lld) is %g, beyond the %s range "
                                "(largest %g)",
                                (long long)i, (long long)(i / c), (long long)(i % c), (double)x[i],
                                qk_type_name(type), (double)limit);
        }
    }
    return QK_OK;
}

/* Quantize one tensor into `out` (ti->bytes bytes). */
static qk_status convert_tensor(const qk_model_source *src, const qk_quantize_tensor_info *ti,
                                const qk_quantize_options *opt, qk_quantize_report *rep, void *out,
                                float *f32, void *scratch, size_t scratch_bytes) {
    const size_t i = ti->source_index;
    qk_model_tensor t;
    qk_status st = qk_model_source_tensor_info(src, i, &t);
    if (st != QK_OK) return st;
    const bool from_block = qk_type_get_traits(t.type)->is_block;
    const int64_t numel = numel_of(t.ndim, t.shape);
    const int64_t cols = t.ndim > 0 ? t.shape[t.ndim - 1] : 1, rows = numel / (cols ? cols : 1);
    /* same type: the stored bytes (rows permuted where needed), unless the
    ** caller may replace plain data */
    if (ti->to == t.type && (!opt->replace || from_block)) {
        st = qk_model_source_read(src, i, t.type, out, ti->bytes);
        return st != QK_OK ? st : screen_stored(t.type, out, numel, cols, f32, opt, rep);
    }
    if (from_block && !opt->allow_requantize)
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "tensor '%s' is already quantized (%s); requantizing to %s loses "
                            "precision twice (allow it explicitly)",
                            t.name, qk_type_name(t.type), qk_type_name(ti->to));
    if ((st = qk_model_source_read_f32(src, i, f32, numel, scratch, scratch_bytes)) != QK_OK)
        return st;
    if (opt->replace) {
        st = opt->replace(opt->replace_user, t.name, f32, numel);
        if (st == QK_ERR_NOT_FOUND) {
            qk_clear_error();
            if (ti->to == t.type) {
                st = qk_model_source_read(src, i, t.type, out, ti->bytes);
                return st != QK_OK ? st : screen_stored(t.type, out, numel, cols, f32, opt, rep);
            }
        } else if (st != QK_OK) {
            return st;
        }
    }
    bool changed;
    if ((st = screen_nonfinite(f32, numel, cols, opt, rep, &changed)) != QK_OK) return st;
    /* float targets: values that round to an infinity are an error */
    if (!qk_type_get_traits(ti->to)->is_block) {
        if (ti->to != QK_TYPE_F16 && ti->to != QK_TYPE_BF16)
            return qk_convert(QK_TYPE_F32, f32, ti->to, out, (size_t)numel);
        return convert_float_checked(ti->to, f32, out, numel, cols);
    }
    if (opt->quantizer) {
        st = opt->quantizer(opt->quantizer_user, t.name, ti->to, f32, rows, cols, out);
        if (st != QK_ERR_NOT_FOUND) return st;
        qk_clear_error();
    }
    float *importance = NULL;
    if (opt->importance && qk_type_uses_importance(ti->to)) {
        importance = malloc((size_t)cols * sizeof *importance);
        if (!importance) return qk_error_set(QK_ERR_NOMEM, "quantize: no memory");
        if (qk_calib_stats_importance(opt->importance, t.name, importance, cols) != QK_OK) {
            /* no statistics for this tensor (e.g. token_embd): plain rounding */
            free(importance);
            importance = NULL;
            qk_clear_error();
        }
    }
    st = qk_quantize_rows(ti->to, f32, out, rows, cols, importance);
    free(importance);
    return st;
}

/* Create the output writer with the metadata and every tensor declared
** (the header is then complete; nothing written yet but the temporary file). */
static qk_status declare_output(const char *in_path, const char *out_path,
                                const qk_quantize_options *opt, const qk_model_source *src,
                                const qk_quantize_report *rep, qk_gguf_writer **out) {
    qk_status st;
    qk_tokenizer *tok = NULL;
    qk_gguf_writer *w = NULL;
    *out = NULL;
    if (qk_model_source_format(src) != QK_MODEL_FORMAT_GGUF) {
        st = qk_tokenizer_load_for_model(in_path, opt->tokenizer_path, NULL, &tok);
        if (st != QK_OK) return st;
    }
    if ((st = qk_gguf_writer_create(out_path, &w)) != QK_OK) goto done;
    uint32_t file_type = qk_ftype_file_value(&opt->mix.request);
    if ((st = qk_gguf_add_model_metadata(w, src, in_path, tok, file_type, opt->name)) != QK_OK)
        goto done;
    for (size_t k = 0; k < opt->n_extra; k++)
        if ((st = qk_gguf_writer_add_str(w, opt->extra_keys[k], opt->extra_values[k])) != QK_OK)
            goto done;
    for (size_t i = 0; i < rep->n_tensors; i++) {
        const qk_quantize_tensor_info *ti = &rep->tensors[i];
        if ((st = qk_gguf_writer_add_tensor(w, ti->name, ti->to, ti->ndim, ti->shape)) != QK_OK)
            goto done;
    }
done:
    qk_tokenizer_free(tok);
    if (st != QK_OK) {
        qk_gguf_writer_free(w); /* removes the temporary file */
        w = NULL;
    }
    *out = w;
    return st;
}

uint64_t qk_quantize_file_bytes(const qk_quantize_report *plan, uint64_t data_offset,
                                uint32_t alignment) {
    uint64_t total = data_offset;
    const uint64_t a = alignment ? alignment : 1;
    for (size_t i = 0; i < plan->n_tensors; i++)
        total += plan->tensors[i].bytes + (a - plan->tensors[i].bytes % a) % a;
    return total;
}

static qk_status write_all(const char *in_path, const char *out_path,
                           const qk_quantize_options *opt, const qk_model_source *src,
                           qk_quantize_report *rep) {
    qk_gguf_writer *w = NULL;
    void *out = NULL, *scratch = NULL;
    float *f32 = NULL;
    qk_status st = declare_output(in_path, out_path, opt, src, rep, &w);
    if (st != QK_OK) return st;
    const uint64_t file_bytes =
        qk_quantize_file_bytes(rep, qk_gguf_writer_data_offset(w), qk_gguf_writer_alignment(w));
    if (opt->max_output_bytes && file_bytes > opt->max_output_bytes) {
        const unsigned long long limit = (unsigned long long)opt->max_output_bytes;
        st = qk_error_set(QK_ERR_BUDGET, "quantize: an output of %llu bytes exceeds %llu",
                          (unsigned long long)file_bytes, limit);
        goto done;
    }
    /* buffers sized for the largest tensor */
    size_t max_out = 0, max_f32 = 0, max_stored = 0;
    for (size_t i = 0; i < rep->n_tensors; i++) {
        const qk_quantize_tensor_info *ti = &rep->tensors[i];
        qk_model_tensor t;
        if ((st = qk_model_source_tensor_info(src, ti->source_index, &t)) != QK_OK) goto done;
        const int64_t numel = numel_of(t.ndim, t.shape);
        if (ti->bytes > max_out) max_out = ti->bytes;
        if ((size_t)numel * sizeof(float) > max_f32) max_f32 = (size_t)numel * sizeof(float);
        if (qk_type_get_traits(t.type)->is_block && t.nbytes > max_stored) max_stored = t.nbytes;
    }
    out = malloc(max_out ? max_out : 1);
    f32 = malloc(max_f32 ? max_f32 : 1);
    scratch = max_stored ? malloc(max_stored) : NULL;
    if (!out || !f32 || (max_stored && !scratch)) {
        st = qk_error_set(QK_ERR_NOMEM, "quantize: no memory for a %zu-byte tensor", max_f32);
        goto done;
    }
    if ((st = qk_gguf_writer_begin(w)) != QK_OK) goto done;
    for (size_t i = 0; i < rep->n_tensors; i++) {
        const qk_quantize_tensor_info *ti = &rep->tensors[i];
        st = convert_tensor(src, ti, opt, rep, out, f32, scratch, max_stored);
        if (st != QK_OK) {
            qk_error_prefix("tensor '%s'", ti->name);
            goto done;
        }
        if ((st = qk_gguf_writer_write(w, out, ti->bytes)) != QK_OK) goto done;
        if (opt->progress)
            opt->progress(opt->progress_user, i + 1, rep->n_tensors, ti->name, ti->to);
    }
    st = qk_gguf_writer_commit(w);
done:
    qk_gguf_writer_free(w); /* removes the temporary file unless committed */
    free(out);
    free(f32);
    free(scratch);
    return st;
}

qk_status qk_quantize_layout(const char *in_path, const char *out_path,
                             const qk_quantize_options *opt, uint64_t *data_offset,
                             uint32_t *alignment) {
    if (!in_path || !out_path || !opt || !data_offset || !alignment)
        return qk_error_set(QK_ERR_INVALID_ARG, "quantize layout: NULL argument");
    qk_quantize_report rep;
    memset(&rep, 0, sizeof rep);
    qk_model_source *src;
    qk_status st = qk_model_source_open(in_path, NULL, &src);
    if (st != QK_OK) return st;
    qk_gguf_writer *w = NULL;
    st = make_plan(src, opt, &rep);
    if (st == QK_OK) st = declare_output(in_path, out_path, opt, src, &rep, &w);
    if (st == QK_OK) {
        *data_offset = qk_gguf_writer_data_offset(w);
        *alignment = qk_gguf_writer_alignment(w);
    }
    qk_gguf_writer_free(w); /* never begun: the temporary file goes */
    qk_model_source_close(src);
    qk_quantize_report_free(&rep);
    return st;
}

qk_status qk_quantize_model(const char *in_path, const char *out_path,
                            const qk_quantize_options *opt, qk_quantize_report *report) {
    if (!in_path || !out_path || !opt)
        return qk_error_set(QK_ERR_INVALID_ARG, "quantize: NULL argument");
    const double t0 = qk_time_seconds();
    qk_quantize_report local;
    qk_quantize_report *rep = report ? report : &local;
    memset(rep, 0, sizeof *rep);
    qk_model_source *src;
    qk_status st = qk_model_source_open(in_path, NULL, &src);
    if (st != QK_OK) return st;
    st = make_plan(src, opt, rep);
    rep->input_bytes = input_size(src, in_path);
    if (st == QK_OK) st = write_all(in_path, out_path, opt, src, rep);
    qk_model_source_close(src);
    if (st == QK_OK) {
        struct stat s;
        if (stat(out_path, &s) == 0) rep->output_bytes = (uint64_t)s.st_size;
    }
    rep->seconds = qk_time_seconds() - t0;
    rep->peak_rss_bytes = qk_peak_rss_bytes();
    if (st != QK_OK || rep == &local) qk_quantize_report_free(rep);
    return st;
}
