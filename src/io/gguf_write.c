/*
** GGUF streaming writer (see quantkit/gguf.h). Key/value pairs are encoded
** as they are added; tensor infos are collected; begin() writes header,
** pairs, infos and the padding, then the caller streams each tensor's data
** in declaration order and commit() renames the file into place. Offsets
** are packed as llama.cpp packs them: each tensor starts at the previous
** one's offset plus its size rounded up to the alignment, and every tensor
** (the last too) is followed by zero padding to the alignment.
*/
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strcmp, strlen */

#include "core/error.h"
#include "io/bytes.h"
#include "io/gguf_internal.h"

typedef struct w_tensor {
    char *name;
    qk_type type;
    uint32_t ggml_type;
    int32_t ndim;
    int64_t shape[QK_MAX_DIMS];
    size_t nbytes;
    uint64_t rel_offset;
} w_tensor;

enum { DECLARING, STREAMING, COMMITTED, FAILED };

struct qk_gguf_writer {
    char *path;
    qk_atomic_file *file;
    qk_bytebuf kv; /* encoded key/value pairs */
    char **keys;
    int64_t n_kv;
    size_t keys_cap;
    uint32_t alignment;
    w_tensor *tensors;
    int64_t n_tensors;
    size_t tensors_cap;
    int state;
    int64_t cur;        /* tensor being streamed */
    size_t cur_written; /* its bytes written so far */
};

qk_status qk_gguf_writer_create(const char *path, qk_gguf_writer **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "gguf writer: NULL argument");
    *out = NULL;
    qk_gguf_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    }
    qk_status st = qk_atomic_file_open(path, &w->file);
    if (st != QK_OK) {
        free(w->path);
        free(w);
        return st;
    }
    w->alignment = QK_GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return QK_OK;
}

void qk_gguf_writer_free(qk_gguf_writer *w) {
    if (!w) return;
    qk_atomic_file_abort(w->file); /* NULL after commit */
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (int64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->keys);
    free(w->tensors);
    qk_bytebuf_free(&w->kv);
    free(w->path);
    free(w);
}

static qk_status fail(qk_gguf_writer *w, qk_status st) {
    w->state = FAILED;
    return st;
}

static qk_status check_declaring(const qk_gguf_writer *w, const char *what) {
    if (!w) return qk_error_set(QK_ERR_INVALID_ARG, "gguf writer: NULL handle");
    if (w->state != DECLARING)
        return qk_error_set(QK_ERR_STATE, "%s: %s after the header was written", w->path, what);
    return QK_OK;
}

/* Start a pair: check the key, remember it, encode it. */
static qk_status begin_kv(qk_gguf_writer *w, const char *key) {
    qk_status st = check_declaring(w, "adding a key");
    if (st != QK_OK) return st;
    if (!key || !key[0]) return qk_error_set(QK_ERR_INVALID_ARG, "%s: empty key", w->path);
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return qk_error_set(QK_ERR_INVALID_ARG, "%s: duplicate key '%s'", w->path, key);
    if ((size_t)w->n_kv == w->keys_cap) {
        size_t cap = w->keys_cap ? 2 * w->keys_cap : 32;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", w->path);
        w->keys = k;
        w->keys_cap = cap;
    }
    char *copy = strdup(key);
    if (!copy) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", w->path);
    st = qk_bytebuf_append_str(&w->kv, key, strlen(key));
    if (st != QK_OK) {
        free(copy);
        return st;
    }
    w->keys[w->n_kv++] = copy;
    return QK_OK;
}

