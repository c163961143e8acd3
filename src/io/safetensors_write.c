/*
** safetensors streaming writer (see quantkit/io.h). The header is compact
** JSON with "__metadata__" first and the tensors in declaration order, each
** {"dtype","shape","data_offsets"}, padded with spaces to a multiple of 8
** bytes as the reference (Rust) writer pads it; the data follows with no
** gaps, in the same order.
*/
#include <jansson.h> /* json_dumps */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* strcmp, strlen */

#include "core/error.h"
#include "io/bytes.h"
#include "quantkit/io.h"

typedef struct sw_tensor {
    char *name;
    qk_type type;
    int32_t ndim;
    int64_t shape[QK_MAX_DIMS];
    size_t nbytes;
} sw_tensor;

enum { DECLARING, STREAMING, COMMITTED, FAILED };

struct qk_safetensors_writer {
    char *path;
    qk_atomic_file *file;
    json_t *metadata; /* object, or NULL when none was added */
    sw_tensor *tensors;
    size_t n_tensors, cap;
    int state;
    size_t cur, cur_written;
};

qk_status qk_safetensors_writer_create(const char *path, qk_safetensors_writer **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "safetensors writer: NULL argument");
    *out = NULL;
    qk_safetensors_writer *w = calloc(1, sizeof *w);
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
    *out = w;
    return QK_OK;
}

void qk_safetensors_writer_free(qk_safetensors_writer *w) {
    if (!w) return;
    qk_atomic_file_abort(w->file);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    json_decref(w->metadata);
    free(w->path);
    free(w);
}

static qk_status check_declaring(const qk_safetensors_writer *w) {
    if (!w) return qk_error_set(QK_ERR_INVALID_ARG, "safetensors writer: NULL handle");
    if (w->state != DECLARING)
        return qk_error_set(QK_ERR_STATE, "%s: declaration after the header was written", w->path);
    return QK_OK;
}

qk_status qk_safetensors_writer_add_metadata(qk_safetensors_writer *w, const char *key,
                                             const char *value) {
    qk_status st = check_declaring(w);
    if (st != QK_OK) return st;
    if (!key || !value) return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL metadata", w->path);
    if (!w->metadata && !(w->metadata = json_object()))
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", w->path);
    if (json_object_get(w->metadata, key))
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: duplicate metadata key '%s'", w->path, key);
    json_t *v = json_string(value);
    if (!v || json_object_set_new(w->metadata, key, v) != 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: metadata '%s' is not valid UTF-8", w->path,
                            key);
    return QK_OK;
}

qk_status qk_safetensors_writer_add_tensor(qk_safetensors_writer *w, const char *name, qk_type type,
                                           int32_t ndim, const int64_t *shape) {
    qk_status st = check_declaring(w);
    if (st != QK_OK) return st;
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: invalid tensor name '%s'", w->path,
                            name ? name : "");
    if (!qk_safetensors_dtype_name(type))
        return qk_error_set(QK_ERR_UNSUPPORTED, "%s: tensor '%s': safetensors has no dtype for %s",
                            w->path, name, qk_type_name(type));
    qk_tensor_view view;
    size_t nbytes = 0;
    st = qk_tensor_view_init(&view, type, ndim, shape, NULL);
    if (st == QK_OK) st = qk_tensor_view_nbytes(&view, &nbytes);
    if (st != QK_OK) return qk_error_prefix("%s: tensor '%s'", w->path, name);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return qk_error_set(QK_ERR_INVALID_ARG, "%s: duplicate tensor name '%s'", w->path,
                                name);
    if (w->n_tensors == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        sw_tensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", w->path);
        w->tensors = t;
        w->cap = cap;
    }
    sw_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", w->path);
    t->type = type;
    t->ndim = ndim;
    for (int32_t i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = nbytes;
    w->n_tensors++;
    return QK_OK;
}

/* The header JSON (compact), or NULL with the error set. */
static char *header_json(qk_safetensors_writer *w) {
    json_t *root = json_object();
    bool ok = root != NULL;
    if (ok && w->metadata) ok = json_object_set(root, "__metadata__", w->metadata) == 0;
    uint64_t offset = 0;
    for (size_t i = 0; ok && i < w->n_tensors; i++) {
        const sw_tensor *t = &w->tensors[i];
        json_t *shape = json_array();
        json_t *offs = json_array();
        json_t *entry = json_object();
        ok = shape && offs && entry;
        for (int32_t d = 0; ok && d < t->ndim; d++)
            ok = json_array_append_new(shape, json_integer(t->shape[d])) == 0;
        ok = ok && json_array_append_new(offs, json_integer((json_int_t)offset)) == 0;
        offset += t->nbytes;
        ok = ok && json_array_append_new(offs, json_integer((json_int_t)offset)) == 0;
        ok = ok && json_object_set_new(entry, "dtype",
                                       json_string(qk_safetensors_dtype_name(t->type))) == 0;
        ok = ok && json_object_set(entry, "shape", shape) == 0;
        ok = ok && json_object_set(entry, "data_offsets", offs) == 0;
        ok = ok && json_object_set(root, t->name, entry) == 0;
        json_decref(shape);
        json_decref(offs);
        json_decref(entry);
    }
    char *text = ok ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text)
        qk_error_set(QK_ERR_INVALID_ARG,
                     "%s: cannot encode the header (out of memory, or a name that is not UTF-8)",
                     w->path);
    return text;
}

