/*
** quantkit io: GGUF files (llama.cpp's model format), versions 2 and 3.
**
** Layout (all little-endian; gguf-py constants.py, ggml gguf.cpp):
**   1. u32 magic "GGUF" (0x46554747), u32 version (2 or 3; v1 rejected),
**      u64 n_tensors, u64 n_kv
**   2. n_kv key/value pairs: string key, u32 value type, value.
**      A string is a u64 byte length then the UTF-8 bytes (no NUL).
**      An array is u32 element type, u64 count, then the elements.
**   3. n_tensors tensor infos: string name, u32 n_dims (<= 4),
**      u64 ne[n_dims] (ne[0] innermost), u32 ggml type, u64 offset
**      relative to the data section
**   4. zero padding to general.alignment (u32 key, default 32), then the
**      data section; each tensor's data starts at an aligned offset and is
**      followed by zero padding to the alignment.
** quantkit's shapes are outermost first: shape[i] = ne[n_dims-1-i].
**
** Reader: the file is mapped; every pointer it hands out (keys, strings,
** tensor names, tensor data, array data) is borrowed and valid until
** qk_gguf_reader_close(). Numeric array data and tensor data point into the
** mapping and may be unaligned for their element type.
*/
#ifndef QUANTKIT_GGUF_H
#define QUANTKIT_GGUF_H

#include "quantkit/core.h"
#include "quantkit/io.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QK_GGUF_MAGIC 0x46554747u /* "GGUF" as a little-endian u32 */
#define QK_GGUF_VERSION 3u
#define QK_GGUF_DEFAULT_ALIGNMENT 32u

/* GGUF metadata value types (the numbers are the file format's). */
typedef enum qk_gguf_value_type {
    QK_GGUF_U8 = 0,
    QK_GGUF_I8 = 1,
    QK_GGUF_U16 = 2,
    QK_GGUF_I16 = 3,
    QK_GGUF_U32 = 4,
    QK_GGUF_I32 = 5,
    QK_GGUF_F32 = 6,
    QK_GGUF_BOOL = 7,
    QK_GGUF_STRING = 8,
    QK_GGUF_ARRAY = 9,
    QK_GGUF_U64 = 10,
    QK_GGUF_I64 = 11,
    QK_GGUF_F64 = 12,
    QK_GGUF_TYPE_COUNT = 13
} qk_gguf_value_type;

/* "u32", "string", "array" ...; "?" when out of range. */
const char *qk_gguf_value_type_name(qk_gguf_value_type type);
/* Bytes of one value of a fixed-size type (bool is 1); 0 for string/array. */
size_t qk_gguf_value_type_size(qk_gguf_value_type type);

/* ggml tensor type ids (ggml.h / gguf-py GGMLQuantizationType) <-> qk_type:
** F32 0, F16 1, Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q8_1 9, Q2_K 10,
** Q3_K 11, Q4_K 12, Q5_K 13, Q6_K 14, Q8_K 15, IQ4_NL 20, I8 24, I16 25,
** I32 26, I64 27, F64 28, BF16 30. Other ids are QK_ERR_UNKNOWN_TYPE; qk
** types without a ggml id (u8, bool, fp8 ...) are QK_ERR_UNSUPPORTED. */
qk_status qk_gguf_type_from_ggml(uint32_t ggml_type, qk_type *out);
qk_status qk_gguf_type_to_ggml(qk_type type, uint32_t *out);
/* ggml's name of a ggml type id ("q4_K", "iq2_xxs"), or NULL if unknown. */
const char *qk_gguf_ggml_type_name(uint32_t ggml_type);

/* ------------------------------------------------------------------------
** Reader
*/
typedef struct qk_gguf_reader qk_gguf_reader;

/* Open and validate the whole structure (header, every key/value, every
** tensor info, alignment, bounds, overlaps). Tensor data is not read. */
qk_status qk_gguf_reader_open(const char *path, qk_gguf_reader **out);
/* NULL is a no-op. */
void qk_gguf_reader_close(qk_gguf_reader *reader);

const char *qk_gguf_reader_path(const qk_gguf_reader *reader);
uint32_t qk_gguf_reader_version(const qk_gguf_reader *reader);
/* general.alignment, or 32 when absent. */
uint32_t qk_gguf_reader_alignment(const qk_gguf_reader *reader);
/* File offset of the data section (aligned). */
uint64_t qk_gguf_reader_data_offset(const qk_gguf_reader *reader);
uint64_t qk_gguf_reader_file_size(const qk_gguf_reader *reader);
/* The mapped file (borrowed). */
const qk_mapped_file *qk_gguf_reader_file(const qk_gguf_reader *reader);

/* --- key/value pairs, in file order ------------------------------------ */
int64_t qk_gguf_reader_kv_count(const qk_gguf_reader *reader);
/* Index of `key`, or -1 when absent. */
int64_t qk_gguf_reader_find_key(const qk_gguf_reader *reader, const char *key);