static qk_status add_scalar(qk_gguf_writer *w, const char *key, qk_gguf_value_type type,
                            const void *le_bytes) {
    if (type != QK_GGUF_U32 && w && key && strcmp(key, "general.alignment") == 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: general.alignment must be a u32", w->path);
    qk_status st = begin_kv(w, key);
    if (st == QK_OK) st = qk_bytebuf_append_u32(&w->kv, (uint32_t)type);
    if (st == QK_OK) st = qk_bytebuf_append(&w->kv, le_bytes, qk_gguf_value_type_size(type));
    return st;
}

#define QK_GGUF_ADDER(fn, ctype, vtype)                                                            \
    qk_status fn(qk_gguf_writer *w, const char *key, ctype value) {                                \
        return add_scalar(w, key, vtype, &value);                                                  \
    }
QK_GGUF_ADDER(qk_gguf_writer_add_u8, uint8_t, QK_GGUF_U8)
QK_GGUF_ADDER(qk_gguf_writer_add_i8, int8_t, QK_GGUF_I8)
QK_GGUF_ADDER(qk_gguf_writer_add_u16, uint16_t, QK_GGUF_U16)
QK_GGUF_ADDER(qk_gguf_writer_add_i16, int16_t, QK_GGUF_I16)
QK_GGUF_ADDER(qk_gguf_writer_add_i32, int32_t, QK_GGUF_I32)
QK_GGUF_ADDER(qk_gguf_writer_add_u64, uint64_t, QK_GGUF_U64)
QK_GGUF_ADDER(qk_gguf_writer_add_i64, int64_t, QK_GGUF_I64)
QK_GGUF_ADDER(qk_gguf_writer_add_f32, float, QK_GGUF_F32)
QK_GGUF_ADDER(qk_gguf_writer_add_f64, double, QK_GGUF_F64)
#undef QK_GGUF_ADDER

qk_status qk_gguf_writer_add_u32(qk_gguf_writer *w, const char *key, uint32_t value) {
    if (w && key && strcmp(key, "general.alignment") == 0) {
        if (value == 0 || (value & (value - 1)) != 0)
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "%s: general.alignment %u is not a power of two", w->path, value);
        qk_status st = add_scalar(w, key, QK_GGUF_U32, &value);
        if (st == QK_OK) w->alignment = value;
        return st;
    }
    return add_scalar(w, key, QK_GGUF_U32, &value);
}

qk_status qk_gguf_writer_add_bool(qk_gguf_writer *w, const char *key, bool value) {
    uint8_t b = value ? 1 : 0;
    return add_scalar(w, key, QK_GGUF_BOOL, &b);
}

static qk_status reject_alignment_key(const qk_gguf_writer *w, const char *key) {
    if (w && key && strcmp(key, "general.alignment") == 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: general.alignment must be a u32", w->path);
    return QK_OK;
}

qk_status qk_gguf_writer_add_str_n(qk_gguf_writer *w, const char *key, const char *value,
                                   uint64_t len) {
    qk_status st = reject_alignment_key(w, key);
    if (st != QK_OK) return st;
    if (!value && len) return qk_error_set(QK_ERR_INVALID_ARG, "gguf writer: NULL string");
    st = begin_kv(w, key);
    if (st == QK_OK) st = qk_bytebuf_append_u32(&w->kv, QK_GGUF_STRING);
    if (st == QK_OK) st = qk_bytebuf_append_str(&w->kv, value, len);
    return st;
}

qk_status qk_gguf_writer_add_str(qk_gguf_writer *w, const char *key, const char *value) {
    if (!value) return qk_error_set(QK_ERR_INVALID_ARG, "gguf writer: NULL string");
    return qk_gguf_writer_add_str_n(w, key, value, strlen(value));
}

qk_status qk_gguf_writer_add_arr(qk_gguf_writer *w, const char *key, qk_gguf_value_type elem_type,
                                 const void *data, uint64_t n) {
    qk_status st = reject_alignment_key(w, key);
    if (st != QK_OK) return st;
    size_t esize = qk_gguf_value_type_size(elem_type);
    if (esize == 0)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "gguf writer: add_arr takes numbers or bools, not %s (key '%s')",
                            qk_gguf_value_type_name(elem_type), key ? key : "");
    size_t bytes;
    if (n > SIZE_MAX || !qk_mul_size((size_t)n, esize, &bytes))
        return qk_error_set(QK_ERR_OVERFLOW, "gguf writer: array of %llu elements",
                            (unsigned long long)n);
    if (n && !data) return qk_error_set(QK_ERR_INVALID_ARG, "gguf writer: NULL array data");
    st = begin_kv(w, key);
    if (st == QK_OK) st = qk_bytebuf_append_u32(&w->kv, QK_GGUF_ARRAY);
    if (st == QK_OK) st = qk_bytebuf_append_u32(&w->kv, (uint32_t)elem_type);
    if (st == QK_OK) st = qk_bytebuf_append_u64(&w->kv, n);
    if (st == QK_OK) st = qk_bytebuf_append(&w->kv, data, bytes);
    return st;
}