static qk_status fail(qk_safetensors_writer *w, qk_status st) {
    w->state = FAILED;
    return st;
}

/* Move past finished (and empty) tensors. */
static void advance(qk_safetensors_writer *w) {
    while (w->cur < w->n_tensors && w->cur_written == w->tensors[w->cur].nbytes) {
        w->cur++;
        w->cur_written = 0;
    }
}

qk_status qk_safetensors_writer_begin(qk_safetensors_writer *w) {
    qk_status st = check_declaring(w);
    if (st != QK_OK) return st;
    char *text = header_json(w);
    if (!text) return fail(w, qk_last_status());
    size_t len = strlen(text);
    size_t pad = (8 - len % 8) % 8;
    unsigned char n[8];
    qk_store_u64(n, (uint64_t)(len + pad));
    st = qk_atomic_file_write(w->file, n, 8);
    if (st == QK_OK) st = qk_atomic_file_write(w->file, text, len);
    for (size_t i = 0; i < pad && st == QK_OK; i++) st = qk_atomic_file_write(w->file, " ", 1);
    free(text);
    if (st != QK_OK) return fail(w, st);
    w->state = STREAMING;
    advance(w);
    return QK_OK;
}

qk_status qk_safetensors_writer_write(qk_safetensors_writer *w, const void *data, size_t n) {
    if (!w) return qk_error_set(QK_ERR_INVALID_ARG, "safetensors writer: NULL handle");
    if (w->state != STREAMING)
        return qk_error_set(QK_ERR_STATE, "%s: tensor data written %s", w->path,
                            w->state == DECLARING ? "before begin()" : "after a failure or commit");
    while (n > 0) {
        if (w->cur >= w->n_tensors)
            return fail(w, qk_error_set(QK_ERR_STATE,
                                        "%s: %zu bytes more than the declared tensors hold",
                                        w->path, n));
        size_t k = w->tensors[w->cur].nbytes - w->cur_written;
        if (k > n) k = n;
        qk_status st = qk_atomic_file_write(w->file, data, k);
        if (st != QK_OK) return fail(w, st);
        data = (const unsigned char *)data + k;
        n -= k;
        w->cur_written += k;
        advance(w);
    }
    return QK_OK;
}

qk_status qk_safetensors_writer_commit(qk_safetensors_writer *w) {
    if (!w) return qk_error_set(QK_ERR_INVALID_ARG, "safetensors writer: NULL handle");
    if (w->state == DECLARING) {
        qk_status st = qk_safetensors_writer_begin(w);
        if (st != QK_OK) return st;
    }
    if (w->state != STREAMING)
        return qk_error_set(QK_ERR_STATE, "%s: commit after a failure or a second time", w->path);
    if (w->cur < w->n_tensors)
        return fail(w, qk_error_set(QK_ERR_STATE,
                                    "%s: tensor '%s' has %zu of %zu bytes; all tensor data must "
                                    "be written before commit",
                                    w->path, w->tensors[w->cur].name, w->cur_written,
                                    w->tensors[w->cur].nbytes));
    qk_atomic_file *f = w->file;
    w->file = NULL;
    qk_status st = qk_atomic_file_commit(f);
    w->state = st == QK_OK ? COMMITTED : FAILED;
    return st;
}

qk_status qk_safetensors_write(const char *path, const qk_io_tensor *tensors, size_t n,
                               const char *const *metadata, size_t n_metadata) {
    if (n && !tensors) return qk_error_set(QK_ERR_INVALID_ARG, "safetensors: NULL tensors");
    qk_safetensors_writer *w = NULL;
    qk_status st = qk_safetensors_writer_create(path, &w);
    for (size_t i = 0; st == QK_OK && i < n_metadata; i++)
        st = qk_safetensors_writer_add_metadata(w, metadata[2 * i], metadata[2 * i + 1]);
    for (size_t i = 0; st == QK_OK && i < n; i++)
        st = qk_safetensors_writer_add_tensor(w, tensors[i].name, tensors[i].type, tensors[i].ndim,
                                              tensors[i].shape);
    if (st == QK_OK) st = qk_safetensors_writer_begin(w);
    for (size_t i = 0; st == QK_OK && i < n; i++) {
        size_t nbytes = w->tensors[i].nbytes;
        if (nbytes && !tensors[i].data)
            st = qk_error_set(QK_ERR_INVALID_ARG, "%s: tensor '%s' has no data", path,
                              tensors[i].name);
        else
            st = qk_safetensors_writer_write(w, tensors[i].data, nbytes);
    }
    if (st == QK_OK) st = qk_safetensors_writer_commit(w);
    qk_safetensors_writer_free(w);
    return st;
}
