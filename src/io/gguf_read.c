/*
** GGUF reader (see quantkit/gguf.h). The file is mapped and parsed once at
** open: every key/value and tensor info is validated against the file size
** and for overflow; values are then read from the mapping on demand.
*/
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc, free, qsort, bsearch */
#include <string.h> /* memcpy, memchr, strcmp */

#include "core/error.h"
#include "io/bytes.h"
#include "io/gguf_internal.h"

/* A key/value needs at least 8 (key length) + 1 (key) + 4 (type) + 1 bytes,
** a tensor info 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset). */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_INFO_BYTES 24u

typedef struct gguf_kv {
    char *key;                    /* NUL-terminated copy */
    qk_gguf_value_type type;      /* QK_GGUF_ARRAY for arrays */
    qk_gguf_value_type elem_type; /* arrays */
    uint64_t n;                   /* array length; 1 for scalars */
    size_t value_pos;             /* file offset of the value / first element */
    size_t type_pos, end_pos;     /* the encoded value: type field .. end */
    char *str;                    /* scalar string: NUL-terminated copy */
    uint64_t str_len;
    uint64_t *str_pos; /* arrays of strings: offset of each element */
} gguf_kv;

typedef struct gguf_tensor {
    char *name;
    qk_type type;
    int32_t ndim;
    int64_t shape[QK_MAX_DIMS]; /* outermost first */
    uint64_t rel_offset;
    size_t nbytes;
    size_t info_pos; /* file offset of the tensor info (for messages) */
} gguf_tensor;

typedef struct name_index {
    const char *name;
    int64_t index;
} name_index;

struct qk_gguf_reader {
    qk_mapped_file *file;
    const unsigned char *base;
    size_t size;
    const char *path;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    gguf_kv *kvs;
    int64_t n_kv;
    gguf_tensor *tensors;
    int64_t n_tensors;
    name_index *kv_sorted;     /* by key, for lookups */
    name_index *tensor_sorted; /* by name */
};

static int cmp_name_index(const void *a, const void *b) {
    return strcmp(((const name_index *)a)->name, ((const name_index *)b)->name);
}

/* A GGUF string at the cursor: u64 length, then the bytes. `what` names it
** in messages ("key", "value of key 'x'"); offsets given are the string's. */
static qk_status read_gstr(qk_cursor *c, const char *what, const unsigned char **p, uint64_t *len) {
    size_t at = c->pos;
    if (qk_cursor_left(c) < 8)
        return qk_error_set(QK_ERR_TRUNCATED,
                            "%s: file truncated at byte %zu reading the length of the %s", c->path,
                            at, what);
    *len = qk_load_u64(c->base + at);
    if (*len > qk_cursor_left(c) - 8)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "%s: %s at byte %zu has length %llu, beyond the end of the file (%zu "
                            "bytes left)",
                            c->path, what, at, (unsigned long long)*len, qk_cursor_left(c) - 8);
    *p = c->base + at + 8;
    c->pos = at + 8 + (size_t)*len;
    return QK_OK;
}

/* Read a GGUF string into a NUL-terminated malloc'ed copy. Names (keys,
** tensor names) must not be empty or contain NUL bytes. */
static qk_status read_name(qk_cursor *c, const char *what, char **out) {
    size_t at = c->pos;
    const unsigned char *p = NULL;
    uint64_t len = 0;
    qk_status st = read_gstr(c, what, &p, &len);
    if (st != QK_OK) return st;
    if (len == 0)
        return qk_error_set(QK_ERR_CORRUPT, "%s: empty %s at byte %zu", c->path, what, at);
    if (memchr(p, 0, (size_t)len))
        return qk_error_set(QK_ERR_CORRUPT, "%s: %s at byte %zu contains a NUL byte", c->path, what,
                            at);
    char *s = malloc((size_t)len + 1);
    if (!s) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory for %s", c->path, what);
    memcpy(s, p, (size_t)len);
    s[len] = '\0';
    *out = s;
    return QK_OK;
}

