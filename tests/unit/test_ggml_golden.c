/*
** ggml block formats against llama.cpp's own files (fixtures/golden/
** llama.cpp, made with llama.cpp c392e50):
**   - quantizing the F32 model with Q8_0 / Q4_0 (and F16 for the fallback
**     tensors) gives exactly the tensor data llama-quantize wrote;
**   - dequantizing every tensor of the Q4_K / Q6_K / Q2_K "pure" files
**     gives ggml's to_float output bit for bit (dequant.json's sha256 of the
**     f32 bytes, and the raw .f32 files);
**   - ggml's own K-quant block quantizer (quantkit's starting point)
**     reproduces those files' bytes;
**   - quantkit's quantizer has no higher RMSE against the F32 weights than
**     llama.cpp's file, tensor by tensor.
*/
#include "qk_test.h"

#include <jansson.h>

#include "quantkit/core.h"
#include "quant/ggml_internal.h"
#include "quantkit/gguf.h"

#define LLAMA7M "golden/llama.cpp/fixture-llama-7m/"
#define STORIES "golden/llama.cpp/stories260k/"

static qk_gguf_reader *open_gguf(const char *rel) {
    qk_gguf_reader *r = NULL;
    QK_ASSERT_OK(qk_gguf_reader_open(qk_test_fixture(rel), &r));
    return r;
}

/* Tensor `name` of `r` as f32 rows (copied: data in the mapping may be
** unaligned). Fails when absent or not f32. */
static float *load_f32(const qk_gguf_reader *r, const char *name, int64_t *rows, int64_t *cols) {
    const int64_t idx = qk_gguf_reader_find_tensor(r, name);
    if (idx < 0) fail_msg("tensor %s not in %s", name, qk_gguf_reader_path(r));
    qk_io_tensor t;
    QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, idx, &t));
    if (t.type != QK_TYPE_F32) fail_msg("%s is %s, not f32", name, qk_type_name(t.type));
    const int64_t n = qk_io_tensor_numel(&t);
    *cols = t.ndim > 0 ? t.shape[t.ndim - 1] : 1;
    *rows = n / *cols;
    float *x = malloc((size_t)n * sizeof *x);
    memcpy(x, t.data, (size_t)n * sizeof *x);
    return x;
}

/* Quantize every tensor of `quant_file` stored as one of `types` from the
** F32 model and compare the bytes. Returns how many tensors were compared. */
static int compare_quantized(const char *f32_file, const char *quant_file, const qk_type *types,
                             int ntypes) {
    qk_gguf_reader *rf = open_gguf(f32_file), *rq = open_gguf(quant_file);
    int compared = 0;
    for (int64_t i = 0; i < qk_gguf_reader_tensor_count(rq); i++) {
        qk_io_tensor t;
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(rq, i, &t));
        bool wanted = false;
        for (int k = 0; k < ntypes; k++) wanted |= t.type == types[k];
        if (!wanted) continue;
        int64_t rows, cols;
        float *x = load_f32(rf, t.name, &rows, &cols);
        size_t row_bytes;
        QK_ASSERT_OK(qk_type_row_bytes(t.type, cols, &row_bytes));
        assert_int_equal(row_bytes * (size_t)rows, t.nbytes);
        unsigned char *q = malloc(t.nbytes);
        QK_ASSERT_OK(qk_quantize_rows(t.type, x, q, rows, cols, NULL));
        const unsigned char *want = t.data;
        for (size_t b = 0; b < t.nbytes; b++)
            if (q[b] != want[b])
                fail_msg("%s: %s %s differs at byte %zu (%02x, llama.cpp %02x)", quant_file, t.name,
                         qk_type_name(t.type), b, q[b], want[b]);
        free(q);
        free(x);
        compared++;
    }
    qk_gguf_reader_close(rq);
    qk_gguf_reader_close(rf);
    return compared;
}

static void test_legacy_byte_identical(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const qk_type q8[] = {QK_TYPE_Q8_0}, q4[] = {QK_TYPE_Q4_0};
    const qk_type q8f[] = {QK_TYPE_Q8_0, QK_TYPE_F16}, q4f[] = {QK_TYPE_Q4_0, QK_TYPE_F16};
    /* fixture-llama-7m: 6 layers x 7 matrices + token_embd (+ output in Q8_0) */
    int n = compare_quantized(LLAMA7M "fixture-llama-7m-F32.gguf",
                              LLAMA7M "fixture-llama-7m-Q8_0.gguf", q8, 1);
    print_message("fixture-llama-7m Q8_0: %d tensors byte-identical\n", n);
    assert_int_equal(n, 44);
    n = compare_quantized(LLAMA7M "fixture-llama-7m-F32.gguf", LLAMA7M "fixture-llama-7m-Q4_0.gguf",
                          q4, 1);
    print_message("fixture-llama-7m Q4_0: %d tensors byte-identical\n", n);
    assert_int_equal(n, 43);
    /* stories260k: 5 layers x 6 block-format matrices + token_embd +
    ** output, and the 5 ffn_down (172 columns) in F16 */
    n = compare_quantized(STORIES "stories260K-f32.gguf", STORIES "stories260K-Q8_0fb.gguf", q8f,
                          2);
    print_message("stories260k Q8_0 fallback: %d tensors byte-identical\n", n);
    assert_int_equal(n, 37);
    n = compare_quantized(STORIES "stories260K-f32.gguf", STORIES "stories260K-Q4_0fb.gguf", q4f,
                          2);
    print_message("stories260k Q4_0 fallback: %d tensors byte-identical\n", n);
    assert_int_equal(n, 37);
}

