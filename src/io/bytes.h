/*
** Internal to the io layer: little-endian loads and stores, a growable byte
** buffer, and the bounds-checked cursor the binary parsers read through.
**
** Every file format quantkit reads or writes is little-endian, and tensor
** data pointers handed out by the readers point straight into the mapping,
** so the host must be little-endian too.
*/
#ifndef QK_IO_BYTES_H
#define QK_IO_BYTES_H

#include <stdint.h> /* uint32_t, uint64_t */
#include <string.h> /* memcpy */

#include "quantkit/core.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "quantkit's io layer assumes a little-endian host"
#endif

static inline uint16_t qk_load_u16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t qk_load_u32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t qk_load_u64(const unsigned char *p) {
    return (uint64_t)qk_load_u32(p) | ((uint64_t)qk_load_u32(p + 4) << 32);
}
static inline void qk_store_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}
static inline void qk_store_u64(unsigned char *p, uint64_t v) {
    qk_store_u32(p, (uint32_t)v);
    qk_store_u32(p + 4, (uint32_t)(v >> 32));
}

/* Round `v` up to a multiple of `align` (a power of two); false on overflow. */
static inline bool qk_align_up_u64(uint64_t v, uint64_t align, uint64_t *out) {
    uint64_t mask = align - 1;
    if (v > UINT64_MAX - mask) return false;
    *out = (v + mask) & ~mask;
    return true;
}

/* ------------------------------------------------------------------------
** Growable byte buffer. Appends fail only on allocation failure
** (QK_ERR_NOMEM, message set).
*/
typedef struct qk_bytebuf {
    unsigned char *data;
    size_t len;
    size_t cap;
} qk_bytebuf;

qk_status qk_bytebuf_reserve(qk_bytebuf *b, size_t extra);
qk_status qk_bytebuf_append(qk_bytebuf *b, const void *p, size_t n);
qk_status qk_bytebuf_append_u32(qk_bytebuf *b, uint32_t v);
qk_status qk_bytebuf_append_u64(qk_bytebuf *b, uint64_t v);
/* u64 length then the bytes (the GGUF string encoding) */
qk_status qk_bytebuf_append_str(qk_bytebuf *b, const char *s, uint64_t len);
void qk_bytebuf_free(qk_bytebuf *b);

/* ------------------------------------------------------------------------
** Cursor over an untrusted byte range. Reads past the end fail with
** QK_ERR_TRUNCATED naming the file (`path`), the byte offset and `what`.
*/
typedef struct qk_cursor {
    const unsigned char *base;
    size_t size;
    size_t pos;
    const char *path;
} qk_cursor;

qk_status qk_cursor_u32(qk_cursor *c, uint32_t *out, const char *what);
qk_status qk_cursor_u64(qk_cursor *c, uint64_t *out, const char *what);
/* Skip `n` bytes; a length that runs past the end is QK_ERR_OUT_OF_BOUNDS. */
qk_status qk_cursor_skip(qk_cursor *c, uint64_t n, const char *what);
static inline size_t qk_cursor_left(const qk_cursor *c) {
    return c->size - c->pos;
}

#endif
