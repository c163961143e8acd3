/*
** Shared helpers for quantkit's cmocka tests: fixtures, seeded random data,
** file reading and assertions that print both sides.
**
** A test file includes this header, defines its tests as
**     static void test_name(void **state) { ... }
** and ends with
**     int main(void) { const struct CMUnitTest tests[] = { cmocka_unit_test(test_name) };
**                      return cmocka_run_group_tests(tests, NULL, NULL); }
*/
#ifndef QK_TEST_H
#define QK_TEST_H

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantkit/quantkit.h"

/* ---- timing ------------------------------------------------------------
** Assertions on wall time ("encodes 1 MB in under a second") are skipped
** when QK_TEST_NO_TIMING is set: scripts/valgrind.sh sets it, memcheck runs
** code some 20-50 times slower. */
#define QK_TIMING_CHECKS() (getenv("QK_TEST_NO_TIMING") == NULL)

/* ---- fixtures ----------------------------------------------------------
** ../shared/fixtures (QK_FIXTURES_DIR, set by CMake; the environment
** variable QK_FIXTURES overrides it). Tests that need fixtures call
** QK_REQUIRE_FIXTURES() first: it prints why and skips when absent. */
const char *qk_test_fixtures_dir(void); /* NULL when absent */
/* Path of a file under the fixtures folder, in a static buffer per call slot
** (up to 8 live results). */
const char *qk_test_fixture(const char *relative_path);
#define QK_REQUIRE_FIXTURES()                                                                      \
    do {                                                                                           \
        if (!qk_test_fixtures_dir()) {                                                             \
            print_message("SKIP: ../shared/fixtures is absent (looked in %s); this test "          \
                          "needs the shared fixtures\n",                                           \
                          QK_FIXTURES_DIR);                                                        \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Temporary directory for this test process (created on first use, under
** the build folder); returns a path inside it. */
const char *qk_test_tmp_path(const char *name);

/* Read a whole file; NULL on failure. Caller frees. */
unsigned char *qk_test_read_file(const char *path, size_t *out_size);
/* Write a whole file; returns 0 on success. */
int qk_test_write_file(const char *path, const void *data, size_t size);

/* ---- seeded random numbers (xoshiro256**, seeded by splitmix64) ------- */
typedef struct qk_test_rng {
    uint64_t s[4];
} qk_test_rng;
void qk_test_rng_seed(qk_test_rng *rng, uint64_t seed);
uint64_t qk_test_rng_u64(qk_test_rng *rng);
double qk_test_rng_uniform(qk_test_rng *rng); /* [0, 1) */
float qk_test_rng_normal(qk_test_rng *rng);   /* N(0, 1) */
void qk_test_fill_normal(qk_test_rng *rng, float *x, size_t n, float sigma);
void qk_test_fill_uniform(qk_test_rng *rng, float *x, size_t n, float lo, float hi);

/* ---- assertions ------------------------------------------------------- */
uint32_t qk_test_f32_bits(float x);
/* |a - b| <= rel * max(|a|, |b|) (or both exactly equal, NaN == NaN). */
int qk_test_near_rel(double a, double b, double rel);
#define QK_ASSERT_NEAR_REL(a, b, rel)                                                              \
    do {                                                                                           \
        double qk_a_ = (double)(a), qk_b_ = (double)(b);                                           \
        if (!qk_test_near_rel(qk_a_, qk_b_, (rel)))                                                \
            fail_msg("%s = %.9g and %s = %.9g differ by more than %g relative", #a, qk_a_, #b,     \
                     qk_b_, (double)(rel));                                                        \
    } while (0)
#define QK_ASSERT_NEAR_ABS(a, b, tol)                                                              \
    do {                                                                                           \
        double qk_a_ = (double)(a), qk_b_ = (double)(b);                                           \
        if (!(fabs(qk_a_ - qk_b_) <= (tol)))                                                       \
            fail_msg("%s = %.9g and %s = %.9g differ by more than %g", #a, qk_a_, #b, qk_b_,       \
                     (double)(tol));                                                               \
    } while (0)
/* Bit-identical floats (so +0 != -0 and NaN payloads count). */
#define QK_ASSERT_F32_BITS_EQ(a, b)                                                                \
    do {                                                                                           \
        float qk_a_ = (a), qk_b_ = (b);                                                            \
        if (qk_test_f32_bits(qk_a_) != qk_test_f32_bits(qk_b_))                                    \
            fail_msg("%s = %.9g (0x%08x) != %s = %.9g (0x%08x)", #a, (double)qk_a_,                \
                     (unsigned)qk_test_f32_bits(qk_a_), #b, (double)qk_b_,                         \
                     (unsigned)qk_test_f32_bits(qk_b_));                                           \
    } while (0)
#define QK_ASSERT_OK(expr)                                                                         \
    do {                                                                                           \
        qk_status qk_st_ = (expr);                                                                 \
        if (qk_st_ != QK_OK)                                                                       \
            fail_msg("%s returned %s: %s", #expr, qk_status_name(qk_st_), qk_last_error());        \
    } while (0)
#define QK_ASSERT_STATUS(expr, expected)                                                           \
    do {                                                                                           \
        qk_status qk_st_ = (expr);                                                                 \
        if (qk_st_ != (expected))                                                                  \
            fail_msg("%s returned %s, expected %s (message: %s)", #expr, qk_status_name(qk_st_),   \
                     qk_status_name(expected), qk_last_error());                                   \
    } while (0)

/* ---- tiny JSON access for golden files (jansson) ------------------------
** Load a JSON file under the fixtures folder; fails the test when missing
** or malformed. The returned value is a jansson json_t*; free with
** json_decref. Helpers read float arrays into malloc'ed buffers. */
void *qk_test_load_json(const char *path);
float *qk_test_json_floats(void *json_array, size_t *out_n);
double *qk_test_json_doubles(void *json_array, size_t *out_n);

#endif
