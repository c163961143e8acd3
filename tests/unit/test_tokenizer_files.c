/*
** Hostile tokenizer files: truncated or inconsistent tokenizer.bin, broken
** protobuf in tokenizer.model, bad tokenizer.json. Each must fail with the
** right status and a message naming the file and the byte offset (line for
** JSON), computed by hand from the bytes below.
*/
#include "qk_test.h"

static void expect_error(qk_status got, qk_status want, const char *needle1, const char *needle2) {
    if (got != want)
        fail_msg("returned %s, expected %s (message: %s)", qk_status_name(got),
                 qk_status_name(want), qk_last_error());
    if (needle1 && !strstr(qk_last_error(), needle1))
        fail_msg("message \"%s\" does not say \"%s\"", qk_last_error(), needle1);
    if (needle2 && !strstr(qk_last_error(), needle2))
        fail_msg("message \"%s\" does not say \"%s\"", qk_last_error(), needle2);
}

/* ---- tokenizer.bin ------------------------------------------------------ */
static size_t put_i32(unsigned char *p, int32_t v) {
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(u >> (8 * i));
    return 4;
}

/* max_token_length 8; token 0: score 0, length 3, "abc" (bytes 4..14);
** token 1 starts at byte 15 */
static size_t llama2c_head(unsigned char *p) {
    size_t n = put_i32(p, 8);
    n += put_i32(p + n, 0);
    n += put_i32(p + n, 3);
    memcpy(p + n, "abc", 3);
    return n + 3;
}

static void test_llama2c_broken(void **state) {
    (void)state;
    unsigned char b[64] = {0};
    qk_tokenizer *tok = NULL;
    const char *name = "tok.bin";
    /* shorter than the header */
    expect_error(qk_tokenizer_load_llama2c_memory(b, 3, name, NULL, &tok), QK_ERR_TRUNCATED,
                 "tok.bin", "byte 0");
    assert_null(tok);
    /* token 1: only 5 of its 8 bytes of score + length */
    size_t n = llama2c_head(b);
    assert_int_equal(n, 15);
    expect_error(qk_tokenizer_load_llama2c_memory(b, n + 5, name, NULL, &tok), QK_ERR_TRUNCATED,
                 "tok.bin", "byte 15");
    /* token 1 claims 5 bytes, 2 are there (its text starts at byte 23) */
    size_t m = n + put_i32(b + n, 0);
    m += put_i32(b + m, 5);
    memcpy(b + m, "xy", 2);
    expect_error(qk_tokenizer_load_llama2c_memory(b, m + 2, name, NULL, &tok), QK_ERR_TRUNCATED,
                 "tok.bin", "byte 23");
    /* negative length (field at byte 19) */
    put_i32(b + 19, -1);
    expect_error(qk_tokenizer_load_llama2c_memory(b, m + 2, name, NULL, &tok), QK_ERR_CORRUPT,
                 "byte 19", "length -1");
    /* longer than max_token_length */
    put_i32(b + 19, 9);
    expect_error(qk_tokenizer_load_llama2c_memory(b, 64, name, NULL, &tok), QK_ERR_CORRUPT,
                 "byte 19", "max_token_length 8");
    /* max_token_length itself */
    put_i32(b, 0);
    expect_error(qk_tokenizer_load_llama2c_memory(b, 64, name, NULL, &tok), QK_ERR_CORRUPT,
                 "tok.bin", "max_token_length 0");
    /* no tokens */
    put_i32(b, 8);
    expect_error(qk_tokenizer_load_llama2c_memory(b, 4, name, NULL, &tok), QK_ERR_CORRUPT,
                 "tok.bin", "no tokens");
    /* a complete one-token file loads */
    QK_ASSERT_OK(qk_tokenizer_load_llama2c_memory(b, 15, name, NULL, &tok));
    assert_int_equal(qk_tokenizer_n_vocab(tok), 1);
    assert_int_equal(qk_tokenizer_bos_id(tok), -1);
    assert_false(qk_tokenizer_add_bos(tok));
    qk_tokenizer_free(tok);
}

