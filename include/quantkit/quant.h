/*
** quantkit quant: the numeric formats.
**
** This header starts with the affine quantization parameters shared by the
** quantizers (quant) and the observers (calib). Conventions follow
** torch.ao.quantization so that scales and zero points agree with it:
** the observed range is widened to include 0, scales are at least the f32
** machine epsilon, and rounding is half to even.
**
** Sections: affine parameters; affine quantization (schemes, tensors, spans);
** sub-byte packing; codebook formats (NF4, FP4, the 8-bit dynamic map) and
** bitsandbytes-style blockwise quantization with double quantization.
*/
#ifndef QUANTKIT_QUANT_H
#define QUANTKIT_QUANT_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parameters of one affine quantizer: q = clamp(round(x / scale) + zero_point,
** qmin, qmax); x' = (q - zero_point) * scale. */
typedef struct qk_affine_params {
    float scale;        /* > 0 */
    int32_t zero_point; /* in [qmin, qmax] */
    int32_t qmin;
    int32_t qmax;
} qk_affine_params;

/* The integer range for `bits` (2..8, or up to 16 for observers):
** signed full range [-2^(b-1), 2^(b-1)-1]; signed restricted range
** [-(2^(b-1)-1), 2^(b-1)-1] (symmetric around 0); unsigned [0, 2^b-1]. */
typedef enum qk_qrange_kind {
    QK_QRANGE_SIGNED = 0,
    QK_QRANGE_SIGNED_RESTRICTED = 1,
    QK_QRANGE_UNSIGNED = 2
} qk_qrange_kind;
qk_status qk_qrange_for_bits(int bits, qk_qrange_kind kind, int32_t *qmin, int32_t *qmax);

/* Scale and zero point from an observed range [min, max], as torch.ao's
** observers compute them:
**   min' = min(min, 0), max' = max(max, 0)
**   asymmetric: scale = (max' - min') / (qmax - qmin),
**               zero_point = clamp(qmin - round(min' / scale), qmin, qmax)
**   symmetric:  scale = max(-min', max') / ((qmax - qmin) / 2),
**               zero_point = 0 for a signed range, (qmin + qmax + 1) / 2 for
**               an unsigned one
**   scale = max(scale, FLT_EPSILON)
** All arithmetic in f32, rounding half to even. min > max, NaN or an
** infinite bound is an error (QK_ERR_NONFINITE / QK_ERR_INVALID_ARG). */
qk_status qk_affine_params_from_minmax(float min, float max, int32_t qmin, int32_t qmax,
                                       bool symmetric, qk_affine_params *out);

/* ------------------------------------------------------------------------
** Affine quantization, 2..8 bits.
**
** A scheme says how a float tensor becomes integer codes:
**   - bits and integer range: asymmetric (a zero point, usually on the
**     unsigned range [0, 2^b-1]) or symmetric (zero point fixed: 0 on a
**     signed range, 2^(b-1) on the unsigned one), restricted
**     [-(2^(b-1)-1), 2^(b-1)-1] or full [-2^(b-1), 2^(b-1)-1] signed range;
**   - granularity: one scale for the whole tensor, one per channel along any
**     axis, or one per group of G consecutive elements along the last axis
**     (each row is cut into ceil(len / G) groups; the last may be shorter);
**   - the range each scale group is quantized for: its own [min, max], that
**     range clipped to [clip_min, clip_max], a fixed [clip_min, clip_max]
**     (an observer's range), or per-group ranges given by the caller;
**   - rounding: half to even, or stochastic with a seed;
**   - how scales and zero points are stored (for the bits-per-weight figure).
**
** Parameters of each group: qk_affine_params_from_minmax(range) (torch.ao's
** rules: the range is widened to include 0, scale >= FLT_EPSILON). When the
** scales are stored as f16 or bf16 the scale is rounded UP to the next
** representable value (so the range still fits; |x - x'| <= scale/2 keeps
** holding for the stored scale) and the zero point is recomputed with it.
**
** Quantization of one element, as torch's quantize_per_tensor:
**   inv = 1.0f / scale (f32)
**   nearest:    q = clamp(nearbyintf(x * inv) + zero_point, qmin, qmax)
**   stochastic: t = (double)x / scale; q = clamp(floor(t) + (u < t - floor(t))
**               + zero_point, qmin, qmax), u uniform in [0, 1) from a
**               counter-based hash of (seed, flat element index), so codes do
**               not depend on the thread count or on how a tensor is split.
** The clamp happens in floating point before the cast to an integer.
** Dequantization: x' = (float)(q - zero_point) * scale (one f32 product).
**
** Inputs must be finite: a NaN or an infinity anywhere is QK_ERR_NONFINITE
** naming the first such element's flat index, whatever the range mode. A
** group whose dequantized extremes (qmin - zp) * scale or (qmax - zp) * scale
** overflow f32 (ranges near +-FLT_MAX) is QK_ERR_OVERFLOW naming the group.
*/

