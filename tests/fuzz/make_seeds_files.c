/*
** Seeds of the GGUF, safetensors and block-format targets (see make_seeds.c).
*/
#include <stdio.h>  /* snprintf, FILE */
#include <stdlib.h> /* malloc, free */
#include <string.h> /* strlen */
#include <unistd.h> /* unlink */

#include "make_seeds.h"

/* ------------------------------------------------------------------------
** gguf_read.
*/
static void gguf_str(buf *b, const char *s) {
    put_le(b, strlen(s), 8);
    put_str(b, s);
}

typedef enum gguf_break {
    G_NONE,
    G_MAGIC,
    G_VERSION1,
    G_VERSION4,
    G_BIG_ENDIAN,
    G_HUGE_KV_COUNT,
    G_HUGE_TENSOR_COUNT,
    G_HUGE_KEY_LEN,
    G_EMPTY_KEY,
    G_NUL_IN_KEY,
    G_VALUE_TYPE_13,
    G_ARRAY_OF_ARRAYS,
    G_HUGE_ARRAY,
    G_DUPLICATE_KEY,
    G_ALIGNMENT_0,
    G_ALIGNMENT_3,
    G_ALIGNMENT_STRING,
    G_NDIMS_5,
    G_GGML_TYPE_99,
    G_PARTIAL_BLOCK,
    G_NE_OVERFLOW,
    G_MISALIGNED,
    G_OVERLAP,
    G_PAST_END,
    G_DUPLICATE_TENSOR,
    G_COUNT
} gguf_break;

static const char *const GGUF_BREAK_NAMES[G_COUNT] = {
    "seed-small.gguf",          "broken-magic",
    "broken-version-1",         "broken-version-4",
    "broken-big-endian",        "broken-huge-kv-count",
    "broken-huge-tensor-count", "broken-huge-key-length",
    "broken-empty-key",         "broken-nul-in-key",
    "broken-value-type-13",     "broken-array-of-arrays",
    "broken-huge-array",        "broken-duplicate-key",
    "broken-alignment-0",       "broken-alignment-3",
    "broken-alignment-string",  "broken-ndims-5",
    "broken-ggml-type-99",      "broken-partial-block",
    "broken-ne-overflow",       "broken-misaligned-offset",
    "broken-overlap",           "broken-data-past-end",
    "broken-duplicate-tensor"};