static qk_status parse_value(qk_gguf_reader *r, qk_cursor *c, gguf_kv *kv) {
    size_t at = c->pos;
    kv->type_pos = at;
    uint32_t type;
    qk_status st = qk_cursor_u32(c, &type, "value type");
    if (st != QK_OK) return st;
    if (type >= QK_GGUF_TYPE_COUNT)
        return qk_error_set(QK_ERR_UNKNOWN_TYPE,
                            "%s: key '%s' at byte %zu has unknown value type %u", r->path, kv->key,
                            at, type);
    kv->type = (qk_gguf_value_type)type;
    kv->n = 1;
    if (type == QK_GGUF_ARRAY) {
        uint32_t elem;
        at = c->pos;
        st = qk_cursor_u32(c, &elem, "array element type");
        if (st != QK_OK) return st;
        if (elem >= QK_GGUF_TYPE_COUNT)
            return qk_error_set(QK_ERR_UNKNOWN_TYPE,
                                "%s: key '%s' at byte %zu: unknown array element type %u", r->path,
                                kv->key, at, elem);
        if (elem == QK_GGUF_ARRAY)
            return qk_error_set(QK_ERR_UNSUPPORTED,
                                "%s: key '%s' at byte %zu: arrays of arrays are not supported",
                                r->path, kv->key, at);
        kv->elem_type = (qk_gguf_value_type)elem;
        at = c->pos;
        st = qk_cursor_u64(c, &kv->n, "array length");
        if (st != QK_OK) return st;
        kv->value_pos = c->pos;
        if (elem == QK_GGUF_STRING) {
            /* every element needs at least its 8-byte length */
            if (kv->n > qk_cursor_left(c) / 8)
                return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                                    "%s: key '%s' at byte %zu: array of %llu strings does not fit "
                                    "in the %zu bytes left",
                                    r->path, kv->key, at, (unsigned long long)kv->n,
                                    qk_cursor_left(c));
            kv->str_pos = malloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->str_pos);
            if (!kv->str_pos)
                return qk_error_set(QK_ERR_NOMEM, "%s: out of memory for key '%s'", r->path,
                                    kv->key);
            for (uint64_t i = 0; i < kv->n; i++) {
                kv->str_pos[i] = c->pos;
                const unsigned char *p = NULL;
                uint64_t len = 0;
                char what[320];
                snprintf(what, sizeof what, "element %llu of key '%.256s'", (unsigned long long)i,
                         kv->key);
                st = read_gstr(c, what, &p, &len);
                if (st != QK_OK) return st;
            }
            return QK_OK;
        }
        size_t esize = qk_gguf_value_type_size(kv->elem_type);
        if (kv->n > qk_cursor_left(c) / esize)
            return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                                "%s: key '%s' at byte %zu: array of %llu %s values does not fit in "
                                "the %zu bytes left",
                                r->path, kv->key, at, (unsigned long long)kv->n,
                                qk_gguf_value_type_name(kv->elem_type), qk_cursor_left(c));
        c->pos += (size_t)kv->n * esize;
        return QK_OK;
    }
    kv->value_pos = c->pos;
    if (type == QK_GGUF_STRING) {
        uint64_t len = 0;
        const unsigned char *p = NULL;
        char what[320];
        snprintf(what, sizeof what, "value of key '%.256s'", kv->key);
        st = read_gstr(c, what, &p, &len);
        if (st != QK_OK) return st;
        kv->str = malloc((size_t)len + 1);
        if (!kv->str)
            return qk_error_set(QK_ERR_NOMEM, "%s: out of memory for key '%s'", r->path, kv->key);
        memcpy(kv->str, p, (size_t)len);
        kv->str[len] = '\0';
        kv->str_len = len;
        return QK_OK;
    }
    size_t size = qk_gguf_value_type_size(kv->type);
    if (qk_cursor_left(c) < size)
        return qk_error_set(QK_ERR_TRUNCATED, "%s: file truncated at byte %zu in the value of '%s'",
                            r->path, c->pos, kv->key);
    c->pos += size;
    return QK_OK;
}

