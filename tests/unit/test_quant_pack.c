/*
** Sub-byte packing: hand-packed bytes for both bit orders, round trips for
** every width 1..8 and every length 0..67, the packed size, and bad input.
*/
#include "qk_test.h"

/* Reference packer written bit by bit from the documented order. */
static void ref_pack(const uint8_t *v, size_t n, int bits, int order, uint8_t *dst, size_t size) {
    memset(dst, 0, size);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < bits; j++) {
            const size_t k = i * (size_t)bits + (size_t)j; /* stream bit */
            if (order == QK_BITS_LSB_FIRST) {
                if ((v[i] >> j) & 1) dst[k / 8] |= (uint8_t)(1u << (k % 8));
            } else {
                if ((v[i] >> (bits - 1 - j)) & 1) dst[k / 8] |= (uint8_t)(0x80u >> (k % 8));
            }
        }
}

static void test_hand_packed_bytes(void **state) {
    (void)state;
    uint8_t out[8];
    /* 4 bits LSB first: value 0 in the low nibble */
    const uint8_t v4[3] = {0x1, 0x2, 0xF};
    QK_ASSERT_OK(qk_pack_bits(v4, 3, 4, QK_BITS_LSB_FIRST, out, 2));
    assert_int_equal(out[0], 0x21);
    assert_int_equal(out[1], 0x0F); /* odd count: the high nibble is padding 0 */
    /* MSB first (bitsandbytes): value 0 in the high nibble */
    QK_ASSERT_OK(qk_pack_bits(v4, 3, 4, QK_BITS_MSB_FIRST, out, 2));
    assert_int_equal(out[0], 0x12);
    assert_int_equal(out[1], 0xF0);
    /* 3 bits LSB first: 5 (101), 3 (011), 6 (110): stream bits (LSB first)
    ** 1,0,1 | 1,1,0 | 0,1,1 -> byte 0 bits 0..7 = 1,0,1,1,1,0,0,1 = 0x9D,
    ** byte 1 bit 0 = 1 -> 0x01 (value 2 straddles the bytes) */
    const uint8_t v3[3] = {5, 3, 6};
    QK_ASSERT_OK(qk_pack_bits(v3, 3, 3, QK_BITS_LSB_FIRST, out, 2));
    assert_int_equal(out[0], 0x9D);
    assert_int_equal(out[1], 0x01);
    /* MSB first: 101 011 11|0 -> 0b10101111 = 0xAF, then 0b0000_0000 */
    QK_ASSERT_OK(qk_pack_bits(v3, 3, 3, QK_BITS_MSB_FIRST, out, 2));
    assert_int_equal(out[0], 0xAF);
    assert_int_equal(out[1], 0x00);
    /* 2 bits: 1,2,3,0,3 -> LSB: 0b00_11_10_01 = 0x39, then 0x03 */
    const uint8_t v2[5] = {1, 2, 3, 0, 3};
    QK_ASSERT_OK(qk_pack_bits(v2, 5, 2, QK_BITS_LSB_FIRST, out, 2));
    assert_int_equal(out[0], 0x39);
    assert_int_equal(out[1], 0x03);
    QK_ASSERT_OK(qk_pack_bits(v2, 5, 2, QK_BITS_MSB_FIRST, out, 2));
    assert_int_equal(out[0], 0x6C); /* 01 10 11 00 */
    assert_int_equal(out[1], 0xC0); /* 11 then padding */
    /* 8 bits is a copy */
    const uint8_t v8[3] = {0xAB, 0x00, 0xFF};
    QK_ASSERT_OK(qk_pack_bits(v8, 3, 8, QK_BITS_MSB_FIRST, out, 3));
    assert_memory_equal(out, v8, 3);
    /* signed, offset binary: -8, 7, 0 in 4 bits -> 0, 15, 8 */
    const int8_t s4[3] = {-8, 7, 0};
    QK_ASSERT_OK(qk_pack_bits_signed(s4, 3, 4, QK_BITS_LSB_FIRST, out, 2));
    assert_int_equal(out[0], 0xF0);
    assert_int_equal(out[1], 0x08);
    int8_t back[3];
    QK_ASSERT_OK(qk_unpack_bits_signed(out, 2, 3, 4, QK_BITS_LSB_FIRST, back));
    assert_memory_equal(back, s4, 3);
}

