/*
** SHA-256 (FIPS 180-4) for tests that compare data with golden hashes.
** Test-only helper; not part of the library.
*/
#ifndef QK_TEST_SHA256_H
#define QK_TEST_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct qk_test_sha256 {
    uint32_t h[8];           /* chaining value */
    uint64_t length;         /* message bytes so far */
    unsigned char block[64]; /* pending input */
    size_t fill;             /* bytes in block */
} qk_test_sha256;

void qk_test_sha256_init(qk_test_sha256 *s);
void qk_test_sha256_update(qk_test_sha256 *s, const void *data, size_t n);
void qk_test_sha256_final(qk_test_sha256 *s, unsigned char digest[32]);
/* Lower-case hex digest of `n` bytes into hex[65] (NUL-terminated). */
void qk_test_sha256_hex(const void *data, size_t n, char hex[65]);

#endif
