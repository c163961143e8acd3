/*
** Helpers shared by the io tests: a byte builder for hand-made (and
** deliberately broken) files, and message assertions.
*/
#ifndef QK_IO_TEST_UTIL_H
#define QK_IO_TEST_UTIL_H

#include "qk_test.h"

typedef struct tb {
    unsigned char *d;
    size_t n, cap;
} tb;

static inline void tb_bytes(tb *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->d = realloc(b->d, cap);
        assert_non_null(b->d);
        b->cap = cap;
    }
    if (n) memcpy(b->d + b->n, p, n);
    b->n += n;
}
static inline void tb_u8(tb *b, uint8_t v) {
    tb_bytes(b, &v, 1);
}
static inline void tb_u32(tb *b, uint32_t v) {
    unsigned char t[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    tb_bytes(b, t, 4);
}
static inline void tb_u64(tb *b, uint64_t v) {
    tb_u32(b, (uint32_t)v);
    tb_u32(b, (uint32_t)(v >> 32));
}
static inline void tb_f32(tb *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    tb_u32(b, u);
}
static inline void tb_f64(tb *b, double f) {
    uint64_t u;
    memcpy(&u, &f, 8);
    tb_u64(b, u);
}
/* GGUF string: u64 length + bytes */
static inline void tb_gstr(tb *b, const char *s) {
    tb_u64(b, strlen(s));
    tb_bytes(b, s, strlen(s));
}
static inline void tb_pad(tb *b, size_t align) {
    while (b->n % align) tb_u8(b, 0);
}
static inline void tb_free(tb *b) {
    free(b->d);
    b->d = NULL;
    b->n = b->cap = 0;
}
/* Overwrite 4 / 8 bytes at `at`. */
static inline void tb_set_u32(tb *b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) b->d[at + i] = (unsigned char)(v >> (8 * i));
}
static inline void tb_set_u64(tb *b, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) b->d[at + i] = (unsigned char)(v >> (8 * i));
}
/* Write the builder's bytes to a file in the test's temporary folder. */
static inline const char *tb_save(const tb *b, const char *name) {
    const char *path = qk_test_tmp_path(name);
    assert_int_equal(qk_test_write_file(path, b->d, b->n), 0);
    return path;
}

/* The last error message contains `needle`. */
#define QK_ASSERT_MSG_HAS(needle)                                                                  \
    do {                                                                                           \
        if (!strstr(qk_last_error(), (needle)))                                                    \
            fail_msg("message \"%s\" does not contain \"%s\"", qk_last_error(), (needle));         \
    } while (0)

#endif