static qk_status parse_kvs(qk_gguf_reader *r, qk_cursor *c, uint64_t n_kv) {
    r->kvs = calloc((size_t)(n_kv ? n_kv : 1), sizeof *r->kvs);
    r->kv_sorted = calloc((size_t)(n_kv ? n_kv : 1), sizeof *r->kv_sorted);
    if (!r->kvs || !r->kv_sorted)
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory for %llu keys", r->path,
                            (unsigned long long)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &r->kvs[i];
        r->n_kv = (int64_t)i + 1; /* so close() frees what was parsed */
        qk_status st = read_name(c, "key", &kv->key);
        if (st == QK_OK) st = parse_value(r, c, kv);
        if (st != QK_OK) return st;
        kv->end_pos = c->pos;
        r->kv_sorted[i].name = kv->key;
        r->kv_sorted[i].index = (int64_t)i;
    }
    r->n_kv = (int64_t)n_kv;
    qsort(r->kv_sorted, (size_t)n_kv, sizeof *r->kv_sorted, cmp_name_index);
    for (uint64_t i = 1; i < n_kv; i++)
        if (strcmp(r->kv_sorted[i - 1].name, r->kv_sorted[i].name) == 0)
            return qk_error_set(QK_ERR_CORRUPT, "%s: duplicate key '%s' (pairs %lld and %lld)",
                                r->path, r->kv_sorted[i].name, (long long)r->kv_sorted[i - 1].index,
                                (long long)r->kv_sorted[i].index);
    return QK_OK;
}

static qk_status parse_tensor_info(qk_gguf_reader *r, qk_cursor *c, gguf_tensor *t) {
    t->info_pos = c->pos;
    qk_status st = read_name(c, "tensor name", &t->name);
    if (st != QK_OK) return st;
    uint32_t n_dims;
    size_t at = c->pos;
    st = qk_cursor_u32(c, &n_dims, "n_dims");
    if (st != QK_OK) return st;
    if (n_dims > QK_MAX_DIMS)
        return qk_error_set(QK_ERR_CORRUPT,
                            "%s: tensor '%s' at byte %zu has %u dimensions (max %d)", r->path,
                            t->name, at, n_dims, QK_MAX_DIMS);
    uint64_t ne[QK_MAX_DIMS];
    for (uint32_t j = 0; j < n_dims; j++) {
        at = c->pos;
        st = qk_cursor_u64(c, &ne[j], "ne");
        if (st != QK_OK) return st;
        if (ne[j] > (uint64_t)INT64_MAX)
            return qk_error_set(QK_ERR_OVERFLOW,
                                "%s: tensor '%s' at byte %zu: ne[%u] = %llu overflows int64",
                                r->path, t->name, at, j, (unsigned long long)ne[j]);
    }
    int64_t numel = 1;
    for (uint32_t j = 0; j < n_dims; j++) {
        int64_t d = (int64_t)ne[j];
        if (d != 0 && numel > INT64_MAX / d)
            return qk_error_set(
                QK_ERR_OVERFLOW,
                "%s: tensor '%s' at byte %zu: element count overflows int64 at ne[%u] = %lld",
                r->path, t->name, t->info_pos, j, (long long)d);
        numel *= d;
    }
    uint32_t ggml_type;
    at = c->pos;
    st = qk_cursor_u32(c, &ggml_type, "tensor type");
    if (st != QK_OK) return st;
    st = qk_gguf_type_from_ggml(ggml_type, &t->type);
    if (st != QK_OK) return qk_error_prefix("%s: tensor '%s' at byte %zu", r->path, t->name, at);
    st = qk_cursor_u64(c, &t->rel_offset, "tensor offset");
    if (st != QK_OK) return st;
    t->ndim = (int32_t)n_dims;
    for (uint32_t j = 0; j < n_dims; j++) t->shape[j] = (int64_t)ne[n_dims - 1 - j];
    const qk_type_traits *tr = qk_type_get_traits(t->type);
    if (n_dims > 0 && (int64_t)ne[0] % tr->block_elems != 0)
        return qk_error_set(
            QK_ERR_SHAPE,
            "%s: tensor '%s' at byte %zu: row of %lld elements is not a multiple of "
            "the %s block size %d",
            r->path, t->name, t->info_pos, (long long)ne[0], tr->name, (int)tr->block_elems);
    st = qk_type_row_bytes(t->type, numel, &t->nbytes);
    if (st != QK_OK)
        return qk_error_prefix("%s: tensor '%s' at byte %zu", r->path, t->name, t->info_pos);
    return QK_OK;
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->rel_offset < y->rel_offset ? -1 : x->rel_offset > y->rel_offset ? 1 : 0;
}

