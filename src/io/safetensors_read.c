/*
** safetensors reader (see quantkit/io.h). Layout: u64 LE header length N,
** N bytes of UTF-8 JSON (padded with spaces), then the data; every tensor
** entry's data_offsets are relative to the byte after the header.
*/
#include <jansson.h> /* json_loadb */
#include <stdlib.h>  /* calloc, free, qsort, bsearch */
#include <string.h>  /* strcmp, strdup */

#include "core/error.h"
#include "io/bytes.h"
#include "quantkit/io.h"

typedef struct st_tensor {
    char *name;
    qk_type type;
    int32_t ndim;
    int64_t shape[QK_MAX_DIMS];
    uint64_t begin, end; /* relative to the data section */
} st_tensor;

typedef struct st_name {
    const char *name;
    size_t index;
} st_name;

struct qk_safetensors {
    qk_mapped_file *file;
    const unsigned char *base;
    size_t size;
    const char *path;
    uint64_t data_start; /* 8 + N */
    st_tensor *tensors;
    size_t n_tensors;
    st_name *sorted;
    char **meta_keys, **meta_values;
    size_t n_meta;
};

static const struct {
    const char *name;
    qk_type type;
} DTYPES[] = {
    {"BOOL", QK_TYPE_BOOL}, {"U8", QK_TYPE_U8},           {"I8", QK_TYPE_I8},
    {"I16", QK_TYPE_I16},   {"U16", QK_TYPE_U16},         {"I32", QK_TYPE_I32},
    {"U32", QK_TYPE_U32},   {"I64", QK_TYPE_I64},         {"U64", QK_TYPE_U64},
    {"F16", QK_TYPE_F16},   {"BF16", QK_TYPE_BF16},       {"F32", QK_TYPE_F32},
    {"F64", QK_TYPE_F64},   {"F8_E4M3", QK_TYPE_F8_E4M3}, {"F8_E5M2", QK_TYPE_F8_E5M2},
};

qk_status qk_safetensors_dtype_to_type(const char *dtype, qk_type *out) {
    for (size_t i = 0; dtype && i < sizeof DTYPES / sizeof DTYPES[0]; i++) {
        if (strcmp(DTYPES[i].name, dtype) == 0) {
            *out = DTYPES[i].type;
            return QK_OK;
        }
    }
    return qk_error_set(QK_ERR_UNKNOWN_TYPE, "unknown safetensors dtype '%s'", dtype ? dtype : "");
}

const char *qk_safetensors_dtype_name(qk_type type) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].type == type) return DTYPES[i].name;
    return NULL;
}

static int cmp_st_name(const void *a, const void *b) {
    return strcmp(((const st_name *)a)->name, ((const st_name *)b)->name);
}

/* A non-negative JSON integer. */
static bool json_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static qk_status parse_metadata(qk_safetensors *s, json_t *meta) {
    if (!json_is_object(meta))
        return qk_error_set(QK_ERR_CORRUPT, "%s: __metadata__ is not an object", s->path);
    size_t n = json_object_size(meta);
    s->meta_keys = calloc(n ? n : 1, sizeof *s->meta_keys);
    s->meta_values = calloc(n ? n : 1, sizeof *s->meta_values);
    if (!s->meta_keys || !s->meta_values)
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", s->path);
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return qk_error_set(QK_ERR_CORRUPT, "%s: __metadata__ value of '%s' is not a string",
                                s->path, key);
        s->meta_keys[s->n_meta] = strdup(key);
        s->meta_values[s->n_meta] = strdup(json_string_value(value));
        s->n_meta++;
        if (!s->meta_keys[s->n_meta - 1] || !s->meta_values[s->n_meta - 1])
            return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", s->path);
    }
    return QK_OK;
}