/* A BOS piece with empty text (a fuzzer input): its symbol has length 0, and
** encoding must not form pointers from a buffer not yet allocated. With
** pieces 4 " " (score -5) and 5 " a" (score 1), "a" is BOS " " "a" -> BOS
** " a". The merge engine takes a zero-length symbol for one merged away, so
** the empty BOS stays alone: [1, 5] (llama2.c's loop would also merge
** "" + " a" into [5]; only an empty BOS text tells the two apart). */
static void test_llama2c_empty_bos(void **state) {
    (void)state;
    static const struct {
        float score;
        const char *text;
    } pieces[] = {{0, "<unk>"}, {0, ""}, {0, "\n</s>\n"}, {0, "a"}, {-5, " "}, {1, " a"}};
    unsigned char b[128];
    size_t n = put_i32(b, 8);
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        memcpy(b + n, &pieces[i].score, 4);
        n += 4;
        n += put_i32(b + n, (int32_t)strlen(pieces[i].text));
        memcpy(b + n, pieces[i].text, strlen(pieces[i].text));
        n += strlen(pieces[i].text);
    }
    qk_tokenizer *tok = NULL;
    QK_ASSERT_OK(qk_tokenizer_load_llama2c_memory(b, n, "tok.bin", NULL, &tok));
    int32_t ids[8];
    size_t n_ids = 0;
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "", 0, true, false, ids, 8, &n_ids));
    assert_int_equal(n_ids, 1);
    assert_int_equal(ids[0], 1);
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "a", 1, true, false, ids, 8, &n_ids));
    assert_int_equal(n_ids, 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 5);
    qk_tokenizer_free(tok);
}

/* The real tok512.bin cut short, through the file loader (the message names
** the path). Token 0 "<unk>" ends at byte 4 + 8 + 5 = 17; token 1 "\n<s>\n"
** has its text at bytes 25..29. */
static void test_llama2c_truncated_file(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    size_t size;
    unsigned char *data =
        qk_test_read_file(qk_test_fixture("models/stories260k/tok512.bin"), &size);
    assert_non_null(data);
    const char *path = qk_test_tmp_path("tok512-cut.bin");
    assert_int_equal(qk_test_write_file(path, data, 27), 0);
    qk_tokenizer *tok;
    expect_error(qk_tokenizer_load_llama2c(path, NULL, &tok), QK_ERR_TRUNCATED, path, "byte 25");
    assert_int_equal(qk_test_write_file(path, data, size - 3), 0); /* inside the last token */
    expect_error(qk_tokenizer_load(path, NULL, &tok), QK_ERR_TRUNCATED, path, NULL);
    expect_error(qk_tokenizer_load_llama2c("/nonexistent/tok.bin", NULL, &tok), QK_ERR_IO,
                 "/nonexistent/tok.bin", NULL);
    free(data);
}

