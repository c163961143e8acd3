/*
** llama2.c checkpoints (see quantkit/io.h), f32 only. Layouts from
** llama2.c's export.py:
**   legacy (v0): 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
**     vocab_size (negative: separate classifier), seq_len), then
**     token_embedding, rms_att[L], wq[L], wk[L], wv[L], wo[L], rms_ffn[L],
**     w1[L], w2[L], w3[L], rms_final, freq_cis_real and freq_cis_imag
**     (seq_len x head_size/2 each, skipped), wcls when not shared;
**   version 1: u32 magic "ak42" (0x616b3432), i32 version 1, the 7 int32
**     (vocab positive), u8 shared_classifier, zero padding to 256 bytes,
**     then rms_att[L], rms_ffn[L], rms_final, token_embedding, wq[L], wk[L],
**     wv[L], wo[L], w1[L], w2[L], w3[L], wcls when not shared.
** Every weight is stored as PyTorch's row-major [out_features, in_features].
*/
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strcmp */

#include "core/error.h"
#include "io/bytes.h"
#include "quantkit/io.h"

#define LLAMA2C_MAGIC 0x616b3432u
#define LLAMA2C_V1_HEADER 256u
#define NAME_CAP 48

typedef struct l2c_tensor {
    char name[NAME_CAP];
    int32_t ndim;
    int64_t shape[2];
    uint64_t offset;
    uint64_t nbytes;
} l2c_tensor;

struct qk_llama2c {
    qk_mapped_file *file;
    const char *path;
    qk_llama2c_config config;
    l2c_tensor *tensors; /* canonical order (see tensor_count) */
    size_t n_tensors;
};

/* The kinds of weights, in the order quantkit lists them per layer. */
enum {
    K_EMB,
    K_ATT_NORM,
    K_WQ,
    K_WK,
    K_WV,
    K_WO,
    K_FFN_NORM,
    K_W1,
    K_W2,
    K_W3,
    K_NORM,
    K_CLS,
    K_FREQ,
    K_COUNT
};

typedef struct kind_shape {
    int64_t rows, cols; /* cols 0: a vector of `rows` */
    bool per_layer;
} kind_shape;

static void kind_shapes(const qk_llama2c_config *c, kind_shape k[K_COUNT]) {
    int64_t hs = c->dim / c->n_heads;
    int64_t q = (int64_t)c->n_heads * hs, kv = (int64_t)c->n_kv_heads * hs;
    k[K_EMB] = (kind_shape){c->vocab_size, c->dim, false};
    k[K_ATT_NORM] = (kind_shape){c->dim, 0, true};
    k[K_WQ] = (kind_shape){q, c->dim, true};
    k[K_WK] = (kind_shape){kv, c->dim, true};
    k[K_WV] = (kind_shape){kv, c->dim, true};
    k[K_WO] = (kind_shape){c->dim, q, true};
    k[K_FFN_NORM] = (kind_shape){c->dim, 0, true};
    k[K_W1] = (kind_shape){c->hidden_dim, c->dim, true};
    k[K_W2] = (kind_shape){c->dim, c->hidden_dim, true};
    k[K_W3] = (kind_shape){c->hidden_dim, c->dim, true};
    k[K_NORM] = (kind_shape){c->dim, 0, false};
    k[K_CLS] = (kind_shape){c->vocab_size, c->dim, false};
    /* freq_cis_real + freq_cis_imag, legacy only: 2 x seq_len x head_size/2 */
    k[K_FREQ] = (kind_shape){c->seq_len, hs, false};
}

static void kind_name(int kind, int64_t layer, char *out) {
    static const char *const fmt[K_COUNT] = {
        "tok_embeddings.weight",
        "layers.%lld.attention_norm.weight",
        "layers.%lld.attention.wq.weight",
        "layers.%lld.attention.wk.weight",
        "layers.%lld.attention.wv.weight",
        "layers.%lld.attention.wo.weight",
        "layers.%lld.ffn_norm.weight",
        "layers.%lld.feed_forward.w1.weight",
        "layers.%lld.feed_forward.w2.weight",
        "layers.%lld.feed_forward.w3.weight",
        "norm.weight",
        "output.weight",
        "freq_cis",
    };
    snprintf(out, NAME_CAP, fmt[kind], (long long)layer);
}

