/*
** SentencePiece-style tokenizers against the reference ids of
** ../shared/fixtures/tokenizer/token_ids.json: `spm` = SentencePiece itself
** on fixture-llama-7m/tokenizer.model (no BOS), `llama2c` = llama2.c run.c
** encode() on stories260k/tok512.bin (BOS, no EOS). Plus round trips,
** vocabulary facts, the array constructor, and the speed on wiki.test.raw.
*/
#include "qk_test.h"

#include <jansson.h>

#define SPM_MODEL "models/fixture-llama-7m/tokenizer.model"
#define LLAMA2C_BIN "models/stories260k/tok512.bin"

static json_t *samples(void) {
    json_t *root = qk_test_load_json(qk_test_fixture("tokenizer/token_ids.json"));
    json_t *s = json_object_get(root, "samples");
    assert_true(json_is_array(s) && json_array_size(s) >= 15);
    json_incref(s);
    json_decref(root);
    return s;
}

static void check_ids(const char *what, size_t index, const char *text, const int32_t *got,
                      size_t n_got, json_t *want) {
    size_t n_want = json_array_size(want);
    for (size_t i = 0; i < n_got && i < n_want; i++) {
        int32_t w = (int32_t)json_integer_value(json_array_get(want, i));
        if (got[i] != w)
            fail_msg("%s sample %zu (\"%.40s\"): id %zu is %d, reference %d", what, index, text, i,
                     got[i], w);
    }
    if (n_got != n_want)
        fail_msg("%s sample %zu (\"%.40s\"): %zu ids, reference %zu", what, index, text, n_got,
                 n_want);
}

static void check_all(qk_tokenizer *tok, const char *key, bool bos) {
    json_t *s = samples();
    size_t i;
    json_t *sample;
    json_array_foreach(s, i, sample) {
        const char *text = json_string_value(json_object_get(sample, "text"));
        size_t len = json_string_length(json_object_get(sample, "text"));
        int32_t *ids;
        size_t n;
        QK_ASSERT_OK(qk_tokenizer_encode_alloc(tok, text, len, bos, false, &ids, &n));
        check_ids(key, i, text, ids, n, json_object_get(sample, key));
        /* every sample is valid UTF-8 without NUL: both decoders give the text back */
        size_t out_len;
        char *back = malloc(len + 16);
        QK_ASSERT_OK(qk_tokenizer_decode(tok, ids, n, back, len + 16, &out_len));
        if (out_len != len || memcmp(back, text, len) != 0)
            fail_msg("%s sample %zu: decode gives \"%.*s\"", key, i, (int)out_len, back);
        free(back);
        free(ids);
    }
    json_decref(s);
}

static void test_spm_fixture_ids(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_load_spm_model(qk_test_fixture(SPM_MODEL), NULL, &tok));
    assert_int_equal(qk_tokenizer_get_kind(tok), QK_TOKENIZER_SPM);
    assert_int_equal(qk_tokenizer_n_vocab(tok), 4096);
    assert_int_equal(qk_tokenizer_unk_id(tok), 0);
    assert_int_equal(qk_tokenizer_bos_id(tok), 1);
    assert_int_equal(qk_tokenizer_eos_id(tok), 2);
    assert_true(qk_tokenizer_add_bos(tok)); /* tokenizer_config.json: add_bos_token true */
    assert_false(qk_tokenizer_add_eos(tok));
    check_all(tok, "spm", false);
    qk_tokenizer_free(tok);
}

static void test_llama2c_fixture_ids(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_load_llama2c(qk_test_fixture(LLAMA2C_BIN), NULL, &tok));
    assert_int_equal(qk_tokenizer_n_vocab(tok), 512);
    assert_true(qk_tokenizer_add_bos(tok));
    check_all(tok, "llama2c", true);
    qk_tokenizer_free(tok);
}