/* Every tensor of the three -pure files dequantizes to ggml's f32 bytes. */
static void test_dequant_golden(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    json_t *root = qk_test_load_json(qk_test_fixture(LLAMA7M "dequant/dequant.json"));
    const char *kinds[3] = {"Q4_K", "Q6_K", "Q2_K"};
    for (int k = 0; k < 3; k++) {
        char path[256];
        snprintf(path, sizeof path, LLAMA7M "fixture-llama-7m-%s-pure.gguf", kinds[k]);
        qk_gguf_reader *r = open_gguf(path);
        json_t *expect = json_object_get(root, kinds[k]);
        assert_non_null(expect);
        int checked = 0, block_tensors = 0;
        for (int64_t i = 0; i < qk_gguf_reader_tensor_count(r); i++) {
            qk_io_tensor t;
            QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, i, &t));
            json_t *e = json_object_get(expect, t.name);
            if (!e) fail_msg("%s: %s missing from dequant.json", path, t.name);
            const int64_t n = qk_io_tensor_numel(&t);
            assert_int_equal(n, json_integer_value(json_object_get(e, "n")));
            float *y = malloc((size_t)n * sizeof *y);
            QK_ASSERT_OK(qk_dequantize_row(t.type, t.data, y, n));
            char hex[65];
            qk_sha256_hex(y, (size_t)n * sizeof *y, hex);
            const char *want = json_string_value(json_object_get(e, "sha256"));
            if (strcmp(hex, want) != 0)
                fail_msg("%s %s (%s): sha256 %s, ggml's %s", kinds[k], t.name, qk_type_name(t.type),
                         hex, want);
            if (strcmp(t.name, "blk.0.attn_q.weight") == 0) {
                char raw[256];
                snprintf(raw, sizeof raw, LLAMA7M "dequant/%s-blk.0.attn_q.weight.f32", kinds[k]);
                size_t size;
                unsigned char *bytes = qk_test_read_file(qk_test_fixture(raw), &size);
                assert_non_null(bytes);
                assert_int_equal(size, (size_t)n * sizeof *y);
                for (int64_t j = 0; j < n; j++) {
                    float v;
                    memcpy(&v, bytes + 4 * j, 4);
                    QK_ASSERT_F32_BITS_EQ(y[j], v);
                }
                free(bytes);
            }
            block_tensors += t.type != QK_TYPE_F32;
            checked++;
            free(y);
        }
        assert_int_equal(checked, (int)json_object_size(expect));
        print_message("%s-pure: %d tensors (%d in block formats) dequantize bit-exactly\n",
                      kinds[k], checked, block_tensors);
        assert_int_equal(block_tensors, 44);
        qk_gguf_reader_close(r);
    }
    json_decref(root);
}

typedef void (*block_ggml_fn)(const float *x, void *y, const float *imp);
static void q4k(const float *x, void *y, const float *imp) {
    qk_ggml_q4_k_block_ggml(x, y, imp);
}
static void q6k(const float *x, void *y, const float *imp) {
    qk_ggml_q6_k_block_ggml(x, y, imp);
}
static void q2k(const float *x, void *y, const float *imp) {
    qk_ggml_q2_k_block_ggml(x, y, imp);
}

/* Tensors for the RMSE comparison: one of each shape and role. */
static const char *const RMSE_TENSORS[] = {"blk.0.attn_q.weight", "blk.3.attn_v.weight",
                                           "blk.2.ffn_down.weight", "blk.5.ffn_gate.weight",
                                           "blk.4.attn_output.weight"};

