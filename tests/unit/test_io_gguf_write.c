/*
** GGUF writer: the bytes it writes equal a file encoded by hand from the
** format description (gguf.h); reading them back gives the same values;
** copying quantkit's and llama.cpp's files reproduces them byte for byte;
** misuse is refused and leaves nothing at the destination.
*/
#include "io_test_util.h"

#include <dirent.h>   /* opendir */
#include <sys/stat.h> /* mkdir, stat */

/* Tensor payloads shared by the writer and the hand encoding. */
static float w_f32[2 * 3 * 5];
static unsigned char w_q8[2 * 34];
static uint16_t w_bf16[7];

static void fill_payloads(void) {
    for (int i = 0; i < 30; i++) w_f32[i] = (float)i * 0.25f - 3.0f;
    for (int i = 0; i < 68; i++) w_q8[i] = (unsigned char)(i * 37 + 3);
    for (int i = 0; i < 7; i++) w_bf16[i] = (uint16_t)(0x3F80 + i);
}

/* The expected file, encoded by hand: alignment 64, three tensors
** f32 [2,3,5] (120 bytes), q8_0 [64] (68 bytes), bf16 [7] (14 bytes) at
** offsets 0, 128, 256. */
static void encode_expected(tb *b) {
    tb_u32(b, 0x46554747u), tb_u32(b, 3), tb_u64(b, 3), tb_u64(b, 8);
    tb_gstr(b, "general.architecture"), tb_u32(b, 8), tb_gstr(b, "llama");
    tb_gstr(b, "general.alignment"), tb_u32(b, 4), tb_u32(b, 64);
    tb_gstr(b, "a.u16"), tb_u32(b, 2), tb_u8(b, 0x34), tb_u8(b, 0x12);
    tb_gstr(b, "a.i64"), tb_u32(b, 11), tb_u64(b, (uint64_t)-7);
    tb_gstr(b, "a.f64"), tb_u32(b, 12), tb_f64(b, -2.5);
    tb_gstr(b, "a.bool"), tb_u32(b, 7), tb_u8(b, 0);
    tb_gstr(b, "a.arr_f32"), tb_u32(b, 9), tb_u32(b, 6), tb_u64(b, 2), tb_f32(b, 1.0f),
        tb_f32(b, -0.5f);
    tb_gstr(b, "a.arr_str"), tb_u32(b, 9), tb_u32(b, 8), tb_u64(b, 2), tb_gstr(b, "<s>"),
        tb_gstr(b, "x y");
    tb_gstr(b, "w.f32"), tb_u32(b, 3), tb_u64(b, 5), tb_u64(b, 3), tb_u64(b, 2), tb_u32(b, 0),
        tb_u64(b, 0);
    tb_gstr(b, "w.q8"), tb_u32(b, 1), tb_u64(b, 64), tb_u32(b, 8), tb_u64(b, 128);
    tb_gstr(b, "w.bf16"), tb_u32(b, 1), tb_u64(b, 7), tb_u32(b, 30), tb_u64(b, 256);
    tb_pad(b, 64);
    tb_bytes(b, w_f32, sizeof w_f32), tb_pad(b, 64);
    tb_bytes(b, w_q8, sizeof w_q8), tb_pad(b, 64);
    tb_bytes(b, w_bf16, sizeof w_bf16), tb_pad(b, 64);
}

