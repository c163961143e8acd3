/*
** Model source (see quantkit/io.h): container detection, the shared tensor
** table, shape checks against the hyper-parameters, and reading one tensor
** with the HF -> llama.cpp rotary row permutation.
*/
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* calloc, free, qsort, bsearch */
#include <string.h>   /* strcmp, strlen */
#include <sys/stat.h> /* stat */

#include "core/error.h"
#include "io/bytes.h"
#include "io/ckpt.h"
#include "io/model_source.h"

const char *qk_model_format_name(qk_model_format format) {
    switch (format) {
    case QK_MODEL_FORMAT_HF:
        return "hf";
    case QK_MODEL_FORMAT_GGUF:
        return "gguf";
    case QK_MODEL_FORMAT_LLAMA2C:
        return "llama2c";
    }
    return "?";
}

void qk_ms_layer_name(int kind, int32_t layer, char *buf) {
    static const char *const suffix[QK_MS_LAYER_KINDS] = {
        "attn_norm.weight",   "attn_q.weight",   "attn_k.weight",   "attn_v.weight",
        "attn_output.weight", "attn_q.bias",     "attn_k.bias",     "attn_v.bias",
        "ffn_norm.weight",    "ffn_gate.weight", "ffn_down.weight", "ffn_up.weight",
    };
    snprintf(buf, QK_MS_NAME_CAP, "blk.%d.%s", (int)layer, suffix[kind]);
}

qk_status qk_ms_add(qk_model_source *s, const char *name, const qk_io_tensor *src,
                    int32_t permute_heads) {
    if (strlen(name) >= QK_MS_NAME_CAP)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: tensor name '%s' is too long", s->path, name);
    if (s->n_entries == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        ms_entry *e = realloc(s->entries, cap * sizeof *e);
        if (!e) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", s->path);
        s->entries = e;
        s->cap = cap;
    }
    ms_entry *e = &s->entries[s->n_entries++];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, strlen(name) + 1);
    e->src = *src;
    e->permute_heads = permute_heads;
    return QK_OK;
}

static int cmp_entry_ptr(const void *a, const void *b) {
    return strcmp((*(const ms_entry *const *)a)->name, (*(const ms_entry *const *)b)->name);
}

static const ms_entry *find(const qk_model_source *s, const char *name) {
    if (!name || s->n_entries == 0 || !s->sorted) return NULL;
    ms_entry key;
    snprintf(key.name, sizeof key.name, "%s", name);
    const ms_entry *kp = &key;
    ms_entry **hit = bsearch(&kp, s->sorted, s->n_entries, sizeof *s->sorted, cmp_entry_ptr);
    return hit ? *hit : NULL;
}

/* One required tensor: present with the expected shape. */
static qk_status expect(const qk_model_source *s, const char *name, int64_t rows, int64_t cols) {
    const ms_entry *e = find(s, name);
    if (!e) return qk_error_set(QK_ERR_NOT_FOUND, "%s: no tensor '%s'", s->path, name);
    int32_t ndim = cols ? 2 : 1;
    bool ok = e->src.ndim == ndim && e->src.shape[0] == rows && (!cols || e->src.shape[1] == cols);
    if (!ok) {
        char got[96] = "";
        for (int32_t i = 0; i < e->src.ndim; i++) {
            size_t n = strlen(got);
            snprintf(got + n, sizeof got - n, "%s%lld", i ? ", " : "", (long long)e->src.shape[i]);
        }
        if (cols)
            return qk_error_set(QK_ERR_SHAPE,
                                "%s: tensor '%s' (%s in the file) has shape [%s], expected [%lld, "
                                "%lld]",
                                s->path, name, e->src.name, got, (long long)rows, (long long)cols);
        return qk_error_set(QK_ERR_SHAPE,
                            "%s: tensor '%s' (%s in the file) has shape [%s], expected [%lld]",
                            s->path, name, e->src.name, got, (long long)rows);
    }
    return QK_OK;
}

