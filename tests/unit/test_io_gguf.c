/*
** GGUF reader on valid files: a hand-made file holding every value type,
** arrays (of strings too) and a custom alignment, and llama.cpp's files
** from the shared fixtures (values checked against the converter's inputs:
** config.json, the tokenizer's special ids, the tensor shapes).
*/
#include "io_test_util.h"

/* Byte offsets the test needs, recorded while building. */
typedef struct handmade {
    tb b;
    size_t data_offset;
} handmade;

static void build_handmade(handmade *h, uint32_t version) {
    tb *b = &h->b;
    memset(h, 0, sizeof *h);
    tb_u32(b, 0x46554747u);
    tb_u32(b, version);
    tb_u64(b, 2);  /* tensors */
    tb_u64(b, 16); /* kvs */
    tb_gstr(b, "t.u8"), tb_u32(b, 0), tb_u8(b, 200);
    tb_gstr(b, "t.i8"), tb_u32(b, 1), tb_u8(b, (uint8_t)-5);
    tb_gstr(b, "t.u16"), tb_u32(b, 2), tb_u8(b, 0x60), tb_u8(b, 0xEA); /* 60000 */
    tb_gstr(b, "t.i16"), tb_u32(b, 3), tb_u8(b, 0xD0), tb_u8(b, 0x8A); /* -30000 */
    tb_gstr(b, "t.u32"), tb_u32(b, 4), tb_u32(b, 4000000000u);
    tb_gstr(b, "t.i32"), tb_u32(b, 5), tb_u32(b, (uint32_t)-2000000000);
    tb_gstr(b, "t.f32"), tb_u32(b, 6), tb_f32(b, 1.5f);
    tb_gstr(b, "t.bool"), tb_u32(b, 7), tb_u8(b, 1);
    tb_gstr(b, "t.str"), tb_u32(b, 8), tb_gstr(b, "h\xc3\xa9llo");
    tb_gstr(b, "t.u64"), tb_u32(b, 10), tb_u64(b, 0x8000000000000005ull);
    tb_gstr(b, "t.i64"), tb_u32(b, 11), tb_u64(b, (uint64_t) - (int64_t)1099511627776);
    tb_gstr(b, "t.f64"), tb_u32(b, 12), tb_f64(b, 0.1);
    tb_gstr(b, "t.arr_i32"), tb_u32(b, 9), tb_u32(b, 5), tb_u64(b, 3);
    tb_u32(b, 1), tb_u32(b, (uint32_t)-2), tb_u32(b, 3);
    tb_gstr(b, "t.arr_str"), tb_u32(b, 9), tb_u32(b, 8), tb_u64(b, 3);
    tb_gstr(b, "a"), tb_gstr(b, ""), tb_gstr(b, "xyz");
    tb_gstr(b, "t.arr_empty"), tb_u32(b, 9), tb_u32(b, 6), tb_u64(b, 0);
    tb_gstr(b, "general.alignment"), tb_u32(b, 4), tb_u32(b, 64);
    /* tensor infos: w [3,4] f32 at 0 (48 bytes), q [32] q8_0 at 64 (34 bytes) */
    tb_gstr(b, "w"), tb_u32(b, 2), tb_u64(b, 4), tb_u64(b, 3), tb_u32(b, 0), tb_u64(b, 0);
    tb_gstr(b, "q"), tb_u32(b, 1), tb_u64(b, 32), tb_u32(b, 8), tb_u64(b, 64);
    tb_pad(b, 64);
    h->data_offset = b->n;
    for (int i = 0; i < 12; i++) tb_f32(b, (float)i - 5.5f);
    tb_pad(b, 64);
    for (int i = 0; i < 34; i++) tb_u8(b, (uint8_t)(i * 7));
    tb_pad(b, 64);
}