static qk_status read_header(qk_llama2c *m, const unsigned char *p, size_t size) {
    qk_llama2c_config *c = &m->config;
    size_t at = 0;
    if (size >= 8 && qk_load_u32(p) == LLAMA2C_MAGIC) {
        int32_t version = (int32_t)qk_load_u32(p + 4);
        if (version != 1)
            return qk_error_set(QK_ERR_UNSUPPORTED,
                                "%s: llama2.c export version %d (byte 4) is not supported (f32 "
                                "legacy and version 1 are)",
                                m->path, version);
        if (size < LLAMA2C_V1_HEADER)
            return qk_error_set(QK_ERR_TRUNCATED,
                                "%s: file truncated: %zu bytes, the version-1 header needs 256",
                                m->path, size);
        c->version = 1;
        at = 8;
    } else if (size < 28) {
        return qk_error_set(QK_ERR_TRUNCATED,
                            "%s: file truncated: %zu bytes, the llama2.c header needs 28", m->path,
                            size);
    }
    int32_t v[7];
    for (int i = 0; i < 7; i++) v[i] = (int32_t)qk_load_u32(p + at + 4 * (size_t)i);
    static const char *const field[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    for (int i = 0; i < 7; i++) {
        if (i == 5 && c->version == 0) continue; /* vocab may be negative in legacy files */
        if (v[i] <= 0)
            return qk_error_set(QK_ERR_CORRUPT,
                                "%s: header field %s = %d (byte %zu) must be positive", m->path,
                                field[i], v[i], at + 4 * (size_t)i);
    }
    c->dim = v[0];
    c->hidden_dim = v[1];
    c->n_layers = v[2];
    c->n_heads = v[3];
    c->n_kv_heads = v[4];
    c->seq_len = v[6];
    if (c->version == 0) {
        if (v[5] == 0 || v[5] == INT32_MIN)
            return qk_error_set(QK_ERR_CORRUPT,
                                "%s: header field vocab_size = %d (byte 20) is invalid", m->path,
                                v[5]);
        c->shared_classifier = v[5] > 0;
        c->vocab_size = v[5] > 0 ? v[5] : -v[5];
    } else {
        c->vocab_size = v[5];
        unsigned char shared = p[36];
        if (shared > 1)
            return qk_error_set(QK_ERR_CORRUPT,
                                "%s: shared_classifier byte 36 is %u, expected 0 or 1", m->path,
                                shared);
        c->shared_classifier = shared == 1;
    }
    if (c->dim % c->n_heads != 0)
        return qk_error_set(QK_ERR_CORRUPT, "%s: dim %d is not a multiple of n_heads %d", m->path,
                            c->dim, c->n_heads);
    if (c->n_heads % c->n_kv_heads != 0)
        return qk_error_set(QK_ERR_CORRUPT, "%s: n_heads %d is not a multiple of n_kv_heads %d",
                            m->path, c->n_heads, c->n_kv_heads);
    if ((c->dim / c->n_heads) % 2 != 0)
        return qk_error_set(QK_ERR_CORRUPT, "%s: head size %d is odd", m->path,
                            c->dim / c->n_heads);
    return QK_OK;
}

/* Bytes of one tensor of `kind` (the sum of both freq tables for K_FREQ). */
static bool kind_bytes(const kind_shape *k, int kind, uint64_t *out) {
    /* every factor is a positive int32: each product of two fits in 62 bits */
    uint64_t n = (uint64_t)k->rows * (uint64_t)(k->cols ? k->cols : 1);
    if (kind == K_FREQ) n = (uint64_t)k->rows * (uint64_t)(k->cols / 2) * 2;
    if (n > UINT64_MAX / 4) return false;
    *out = n * 4;
    return true;
}

static qk_status place(qk_llama2c *m, size_t size) {
    const qk_llama2c_config *c = &m->config;
    kind_shape ks[K_COUNT];
    kind_shapes(c, ks);
    static const int legacy[] = {K_EMB, K_ATT_NORM, K_WQ, K_WK,   K_WV,   K_WO, K_FFN_NORM,
                                 K_W1,  K_W2,       K_W3, K_NORM, K_FREQ, K_CLS};
    static const int v1[] = {K_ATT_NORM, K_FFN_NORM, K_NORM, K_EMB, K_WQ, K_WK,
                             K_WV,       K_WO,       K_W1,   K_W2,  K_W3, K_CLS};
    const int *order = c->version == 0 ? legacy : v1;
    size_t n_order = c->version == 0 ? sizeof legacy / sizeof legacy[0] : sizeof v1 / sizeof v1[0];
    uint64_t pos = c->version == 0 ? 28 : LLAMA2C_V1_HEADER;
    uint64_t start[K_COUNT] = {0}; /* file offset of each kind's first tensor */
    for (size_t i = 0; i < n_order; i++) {
        int kind = order[i];
        if (kind == K_CLS && c->shared_classifier) continue;
        uint64_t one = 0, all;
        if (!kind_bytes(&ks[kind], kind, &one))
            return qk_error_set(QK_ERR_OVERFLOW, "%s: tensor sizes overflow", m->path);
        all = one;
        if (ks[kind].per_layer) {
            if (one > UINT64_MAX / (uint64_t)c->n_layers)
                return qk_error_set(QK_ERR_OVERFLOW, "%s: tensor sizes overflow", m->path);
            all = one * (uint64_t)c->n_layers;
        }
        start[kind] = pos;
        if (pos > size || all > size - pos) {
            /* name the first tensor of the run that does not fit */
            uint64_t layer = ks[kind].per_layer && pos <= size ? (size - pos) / one : 0;
            char name[NAME_CAP];
            kind_name(kind, (int64_t)layer, name);
            return qk_error_set(
                QK_ERR_TRUNCATED,
                "%s: file truncated: tensor '%s' at byte %llu needs %llu bytes, the "
                "file has %zu",
                m->path, name, (unsigned long long)(pos + layer * one), (unsigned long long)one,
                size);
        }
        pos += all;
    }
    if (pos != size)
        return qk_error_set(QK_ERR_CORRUPT,
                            "%s: %llu trailing bytes after the last tensor (byte %llu): the header "
                            "does not describe this file",
                            m->path, (unsigned long long)(size - pos), (unsigned long long)pos);

    /* the file size bounds n_layers here, so the table is small */
    m->n_tensors = 2 + 9 * (size_t)c->n_layers + (c->shared_classifier ? 0 : 1);
    m->tensors = calloc(m->n_tensors, sizeof *m->tensors);
    if (!m->tensors) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", m->path);
    size_t t = 0;
    for (int64_t l = -1; l <= c->n_layers; l++) {
        int first = l < 0 ? K_EMB : l == c->n_layers ? K_NORM : K_ATT_NORM;
        int last = l < 0 ? K_EMB : l == c->n_layers ? K_CLS : K_W3;
        for (int kind = first; kind <= last; kind++) {
            if (kind == K_CLS && c->shared_classifier) continue;
            l2c_tensor *e = &m->tensors[t++];
            kind_name(kind, l, e->name);
            uint64_t one = 0;
            kind_bytes(&ks[kind], kind, &one);
            e->nbytes = one;
            e->offset = start[kind] + (ks[kind].per_layer ? (uint64_t)l * one : 0);
            e->ndim = ks[kind].cols ? 2 : 1;
            e->shape[0] = ks[kind].rows;
            e->shape[1] = ks[kind].cols;
        }
    }
    return QK_OK;
}

qk_status qk_llama2c_open(const char *path, qk_llama2c **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "llama2c: NULL argument");
    *out = NULL;
    qk_llama2c *m = calloc(1, sizeof *m);
    if (!m) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    qk_status st = qk_mapped_file_open(path, &m->file);
    if (st == QK_OK) {
        m->path = qk_mapped_file_path(m->file);
        st = read_header(m, qk_mapped_file_data(m->file), qk_mapped_file_size(m->file));
    }
    if (st == QK_OK) st = place(m, qk_mapped_file_size(m->file));
    if (st != QK_OK) {
        qk_llama2c_close(m);
        return st;
    }
    *out = m;
    return QK_OK;
}