/* Facts about the two vocabularies, read with the Python protobuf/struct
** modules when writing this test. */
static void test_vocabulary_facts(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_load(qk_test_fixture("models/fixture-llama-7m"), NULL, &tok));
    assert_int_equal(qk_tokenizer_token_type(tok, 0), QK_TOKEN_UNKNOWN);
    assert_int_equal(qk_tokenizer_token_type(tok, 1), QK_TOKEN_CONTROL);
    assert_int_equal(qk_tokenizer_token_type(tok, 2), QK_TOKEN_CONTROL);
    assert_int_equal(qk_tokenizer_token_type(tok, 3), QK_TOKEN_BYTE);
    assert_int_equal(qk_tokenizer_token_type(tok, 258), QK_TOKEN_BYTE);
    assert_int_equal(qk_tokenizer_token_type(tok, 3995), QK_TOKEN_NORMAL);
    assert_int_equal(qk_tokenizer_token_type(tok, 4096), QK_TOKEN_UNDEFINED);
    QK_ASSERT_F32_BITS_EQ(qk_tokenizer_token_score(tok, 3995), -3736.0f);
    QK_ASSERT_F32_BITS_EQ(qk_tokenizer_token_score(tok, 4095), -3836.0f);
    size_t len;
    assert_string_equal(qk_tokenizer_token_text(tok, 3992, &len), "\xE2\x96\x81guard");
    assert_int_equal(len, 8);
    assert_int_equal(qk_tokenizer_token_id(tok, "\xE2\x96\x81", 3), 3995);
    char buf[16];
    size_t n;
    QK_ASSERT_OK(qk_tokenizer_decode_token(tok, 3992, buf, sizeof buf, &n)); /* "▁" is a space */
    assert_int_equal(n, 6);
    assert_memory_equal(buf, " guard", 6);
    QK_ASSERT_OK(qk_tokenizer_decode_token(tok, 13, buf, sizeof buf, &n)); /* <0x0A> */
    assert_int_equal(n, 1);
    assert_int_equal(buf[0], '\n');
    QK_ASSERT_OK(qk_tokenizer_decode_token(tok, 1, buf, sizeof buf, &n)); /* control: nothing */
    assert_int_equal(n, 0);
    QK_ASSERT_STATUS(qk_tokenizer_decode_token(tok, 3992, buf, 3, &n), QK_ERR_OUT_OF_BOUNDS);
    assert_int_equal(n, 6);
    QK_ASSERT_STATUS(qk_tokenizer_decode_token(tok, 5000, buf, 16, &n), QK_ERR_OUT_OF_BOUNDS);
    /* sizing the output: "Hello" is 3 ids, 4 with BOS */
    int32_t ids[4];
    QK_ASSERT_STATUS(qk_tokenizer_encode(tok, "Hello", 5, true, false, ids, 3, &n),
                     QK_ERR_OUT_OF_BOUNDS);
    assert_int_equal(n, 4);
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "Hello", 5, true, false, ids, 4, &n));
    int32_t want[4] = {1, 637, 283, 4000};
    assert_memory_equal(ids, want, sizeof want);
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "", 0, false, true, ids, 4, &n));
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 2);
    assert_true(qk_tokenizer_encode_bound(5) >= 5 * 3 + 3);
    qk_tokenizer_free(tok);

    /* special parsing (llama.cpp's parse_special): "<s>" becomes BOS and the
    ** text after it gets its own dummy prefix: "Hello" is 637 283 4000 */
    qk_tokenizer_options o;
    qk_tokenizer_options_init(&o);
    o.parse_special = 1;
    o.add_bos = 0;
    QK_ASSERT_OK(qk_tokenizer_load_spm_model(qk_test_fixture(SPM_MODEL), &o, &tok));
    assert_false(qk_tokenizer_add_bos(tok));
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "<s>Hello", 8, false, false, ids, 4, &n));
    assert_int_equal(n, 4);
    assert_memory_equal(ids, want, sizeof want);
    qk_tokenizer_free(tok);

    QK_ASSERT_OK(qk_tokenizer_load(qk_test_fixture(LLAMA2C_BIN), NULL, &tok));
    assert_int_equal(qk_tokenizer_token_type(tok, 1), QK_TOKEN_CONTROL);
    assert_int_equal(qk_tokenizer_token_type(tok, 3 + 0x41), QK_TOKEN_BYTE);
    assert_int_equal(qk_tokenizer_token_type(tok, 410), QK_TOKEN_NORMAL);
    QK_ASSERT_F32_BITS_EQ(qk_tokenizer_token_score(tok, 410), -151.0f);
    assert_string_equal(qk_tokenizer_token_text(tok, 1, NULL), "\n<s>\n");
    QK_ASSERT_OK(qk_tokenizer_decode_token(tok, 3 + 0xE2, buf, sizeof buf, &n));
    assert_int_equal(n, 1);
    assert_int_equal((unsigned char)buf[0], 0xE2);
    qk_tokenizer_free(tok);
}

