/*
** Round trips between the containers, one tensor in memory at a time:
**   HF safetensors (bf16) -> GGUF f32 -> safetensors bf16: every tensor
**     bit-identical (bf16 -> f32 is exact and f32 -> bf16 gives it back);
**   safetensors -> GGUF (same dtype) -> safetensors: identical;
**   llama.cpp's F32 GGUF -> safetensors -> GGUF (pairs copied): the same file.
*/
#include "io_test_util.h"

/* Write every tensor of `set` to a GGUF at `path`, converted to `to` (or kept
** when `to` is QK_TYPE_COUNT). */
static void safetensors_to_gguf(const qk_safetensors_set *set, const char *path, qk_type to) {
    qk_gguf_writer *w = NULL;
    QK_ASSERT_OK(qk_gguf_writer_create(path, &w));
    QK_ASSERT_OK(qk_gguf_writer_add_str(w, "general.architecture", "llama"));
    size_t n = qk_safetensors_set_tensor_count(set);
    for (size_t i = 0; i < n; i++) {
        qk_io_tensor t;
        QK_ASSERT_OK(qk_safetensors_set_tensor_info(set, i, &t));
        QK_ASSERT_OK(qk_gguf_writer_add_tensor(w, t.name, to == QK_TYPE_COUNT ? t.type : to, t.ndim,
                                               t.shape));
    }
    QK_ASSERT_OK(qk_gguf_writer_begin(w));
    for (size_t i = 0; i < n; i++) {
        qk_io_tensor t;
        QK_ASSERT_OK(qk_safetensors_set_tensor_info(set, i, &t));
        if (to == QK_TYPE_COUNT || to == t.type) {
            QK_ASSERT_OK(qk_gguf_writer_write(w, t.data, t.nbytes));
            continue;
        }
        size_t numel = (size_t)qk_io_tensor_numel(&t), bytes;
        QK_ASSERT_OK(qk_type_row_bytes(to, (int64_t)numel, &bytes));
        void *buf = malloc(bytes ? bytes : 1);
        QK_ASSERT_OK(qk_convert(t.type, t.data, to, buf, numel));
        QK_ASSERT_OK(qk_gguf_writer_write(w, buf, bytes));
        free(buf);
    }
    QK_ASSERT_OK(qk_gguf_writer_commit(w));
    qk_gguf_writer_free(w);
}

/* Write every tensor of a GGUF to safetensors, converted to `to` (or kept). */
static void gguf_to_safetensors(const qk_gguf_reader *r, const char *path, qk_type to) {
    qk_safetensors_writer *w = NULL;
    QK_ASSERT_OK(qk_safetensors_writer_create(path, &w));
    QK_ASSERT_OK(qk_safetensors_writer_add_metadata(w, "format", "pt"));
    int64_t n = qk_gguf_reader_tensor_count(r);
    for (int64_t i = 0; i < n; i++) {
        qk_io_tensor t;
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, i, &t));
        QK_ASSERT_OK(qk_safetensors_writer_add_tensor(w, t.name, to == QK_TYPE_COUNT ? t.type : to,
                                                      t.ndim, t.shape));
    }
    QK_ASSERT_OK(qk_safetensors_writer_begin(w));
    for (int64_t i = 0; i < n; i++) {
        qk_io_tensor t;
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, i, &t));
        if (to == QK_TYPE_COUNT || to == t.type) {
            QK_ASSERT_OK(qk_safetensors_writer_write(w, t.data, t.nbytes));
            continue;
        }
        size_t numel = (size_t)qk_io_tensor_numel(&t), bytes;
        QK_ASSERT_OK(qk_type_row_bytes(to, (int64_t)numel, &bytes));
        void *buf = malloc(bytes ? bytes : 1);
        QK_ASSERT_OK(qk_convert(t.type, t.data, to, buf, numel));
        QK_ASSERT_OK(qk_safetensors_writer_write(w, buf, bytes));
        free(buf);
    }
    QK_ASSERT_OK(qk_safetensors_writer_commit(w));
    qk_safetensors_writer_free(w);
}

/* Same names, types, shapes and bytes, tensor by tensor. */
static void assert_same_tensors(const qk_safetensors_set *a, const qk_safetensors_set *b) {
    size_t n = qk_safetensors_set_tensor_count(a);
    assert_int_equal(qk_safetensors_set_tensor_count(b), n);
    for (size_t i = 0; i < n; i++) {
        qk_io_tensor x, y;
        QK_ASSERT_OK(qk_safetensors_set_tensor_info(a, i, &x));
        int64_t j = qk_safetensors_set_find_tensor(b, x.name);
        if (j < 0) fail_msg("tensor %s missing after the round trip", x.name);
        QK_ASSERT_OK(qk_safetensors_set_tensor_info(b, (size_t)j, &y));
        assert_int_equal(x.type, y.type);
        assert_int_equal(x.ndim, y.ndim);
        for (int d = 0; d < x.ndim; d++) assert_int_equal(x.shape[d], y.shape[d]);
        assert_int_equal(x.nbytes, y.nbytes);
        if (memcmp(x.data, y.data, x.nbytes) != 0) fail_msg("tensor %s differs", x.name);
    }
}