/* Alignment, bounds and overlaps of the tensor data. */
static qk_status check_tensor_data(qk_gguf_reader *r) {
    uint64_t limit = r->data_offset <= r->size ? r->size - r->data_offset : 0;
    for (int64_t i = 0; i < r->n_tensors; i++) {
        const gguf_tensor *t = &r->tensors[i];
        if (t->rel_offset % r->alignment != 0)
            return qk_error_set(
                QK_ERR_MISALIGNED,
                "%s: tensor '%s': data offset %llu (file byte %llu) is not a multiple "
                "of the alignment %u",
                r->path, t->name, (unsigned long long)t->rel_offset,
                (unsigned long long)(r->data_offset + t->rel_offset), r->alignment);
        if (t->rel_offset > limit || t->nbytes > limit - t->rel_offset)
            return qk_error_set(
                QK_ERR_OUT_OF_BOUNDS,
                "%s: tensor '%s': %zu bytes at file byte %llu run past the end of the "
                "file (%zu bytes)",
                r->path, t->name, t->nbytes, (unsigned long long)(r->data_offset + t->rel_offset),
                r->size);
    }
    if (r->n_tensors < 2) return QK_OK;
    const gguf_tensor **order = malloc((size_t)r->n_tensors * sizeof *order);
    if (!order) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", r->path);
    for (int64_t i = 0; i < r->n_tensors; i++) order[i] = &r->tensors[i];
    qsort(order, (size_t)r->n_tensors, sizeof *order, cmp_tensor_offset);
    qk_status st = QK_OK;
    const gguf_tensor *prev = NULL;
    for (int64_t i = 0; i < r->n_tensors && st == QK_OK; i++) {
        const gguf_tensor *t = order[i];
        if (t->nbytes == 0) continue;
        if (prev && t->rel_offset < prev->rel_offset + prev->nbytes)
            st = qk_error_set(
                QK_ERR_OVERLAP,
                "%s: tensor '%s' (file bytes %llu..%llu) overlaps tensor '%s' "
                "(from file byte %llu)",
                r->path, prev->name, (unsigned long long)(r->data_offset + prev->rel_offset),
                (unsigned long long)(r->data_offset + prev->rel_offset + prev->nbytes), t->name,
                (unsigned long long)(r->data_offset + t->rel_offset));
        prev = t;
    }
    free(order);
    return st;
}