/* ggml's block quantizer gives llama.cpp's bytes for every block-format
** tensor; quantkit's refined quantizer has an RMSE (vs F32) no higher than
** llama.cpp's file on each tensor of RMSE_TENSORS. The tolerance is only
** float summation noise: each block is chosen as the lower-error of ggml's
** block and refinements of it, and ggml's block equals the file's. */
static void test_kquant_bytes_and_rmse(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *kinds[3] = {"Q4_K", "Q6_K", "Q2_K"};
    const qk_type types[3] = {QK_TYPE_Q4_K, QK_TYPE_Q6_K, QK_TYPE_Q2_K};
    const block_ggml_fn fns[3] = {q4k, q6k, q2k};
    qk_gguf_reader *rf = open_gguf(LLAMA7M "fixture-llama-7m-F32.gguf");
    for (int k = 0; k < 3; k++) {
        char path[256];
        snprintf(path, sizeof path, LLAMA7M "fixture-llama-7m-%s-pure.gguf", kinds[k]);
        qk_gguf_reader *r = open_gguf(path);
        const int bb = qk_type_get_traits(types[k])->block_bytes;
        long long blocks = 0;
        double sse_llama = 0, sse_ours = 0;
        int64_t count = 0;
        for (int64_t i = 0; i < qk_gguf_reader_tensor_count(r); i++) {
            qk_io_tensor t;
            QK_ASSERT_OK(qk_gguf_reader_tensor_info(r, i, &t));
            if (t.type == QK_TYPE_F32) continue;
            assert_int_equal(t.type, types[k]);
            int64_t rows, cols;
            float *x = load_f32(rf, t.name, &rows, &cols);
            const int64_t n = rows * cols;
            unsigned char blk[256];
            for (int64_t b = 0; b < n / QK_GGML_QK_K; b++, blocks++) {
                fns[k](x + b * QK_GGML_QK_K, blk, NULL);
                if (memcmp(blk, (const unsigned char *)t.data + b * bb, (size_t)bb) != 0)
                    fail_msg("%s %s block %lld: ggml's quantizer differs from the file", kinds[k],
                             t.name, (long long)b);
            }
            bool rmse = false;
            for (size_t j = 0; j < sizeof RMSE_TENSORS / sizeof RMSE_TENSORS[0]; j++)
                rmse |= strcmp(t.name, RMSE_TENSORS[j]) == 0;
            if (rmse) {
                float *yl = malloc((size_t)n * sizeof *yl), *yo = malloc((size_t)n * sizeof *yo);
                unsigned char *q = malloc(t.nbytes);
                QK_ASSERT_OK(qk_dequantize_row(t.type, t.data, yl, n));
                QK_ASSERT_OK(qk_quantize_rows(t.type, x, q, rows, cols, NULL));
                QK_ASSERT_OK(qk_dequantize_row(t.type, q, yo, n));
                double el = 0, eo = 0;
                for (int64_t j = 0; j < n; j++) {
                    el += ((double)x[j] - yl[j]) * ((double)x[j] - yl[j]);
                    eo += ((double)x[j] - yo[j]) * ((double)x[j] - yo[j]);
                }
                print_message("%s %-26s RMSE llama.cpp %.6g, quantkit %.6g (%.2f%% lower)\n",
                              kinds[k], t.name, sqrt(el / n), sqrt(eo / n),
                              100.0 * (1 - sqrt(eo / el)));
                if (!(eo <= el * (1 + 1e-9)))
                    fail_msg("%s %s: quantkit's RMSE %.9g exceeds llama.cpp's %.9g", kinds[k],
                             t.name, sqrt(eo / n), sqrt(el / n));
                sse_llama += el, sse_ours += eo, count += n;
                free(yl), free(yo), free(q);
            }
            free(x);
        }
        print_message("%s: ggml's quantizer matches llama.cpp's bytes on all %lld blocks; RMSE "
                      "over %d tensors: llama.cpp %.6g, quantkit %.6g\n",
                      kinds[k], blocks, (int)(sizeof RMSE_TENSORS / sizeof RMSE_TENSORS[0]),
                      sqrt(sse_llama / count), sqrt(sse_ours / count));
        qk_gguf_reader_close(r);
    }
    qk_gguf_reader_close(rf);
}

/* The Q4_0 file's output.weight is Q6_K (llama.cpp's default mix): ggml's
** Q6_K block quantizer reproduces it too. */
static void test_q4_0_mix_output_q6_k(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_gguf_reader *rf = open_gguf(LLAMA7M "fixture-llama-7m-F32.gguf");
    qk_gguf_reader *rq = open_gguf(LLAMA7M "fixture-llama-7m-Q4_0.gguf");
    qk_io_tensor t;
    QK_ASSERT_OK(
        qk_gguf_reader_tensor_info(rq, qk_gguf_reader_find_tensor(rq, "output.weight"), &t));
    assert_int_equal(t.type, QK_TYPE_Q6_K);
    int64_t rows, cols;
    float *x = load_f32(rf, "output.weight", &rows, &cols);
    for (int64_t b = 0; b < rows * cols / QK_GGML_QK_K; b++) {
        qk_block_q6_k blk;
        qk_ggml_q6_k_block_ggml(x + b * QK_GGML_QK_K, &blk, NULL);
        assert_memory_equal(&blk, (const unsigned char *)t.data + b * sizeof blk, sizeof blk);
    }
    free(x);
    qk_gguf_reader_close(rq);
    qk_gguf_reader_close(rf);
}

/* The SHA-256 helper on FIPS 180-2's examples. */
static void test_sha256_helper(void **state) {
    (void)state;
    char hex[65];
    qk_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    qk_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    qk_sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_helper),         cmocka_unit_test(test_legacy_byte_identical),
        cmocka_unit_test(test_dequant_golden),        cmocka_unit_test(test_q4_0_mix_output_q6_k),
        cmocka_unit_test(test_kquant_bytes_and_rmse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