/* A small GGUF v3 file written byte by byte: 4 pairs, 3 tensors (f32 [4],
** q8_0 [32], f16 [2, 3]), alignment 32; `brk` breaks one thing. */
static void gguf_small(buf *b, gguf_break brk) {
    put_le(b, brk == G_MAGIC ? 0x46554746u : 0x46554747u, 4);
    uint32_t version = brk == G_VERSION1 ? 1 : brk == G_VERSION4 ? 4 : 3;
    put_le(b, brk == G_BIG_ENDIAN ? 0x03000000u : version, 4);
    put_le(b, brk == G_HUGE_TENSOR_COUNT ? 0x4000000000000000u : 3, 8);
    put_le(b, brk == G_HUGE_KV_COUNT ? 0xFFFFFFFFFFFFFFFFu : 4, 8);
    /* general.architecture = "llama" */
    if (brk == G_HUGE_KEY_LEN) {
        put_le(b, 0x7FFFFFFFFFFFFFF0u, 8);
        put_str(b, "general.architecture");
    } else if (brk == G_EMPTY_KEY) {
        gguf_str(b, "");
    } else if (brk == G_NUL_IN_KEY) {
        put_le(b, 8, 8);
        put(b, "gen\0ral.", 8);
    } else {
        gguf_str(b, "general.architecture");
    }
    put_le(b, brk == G_VALUE_TYPE_13 ? 13 : QK_GGUF_STRING, 4);
    gguf_str(b, "llama");
    /* general.alignment */
    gguf_str(b, "general.alignment");
    if (brk == G_ALIGNMENT_STRING) {
        put_le(b, QK_GGUF_STRING, 4);
        gguf_str(b, "32");
    } else {
        put_le(b, QK_GGUF_U32, 4);
        put_le(b, brk == G_ALIGNMENT_0 ? 0 : brk == G_ALIGNMENT_3 ? 3 : 32, 4);
    }
    /* an i32 array and a string array */
    gguf_str(b, brk == G_DUPLICATE_KEY ? "general.alignment" : "test.ints");
    put_le(b, QK_GGUF_ARRAY, 4);
    put_le(b, brk == G_ARRAY_OF_ARRAYS ? QK_GGUF_ARRAY : QK_GGUF_I32, 4);
    put_le(b, brk == G_HUGE_ARRAY ? 0x1000000000000000u : 3, 8);
    for (int i = 0; i < 3; i++) put_le(b, (uint64_t)(i - 1), 4);
    gguf_str(b, "test.strings");
    put_le(b, QK_GGUF_ARRAY, 4);
    put_le(b, QK_GGUF_STRING, 4);
    put_le(b, 2, 8);
    gguf_str(b, "one");
    gguf_str(b, "");
    /* tensor infos */
    gguf_str(b, "a");
    put_le(b, brk == G_NDIMS_5 ? 5 : 1, 4);
    put_le(b, brk == G_PARTIAL_BLOCK ? 5 : 4, 8);
    if (brk == G_NDIMS_5)
        for (int i = 0; i < 4; i++) put_le(b, 1, 8);
    put_le(b, 0, 4); /* f32 */
    put_le(b, 0, 8);
    gguf_str(b, "b");
    put_le(b, 1, 4);
    put_le(b, brk == G_PARTIAL_BLOCK ? 33 : 32, 8);
    put_le(b, brk == G_GGML_TYPE_99 ? 99 : 8, 4); /* q8_0 */
    put_le(b, brk == G_MISALIGNED ? 48 : brk == G_OVERLAP ? 0 : 32, 8);
    gguf_str(b, brk == G_DUPLICATE_TENSOR ? "a" : "c");
    put_le(b, 2, 4);
    put_le(b, 3, 8);
    put_le(b, brk == G_NE_OVERFLOW ? 0x4000000000000000u : 2, 8);
    put_le(b, 1, 4); /* f16 */
    put_le(b, brk == G_PAST_END ? 4096 : 96, 8);
    while (b->n % 32) put_u8(b, 0);
    /* data: a f32 [4] at 0, q8_0 [32] at 32 (34 bytes), f16 [2,3] at 96 */
    size_t start = b->n;
    put_f32(b, 1.0f);
    put_f32(b, -2.5f);
    put_f32(b, 0.0f);
    put_f32(b, 1e-3f);
    while (b->n - start < 32) put_u8(b, 0);
    put_le(b, qk_f32_to_f16(0.25f), 2);
    for (int i = 0; i < 32; i++) put_u8(b, (unsigned)(i * 9 - 128) & 0xFF);
    while (b->n - start < 96) put_u8(b, 0);
    for (int i = 0; i < 6; i++) put_le(b, qk_f32_to_f16((float)i - 2.0f), 2);
    while (b->n % 32) put_u8(b, 0);
}