/* The array constructor on a tiny hand-made vocabulary, where the merges
** can be followed by hand. */
static void test_spm_from_arrays(void **state) {
    (void)state;
    const char *pieces[] = {"<unk>",
                            "<s>",
                            "</s>",
                            "\xE2\x96\x81",
                            "a",
                            "b",
                            "c",
                            "ab",
                            "bc",
                            "\xE2\x96\x81"
                            "a",
                            "abc",
                            "<0x63>",
                            "<0x0A>",
                            "XY"};
    float sc[14] = {0, 0, 0, -5, -6, -7, -8, -1, -2, -3, -0.5f, 0, 0, 0};
    int32_t ty[14] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6, 6, 4};
    qk_spm_vocab v;
    qk_spm_vocab_init(&v);
    v.n_tokens = 14;
    v.tokens = pieces;
    v.scores = sc;
    v.types = ty;
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_create_spm(&v, &tok));
    int32_t ids[32];
    size_t n;
    /* "abc" -> "▁abc": pairs ▁a(-3) ab(-1) bc(-2): ab first -> ▁ ab c; then
    ** ▁ab? no; abc(-0.5) -> ▁ abc. */
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "abc", 3, false, false, ids, 32, &n));
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 10);
    /* "bca": ▁b? no; bc(-2) ca? no -> ▁ bc a; unknown 'c' alone would be <0x63> */
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "bca", 3, false, false, ids, 32, &n));
    int32_t want1[] = {3, 8, 4};
    assert_int_equal(n, 3);
    assert_memory_equal(ids, want1, sizeof want1);
    /* "cXYa\n": 'c' is a piece (6); XY is user-defined (frozen, whole); '\n' is
    ** no piece -> <0x0A> (12) */
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "cXYa\n", 5, false, false, ids, 32, &n));
    int32_t want2[] = {3, 6, 13, 4, 12};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want2, sizeof want2);
    /* 'd' has no piece and no byte token: <unk> */
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "d", 1, true, true, ids, 32, &n));
    int32_t want3[] = {1, 3, 0, 2};
    assert_int_equal(n, 4);
    assert_memory_equal(ids, want3, sizeof want3);
    qk_tokenizer_free(tok);

    /* remove_extra_whitespaces: "  a  b " -> "▁a▁b"; ▁a merges (-3) */
    v.remove_extra_whitespaces = true;
    QK_ASSERT_OK(qk_tokenizer_create_spm(&v, &tok));
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "  a  b ", 7, false, false, ids, 32, &n));
    int32_t want4[] = {9, 3, 5};
    assert_int_equal(n, 3);
    assert_memory_equal(ids, want4, sizeof want4);
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "   ", 3, false, false, ids, 32, &n));
    assert_int_equal(n, 0);
    qk_tokenizer_free(tok);

    /* equal scores: the leftmost pair merges first. "aaa" -> "▁aaa": the pairs
    ** (a,a) at 1-2 and 2-3 tie; leftmost gives ▁ aa a, not ▁ a aa */
    const char *p2[] = {"<unk>", "\xE2\x96\x81", "a", "aa"};
    float s2[] = {0, -1, -2, -1};
    qk_spm_vocab v2;
    qk_spm_vocab_init(&v2);
    v2.n_tokens = 4;
    v2.tokens = p2;
    v2.scores = s2;
    v2.bos_id = v2.eos_id = -1;
    QK_ASSERT_OK(qk_tokenizer_create_spm(&v2, &tok));
    assert_int_equal(qk_tokenizer_token_type(tok, 0), QK_TOKEN_UNKNOWN); /* inferred */
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "aaa", 3, false, false, ids, 32, &n));
    int32_t want5[] = {1, 3, 2};
    assert_int_equal(n, 3);
    assert_memory_equal(ids, want5, sizeof want5);
    QK_ASSERT_STATUS(qk_tokenizer_encode(tok, "a", 1, true, false, ids, 32, &n), QK_ERR_STATE);
    qk_tokenizer_free(tok);

    /* an UNUSED piece produced by a merge is split back into its halves:
    ** "abab" -> "▁abab": ab (-1) twice, then ▁ab (-2); the second "ab" stays
    ** and, unused, is emitted as a b */
    const char *p3[] = {"<unk>",
                        "\xE2\x96\x81",
                        "a",
                        "b",
                        "ab",
                        "\xE2\x96\x81"
                        "ab"};
    float s3[] = {0, -5, -6, -7, -1, -2};
    int32_t t3[] = {2, 1, 1, 1, 5, 1};
    v2.n_tokens = 6;
    v2.tokens = p3;
    v2.scores = s3;
    v2.types = t3;
    QK_ASSERT_OK(qk_tokenizer_create_spm(&v2, &tok));
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "abab", 4, false, false, ids, 32, &n));
    int32_t want6[] = {5, 2, 3};
    assert_int_equal(n, 3);
    assert_memory_equal(ids, want6, sizeof want6);
    qk_tokenizer_free(tok);

    v.tokens = NULL;
    QK_ASSERT_STATUS(qk_tokenizer_create_spm(&v, &tok), QK_ERR_INVALID_ARG);
    v.tokens = pieces;
    v.bos_id = 14;
    QK_ASSERT_STATUS(qk_tokenizer_create_spm(&v, &tok), QK_ERR_OUT_OF_BOUNDS);
    v.bos_id = 1;
    ty[4] = 9;
    QK_ASSERT_STATUS(qk_tokenizer_create_spm(&v, &tok), QK_ERR_CORRUPT);
    assert_non_null(strstr(qk_last_error(), "token 4"));
}