/* ---- tokenizer.model (protobuf) ------------------------------------------ */
static void test_protobuf_broken(void **state) {
    (void)state;
    qk_tokenizer *tok = NULL;
    const char *name = "t.model";
    /* a varint that never ends (the length of field 1, at byte 1) */
    const unsigned char v1[] = {0x0A, 0xFF, 0xFF, 0xFF};
    expect_error(qk_tokenizer_load_spm_model_memory(v1, sizeof v1, name, NULL, &tok),
                 QK_ERR_TRUNCATED, "t.model", "varint at byte 1");
    assert_null(tok);
    /* eleven bytes of varint */
    unsigned char v2[13] = {0x0A};
    memset(v2 + 1, 0x80, 11);
    v2[12] = 0x01;
    expect_error(qk_tokenizer_load_spm_model_memory(v2, sizeof v2, name, NULL, &tok),
                 QK_ERR_CORRUPT, "t.model", "byte 1");
    /* a length past the end of the file: field 1 says 5 bytes, 1 follows */
    const unsigned char v3[] = {0x0A, 0x05, 'a'};
    expect_error(qk_tokenizer_load_spm_model_memory(v3, sizeof v3, name, NULL, &tok),
                 QK_ERR_OUT_OF_BOUNDS, "t.model", "byte 1");
    /* a nested length past the end of its message: the piece message (bytes
    ** 2..4) holds field 1 whose length (at byte 3) is 5 */
    const unsigned char v4[] = {0x0A, 0x03, 0x0A, 0x05, 'x', 0x10, 0x01};
    expect_error(qk_tokenizer_load_spm_model_memory(v4, sizeof v4, name, NULL, &tok),
                 QK_ERR_OUT_OF_BOUNDS, "t.model", "byte 3");
    /* unknown wire types: 3 (start group) and 7, field 1, at byte 0 / byte 2 */
    const unsigned char v5[] = {0x0B};
    expect_error(qk_tokenizer_load_spm_model_memory(v5, sizeof v5, name, NULL, &tok),
                 QK_ERR_CORRUPT, "wire type 3", "byte 0");
    const unsigned char v6[] = {0x20, 0x01, 0x0F}; /* field 4 (skipped), then */
    expect_error(qk_tokenizer_load_spm_model_memory(v6, sizeof v6, name, NULL, &tok),
                 QK_ERR_CORRUPT, "wire type 7", "byte 2");
    /* a fixed32 cut short: piece score (field 2, wire 5) with 2 of 4 bytes */
    const unsigned char v7[] = {0x0A, 0x03, 0x15, 0x00, 0x00};
    expect_error(qk_tokenizer_load_spm_model_memory(v7, sizeof v7, name, NULL, &tok),
                 QK_ERR_TRUNCATED, "t.model", "byte 3");
    /* a piece text with the wrong wire type (varint) at byte 2 */
    const unsigned char v8[] = {0x0A, 0x02, 0x08, 0x01};
    expect_error(qk_tokenizer_load_spm_model_memory(v8, sizeof v8, name, NULL, &tok),
                 QK_ERR_CORRUPT, "wire type 0", "byte 2");
    /* well-formed, one piece "a", but a unigram model (no trainer_spec) */
    const unsigned char v9[] = {0x0A, 0x03, 0x0A, 0x01, 'a'};
    expect_error(qk_tokenizer_load_spm_model_memory(v9, sizeof v9, name, NULL, &tok),
                 QK_ERR_UNSUPPORTED, "t.model", "unigram");
    /* BPE (trainer_spec {model_type: 2, unk_id: 0, bos_id: -1, eos_id: -1}) loads;
    ** -1 is a 10-byte varint */
    const unsigned char v10[] = {0x0A, 0x03, 0x0A, 0x01, 'a',  0x12, 0x1D, 0x18, 0x02,
                                 0xC0, 0x02, 0x00, 0xC8, 0x02, 0xFF, 0xFF, 0xFF, 0xFF,
                                 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0xD0, 0x02, 0xFF,
                                 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    QK_ASSERT_OK(qk_tokenizer_load_spm_model_memory(v10, sizeof v10, name, NULL, &tok));
    assert_int_equal(qk_tokenizer_n_vocab(tok), 1);
    assert_int_equal(qk_tokenizer_bos_id(tok), -1);
    assert_int_equal(qk_tokenizer_eos_id(tok), -1);
    assert_false(qk_tokenizer_add_bos(tok));
    int32_t ids[4];
    size_t n;
    /* "a" -> "▁a": "▁" is no piece and there is no byte fallback: <unk> a */
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "a", 1, false, false, ids, 4, &n));
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 0);
    qk_tokenizer_free(tok);
    /* the same with an unk id beyond the pieces */
    unsigned char v11[sizeof v10];
    memcpy(v11, v10, sizeof v10);
    v11[11] = 0x05;
    expect_error(qk_tokenizer_load_spm_model_memory(v11, sizeof v11, name, NULL, &tok),
                 QK_ERR_OUT_OF_BOUNDS, "t.model", "id 5");
}