/* The same file through the writer, data streamed in 7-byte chunks. */
static qk_status write_with_writer(const char *path) {
    qk_gguf_writer *w = NULL;
    qk_status st = qk_gguf_writer_create(path, &w);
    if (st != QK_OK) return st;
    const char *strs[2] = {"<s>", "x y"};
    const float arr[2] = {1.0f, -0.5f};
    const int64_t s0[3] = {2, 3, 5}, s1[1] = {64}, s2[1] = {7};
    st = qk_gguf_writer_add_str(w, "general.architecture", "llama");
    if (st == QK_OK) st = qk_gguf_writer_add_u32(w, "general.alignment", 64);
    if (st == QK_OK) st = qk_gguf_writer_add_u16(w, "a.u16", 0x1234);
    if (st == QK_OK) st = qk_gguf_writer_add_i64(w, "a.i64", -7);
    if (st == QK_OK) st = qk_gguf_writer_add_f64(w, "a.f64", -2.5);
    if (st == QK_OK) st = qk_gguf_writer_add_bool(w, "a.bool", false);
    if (st == QK_OK) st = qk_gguf_writer_add_arr(w, "a.arr_f32", QK_GGUF_F32, arr, 2);
    if (st == QK_OK) st = qk_gguf_writer_add_arr_str(w, "a.arr_str", strs, NULL, 2);
    if (st == QK_OK) st = qk_gguf_writer_add_tensor(w, "w.f32", QK_TYPE_F32, 3, s0);
    if (st == QK_OK) st = qk_gguf_writer_add_tensor(w, "w.q8", QK_TYPE_Q8_0, 1, s1);
    if (st == QK_OK) st = qk_gguf_writer_add_tensor(w, "w.bf16", QK_TYPE_BF16, 1, s2);
    if (st == QK_OK) st = qk_gguf_writer_begin(w);
    /* all payloads back to back, streamed in odd chunks across tensor ends */
    unsigned char all[sizeof w_f32 + sizeof w_q8 + sizeof w_bf16];
    memcpy(all, w_f32, sizeof w_f32);
    memcpy(all + sizeof w_f32, w_q8, sizeof w_q8);
    memcpy(all + sizeof w_f32 + sizeof w_q8, w_bf16, sizeof w_bf16);
    for (size_t at = 0; st == QK_OK && at < sizeof all; at += 7) {
        size_t k = sizeof all - at < 7 ? sizeof all - at : 7;
        st = qk_gguf_writer_write(w, all + at, k);
    }
    if (st == QK_OK) assert_int_equal(qk_gguf_writer_current_tensor(w), 3);
    if (st == QK_OK) st = qk_gguf_writer_commit(w);
    qk_gguf_writer_free(w);
    return st;
}

static void assert_files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    unsigned char *da = qk_test_read_file(a, &na), *db = qk_test_read_file(b, &nb);
    assert_non_null(da);
    assert_non_null(db);
    if (na != nb) fail_msg("%s has %zu bytes, %s has %zu", a, na, b, nb);
    for (size_t i = 0; i < na; i++)
        if (da[i] != db[i]) fail_msg("%s and %s differ at byte %zu", a, b, i);
    free(da);
    free(db);
}

static void test_bytes_match_hand_encoding(void **state) {
    (void)state;
    fill_payloads();
    tb expect = {0};
    encode_expected(&expect);
    const char *want = tb_save(&expect, "expected.gguf");
    const char *got = qk_test_tmp_path("written.gguf");
    QK_ASSERT_OK(write_with_writer(got));
    assert_files_equal(want, got);
    tb_free(&expect);

    /* and the reader sees the same values */
    qk_gguf_reader *r = NULL;
    QK_ASSERT_OK(qk_gguf_reader_open(got, &r));
    assert_int_equal(qk_gguf_reader_alignment(r), 64);
    uint16_t u16;
    QK_ASSERT_OK(qk_gguf_reader_get_u16(r, "a.u16", &u16));
    assert_int_equal(u16, 0x1234);
    qk_io_tensor t;
    QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, 0, &t));
    assert_int_equal(t.ndim, 3);
    assert_int_equal(t.shape[0], 2);
    assert_int_equal(t.shape[2], 5);
    assert_memory_equal(t.data, w_f32, sizeof w_f32);
    QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, 2, &t));
    assert_int_equal(t.type, QK_TYPE_BF16);
    assert_memory_equal(t.data, w_bf16, sizeof w_bf16);
    qk_gguf_reader_close(r);
}

static void test_copy_own_file(void **state) {
    (void)state;
    fill_payloads();
    const char *a = qk_test_tmp_path("own.gguf"), *b = qk_test_tmp_path("own-copy.gguf");
    QK_ASSERT_OK(write_with_writer(a));
    QK_ASSERT_OK(qk_gguf_copy(a, b));
    assert_files_equal(a, b);
}

/* llama.cpp's files (gguf-py's writer for the converted F32 model,
** gguf.cpp's for the quantized and llama2.c ones) come back identical. */
static void test_copy_llama_cpp_files(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *files[] = {
        "golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-F32.gguf",
        "golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-Q4_K_M.gguf",
        "golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-Q2_K-pure.gguf",
        "golden/llama.cpp/stories260k/stories260K-f32.gguf",
        "golden/llama.cpp/stories260k/stories260K-Q8_0fb.gguf",
        "golden/llama.cpp/stories260k/stories260K-Q4_0fb.gguf",
    };
    const char *out = qk_test_tmp_path("llama-copy.gguf");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *src = qk_test_fixture(files[i]);
        QK_ASSERT_OK(qk_gguf_copy(src, out));
        assert_files_equal(src, out);
    }
    remove(out);
}

