/*
** Reading quantized checkpoints through the model source: finding each
** linear module's stored parts, checking their dtypes and shapes against
** the config and the model's dimensions, and dequantizing on read.
*/
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* calloc, free, realloc */
#include <string.h>   /* strlen */
#include <sys/stat.h> /* stat */

#include "core/error.h"
#include "io/ckpt.h"

qk_status qk_ckpt_source_open(qk_model_source *s, const char *folder, qk_ms_ckpt **out) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", folder);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        return qk_error_set(QK_ERR_CORRUPT, "%s: line %d, column %d: %s", path, err.line,
                            err.column, err.text);
    json_t *qc = json_object_get(root, "quantization_config");
    if (!qc || json_is_null(qc)) {
        /* older files: AutoGPTQ's quantize_config.json or AutoAWQ's
        ** quant_config.json beside a config.json without quantization_config */
        static const char *const SIDE[2][2] = {{"quantize_config.json", "gptq"},
                                               {"quant_config.json", "awq"}};
        json_decref(root);
        root = NULL;
        for (int i = 0; i < 2 && !root; i++) {
            snprintf(path, sizeof path, "%s/%s", folder, SIDE[i][0]);
            struct stat sb;
            if (stat(path, &sb) != 0) continue;
            root = json_load_file(path, 0, &err);
            if (!root)
                return qk_error_set(QK_ERR_CORRUPT, "%s: line %d, column %d: %s", path, err.line,
                                    err.column, err.text);
            if (!json_is_object(root)) {
                json_decref(root);
                return qk_error_set(QK_ERR_CONFIG, "%s: not a JSON object", path);
            }
            if (root && !json_object_get(root, "quant_method"))
                json_object_set_new(root, "quant_method", json_string(SIDE[i][1]));
        }
        if (!root) return QK_OK; /* not a quantized checkpoint */
        qc = root;
    }
    qk_ms_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) {
        json_decref(root);
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    }
    qk_status st = qk_ckpt_config_parse(qc, path, folder, &ck->config);
    json_decref(root);
    if (st != QK_OK) {
        free(ck);
        return st;
    }
    *out = ck;
    (void)s;
    return QK_OK;
}

void qk_ckpt_source_free(qk_ms_ckpt *ck) {
    if (!ck) return;
    qk_ckpt_config_free(&ck->config);
    free(ck->linears);
    free(ck);
}

static void shape_text(int32_t ndim, const int64_t *shape, char *buf, size_t cap) {
    buf[0] = '\0';
    for (int32_t i = 0; i < ndim; i++) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
}

/* Stored tensor `name` must have the part's dtype (scales: any float type;
** compressed-tensors' g_idx and shape: int32 or int64) and shape. */
static qk_status check_part(const qk_model_source *s, size_t index, const qk_io_tensor *t,
                            const ckpt_part_spec *p, const ckpt_linear *lin) {
    const qk_safetensors *file = qk_safetensors_set_tensor_file(s->st, index);
    const char *path = file ? qk_safetensors_path(file) : s->path;
    bool type_ok = t->type == p->type;
    if (p->type == QK_TYPE_F16)
        type_ok = t->type == QK_TYPE_F16 || t->type == QK_TYPE_BF16 || t->type == QK_TYPE_F32;
    if (lin->config.format == QK_CHECKPOINT_COMPRESSED_TENSORS &&
        (p->type == QK_TYPE_I64 || (p->type == QK_TYPE_I32 && p->ndim == 1)))
        type_ok = t->type == QK_TYPE_I32 || t->type == QK_TYPE_I64;
    if (!type_ok)
        return qk_error_set(
            QK_ERR_SHAPE, "%s: tensor '%s' has dtype %s, expected %s", path, t->name,
            qk_safetensors_dtype_name(t->type) ? qk_safetensors_dtype_name(t->type) : "?",
            qk_safetensors_dtype_name(p->type));
    bool shape_ok = t->ndim == p->ndim;
    for (int32_t d = 0; shape_ok && d < p->ndim; d++) shape_ok = t->shape[d] == p->shape[d];
    if (!shape_ok) {
        char got[96], want[96];
        shape_text(t->ndim, t->shape, got, sizeof got);
        shape_text(p->ndim, p->shape, want, sizeof want);
        return qk_error_set(
            QK_ERR_SHAPE,
            "%s: tensor '%s' has shape [%s], expected [%s] for a %d-bit %s linear of "
            "%lld x %lld with group size %d",
            path, t->name, got, want, lin->config.bits,
            qk_checkpoint_format_name(lin->config.format), (long long)lin->rows,
            (long long)lin->cols, lin->config.group_size);
    }
    return QK_OK;
}