void qk_llama2c_close(qk_llama2c *m) {
    if (!m) return;
    qk_mapped_file_close(m->file);
    free(m->tensors);
    free(m);
}

const char *qk_llama2c_path(const qk_llama2c *m) {
    return m->path;
}
const qk_llama2c_config *qk_llama2c_get_config(const qk_llama2c *m) {
    return &m->config;
}
size_t qk_llama2c_tensor_count(const qk_llama2c *m) {
    return m->n_tensors;
}

int64_t qk_llama2c_find_tensor(const qk_llama2c *m, const char *name) {
    for (size_t i = 0; m && name && i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return (int64_t)i;
    return -1;
}

qk_status qk_llama2c_tensor_info(const qk_llama2c *m, size_t index, qk_io_tensor *out) {
    if (!m || !out || index >= m->n_tensors)
        return qk_error_set(QK_ERR_INVALID_ARG, "llama2c: tensor index %zu out of range", index);
    const l2c_tensor *e = &m->tensors[index];
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->type = QK_TYPE_F32;
    out->ndim = e->ndim;
    out->shape[0] = e->shape[0];
    if (e->ndim == 2) out->shape[1] = e->shape[1];
    out->offset = e->offset;
    out->nbytes = (size_t)e->nbytes;
    out->data = qk_mapped_file_data(m->file) + e->offset;
    return QK_OK;
}