static qk_status parse_tensor(qk_safetensors *s, const char *name, json_t *entry, st_tensor *t) {
    if (!(t->name = strdup(name))) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", s->path);
    if (!json_is_object(entry))
        return qk_error_set(QK_ERR_CORRUPT, "%s: tensor '%s': entry is not an object", s->path,
                            name);
    json_t *dtype = json_object_get(entry, "dtype");
    json_t *shape = json_object_get(entry, "shape");
    json_t *offsets = json_object_get(entry, "data_offsets");
    if (!json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offsets) ||
        json_array_size(offsets) != 2)
        return qk_error_set(QK_ERR_CORRUPT,
                            "%s: tensor '%s': needs a string \"dtype\", an array \"shape\" and "
                            "\"data_offsets\" [begin, end]",
                            s->path, name);
    qk_status st = qk_safetensors_dtype_to_type(json_string_value(dtype), &t->type);
    if (st != QK_OK) return qk_error_prefix("%s: tensor '%s'", s->path, name);
    size_t ndim = json_array_size(shape);
    if (ndim > QK_MAX_DIMS)
        return qk_error_set(QK_ERR_UNSUPPORTED, "%s: tensor '%s' has %zu dimensions (at most %d)",
                            s->path, name, ndim, QK_MAX_DIMS);
    t->ndim = (int32_t)ndim;
    int64_t numel = 1;
    for (size_t i = 0; i < ndim; i++) {
        uint64_t d;
        if (!json_u64(json_array_get(shape, i), &d) || d > (uint64_t)INT64_MAX)
            return qk_error_set(QK_ERR_CORRUPT,
                                "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                                s->path, name, i);
        t->shape[i] = (int64_t)d;
        if (d != 0 && numel > INT64_MAX / (int64_t)d)
            return qk_error_set(QK_ERR_OVERFLOW,
                                "%s: tensor '%s': element count overflows int64 at shape[%zu]",
                                s->path, name, i);
        numel *= (int64_t)d;
    }
    if (!json_u64(json_array_get(offsets, 0), &t->begin) ||
        !json_u64(json_array_get(offsets, 1), &t->end))
        return qk_error_set(QK_ERR_CORRUPT,
                            "%s: tensor '%s': data_offsets are not non-negative integers", s->path,
                            name);
    if (t->end < t->begin)
        return qk_error_set(
            QK_ERR_CORRUPT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
            s->path, name, (unsigned long long)t->begin, (unsigned long long)t->end);
    uint64_t data_size = s->size - s->data_start;
    if (t->end > data_size)
        return qk_error_set(
            QK_ERR_OUT_OF_BOUNDS,
            "%s: tensor '%s': data_offsets [%llu, %llu] (file bytes %llu..%llu) run "
            "past the end of the file (%zu bytes)",
            s->path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
            (unsigned long long)(s->data_start + t->begin),
            (unsigned long long)(s->data_start + t->end), s->size);
    size_t nbytes;
    st = qk_type_row_bytes(t->type, numel, &nbytes);
    if (st != QK_OK) return qk_error_prefix("%s: tensor '%s'", s->path, name);
    if (nbytes != t->end - t->begin)
        return qk_error_set(QK_ERR_SHAPE,
                            "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %lld "
                            "elements of %s need %zu",
                            s->path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                            (unsigned long long)(t->end - t->begin), (long long)numel,
                            json_string_value(dtype), nbytes);
    return QK_OK;
}

static int cmp_begin(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static qk_status check_overlaps(qk_safetensors *s) {
    if (s->n_tensors < 2) return QK_OK;
    const st_tensor **order = malloc(s->n_tensors * sizeof *order);
    if (!order) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", s->path);
    for (size_t i = 0; i < s->n_tensors; i++) order[i] = &s->tensors[i];
    qsort(order, s->n_tensors, sizeof *order, cmp_begin);
    qk_status st = QK_OK;
    const st_tensor *prev = NULL;
    for (size_t i = 0; i < s->n_tensors && st == QK_OK; i++) {
        const st_tensor *t = order[i];
        if (t->begin == t->end) continue;
        if (prev && t->begin < prev->end)
            st =
                qk_error_set(QK_ERR_OVERLAP,
                             "%s: tensor '%s' (file bytes %llu..%llu) overlaps tensor '%s' (file "
                             "bytes %llu..%llu)",
                             s->path, prev->name, (unsigned long long)(s->data_start + prev->begin),
                             (unsigned long long)(s->data_start + prev->end), t->name,
                             (unsigned long long)(s->data_start + t->begin),
                             (unsigned long long)(s->data_start + t->end));
        prev = t;
    }
    free(order);
    return st;
}

static qk_status parse(qk_safetensors *s) {
    if (s->size < 8)
        return qk_error_set(QK_ERR_TRUNCATED,
                            "%s: file truncated: %zu bytes, the header length alone needs 8",
                            s->path, s->size);
    uint64_t n = qk_load_u64(s->base);
    if (n > s->size - 8)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "%s: header length %llu at byte 0 runs past the end of the file (%zu "
                            "bytes after the length)",
                            s->path, (unsigned long long)n, s->size - 8);
    if (n < 2 || s->base[8] != '{')
        return qk_error_set(QK_ERR_BAD_MAGIC,
                            "%s: not a safetensors file: the header at byte 8 does not start "
                            "with '{'",
                            s->path);
    s->data_start = 8 + n;
    json_error_t err;
    json_t *root = json_loadb((const char *)s->base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return qk_error_set(
            QK_ERR_CORRUPT, "%s: header JSON is invalid near byte %llu (line %d, column %d): %s",
            s->path, (unsigned long long)(8 + (uint64_t)(err.position > 0 ? err.position : 0)),
            err.line, err.column, err.text);
    qk_status st = QK_OK;
    if (!json_is_object(root))
        st = qk_error_set(QK_ERR_CORRUPT, "%s: header JSON is not an object", s->path);
    size_t count = json_is_object(root) ? json_object_size(root) : 0;
    if (st == QK_OK) {
        s->tensors = calloc(count ? count : 1, sizeof *s->tensors);
        s->sorted = calloc(count ? count : 1, sizeof *s->sorted);
        if (!s->tensors || !s->sorted)
            st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory", s->path);
    }
    const char *key;
    json_t *value;
    if (st == QK_OK) {
        json_object_foreach(root, key, value) {
            if (strcmp(key, "__metadata__") == 0) {
                st = parse_metadata(s, value);
            } else {
                st_tensor *t = &s->tensors[s->n_tensors++];
                st = parse_tensor(s, key, value, t);
                s->sorted[s->n_tensors - 1].name = t->name;
                s->sorted[s->n_tensors - 1].index = s->n_tensors - 1;
            }
            if (st != QK_OK) break;
        }
    }
    json_decref(root);
    if (st != QK_OK) return st;
    qsort(s->sorted, s->n_tensors, sizeof *s->sorted, cmp_st_name);
    return check_overlaps(s);
}

qk_status qk_safetensors_open(const char *path, qk_safetensors **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "safetensors: NULL argument");
    *out = NULL;
    qk_safetensors *s = calloc(1, sizeof *s);
    if (!s) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    qk_status st = qk_mapped_file_open(path, &s->file);
    if (st != QK_OK) {
        free(s);
        return st;
    }
    s->base = qk_mapped_file_data(s->file);
    s->size = qk_mapped_file_size(s->file);
    s->path = qk_mapped_file_path(s->file);
    st = parse(s);
    if (st != QK_OK) {
        qk_safetensors_close(s);
        return st;
    }
    *out = s;
    return QK_OK;
}

