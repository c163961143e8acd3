/*
** Fuzz target: the decoders of quant.h besides the ggml blocks: sub-byte
** unpacking, bitsandbytes-style 4-bit blockwise codes (NF4 / FP4, with and
** without double quantization), 8-bit dynamic-map blockwise codes, affine
** spans, whole-tensor affine quantization with an arbitrary scheme, and the
** codebook encoders. Byte 0 picks the operation, the next bytes its
** parameters, the rest is the data; every buffer has exactly the size the
** call needs, and each result is checked against the formula quant.h gives.
*/
#include <float.h> /* FLT_EPSILON */
#include <math.h>  /* fabs, isfinite */

#include "fuzz_common.h"

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned take8(reader *r) {
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++;
}
static uint32_t take32(reader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)take8(r) << (8 * i);
    return v;
}
static float take_f32(reader *r) {
    uint32_t u = take32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* A copy of the next `n` bytes (exactly n, on the heap), or NULL when fewer remain. */
static uint8_t *take_bytes(reader *r, size_t n) {
    if (r->n < n) return NULL;
    uint8_t *b = malloc(n ? n : 1);
    FUZZ_CHECK(b != NULL);
    memcpy(b, r->p, n);
    r->p += n;
    r->n -= n;
    return b;
}

/* Unpack, then pack again: the same bytes with the unused bits of the last
** one cleared. */
static void op_unpack(reader *r) {
    unsigned b = take8(r);
    int bits = (int)(b & 7) + 1, order = (int)(b >> 3) & 1;
    bool is_signed = (b >> 4) & 1;
    size_t n = take8(r) | (size_t)take8(r) << 8;
    size_t src_size = r->n;
    uint8_t *src = take_bytes(r, src_size);
    size_t packed = 0;
    FUZZ_CHECK(qk_packed_size(n, bits, &packed) == QK_OK);
    FUZZ_CHECK(packed == (n * (size_t)bits + 7) / 8);
    uint8_t *values = malloc(n ? n : 1);
    FUZZ_CHECK(values != NULL);
    qk_clear_error();
    qk_status st = is_signed
                       ? qk_unpack_bits_signed(src, src_size, n, bits, order, (int8_t *)values)
                       : qk_unpack_bits(src, src_size, n, bits, order, values);
    fuzz_check_status(st);
    if (packed > src_size) {
        FUZZ_CHECK(st == QK_ERR_TRUNCATED);
    } else {
        FUZZ_CHECK(st == QK_OK);
        for (size_t i = 0; i < n; i++) {
            if (is_signed)
                FUZZ_CHECK(((int8_t *)values)[i] >= -(1 << (bits - 1)) &&
                           ((int8_t *)values)[i] < (1 << (bits - 1)));
            else
                FUZZ_CHECK(values[i] < (1u << bits));
        }
        uint8_t *again = malloc(packed ? packed : 1);
        FUZZ_CHECK(again != NULL);
        qk_clear_error();
        st = is_signed ? qk_pack_bits_signed((int8_t *)values, n, bits, order, again, packed)
                       : qk_pack_bits(values, n, bits, order, again, packed);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        if (packed > 0) {
            FUZZ_CHECK(packed == 1 || memcmp(again, src, packed - 1) == 0);
            unsigned used = (unsigned)(n * (size_t)bits - 8 * (packed - 1)); /* 1..8 bits */
            unsigned mask = used == 8                    ? 0xFFu
                            : order == QK_BITS_LSB_FIRST ? (1u << used) - 1u
                                                         : (0xFFu << (8 - used)) & 0xFFu;
            FUZZ_CHECK(again[packed - 1] == (src[packed - 1] & mask));
        }
        /* one byte short is refused */
        if (packed > 0) {
            qk_clear_error();
            st = qk_pack_bits(values, 0, bits, order, again, 0);
            fuzz_check_status(st);
            FUZZ_CHECK(st == QK_OK);
            if (!is_signed) {
                qk_clear_error();
                st = qk_pack_bits(values, n, bits, order, again, packed - 1);
                fuzz_check_status(st);
                FUZZ_CHECK(st == QK_ERR_OUT_OF_BOUNDS);
            }
        }
        free(again);
    }
    free(values);
    free(src);
}

/* 4-bit blockwise codes: y = decode_normalized(code) * absmax. */
static void op_blockwise4(reader *r) {
    unsigned b = take8(r);
    qk_blockwise_tensor q;
    memset(&q, 0, sizeof q);
    q.config.codebook = (qk_codebook)(b % 4); /* 3: unknown */
    q.config.block_size = (b >> 2 & 7) == 7 ? 0 : 32 << (b >> 2 & 7);
    q.config.double_quant = (b >> 5) & 1;
    size_t n = take8(r) | (size_t)take8(r) << 8;
    size_t bs = q.config.block_size ? (size_t)q.config.block_size : 64;
    q.n = n;
    q.n_blocks = (n + bs - 1) / bs;
    q.packed = take_bytes(r, (n + 1) / 2);
    if (q.config.double_quant) {
        q.absmax_codes = take_bytes(r, q.n_blocks);
        q.offset = take_f32(r);
        size_t nested = (q.n_blocks + 255) / 256;
        q.nested_absmax = (float *)take_bytes(r, nested * sizeof(float));
        if (!q.absmax_codes || !q.nested_absmax) q.packed = (free(q.packed), NULL);
    } else {
        q.absmax = (float *)take_bytes(r, q.n_blocks * sizeof(float));
        if (!q.absmax) q.packed = (free(q.packed), NULL);
    }
    if (!q.packed && n > 0) {
        qk_blockwise_tensor_free(&q);
        return;
    }
    float *y = malloc((n ? n : 1) * sizeof *y);
    FUZZ_CHECK(y != NULL);
    qk_clear_error();
    qk_status st = qk_blockwise_dequantize(&q, y, n);
    fuzz_check_status(st);
    if (q.config.codebook == QK_CODEBOOK_COUNT) FUZZ_CHECK(st == QK_ERR_INVALID_ARG);
    if (st == QK_OK) {
        float m = 0.0f; /* the block's absmax, asked once per block (DQ rebuilds its map) */
        for (size_t i = 0; i < n; i++) {
            uint8_t code = qk_blockwise_code(&q, i);
            uint8_t byte = q.packed[i / 2];
            FUZZ_CHECK(code == (i % 2 == 0 ? byte >> 4 : (byte & 15u))); /* first element high */
            if (i % bs == 0) m = qk_blockwise_block_absmax(&q, i / bs);
            if (!q.config.double_quant) FUZZ_CHECK(memcmp(&m, &q.absmax[i / bs], 4) == 0);
            float want = qk_codebook_decode_normalized(q.config.codebook, code) * m;
            FUZZ_CHECK(memcmp(&want, &y[i], 4) == 0 || (want != want && y[i] != y[i]));
        }
        /* the decoded values quantize and decode again */
        bool finite = true;
        for (size_t i = 0; i < n; i++) finite = finite && isfinite(y[i]);
        qk_blockwise_tensor q2;
        qk_clear_error();
        st = qk_blockwise_quantize(y, n, &q.config, &q2);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK || (!finite && st == QK_ERR_NONFINITE));
        if (st == QK_OK) {
            FUZZ_CHECK(q2.n == n && q2.n_blocks == q.n_blocks);
            float *y2 = malloc((n ? n : 1) * sizeof *y2);
            FUZZ_CHECK(y2 != NULL);
            qk_clear_error();
            st = qk_blockwise_dequantize(&q2, y2, n);
            fuzz_check_status(st);
            FUZZ_CHECK(st == QK_OK);
            free(y2);
            qk_blockwise_tensor_free(&q2);
        }
    }
    free(y);
    qk_blockwise_tensor_free(&q);
}