static void test_handmade_values(void **state) {
    (void)state;
    handmade h;
    build_handmade(&h, 3);
    const char *path = tb_save(&h.b, "all_types.gguf");
    qk_gguf_reader *r = NULL;
    QK_ASSERT_OK(qk_gguf_reader_open(path, &r));
    assert_int_equal(qk_gguf_reader_version(r), 3);
    assert_int_equal(qk_gguf_reader_alignment(r), 64);
    assert_int_equal(qk_gguf_reader_data_offset(r), h.data_offset);
    assert_int_equal(h.data_offset % 64, 0);
    assert_int_equal(qk_gguf_reader_kv_count(r), 16);
    assert_string_equal(qk_gguf_reader_kv_key(r, 0), "t.u8");
    assert_null(qk_gguf_reader_kv_key(r, 16));

    uint8_t u8;
    int8_t i8;
    uint16_t u16;
    int16_t i16;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    bool bo;
    const char *s;
    QK_ASSERT_OK(qk_gguf_reader_get_u8(r, "t.u8", &u8));
    assert_int_equal(u8, 200);
    QK_ASSERT_OK(qk_gguf_reader_get_i8(r, "t.i8", &i8));
    assert_int_equal(i8, -5);
    QK_ASSERT_OK(qk_gguf_reader_get_u16(r, "t.u16", &u16));
    assert_int_equal(u16, 60000);
    QK_ASSERT_OK(qk_gguf_reader_get_i16(r, "t.i16", &i16));
    assert_int_equal(i16, -30000);
    QK_ASSERT_OK(qk_gguf_reader_get_u32(r, "t.u32", &u32));
    assert_true(u32 == 4000000000u);
    QK_ASSERT_OK(qk_gguf_reader_get_i32(r, "t.i32", &i32));
    assert_int_equal(i32, -2000000000);
    QK_ASSERT_OK(qk_gguf_reader_get_f32(r, "t.f32", &f32));
    QK_ASSERT_F32_BITS_EQ(f32, 1.5f);
    QK_ASSERT_OK(qk_gguf_reader_get_bool(r, "t.bool", &bo));
    assert_true(bo);
    QK_ASSERT_OK(qk_gguf_reader_get_str(r, "t.str", &s));
    assert_string_equal(s, "h\xc3\xa9llo");
    QK_ASSERT_OK(qk_gguf_reader_get_u64(r, "t.u64", &u64));
    assert_true(u64 == 0x8000000000000005ull);
    QK_ASSERT_OK(qk_gguf_reader_get_i64(r, "t.i64", &i64));
    assert_true(i64 == -1099511627776ll);
    QK_ASSERT_OK(qk_gguf_reader_get_f64(r, "t.f64", &f64));
    assert_true(f64 == 0.1);

    /* any-integer getter */
    QK_ASSERT_OK(qk_gguf_reader_get_int(r, "t.i16", &i64));
    assert_int_equal(i64, -30000);
    QK_ASSERT_OK(qk_gguf_reader_get_int(r, "t.u32", &i64));
    assert_int_equal(i64, 4000000000ll);
    QK_ASSERT_STATUS(qk_gguf_reader_get_int(r, "t.u64", &i64), QK_ERR_OVERFLOW);
    QK_ASSERT_STATUS(qk_gguf_reader_get_int(r, "t.f32", &i64), QK_ERR_CORRUPT);

    /* wrong type, missing key */
    QK_ASSERT_STATUS(qk_gguf_reader_get_u32(r, "t.i32", &u32), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("'t.i32' has type i32, expected u32");
    QK_ASSERT_STATUS(qk_gguf_reader_get_u32(r, "nope", &u32), QK_ERR_NOT_FOUND);
    QK_ASSERT_MSG_HAS("no key 'nope'");
    QK_ASSERT_MSG_HAS(path);

    /* arrays */
    const void *data;
    uint64_t n;
    QK_ASSERT_OK(qk_gguf_reader_get_arr(r, "t.arr_i32", QK_GGUF_I32, &data, &n));
    assert_int_equal(n, 3);
    int32_t arr[3];
    QK_ASSERT_OK(qk_gguf_reader_copy_arr(r, "t.arr_i32", QK_GGUF_I32, arr, 3));
    assert_int_equal(arr[0], 1);
    assert_int_equal(arr[1], -2);
    assert_int_equal(arr[2], 3);
    assert_memory_equal(data, arr, 12);
    QK_ASSERT_STATUS(qk_gguf_reader_copy_arr(r, "t.arr_i32", QK_GGUF_I32, arr, 2), QK_ERR_SHAPE);
    QK_ASSERT_STATUS(qk_gguf_reader_get_arr(r, "t.arr_i32", QK_GGUF_U32, &data, &n),
                     QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("array of i32");
    QK_ASSERT_OK(qk_gguf_reader_get_arr(r, "t.arr_empty", QK_GGUF_F32, &data, &n));
    assert_int_equal(n, 0);
    QK_ASSERT_OK(qk_gguf_reader_get_arr(r, "t.arr_str", QK_GGUF_STRING, NULL, &n));
    assert_int_equal(n, 3);
    int64_t ai = qk_gguf_reader_find_key(r, "t.arr_str");
    assert_int_equal(ai, 13);
    const char *es;
    uint64_t elen;
    QK_ASSERT_OK(qk_gguf_reader_arr_str(r, ai, 0, &es, &elen));
    assert_int_equal(elen, 1);
    assert_memory_equal(es, "a", 1);
    QK_ASSERT_OK(qk_gguf_reader_arr_str(r, ai, 1, &es, &elen));
    assert_int_equal(elen, 0);
    QK_ASSERT_OK(qk_gguf_reader_arr_str(r, ai, 2, &es, &elen));
    assert_int_equal(elen, 3);
    assert_memory_equal(es, "xyz", 3);
    QK_ASSERT_STATUS(qk_gguf_reader_arr_str(r, ai, 3, &es, &elen), QK_ERR_INVALID_ARG);

    /* generic value access */
    qk_gguf_value v;
    QK_ASSERT_OK(qk_gguf_reader_kv_value(r, qk_gguf_reader_find_key(r, "t.i8"), &v));
    assert_int_equal(v.type, QK_GGUF_I8);
    assert_int_equal(v.v.i64, -5);
    QK_ASSERT_OK(qk_gguf_reader_kv_value(r, qk_gguf_reader_find_key(r, "t.str"), &v));
    assert_int_equal(v.type, QK_GGUF_STRING);
    assert_int_equal(v.str_len, 6);
    QK_ASSERT_OK(qk_gguf_reader_kv_value(r, ai, &v));
    assert_int_equal(v.type, QK_GGUF_ARRAY);
    assert_int_equal(v.elem_type, QK_GGUF_STRING);
    assert_int_equal(v.n, 3);
    assert_null(v.data);

    /* tensors */
    assert_int_equal(qk_gguf_reader_tensor_count(r), 2);
    assert_int_equal(qk_gguf_reader_find_tensor(r, "q"), 1);
    assert_int_equal(qk_gguf_reader_find_tensor(r, "missing"), -1);
    qk_io_tensor t;
    QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, 0, &t));
    assert_string_equal(t.name, "w");
    assert_int_equal(t.type, QK_TYPE_F32);
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.shape[0], 3); /* ne = [4, 3] -> outermost first [3, 4] */
    assert_int_equal(t.shape[1], 4);
    assert_int_equal(t.offset, h.data_offset);
    assert_int_equal(t.nbytes, 48);
    assert_int_equal(qk_io_tensor_numel(&t), 12);
    float w[12];
    memcpy(w, t.data, 48);
    for (int i = 0; i < 12; i++) QK_ASSERT_F32_BITS_EQ(w[i], (float)i - 5.5f);
    QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, 1, &t));
    assert_string_equal(t.name, "q");
    assert_int_equal(t.type, QK_TYPE_Q8_0);
    assert_int_equal(t.ndim, 1);
    assert_int_equal(t.shape[0], 32);
    assert_int_equal(t.nbytes, 34);
    assert_int_equal(t.offset, h.data_offset + 64);
    assert_int_equal(qk_gguf_reader_tensor_rel_offset(r, 1), 64);
    assert_int_equal(((const unsigned char *)t.data)[33], (33 * 7) & 0xFF);
    QK_ASSERT_STATUS(qk_gguf_reader_tensor_info(r, 2, &t), QK_ERR_INVALID_ARG);
    qk_gguf_reader_close(r);
    tb_free(&h.b);
}

