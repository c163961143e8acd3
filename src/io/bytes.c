/*
** Byte buffer and bounds-checked cursor (see io/bytes.h).
*/
#include <stdlib.h> /* realloc, free */

#include "core/error.h"
#include "io/bytes.h"

qk_status qk_bytebuf_reserve(qk_bytebuf *b, size_t extra) {
    size_t need;
    if (!qk_add_size(b->len, extra, &need))
        return qk_error_set(QK_ERR_OVERFLOW, "byte buffer: %zu + %zu bytes overflow", b->len,
                            extra);
    if (need <= b->cap) return QK_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *p = realloc(b->data, cap);
    if (!p) return qk_error_set(QK_ERR_NOMEM, "byte buffer: cannot allocate %zu bytes", cap);
    b->data = p;
    b->cap = cap;
    return QK_OK;
}

qk_status qk_bytebuf_append(qk_bytebuf *b, const void *p, size_t n) {
    qk_status st = qk_bytebuf_reserve(b, n);
    if (st != QK_OK) return st;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return QK_OK;
}

qk_status qk_bytebuf_append_u32(qk_bytebuf *b, uint32_t v) {
    unsigned char tmp[4];
    qk_store_u32(tmp, v);
    return qk_bytebuf_append(b, tmp, 4);
}

qk_status qk_bytebuf_append_u64(qk_bytebuf *b, uint64_t v) {
    unsigned char tmp[8];
    qk_store_u64(tmp, v);
    return qk_bytebuf_append(b, tmp, 8);
}

qk_status qk_bytebuf_append_str(qk_bytebuf *b, const char *s, uint64_t len) {
    if (len > SIZE_MAX)
        return qk_error_set(QK_ERR_OVERFLOW, "byte buffer: string of %llu bytes",
                            (unsigned long long)len);
    qk_status st = qk_bytebuf_append_u64(b, len);
    if (st != QK_OK) return st;
    return qk_bytebuf_append(b, s, (size_t)len);
}

void qk_bytebuf_free(qk_bytebuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

qk_status qk_cursor_u32(qk_cursor *c, uint32_t *out, const char *what) {
    if (qk_cursor_left(c) < 4)
        return qk_error_set(QK_ERR_TRUNCATED,
                            "%s: file truncated at byte %zu reading %s (4 bytes, %zu left)",
                            c->path, c->pos, what, qk_cursor_left(c));
    *out = qk_load_u32(c->base + c->pos);
    c->pos += 4;
    return QK_OK;
}

qk_status qk_cursor_u64(qk_cursor *c, uint64_t *out, const char *what) {
    if (qk_cursor_left(c) < 8)
        return qk_error_set(QK_ERR_TRUNCATED,
                            "%s: file truncated at byte %zu reading %s (8 bytes, %zu left)",
                            c->path, c->pos, what, qk_cursor_left(c));
    *out = qk_load_u64(c->base + c->pos);
    c->pos += 8;
    return QK_OK;
}

qk_status qk_cursor_skip(qk_cursor *c, uint64_t n, const char *what) {
    if (n > qk_cursor_left(c))
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "%s: %s at byte %zu has length %llu, beyond the end of the file "
                            "(%zu bytes left)",
                            c->path, what, c->pos, (unsigned long long)n, qk_cursor_left(c));
    c->pos += (size_t)n;
    return QK_OK;
}