/* Everything about one value. Scalars: `type` is the value type, `n` 1, the
** number in the member of the union matching the type (u64 for unsigned
** types, i64 for signed, f64 for f32/f64, b for bool), and for strings `str`
** (a borrowed NUL-terminated copy) with `str_len`. Arrays: `type` is
** QK_GGUF_ARRAY, `elem_type` and `n` describe them, and `data` points at the
** raw little-endian elements in the mapping (numbers and bools; NULL for
** arrays of strings, read those with qk_gguf_reader_arr_str). */
typedef struct qk_gguf_value {
    qk_gguf_value_type type;
    qk_gguf_value_type elem_type;
    uint64_t n;
    union {
        uint64_t u64;
        int64_t i64;
        double f64;
        bool b;
    } v;
    const char *str;
    uint64_t str_len;
    const void *data;
} qk_gguf_value;

/* Key of pair `index` (borrowed, NUL-terminated); NULL when out of range. */
const char *qk_gguf_reader_kv_key(const qk_gguf_reader *reader, int64_t index);
/* Value of pair `index`. QK_ERR_INVALID_ARG when out of range. */
qk_status qk_gguf_reader_kv_value(const qk_gguf_reader *reader, int64_t index, qk_gguf_value *out);
/* Element `i` of an array of strings (borrowed, not NUL-terminated). */
qk_status qk_gguf_reader_arr_str(const qk_gguf_reader *reader, int64_t index, uint64_t i,
                                 const char **str, uint64_t *len);

/* Typed getters by key. QK_ERR_NOT_FOUND when the key is absent,
** QK_ERR_CORRUPT (naming key and both types) when it has another type. */
qk_status qk_gguf_reader_get_u8(const qk_gguf_reader *reader, const char *key, uint8_t *out);
qk_status qk_gguf_reader_get_i8(const qk_gguf_reader *reader, const char *key, int8_t *out);
qk_status qk_gguf_reader_get_u16(const qk_gguf_reader *reader, const char *key, uint16_t *out);
qk_status qk_gguf_reader_get_i16(const qk_gguf_reader *reader, const char *key, int16_t *out);
qk_status qk_gguf_reader_get_u32(const qk_gguf_reader *reader, const char *key, uint32_t *out);
qk_status qk_gguf_reader_get_i32(const qk_gguf_reader *reader, const char *key, int32_t *out);
qk_status qk_gguf_reader_get_u64(const qk_gguf_reader *reader, const char *key, uint64_t *out);
qk_status qk_gguf_reader_get_i64(const qk_gguf_reader *reader, const char *key, int64_t *out);
qk_status qk_gguf_reader_get_f32(const qk_gguf_reader *reader, const char *key, float *out);
qk_status qk_gguf_reader_get_f64(const qk_gguf_reader *reader, const char *key, double *out);
qk_status qk_gguf_reader_get_bool(const qk_gguf_reader *reader, const char *key, bool *out);
/* Borrowed NUL-terminated string. */
qk_status qk_gguf_reader_get_str(const qk_gguf_reader *reader, const char *key, const char **out);
/* Any integer type (u8 .. i64) as int64; QK_ERR_OVERFLOW for u64 > INT64_MAX. */
qk_status qk_gguf_reader_get_int(const qk_gguf_reader *reader, const char *key, int64_t *out);
/* Array of `elem_type` (QK_GGUF_STRING allowed): its length, and for numeric
** and bool arrays the raw little-endian elements (borrowed, maybe unaligned;
** pass NULL for `data` when not needed). */
qk_status qk_gguf_reader_get_arr(const qk_gguf_reader *reader, const char *key,
                                 qk_gguf_value_type elem_type, const void **data, uint64_t *n);
/* Copy a numeric/bool array of `elem_type` with exactly `n` elements into
** `dst` (aligned, caller-owned); QK_ERR_SHAPE when the length differs. */
qk_status qk_gguf_reader_copy_arr(const qk_gguf_reader *reader, const char *key,
                                  qk_gguf_value_type elem_type, void *dst, uint64_t n);

/* --- tensors, in file order -------------------------------------------- */
int64_t qk_gguf_reader_tensor_count(const qk_gguf_reader *reader);
/* Index of tensor `name`, or -1. */
int64_t qk_gguf_reader_find_tensor(const qk_gguf_reader *reader, const char *name);
/* Tensor `index`: name, type, shape (outermost first, ndim = the file's
** n_dims), absolute file offset, bytes and a borrowed data pointer. */
qk_status qk_gguf_reader_tensor_info(const qk_gguf_reader *reader, int64_t index,
                                     qk_io_tensor *out);
/* The tensor's offset relative to the data section, as stored. */
uint64_t qk_gguf_reader_tensor_rel_offset(const qk_gguf_reader *reader, int64_t index);