static void test_version2_accepted(void **state) {
    (void)state;
    handmade h;
    build_handmade(&h, 2);
    qk_gguf_reader *r = NULL;
    QK_ASSERT_OK(qk_gguf_reader_open(tb_save(&h.b, "v2.gguf"), &r));
    assert_int_equal(qk_gguf_reader_version(r), 2);
    assert_int_equal(qk_gguf_reader_tensor_count(r), 2);
    qk_gguf_reader_close(r);
    tb_free(&h.b);
}

static void test_type_ids(void **state) {
    (void)state;
    static const struct {
        uint32_t id;
        qk_type type;
    } known[] = {{0, QK_TYPE_F32},   {1, QK_TYPE_F16},   {2, QK_TYPE_Q4_0},    {3, QK_TYPE_Q4_1},
                 {6, QK_TYPE_Q5_0},  {7, QK_TYPE_Q5_1},  {8, QK_TYPE_Q8_0},    {9, QK_TYPE_Q8_1},
                 {10, QK_TYPE_Q2_K}, {11, QK_TYPE_Q3_K}, {12, QK_TYPE_Q4_K},   {13, QK_TYPE_Q5_K},
                 {14, QK_TYPE_Q6_K}, {15, QK_TYPE_Q8_K}, {20, QK_TYPE_IQ4_NL}, {24, QK_TYPE_I8},
                 {25, QK_TYPE_I16},  {26, QK_TYPE_I32},  {27, QK_TYPE_I64},    {28, QK_TYPE_F64},
                 {30, QK_TYPE_BF16}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        qk_type t;
        uint32_t id;
        QK_ASSERT_OK(qk_gguf_type_from_ggml(known[i].id, &t));
        assert_int_equal(t, known[i].type);
        QK_ASSERT_OK(qk_gguf_type_to_ggml(known[i].type, &id));
        assert_int_equal(id, known[i].id);
    }
    qk_type t;
    uint32_t id;
    QK_ASSERT_STATUS(qk_gguf_type_from_ggml(4, &t), QK_ERR_UNKNOWN_TYPE);
    QK_ASSERT_STATUS(qk_gguf_type_from_ggml(16, &t), QK_ERR_UNKNOWN_TYPE);
    QK_ASSERT_MSG_HAS("iq2_xxs");
    QK_ASSERT_STATUS(qk_gguf_type_to_ggml(QK_TYPE_U8, &id), QK_ERR_UNSUPPORTED);
    QK_ASSERT_STATUS(qk_gguf_type_to_ggml(QK_TYPE_F8_E4M3, &id), QK_ERR_UNSUPPORTED);
    assert_string_equal(qk_gguf_ggml_type_name(12), "q4_K");
    assert_null(qk_gguf_ggml_type_name(5));
    assert_int_equal(qk_gguf_value_type_size(QK_GGUF_BOOL), 1);
    assert_int_equal(qk_gguf_value_type_size(QK_GGUF_STRING), 0);
    assert_string_equal(qk_gguf_value_type_name(QK_GGUF_F64), "f64");
}

