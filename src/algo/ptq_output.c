/*
** The calibrated pipeline's result: lookup, release, and a GGUF written
** through qk_quantize_model (block bytes by its quantizer callback,
** dequantized weights and replaced tensors by its replace callback).
*/
#include <stdlib.h>
#include <string.h>

#include "algo/ptq_internal.h"
#include "core/error.h"

void qk_ptq_result_free(qk_ptq_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_linears; i++) {
        qk_quantized_linear_free(&r->linears[i].affine);
        free(r->linears[i].blocks);
    }
    free(r->linears);
    for (size_t i = 0; i < r->n_tensors; i++) free(r->tensors[i].data);
    free(r->tensors);
    free(r->awq);
    memset(r, 0, sizeof *r);
}

const qk_ptq_linear *qk_ptq_result_linear(const qk_ptq_result *r, int32_t layer,
                                          qk_llama_linear which) {
    if (!r || layer < 0 || layer >= r->n_layer || which < 0 || which >= QK_LINEAR_OUTPUT)
        return NULL;
    return &r->linears[(size_t)layer * 7 + which];
}

static const qk_ptq_linear *by_name(const qk_ptq_result *r, const char *name) {
    for (size_t i = 0; i < r->n_linears; i++)
        if (strcmp(r->linears[i].name, name) == 0) return &r->linears[i];
    return NULL;
}

static qk_status put_blocks(void *user, const char *name, qk_type type, const float *w,
                            int64_t rows, int64_t cols, void *dst) {
    const qk_ptq_result *r = user;
    (void)w, (void)rows, (void)cols;
    const qk_ptq_linear *lin = by_name(r, name);
    if (!lin || !lin->blocks) return qk_error_set(QK_ERR_NOT_FOUND, "ptq: no blocks for %s", name);
    if (lin->type != type)
        return qk_error_set(QK_ERR_STATE, "ptq: '%s' was quantized to %s, the plan says %s", name,
                            qk_type_name(lin->type), qk_type_name(type));
    memcpy(dst, lin->blocks, lin->n_bytes);
    return QK_OK;
}

static qk_status put_data(void *user, const char *name, float *data, int64_t numel) {
    const qk_ptq_result *r = user;
    for (size_t i = 0; i < r->n_tensors; i++)
        if (strcmp(r->tensors[i].name, name) == 0) {
            if (r->tensors[i].numel != numel)
                return qk_error_set(QK_ERR_SHAPE, "ptq: '%s' has %lld values, not %lld", name,
                                    (long long)numel, (long long)r->tensors[i].numel);
            memcpy(data, r->tensors[i].data, (size_t)numel * sizeof *data);
            return QK_OK;
        }
    const qk_ptq_linear *lin = by_name(r, name);
    if (lin && numel != lin->rows * lin->cols)
        return qk_error_set(QK_ERR_SHAPE, "ptq: '%s' has %lld values, not %lld", name,
                            (long long)numel, (long long)(lin->rows * lin->cols));
    if (lin && lin->affine.codes) return qk_quantized_linear_dequantize(&lin->affine, data);
    if (lin && lin->blocks && !qk_type_get_traits(lin->type)->is_block)
        return qk_convert(lin->type, lin->blocks, QK_TYPE_F32, data, (size_t)numel);
    return qk_error_set(QK_ERR_NOT_FOUND, "ptq: '%s' is not replaced", name);
}

qk_status qk_ptq_write_gguf(const char *model_path, const char *out_path,
                            const qk_ptq_result *result, const qk_quantize_options *qopt,
                            qk_quantize_report *report) {
    if (!model_path || !out_path || !result || !qopt)
        return qk_error_set(QK_ERR_INVALID_ARG, "ptq write: NULL argument");
    if (result->hf_layout)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "ptq write: the result keeps HF's q/k order; GGUF needs llama.cpp's");
    qk_quantize_options o = *qopt;
    if (result->gguf_target) {
        o.quantizer = put_blocks;
        o.quantizer_user = (void *)result;
    } else if (qk_type_get_traits(o.mix.request.base)->is_block) {
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "ptq write: affine weights go to a float GGUF (f32, f16, bf16), not %s",
                            qk_type_name(o.mix.request.base));
    }
    o.replace = put_data;
    o.replace_user = (void *)result;
    return qk_quantize_model(model_path, out_path, &o, report);
}

/* The checkpoint writer's replace callback: the result's plain tensors. */
static qk_status replace_plain(void *user, const char *name, float *dst, int64_t numel) {
    const qk_ptq_result *r = user;
    for (size_t i = 0; i < r->n_tensors; i++) {
        if (strcmp(r->tensors[i].name, name) != 0) continue;
        if (r->tensors[i].numel != numel)
            return qk_error_set(QK_ERR_SHAPE, "ptq: '%s' has %lld values, not %lld", name,
                                (long long)numel, (long long)r->tensors[i].numel);
        if (dst) memcpy(dst, r->tensors[i].data, (size_t)numel * sizeof *dst);
        return QK_OK;
    }
    return qk_error_set(QK_ERR_NOT_FOUND, "ptq: '%s' is not replaced", name);
}

qk_status qk_ptq_write_checkpoint(const char *model_path, const char *out_dir,
                                  const qk_ptq_result *result, const qk_checkpoint_options *options,
                                  qk_checkpoint_report *report) {
    if (!model_path || !out_dir || !result || !options)
        return qk_error_set(QK_ERR_INVALID_ARG, "ptq checkpoint: NULL argument");
    if (result->gguf_target)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "ptq checkpoint: the result holds GGUF blocks, not affine linears");
    qk_model_source_options so = {.hf_layout = result->hf_layout};
    qk_model_source *src = NULL;
    qk_status st = qk_model_source_open(model_path, &so, &src);
    if (st != QK_OK) return st;
    qk_checkpoint_options o = *options;
    if (!o.read_f32) o.read_f32 = qk_model_source_read_f32;
    o.replace = replace_plain;
    o.replace_user = (void *)result;
    qk_checkpoint_writer *w = NULL;
    st = qk_checkpoint_writer_create(out_dir, src, &o, &w);
    for (size_t i = 0; i < result->n_linears && st == QK_OK; i++) {
        const qk_ptq_linear *l = &result->linears[i];
        if (!l->affine.codes)
            st = qk_error_set(QK_ERR_STATE, "ptq checkpoint: '%s' was not quantized", l->name);
        else
            st = qk_checkpoint_writer_add_linear(w, l->name, &l->affine);
    }
    if (st == QK_OK) st = qk_checkpoint_writer_commit(w, report);
    qk_checkpoint_writer_free(w);
    qk_model_source_close(src);
    return st;
}