static qk_status check_hparams(const qk_model_source *s) {
    const qk_model_hparams *h = &s->hp;
    const int32_t v[] = {h->n_vocab, h->n_embd,    h->n_ff,    h->n_layer,
                         h->n_head,  h->n_head_kv, h->head_dim};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] <= 0)
            return qk_error_set(QK_ERR_CONFIG,
                                "%s: hyper-parameters must be positive (vocab %d, embd %d, ff %d, "
                                "layers %d, heads %d/%d, head_dim %d)",
                                s->path, h->n_vocab, h->n_embd, h->n_ff, h->n_layer, h->n_head,
                                h->n_head_kv, h->head_dim);
    if (h->n_head % h->n_head_kv != 0 || h->head_dim % 2 != 0)
        return qk_error_set(QK_ERR_CONFIG,
                            "%s: %d heads are not a multiple of %d KV heads, or head_dim %d is odd",
                            s->path, h->n_head, h->n_head_kv, h->head_dim);
    return QK_OK;
}

/* Every tensor the hyper-parameters call for, with its shape. */
static qk_status check_tensors(const qk_model_source *s) {
    const qk_model_hparams *h = &s->hp;
    int64_t q = (int64_t)h->n_head * h->head_dim, kv = (int64_t)h->n_head_kv * h->head_dim;
    qk_status st = expect(s, "token_embd.weight", h->n_vocab, h->n_embd);
    if (st == QK_OK) st = expect(s, "output_norm.weight", h->n_embd, 0);
    if (st == QK_OK && !h->tied_output) st = expect(s, "output.weight", h->n_vocab, h->n_embd);
    for (int32_t l = 0; l < h->n_layer && st == QK_OK; l++) {
        const struct {
            int kind;
            int64_t rows, cols;
        } want[] = {{QK_MS_ATTN_NORM, h->n_embd, 0},      {QK_MS_ATTN_Q, q, h->n_embd},
                    {QK_MS_ATTN_K, kv, h->n_embd},        {QK_MS_ATTN_V, kv, h->n_embd},
                    {QK_MS_ATTN_OUTPUT, h->n_embd, q},    {QK_MS_FFN_NORM, h->n_embd, 0},
                    {QK_MS_FFN_GATE, h->n_ff, h->n_embd}, {QK_MS_FFN_DOWN, h->n_embd, h->n_ff},
                    {QK_MS_FFN_UP, h->n_ff, h->n_embd},   {QK_MS_ATTN_Q_BIAS, q, 0},
                    {QK_MS_ATTN_K_BIAS, kv, 0},           {QK_MS_ATTN_V_BIAS, kv, 0}};
        size_t n = sizeof want / sizeof want[0] - (h->attn_bias ? 0 : 3);
        for (size_t i = 0; i < n && st == QK_OK; i++) {
            char name[QK_MS_NAME_CAP];
            qk_ms_layer_name(want[i].kind, l, name);
            st = expect(s, name, want[i].rows, want[i].cols);
        }
    }
    return st;
}

/* GGUF by its magic, a folder (or config.json / .safetensors inside one)
** as Hugging Face, anything else as llama.cpp checkpoint. */
static qk_status detect(const char *path, qk_model_format *format, char **folder) {
    struct stat sb;
    *folder = NULL;
    if (stat(path, &sb) != 0) {
        /* let the mapped-file open produce the OS error */
        *format = QK_MODEL_FORMAT_LLAMA2C;
        return QK_OK;
    }
    size_t n = strlen(path);
    if (S_ISDIR(sb.st_mode)) {
        *format = QK_MODEL_FORMAT_HF;
        *folder = strdup(path);
    } else if ((n >= 11 && strcmp(path + n - 11, "config.json") == 0) ||
               (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0) ||
               (n >= 5 && strcmp(path + n - 5, ".json") == 0)) {
        *format = QK_MODEL_FORMAT_HF;
        const char *slash = strrchr(path, '/');
        *folder = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    } else {
        qk_mapped_file *f = NULL;
        qk_status st = qk_mapped_file_open(path, &f);
        if (st != QK_OK) return st;
        bool gguf =
            qk_mapped_file_size(f) >= 4 && qk_load_u32(qk_mapped_file_data(f)) == QK_GGUF_MAGIC;
        qk_mapped_file_close(f);
        *format = gguf ? QK_MODEL_FORMAT_GGUF : QK_MODEL_FORMAT_LLAMA2C;
        return QK_OK;
    }
    if (!*folder) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    return QK_OK;
}

