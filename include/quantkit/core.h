/*
** quantkit core: status codes and error messages, element types and their
** conversions, tensor views, aligned allocation, threads and CPU features.
**
** Every fallible function in quantkit returns a qk_status. QK_OK is 0 and
** every error is negative; the numbers below are frozen once published and
** never reused. The message of the last error on the calling thread, naming
** the file, tensor and byte offset or element index where that applies, is
** qk_last_error(). The library never prints, exits or aborts on bad input.
*/
#ifndef QUANTKIT_CORE_H
#define QUANTKIT_CORE_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint16_t, uint8_t */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
** Status codes. X(name, value, description). Frozen: append only.
*/
#define QK_STATUS_MAP(X)                                                                           \
    X(QK_OK, 0, "ok")                                                                              \
    X(QK_ERR_INVALID_ARG, -1, "invalid argument")                                                  \
    X(QK_ERR_NOMEM, -2, "out of memory")                                                           \
    X(QK_ERR_IO, -3, "input/output error")                                                         \
    X(QK_ERR_UNSUPPORTED, -4, "unsupported")                                                       \
    X(QK_ERR_BAD_MAGIC, -5, "bad magic number")                                                    \
    X(QK_ERR_TRUNCATED, -6, "file truncated")                                                      \
    X(QK_ERR_OUT_OF_BOUNDS, -7, "offset or length out of bounds")                                  \
    X(QK_ERR_OVERLAP, -8, "overlapping data regions")                                              \
    X(QK_ERR_UNKNOWN_TYPE, -9, "unknown type")                                                     \
    X(QK_ERR_MISALIGNED, -10, "misaligned offset")                                                 \
    X(QK_ERR_OVERFLOW, -11, "size or shape overflow")                                              \
    X(QK_ERR_CORRUPT, -12, "malformed data")                                                       \
    X(QK_ERR_NONFINITE, -13, "non-finite value")                                                   \
    X(QK_ERR_SHAPE, -14, "shape mismatch")                                                         \
    X(QK_ERR_NOT_FOUND, -15, "not found")                                                          \
    X(QK_ERR_NUMERIC, -16, "numerical failure")                                                    \
    X(QK_ERR_BUDGET, -17, "budget cannot be met")                                                  \
    X(QK_ERR_CONFIG, -18, "invalid configuration")                                                 \
    X(QK_ERR_STATE, -19, "invalid state for this call")                                            \
    X(QK_ERR_INTERNAL, -20, "internal error")

typedef enum qk_status {
#define QK_STATUS_ENUM_(name, value, text) name = value,
    QK_STATUS_MAP(QK_STATUS_ENUM_)
#undef QK_STATUS_ENUM_
} qk_status;

/* Short fixed text for a status ("file truncated"); never NULL. */
const char *qk_status_str(qk_status status);
/* Symbolic name of a status ("QK_ERR_TRUNCATED"); never NULL. */
const char *qk_status_name(qk_status status);
/* Message of the last error set on this thread, or "" when none. The
** pointer is valid until the next quantkit call on this thread. */
const char *qk_last_error(void);
/* Status of the last error set on this thread (QK_OK when none). */
qk_status qk_last_status(void);
/* Forget the last error of this thread. */
void qk_clear_error(void);

/* Library version, "MAJOR.MINOR.PATCH". */
const char *qk_version(void);

/* ------------------------------------------------------------------------
** Element types. Plain scalars have block size 1; ggml block formats store
** `block_elems` weights in `block_bytes` bytes. The enum values are
** quantkit's own; file formats map to and from them in the io layer.
*/
typedef enum qk_type {
    QK_TYPE_F32 = 0,
    QK_TYPE_F16,
    QK_TYPE_BF16,
    QK_TYPE_F64,
    QK_TYPE_F8_E4M3, /* OCP E4M3FN: no Inf, NaN = S.1111.111, max 448 */
    QK_TYPE_F8_E5M2, /* OCP E5M2: IEEE-like with Inf, max 57344 */
    QK_TYPE_I8,
    QK_TYPE_U8,
    QK_TYPE_I16,
    QK_TYPE_U16,
    QK_TYPE_I32,
    QK_TYPE_U32,
    QK_TYPE_I64,
    QK_TYPE_U64,
    QK_TYPE_BOOL,
    /* ggml block formats (layouts in include/quantkit/ggml_blocks.h) */
    QK_TYPE_Q4_0,
    QK_TYPE_Q4_1,
    QK_TYPE_Q5_0,
    QK_TYPE_Q5_1,
    QK_TYPE_Q8_0,
    QK_TYPE_Q8_1,
    QK_TYPE_Q2_K,
    QK_TYPE_Q3_K,
    QK_TYPE_Q4_K,
    QK_TYPE_Q5_K,
    QK_TYPE_Q6_K,
    QK_TYPE_Q8_K,
    QK_TYPE_IQ4_NL,
    QK_TYPE_COUNT
} qk_type;

typedef struct qk_type_traits {
    const char *name;    /* lower case: "f32", "q4_k", "f8_e4m3" */
    int32_t block_elems; /* elements per block (1 for scalars) */
    int32_t block_bytes; /* bytes per block */
    bool is_float;       /* plain IEEE-style float scalar */
    bool is_block;       /* ggml block format */
} qk_type_traits;