/* Every type and value kind, written by quantkit's writer. */
static void gguf_all_types(const char *path) {
    qk_gguf_writer *w = NULL;
    check(qk_gguf_writer_create(path, &w), "gguf writer");
    check(qk_gguf_writer_add_str(w, "general.architecture", "llama"), "kv");
    check(qk_gguf_writer_add_u32(w, "general.alignment", 64), "kv");
    check(qk_gguf_writer_add_u8(w, "t.u8", 200), "kv");
    check(qk_gguf_writer_add_i8(w, "t.i8", -100), "kv");
    check(qk_gguf_writer_add_u16(w, "t.u16", 60000), "kv");
    check(qk_gguf_writer_add_i16(w, "t.i16", -30000), "kv");
    check(qk_gguf_writer_add_i32(w, "t.i32", -2000000000), "kv");
    check(qk_gguf_writer_add_u64(w, "t.u64", 0xFFFFFFFFFFFFFFFFu), "kv");
    check(qk_gguf_writer_add_i64(w, "t.i64", INT64_MIN), "kv");
    check(qk_gguf_writer_add_f32(w, "t.f32", 3.5f), "kv");
    check(qk_gguf_writer_add_f64(w, "t.f64", -1e300), "kv");
    check(qk_gguf_writer_add_bool(w, "t.bool", true), "kv");
    check(qk_gguf_writer_add_str_n(w, "t.str_nul", "a\0b", 3), "kv");
    const uint8_t bools[3] = {1, 0, 1};
    check(qk_gguf_writer_add_arr(w, "t.arr_bool", QK_GGUF_BOOL, bools, 3), "kv");
    const double f64s[2] = {1.5, -0.0};
    check(qk_gguf_writer_add_arr(w, "t.arr_f64", QK_GGUF_F64, f64s, 2), "kv");
    check(qk_gguf_writer_add_arr(w, "t.arr_empty", QK_GGUF_U16, NULL, 0), "kv");
    const char *strs[3] = {"x", "", "\xe2\x96\x81y"};
    check(qk_gguf_writer_add_arr_str(w, "t.arr_str", strs, NULL, 3), "kv");
    /* one small tensor of every type GGUF can hold */
    int n_types = 0;
    qk_type types[QK_TYPE_COUNT];
    for (int t = 0; t < QK_TYPE_COUNT; t++) {
        uint32_t g;
        if (qk_gguf_type_to_ggml((qk_type)t, &g) != QK_OK) continue;
        types[n_types++] = (qk_type)t;
        char name[32];
        snprintf(name, sizeof name, "tensor.%s", qk_type_name((qk_type)t));
        const qk_type_traits *tr = qk_type_get_traits((qk_type)t);
        int64_t shape[2] = {2, tr->block_elems > 1 ? tr->block_elems : 3};
        check(qk_gguf_writer_add_tensor(w, name, (qk_type)t, 2, shape), "tensor");
    }
    int64_t scalar_shape[1] = {0};
    check(qk_gguf_writer_add_tensor(w, "tensor.scalar", QK_TYPE_F32, 0, scalar_shape), "tensor");
    int64_t empty_shape[2] = {0, 32};
    check(qk_gguf_writer_add_tensor(w, "tensor.empty", QK_TYPE_Q8_0, 2, empty_shape), "tensor");
    check(qk_gguf_writer_begin(w), "begin");
    for (int i = 0; i < n_types; i++) {
        const qk_type_traits *tr = qk_type_get_traits(types[i]);
        int64_t n = 2 * (tr->block_elems > 1 ? tr->block_elems : 3);
        size_t bytes;
        check(qk_type_row_bytes(types[i], n, &bytes), "row bytes");
        unsigned char *data = malloc(bytes);
        float *x = malloc((size_t)n * sizeof *x);
        for (int64_t k = 0; k < n; k++) x[k] = (float)((k * 37) % 23) - 11.0f;
        if (qk_quantize_row(types[i], x, data, n, NULL) != QK_OK)
            for (size_t k = 0; k < bytes; k++) data[k] = (unsigned char)rnd8();
        check(qk_gguf_writer_write(w, data, bytes), "write");
        free(data);
        free(x);
    }
    float one = 1.0f;
    check(qk_gguf_writer_write(w, &one, sizeof one), "write");
    check(qk_gguf_writer_commit(w), "commit");
    qk_gguf_writer_free(w);
}