typedef enum qk_granularity {
    QK_GRAN_TENSOR = 0,  /* one scale group */
    QK_GRAN_CHANNEL = 1, /* one group per index along `axis` */
    QK_GRAN_GROUP = 2    /* groups of `group_size` consecutive elements of each row */
} qk_granularity;

typedef enum qk_rounding {
    QK_ROUND_NEAREST_EVEN = 0, /* nearbyintf, ties to even */
    QK_ROUND_STOCHASTIC = 1    /* unbiased: E[q] = x / scale inside the range */
} qk_rounding;

typedef enum qk_range_mode {
    QK_RANGE_MINMAX = 0, /* each group's own [min, max] */
    QK_RANGE_CLIP = 1,   /* each group's [min, max], each bound clamped to [clip_min, clip_max] */
    QK_RANGE_FIXED = 2   /* [clip_min, clip_max] for every group (e.g. an observer's range) */
} qk_range_mode;

/* How zero points are stored (counted only for asymmetric schemes). */
typedef enum qk_zp_storage {
    QK_ZP_PACKED = 0, /* `bits` bits each, packed (GPTQ's qzeros) */
    QK_ZP_8BIT = 1,   /* one byte each */
    QK_ZP_F16 = 2,    /* f16 each (exact for integers up to 2048) */
    QK_ZP_F32 = 3     /* f32 each */
} qk_zp_storage;

typedef struct qk_affine_scheme {
    int32_t bits;               /* 2..8 */
    bool symmetric;             /* zero point fixed instead of fitted */
    qk_qrange_kind range;       /* integer range of the codes */
    qk_granularity granularity; /* tensor, channel or group */
    int32_t axis;               /* QK_GRAN_CHANNEL: channel axis, negative counts from the end */
    int32_t group_size;         /* QK_GRAN_GROUP: elements per group (>= 1) */
    qk_rounding rounding;       /* nearest-even or stochastic */
    uint64_t seed;              /* QK_ROUND_STOCHASTIC: seed of the random stream */
    qk_range_mode range_mode;   /* where each group's [min, max] comes from */
    float clip_min, clip_max;   /* QK_RANGE_CLIP / QK_RANGE_FIXED: finite, min <= max */
    qk_type scale_type;         /* storage of scales: QK_TYPE_F32, QK_TYPE_F16 or QK_TYPE_BF16 */
    qk_zp_storage zp_storage;   /* storage of zero points (asymmetric schemes) */
} qk_affine_scheme;

/* A scheme with the defaults: per tensor, nearest-even rounding, each
** group's own range, f32 scales, zero points packed in `bits` bits.
** Asymmetric schemes use the unsigned range [0, 2^b-1], symmetric ones the
** restricted signed range [-(2^(b-1)-1), 2^(b-1)-1]. Set the granularity
** fields after this call. The scheme is checked when used. */
qk_affine_scheme qk_affine_scheme_default(int32_t bits, bool symmetric);
/* Check every field; QK_ERR_INVALID_ARG naming the field when wrong. */
qk_status qk_affine_scheme_check(const qk_affine_scheme *scheme);