/* llama.cpp's F32 conversion of models/fixture-llama-7m: the keys carry
** config.json's numbers (hidden 256, ff 768, 6 layers, 8 heads, 4 KV heads,
** ctx 512, vocab 4096, theta 10000, eps 1e-5) and tokenizer ids unk 0, bos 1,
** eos 2; every tensor is f32 and laid out back to back with 32-byte
** padding. */
static void test_fixture_llama_f32(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *path =
        qk_test_fixture("golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-F32.gguf");
    qk_gguf_reader *r = NULL;
    QK_ASSERT_OK(qk_gguf_reader_open(path, &r));
    assert_int_equal(qk_gguf_reader_version(r), 3);
    assert_int_equal(qk_gguf_reader_alignment(r), 32);
    assert_int_equal(qk_gguf_reader_file_size(r), 27372000); /* fixtures README */
    const char *s;
    QK_ASSERT_OK(qk_gguf_reader_get_str(r, "general.architecture", &s));
    assert_string_equal(s, "llama");
    struct {
        const char *key;
        uint32_t value;
    } u32s[] = {{"llama.block_count", 6},
                {"llama.context_length", 512},
                {"llama.embedding_length", 256},
                {"llama.feed_forward_length", 768},
                {"llama.attention.head_count", 8},
                {"llama.attention.head_count_kv", 4},
                {"llama.vocab_size", 4096},
                {"llama.rope.dimension_count", 32},
                {"tokenizer.ggml.bos_token_id", 1},
                {"tokenizer.ggml.eos_token_id", 2},
                {"general.file_type", 0}};
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++) {
        uint32_t v;
        QK_ASSERT_OK(qk_gguf_reader_get_u32(r, u32s[i].key, &v));
        if (v != u32s[i].value) fail_msg("%s = %u, expected %u", u32s[i].key, v, u32s[i].value);
    }
    float f;
    QK_ASSERT_OK(qk_gguf_reader_get_f32(r, "llama.rope.freq_base", &f));
    QK_ASSERT_F32_BITS_EQ(f, 10000.0f);
    QK_ASSERT_OK(qk_gguf_reader_get_f32(r, "llama.attention.layer_norm_rms_epsilon", &f));
    QK_ASSERT_F32_BITS_EQ(f, 1e-5f);
    bool add_bos;
    QK_ASSERT_OK(qk_gguf_reader_get_bool(r, "tokenizer.ggml.add_bos_token", &add_bos));
    assert_true(add_bos);

    uint64_t n;
    QK_ASSERT_OK(qk_gguf_reader_get_arr(r, "tokenizer.ggml.tokens", QK_GGUF_STRING, NULL, &n));
    assert_int_equal(n, 4096);
    int64_t ti = qk_gguf_reader_find_key(r, "tokenizer.ggml.tokens");
    const char *tok;
    uint64_t len;
    const char *expect[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) {
        QK_ASSERT_OK(qk_gguf_reader_arr_str(r, ti, (uint64_t)i, &tok, &len));
        assert_int_equal(len, strlen(expect[i]));
        assert_memory_equal(tok, expect[i], len);
    }
    int32_t *types = malloc(4096 * sizeof *types);
    QK_ASSERT_OK(qk_gguf_reader_copy_arr(r, "tokenizer.ggml.token_type", QK_GGUF_I32, types, 4096));
    assert_int_equal(types[0], 2); /* UNKNOWN */
    assert_int_equal(types[1], 3); /* CONTROL */
    assert_int_equal(types[2], 3);
    free(types);

    /* 57 tensors = embeddings, output, output_norm + 6 layers x 9 */
    assert_int_equal(qk_gguf_reader_tensor_count(r), 57);
    size_t total = 0;
    uint64_t expect_offset = qk_gguf_reader_data_offset(r);
    for (int64_t i = 0; i < 57; i++) {
        qk_io_tensor t;
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, i, &t));
        assert_int_equal(t.type, QK_TYPE_F32);
        assert_int_equal(t.offset, expect_offset);
        expect_offset += (t.nbytes + 31) / 32 * 32;
        total += t.nbytes;
    }
    assert_int_equal(expect_offset, 27372000);
    assert_int_equal(total / 4, 6819072); /* 4096x256x2 + 256 + 6 x 786944 (6.82 M, README) */
    qk_io_tensor t;
    QK_ASSERT_OK(
        qk_gguf_reader_tensor_info(r, qk_gguf_reader_find_tensor(r, "blk.3.attn_k.weight"), &t));
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.shape[0], 128); /* 4 KV heads x head_dim 32 */
    assert_int_equal(t.shape[1], 256);
    QK_ASSERT_OK(
        qk_gguf_reader_tensor_info(r, qk_gguf_reader_find_tensor(r, "blk.0.ffn_down.weight"), &t));
    assert_int_equal(t.shape[0], 256);
    assert_int_equal(t.shape[1], 768);
    QK_ASSERT_OK(
        qk_gguf_reader_tensor_info(r, qk_gguf_reader_find_tensor(r, "output_norm.weight"), &t));
    assert_int_equal(t.ndim, 1);
    assert_int_equal(t.shape[0], 256);
    qk_gguf_reader_close(r);
}