qk_status qk_model_source_open(const char *path, const qk_model_source_options *options,
                               qk_model_source **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "model source: NULL argument");
    *out = NULL;
    qk_model_source_options defaults = {0};
    if (!options) options = &defaults;
    qk_model_source *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    }
    char *folder = NULL;
    qk_status st = detect(path, &s->format, &folder);
    if (st == QK_OK) {
        switch (s->format) {
        case QK_MODEL_FORMAT_HF:
            st = qk_ms_open_hf(s, folder, options);
            break;
        case QK_MODEL_FORMAT_GGUF:
            st = qk_ms_open_gguf(s, path);
            break;
        case QK_MODEL_FORMAT_LLAMA2C:
            st = qk_ms_open_llama2c(s, path);
            break;
        }
    }
    free(folder);
    if (st == QK_OK) {
        s->sorted = malloc((s->n_entries ? s->n_entries : 1) * sizeof *s->sorted);
        if (!s->sorted) st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st == QK_OK) {
        for (size_t i = 0; i < s->n_entries; i++) s->sorted[i] = &s->entries[i];
        qsort(s->sorted, s->n_entries, sizeof *s->sorted, cmp_entry_ptr);
        for (size_t i = 1; i < s->n_entries && st == QK_OK; i++)
            if (strcmp(s->sorted[i - 1]->name, s->sorted[i]->name) == 0)
                st = qk_error_set(QK_ERR_CORRUPT, "%s: two tensors named '%s'", path,
                                  s->sorted[i]->name);
    }
    if (st == QK_OK) st = check_hparams(s);
    if (st == QK_OK) st = check_tensors(s);
    if (st != QK_OK) {
        qk_model_source_close(s);
        return st;
    }
    *out = s;
    return QK_OK;
}

void qk_model_source_close(qk_model_source *s) {
    if (!s) return;
    qk_safetensors_set_close(s->st);
    qk_gguf_reader_close(s->gguf);
    qk_llama2c_close(s->l2c);
    qk_ckpt_source_free(s->ckpt);
    free(s->entries);
    free(s->sorted);
    free(s->path);
    free(s);
}

qk_model_format qk_model_source_format(const qk_model_source *s) {
    return s->format;
}
const char *qk_model_source_path(const qk_model_source *s) {
    return s->path;
}
const qk_model_hparams *qk_model_source_hparams(const qk_model_source *s) {
    return &s->hp;
}
size_t qk_model_source_tensor_count(const qk_model_source *s) {
    return s->n_entries;
}

int64_t qk_model_source_find_tensor(const qk_model_source *s, const char *name) {
    const ms_entry *e = s ? find(s, name) : NULL;
    return e ? (int64_t)(e - s->entries) : -1;
}

qk_status qk_model_source_tensor_info(const qk_model_source *s, size_t index,
                                      qk_model_tensor *out) {
    if (!s || !out || index >= s->n_entries)
        return qk_error_set(QK_ERR_INVALID_ARG, "model source: tensor index %zu out of range",
                            index);
    const ms_entry *e = &s->entries[index];
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->file_name = e->src.name;
    out->type = e->src.type;
    out->ndim = e->src.ndim;
    for (int32_t i = 0; i < e->src.ndim; i++) out->shape[i] = e->src.shape[i];
    out->nbytes = e->src.nbytes;
    out->data = e->src.data;
    out->permuted = e->permute_heads > 0;
    if (e->quant) out->quant_bits = s->ckpt->linears[e->quant - 1].config.bits;
    return QK_OK;
}