/* Where the scale groups of a tensor are. Element e (flat row-major index)
** belongs to group:
**   tensor:  0
**   channel: (e / inner) % channels       (tensor seen as [outer, channels, inner])
**   group:   (e / row_len) * groups_per_row + (e % row_len) / group_size */
typedef struct qk_affine_layout {
    qk_granularity granularity;
    int32_t ndim;                   /* 0..QK_MAX_DIMS */
    int64_t shape[QK_MAX_DIMS];     /* outermost first */
    int64_t numel;                  /* elements */
    int64_t n_groups;               /* scale groups (1 for a tensor, even an empty one) */
    int64_t outer, channels, inner; /* channel granularity */
    int64_t rows, row_len, group_size, groups_per_row; /* group granularity */
} qk_affine_layout;

/* Layout of a tensor of this shape under `scheme` (checks the axis and the
** shape, overflow included). A 0-D tensor is one element (one row of 1). */
qk_status qk_affine_layout_init(const qk_affine_scheme *scheme, int32_t ndim, const int64_t *shape,
                                qk_affine_layout *out);
/* Scale group of flat element `e` (0 <= e < numel). */
int64_t qk_affine_layout_group(const qk_affine_layout *layout, int64_t e);

/* A quantized tensor: one code per element (row-major, like the input),
** one scale and zero point per scale group. Filled by qk_affine_quantize*,
** released by qk_affine_tensor_free. */
typedef struct qk_affine_tensor {
    qk_affine_scheme scheme; /* the scheme it was quantized with */
    qk_affine_layout layout; /* shape and scale groups */
    int32_t qmin, qmax;      /* integer range of the codes */
    qk_type code_type;       /* QK_TYPE_I8 (signed ranges) or QK_TYPE_U8 (unsigned) */
    void *codes;             /* numel codes of code_type (owned) */
    float *scales;           /* n_groups scales, already rounded to scale_type (owned) */
    int32_t *zero_points;    /* n_groups zero points (owned) */
} qk_affine_tensor;

/* Quantize a QK_TYPE_F32 view (0..4 dimensions) with `scheme` into `out`
** (overwritten; free it with qk_affine_tensor_free). On failure `out` is
** left empty. */
qk_status qk_affine_quantize(const qk_tensor_view *x, const qk_affine_scheme *scheme,
                             qk_affine_tensor *out);
/* The same with each scale group's range given: group g uses
** [range_min[g], range_max[g]] (e.g. a per-channel observer's ranges);
** n_ranges must equal the layout's n_groups. The scheme's range_mode is
** ignored. */
qk_status qk_affine_quantize_ranges(const qk_tensor_view *x, const qk_affine_scheme *scheme,
                                    const float *range_min, const float *range_max,
                                    int64_t n_ranges, qk_affine_tensor *out);
/* y[e] = (codes[e] - zero_point[g]) * scale[g]; n must equal numel. */
qk_status qk_affine_dequantize(const qk_affine_tensor *q, float *y, size_t n);
/* Release the arrays of `q` and zero it; accepts NULL and an empty tensor. */
void qk_affine_tensor_free(qk_affine_tensor *q);

/* Exact storage of a tensor of this shape under `scheme`, in bits: the codes
** packed as one stream (8 * qk_packed_size(numel, bits)), one scale per group
** (32 or 16 bits), and for asymmetric schemes one zero point per group
** (zp_storage; packed zero points are one stream of n_groups * bits). */
qk_status qk_affine_storage_bits(const qk_affine_scheme *scheme, int32_t ndim, const int64_t *shape,
                                 uint64_t *out_bits);
/* storage bits / numel (int4, group 128, f16 scale, f16 zero: 4.25).
** QK_ERR_SHAPE for an empty tensor. */
qk_status qk_affine_bits_per_weight(const qk_affine_scheme *scheme, int32_t ndim,
                                    const int64_t *shape, double *out);

