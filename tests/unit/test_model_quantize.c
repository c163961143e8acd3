/*
** The quantize pipeline against llama.cpp's own files:
** - llama.cpp's F32 GGUF -> q8_0: the whole file equals llama-quantize's;
**   -> q4_0: every tensor llama.cpp stored as q4_0 is byte-identical, and
**   every tensor has llama.cpp's type;
** - the Hugging Face fixture -> f32 GGUF: every tensor equals the one
**   llama.cpp's convert_hf_to_gguf.py wrote (q/k rows permuted), and the
**   llama.cpp metadata keys are there with llama.cpp's values;
** - the output re-reads as a model source with the same hyper-parameters;
** - a failing quantization leaves no file behind.
** labels: fixtures
*/
#include "qk_test.h"

#include <sys/stat.h>

static const char *golden(const char *name) {
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-%s.gguf", name);
    return qk_test_fixture(b);
}

static void quantize(const char *in, const char *out, const char *type) {
    qk_type_request req;
    QK_ASSERT_OK(qk_type_request_parse(type, &req));
    qk_quantize_options opt;
    qk_quantize_options_init(&opt, &req);
    qk_quantize_report rep;
    QK_ASSERT_OK(qk_quantize_model(in, out, &opt, &rep));
    assert_true(rep.output_bytes > 0);
    qk_quantize_report_free(&rep);
}

static void test_q8_0_file_identical(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *out = qk_test_tmp_path("q8_0.gguf");
    quantize(golden("F32"), out, "q8_0");
    size_t na, nb;
    unsigned char *a = qk_test_read_file(out, &na), *b = qk_test_read_file(golden("Q8_0"), &nb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
}

static void test_q4_0_tensors_identical(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *out = qk_test_tmp_path("q4_0.gguf");
    quantize(golden("F32"), out, "q4_0");
    qk_gguf_reader *mine, *ref;
    QK_ASSERT_OK(qk_gguf_reader_open(out, &mine));
    QK_ASSERT_OK(qk_gguf_reader_open(golden("Q4_0"), &ref));
    assert_int_equal(qk_gguf_reader_tensor_count(mine), qk_gguf_reader_tensor_count(ref));
    int identical = 0;
    for (int64_t i = 0; i < qk_gguf_reader_tensor_count(ref); i++) {
        qk_io_tensor r, m;
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(ref, i, &r));
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(mine, i, &m)); /* same order as llama-quantize */
        assert_string_equal(m.name, r.name);
        assert_int_equal(m.type, r.type);
        assert_int_equal(m.nbytes, r.nbytes);
        if (r.type == QK_TYPE_Q4_0 || r.type == QK_TYPE_F32) {
            if (memcmp(m.data, r.data, r.nbytes) != 0) fail_msg("tensor %s differs", r.name);
            identical++;
        }
    }
    assert_int_equal(identical, 57 - 1); /* all but output.weight (q6_k) */
    qk_gguf_reader_close(mine);
    qk_gguf_reader_close(ref);
}