static qk_status parse(qk_gguf_reader *r) {
    qk_cursor c = {r->base, r->size, 0, r->path};
    uint32_t magic;
    qk_status st = qk_cursor_u32(&c, &magic, "the magic");
    if (st != QK_OK) return st;
    if (magic != QK_GGUF_MAGIC)
        return qk_error_set(QK_ERR_BAD_MAGIC,
                            "%s: not a GGUF file: magic at byte 0 is %02x %02x %02x %02x, expected "
                            "47 47 55 46 (\"GGUF\")",
                            r->path, r->base[0], r->base[1], r->base[2], r->base[3]);
    st = qk_cursor_u32(&c, &r->version, "the version");
    if (st != QK_OK) return st;
    if (r->version == 1)
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: GGUF version 1 (at byte 4) is not supported; versions 2 and 3 are",
                            r->path);
    if (r->version != 2 && r->version != 3) {
        if ((r->version & 0xFFFFu) == 0)
            return qk_error_set(
                QK_ERR_UNSUPPORTED,
                "%s: big-endian GGUF (version word 0x%08x at byte 4) is not supported", r->path,
                r->version);
        return qk_error_set(
            QK_ERR_UNSUPPORTED,
            "%s: GGUF version %u (at byte 4) is not supported; versions 2 and 3 are", r->path,
            r->version);
    }
    uint64_t n_tensors, n_kv;
    st = qk_cursor_u64(&c, &n_tensors, "the tensor count");
    if (st == QK_OK) st = qk_cursor_u64(&c, &n_kv, "the key/value count");
    if (st != QK_OK) return st;
    if (n_kv > qk_cursor_left(&c) / MIN_KV_BYTES)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "%s: key/value count %llu at byte 16 cannot fit in the %zu bytes left",
                            r->path, (unsigned long long)n_kv, qk_cursor_left(&c));
    if (n_tensors > qk_cursor_left(&c) / MIN_TENSOR_INFO_BYTES)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "%s: tensor count %llu at byte 8 cannot fit in the %zu bytes left",
                            r->path, (unsigned long long)n_tensors, qk_cursor_left(&c));
    st = parse_kvs(r, &c, n_kv);
    if (st != QK_OK) return st;

    r->alignment = QK_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = qk_gguf_reader_find_key(r, "general.alignment");
    if (ai >= 0) {
        const gguf_kv *kv = &r->kvs[ai];
        if (kv->type != QK_GGUF_U32)
            return qk_error_set(QK_ERR_CORRUPT, "%s: general.alignment has type %s, expected u32",
                                r->path, qk_gguf_value_type_name(kv->type));
        uint32_t a = qk_load_u32(r->base + kv->value_pos);
        if (a == 0 || (a & (a - 1)) != 0)
            return qk_error_set(QK_ERR_CORRUPT,
                                "%s: general.alignment %u (byte %zu) is not a power of two",
                                r->path, a, kv->value_pos);
        r->alignment = a;
    }

    if (n_tensors > qk_cursor_left(&c) / MIN_TENSOR_INFO_BYTES)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "%s: tensor count %llu cannot fit in the %zu bytes left after the "
                            "key/value pairs (byte %zu)",
                            r->path, (unsigned long long)n_tensors, qk_cursor_left(&c), c.pos);
    r->tensors = calloc((size_t)(n_tensors ? n_tensors : 1), sizeof *r->tensors);
    r->tensor_sorted = calloc((size_t)(n_tensors ? n_tensors : 1), sizeof *r->tensor_sorted);
    if (!r->tensors || !r->tensor_sorted)
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory for %llu tensors", r->path,
                            (unsigned long long)n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        r->n_tensors = (int64_t)i + 1;
        st = parse_tensor_info(r, &c, &r->tensors[i]);
        if (st != QK_OK) return st;
        r->tensor_sorted[i].name = r->tensors[i].name;
        r->tensor_sorted[i].index = (int64_t)i;
    }
    r->n_tensors = (int64_t)n_tensors;
    qsort(r->tensor_sorted, (size_t)n_tensors, sizeof *r->tensor_sorted, cmp_name_index);
    for (uint64_t i = 1; i < n_tensors; i++)
        if (strcmp(r->tensor_sorted[i - 1].name, r->tensor_sorted[i].name) == 0)
            return qk_error_set(QK_ERR_CORRUPT,
                                "%s: duplicate tensor name '%s' (tensors %lld and %lld)", r->path,
                                r->tensor_sorted[i].name, (long long)r->tensor_sorted[i - 1].index,
                                (long long)r->tensor_sorted[i].index);
    if (!qk_align_up_u64(c.pos, r->alignment, &r->data_offset))
        return qk_error_set(QK_ERR_OVERFLOW, "%s: data offset overflows", r->path);
    return check_tensor_data(r);
}

qk_status qk_gguf_reader_open(const char *path, qk_gguf_reader **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "gguf reader: NULL argument");
    *out = NULL;
    qk_gguf_reader *r = calloc(1, sizeof *r);
    if (!r) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    qk_status st = qk_mapped_file_open(path, &r->file);
    if (st != QK_OK) {
        free(r);
        return st;
    }
    r->base = qk_mapped_file_data(r->file);
    r->size = qk_mapped_file_size(r->file);
    r->path = qk_mapped_file_path(r->file);
    st = parse(r);
    if (st != QK_OK) {
        qk_gguf_reader_close(r);
        return st;
    }
    *out = r;
    return QK_OK;
}

void qk_gguf_reader_close(qk_gguf_reader *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n_kv; i++) {
        free(r->kvs[i].key);
        free(r->kvs[i].str);
        free(r->kvs[i].str_pos);
    }
    for (int64_t i = 0; i < r->n_tensors; i++) free(r->tensors[i].name);
    free(r->kvs);
    free(r->kv_sorted);
    free(r->tensors);
    free(r->tensor_sorted);
    qk_mapped_file_close(r->file);
    free(r);
}

const char *qk_gguf_reader_path(const qk_gguf_reader *r) {
    return r->path;
}
uint32_t qk_gguf_reader_version(const qk_gguf_reader *r) {
    return r->version;
}
uint32_t qk_gguf_reader_alignment(const qk_gguf_reader *r) {
    return r->alignment;
}
uint64_t qk_gguf_reader_data_offset(const qk_gguf_reader *r) {
    return r->data_offset;
}
uint64_t qk_gguf_reader_file_size(const qk_gguf_reader *r) {
    return r->size;
}
const qk_mapped_file *qk_gguf_reader_file(const qk_gguf_reader *r) {
    return r->file;
}
int64_t qk_gguf_reader_kv_count(const qk_gguf_reader *r) {
    return r->n_kv;
}
int64_t qk_gguf_reader_tensor_count(const qk_gguf_reader *r) {
    return r->n_tensors;
}