static void test_round_trip_all_widths_lengths(void **state) {
    (void)state;
    uint8_t v[67], back[67], packed[80], ref[80];
    int8_t sv[67], sback[67];
    qk_test_rng rng;
    for (int bits = 1; bits <= 8; bits++)
        for (int order = 0; order < 2; order++)
            for (size_t n = 0; n <= 67; n++) {
                const uint64_t seed = (uint64_t)(bits * 1000 + order * 100) + n;
                qk_test_rng_seed(&rng, seed);
                for (size_t i = 0; i < n; i++)
                    v[i] = (uint8_t)(qk_test_rng_u64(&rng) & ((1u << bits) - 1));
                size_t size;
                QK_ASSERT_OK(qk_packed_size(n, bits, &size));
                assert_int_equal(size, (n * (size_t)bits + 7) / 8);
                memset(packed, 0xA5, sizeof packed);
                QK_ASSERT_OK(qk_pack_bits(v, n, bits, order, packed, size));
                ref_pack(v, n, bits, order, ref, size);
                if (memcmp(packed, ref, size) != 0)
                    fail_msg("seed %llu: %d bits order %d n %zu: bytes differ from the bit-by-bit "
                             "reference",
                             (unsigned long long)seed, bits, order, n);
                assert_int_equal(packed[size], 0xA5); /* nothing written past the end */
                memset(back, 0xEE, sizeof back);
                QK_ASSERT_OK(qk_unpack_bits(packed, size, n, bits, order, back));
                if (n && memcmp(back, v, n) != 0)
                    fail_msg("seed %llu: %d bits order %d n %zu: round trip differs",
                             (unsigned long long)seed, bits, order, n);
                /* signed values over the whole range */
                for (size_t i = 0; i < n; i++) sv[i] = (int8_t)((int)v[i] - (1 << (bits - 1)));
                QK_ASSERT_OK(qk_pack_bits_signed(sv, n, bits, order, packed, size));
                QK_ASSERT_OK(qk_pack_bits(v, n, bits, order, ref, size)); /* offset binary = v */
                assert_true(memcmp(packed, ref, size) == 0);
                QK_ASSERT_OK(qk_unpack_bits_signed(packed, size, n, bits, order, sback));
                if (n && memcmp(sback, sv, n) != 0)
                    fail_msg("seed %llu: signed round trip differs", (unsigned long long)seed);
            }
}

static void test_long_signed_chunks(void **state) {
    (void)state;
    /* more than one internal chunk (4096 values) at 3 bits */
    enum { N = 10007 };
    int8_t *v = malloc(N), *back = malloc(N);
    uint8_t *u = malloc(N), *p1 = malloc(N), *p2 = malloc(N);
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 3);
    for (int i = 0; i < N; i++) {
        u[i] = (uint8_t)(qk_test_rng_u64(&rng) % 8);
        v[i] = (int8_t)(u[i] - 4);
    }
    size_t size;
    QK_ASSERT_OK(qk_packed_size(N, 3, &size));
    QK_ASSERT_OK(qk_pack_bits_signed(v, N, 3, QK_BITS_LSB_FIRST, p1, size));
    QK_ASSERT_OK(qk_pack_bits(u, N, 3, QK_BITS_LSB_FIRST, p2, size));
    assert_memory_equal(p1, p2, size);
    QK_ASSERT_OK(qk_unpack_bits_signed(p1, size, N, 3, QK_BITS_LSB_FIRST, back));
    assert_memory_equal(back, v, N);
    free(v);
    free(back);
    free(u);
    free(p1);
    free(p2);
}

static void test_bad_input(void **state) {
    (void)state;
    uint8_t v[4] = {1, 2, 16, 3}, out[4];
    QK_ASSERT_STATUS(qk_pack_bits(v, 4, 4, QK_BITS_LSB_FIRST, out, 4), QK_ERR_INVALID_ARG);
    assert_non_null(strstr(qk_last_error(), "index 2"));
    v[2] = 0;
    QK_ASSERT_STATUS(qk_pack_bits(v, 4, 4, QK_BITS_LSB_FIRST, out, 1), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_STATUS(qk_unpack_bits(out, 1, 4, 4, QK_BITS_LSB_FIRST, v), QK_ERR_TRUNCATED);
    QK_ASSERT_STATUS(qk_pack_bits(v, 4, 9, QK_BITS_LSB_FIRST, out, 4), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_pack_bits(v, 4, 0, QK_BITS_LSB_FIRST, out, 4), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_pack_bits(v, 4, 4, 7, out, 4), QK_ERR_INVALID_ARG);
    const int8_t s[2] = {0, -5};
    QK_ASSERT_STATUS(qk_pack_bits_signed(s, 2, 3, QK_BITS_LSB_FIRST, out, 4), QK_ERR_INVALID_ARG);
    assert_non_null(strstr(qk_last_error(), "index 1"));
    size_t size;
    /* n * bits / 8 <= n: never overflows, even for SIZE_MAX values */
    QK_ASSERT_OK(qk_packed_size(SIZE_MAX, 8, &size));
    assert_true(size == SIZE_MAX);
    QK_ASSERT_STATUS(qk_packed_size(10, 9, &size), QK_ERR_INVALID_ARG);
    QK_ASSERT_OK(qk_packed_size(SIZE_MAX, 1, &size));
    assert_true(size == SIZE_MAX / 8 + 1);
    QK_ASSERT_OK(qk_packed_size(0, 3, &size));
    assert_int_equal(size, 0);
    QK_ASSERT_OK(qk_pack_bits(NULL, 0, 3, QK_BITS_LSB_FIRST, NULL, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_packed_bytes),
        cmocka_unit_test(test_round_trip_all_widths_lengths),
        cmocka_unit_test(test_long_signed_chunks),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
