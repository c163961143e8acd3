/*
** Byte-level BPE on a small hand-built tokenizer.json whose merges are
** designed so that the expected ids can be worked out by hand:
**
**   ids 0..255   the 256 one-byte tokens: byte b is token b (GPT-2's
**                bytes_to_unicode characters: ' ' is "Ġ" U+0120, '\n' "Ċ" U+010A)
**   merges (rank: pair -> token id)
**     0: b c -> bc 256       5: Ġt he -> Ġthe 261     10: Ċ Ċ -> ĊĊ 269
**     1: a b -> ab 257       6: 1 2 -> 12 262
**     2: a bc -> abc 258     7: ' s -> 's 263
**     3: Ġ t -> Ġt 259       8: Ã © -> é 264 (0xC3 0xA9)
**     4: h e -> he 260       9: 3 4 -> 34 265         (' S -> 'S 266 is rank 11)
**   added: 267 <|endoftext|> (special), 268 <|user|> (not special, lstrip),
**          270 xyz (in vocab only: reachable by ignore_merges)
*/
#include "qk_test.h"

#include <jansson.h>

/* GPT-2's byte -> character table, written out as its ranges. */
static unsigned byte_char(unsigned b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    if (b <= 0x20) return 0x100 + b;                       /* 0x00..0x20 -> U+0100..U+0120 */
    if (b >= 0x7F && b <= 0xA0) return 0x121 + (b - 0x7F); /* -> U+0121..U+0142 */
    return 0x143;                                          /* 0xAD */
}

static void utf8(unsigned cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

static const char *MERGES[][2] = {{"b", "c"},
                                  {"a", "b"},
                                  {"a", "bc"},
                                  {"\xC4\xA0", "t"},
                                  {"h", "e"},
                                  {"\xC4\xA0t", "he"},
                                  {"1", "2"},
                                  {"'", "s"},
                                  {"\xC3\x83", "\xC2\xA9"},
                                  {"3", "4"},
                                  {"\xC4\x8A", "\xC4\x8A"},
                                  {"'", "S"}};
static const int MERGED_ID[] = {256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 269, 266};

/* The tokenizer.json text for a pre-tokenizer; pairs: merges as [a, b]. */
static char *make_json(json_t *pre_tokenizer, bool pairs, bool ignore_merges,
                       json_t *post_processor) {
    json_t *vocab = json_object();
    char s[8];
    for (unsigned b = 0; b < 256; b++) {
        utf8(byte_char(b), s);
        json_object_set_new(vocab, s, json_integer(b));
    }
    json_t *merges = json_array();
    for (size_t k = 0; k < sizeof MERGED_ID / sizeof MERGED_ID[0]; k++) {
        char joined[32];
        snprintf(joined, sizeof joined, "%s%s", MERGES[k][0], MERGES[k][1]);
        json_object_set_new(vocab, joined, json_integer(MERGED_ID[k]));
        if (pairs) {
            json_array_append_new(merges, json_pack("[s, s]", MERGES[k][0], MERGES[k][1]));
        } else {
            char m[32];
            snprintf(m, sizeof m, "%s %s", MERGES[k][0], MERGES[k][1]);
            json_array_append_new(merges, json_string(m));
        }
    }
    json_object_set_new(vocab, "<|endoftext|>", json_integer(267));
    json_object_set_new(vocab, "xyz", json_integer(270));
    json_t *added = json_pack("[{s:i, s:s, s:b, s:b, s:b, s:b}, {s:i, s:s, s:b, s:b, s:b, s:b}]",
                              "id", 267, "content", "<|endoftext|>", "special", 1, "lstrip", 0,
                              "rstrip", 0, "single_word", 0, "id", 268, "content", "<|user|>",
                              "special", 0, "lstrip", 1, "rstrip", 0, "single_word", 0);
    json_t *root =
        json_pack("{s:s, s:o, s:n, s:o, s:o, s:{s:s, s:b, s:o, s:o}}", "version", "1.0",
                  "added_tokens", added, "normalizer", "pre_tokenizer", pre_tokenizer,
                  "post_processor", post_processor ? post_processor : json_null(), "model", "type",
                  "BPE", "ignore_merges", ignore_merges, "vocab", vocab, "merges", merges);
    assert_non_null(root);
    char *text = json_dumps(root, 0);
    json_decref(root);
    return text;
}

static json_t *split_then_bytelevel(qk_pretokenizer which) {
    return json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type",
                     "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
                     qk_pretokenizer_pattern(which), "behavior", "Isolated", "invert", 0, "type",
                     "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0);
}

static json_t *gpt2_bytelevel(void) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                     "trim_offsets", 1, "use_regex", 1);
}