static int64_t find_sorted(const name_index *sorted, int64_t n, const char *name) {
    if (!name || n <= 0) return -1;
    name_index key = {name, 0};
    const name_index *hit = bsearch(&key, sorted, (size_t)n, sizeof *sorted, cmp_name_index);
    return hit ? hit->index : -1;
}

int64_t qk_gguf_reader_find_key(const qk_gguf_reader *r, const char *key) {
    return find_sorted(r->kv_sorted, r->n_kv, key);
}

int64_t qk_gguf_reader_find_tensor(const qk_gguf_reader *r, const char *name) {
    return find_sorted(r->tensor_sorted, r->n_tensors, name);
}

const char *qk_gguf_reader_kv_key(const qk_gguf_reader *r, int64_t index) {
    if (index < 0 || index >= r->n_kv) return NULL;
    return r->kvs[index].key;
}

/* A scalar value of a fixed-size type, loaded into the union. */
static void load_scalar(const unsigned char *p, qk_gguf_value_type type, qk_gguf_value *v) {
    switch (type) {
    case QK_GGUF_U8:
        v->v.u64 = p[0];
        break;
    case QK_GGUF_I8:
        v->v.i64 = (int8_t)p[0];
        break;
    case QK_GGUF_U16:
        v->v.u64 = qk_load_u16(p);
        break;
    case QK_GGUF_I16:
        v->v.i64 = (int16_t)qk_load_u16(p);
        break;
    case QK_GGUF_U32:
        v->v.u64 = qk_load_u32(p);
        break;
    case QK_GGUF_I32:
        v->v.i64 = (int32_t)qk_load_u32(p);
        break;
    case QK_GGUF_U64:
        v->v.u64 = qk_load_u64(p);
        break;
    case QK_GGUF_I64:
        v->v.i64 = (int64_t)qk_load_u64(p);
        break;
    case QK_GGUF_BOOL:
        v->v.b = p[0] != 0;
        break;
    case QK_GGUF_F32: {
        uint32_t bits = qk_load_u32(p);
        float f;
        memcpy(&f, &bits, 4);
        v->v.f64 = f;
        break;
    }
    case QK_GGUF_F64: {
        uint64_t bits = qk_load_u64(p);
        memcpy(&v->v.f64, &bits, 8);
        break;
    }
    default:
        break;
    }
}

qk_status qk_gguf_reader_kv_value(const qk_gguf_reader *r, int64_t index, qk_gguf_value *out) {
    if (!r || !out || index < 0 || index >= r->n_kv)
        return qk_error_set(QK_ERR_INVALID_ARG, "gguf: key/value index %lld out of range",
                            (long long)index);
    const gguf_kv *kv = &r->kvs[index];
    memset(out, 0, sizeof *out);
    out->type = kv->type;
    out->n = kv->n;
    if (kv->type == QK_GGUF_ARRAY) {
        out->elem_type = kv->elem_type;
        if (kv->elem_type != QK_GGUF_STRING) out->data = r->base + kv->value_pos;
    } else if (kv->type == QK_GGUF_STRING) {
        out->str = kv->str;
        out->str_len = kv->str_len;
    } else {
        load_scalar(r->base + kv->value_pos, kv->type, out);
    }
    return QK_OK;
}

qk_status qk_gguf_reader_arr_str(const qk_gguf_reader *r, int64_t index, uint64_t i,
                                 const char **str, uint64_t *len) {
    if (!r || index < 0 || index >= r->n_kv)
        return qk_error_set(QK_ERR_INVALID_ARG, "gguf: key/value index %lld out of range",
                            (long long)index);
    const gguf_kv *kv = &r->kvs[index];
    if (kv->type != QK_GGUF_ARRAY || kv->elem_type != QK_GGUF_STRING)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: key '%s' is not an array of strings", r->path,
                            kv->key);
    if (i >= kv->n)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: key '%s': element %llu of %llu", r->path,
                            kv->key, (unsigned long long)i, (unsigned long long)kv->n);
    const unsigned char *p = r->base + kv->str_pos[i];
    if (len) *len = qk_load_u64(p);
    if (str) *str = (const char *)(p + 8);
    return QK_OK;
}

