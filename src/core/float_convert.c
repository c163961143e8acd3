/*
** Scalar conversions between f32 and the narrow float formats: f16, bf16,
** FP8 E4M3 (OCP "E4M3FN") and FP8 E5M2. All round to nearest, ties to even.
**
** f16, E4M3 and E5M2 share one encoder parameterised by the format's
** exponent and mantissa widths; it works on the f32 bit pattern with
** integer arithmetic only, so the result never depends on the FPU's
** rounding mode or on flush-to-zero settings.
*/
#include <string.h> /* memcpy */

#include "quantkit/core.h"

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* A narrow binary float format: 1 sign bit, `exp_bits`, `man_bits`. */
typedef struct minifloat_format {
    int exp_bits;
    int man_bits;
    int bias;
    uint32_t max_finite; /* magnitude code of the largest finite value */
    bool has_inf;        /* all-ones exponent with zero mantissa is Inf */
    uint32_t nan_code;   /* magnitude code written for NaN */
} minifloat_format;

static const minifloat_format FORMAT_F16 = {5, 10, 15, 0x7BFF, true, 0x7E00};
static const minifloat_format FORMAT_E4M3 = {4, 3, 7, 0x7E, false, 0x7F};
static const minifloat_format FORMAT_E5M2 = {5, 2, 15, 0x7B, true, 0x7E};

/* Shift `m` right by `shift` bits, rounding to nearest with ties to even. */
static uint32_t shift_round_even(uint32_t m, int shift) {
    if (shift <= 0) return m << -shift;
    if (shift > 31) return 0;
    uint32_t r = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return r;
}

/* Encode f32 into the narrow format `f`. Returns sign | magnitude code. */
static uint32_t minifloat_encode(float x, const minifloat_format *f, bool saturate) {
    const uint32_t u = f32_bits(x);
    const int total_bits = 1 + f->exp_bits + f->man_bits;
    const uint32_t sign = (u >> 31) << (total_bits - 1);
    const uint32_t mag = u & 0x7FFFFFFFu;
    const uint32_t inf_code = ((1u << f->exp_bits) - 1u) << f->man_bits;

    if (mag > 0x7F800000u) { /* NaN: keep the top payload bits, force quiet */
        uint32_t payload = (mag & 0x007FFFFFu) >> (23 - f->man_bits);
        uint32_t code = f->nan_code | payload;
        if (!f->has_inf) code = f->nan_code; /* E4M3 has a single NaN code */
        return sign | code;
    }
    if (mag == 0x7F800000u) { /* Inf */
        if (saturate) return sign | f->max_finite;
        return sign | (f->has_inf ? inf_code : f->nan_code);
    }

    const int exp32 = (int)(mag >> 23); /* biased f32 exponent */
    const uint32_t man32 = mag & 0x007FFFFFu;
    const int e = exp32 - 127 + f->bias; /* biased target exponent */
    uint32_t code;
    if (exp32 == 0) {
        /* f32 zero or subnormal (< 2^-126): far below the smallest
        ** subnormal of every target here, so it rounds to zero. */
        code = 0;
    } else if (e >= 1) {
        /* Normal in the target: exponent and mantissa rounded together so
        ** that a mantissa carry moves into the exponent. */
        uint32_t combined = ((uint32_t)e << 23) | man32;
        code = shift_round_even(combined, 23 - f->man_bits);
    } else {
        /* Subnormal in the target: value = m * 2^(1 - bias - man_bits). */
        uint32_t m = man32 | 0x00800000u;
        int shift = 23 - f->man_bits + (1 - e);
        code = shift_round_even(m, shift);
    }
    if (code > f->max_finite) {
        if (saturate) return sign | f->max_finite;
        return sign | (f->has_inf ? inf_code : f->nan_code);
    }
    return sign | code;
}

/* Decode a narrow float to f32 (exact: every value is representable). */
static float minifloat_decode(uint32_t v, const minifloat_format *f) {
    const int total_bits = 1 + f->exp_bits + f->man_bits;
    const uint32_t sign = ((v >> (total_bits - 1)) & 1u) << 31;
    const uint32_t exp_mask = (1u << f->exp_bits) - 1u;
    const uint32_t man_mask = (1u << f->man_bits) - 1u;
    const uint32_t e = (v >> f->man_bits) & exp_mask;
    uint32_t m = v & man_mask;

    if (e == exp_mask && f->has_inf) {
        if (m == 0) return f32_from_bits(sign | 0x7F800000u);
        return f32_from_bits(sign | 0x7FC00000u | (m << (23 - f->man_bits)));
    }
    if (!f->has_inf && (v & ((1u << (total_bits - 1)) - 1u)) == f->nan_code)
        return f32_from_bits(sign | 0x7FC00000u);
    if (e == 0) {
        if (m == 0) return f32_from_bits(sign);
        /* Subnormal: normalise into an f32 normal. */
        int exp32 = 127 - f->bias + 1;
        while ((m & (1u << f->man_bits)) == 0) {
            m <<= 1;
            exp32--;
        }
        m &= man_mask;
        return f32_from_bits(sign | ((uint32_t)exp32 << 23) | (m << (23 - f->man_bits)));
    }
    uint32_t exp32 = e - (uint32_t)f->bias + 127u;
    return f32_from_bits(sign | (exp32 << 23) | (m << (23 - f->man_bits)));
}

uint16_t qk_f32_to_f16(float x) {
    return (uint16_t)minifloat_encode(x, &FORMAT_F16, false);
}
float qk_f16_to_f32(uint16_t h) {
    return minifloat_decode(h, &FORMAT_F16);
}

uint8_t qk_f32_to_fp8_e4m3(float x, bool saturate) {
    return (uint8_t)minifloat_encode(x, &FORMAT_E4M3, saturate);
}
float qk_fp8_e4m3_to_f32(uint8_t v) {
    return minifloat_decode(v, &FORMAT_E4M3);
}

uint8_t qk_f32_to_fp8_e5m2(float x, bool saturate) {
    return (uint8_t)minifloat_encode(x, &FORMAT_E5M2, saturate);
}
float qk_fp8_e5m2_to_f32(uint8_t v) {
    return minifloat_decode(v, &FORMAT_E5M2);
}

/* bf16 is the top half of an f32: round the low 16 bits away. */
uint16_t qk_f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

float qk_bf16_to_f32(uint16_t h) {
    return f32_from_bits((uint32_t)h << 16);
}