/* 8-bit dynamic-map codes: y = map[code] * absmax[i / block_size]. */
static void op_blockwise8(reader *r) {
    unsigned b = take8(r);
    float map[256];
    qk_clear_error();
    qk_status st = qk_dynamic_map_create(b & 1, (int32_t)(b >> 1 & 15), (int32_t)(b >> 5) + 1, map);
    fuzz_check_status(st);
    if (st != QK_OK) return;
    for (int i = 1; i < 256; i++) FUZZ_CHECK(map[i - 1] <= map[i]); /* sorted */
    int32_t bs = (int32_t)(take8(r) | take8(r) << 8);
    size_t n = take8(r) | (size_t)take8(r) << 8;
    size_t n_blocks = bs > 0 ? (n + (size_t)bs - 1) / (size_t)bs : 0;
    uint8_t *codes = take_bytes(r, n);
    float *absmax = (float *)take_bytes(r, n_blocks * sizeof(float));
    float *y = malloc((n ? n : 1) * sizeof *y);
    FUZZ_CHECK(y != NULL);
    if (codes && absmax) {
        qk_clear_error();
        st = qk_blockwise8_dequantize(codes, absmax, n, bs, map, y);
        fuzz_check_status(st);
        if (bs <= 0 && n > 0) FUZZ_CHECK(st != QK_OK);
        if (st == QK_OK) {
            for (size_t i = 0; i < n; i++) {
                float want = map[codes[i]] * absmax[i / (size_t)bs];
                FUZZ_CHECK(memcmp(&want, &y[i], 4) == 0 || (want != want && y[i] != y[i]));
                uint8_t c = qk_dynamic_map_encode(map, y[i]);
                (void)c;
            }
        }
    }
    free(y);
    free(codes);
    free(absmax);
}