/* Pack the codes of `q` with qk_pack_bits (unsigned codes as they are,
** signed codes offset by 2^(bits-1), as qk_pack_bits_signed). */
qk_status qk_affine_pack_codes(const qk_affine_tensor *q, int order, uint8_t *dst, size_t dst_size);

/* ---- Per-span entry points (GPTQ, AWQ and the model layer quantize one
** row or group at a time with these). Codes are int8_t when qmin < 0, else
** uint8_t; `params` must have a positive finite scale with a finite
** inverse, qmin < qmax within one byte type, and qmin <= zero_point <= qmax.
*/

/* Parameters of one scale group under `scheme` for an observed range (the
** scheme's bits, range kind, symmetry and scale storage; QK_RANGE_CLIP
** clamps min and max to the clip range, QK_RANGE_FIXED uses the clip range). */
qk_status qk_affine_scheme_params(const qk_affine_scheme *scheme, float min, float max,
                                  qk_affine_params *out);
/* Parameters of the contiguous values x[0..n) as one scale group: their
** min and max, then qk_affine_scheme_params. n == 0 gives the range [0, 0]. */
qk_status qk_affine_span_params(const float *x, size_t n, const qk_affine_scheme *scheme,
                                qk_affine_params *out);
/* Quantize x[0..n) with `params`. For stochastic rounding the random number
** of x[i] is that of flat index first_index + i under `seed`, so spans of a
** tensor give the codes qk_affine_quantize gives. */
qk_status qk_affine_quantize_span(const float *x, size_t n, const qk_affine_params *params,
                                  qk_rounding rounding, uint64_t seed, uint64_t first_index,
                                  void *codes);
/* y[i] = (codes[i] - zero_point) * scale. */
qk_status qk_affine_dequantize_span(const void *codes, size_t n, const qk_affine_params *params,
                                    float *y);

/* ------------------------------------------------------------------------
** Sub-byte packing of n values of `bits` bits (1..8) each into a bit stream.
**
** QK_BITS_LSB_FIRST (little-endian stream): value i occupies stream bits
**   [i*bits, (i+1)*bits), its least significant bit first; stream bit k is
**   bit (k % 8) of byte k / 8. So for 4 bits value 0 is the LOW nibble of
**   byte 0; a 3-bit value may straddle two bytes (value 2 is bits 6..7 of
**   byte 0 and bit 0 of byte 1).
** QK_BITS_MSB_FIRST (big-endian stream): value i occupies stream bits
**   [i*bits, (i+1)*bits), its most significant bit first; stream bit k is
**   bit 7 - (k % 8) of byte k / 8. For 4 bits value 0 is the HIGH nibble of
**   byte 0 (bitsandbytes' 4-bit layout).
** The stream takes qk_packed_size(n, bits) = ceil(n * bits / 8) bytes; the
** unused bits of the last byte are written as zero and ignored on reading.
*/
enum { QK_BITS_LSB_FIRST = 0, QK_BITS_MSB_FIRST = 1 };

/* ceil(n * bits / 8) into *out; QK_ERR_OVERFLOW / QK_ERR_INVALID_ARG. */
qk_status qk_packed_size(size_t n, int bits, size_t *out);
/* Pack values[0..n) (each < 2^bits, else QK_ERR_INVALID_ARG naming the
** index) into dst (dst_size >= qk_packed_size, else QK_ERR_OUT_OF_BOUNDS). */
qk_status qk_pack_bits(const uint8_t *values, size_t n, int bits, int order, uint8_t *dst,
                       size_t dst_size);
/* Unpack n values from src (src_size >= qk_packed_size, else
** QK_ERR_TRUNCATED). */
qk_status qk_unpack_bits(const uint8_t *src, size_t src_size, size_t n, int bits, int order,
                         uint8_t *values);
/* Signed values in [-2^(bits-1), 2^(bits-1)-1] stored offset-binary
** (v + 2^(bits-1)), as compressed-tensors' pack-quantized format does. */
qk_status qk_pack_bits_signed(const int8_t *values, size_t n, int bits, int order, uint8_t *dst,
                              size_t dst_size);