qk_status qk_ckpt_map_linear(qk_model_source *s, const char *name, const char *module, int64_t rows,
                             int64_t cols, int32_t permute_heads) {
    qk_ms_ckpt *ck = s->ckpt;
    char buf[192];
    qk_io_tensor t;
    snprintf(buf, sizeof buf, "%s.weight", module);
    int64_t i = qk_safetensors_set_find_tensor(s->st, buf);
    if (i >= 0) { /* stored unquantized (ignored / unconverted module) */
        qk_status st = qk_safetensors_set_tensor_info(s->st, (size_t)i, &t);
        return st == QK_OK ? qk_ms_add(s, name, &t, permute_heads) : st;
    }
    const ckpt_scheme *scheme = qk_ckpt_config_match(&ck->config, module);
    if (!scheme)
        return qk_error_set(QK_ERR_NOT_FOUND,
                            "%s: no tensor '%s', and no quantization_config group targets module "
                            "'%s'",
                            s->path, buf, module);
    if (ck->n_linears == ck->cap) {
        size_t cap = ck->cap ? 2 * ck->cap : 64;
        ckpt_linear *l = realloc(ck->linears, cap * sizeof *l);
        if (!l) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", s->path);
        ck->linears = l;
        ck->cap = cap;
    }
    ckpt_linear *lin = &ck->linears[ck->n_linears];
    memset(lin, 0, sizeof *lin);
    snprintf(lin->module, sizeof lin->module, "%s", module);
    lin->config = scheme->config;
    lin->rows = rows;
    lin->cols = cols;
    ckpt_part_spec spec[CKPT_PARTS];
    qk_status st = qk_ckpt_layout(&lin->config, rows, cols, spec);
    if (st != QK_OK) return qk_error_prefix("%s: module '%s'", s->path, module);
    /* compressed-tensors: a weight_g_idx is used whenever present, also when
    ** the config does not say actorder "group" */
    const bool ct = lin->config.format == QK_CHECKPOINT_COMPRESSED_TENSORS;
    const bool g_idx_required = ct && spec[CKPT_G_IDX].present;
    if (ct && !spec[CKPT_G_IDX].present) {
        spec[CKPT_G_IDX] = (ckpt_part_spec){.present = true,
                                            .suffix = "weight_g_idx",
                                            .type = QK_TYPE_I32,
                                            .ndim = 1,
                                            .shape = {cols, 0}};
    }
    size_t nbytes = 0;
    const char *file_name = NULL, *file[CKPT_PARTS] = {NULL};
    for (int p = 0; p < CKPT_PARTS; p++) {
        if (!spec[p].present) continue;
        snprintf(buf, sizeof buf, "%s.%s", module, spec[p].suffix);
        i = qk_safetensors_set_find_tensor(s->st, buf);
        if (i < 0) {
            /* GPTQ-for-LLaMa era files have no g_idx: groups are sequential */
            if (p == CKPT_G_IDX && !g_idx_required) continue;
            return qk_error_set(QK_ERR_NOT_FOUND,
                                "%s: no tensor '%s' (module '%s' is a %d-bit %s linear of %lld x "
                                "%lld)",
                                s->path, buf, module, lin->config.bits,
                                qk_checkpoint_format_name(lin->config.format), (long long)rows,
                                (long long)cols);
        }
        if ((st = qk_safetensors_set_tensor_info(s->st, (size_t)i, &t)) != QK_OK) return st;
        if ((st = check_part(s, (size_t)i, &t, &spec[p], lin)) != QK_OK) return st;
        lin->parts[p] = t;
        const qk_safetensors *sf = qk_safetensors_set_tensor_file(s->st, (size_t)i);
        file[p] = sf ? qk_safetensors_path(sf) : s->path;
        nbytes += t.nbytes;
        if (p == CKPT_WEIGHT) file_name = t.name;
    }
    const qk_io_tensor *gi = lin->parts[CKPT_G_IDX].data ? &lin->parts[CKPT_G_IDX] : NULL;
    const int64_t groups = qk_ckpt_n_groups(&lin->config, cols);
    for (int64_t c = 0; gi && c < cols; c++) {
        const int64_t g = qk_ckpt_load_int(gi, (size_t)c);
        if (g < 0 || g >= groups)
            return qk_error_set(
                QK_ERR_CORRUPT, "%s: tensor '%s': element %lld is %lld, outside 0..%lld",
                file[CKPT_G_IDX], gi->name, (long long)c, (long long)g, (long long)groups - 1);
    }
    if (spec[CKPT_SHAPE].present) {
        const int64_t r = qk_ckpt_load_int(&lin->parts[CKPT_SHAPE], 0);
        const int64_t c = qk_ckpt_load_int(&lin->parts[CKPT_SHAPE], 1);
        if (r != rows || c != cols)
            return qk_error_set(QK_ERR_SHAPE,
                                "%s: tensor '%s' says [%lld, %lld], the model needs [%lld, %lld]",
                                file[CKPT_SHAPE], lin->parts[CKPT_SHAPE].name, (long long)r,
                                (long long)c, (long long)rows, (long long)cols);
    }
    ck->n_linears++;
    qk_io_tensor view = {.name = file_name, .type = QK_TYPE_F32, .ndim = 2, .nbytes = nbytes};
    view.shape[0] = rows;
    view.shape[1] = cols;
    st = qk_ms_add(s, name, &view, permute_heads);
    if (st == QK_OK) s->entries[s->n_entries - 1].quant = (int32_t)ck->n_linears;
    return st;
}