/* ------------------------------------------------------------------------
** Streaming writer (GGUF v3). Declare every key/value pair and every
** tensor (name, type, shape) first, in file order; begin() computes the
** offsets (packed, each aligned to general.alignment, default 32) and
** writes the header, the pairs and the tensor table; then stream each
** tensor's bytes in declaration order with write() (any chunking; the
** writer pads between tensors), and commit() renames the finished file
** into place (quantkit/io.h's atomic file). Memory use is the pairs plus
** the caller's chunks. Free the writer in every case; freeing an
** uncommitted writer removes its temporary file.
*/
typedef struct qk_gguf_writer qk_gguf_writer;

/* Create the temporary output next to `path` (QK_ERR_IO when impossible). */
qk_status qk_gguf_writer_create(const char *path, qk_gguf_writer **out);
/* NULL is a no-op; an uncommitted file is discarded. */
void qk_gguf_writer_free(qk_gguf_writer *writer);

/* Key/value pairs, written in the order added. Keys must be unique and
** non-empty (QK_ERR_INVALID_ARG). "general.alignment" must be a u32 power
** of two; it sets the alignment of the data. */
qk_status qk_gguf_writer_add_u8(qk_gguf_writer *writer, const char *key, uint8_t value);
qk_status qk_gguf_writer_add_i8(qk_gguf_writer *writer, const char *key, int8_t value);
qk_status qk_gguf_writer_add_u16(qk_gguf_writer *writer, const char *key, uint16_t value);
qk_status qk_gguf_writer_add_i16(qk_gguf_writer *writer, const char *key, int16_t value);
qk_status qk_gguf_writer_add_u32(qk_gguf_writer *writer, const char *key, uint32_t value);
qk_status qk_gguf_writer_add_i32(qk_gguf_writer *writer, const char *key, int32_t value);
qk_status qk_gguf_writer_add_u64(qk_gguf_writer *writer, const char *key, uint64_t value);
qk_status qk_gguf_writer_add_i64(qk_gguf_writer *writer, const char *key, int64_t value);
qk_status qk_gguf_writer_add_f32(qk_gguf_writer *writer, const char *key, float value);
qk_status qk_gguf_writer_add_f64(qk_gguf_writer *writer, const char *key, double value);
qk_status qk_gguf_writer_add_bool(qk_gguf_writer *writer, const char *key, bool value);
qk_status qk_gguf_writer_add_str(qk_gguf_writer *writer, const char *key, const char *value);
/* A string of `len` bytes (may hold NUL bytes). */
qk_status qk_gguf_writer_add_str_n(qk_gguf_writer *writer, const char *key, const char *value,
                                   uint64_t len);
/* Array of `n` numbers or bools of `elem_type`, `data` in little-endian
** element layout (bools one byte each). */
qk_status qk_gguf_writer_add_arr(qk_gguf_writer *writer, const char *key,
                                 qk_gguf_value_type elem_type, const void *data, uint64_t n);
/* Array of `n` strings; `lens` may be NULL (then strlen of each). */
qk_status qk_gguf_writer_add_arr_str(qk_gguf_writer *writer, const char *key,
                                     const char *const *strs, const uint64_t *lens, uint64_t n);
/* Copy pair `index` of `reader` verbatim (same key, type and value bytes). */
qk_status qk_gguf_writer_copy_kv(qk_gguf_writer *writer, const qk_gguf_reader *reader,
                                 int64_t index);

/* Declare the next tensor: `shape` outermost first (ndim 0..4), the
** innermost dimension a multiple of the type's block size, name shorter
** than 64 bytes (ggml's limit) and unique. */
qk_status qk_gguf_writer_add_tensor(qk_gguf_writer *writer, const char *name, qk_type type,
                                    int32_t ndim, const int64_t *shape);
/* File offset where the tensor data will start: the header, the pairs and
** the tensor table declared so far, padded to the alignment (what begin()
** writes before the data; call it before begin()). Tensor types do not
** change it. */
uint64_t qk_gguf_writer_data_offset(const qk_gguf_writer *writer);
/* The alignment of the data section (general.alignment, default 32). */
uint32_t qk_gguf_writer_alignment(const qk_gguf_writer *writer);
/* Write header, pairs and tensor table. Nothing can be declared after. */
qk_status qk_gguf_writer_begin(qk_gguf_writer *writer);
/* Append `n` bytes of tensor data: they fill the current tensor, then the
** next ones, in declaration order. More bytes than declared is QK_ERR_STATE. */
qk_status qk_gguf_writer_write(qk_gguf_writer *writer, const void *data, size_t n);
/* Index of the tensor the next write() fills (-1 before begin / when done
** with errors; the tensor count when every tensor is complete). */
int64_t qk_gguf_writer_current_tensor(const qk_gguf_writer *writer);
/* Check every tensor is complete, then flush, fsync and rename into place
** (begin() is called first if it was not). */
qk_status qk_gguf_writer_commit(qk_gguf_writer *writer);

/* Read `src` and write the same pairs and tensors to `dst` through the
** writer. Files quantkit wrote come back byte-identical; so do llama.cpp's
** v3 files, whose offsets are packed the same way. */
qk_status qk_gguf_copy(const char *src, const char *dst);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_GGUF_H */