/* The real tokenizer.model cut at every 997th byte: always an error, never a
** crash (ASan checks the reads), and the message names the file. */
static void test_protobuf_truncated_file(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    size_t size;
    unsigned char *data =
        qk_test_read_file(qk_test_fixture("models/fixture-llama-7m/tokenizer.model"), &size);
    assert_non_null(data);
    qk_tokenizer *tok;
    for (size_t cut = 1; cut < size - 100; cut += 997) {
        qk_status st = qk_tokenizer_load_spm_model_memory(data, cut, "cut.model", NULL, &tok);
        if (st == QK_OK) fail_msg("a tokenizer.model cut at byte %zu loaded", cut);
        assert_non_null(strstr(qk_last_error(), "cut.model"));
    }
    /* through the file loader: the folder has no tokenizer_config.json */
    const char *path = qk_test_tmp_path("cut.model");
    assert_int_equal(qk_test_write_file(path, data, size / 2), 0);
    qk_status st = qk_tokenizer_load_spm_model(path, NULL, &tok);
    assert_true(st == QK_ERR_TRUNCATED || st == QK_ERR_OUT_OF_BOUNDS);
    assert_non_null(strstr(qk_last_error(), path));
    free(data);
}

/* ---- tokenizer.json ------------------------------------------------------ */
static void test_json_broken(void **state) {
    (void)state;
    qk_tokenizer *tok;
    const char *j1 =
        "{\n  \"model\": {\n    \"type\": \"BPE\",\n    \"vocab\": {\"a\": 0,}\n  }\n}";
    expect_error(qk_tokenizer_load_json_memory(j1, strlen(j1), NULL, 0, "t.json", NULL, &tok),
                 QK_ERR_CORRUPT, "t.json", "line 4");
    const char *j2 = "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}";
    expect_error(qk_tokenizer_load_json_memory(j2, strlen(j2), NULL, 0, "t.json", NULL, &tok),
                 QK_ERR_UNSUPPORTED, "t.json", "Unigram");
    const char *j3 = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], "
                     "\"byte_fallback\": true}}";
    expect_error(qk_tokenizer_load_json_memory(j3, strlen(j3), NULL, 0, "t.json", NULL, &tok),
                 QK_ERR_UNSUPPORTED, "t.json", "byte_fallback");
    const char *j4 =
        "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
        "\"vocab\": {\"a\": -3}, \"merges\": []}}";
    expect_error(qk_tokenizer_load_json_memory(j4, strlen(j4), NULL, 0, "t.json", NULL, &tok),
                 QK_ERR_CORRUPT, "t.json", "vocab['a']");
    const char *j5 = "{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": {\"type\": "
                     "\"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}";
    expect_error(qk_tokenizer_load_json_memory(j5, strlen(j5), NULL, 0, "t.json", NULL, &tok),
                 QK_ERR_UNSUPPORTED, "t.json", "Metaspace");
    const char *j6 =
        "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
        "\"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}";
    expect_error(qk_tokenizer_load_json_memory(j6, strlen(j6), NULL, 0, "t.json", NULL, &tok),
                 QK_ERR_CORRUPT, "t.json", "id 0");
    /* ids far beyond the entries: at most 65536 holes (a 100-byte file asking
       for 2^28 tokens once took 20 s and 4.7 GB) */
    const char *j7 =
        "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
        "\"vocab\": {\"a\": 65537}, \"merges\": []}}";
    expect_error(qk_tokenizer_load_json_memory(j7, strlen(j7), NULL, 0, "t.json", NULL, &tok),
                 QK_ERR_CORRUPT, "t.json", "largest id 65537");
    const char *j8 =
        "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
        "\"vocab\": {\"a\": 65536}, \"merges\": []}}";
    /* 65536 holes pass that check and fail on the next one */
    expect_error(qk_tokenizer_load_json_memory(j8, strlen(j8), NULL, 0, "t.json", NULL, &tok),
                 QK_ERR_CORRUPT, "t.json", "no token for byte 0x00");
    const char *cfg = "{\"add_bos_token\": tru}";
    expect_error(
        qk_tokenizer_load_json_memory(j6, strlen(j6), cfg, strlen(cfg), "t.json", NULL, &tok),
        QK_ERR_CORRUPT, "tokenizer_config.json", "line 1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama2c_broken),  cmocka_unit_test(test_llama2c_truncated_file),
        cmocka_unit_test(test_protobuf_broken), cmocka_unit_test(test_protobuf_truncated_file),
        cmocka_unit_test(test_json_broken),     cmocka_unit_test(test_llama2c_empty_bos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