static void test_hf_to_f32_matches_convert_hf_to_gguf(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *out = qk_test_tmp_path("hf-f32.gguf");
    quantize(qk_test_fixture("models/fixture-llama-7m"), out, "f32");
    qk_gguf_reader *mine, *ref;
    QK_ASSERT_OK(qk_gguf_reader_open(out, &mine));
    QK_ASSERT_OK(qk_gguf_reader_open(golden("F32"), &ref));
    assert_int_equal(qk_gguf_reader_tensor_count(mine), qk_gguf_reader_tensor_count(ref));
    for (int64_t i = 0; i < qk_gguf_reader_tensor_count(ref); i++) {
        qk_io_tensor r, m;
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(ref, i, &r));
        int64_t j = qk_gguf_reader_find_tensor(mine, r.name);
        if (j < 0) fail_msg("tensor %s missing", r.name);
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(mine, j, &m));
        assert_int_equal(m.type, QK_TYPE_F32);
        assert_int_equal(m.nbytes, r.nbytes);
        if (memcmp(m.data, r.data, r.nbytes) != 0)
            fail_msg("tensor %s differs from llama.cpp's", r.name);
    }
    /* every key llama.cpp's loader reads, with llama.cpp's value */
    const char *keys[] = {"general.architecture",
                          "llama.block_count",
                          "llama.context_length",
                          "llama.embedding_length",
                          "llama.feed_forward_length",
                          "llama.attention.head_count",
                          "llama.attention.head_count_kv",
                          "llama.rope.freq_base",
                          "llama.attention.layer_norm_rms_epsilon",
                          "general.file_type",
                          "llama.vocab_size",
                          "llama.rope.dimension_count",
                          "tokenizer.ggml.model",
                          "tokenizer.ggml.pre",
                          "tokenizer.ggml.tokens",
                          "tokenizer.ggml.scores",
                          "tokenizer.ggml.token_type",
                          "tokenizer.ggml.bos_token_id",
                          "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.add_bos_token",
                          "tokenizer.ggml.add_eos_token",
                          "general.quantization_version"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int64_t a = qk_gguf_reader_find_key(mine, keys[k]),
                b = qk_gguf_reader_find_key(ref, keys[k]);
        if (a < 0) fail_msg("key %s missing", keys[k]);
        assert_true(b >= 0);
        qk_gguf_value va, vb;
        QK_ASSERT_OK(qk_gguf_reader_kv_value(mine, a, &va));
        QK_ASSERT_OK(qk_gguf_reader_kv_value(ref, b, &vb));
        if (va.type != vb.type || va.elem_type != vb.elem_type || va.n != vb.n)
            fail_msg("key %s: type/length differ", keys[k]);
        if (va.type == QK_GGUF_STRING) {
            assert_string_equal(va.str, vb.str);
        } else if (va.type == QK_GGUF_ARRAY && va.elem_type == QK_GGUF_STRING) {
            for (uint64_t e = 0; e < va.n; e++) {
                const char *sa, *sb;
                uint64_t la, lb;
                QK_ASSERT_OK(qk_gguf_reader_arr_str(mine, a, e, &sa, &la));
                QK_ASSERT_OK(qk_gguf_reader_arr_str(ref, b, e, &sb, &lb));
                if (la != lb || memcmp(sa, sb, la) != 0)
                    fail_msg("%s[%llu] differs", keys[k], (unsigned long long)e);
            }
        } else if (va.type == QK_GGUF_ARRAY) {
            assert_memory_equal(va.data, vb.data, va.n * qk_gguf_value_type_size(va.elem_type));
        } else {
            assert_memory_equal(&va.v, &vb.v, sizeof va.v);
        }
    }
    qk_gguf_reader_close(mine);
    qk_gguf_reader_close(ref);

    /* the file reads back as a model with the same hyper-parameters */
    qk_model_source *a, *b;
    QK_ASSERT_OK(qk_model_source_open(out, NULL, &a));
    QK_ASSERT_OK(qk_model_source_open(qk_test_fixture("models/fixture-llama-7m"), NULL, &b));
    const qk_model_hparams *ha = qk_model_source_hparams(a), *hb = qk_model_source_hparams(b);
    assert_int_equal(ha->n_vocab, hb->n_vocab);
    assert_int_equal(ha->n_layer, hb->n_layer);
    assert_int_equal(ha->n_head_kv, hb->n_head_kv);
    assert_int_equal(ha->n_ff, hb->n_ff);
    qk_model_source_close(a);
    qk_model_source_close(b);
}