/* Affine span: y = (float)(code - zero_point) * scale, params checked. */
static void op_affine_span(reader *r) {
    unsigned b = take8(r);
    qk_affine_params p;
    if (b & 1) { /* raw parameters: the checks must refuse what is wrong */
        p.scale = take_f32(r);
        p.zero_point = (int32_t)take32(r);
        p.qmin = (int32_t)take32(r);
        p.qmax = (int32_t)take32(r);
    } else {
        int bits = (int)(b >> 1 & 7) + 2;
        qk_qrange_kind kind = (qk_qrange_kind)((b >> 4) % 3);
        FUZZ_CHECK(qk_qrange_for_bits(bits, kind, &p.qmin, &p.qmax) == QK_OK);
        p.scale = take_f32(r);
        p.zero_point = p.qmin + (int32_t)(take8(r) % (unsigned)(p.qmax - p.qmin + 1));
    }
    size_t n = r->n;
    uint8_t *codes = take_bytes(r, n);
    float *y = malloc((n ? n : 1) * sizeof *y);
    FUZZ_CHECK(codes && y);
    qk_clear_error();
    qk_status st = qk_affine_dequantize_span(codes, n, &p, y);
    fuzz_check_status(st);
    if (st == QK_OK) {
        FUZZ_CHECK(p.qmin < p.qmax && p.zero_point >= p.qmin && p.zero_point <= p.qmax);
        FUZZ_CHECK(p.scale > 0 && isfinite(p.scale));
        for (size_t i = 0; i < n; i++) {
            int32_t c = p.qmin < 0 ? (int32_t)(int8_t)codes[i] : (int32_t)codes[i];
            float want = (float)(c - p.zero_point) * p.scale;
            FUZZ_CHECK(memcmp(&want, &y[i], 4) == 0);
        }
        /* and the values quantize back to codes in range */
        uint8_t *again = malloc(n ? n : 1);
        FUZZ_CHECK(again != NULL);
        qk_clear_error();
        st = qk_affine_quantize_span(y, n, &p, (qk_rounding)(b >> 7), 7, 0, again);
        fuzz_check_status(st);
        if (st == QK_OK)
            for (size_t i = 0; i < n; i++) {
                int32_t c = p.qmin < 0 ? (int32_t)(int8_t)again[i] : (int32_t)again[i];
                FUZZ_CHECK(c >= p.qmin && c <= p.qmax);
            }
        free(again);
    }
    free(codes);
    free(y);
}