static int entries_named(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

static void test_misuse(void **state) {
    (void)state;
    const char *dir = qk_test_tmp_path("misuse");
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    const int64_t s32[1] = {32}, s33[1] = {33};
    float data[32] = {0};

    qk_gguf_writer *w = NULL;
    QK_ASSERT_OK(qk_gguf_writer_create(path, &w));
    QK_ASSERT_OK(qk_gguf_writer_add_u32(w, "k", 1));
    QK_ASSERT_STATUS(qk_gguf_writer_add_f32(w, "k", 1.0f), QK_ERR_INVALID_ARG);
    QK_ASSERT_MSG_HAS("duplicate key 'k'");
    QK_ASSERT_STATUS(qk_gguf_writer_add_u32(w, "", 1), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_gguf_writer_add_u32(w, "general.alignment", 48), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_gguf_writer_add_u64(w, "general.alignment", 64), QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_gguf_writer_add_arr(w, "s", QK_GGUF_STRING, data, 1), QK_ERR_INVALID_ARG);
    QK_ASSERT_OK(qk_gguf_writer_add_tensor(w, "t", QK_TYPE_F32, 1, s32));
    QK_ASSERT_STATUS(qk_gguf_writer_add_tensor(w, "t", QK_TYPE_F32, 1, s32), QK_ERR_INVALID_ARG);
    QK_ASSERT_MSG_HAS("duplicate tensor name 't'");
    QK_ASSERT_STATUS(qk_gguf_writer_add_tensor(w, "u", QK_TYPE_Q8_0, 1, s33), QK_ERR_SHAPE);
    QK_ASSERT_MSG_HAS("tensor 'u'");
    QK_ASSERT_STATUS(qk_gguf_writer_add_tensor(w, "v", QK_TYPE_U8, 1, s32), QK_ERR_UNSUPPORTED);
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = '\0';
    QK_ASSERT_STATUS(qk_gguf_writer_add_tensor(w, longname, QK_TYPE_F32, 1, s32),
                     QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_gguf_writer_write(w, data, 4), QK_ERR_STATE); /* before begin */
    QK_ASSERT_OK(qk_gguf_writer_begin(w));
    QK_ASSERT_STATUS(qk_gguf_writer_add_u32(w, "late", 1), QK_ERR_STATE);
    QK_ASSERT_OK(qk_gguf_writer_write(w, data, 64));
    /* commit with 64 of 128 bytes: refused, nothing at the destination */
    QK_ASSERT_STATUS(qk_gguf_writer_commit(w), QK_ERR_STATE);
    QK_ASSERT_MSG_HAS("tensor 't'");
    QK_ASSERT_MSG_HAS("64 of 128 bytes");
    qk_gguf_writer_free(w);
    assert_int_equal(entries_named(dir, "m.gguf"), 0);

    /* too much data */
    QK_ASSERT_OK(qk_gguf_writer_create(path, &w));
    QK_ASSERT_OK(qk_gguf_writer_add_tensor(w, "t", QK_TYPE_F32, 1, s32));
    QK_ASSERT_OK(qk_gguf_writer_begin(w));
    QK_ASSERT_STATUS(qk_gguf_writer_write(w, data, 129), QK_ERR_STATE);
    QK_ASSERT_STATUS(qk_gguf_writer_commit(w), QK_ERR_STATE);
    qk_gguf_writer_free(w);
    assert_int_equal(entries_named(dir, "m.gguf"), 0);

    /* an empty file (no pairs, no tensors) is valid: header only */
    QK_ASSERT_OK(qk_gguf_writer_create(path, &w));
    QK_ASSERT_OK(qk_gguf_writer_commit(w));
    qk_gguf_writer_free(w);
    size_t n = 0;
    unsigned char *bytes = qk_test_read_file(path, &n);
    assert_int_equal(n, 32); /* 24 header bytes padded to 32 */
    free(bytes);
    qk_gguf_writer_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_match_hand_encoding),
        cmocka_unit_test(test_copy_own_file),
        cmocka_unit_test(test_copy_llama_cpp_files),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
