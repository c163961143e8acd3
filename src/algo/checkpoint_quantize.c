/*
** Quantizing a whole model into a GPTQ / AWQ / compressed-tensors
** checkpoint (quantkit/checkpoint.h): round-to-nearest per linear, or a
** caller's quantizer, streamed into the checkpoint writer.
*/
#include <stdlib.h> /* malloc, free */
#include <string.h> /* memset */

#include "core/error.h"
#include "quantkit/checkpoint.h"
#include "quantkit/model.h"
#include "quantkit/quant.h"

qk_status qk_checkpoint_rtn_linear(const float *w, int64_t rows, int64_t cols, int32_t bits,
                                   int32_t group_size, bool symmetric, qk_quantized_linear *out) {
    if (!w || !out) return qk_error_set(QK_ERR_INVALID_ARG, "rtn: NULL argument");
    memset(out, 0, sizeof *out);
    if (cols <= 0 || rows <= 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "rtn: %lld x %lld", (long long)rows,
                            (long long)cols);
    if (group_size == 0 || group_size < -1)
        return qk_error_set(QK_ERR_INVALID_ARG, "rtn: group size %d (positive or -1)", group_size);
    const int32_t gs = group_size < 0 || group_size >= cols ? (int32_t)cols : group_size;
    qk_affine_scheme scheme = qk_affine_scheme_default(bits, symmetric);
    scheme.range = QK_QRANGE_UNSIGNED;
    scheme.scale_type = QK_TYPE_F16;
    qk_status st = qk_affine_scheme_check(&scheme);
    if (st != QK_OK) return st;
    if ((st = qk_quantized_linear_alloc(out, bits, gs, symmetric, rows, cols, false)) != QK_OK)
        return st;
    for (int64_t r = 0; r < rows && st == QK_OK; r++)
        for (int64_t g = 0; g < out->n_groups && st == QK_OK; g++) {
            const int64_t c0 = g * gs, n = cols - c0 < gs ? cols - c0 : gs;
            const float *x = w + r * cols + c0;
            qk_affine_params p;
            st = qk_affine_span_params(x, (size_t)n, &scheme, &p);
            if (st == QK_OK)
                st = qk_affine_quantize_span(x, (size_t)n, &p, QK_ROUND_NEAREST_EVEN, 0, 0,
                                             out->codes + r * cols + c0);
            if (st != QK_OK) {
                qk_error_prefix("rtn: row %lld, group %lld", (long long)r, (long long)g);
                break;
            }
            out->scales[g * rows + r] = p.scale;
            out->zeros[g * rows + r] = p.zero_point;
        }
    if (st != QK_OK) qk_quantized_linear_free(out);
    return st;
}

static const qk_llama_linear ORDER[] = {QK_LINEAR_Q,    QK_LINEAR_K,    QK_LINEAR_V, QK_LINEAR_O,
                                        QK_LINEAR_GATE, QK_LINEAR_DOWN, QK_LINEAR_UP};
enum { N_LINEARS = sizeof ORDER / sizeof ORDER[0] };

qk_status qk_checkpoint_quantize(const char *in_path, const char *out_dir,
                                 const qk_checkpoint_options *options,
                                 qk_checkpoint_quantize_fn quantize, void *quantize_user,
                                 void (*progress)(void *user, size_t done, size_t total,
                                                  const char *name),
                                 void *progress_user, qk_checkpoint_report *report) {
    if (!in_path || !out_dir || !options)
        return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint quantize: NULL argument");
    qk_model_source *src = NULL;
    qk_checkpoint_writer *wr = NULL;
    float *w = NULL;
    qk_status st = qk_model_source_open(in_path, NULL, &src);
    if (st != QK_OK) return st;
    qk_checkpoint_options opt = *options;
    if (!opt.read_f32) opt.read_f32 = qk_model_source_read_f32;
    const qk_model_hparams *h = qk_model_source_hparams(src);
    const size_t total = (size_t)h->n_layer * N_LINEARS;
    /* the largest linear */
    size_t max_elems = 0;
    for (size_t i = 0; i < qk_model_source_tensor_count(src); i++) {
        qk_model_tensor t;
        if (qk_model_source_tensor_info(src, i, &t) == QK_OK && t.ndim == 2 &&
            (size_t)(t.shape[0] * t.shape[1]) > max_elems)
            max_elems = (size_t)(t.shape[0] * t.shape[1]);
    }
    if ((st = qk_checkpoint_writer_create(out_dir, src, &opt, &wr)) != QK_OK) goto done;
    if (!(w = malloc(max_elems * sizeof *w))) {
        st =
            qk_error_set(QK_ERR_NOMEM, "checkpoint quantize: no memory for %zu weights", max_elems);
        goto done;
    }
    size_t done_count = 0;
    for (int32_t l = 0; l < h->n_layer && st == QK_OK; l++)
        for (int k = 0; k < N_LINEARS && st == QK_OK; k++) {
            char name[64];
            qk_llama_linear_name(l, ORDER[k], name, sizeof name);
            const int64_t i = qk_model_source_find_tensor(src, name);
            qk_model_tensor t;
            if (i < 0) {
                st = qk_error_set(QK_ERR_NOT_FOUND, "%s: no tensor '%s'", in_path, name);
                break;
            }
            if ((st = qk_model_source_tensor_info(src, (size_t)i, &t)) != QK_OK) break;
            const int64_t rows = t.shape[0], cols = t.shape[1];
            st = qk_model_source_read_f32(src, (size_t)i, w, rows * cols, NULL, 0);
            qk_quantized_linear q = {0};
            if (st == QK_OK)
                st = quantize ? quantize(quantize_user, name, w, rows, cols, &opt.config, &q)
                              : qk_checkpoint_rtn_linear(w, rows, cols, opt.config.bits,
                                                         opt.config.group_size,
                                                         opt.config.symmetric, &q);
            if (st == QK_OK) st = qk_checkpoint_writer_add_linear(wr, name, &q);
            qk_quantized_linear_free(&q);
            if (st != QK_OK) {
                qk_error_prefix("%s", name);
                break;
            }
            if (progress) progress(progress_user, ++done_count, total, name);
        }
    if (st == QK_OK) st = qk_checkpoint_writer_commit(wr, report);
done:
    free(w);
    qk_checkpoint_writer_free(wr);
    qk_model_source_close(src);
    return st;
}
