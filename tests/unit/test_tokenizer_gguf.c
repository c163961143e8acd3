/*
** The array constructor fed with GGUF `llama` vocabularies, as llama.cpp
** reads them (tokenizer.ggml.tokens / scores / token_type and the special
** ids), from the golden GGUF files of ../shared/fixtures. The fixtures say
** llama.cpp's tokenizer gives exactly the reference ids of token_ids.json for
** both models: `spm` for fixture-llama-7m (no BOS), `llama2c` for stories260K
** (BOS). The vocabulary is read by the library's qk_tokenizer_load_gguf.
*/
#include "qk_test.h"

#include <jansson.h>

static qk_tokenizer *create_from_gguf(const char *rel) {
    qk_gguf_reader *r;
    QK_ASSERT_OK(qk_gguf_reader_open(qk_test_fixture(rel), &r));
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_load_gguf(r, NULL, &tok));
    qk_gguf_reader_close(r); /* the tokenizer keeps its own copies */
    return tok;
}

static void check_samples(qk_tokenizer *tok, const char *key, bool bos) {
    json_t *root = qk_test_load_json(qk_test_fixture("tokenizer/token_ids.json"));
    size_t i;
    json_t *sample;
    json_array_foreach(json_object_get(root, "samples"), i, sample) {
        json_t *text = json_object_get(sample, "text");
        json_t *want = json_object_get(sample, key);
        int32_t *ids;
        size_t n;
        QK_ASSERT_OK(qk_tokenizer_encode_alloc(tok, json_string_value(text),
                                               json_string_length(text), bos, false, &ids, &n));
        if (n != json_array_size(want))
            fail_msg("%s sample %zu: %zu ids, reference %zu", key, i, n, json_array_size(want));
        for (size_t k = 0; k < n; k++)
            if (ids[k] != json_integer_value(json_array_get(want, k)))
                fail_msg("%s sample %zu: id %zu is %d, reference %d", key, i, k, ids[k],
                         (int)json_integer_value(json_array_get(want, k)));
        free(ids);
    }
    json_decref(root);
}

static void test_gguf_fixture_llama_7m(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_tokenizer *tok =
        create_from_gguf("golden/llama.cpp/fixture-llama-7m/fixture-llama-7m-F32.gguf");
    assert_int_equal(qk_tokenizer_n_vocab(tok), 4096);
    assert_true(qk_tokenizer_add_bos(tok));
    check_samples(tok, "spm", false);
    qk_tokenizer_free(tok);
}

/* llama.cpp's converter wrote tok512.bin's vocabulary with "▁" for spaces and
** "<s>" for "\n<s>\n"; its SPM tokenizer then gives llama2.c's ids. */
static void test_gguf_stories260k(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_tokenizer *tok = create_from_gguf("golden/llama.cpp/stories260k/stories260K-f32.gguf");
    assert_int_equal(qk_tokenizer_n_vocab(tok), 512);
    assert_string_equal(qk_tokenizer_token_text(tok, 259, NULL), "\xE2\x96\x81t");
    check_samples(tok, "llama2c", true);
    qk_tokenizer_free(tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_fixture_llama_7m),
        cmocka_unit_test(test_gguf_stories260k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