static qk_tokenizer *load(json_t *pre, bool pairs, bool ignore_merges, json_t *post,
                          const char *config) {
    char *text = make_json(pre, pairs, ignore_merges, post);
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_load_json_memory(
        text, strlen(text), config, config ? strlen(config) : 0, "test.json", NULL, &tok));
    free(text);
    return tok;
}

/* EXPECT also checks that the ids decode back to the text; EXPECT_LOSSY does
** not (control tokens decode to nothing, lstrip eats a space, a prefix space
** is added). */
#define EXPECT_(lossless, tok, text, ...)                                                          \
    do {                                                                                           \
        const int32_t want_[] = {__VA_ARGS__};                                                     \
        expect_ids(tok, text, want_, sizeof want_ / sizeof want_[0], lossless, __LINE__);          \
    } while (0)
#define EXPECT(tok, text, ...) EXPECT_(true, tok, text, __VA_ARGS__)
#define EXPECT_LOSSY(tok, text, ...) EXPECT_(false, tok, text, __VA_ARGS__)

static void expect_ids(qk_tokenizer *tok, const char *text, const int32_t *want, size_t n_want,
                       bool lossless, int line) {
    int32_t *ids;
    size_t n;
    QK_ASSERT_OK(qk_tokenizer_encode_alloc(tok, text, strlen(text), false, false, &ids, &n));
    bool same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!same) {
        char got[512] = "", exp[512] = "";
        for (size_t i = 0; i < n && strlen(got) < 480; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %d", ids[i]);
        for (size_t i = 0; i < n_want && strlen(exp) < 480; i++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), " %d", want[i]);
        fail_msg("line %d: \"%s\" -> [%s ] expected [%s ]", line, text, got, exp);
    }
    if (!lossless) {
        free(ids);
        return;
    }
    char back[256];
    size_t blen;
    QK_ASSERT_OK(qk_tokenizer_decode(tok, ids, n, back, sizeof back, &blen));
    if (blen != strlen(text) || memcmp(back, text, blen) != 0)
        fail_msg("line %d: \"%s\" decodes to \"%.*s\"", line, text, (int)blen, back);
    free(ids);
}

static void test_gpt2(void **state) {
    (void)state;
    qk_tokenizer *tok = load(gpt2_bytelevel(), false, false, NULL, NULL);
    assert_int_equal(qk_tokenizer_get_kind(tok), QK_TOKENIZER_BPE);
    assert_int_equal(qk_tokenizer_n_vocab(tok), 271);
    assert_int_equal(qk_tokenizer_token_type(tok, 267), QK_TOKEN_CONTROL);
    assert_int_equal(qk_tokenizer_token_type(tok, 268), QK_TOKEN_USER_DEFINED);
    assert_int_equal(qk_tokenizer_token_type(tok, 269), QK_TOKEN_NORMAL);
    assert_int_equal(qk_tokenizer_bos_id(tok), -1);
    assert_false(qk_tokenizer_add_bos(tok));
    int32_t none[1];
    size_t n_none;
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "", 0, false, false, none, 0, &n_none));
    assert_int_equal(n_none, 0);
    /* by rank: (b,c) rank 0 before (a,b) rank 1, then (a,bc) rank 2 */
    EXPECT(tok, "abc", 258);
    /* order of appearance would give ab c = 257 99 */
    EXPECT(tok, "abcab", 258, 257);
    /* "the" alone: only (h,e); " the": Ġt (3) then he (4) then Ġthe (5) */
    EXPECT(tok, "the the", 116, 260, 261);
    /* digits: GPT-2 keeps "1234" as one piece: 12 (6) and 34 (9) */
    EXPECT(tok, "1234", 262, 265);
    EXPECT(tok, "x 12312", 120, 32, 262, 51, 262);
    /* contractions: 's is its own piece; 'S is not one of GPT-2's */
    EXPECT(tok, "it's", 105, 116, 263);
    EXPECT(tok, "IT'S", 73, 84, 39, 83);
    /* UTF-8: é = C3 A9 merges (8); € = E2 82 AC stays three byte tokens */
    EXPECT(tok, "caf\xC3\xA9", 99, 97, 102, 264);
    EXPECT(tok, "\xE2\x82\xAC", 226, 130, 172);
    /* whitespace: \s+(?!\S) leaves the last space to the next word */
    EXPECT(tok, "a  b", 97, 32, 32, 98);
    EXPECT(tok, "a\n\nb", 97, 10, 10, 98);
    /* specials: <|endoftext|> whole; <|user|> strips the space on its left */
    EXPECT_LOSSY(tok, "a<|endoftext|>b", 97, 267, 98);
    EXPECT_LOSSY(tok, "x <|user|>y", 120, 268, 121);
    EXPECT(tok, "xyz", 120, 121, 122);
    qk_tokenizer_free(tok);

    /* without special parsing the control token is text; <|user|> still matches */
    qk_tokenizer_options o;
    qk_tokenizer_options_init(&o);
    o.parse_special = 0;
    char *text = make_json(gpt2_bytelevel(), false, false, NULL);
    QK_ASSERT_OK(qk_tokenizer_load_json_memory(text, strlen(text), NULL, 0, "t", &o, &tok));
    free(text);
    EXPECT(tok, "<|endoftext|>", 60, 124, 101, 110, 100, 111, 102, 116, 101, 120, 116, 124, 62);
    EXPECT(tok, "a<|user|>", 97, 268);
    qk_tokenizer_free(tok);
}