/* The whole WikiText-2 test split (1.3 MB) in one call: n log n, well under
** a second. The count is what this tokenizer gives; the per-sample ids above
** are what pins the algorithm to SentencePiece's. */
static void test_spm_speed(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_load_spm_model(qk_test_fixture(SPM_MODEL), NULL, &tok));
    size_t len;
    char *text = (char *)qk_test_read_file(qk_test_fixture("text/wiki.test.raw"), &len);
    assert_non_null(text);
    int32_t *ids;
    size_t n;
    double t0 = qk_time_seconds();
    QK_ASSERT_OK(qk_tokenizer_encode_alloc(tok, text, len, true, false, &ids, &n));
    double dt = qk_time_seconds() - t0;
    print_message("wiki.test.raw: %zu bytes -> %zu tokens in %.3f s\n", len, n, dt);
    assert_true(n > len / 8 && n < len);
    char *back = malloc(len + 1);
    size_t out_len;
    QK_ASSERT_OK(qk_tokenizer_decode(tok, ids, n, back, len + 1, &out_len));
    assert_int_equal(out_len, len);
    assert_memory_equal(back, text, len);
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
    if (QK_TIMING_CHECKS()) assert_true(dt < 20.0); /* sanitizers, debug: several times slower */
#else
    if (QK_TIMING_CHECKS()) assert_true(dt < 1.0); /* about 0.2 s on one core of the dev machine */
#endif
    free(back);
    free(ids);
    free(text);
    qk_tokenizer_free(tok);
}

/* Merging word by word (the shortcut taken when no piece has "▁" past its
** first byte) gives the ids of one queue over the whole text: the same
** vocabulary plus one piece that disables the shortcut ("\x01▁\x01", which
** this text can never form), on all of wiki.test.raw. */
static void test_spm_word_chunks_equal_whole_text(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_tokenizer *ref;
    QK_ASSERT_OK(qk_tokenizer_load_spm_model(qk_test_fixture(SPM_MODEL), NULL, &ref));
    int32_t n = qk_tokenizer_n_vocab(ref);
    const char **texts = calloc((size_t)n + 1, sizeof *texts);
    float *scores = calloc((size_t)n + 1, sizeof *scores);
    int32_t *types = calloc((size_t)n + 1, sizeof *types);
    for (int32_t i = 0; i < n; i++) {
        texts[i] = qk_tokenizer_token_text(ref, i, NULL);
        scores[i] = qk_tokenizer_token_score(ref, i);
        types[i] = qk_tokenizer_token_type(ref, i);
    }
    texts[n] = "\x01\xE2\x96\x81\x01";
    scores[n] = -1.0f;
    types[n] = QK_TOKEN_NORMAL;
    qk_spm_vocab v;
    qk_spm_vocab_init(&v);
    v.n_tokens = n + 1;
    v.tokens = texts;
    v.scores = scores;
    v.types = types;
    qk_tokenizer *whole;
    QK_ASSERT_OK(qk_tokenizer_create_spm(&v, &whole));
    size_t len;
    char *text = (char *)qk_test_read_file(qk_test_fixture("text/wiki.test.raw"), &len);
    assert_non_null(text);
    assert_null(memchr(text, 1, len));
    int32_t *a, *b;
    size_t na, nb;
    QK_ASSERT_OK(qk_tokenizer_encode_alloc(ref, text, len, false, false, &a, &na));
    QK_ASSERT_OK(qk_tokenizer_encode_alloc(whole, text, len, false, false, &b, &nb));
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        if (a[i] != b[i])
            fail_msg("id %zu: %d word by word, %d over the whole text", i, a[i], b[i]);
    free(a);
    free(b);
    free(text);
    free(texts);
    free(scores);
    free(types);
    qk_tokenizer_free(whole);
    qk_tokenizer_free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_fixture_ids),
        cmocka_unit_test(test_llama2c_fixture_ids),
        cmocka_unit_test(test_vocabulary_facts),
        cmocka_unit_test(test_spm_from_arrays),
        cmocka_unit_test(test_spm_speed),
        cmocka_unit_test(test_spm_word_chunks_equal_whole_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