qk_status qk_gguf_writer_add_arr_str(qk_gguf_writer *w, const char *key, const char *const *strs,
                                     const uint64_t *lens, uint64_t n) {
    qk_status st = reject_alignment_key(w, key);
    if (st != QK_OK) return st;
    if (n && !strs) return qk_error_set(QK_ERR_INVALID_ARG, "gguf writer: NULL string array");
    st = begin_kv(w, key);
    if (st == QK_OK) st = qk_bytebuf_append_u32(&w->kv, QK_GGUF_ARRAY);
    if (st == QK_OK) st = qk_bytebuf_append_u32(&w->kv, QK_GGUF_STRING);
    if (st == QK_OK) st = qk_bytebuf_append_u64(&w->kv, n);
    for (uint64_t i = 0; i < n && st == QK_OK; i++) {
        uint64_t len = lens ? lens[i] : (strs[i] ? strlen(strs[i]) : 0);
        if (!strs[i] && len)
            return qk_error_set(QK_ERR_INVALID_ARG, "gguf writer: NULL string %llu of key '%s'",
                                (unsigned long long)i, key);
        st = qk_bytebuf_append_str(&w->kv, strs[i], len);
    }
    return st;
}

qk_status qk_gguf_writer_copy_kv(qk_gguf_writer *w, const qk_gguf_reader *r, int64_t index) {
    const unsigned char *raw;
    size_t len;
    qk_status st = qk_gguf_reader_kv_raw(r, index, &raw, &len);
    if (st != QK_OK) return st;
    const char *key = qk_gguf_reader_kv_key(r, index);
    if (strcmp(key, "general.alignment") == 0) {
        uint32_t a;
        st = qk_gguf_reader_get_u32(r, key, &a);
        return st != QK_OK ? st : qk_gguf_writer_add_u32(w, key, a);
    }
    st = begin_kv(w, key);
    if (st == QK_OK) st = qk_bytebuf_append(&w->kv, raw, len);
    return st;
}