static qk_status decode_entry(const qk_model_source *s, const ms_entry *e, qk_quantized_linear *q) {
    const ckpt_linear *lin = &s->ckpt->linears[e->quant - 1];
    const qk_io_tensor *parts[CKPT_PARTS];
    for (int p = 0; p < CKPT_PARTS; p++) parts[p] = lin->parts[p].data ? &lin->parts[p] : NULL;
    char where[256];
    snprintf(where, sizeof where, "%s: module '%s'", s->path, lin->module);
    return qk_ckpt_decode(&lin->config, parts, lin->rows, lin->cols, where, q);
}

qk_status qk_ckpt_read_entry(const qk_model_source *s, const ms_entry *e, qk_type type, void *dst,
                             size_t dst_bytes) {
    const qk_type_traits *tt = qk_type_get_traits(type);
    if (!tt) return qk_error_set(QK_ERR_INVALID_ARG, "model source: type id %d", (int)type);
    if (tt->is_block)
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: tensor '%s' is a quantized checkpoint linear; it reads as f32 or "
                            "another plain type, not %s",
                            s->path, e->name, tt->name);
    const int64_t rows = e->src.shape[0], cols = e->src.shape[1];
    size_t row_bytes, need;
    qk_status st = qk_type_row_bytes(type, cols, &row_bytes);
    if (st != QK_OK) return qk_error_prefix("%s: tensor '%s'", s->path, e->name);
    if (!qk_mul_size(row_bytes, (size_t)rows, &need))
        return qk_error_set(QK_ERR_OVERFLOW, "%s: tensor '%s' size overflows", s->path, e->name);
    if (!dst || dst_bytes < need)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "%s: tensor '%s' as %s needs %zu bytes, the buffer has %zu", s->path,
                            e->name, tt->name, need, dst_bytes);
    qk_quantized_linear q;
    if ((st = decode_entry(s, e, &q)) != QK_OK) return st;
    float *f = type == QK_TYPE_F32 ? dst : malloc((size_t)(rows * cols) * sizeof *f);
    if (!f) {
        qk_quantized_linear_free(&q);
        return qk_error_set(QK_ERR_NOMEM, "%s: tensor '%s': out of memory", s->path, e->name);
    }
    /* the product of qk_quantized_linear_dequantize, for bit-identical
    ** results; rows are independent: split over threads */
#pragma omp parallel for schedule(static) if (rows * cols >= QK_CKPT_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t sr = qk_ms_source_row(r, rows, e->permute_heads);
        float *out = f + r * cols;
        const uint8_t *code = q.codes + sr * cols;
        if (q.g_idx) {
            for (int64_t c = 0; c < cols; c++) {
                const size_t k = (size_t)(q.g_idx[c] * rows + sr);
                out[c] = (float)((int32_t)code[c] - q.zeros[k]) * q.scales[k];
            }
            continue;
        }
        for (int64_t g = 0; g < q.n_groups; g++) {
            const int32_t z = q.zeros[g * rows + sr];
            const float scale = q.scales[g * rows + sr];
            const int64_t end = (g + 1) * q.group_size < cols ? (g + 1) * q.group_size : cols;
            for (int64_t c = g * q.group_size; c < end; c++)
                out[c] = (float)((int32_t)code[c] - z) * scale;
        }
    }
    if (f != dst) {
        st = qk_convert(QK_TYPE_F32, f, type, dst, (size_t)(rows * cols));
        if (st != QK_OK) qk_error_prefix("%s: tensor '%s'", s->path, e->name);
        free(f);
    }
    qk_quantized_linear_free(&q);
    return st;
}

qk_status qk_checkpoint_source_config(const qk_model_source *src, qk_checkpoint_config *out) {
    if (!src || !out) return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint config: NULL");
    if (!src->ckpt || src->ckpt->n_linears == 0)
        return qk_error_set(QK_ERR_NOT_FOUND, "%s: not a quantized checkpoint", src->path);
    *out = src->ckpt->linears[0].config;
    return QK_OK;
}

qk_status qk_checkpoint_read_linear(const qk_model_source *src, size_t index,
                                    qk_quantized_linear *out) {
    if (!src || !out || index >= src->n_entries)
        return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint read: bad arguments (tensor %zu)",
                            index);
    memset(out, 0, sizeof *out);
    const ms_entry *e = &src->entries[index];
    if (!e->quant)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: tensor '%s' is not a quantized linear",
                            src->path, e->name);
    qk_quantized_linear q;
    qk_status st = decode_entry(src, e, &q);
    if (st != QK_OK || e->permute_heads <= 0) {
        if (st == QK_OK) *out = q;
        return st;
    }
    int64_t *from = malloc((size_t)q.rows * sizeof *from);
    if (!from) {
        qk_quantized_linear_free(&q);
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", src->path);
    }
    for (int64_t r = 0; r < q.rows; r++) from[r] = qk_ms_source_row(r, q.rows, e->permute_heads);
    st = qk_ckpt_permute_rows(&q, from, out);
    free(from);
    qk_quantized_linear_free(&q);
    return st;
}