static void test_llama3_qwen2(void **state) {
    (void)state;
    qk_tokenizer *tok = load(split_then_bytelevel(QK_PRETOK_LLAMA3), true, true, NULL, NULL);
    EXPECT(tok, "abc", 258);
    EXPECT(tok, "the the", 116, 260, 261);
    /* \p{N}{1,3}: "1234" is "123" + "4" */
    EXPECT(tok, "1234", 262, 51, 52);
    /* case-insensitive contractions: 'S is one piece and merges (rank 11) */
    EXPECT(tok, "IT'S", 73, 84, 266);
    /* \s*[\r\n]+ keeps "\n\n" together: ĊĊ (10) */
    EXPECT(tok, "a\n\nb", 97, 269, 98);
    /* ignore_merges: "xyz" is a token as a whole */
    EXPECT(tok, "xyz", 270);
    EXPECT(tok, "caf\xC3\xA9!", 99, 97, 102, 264, 33);
    qk_tokenizer_free(tok);

    tok = load(split_then_bytelevel(QK_PRETOK_QWEN2), false, false, NULL, NULL);
    /* \p{N}: single digits, so no digit merges at all */
    EXPECT(tok, "1234", 49, 50, 51, 52);
    EXPECT(tok, "IT'S", 73, 84, 266);
    EXPECT(tok, "xyz", 120, 121, 122);
    qk_tokenizer_free(tok);
}

/* BOS/EOS: from tokenizer_config.json, else from the post_processor template. */
static void test_bos_eos(void **state) {
    (void)state;
    json_t *post = json_pack("{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}]}", "type",
                             "TemplateProcessing", "single", "SpecialToken", "id", "<|endoftext|>",
                             "type_id", 0, "Sequence", "id", "A", "type_id", 0);
    qk_tokenizer *tok = load(gpt2_bytelevel(), false, false, post, NULL);
    assert_int_equal(qk_tokenizer_bos_id(tok), 267);
    assert_true(qk_tokenizer_add_bos(tok));
    assert_false(qk_tokenizer_add_eos(tok));
    int32_t ids[8];
    size_t n;
    QK_ASSERT_OK(qk_tokenizer_encode(tok, "abc", 3, true, false, ids, 8, &n));
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 267);
    assert_int_equal(ids[1], 258);
    qk_tokenizer_free(tok);

    tok = load(gpt2_bytelevel(), false, false, NULL,
               "{\"add_bos_token\": false, \"add_eos_token\": true, \"bos_token\": "
               "{\"content\": \"<|endoftext|>\"}, \"eos_token\": \"<|endoftext|>\"}");
    assert_int_equal(qk_tokenizer_bos_id(tok), 267);
    assert_int_equal(qk_tokenizer_eos_id(tok), 267);
    assert_false(qk_tokenizer_add_bos(tok));
    assert_true(qk_tokenizer_add_eos(tok));
    qk_tokenizer_free(tok);

    /* the file loader reads tokenizer_config.json beside tokenizer.json */
    char *text = make_json(gpt2_bytelevel(), false, false, NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s", qk_test_tmp_path("bpe"));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
    char file[4300];
    snprintf(file, sizeof file, "%s/tokenizer.json", path);
    assert_int_equal(qk_test_write_file(file, text, strlen(text)), 0);
    snprintf(file, sizeof file, "%s/tokenizer_config.json", path);
    const char *cfg = "{\"add_bos_token\": true, \"bos_token\": \"<|endoftext|>\"}";
    assert_int_equal(qk_test_write_file(file, cfg, strlen(cfg)), 0);
    QK_ASSERT_OK(qk_tokenizer_load(path, NULL, &tok));
    assert_int_equal(qk_tokenizer_get_kind(tok), QK_TOKENIZER_BPE);
    assert_int_equal(qk_tokenizer_bos_id(tok), 267);
    assert_true(qk_tokenizer_add_bos(tok));
    qk_tokenizer_free(tok);
    free(text);
}