/* The key/value pairs of a real llama.cpp file (stories260K: vocabulary of
** 512 tokens, hyper-parameters) with three tiny tensors. */
static void gguf_real_vocab(const char *src, const char *path) {
    qk_gguf_reader *r = NULL;
    if (qk_gguf_reader_open(src, &r) != QK_OK) return;
    qk_gguf_writer *w = NULL;
    check(qk_gguf_writer_create(path, &w), "gguf writer");
    for (int64_t i = 0; i < qk_gguf_reader_kv_count(r); i++)
        check(qk_gguf_writer_copy_kv(w, r, i), "copy kv");
    int64_t s1[2] = {2, 32}, s2[1] = {8}, s3[2] = {1, 32};
    check(qk_gguf_writer_add_tensor(w, "token_embd.weight", QK_TYPE_Q4_0, 2, s1), "tensor");
    check(qk_gguf_writer_add_tensor(w, "output_norm.weight", QK_TYPE_F32, 1, s2), "tensor");
    check(qk_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", QK_TYPE_Q8_0, 2, s3), "tensor");
    check(qk_gguf_writer_begin(w), "begin");
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = (float)(i % 13) * 0.25f - 1.5f;
    unsigned char q[64 * 2];
    size_t bytes;
    check(qk_type_row_bytes(QK_TYPE_Q4_0, 64, &bytes), "row bytes");
    check(qk_quantize_row(QK_TYPE_Q4_0, x, q, 64, NULL), "quantize");
    check(qk_gguf_writer_write(w, q, bytes), "write");
    check(qk_gguf_writer_write(w, x, 8 * sizeof(float)), "write");
    check(qk_type_row_bytes(QK_TYPE_Q8_0, 32, &bytes), "row bytes");
    check(qk_quantize_row(QK_TYPE_Q8_0, x, q, 32, NULL), "quantize");
    check(qk_gguf_writer_write(w, q, bytes), "write");
    check(qk_gguf_writer_commit(w), "commit");
    qk_gguf_writer_free(w);
    qk_gguf_reader_close(r);
}

void seeds_gguf(const char *tmp_dir) {
    if (strlen(tmp_dir) > 512) die("path too long: %s", tmp_dir);
    const char *T = "gguf_read";
    for (int k = 0; k < G_COUNT; k++) {
        buf b = {0};
        gguf_small(&b, (gguf_break)k);
        write_seed(T, GGUF_BREAK_NAMES[k], b.p, b.n);
        if (k == G_NONE) {
            write_seed(T, "broken-truncated-in-tensor-info", b.p, 200);
            write_seed(T, "broken-truncated-data", b.p, b.n - 7);
            write_seed(T, "broken-header-only", b.p, 24);
            /* version 2 is read like version 3 */
            b.p[4] = 2;
            write_seed(T, "seed-small-v2.gguf", b.p, b.n);
        }
        buf_free(&b);
    }
    buf h = {0};
    put_le(&h, 0x46554747u, 4);
    put_le(&h, 3, 4);
    put_le(&h, 0, 8);
    put_le(&h, 0, 8);
    write_seed(T, "seed-empty.gguf", h.p, h.n);
    buf_free(&h);
    write_seed(T, "broken-empty", "", 0);

    char path[1024];
    snprintf(path, sizeof path, "%s/all-types.gguf", tmp_dir);
    gguf_all_types(path);
    adopt(T, "seed-all-types.gguf", path);
    if (fixtures) {
        char src[1024];
        snprintf(src, sizeof src, "%s/golden/llama.cpp/stories260k/stories260K-Q4_0fb.gguf",
                 fixtures);
        snprintf(path, sizeof path, "%s/vocab.gguf", tmp_dir);
        gguf_real_vocab(src, path);
        adopt(T, "seed-stories260k-vocab.gguf", path);
    }
}

/* ------------------------------------------------------------------------
** safetensors_header: byte 0 even = one file, odd = index + NUL + shard.
*/
static void st_file(buf *b, const char *header, const void *data, size_t n) {
    put_le(b, strlen(header), 8);
    put_str(b, header);
    put(b, data, n);
}

static void st_seed(const char *name, const char *header, const void *data, size_t n) {
    buf b = {0};
    put_u8(&b, 0);
    st_file(&b, header, data, n);
    write_seed("safetensors_header", name, b.p, b.n);
    buf_free(&b);
}

static void st_index_seed(const char *name, const char *index, const char *shard_header,
                          const void *data, size_t n) {
    buf b = {0};
    put_u8(&b, 1);
    put_str(&b, index);
    if (shard_header) {
        put_u8(&b, 0);
        st_file(&b, shard_header, data, n);
    }
    write_seed("safetensors_header", name, b.p, b.n);
    buf_free(&b);
}

void seeds_safetensors(const char *tmp_dir) {
    if (strlen(tmp_dir) > 512) die("path too long: %s", tmp_dir);
    unsigned char data[256];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7 + 3);
    /* offsets: F32 [2,2] 0..16, F16 [3] 16..22, BF16 [1] 22..24, I8 [4] 24..28,
       U8 [2] 28..30, BOOL [2] 30..32, F8_E4M3 [2] 32..34, F8_E5M2 [2] 34..36,
       I64 [1] 40..48, F64 [1] 48..56, I16/U16/I32/U32/U64 after, empty, scalar */
    st_seed("seed-all-dtypes.safetensors",
            "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"\xc3\xa9\"},"
            "\"f32\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
            "\"f16\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
            "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[22,24]},"
            "\"i8\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[24,28]},"
            "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[28,30]},"
            "\"bool\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[30,32]},"
            "\"e4m3\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[32,34]},"
            "\"e5m2\":{\"dtype\":\"F8_E5M2\",\"shape\":[2],\"data_offsets\":[34,36]},"
            "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[40,48]},"
            "\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[48,56]},"
            "\"i16\":{\"dtype\":\"I16\",\"shape\":[1,1,1,2],\"data_offsets\":[56,60]},"
            "\"u16\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[60,64]},"
            "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[64,68]},"
            "\"u32\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[68,72]},"
            "\"u64\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[72,80]},"
            "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[80,80]},"
            "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[80,84]}}",
            data, 84);
    /* made by quantkit's writer */
    char path[1024];
    snprintf(path, sizeof path, "%s/w.safetensors", tmp_dir);
    float w[6] = {1, -2, 3.5f, 0, 1e-8f, -7};
    qk_io_tensor t[2] = {{.name = "model.layers.0.weight",
                          .type = QK_TYPE_F32,
                          .ndim = 2,
                          .shape = {2, 3},
                          .data = w},
                         {.name = "lm_head.weight",
                          .type = QK_TYPE_BF16,
                          .ndim = 1,
                          .shape = {2},
                          .data = "\x80\x3f\x00\xc0"}};
    const char *meta[2] = {"format", "pt"};
    check(qk_safetensors_write(path, t, 2, meta, 1), "safetensors write");
    FILE *f = fopen(path, "rb");
    if (f) {
        buf b = {0};
        put_u8(&b, 0);
        unsigned char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, got);
        fclose(f);
        write_seed("safetensors_header", "seed-writer.safetensors", b.p, b.n);
        buf_free(&b);
    }
    unlink(path);

    const char *one = "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char h[512];
    struct {
        const char *name, *header;
        size_t n;
    } broken[] = {
        {"broken-not-object", "[1,2]", 8},
        {"broken-json", "{\"t\":{\"dtype\":\"F32\",", 8},
        {"broken-unknown-dtype", "{\"t\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8},
        {"broken-five-dims",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,8],\"data_offsets\":[0,8]}}", 8},
        {"broken-offsets-reversed",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8},
        {"broken-past-end", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8},
        {"broken-shape-mismatch",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8},
        {"broken-overlap",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[0,6]},"
         "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
         8},
        {"broken-duplicate-name",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
         "\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
         8},
        {"broken-metadata-number", "{\"__metadata__\":{\"a\":1}}", 0},
        {"broken-metadata-array", "{\"__metadata__\":[]}", 0},
        {"broken-negative-shape",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[-8],\"data_offsets\":[0,8]}}", 8},
        {"broken-shape-overflow",
         "{\"t\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8},
        {"broken-float-offset", "{\"t\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0.0,8]}}",
         8},
        {"broken-entry-string", "{\"t\":\"F32\"}", 0},
        {"broken-huge-offset",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18446744073709551615,0]}}", 8},
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
        st_seed(broken[i].name, broken[i].header, data, broken[i].n);
    snprintf(h, sizeof h, "{%s}", one);
    st_seed("seed-one-tensor.safetensors", h, data, 8);
    buf b = {0};
    put_u8(&b, 0);
    put_le(&b, 1000, 8);
    put_str(&b, "{}");
    write_seed("safetensors_header", "broken-header-length-past-end", b.p, b.n);
    buf_free(&b);
    put_u8(&b, 0);
    put_le(&b, 1, 8);
    put_str(&b, "{");
    write_seed("safetensors_header", "broken-header-length-1", b.p, b.n);
    buf_free(&b);
    put_u8(&b, 0);
    put_le(&b, 2, 8);
    put_str(&b, "[]");
    write_seed("safetensors_header", "broken-header-not-brace", b.p, b.n);
    buf_free(&b);
    write_seed("safetensors_header", "broken-short", "\x00\x05\x00\x00", 4);

    /* sharded: index + shard a (tensor "w"); b.safetensors holds "x" and "y" */
    const char *shard_a = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    st_index_seed("seed-index.json",
                  "{\"metadata\":{\"total_size\":18},\"weight_map\":{\"w\":\"a.safetensors\","
                  "\"x\":\"b.safetensors\",\"y\":\"b.safetensors\"}}",
                  shard_a, data, 8);
    st_index_seed("seed-index-b-only.json", "{\"weight_map\":{\"y\":\"b.safetensors\"}}", NULL,
                  NULL, 0);
    st_index_seed("broken-index-missing-tensor", "{\"weight_map\":{\"z\":\"b.safetensors\"}}", NULL,
                  NULL, 0);
    st_index_seed("broken-index-missing-file", "{\"weight_map\":{\"w\":\"c.safetensors\"}}", NULL,
                  NULL, 0);
    st_index_seed("broken-index-parent-path", "{\"weight_map\":{\"w\":\"../a.safetensors\"}}",
                  shard_a, data, 8);
    st_index_seed("broken-index-absolute-path", "{\"weight_map\":{\"w\":\"/etc/passwd\"}}", NULL,
                  NULL, 0);
    st_index_seed("broken-index-no-weight-map", "{\"metadata\":{}}", NULL, NULL, 0);
    st_index_seed("broken-index-not-string", "{\"weight_map\":{\"w\":3}}", NULL, NULL, 0);
    st_index_seed("broken-index-json", "{\"weight_map\":{\"w\":", NULL, NULL, 0);
    st_index_seed("broken-index-bad-shard",
                  "{\"weight_map\":{\"w\":\"a.safetensors\",\"x\":\"b.safetensors\"}}",
                  "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}", data, 8);
}