/* The pair named `key` with value type `want` (and element type `elem` for
** arrays), or an error. */
static qk_status lookup(const qk_gguf_reader *r, const char *key, qk_gguf_value_type want,
                        qk_gguf_value_type elem, const gguf_kv **out) {
    if (!r || !key) return qk_error_set(QK_ERR_INVALID_ARG, "gguf: NULL argument");
    int64_t i = qk_gguf_reader_find_key(r, key);
    if (i < 0) return qk_error_set(QK_ERR_NOT_FOUND, "%s: no key '%s'", r->path, key);
    const gguf_kv *kv = &r->kvs[i];
    if (kv->type != want || (want == QK_GGUF_ARRAY && kv->elem_type != elem)) {
        if (kv->type == QK_GGUF_ARRAY)
            return qk_error_set(QK_ERR_CORRUPT, "%s: key '%s' is an array of %s, expected %s%s",
                                r->path, key, qk_gguf_value_type_name(kv->elem_type),
                                want == QK_GGUF_ARRAY ? "an array of " : "",
                                qk_gguf_value_type_name(want == QK_GGUF_ARRAY ? elem : want));
        return qk_error_set(QK_ERR_CORRUPT, "%s: key '%s' has type %s, expected %s%s", r->path, key,
                            qk_gguf_value_type_name(kv->type),
                            want == QK_GGUF_ARRAY ? "an array of " : "",
                            qk_gguf_value_type_name(want == QK_GGUF_ARRAY ? elem : want));
    }
    *out = kv;
    return QK_OK;
}

#define QK_GGUF_GETTER(fn, ctype, vtype, member)                                                   \
    qk_status fn(const qk_gguf_reader *r, const char *key, ctype *out) {                           \
        const gguf_kv *kv = NULL;                                                                  \
        qk_status st = lookup(r, key, vtype, vtype, &kv);                                          \
        if (st != QK_OK) return st;                                                                \
        qk_gguf_value v;                                                                           \
        load_scalar(r->base + kv->value_pos, vtype, &v);                                           \
        *out = (ctype)v.v.member;                                                                  \
        return QK_OK;                                                                              \
    }
QK_GGUF_GETTER(qk_gguf_reader_get_u8, uint8_t, QK_GGUF_U8, u64)
QK_GGUF_GETTER(qk_gguf_reader_get_i8, int8_t, QK_GGUF_I8, i64)
QK_GGUF_GETTER(qk_gguf_reader_get_u16, uint16_t, QK_GGUF_U16, u64)
QK_GGUF_GETTER(qk_gguf_reader_get_i16, int16_t, QK_GGUF_I16, i64)
QK_GGUF_GETTER(qk_gguf_reader_get_u32, uint32_t, QK_GGUF_U32, u64)
QK_GGUF_GETTER(qk_gguf_reader_get_i32, int32_t, QK_GGUF_I32, i64)
QK_GGUF_GETTER(qk_gguf_reader_get_u64, uint64_t, QK_GGUF_U64, u64)
QK_GGUF_GETTER(qk_gguf_reader_get_i64, int64_t, QK_GGUF_I64, i64)
QK_GGUF_GETTER(qk_gguf_reader_get_f32, float, QK_GGUF_F32, f64)
QK_GGUF_GETTER(qk_gguf_reader_get_f64, double, QK_GGUF_F64, f64)
QK_GGUF_GETTER(qk_gguf_reader_get_bool, bool, QK_GGUF_BOOL, b)
#undef QK_GGUF_GETTER

qk_status qk_gguf_reader_get_str(const qk_gguf_reader *r, const char *key, const char **out) {
    const gguf_kv *kv = NULL;
    qk_status st = lookup(r, key, QK_GGUF_STRING, QK_GGUF_STRING, &kv);
    if (st != QK_OK) return st;
    *out = kv->str;
    return QK_OK;
}