/* Traits of a type, or NULL when `type` is out of range. */
const qk_type_traits *qk_type_get_traits(qk_type type);
/* Name of a type ("q4_k"), or "?" when out of range. */
const char *qk_type_name(qk_type type);
/* Find a type by name, case-insensitive ("Q4_K", "f16"). */
qk_status qk_type_from_name(const char *name, qk_type *out);
/* Bytes of `n` elements of `type`; n must be a multiple of the block size.
** Fails with QK_ERR_SHAPE (partial block) or QK_ERR_OVERFLOW. */
qk_status qk_type_row_bytes(qk_type type, int64_t n, size_t *out_bytes);
/* Exact storage bits per weight of a type (4.5 for q4_0, 32 for f32). */
double qk_type_bits_per_weight(qk_type type);

/* ------------------------------------------------------------------------
** Scalar float conversions, round-to-nearest-even. NaN stays NaN (sign kept,
** quiet), Inf stays Inf where the target has it, subnormals are produced and
** read exactly. For the FP8 formats `saturate` chooses what happens to
** finite values beyond the largest finite value: clamp to +-max (true), or
** overflow to Inf (E5M2) / NaN (E4M3, which has no Inf) (false). Infinite
** inputs become +-max when saturating, else Inf (E5M2) / NaN (E4M3).
*/
uint16_t qk_f32_to_f16(float x);
float qk_f16_to_f32(uint16_t h);
uint16_t qk_f32_to_bf16(float x);
float qk_bf16_to_f32(uint16_t h);
uint8_t qk_f32_to_fp8_e4m3(float x, bool saturate);
float qk_fp8_e4m3_to_f32(uint8_t v);
uint8_t qk_f32_to_fp8_e5m2(float x, bool saturate);
float qk_fp8_e5m2_to_f32(uint8_t v);

/* Bulk conversion of `n` elements between plain scalar types (any of the
** float and integer types above, not block formats). Integer targets round
** to nearest even and saturate; NaN to an integer target is an error naming
** the element index (QK_ERR_NONFINITE). `src` and `dst` must not overlap. */
qk_status qk_convert(qk_type src_type, const void *src, qk_type dst_type, void *dst, size_t n);

/* ------------------------------------------------------------------------
** Tensor views: a borrowed pointer to row-major data with a type and up to
** four dimensions; shape[ndim-1] is the innermost (contiguous) dimension.
** A view never owns its data.
*/
#define QK_MAX_DIMS 4

typedef struct qk_tensor_view {
    qk_type type;
    int32_t ndim;               /* 0 (scalar) .. QK_MAX_DIMS */
    int64_t shape[QK_MAX_DIMS]; /* outermost first */
    void *data;                 /* borrowed */
} qk_tensor_view;

/* Fill a view after checking the shape (non-negative, product fits in
** int64, innermost dimension a multiple of the block size). */
qk_status qk_tensor_view_init(qk_tensor_view *view, qk_type type, int32_t ndim,
                              const int64_t *shape, void *data);
/* Number of elements (product of the shape; 1 for a scalar). */
int64_t qk_tensor_view_numel(const qk_tensor_view *view);
/* Number of rows: product of all but the innermost dimension. */
int64_t qk_tensor_view_rows(const qk_tensor_view *view);
/* Bytes of the data, checked for overflow. */
qk_status qk_tensor_view_nbytes(const qk_tensor_view *view, size_t *out_bytes);

/* ------------------------------------------------------------------------
** Memory. Aligned to `alignment` (a power of two, at least sizeof(void*));
** size 0 gives a unique pointer; NULL on failure. qk_aligned_free(NULL) is a
** no-op.
*/
void *qk_aligned_alloc(size_t alignment, size_t size);
void qk_aligned_free(void *ptr);
/* a * b into *out, false when it overflows size_t. */
bool qk_mul_size(size_t a, size_t b, size_t *out);
/* a + b into *out, false when it overflows size_t. */
bool qk_add_size(size_t a, size_t b, size_t *out);

/* ------------------------------------------------------------------------
** Threads (OpenMP) and CPU features.
*/
/* Threads used by quantkit's parallel loops; n <= 0 means all cores. */
void qk_threads_set(int n);
int qk_threads_get(void);

typedef struct qk_cpu_features {
    bool sse42, avx, avx2, fma, f16c, bmi2;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
} qk_cpu_features;

/* Features of this CPU, detected once (cpuid + OS support via xgetbv). */
const qk_cpu_features *qk_cpu_get_features(void);

/* Instruction-set level the kernels use, chosen once at run time: the best
** the CPU has, lowered by the environment: QK_FORCE_REF=1 gives QK_ISA_REF,
** QK_ISA=ref|avx2|avx512 caps the level. */
typedef enum qk_isa { QK_ISA_REF = 0, QK_ISA_AVX2 = 1, QK_ISA_AVX512 = 2 } qk_isa;
qk_isa qk_isa_get(void);
const char *qk_isa_name(qk_isa isa);

/* SHA-256 (FIPS 180-4): digests of calibration files and model data. */
typedef struct qk_sha256 {
    uint32_t h[8];           /* chaining value */
    uint64_t length;         /* message bytes so far */
    unsigned char block[64]; /* pending input */
    size_t fill;             /* bytes in block */
} qk_sha256;
void qk_sha256_init(qk_sha256 *s);
void qk_sha256_update(qk_sha256 *s, const void *data, size_t n);
void qk_sha256_final(qk_sha256 *s, unsigned char digest[32]);
/* Lower-case hex digest of `n` bytes into hex[65] (NUL-terminated). */
void qk_sha256_hex(const void *data, size_t n, char hex[65]);

/* Peak resident set size of this process in bytes (0 when unknown). */
size_t qk_peak_rss_bytes(void);
/* Monotonic clock in seconds. */
double qk_time_seconds(void);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_CORE_H */