/* llama2.c checkpoint + tokenizer.bin -> GGUF: the vocabulary is written as
** llama.cpp's llama-convert-llama2c-to-ggml writes it (pieces with U+2581
** for spaces, "<s>" not "\n<s>\n"), so tokens, scores and types equal its
** stories260K-f32.gguf; and the tensors are identical. */
static void test_llama2c_vocabulary_as_llama_cpp(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *out = qk_test_tmp_path("stories.gguf");
    qk_type_request req;
    QK_ASSERT_OK(qk_type_request_parse("f32", &req));
    qk_quantize_options opt;
    qk_quantize_options_init(&opt, &req);
    opt.tokenizer_path = qk_test_fixture("models/stories260k/tok512.bin");
    QK_ASSERT_OK(
        qk_quantize_model(qk_test_fixture("models/stories260k/stories260K.bin"), out, &opt, NULL));
    qk_gguf_reader *mine, *ref;
    QK_ASSERT_OK(qk_gguf_reader_open(out, &mine));
    QK_ASSERT_OK(qk_gguf_reader_open(
        qk_test_fixture("golden/llama.cpp/stories260k/stories260K-f32.gguf"), &ref));
    int64_t a = qk_gguf_reader_find_key(mine, "tokenizer.ggml.tokens");
    int64_t b = qk_gguf_reader_find_key(ref, "tokenizer.ggml.tokens");
    assert_true(a >= 0 && b >= 0);
    for (uint64_t i = 0; i < 512; i++) {
        const char *sa, *sb;
        uint64_t la, lb;
        QK_ASSERT_OK(qk_gguf_reader_arr_str(mine, a, i, &sa, &la));
        QK_ASSERT_OK(qk_gguf_reader_arr_str(ref, b, i, &sb, &lb));
        if (la != lb || memcmp(sa, sb, la) != 0)
            fail_msg("token %llu: '%.*s' != llama.cpp's '%.*s'", (unsigned long long)i, (int)la, sa,
                     (int)lb, sb);
    }
    float sc_a[512], sc_b[512];
    int32_t ty_a[512], ty_b[512];
    QK_ASSERT_OK(qk_gguf_reader_copy_arr(mine, "tokenizer.ggml.scores", QK_GGUF_F32, sc_a, 512));
    QK_ASSERT_OK(qk_gguf_reader_copy_arr(ref, "tokenizer.ggml.scores", QK_GGUF_F32, sc_b, 512));
    QK_ASSERT_OK(
        qk_gguf_reader_copy_arr(mine, "tokenizer.ggml.token_type", QK_GGUF_I32, ty_a, 512));
    QK_ASSERT_OK(qk_gguf_reader_copy_arr(ref, "tokenizer.ggml.token_type", QK_GGUF_I32, ty_b, 512));
    assert_memory_equal(sc_a, sc_b, sizeof sc_a);
    assert_memory_equal(ty_a, ty_b, sizeof ty_a);
    for (int64_t i = 0; i < qk_gguf_reader_tensor_count(mine); i++) {
        qk_io_tensor m, r;
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(mine, i, &m));
        int64_t j = qk_gguf_reader_find_tensor(ref, m.name);
        if (j < 0) fail_msg("tensor %s not in llama.cpp's file", m.name);
        QK_ASSERT_OK(qk_gguf_reader_tensor_info(ref, j, &r));
        assert_int_equal(m.nbytes, r.nbytes);
        if (memcmp(m.data, r.data, m.nbytes) != 0) fail_msg("tensor %s differs", m.name);
    }
    qk_gguf_reader_close(mine);
    qk_gguf_reader_close(ref);
}

static void test_failure_leaves_nothing(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    /* requantizing a quantized file is refused unless allowed */
    const char *out = qk_test_tmp_path("refused.gguf");
    qk_type_request req;
    QK_ASSERT_OK(qk_type_request_parse("q4_0", &req));
    qk_quantize_options opt;
    qk_quantize_options_init(&opt, &req);
    QK_ASSERT_STATUS(qk_quantize_model(golden("Q4_K_M"), out, &opt, NULL), QK_ERR_UNSUPPORTED);
    assert_non_null(strstr(qk_last_error(), "tensor '"));
    struct stat s;
    assert_int_not_equal(stat(out, &s), 0);
    /* allowed: it works */
    opt.allow_requantize = true;
    QK_ASSERT_OK(qk_quantize_model(golden("Q4_K_M"), out, &opt, NULL));
    assert_int_equal(stat(out, &s), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_0_file_identical),
        cmocka_unit_test(test_q4_0_tensors_identical),
        cmocka_unit_test(test_hf_to_f32_matches_convert_hf_to_gguf),
        cmocka_unit_test(test_llama2c_vocabulary_as_llama_cpp),
        cmocka_unit_test(test_failure_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