qk_status qk_unpack_bits_signed(const uint8_t *src, size_t src_size, size_t n, int bits, int order,
                                int8_t *values);

/* ------------------------------------------------------------------------
** Codebook formats: 16-value 4-bit codes, and bitsandbytes' 8-bit dynamic
** map.
**
** QK_CODEBOOK_NF4: QLoRA's NormalFloat4, codes 0..15 = the 16 values in
**   ascending order (-1.0 ... 0.0 at code 7 ... 1.0), bitsandbytes' table.
** QK_CODEBOOK_FP4_BNB: bitsandbytes' FP4: bit 3 (0b1000) is the sign, codes
**   0..7 are {0, 0.0625, 8, 12, 4, 6, 2, 3} / 12 (nearest f32); code 8 is -0.
** QK_CODEBOOK_FP4_E2M1: OCP MX FP4 E2M1: bit 3 is the sign, codes 0..7 are
**   {0, 0.5, 1, 1.5, 2, 3, 4, 6}; code 8 is -0.
*/
typedef enum qk_codebook {
    QK_CODEBOOK_NF4 = 0,
    QK_CODEBOOK_FP4_BNB = 1,
    QK_CODEBOOK_FP4_E2M1 = 2,
    QK_CODEBOOK_COUNT
} qk_codebook;

/* The 16 values of a codebook indexed by code (static, never freed), or
** NULL when `cb` is unknown. */
const float *qk_codebook_values(qk_codebook cb);
/* "nf4", "fp4", "fp4_e2m1"; "?" when unknown. */
const char *qk_codebook_name(qk_codebook cb);
/* The code whose value divided by the codebook's largest magnitude (1 for
** NF4 and bnb FP4, 6 for E2M1) is nearest to v (v clamped to [-1, 1]).
** Ties (v exactly halfway between two values, decided exactly in double)
** go to the smaller magnitude for the sign-magnitude FP4 codes, whose sign
** bit is set when v < 0 (bitsandbytes' CUDA kernel), and to the smaller
** value (lower code) for NF4 (bitsandbytes' kernels). NaN gives the code of
** zero. */
uint8_t qk_codebook_encode_normalized(qk_codebook cb, float v);
/* values[code] / max|values| in f32: what a block multiplies by its absmax. */
float qk_codebook_decode_normalized(qk_codebook cb, uint8_t code);

/* bitsandbytes' create_dynamic_map(signed, max_exponent_bits, total_bits):
** for i in 0..E-1, 2^(i+N-E) (signed) or 2^(i+N-E+1) (unsigned) values
** 10^(i-E+1) * (midpoints of linspace(0.1, 1, that + 1)) with N = total_bits
** - 1, their negatives when signed, then 2^(N-E) - 1 extra values from the
** top decade, 0 and 1.0, padded with zeros to 256 and sorted. linspace and
** the midpoints are computed in f32 as torch does. The default map
** (true, 7, 8) is 127 negative values, 0 at index 127, 127 positive ones
** and 1.0 at index 255. QK_ERR_INVALID_ARG for parameters whose count is
** not 2^total_bits (as bitsandbytes' assertion). */
qk_status qk_dynamic_map_create(bool is_signed, int32_t max_exponent_bits, int32_t total_bits,
                                float out[256]);
/* Nearest entry of a sorted 256-value map to v (ties to the lower index). */
uint8_t qk_dynamic_map_encode(const float map[256], float v);

/* bitsandbytes' quantize_blockwise with a 256-value map (default: the
** dynamic map): absmax[b] = max |x| of block b (blocks of block_size >= 1
** consecutive elements, the last may be shorter), codes[i] = nearest map
** entry to x[i] / absmax[b] (all-zero block: the code of 0.0). Non-finite
** input is QK_ERR_NONFINITE naming the index. */
qk_status qk_blockwise8_quantize(const float *x, size_t n, int32_t block_size, const float map[256],
                                 uint8_t *codes, float *absmax);