/* Quantized files: tensor types and sizes follow the block layouts
** (q4_K 144 bytes and q6_K 210 bytes per 256, q8_0 34 per 32). */
static void test_fixture_quantized(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_gguf_reader *r = NULL;
    QK_ASSERT_OK(qk_gguf_reader_open(
        qk_test_fixture("golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-Q4_K-pure.gguf"), &r));
    qk_io_tensor t;
    QK_ASSERT_OK(
        qk_gguf_reader_tensor_info(r, qk_gguf_reader_find_tensor(r, "blk.0.attn_q.weight"), &t));
    assert_int_equal(t.type, QK_TYPE_Q4_K);
    assert_int_equal(t.nbytes, 256 * 144);
    QK_ASSERT_OK(
        qk_gguf_reader_tensor_info(r, qk_gguf_reader_find_tensor(r, "blk.0.attn_norm.weight"), &t));
    assert_int_equal(t.type, QK_TYPE_F32);
    uint32_t ft;
    QK_ASSERT_OK(qk_gguf_reader_get_u32(r, "general.file_type", &ft));
    assert_int_equal(ft, 15); /* LLAMA_FTYPE_MOSTLY_Q4_K_M, what --pure keeps for Q4_K */
    qk_gguf_reader_close(r);

    QK_ASSERT_OK(qk_gguf_reader_open(
        qk_test_fixture("golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-Q6_K-pure.gguf"), &r));
    QK_ASSERT_OK(
        qk_gguf_reader_tensor_info(r, qk_gguf_reader_find_tensor(r, "blk.2.ffn_down.weight"), &t));
    assert_int_equal(t.type, QK_TYPE_Q6_K);
    assert_int_equal(t.nbytes, 256 * 3 * 210);
    qk_gguf_reader_close(r);

    QK_ASSERT_OK(qk_gguf_reader_open(
        qk_test_fixture("golden/llama.cpp/stories260k/stories260K-Q8_0fb.gguf"), &r));
    QK_ASSERT_OK(
        qk_gguf_reader_tensor_info(r, qk_gguf_reader_find_tensor(r, "blk.0.ffn_down.weight"), &t));
    assert_int_equal(t.type, QK_TYPE_F16); /* 172 columns: no block format fits */
    assert_int_equal(t.shape[0], 64);
    assert_int_equal(t.shape[1], 172);
    assert_int_equal(t.nbytes, 64 * 172 * 2);
    QK_ASSERT_OK(
        qk_gguf_reader_tensor_info(r, qk_gguf_reader_find_tensor(r, "blk.0.ffn_up.weight"), &t));
    assert_int_equal(t.type, QK_TYPE_Q8_0);
    assert_int_equal(t.nbytes, 172 * 2 * 34);
    qk_gguf_reader_close(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handmade_values),   cmocka_unit_test(test_version2_accepted),
        cmocka_unit_test(test_type_ids),          cmocka_unit_test(test_fixture_llama_f32),
        cmocka_unit_test(test_fixture_quantized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