/* The array constructor with a custom regex list and a prefix space. */
static void test_from_arrays(void **state) {
    (void)state;
    const char *tokens[262];
    char texts[262][8];
    for (unsigned b = 0; b < 256; b++) {
        utf8(byte_char(b), texts[b]);
        tokens[b] = texts[b];
    }
    tokens[256] = "bc";
    tokens[257] = "ab";
    tokens[258] = "abc";
    tokens[259] = "\xC4\xA0t";
    tokens[260] = "<s>";
    tokens[261] = "\xC4\xA0\xC4\xA0";
    const char *merges[] = {"b c", "a b", "a bc", "\xC4\xA0 t"};
    int32_t types[262] = {0};
    types[260] = QK_TOKEN_CONTROL;
    const char *re[] = {"\\s+|\\S+"}; /* runs of space and non-space */
    qk_bpe_vocab v;
    qk_bpe_vocab_init(&v);
    v.n_tokens = 262;
    v.tokens = tokens;
    v.types = types;
    v.n_merges = 4;
    v.merges = merges;
    v.pretokenizer = QK_PRETOK_CUSTOM;
    v.n_regexes = 1;
    v.regexes = re;
    v.add_prefix_space = true;
    v.bos_id = 260;
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_create_bpe(&v, &tok));
    /* " " put first, then pieces " " "abc" " " "t": no merges across pieces */
    EXPECT_LOSSY(tok, "abc t", 32, 258, 32, 116);
    /* the control token is cut out first; the text after it gets its prefix */
    EXPECT_LOSSY(tok, "<s>abc", 260, 32, 258);
    qk_tokenizer_free(tok);
    /* a merge whose result is missing from the vocabulary */
    const char *bad[] = {"b c", "c a"};
    v.merges = bad;
    v.n_merges = 2;
    QK_ASSERT_STATUS(qk_tokenizer_create_bpe(&v, &tok), QK_ERR_CORRUPT);
    assert_non_null(strstr(qk_last_error(), "merge 1"));
    /* a regex that does not compile */
    const char *badre[] = {"(unclosed"};
    v.merges = merges;
    v.n_merges = 4;
    v.regexes = badre;
    QK_ASSERT_STATUS(qk_tokenizer_create_bpe(&v, &tok), QK_ERR_CONFIG);
    /* a vocabulary lacking a byte */
    v.regexes = re;
    tokens[65] = "zz";
    QK_ASSERT_STATUS(qk_tokenizer_create_bpe(&v, &tok), QK_ERR_CORRUPT);
    assert_non_null(strstr(qk_last_error(), "0x41"));
}

/* Invalid UTF-8 passes through byte by byte and decodes back. */
static void test_invalid_utf8(void **state) {
    (void)state;
    qk_tokenizer *tok = load(split_then_bytelevel(QK_PRETOK_LLAMA3), false, false, NULL, NULL);
    EXPECT(tok,
           "a\xFF\xC3"
           "b",
           97, 255, 195, 98);
    qk_tokenizer_free(tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),         cmocka_unit_test(test_llama3_qwen2),
        cmocka_unit_test(test_bos_eos),      cmocka_unit_test(test_from_arrays),
        cmocka_unit_test(test_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