qk_status qk_gguf_writer_add_tensor(qk_gguf_writer *w, const char *name, qk_type type, int32_t ndim,
                                    const int64_t *shape) {
    qk_status st = check_declaring(w, "adding a tensor");
    if (st != QK_OK) return st;
    if (!name || !name[0])
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: empty tensor name", w->path);
    if (strlen(name) >= QK_GGUF_MAX_NAME)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "%s: tensor name '%s' is %zu bytes; ggml allows at most %d", w->path,
                            name, strlen(name), QK_GGUF_MAX_NAME - 1);
    uint32_t ggml_type;
    st = qk_gguf_type_to_ggml(type, &ggml_type);
    if (st != QK_OK) return qk_error_prefix("%s: tensor '%s'", w->path, name);
    qk_tensor_view view;
    size_t nbytes = 0;
    st = qk_tensor_view_init(&view, type, ndim, shape, NULL);
    if (st == QK_OK) st = qk_tensor_view_nbytes(&view, &nbytes);
    if (st != QK_OK) return qk_error_prefix("%s: tensor '%s'", w->path, name);
    for (int64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return qk_error_set(QK_ERR_INVALID_ARG, "%s: duplicate tensor name '%s'", w->path,
                                name);
    if ((size_t)w->n_tensors == w->tensors_cap) {
        size_t cap = w->tensors_cap ? 2 * w->tensors_cap : 64;
        w_tensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", w->path);
        w->tensors = t;
        w->tensors_cap = cap;
    }
    w_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", w->path);
    t->type = type;
    t->ggml_type = ggml_type;
    t->ndim = ndim;
    for (int32_t i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = nbytes;
    w->n_tensors++;
    return QK_OK;
}

/* Skip over finished (and zero-byte) tensors, writing their padding. */
static qk_status advance(qk_gguf_writer *w) {
    while (w->cur < w->n_tensors && w->cur_written == w->tensors[w->cur].nbytes) {
        size_t a = w->alignment;
        size_t pad = (a - w->tensors[w->cur].nbytes % a) % a;
        qk_status st = qk_atomic_file_write_zeros(w->file, pad);
        if (st != QK_OK) return fail(w, st);
        w->cur++;
        w->cur_written = 0;
    }
    return QK_OK;
}

uint64_t qk_gguf_writer_data_offset(const qk_gguf_writer *w) {
    if (!w) return 0;
    /* magic, version, n_tensors, n_kv; pairs; per tensor: name (u64 length
    ** + bytes), n_dims, ne[n_dims], type, offset */
    uint64_t n = 4 + 4 + 8 + 8 + (uint64_t)w->kv.len;
    for (int64_t i = 0; i < w->n_tensors; i++)
        n += 8 + strlen(w->tensors[i].name) + 4 + 8 * (uint64_t)w->tensors[i].ndim + 4 + 8;
    const uint64_t a = w->alignment;
    return n + (a - n % a) % a;
}

uint32_t qk_gguf_writer_alignment(const qk_gguf_writer *w) {
    return w ? w->alignment : 0;
}

qk_status qk_gguf_writer_begin(qk_gguf_writer *w) {
    qk_status st = check_declaring(w, "begin");
    if (st != QK_OK) return st;
    uint64_t offset = 0;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        w->tensors[i].rel_offset = offset;
        if (!qk_align_up_u64(offset + w->tensors[i].nbytes, w->alignment, &offset))
            return fail(w, qk_error_set(QK_ERR_OVERFLOW, "%s: data section overflows", w->path));
    }
    qk_bytebuf h = {0};
    st = qk_bytebuf_append_u32(&h, QK_GGUF_MAGIC);
    if (st == QK_OK) st = qk_bytebuf_append_u32(&h, QK_GGUF_VERSION);
    if (st == QK_OK) st = qk_bytebuf_append_u64(&h, (uint64_t)w->n_tensors);
    if (st == QK_OK) st = qk_bytebuf_append_u64(&h, (uint64_t)w->n_kv);
    if (st == QK_OK) st = qk_bytebuf_append(&h, w->kv.data, w->kv.len);
    for (int64_t i = 0; i < w->n_tensors && st == QK_OK; i++) {
        const w_tensor *t = &w->tensors[i];
        st = qk_bytebuf_append_str(&h, t->name, strlen(t->name));
        if (st == QK_OK) st = qk_bytebuf_append_u32(&h, (uint32_t)t->ndim);
        for (int32_t j = t->ndim - 1; j >= 0 && st == QK_OK; j--)
            st = qk_bytebuf_append_u64(&h, (uint64_t)t->shape[j]);
        if (st == QK_OK) st = qk_bytebuf_append_u32(&h, t->ggml_type);
        if (st == QK_OK) st = qk_bytebuf_append_u64(&h, t->rel_offset);
    }
    if (st == QK_OK) st = qk_atomic_file_write(w->file, h.data, h.len);
    if (st == QK_OK)
        st = qk_atomic_file_write_zeros(w->file,
                                        (w->alignment - h.len % w->alignment) % w->alignment);
    qk_bytebuf_free(&h);
    qk_bytebuf_free(&w->kv); /* no longer needed */
    if (st != QK_OK) return fail(w, st);
    w->state = STREAMING;
    w->cur = 0;
    w->cur_written = 0;
    return advance(w);
}