/* ------------------------------------------------------------------------
** dequant_blocks: type byte, flags byte, block data.
*/
void seeds_dequant(void) {
    for (int t = 0; t < QK_TYPE_COUNT; t++) {
        const qk_type_traits *tr = qk_type_get_traits((qk_type)t);
        int64_t n = tr->block_elems > 1 ? 2 * (int64_t)tr->block_elems : 16;
        size_t bytes;
        check(qk_type_row_bytes((qk_type)t, n, &bytes), "row bytes");
        char name[64];
        buf b = {0};
        /* random blocks, no options */
        put_u8(&b, (unsigned)t);
        put_u8(&b, 0);
        for (size_t k = 0; k < bytes; k++) put_u8(&b, rnd8());
        snprintf(name, sizeof name, "seed-%s-random", tr->name);
        write_seed("dequant_blocks", name, b.p, b.n);
        buf_free(&b);
        /* blocks made by the quantizer when it handles the type, with
           importance and a second type */
        float *x = malloc((size_t)n * sizeof *x);
        unsigned char *q = malloc(bytes);
        for (int64_t k = 0; k < n; k++) x[k] = (float)((k * 29) % 31) * 0.125f - 1.9f;
        if (qk_quantize_row((qk_type)t, x, q, n, NULL) == QK_OK) {
            put_u8(&b, (unsigned)t);
            put_u8(&b, 1 | 2 | (unsigned)((t * 5 + 3) % QK_TYPE_COUNT) << 2);
            put(&b, q, bytes);
            snprintf(name, sizeof name, "seed-%s-quantized", tr->name);
            write_seed("dequant_blocks", name, b.p, b.n);
            buf_free(&b);
        }
        free(x);
        free(q);
        /* all bits set: NaN / Inf scales */
        put_u8(&b, (unsigned)t);
        put_u8(&b, 1);
        for (size_t k = 0; k < bytes; k++) put_u8(&b, 0xFF);
        snprintf(name, sizeof name, "seed-%s-ones", tr->name);
        write_seed("dequant_blocks", name, b.p, b.n);
        buf_free(&b);
    }
    write_seed("dequant_blocks", "broken-empty", "", 0);
    write_seed("dequant_blocks", "broken-partial-block", "\x13\x00\x01\x02\x03", 5);
}