/* A whole tensor with an arbitrary scheme and shape. */
static void op_affine_tensor(reader *r) {
    qk_affine_scheme s = qk_affine_scheme_default((int32_t)(take8(r) % 9) + 1, take8(r) & 1);
    unsigned b = take8(r);
    s.range = (qk_qrange_kind)(b % 4);
    s.granularity = (qk_granularity)(b >> 2 & 3);
    s.rounding = (qk_rounding)(b >> 4 & 1);
    s.range_mode = (qk_range_mode)(b >> 5 & 3);
    s.axis = (int32_t)(int8_t)take8(r) % 6;
    s.group_size = (int32_t)take8(r) - 8;
    s.seed = take32(r);
    unsigned c = take8(r);
    s.scale_type = c % 4 == 0   ? QK_TYPE_F32
                   : c % 4 == 1 ? QK_TYPE_F16
                   : c % 4 == 2 ? QK_TYPE_BF16
                                : QK_TYPE_I8;
    s.zp_storage = (qk_zp_storage)(c >> 2 & 3);
    s.clip_min = take_f32(r);
    s.clip_max = take_f32(r);
    int32_t ndim = (int32_t)(take8(r) % 5);
    int64_t shape[QK_MAX_DIMS] = {0};
    int64_t numel = 1;
    for (int32_t i = 0; i < ndim; i++) {
        shape[i] = take8(r) % 9;
        numel *= shape[i];
    }
    if ((size_t)numel * sizeof(float) > r->n) numel = -1;
    float *x = numel >= 0 ? (float *)take_bytes(r, (size_t)numel * sizeof(float)) : NULL;
    if (!x) return;
    qk_tensor_view view;
    FUZZ_CHECK(qk_tensor_view_init(&view, QK_TYPE_F32, ndim, shape, x) == QK_OK);
    qk_clear_error();
    qk_status scheme_st = qk_affine_scheme_check(&s);
    fuzz_check_status(scheme_st);
    qk_affine_tensor q;
    qk_clear_error();
    qk_status st = qk_affine_quantize(&view, &s, &q);
    fuzz_check_status(st);
    if (scheme_st != QK_OK) FUZZ_CHECK(st != QK_OK);
    if (st == QK_OK) {
        FUZZ_CHECK(q.layout.numel == numel && q.layout.n_groups >= (numel > 0 ? 1 : 0));
        for (int64_t e = 0; e < numel; e++) {
            int64_t g = qk_affine_layout_group(&q.layout, e);
            FUZZ_CHECK(g >= 0 && g < q.layout.n_groups);
        }
        for (int64_t g = 0; g < q.layout.n_groups; g++) {
            FUZZ_CHECK(q.scales[g] > 0 && isfinite(q.scales[g]));
            FUZZ_CHECK(q.zero_points[g] >= q.qmin && q.zero_points[g] <= q.qmax);
        }
        float *y = malloc((size_t)(numel ? numel : 1) * sizeof *y);
        FUZZ_CHECK(y != NULL);
        qk_clear_error();
        st = qk_affine_dequantize(&q, y, (size_t)numel);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        /* |x - x'| <= scale / 2 inside each group's own range (nearest rounding) */
        if (s.range_mode == QK_RANGE_MINMAX && s.rounding == QK_ROUND_NEAREST_EVEN)
            for (int64_t e = 0; e < numel; e++) {
                double sc = q.scales[qk_affine_layout_group(&q.layout, e)];
                double err = fabs((double)x[e] - (double)y[e]);
                FUZZ_CHECK(err <= 0.5 * sc * (1 + 1e-5) + 1e-6 * fabs((double)x[e]));
            }
        size_t packed = 0;
        FUZZ_CHECK(qk_packed_size((size_t)numel, s.bits, &packed) == QK_OK);
        uint8_t *codes = malloc(packed ? packed : 1);
        FUZZ_CHECK(codes != NULL);
        qk_clear_error();
        st = qk_affine_pack_codes(&q, (int)(b >> 7), codes, packed);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        free(codes);
        free(y);
        uint64_t bits = 0;
        double bpw = 0;
        FUZZ_CHECK(qk_affine_storage_bits(&s, ndim, shape, &bits) == QK_OK);
        qk_clear_error();
        st = qk_affine_bits_per_weight(&s, ndim, shape, &bpw);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK || numel == 0);
    }
    qk_affine_tensor_free(&q);
    free(x);
}

/* Codebook encoders give the nearest code. */
static void op_codebook(reader *r) {
    qk_codebook cb = (qk_codebook)(take8(r) % QK_CODEBOOK_COUNT);
    const float *values = qk_codebook_values(cb);
    FUZZ_CHECK(values != NULL);
    while (r->n >= 4) {
        float v = take_f32(r);
        uint8_t code = qk_codebook_encode_normalized(cb, v);
        FUZZ_CHECK(code < 16);
        float d = qk_codebook_decode_normalized(cb, code);
        FUZZ_CHECK(d >= -1.0f && d <= 1.0f);
        if (v != v) continue;
        double t = v < -1.0f ? -1.0 : v > 1.0f ? 1.0 : (double)v;
        double best = fabs((double)d - t);
        for (uint8_t k = 0; k < 16; k++)
            FUZZ_CHECK(best <= fabs((double)qk_codebook_decode_normalized(cb, k) - t));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    reader r = {data + 1, size - 1};
    switch (data[0] % 6) {
    case 0:
        op_unpack(&r);
        break;
    case 1:
        op_blockwise4(&r);
        break;
    case 2:
        op_blockwise8(&r);
        break;
    case 3:
        op_affine_span(&r);
        break;
    case 4:
        op_affine_tensor(&r);
        break;
    default:
        op_codebook(&r);
        break;
    }
    return 0;
}
