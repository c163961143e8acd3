/*
** Codebooks: NF4, bitsandbytes' FP4, OCP MX FP4 E2M1 (16 values each), and
** bitsandbytes' 8-bit dynamic map; nearest-code search with exact midpoints.
*/
#include <math.h>   /* isnan, nextafterf */
#include <string.h> /* memset */

#include "core/error.h"
#include "quant/codebook_internal.h"

/* QLoRA's NF4 (bitsandbytes create_normal_map(offset=0.9677083), normalized),
** the 16 values as bitsandbytes lists them. */
static const float NF4_VALUES[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

/* bitsandbytes FP4: sign bit 0b1000, magnitudes {0, 0.0625, 8, 12, 4, 6, 2, 3} / 12
** (each the nearest f32 of the exact quotient). Code 8 is -0. */
#define BNB(m) ((float)((m) / 12.0))
static const float FP4_BNB_VALUES[16] = {
    BNB(0.0),  BNB(0.0625),  BNB(8.0),  BNB(12.0),  BNB(4.0),  BNB(6.0),  BNB(2.0),  BNB(3.0),
    -BNB(0.0), -BNB(0.0625), -BNB(8.0), -BNB(12.0), -BNB(4.0), -BNB(6.0), -BNB(2.0), -BNB(3.0),
};
#undef BNB

/* OCP MX FP4 E2M1: sign, 2 exponent bits (bias 1), 1 mantissa bit. */
static const float FP4_E2M1_VALUES[16] = {
    0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
    -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f,
};

/* E2M1 divided by its largest magnitude 6, in f32: the block multipliers. */
#define E2M1N(v) ((float)((v) / 6.0))
static const float FP4_E2M1_NORMALIZED[16] = {
    E2M1N(0.0),  E2M1N(0.5),  E2M1N(1.0),  E2M1N(1.5),  E2M1N(2.0),  E2M1N(3.0),
    E2M1N(4.0),  E2M1N(6.0),  -E2M1N(0.0), -E2M1N(0.5), -E2M1N(1.0), -E2M1N(1.5),
    -E2M1N(2.0), -E2M1N(3.0), -E2M1N(4.0), -E2M1N(6.0),
};
#undef E2M1N

/* Magnitude codes 0..7 in ascending order of magnitude. */
static const uint8_t FP4_BNB_ORDER[8] = {0, 1, 6, 7, 4, 5, 2, 3};
static const uint8_t FP4_E2M1_ORDER[8] = {0, 1, 2, 3, 4, 5, 6, 7};

const float *qk_codebook_values(qk_codebook cb) {
    switch (cb) {
    case QK_CODEBOOK_NF4:
        return NF4_VALUES;
    case QK_CODEBOOK_FP4_BNB:
        return FP4_BNB_VALUES;
    case QK_CODEBOOK_FP4_E2M1:
        return FP4_E2M1_VALUES;
    default:
        return NULL;
    }
}

const char *qk_codebook_name(qk_codebook cb) {
    switch (cb) {
    case QK_CODEBOOK_NF4:
        return "nf4";
    case QK_CODEBOOK_FP4_BNB:
        return "fp4";
    case QK_CODEBOOK_FP4_E2M1:
        return "fp4_e2m1";
    default:
        return "?";
    }
}

float qk_codebook_decode_normalized(qk_codebook cb, uint8_t code) {
    code &= 15u;
    switch (cb) {
    case QK_CODEBOOK_NF4:
        return NF4_VALUES[code];
    case QK_CODEBOOK_FP4_BNB:
        return FP4_BNB_VALUES[code];
    case QK_CODEBOOK_FP4_E2M1:
        return FP4_E2M1_NORMALIZED[code];
    default:
        return 0.0f;
    }
}

/* Index of the nearest of `n` ascending values to v: the first k with
** v <= (sorted[k] + sorted[k+1]) / 2 (exact in double), so a tie goes to the
** lower value. */
static unsigned nearest_sorted(const float *sorted, unsigned n, float v) {
    unsigned lo = 0, hi = n - 1; /* answer in [lo, hi] */
    while (lo < hi) {
        const unsigned mid = (lo + hi) / 2;
        const double midpoint = ((double)sorted[mid] + (double)sorted[mid + 1]) * 0.5;
        if ((double)v <= midpoint)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The largest float <= the midpoint of a and b (exact in double). */
static float threshold(float a, float b) {
    const double m = ((double)a + (double)b) * 0.5;
    float f = (float)m;
    if ((double)f > m) f = nextafterf(f, -INFINITY);
    return f;
}

void qk_codebook_encoder_init(qk_codebook cb, qk_codebook_encoder *e) {
    memset(e, 0, sizeof *e);
    if (cb == QK_CODEBOOK_NF4) {
        e->n_thr = 15;
        for (int k = 0; k < 16; k++) e->code[k] = (uint8_t)k;
        for (int k = 0; k < 15; k++) e->thr[k] = threshold(NF4_VALUES[k], NF4_VALUES[k + 1]);
        return;
    }
    const float *table = cb == QK_CODEBOOK_FP4_BNB ? FP4_BNB_VALUES : FP4_E2M1_NORMALIZED;
    const uint8_t *order = cb == QK_CODEBOOK_FP4_BNB ? FP4_BNB_ORDER : FP4_E2M1_ORDER;
    e->n_thr = 7;
    e->sign_magnitude = true;
    for (int k = 0; k < 8; k++) e->code[k] = order[k];
    for (int k = 0; k < 7; k++) e->thr[k] = threshold(table[order[k]], table[order[k + 1]]);
}

uint8_t qk_codebook_encode_normalized(qk_codebook cb, float v) {
    if ((int)cb < 0 || cb >= QK_CODEBOOK_COUNT) return 0;
    qk_codebook_encoder e;
    qk_codebook_encoder_init(cb, &e);
    return qk_codebook_encoder_encode(&e, v);
}

uint8_t qk_dynamic_map_encode(const float map[256], float v) {
    if (isnan(v)) v = 0.0f;
    return (uint8_t)nearest_sorted(map, 256, v);
}

/* ------------------------------------------------------------------------
** bitsandbytes' create_dynamic_map. torch.linspace(0.1, 1, k) in f32:
** step = (1 - 0.1f) / (k - 1) in f32; index i < k/2 is start + step * i,
** the rest end - step * (k - 1 - i) (ATen's CPU linspace). Midpoints
** (b[j] + b[j+1]) / 2 in f32; each times 10^e in f32 (a tensor times a
** Python float); negatives mirror positives exactly.
*/
static void linspace_f32(float start, float end, int k, float *out) {
    if (k == 1) {
        out[0] = start;
        return;
    }
    const float step = (end - start) / (float)(k - 1);
    const int halfway = k / 2;
    for (int i = 0; i < k; i++)
        out[i] = i < halfway ? start + step * (float)i : end - step * (float)(k - 1 - i);
}

static void insertion_sort(float *v, int n) {
    for (int i = 1; i < n; i++) {
        const float x = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

/* 10^e for e in -38..38 as the nearest f32 (Python's float 10**e, then f32). */
static float pow10_f32(int e) {
    double p = 1.0;
    for (int i = 0; i < (e < 0 ? -e : e); i++) p *= 10.0; /* exact up to 10^22 */
    return e < 0 ? (float)(1.0 / p) : (float)p;
}

/* Append the midpoints of linspace(0.1, 1, items + 1) times 10^e (and their
** negatives when is_signed). */
static int append_decade(float *data, int count, int items, int e, bool is_signed) {
    float bounds[257];
    linspace_f32(0.1f, 1.0f, items + 1, bounds);
    const float mult = pow10_f32(e);
    for (int j = 0; j < items; j++) data[count++] = mult * ((bounds[j] + bounds[j + 1]) / 2.0f);
    if (is_signed)
        for (int j = 0; j < items; j++)
            data[count++] = -(mult * ((bounds[j] + bounds[j + 1]) / 2.0f));
    return count;
}

qk_status qk_dynamic_map_create(bool is_signed, int32_t max_exponent_bits, int32_t total_bits,
                                float out[256]) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "dynamic map: NULL output");
    if (total_bits < 2 || total_bits > 8 || max_exponent_bits < 1 ||
        max_exponent_bits > total_bits - 1)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "dynamic map: max_exponent_bits %d, total_bits %d (1 <= E < T <= 8)",
                            (int)max_exponent_bits, (int)total_bits);
    /* bitsandbytes: non_sign_bits = total_bits - 1 for both signed and unsigned maps */
    const int nsb = total_bits - 1, E = max_exponent_bits;
    const int additional = (1 << (nsb - E)) - 1;
    /* count first, as bitsandbytes asserts len(data) == 2^total_bits */
    int count = 2;
    for (int i = 0; i < E; i++)
        count += (is_signed ? 2 : 1) * (1 << (i + nsb - E + (is_signed ? 0 : 1)));
    if (additional > 0) count += (is_signed ? 2 : 1) * additional;
    if (count != (1 << total_bits))
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "dynamic map: %s, max_exponent_bits %d, total_bits %d gives %d values, "
                            "not %d",
                            is_signed ? "signed" : "unsigned", (int)E, (int)total_bits, count,
                            1 << total_bits);
    float data[256];
    int n = 0;
    for (int i = 0; i < E; i++) {
        const int items = 1 << (i + nsb - E + (is_signed ? 0 : 1));
        n = append_decade(data, n, items, -(E - 1) + i, is_signed);
    }
    if (additional > 0) /* bitsandbytes reuses the last decade's exponent (i = E - 1) */
        n = append_decade(data, n, additional, 0, is_signed);
    data[n++] = 0.0f;
    data[n++] = 1.0f;
    while (n < 256) data[n++] = 0.0f;
    insertion_sort(data, 256);
    for (int i = 0; i < 256; i++) out[i] = data[i];
    return QK_OK;
}
