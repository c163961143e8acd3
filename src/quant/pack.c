/*
** Sub-byte packing: n values of 1..8 bits into a little-endian (LSB-first)
** or big-endian (MSB-first) bit stream; the bit order is documented in
** quant.h. A 64-bit accumulator carries the bits between bytes, so a value
** may straddle two bytes (3, 5, 6, 7 bits).
*/
#include <string.h> /* memcpy, memset */

#include "core/error.h"
#include "quantkit/quant.h"

static qk_status check_bits_order(int bits, int order, const char *what) {
    if (bits < 1 || bits > 8)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: %d bits (1..8)", what, bits);
    if (order != QK_BITS_LSB_FIRST && order != QK_BITS_MSB_FIRST)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: unknown bit order %d", what, order);
    return QK_OK;
}

qk_status qk_packed_size(size_t n, int bits, size_t *out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "packed size: NULL output");
    if (bits < 1 || bits > 8)
        return qk_error_set(QK_ERR_INVALID_ARG, "packed size: %d bits (1..8)", bits);
    /* ceil(n * bits / 8) = (n / 8) * bits + ceil((n % 8) * bits / 8): no overflow of n * bits */
    size_t whole;
    if (!qk_mul_size(n / 8, (size_t)bits, &whole) ||
        !qk_add_size(whole, ((n % 8) * (size_t)bits + 7) / 8, out))
        return qk_error_set(QK_ERR_OVERFLOW, "packed size: %zu values of %d bits overflow", n,
                            bits);
    return QK_OK;
}

/* Pack without checks: values already < 2^bits, dst large enough. */
static void pack_unchecked(const uint8_t *v, size_t n, int bits, int order, uint8_t *dst) {
    if (bits == 8) {
        if (n) memcpy(dst, v, n);
        return;
    }
    uint64_t acc = 0;
    unsigned have = 0;
    size_t o = 0;
    if (order == QK_BITS_LSB_FIRST) {
        for (size_t i = 0; i < n; i++) {
            acc |= (uint64_t)v[i] << have;
            have += (unsigned)bits;
            while (have >= 8) {
                dst[o++] = (uint8_t)acc;
                acc >>= 8;
                have -= 8;
            }
        }
        if (have) dst[o] = (uint8_t)acc; /* high bits zero */
    } else {
        for (size_t i = 0; i < n; i++) {
            acc = (acc << bits) | v[i];
            have += (unsigned)bits;
            while (have >= 8) {
                dst[o++] = (uint8_t)(acc >> (have - 8));
                have -= 8;
            }
            acc &= ((uint64_t)1 << have) - 1;
        }
        if (have) dst[o] = (uint8_t)(acc << (8 - have)); /* low bits zero */
    }
}

static void unpack_unchecked(const uint8_t *src, size_t n, int bits, int order, uint8_t *v) {
    if (bits == 8) {
        if (n) memcpy(v, src, n);
        return;
    }
    const uint64_t mask = ((uint64_t)1 << bits) - 1;
    uint64_t acc = 0;
    unsigned have = 0;
    size_t in = 0;
    if (order == QK_BITS_LSB_FIRST) {
        for (size_t i = 0; i < n; i++) {
            if (have < (unsigned)bits) {
                acc |= (uint64_t)src[in++] << have;
                have += 8;
            }
            v[i] = (uint8_t)(acc & mask);
            acc >>= bits;
            have -= (unsigned)bits;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (have < (unsigned)bits) {
                acc = (acc << 8) | src[in++];
                have += 8;
            }
            have -= (unsigned)bits;
            v[i] = (uint8_t)((acc >> have) & mask);
            acc &= ((uint64_t)1 << have) - 1;
        }
    }
}

qk_status qk_pack_bits(const uint8_t *values, size_t n, int bits, int order, uint8_t *dst,
                       size_t dst_size) {
    qk_status st = check_bits_order(bits, order, "pack bits");
    if (st != QK_OK) return st;
    size_t need;
    st = qk_packed_size(n, bits, &need);
    if (st != QK_OK) return st;
    if (dst_size < need)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "pack bits: %zu values of %d bits need %zu bytes, "
                            "have %zu",
                            n, bits, need, dst_size);
    if (n > 0 && (!values || !dst))
        return qk_error_set(QK_ERR_INVALID_ARG, "pack bits: NULL array");
    for (size_t i = 0; i < n; i++)
        if (values[i] >> bits)
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "pack bits: value %u at index %zu needs more "
                                "than %d bits",
                                (unsigned)values[i], i, bits);
    pack_unchecked(values, n, bits, order, dst);
    return QK_OK;
}

qk_status qk_unpack_bits(const uint8_t *src, size_t src_size, size_t n, int bits, int order,
                         uint8_t *values) {
    qk_status st = check_bits_order(bits, order, "unpack bits");
    if (st != QK_OK) return st;
    size_t need;
    st = qk_packed_size(n, bits, &need);
    if (st != QK_OK) return st;
    if (src_size < need)
        return qk_error_set(QK_ERR_TRUNCATED,
                            "unpack bits: %zu values of %d bits need %zu bytes, "
                            "have %zu",
                            n, bits, need, src_size);
    if (n > 0 && (!values || !src))
        return qk_error_set(QK_ERR_INVALID_ARG, "unpack bits: NULL array");
    unpack_unchecked(src, n, bits, order, values);
    return QK_OK;
}

/* Offset-binary conversion in chunks through a stack buffer. */
#define SIGNED_CHUNK 4096

qk_status qk_pack_bits_signed(const int8_t *values, size_t n, int bits, int order, uint8_t *dst,
                              size_t dst_size) {
    qk_status st = check_bits_order(bits, order, "pack signed bits");
    if (st != QK_OK) return st;
    size_t need;
    st = qk_packed_size(n, bits, &need);
    if (st != QK_OK) return st;
    if (dst_size < need)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "pack signed bits: %zu values of %d bits need "
                            "%zu bytes, have %zu",
                            n, bits, need, dst_size);
    if (n > 0 && (!values || !dst))
        return qk_error_set(QK_ERR_INVALID_ARG, "pack signed bits: NULL array");
    const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
    for (size_t i = 0; i < n; i++)
        if (values[i] < lo || values[i] > hi)
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "pack signed bits: value %d at index %zu is "
                                "outside [%d, %d]",
                                (int)values[i], i, lo, hi);
    /* chunks of a multiple of 8 values start on a byte boundary for every width */
    uint8_t buf[SIGNED_CHUNK];
    for (size_t start = 0; start < n; start += SIGNED_CHUNK) {
        const size_t len = n - start < SIGNED_CHUNK ? n - start : SIGNED_CHUNK;
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(values[start + i] - lo);
        pack_unchecked(buf, len, bits, order, dst + start / 8 * (size_t)bits);
    }
    return QK_OK;
}

qk_status qk_unpack_bits_signed(const uint8_t *src, size_t src_size, size_t n, int bits, int order,
                                int8_t *values) {
    qk_status st = qk_unpack_bits(src, src_size, n, bits, order, (uint8_t *)values);
    if (st != QK_OK) return st;
    const int lo = -(1 << (bits - 1));
    for (size_t i = 0; i < n; i++) values[i] = (int8_t)((int)((uint8_t *)values)[i] + lo);
    return QK_OK;
}