/* y[i] = map[codes[i]] * absmax[i / block_size]. */
qk_status qk_blockwise8_dequantize(const uint8_t *codes, const float *absmax, size_t n,
                                   int32_t block_size, const float map[256], float *y);

/* ------------------------------------------------------------------------
** Blockwise 4-bit codebook quantization (bitsandbytes' quantize_4bit).
** Blocks of block_size consecutive elements (the last may be shorter);
** absmax[b] = max |x| over block b (f32); code = qk_codebook_encode_normalized
** (x / absmax) with x / absmax an f32 division (an all-zero block gets the
** code of 0); two codes per byte, the FIRST element in the HIGH nibble
** (byte k = code[2k] << 4 | code[2k+1]; an odd count leaves the last low
** nibble 0). Dequantization: y = decode_normalized(code) * absmax.
**
** Double quantization (QLoRA): offset = mean(absmax) (summed in double,
** rounded to f32); the residuals absmax - offset (f32) are quantized with
** qk_blockwise8_quantize, block 256, the signed dynamic map; the absmax used
** to dequantize is then map[code] * nested_absmax + offset (f32, clamped to
** FLT_MAX). The codes are always chosen with the exact absmax, as
** bitsandbytes does.
*/
#define QK_BLOCKWISE_DEFAULT_BLOCK 64
#define QK_BLOCKWISE_DQ_BLOCK 256

typedef struct qk_blockwise_config {
    qk_codebook codebook; /* NF4, FP4_BNB or FP4_E2M1 */
    int32_t block_size;   /* power of two in [32, 4096]; 0 means 64 */
    bool double_quant;    /* compress the absmax values (QLoRA's DQ) */
} qk_blockwise_config;

typedef struct qk_blockwise_tensor {
    qk_blockwise_config config; /* block_size resolved */
    size_t n;                   /* elements */
    size_t n_blocks;            /* ceil(n / block_size) */
    uint8_t *packed;            /* ceil(n / 2) bytes (owned) */
    float *absmax;              /* n_blocks f32 absmax; NULL with double_quant (owned) */
    uint8_t *absmax_codes;      /* double_quant: n_blocks dynamic-map codes (owned) */
    float *nested_absmax;       /* double_quant: ceil(n_blocks / 256) (owned) */
    float offset;               /* double_quant: mean of the absmax values */
} qk_blockwise_tensor;

/* Quantize x[0..n) into `out` (overwritten; free with
** qk_blockwise_tensor_free). Non-finite input is QK_ERR_NONFINITE naming the
** index. */
qk_status qk_blockwise_quantize(const float *x, size_t n, const qk_blockwise_config *config,
                                qk_blockwise_tensor *out);
/* y[0..n), n == q->n. */
qk_status qk_blockwise_dequantize(const qk_blockwise_tensor *q, float *y, size_t n);
/* The absmax block b is dequantized with (reconstructed when double_quant). */
float qk_blockwise_block_absmax(const qk_blockwise_tensor *q, size_t b);
/* Code of element i (unpacked from its nibble). */
uint8_t qk_blockwise_code(const qk_blockwise_tensor *q, size_t i);
void qk_blockwise_tensor_free(qk_blockwise_tensor *q);

/* Exact storage in bits for n elements: 8 * ceil(n / 2) for the codes, plus
** 32 per block (f32 absmax), or with double quantization 8 per block and 32
** per 256 blocks. The per-tensor constants (the code tables, and the one f32
** offset of double quantization, which bitsandbytes keeps in the quant state)
** are not counted, as in QLoRA's 0.127 bits/parameter figure. So NF4, block
** 64, n a multiple of 64 * 256 * 2: 4.5 bits per weight, with double
** quantization 4 + 8/64 + 32/(64*256) = 4.126953125. */
qk_status qk_blockwise_storage_bits(const qk_blockwise_config *config, size_t n,
                                    uint64_t *out_bits);
/* storage bits / n; QK_ERR_SHAPE when n == 0. */
qk_status qk_blockwise_bits_per_weight(const qk_blockwise_config *config, size_t n, double *out);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_QUANT_H */