static void test_bf16_f32_bf16(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_safetensors_set *src = NULL, *back = NULL;
    QK_ASSERT_OK(qk_safetensors_set_open(qk_test_fixture("models/fixture-llama-7m"), &src));
    const char *g = qk_test_tmp_path("rt-f32.gguf"), *s = qk_test_tmp_path("rt-bf16.safetensors");
    safetensors_to_gguf(src, g, QK_TYPE_F32);

    qk_gguf_reader *r = NULL;
    QK_ASSERT_OK(qk_gguf_reader_open(g, &r));
    assert_int_equal(qk_gguf_reader_tensor_count(r), 57);
    /* every value in the GGUF is the bf16 value widened: its low 16 bits are 0 */
    qk_io_tensor t;
    QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, 0, &t));
    assert_int_equal(t.type, QK_TYPE_F32);
    const unsigned char *p = t.data;
    for (size_t i = 0; i < t.nbytes; i += 4)
        if (p[i] != 0 || p[i + 1] != 0)
            fail_msg("%s element %zu is not a widened bf16", t.name, i / 4);
    gguf_to_safetensors(r, s, QK_TYPE_BF16);
    qk_gguf_reader_close(r);

    QK_ASSERT_OK(qk_safetensors_set_open(s, &back));
    assert_same_tensors(src, back);
    qk_safetensors_set_close(back);
    qk_safetensors_set_close(src);
    remove(g);
    remove(s);
}

static void test_same_dtype(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_safetensors_set *src = NULL, *back = NULL;
    QK_ASSERT_OK(qk_safetensors_set_open(
        qk_test_fixture("models/fixture-llama-7m/model.safetensors"), &src));
    const char *g = qk_test_tmp_path("rt-bf16.gguf"), *s = qk_test_tmp_path("rt-same.safetensors");
    safetensors_to_gguf(src, g, QK_TYPE_COUNT);
    qk_gguf_reader *r = NULL;
    QK_ASSERT_OK(qk_gguf_reader_open(g, &r));
    qk_io_tensor t;
    QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, 0, &t));
    assert_int_equal(t.type, QK_TYPE_BF16);
    gguf_to_safetensors(r, s, QK_TYPE_COUNT);
    qk_gguf_reader_close(r);
    QK_ASSERT_OK(qk_safetensors_set_open(s, &back));
    assert_same_tensors(src, back);
    qk_safetensors_set_close(back);
    qk_safetensors_set_close(src);
    remove(g);
    remove(s);
}

/* llama.cpp's F32 GGUF: tensors through safetensors and back, key/value
** pairs copied: the very same file. */
static void test_gguf_safetensors_gguf(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *orig =
        qk_test_fixture("golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-F32.gguf");
    const char *s = qk_test_tmp_path("rt-f32.safetensors"), *g = qk_test_tmp_path("rt-back.gguf");
    qk_gguf_reader *r = NULL;
    QK_ASSERT_OK(qk_gguf_reader_open(orig, &r));
    gguf_to_safetensors(r, s, QK_TYPE_COUNT);

    qk_safetensors *st = NULL;
    QK_ASSERT_OK(qk_safetensors_open(s, &st));
    qk_gguf_writer *w = NULL;
    QK_ASSERT_OK(qk_gguf_writer_create(g, &w));
    for (int64_t i = 0; i < qk_gguf_reader_kv_count(r); i++)
        QK_ASSERT_OK(qk_gguf_writer_copy_kv(w, r, i));
    size_t n = qk_safetensors_tensor_count(st);
    for (size_t i = 0; i < n; i++) {
        qk_io_tensor t;
        QK_ASSERT_OK(qk_safetensors_tensor_info(st, i, &t));
        QK_ASSERT_OK(qk_gguf_writer_add_tensor(w, t.name, t.type, t.ndim, t.shape));
    }
    QK_ASSERT_OK(qk_gguf_writer_begin(w));
    for (size_t i = 0; i < n; i++) {
        qk_io_tensor t;
        QK_ASSERT_OK(qk_safetensors_tensor_info(st, i, &t));
        QK_ASSERT_OK(qk_gguf_writer_write(w, t.data, t.nbytes));
    }
    QK_ASSERT_OK(qk_gguf_writer_commit(w));
    qk_gguf_writer_free(w);
    qk_safetensors_close(st);
    qk_gguf_reader_close(r);

    size_t na = 0, nb = 0;
    unsigned char *a = qk_test_read_file(orig, &na), *b = qk_test_read_file(g, &nb);
    assert_int_equal(na, nb);
    assert_true(memcmp(a, b, na) == 0);
    free(a);
    free(b);
    remove(g);
    remove(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_f32_bf16),
        cmocka_unit_test(test_same_dtype),
        cmocka_unit_test(test_gguf_safetensors_gguf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