qk_status qk_gguf_reader_get_int(const qk_gguf_reader *r, const char *key, int64_t *out) {
    if (!r || !key || !out) return qk_error_set(QK_ERR_INVALID_ARG, "gguf: NULL argument");
    int64_t i = qk_gguf_reader_find_key(r, key);
    if (i < 0) return qk_error_set(QK_ERR_NOT_FOUND, "%s: no key '%s'", r->path, key);
    const gguf_kv *kv = &r->kvs[i];
    qk_gguf_value v;
    switch (kv->type) {
    case QK_GGUF_U8:
    case QK_GGUF_U16:
    case QK_GGUF_U32:
    case QK_GGUF_U64:
        load_scalar(r->base + kv->value_pos, kv->type, &v);
        if (v.v.u64 > (uint64_t)INT64_MAX)
            return qk_error_set(QK_ERR_OVERFLOW, "%s: key '%s' = %llu overflows int64", r->path,
                                key, (unsigned long long)v.v.u64);
        *out = (int64_t)v.v.u64;
        return QK_OK;
    case QK_GGUF_I8:
    case QK_GGUF_I16:
    case QK_GGUF_I32:
    case QK_GGUF_I64:
        load_scalar(r->base + kv->value_pos, kv->type, &v);
        *out = v.v.i64;
        return QK_OK;
    default:
        return qk_error_set(QK_ERR_CORRUPT, "%s: key '%s' has type %s, expected an integer",
                            r->path, key, qk_gguf_value_type_name(kv->type));
    }
}

qk_status qk_gguf_reader_get_arr(const qk_gguf_reader *r, const char *key,
                                 qk_gguf_value_type elem_type, const void **data, uint64_t *n) {
    const gguf_kv *kv = NULL;
    qk_status st = lookup(r, key, QK_GGUF_ARRAY, elem_type, &kv);
    if (st != QK_OK) return st;
    if (n) *n = kv->n;
    if (data) *data = elem_type == QK_GGUF_STRING ? NULL : r->base + kv->value_pos;
    return QK_OK;
}

qk_status qk_gguf_reader_copy_arr(const qk_gguf_reader *r, const char *key,
                                  qk_gguf_value_type elem_type, void *dst, uint64_t n) {
    if (elem_type == QK_GGUF_STRING || elem_type == QK_GGUF_ARRAY)
        return qk_error_set(QK_ERR_INVALID_ARG, "gguf: copy_arr needs a numeric element type");
    const gguf_kv *kv = NULL;
    qk_status st = lookup(r, key, QK_GGUF_ARRAY, elem_type, &kv);
    if (st != QK_OK) return st;
    if (kv->n != n)
        return qk_error_set(QK_ERR_SHAPE, "%s: key '%s' has %llu elements, expected %llu", r->path,
                            key, (unsigned long long)kv->n, (unsigned long long)n);
    if (n) memcpy(dst, r->base + kv->value_pos, (size_t)n * qk_gguf_value_type_size(elem_type));
    return QK_OK;
}

qk_status qk_gguf_reader_tensor_info(const qk_gguf_reader *r, int64_t index, qk_io_tensor *out) {
    if (!r || !out || index < 0 || index >= r->n_tensors)
        return qk_error_set(QK_ERR_INVALID_ARG, "gguf: tensor index %lld out of range",
                            (long long)index);
    const gguf_tensor *t = &r->tensors[index];
    memset(out, 0, sizeof *out);
    out->name = t->name;
    out->type = t->type;
    out->ndim = t->ndim;
    for (int32_t j = 0; j < t->ndim; j++) out->shape[j] = t->shape[j];
    out->offset = r->data_offset + t->rel_offset;
    out->nbytes = t->nbytes;
    out->data = r->base + out->offset;
    return QK_OK;
}

uint64_t qk_gguf_reader_tensor_rel_offset(const qk_gguf_reader *r, int64_t index) {
    if (!r || index < 0 || index >= r->n_tensors) return 0;
    return r->tensors[index].rel_offset;
}

qk_status qk_gguf_reader_kv_raw(const qk_gguf_reader *r, int64_t index, const unsigned char **raw,
                                size_t *len) {
    if (!r || index < 0 || index >= r->n_kv)
        return qk_error_set(QK_ERR_INVALID_ARG, "gguf: key/value index %lld out of range",
                            (long long)index);
    *raw = r->base + r->kvs[index].type_pos;
    *len = r->kvs[index].end_pos - r->kvs[index].type_pos;
    return QK_OK;
}