qk_status qk_gguf_writer_write(qk_gguf_writer *w, const void *data, size_t n) {
    if (!w) return qk_error_set(QK_ERR_INVALID_ARG, "gguf writer: NULL handle");
    if (w->state != STREAMING)
        return qk_error_set(QK_ERR_STATE, "%s: tensor data written %s", w->path,
                            w->state == DECLARING ? "before begin()"
                                                  : "after the end or a failure");
    while (n > 0) {
        if (w->cur >= w->n_tensors)
            return fail(w, qk_error_set(QK_ERR_STATE,
                                        "%s: %zu bytes more than the declared tensors hold",
                                        w->path, n));
        const w_tensor *t = &w->tensors[w->cur];
        size_t k = t->nbytes - w->cur_written;
        if (k > n) k = n;
        qk_status st = qk_atomic_file_write(w->file, data, k);
        if (st != QK_OK) return fail(w, st);
        data = (const unsigned char *)data + k;
        n -= k;
        w->cur_written += k;
        st = advance(w);
        if (st != QK_OK) return st;
    }
    return QK_OK;
}

int64_t qk_gguf_writer_current_tensor(const qk_gguf_writer *w) {
    return w && w->state == STREAMING ? w->cur : -1;
}

qk_status qk_gguf_writer_commit(qk_gguf_writer *w) {
    if (!w) return qk_error_set(QK_ERR_INVALID_ARG, "gguf writer: NULL handle");
    if (w->state == DECLARING) {
        qk_status st = qk_gguf_writer_begin(w);
        if (st != QK_OK) return st;
    }
    if (w->state != STREAMING)
        return qk_error_set(QK_ERR_STATE, "%s: commit after a failure or a second time", w->path);
    if (w->cur < w->n_tensors)
        return fail(w, qk_error_set(QK_ERR_STATE,
                                    "%s: tensor '%s' (%lld of %lld) has %zu of %zu bytes; all "
                                    "tensor data must be written before commit",
                                    w->path, w->tensors[w->cur].name, (long long)w->cur,
                                    (long long)w->n_tensors, w->cur_written,
                                    w->tensors[w->cur].nbytes));
    qk_atomic_file *f = w->file;
    w->file = NULL;
    qk_status st = qk_atomic_file_commit(f);
    w->state = st == QK_OK ? COMMITTED : FAILED;
    return st;
}

qk_status qk_gguf_copy(const char *src, const char *dst) {
    qk_gguf_reader *r = NULL;
    qk_gguf_writer *w = NULL;
    qk_status st = qk_gguf_reader_open(src, &r);
    if (st == QK_OK) st = qk_gguf_writer_create(dst, &w);
    for (int64_t i = 0; st == QK_OK && i < qk_gguf_reader_kv_count(r); i++)
        st = qk_gguf_writer_copy_kv(w, r, i);
    for (int64_t i = 0; st == QK_OK && i < qk_gguf_reader_tensor_count(r); i++) {
        qk_io_tensor t;
        st = qk_gguf_reader_tensor_info(r, i, &t);
        if (st == QK_OK) st = qk_gguf_writer_add_tensor(w, t.name, t.type, t.ndim, t.shape);
    }
    if (st == QK_OK) st = qk_gguf_writer_begin(w);
    for (int64_t i = 0; st == QK_OK && i < qk_gguf_reader_tensor_count(r); i++) {
        qk_io_tensor t;
        st = qk_gguf_reader_tensor_info(r, i, &t);
        if (st == QK_OK) st = qk_gguf_writer_write(w, t.data, t.nbytes);
    }
    if (st == QK_OK) st = qk_gguf_writer_commit(w);
    qk_gguf_writer_free(w);
    qk_gguf_reader_close(r);
    return st;
}