void qk_safetensors_close(qk_safetensors *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_tensors; i++) free(s->tensors[i].name);
    for (size_t i = 0; i < s->n_meta; i++) {
        free(s->meta_keys[i]);
        free(s->meta_values[i]);
    }
    free(s->tensors);
    free(s->sorted);
    free(s->meta_keys);
    free(s->meta_values);
    qk_mapped_file_close(s->file);
    free(s);
}

const char *qk_safetensors_path(const qk_safetensors *s) {
    return s->path;
}
uint64_t qk_safetensors_data_offset(const qk_safetensors *s) {
    return s->data_start;
}
size_t qk_safetensors_tensor_count(const qk_safetensors *s) {
    return s->n_tensors;
}
size_t qk_safetensors_metadata_count(const qk_safetensors *s) {
    return s->n_meta;
}

int64_t qk_safetensors_find_tensor(const qk_safetensors *s, const char *name) {
    if (!s || !name || s->n_tensors == 0) return -1;
    st_name key = {name, 0};
    const st_name *hit = bsearch(&key, s->sorted, s->n_tensors, sizeof *s->sorted, cmp_st_name);
    return hit ? (int64_t)hit->index : -1;
}

qk_status qk_safetensors_tensor_info(const qk_safetensors *s, size_t index, qk_io_tensor *out) {
    if (!s || !out || index >= s->n_tensors)
        return qk_error_set(QK_ERR_INVALID_ARG, "safetensors: tensor index %zu out of range",
                            index);
    const st_tensor *t = &s->tensors[index];
    memset(out, 0, sizeof *out);
    out->name = t->name;
    out->type = t->type;
    out->ndim = t->ndim;
    for (int32_t i = 0; i < t->ndim; i++) out->shape[i] = t->shape[i];
    out->offset = s->data_start + t->begin;
    out->nbytes = (size_t)(t->end - t->begin);
    out->data = s->base + out->offset;
    return QK_OK;
}

qk_status qk_safetensors_metadata_at(const qk_safetensors *s, size_t index, const char **key,
                                     const char **value) {
    if (!s || index >= s->n_meta)
        return qk_error_set(QK_ERR_INVALID_ARG, "safetensors: metadata index %zu out of range",
                            index);
    if (key) *key = s->meta_keys[index];
    if (value) *value = s->meta_values[index];
    return QK_OK;
}

const char *qk_safetensors_metadata_get(const qk_safetensors *s, const char *key) {
    for (size_t i = 0; s && key && i < s->n_meta; i++)
        if (strcmp(s->meta_keys[i], key) == 0) return s->meta_values[i];
    return NULL;
}