/* Rows and row length the copy works on: a permuted vector is `n` rows of
** one element; otherwise all but the innermost dimension are rows. */
static void row_layout(const ms_entry *e, int64_t *rows, int64_t *cols) {
    const qk_io_tensor *t = &e->src;
    if (t->ndim == 0) {
        *rows = *cols = 1;
    } else if (t->ndim == 1) {
        *rows = e->permute_heads > 0 ? t->shape[0] : 1;
        *cols = e->permute_heads > 0 ? 1 : t->shape[0];
    } else {
        *cols = t->shape[t->ndim - 1];
        *rows = 1;
        for (int32_t i = 0; i + 1 < t->ndim; i++) *rows *= t->shape[i];
    }
}

qk_status qk_model_source_tensor_bytes(const qk_model_source *s, size_t index, qk_type type,
                                       size_t *out) {
    if (!s || !out || index >= s->n_entries)
        return qk_error_set(QK_ERR_INVALID_ARG, "model source: tensor index %zu out of range",
                            index);
    const ms_entry *e = &s->entries[index];
    qk_status st = qk_type_row_bytes(type, qk_io_tensor_numel(&e->src), out);
    if (st != QK_OK)
        return qk_error_prefix("%s: tensor '%s' as %s", s->path, e->name, qk_type_name(type));
    return QK_OK;
}

/* Source row of output row `r` (HF rotary halves -> llama.cpp pairs):
** rows [heads, 2, half] are read as [heads, half, 2]. */
int64_t qk_ms_source_row(int64_t r, int64_t rows, int32_t heads) {
    if (heads <= 0) return r;
    int64_t per = rows / heads, half = per / 2;
    int64_t h = r / per, w = r % per;
    return h * per + (w % 2) * half + w / 2;
}

qk_status qk_model_source_read(const qk_model_source *s, size_t index, qk_type type, void *dst,
                               size_t dst_bytes) {
    if (!s || index >= s->n_entries || (!dst && dst_bytes))
        return qk_error_set(QK_ERR_INVALID_ARG, "model source: bad read arguments (tensor %zu)",
                            index);
    const ms_entry *e = &s->entries[index];
    if (e->quant) return qk_ckpt_read_entry(s, e, type, dst, dst_bytes);
    qk_type from = e->src.type;
    const qk_type_traits *ft = qk_type_get_traits(from), *tt = qk_type_get_traits(type);
    if (!tt) return qk_error_set(QK_ERR_INVALID_ARG, "model source: type id %d", (int)type);
    if (type != from && (ft->is_block || tt->is_block))
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: tensor '%s' is stored as %s; reading it as %s needs the quant "
                            "layer's (de)quantization",
                            s->path, e->name, ft->name, tt->name);
    int64_t rows, cols;
    row_layout(e, &rows, &cols);
    size_t in_row, out_row, need;
    qk_status st = qk_type_row_bytes(from, cols, &in_row);
    if (st == QK_OK) st = qk_type_row_bytes(type, cols, &out_row);
    if (st == QK_OK && !qk_mul_size(out_row, (size_t)rows, &need))
        st = qk_error_set(QK_ERR_OVERFLOW, "%s: tensor '%s' size overflows", s->path, e->name);
    if (st != QK_OK) return qk_error_prefix("%s: tensor '%s'", s->path, e->name);
    if (dst_bytes < need)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "%s: tensor '%s' as %s needs %zu bytes, the buffer has %zu", s->path,
                            e->name, tt->name, need, dst_bytes);
    const unsigned char *src = e->src.data;
    unsigned char *out = dst;
    if (e->permute_heads == 0 && type == from) {
        memcpy(out, src, need);
        return QK_OK;
    }
    if (e->permute_heads == 0) {
        st = qk_convert(from, src, type, out, (size_t)(rows * cols));
        return st == QK_OK ? QK_OK : qk_error_prefix("%s: tensor '%s'", s->path, e->name);
    }
    for (int64_t r = 0; r < rows; r++) {
        const unsigned char *in =
            src + (size_t)qk_ms_source_row(r, rows, e->permute_heads) * in_row;
        if (type == from) {
            memcpy(out + (size_t)r * out_row, in, in_row);
        } else {
            st = qk_convert(from, in, type, out + (size_t)r * out_row, (size_t)cols);
            if (st != QK_OK)
                return qk_error_prefix("%s: tensor '%s' row %lld", s->path, e->name, (long long)r);
        }
    }
    return QK_OK;
}
