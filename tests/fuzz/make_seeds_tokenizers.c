/*
** Seeds of the tokenizer targets (see make_seeds.c).
*/
#include <jansson.h> /* JSON texts */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* free */
#include <string.h>  /* strlen */

#include "make_seeds.h"

/* ------------------------------------------------------------------------
** tokenizer_llama2c: int32 max_token_length, then per token f32 score,
** int32 length, bytes.
*/
static void llama2c_token(buf *b, float score, const char *text) {
    put_f32(b, score);
    put_le(b, strlen(text), 4);
    put_str(b, text);
}

void seeds_llama2c(void) {
    const char *T = "tokenizer_llama2c";
    size_t n;
    unsigned char *tok512 = read_fixture("models/stories260k/tok512.bin", &n);
    if (tok512) {
        write_seed(T, "seed-tok512.bin", tok512, n);
        write_seed(T, "broken-tok512-truncated", tok512, n / 2 + 3);
        free(tok512);
    }
    /* a small vocabulary: unk, bos, eos, 256 byte tokens, a few merges */
    buf b = {0};
    put_le(&b, 8, 4);
    llama2c_token(&b, 0, "<unk>");
    llama2c_token(&b, 0, "\n<s>\n");
    llama2c_token(&b, 0, "\n</s>\n");
    for (int i = 0; i < 256; i++) {
        char t[8];
        snprintf(t, sizeof t, "<0x%02X>", i);
        llama2c_token(&b, 0, t);
    }
    const char *pieces[] = {" ", "a", "b", "ab", " a", " ab", "the", " the", "\xc3\xa9", "1"};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
        llama2c_token(&b, -(float)i, pieces[i]);
    llama2c_token(&b, -1e10f, "zz"); /* never merges */
    write_seed(T, "seed-small.bin", b.p, b.n);
    write_seed(T, "broken-truncated-token", b.p, b.n - 1);
    write_seed(T, "broken-truncated-score", b.p, b.n - 6);
    buf_free(&b);

    put_le(&b, 4, 4);
    llama2c_token(&b, 0, "<unk>");
    write_seed(T, "seed-one-token.bin", b.p, b.n);
    buf_free(&b);

    write_seed(T, "broken-empty", "", 0);
    write_seed(T, "broken-short-header", "\x08\x00", 2);
    write_seed(T, "broken-header-only", "\x08\x00\x00\x00", 4);
    put_le(&b, (uint64_t)(uint32_t)-5, 4);
    llama2c_token(&b, 0, "a");
    write_seed(T, "broken-negative-max-length", b.p, b.n);
    buf_free(&b);
    put_le(&b, 2, 4);
    llama2c_token(&b, 0, "abc");
    write_seed(T, "broken-length-over-max", b.p, b.n);
    buf_free(&b);
    put_le(&b, 8, 4);
    put_f32(&b, 0);
    put_le(&b, (uint64_t)(uint32_t)-1, 4);
    write_seed(T, "broken-negative-length", b.p, b.n);
    buf_free(&b);
    put_le(&b, 0x7FFFFFFF, 4);
    put_f32(&b, 0);
    put_le(&b, 0x7FFFFFF0, 4);
    put_str(&b, "abc");
    write_seed(T, "broken-huge-length", b.p, b.n);
    buf_free(&b);
}

/* ------------------------------------------------------------------------
** tokenizer_spm_model: SentencePiece ModelProto (protobuf).
*/
static void pb_varint(buf *b, uint64_t v) {
    while (v >= 0x80) {
        put_u8(b, (unsigned)(v & 0x7F) | 0x80);
        v >>= 7;
    }
    put_u8(b, (unsigned)v);
}
static void pb_key(buf *b, unsigned field, unsigned wire) {
    pb_varint(b, (uint64_t)field << 3 | wire);
}
static void pb_int(buf *b, unsigned field, int64_t v) {
    pb_key(b, field, 0);
    pb_varint(b, (uint64_t)v); /* negatives: 10-byte two's complement */
}
static void pb_bytes(buf *b, unsigned field, const void *data, size_t n) {
    pb_key(b, field, 2);
    pb_varint(b, n);
    put(b, data, n);
}
static void pb_piece(buf *b, const char *text, float score, int type) {
    buf p = {0};
    pb_bytes(&p, 1, text, strlen(text));
    pb_key(&p, 2, 5);
    put_f32(&p, score);
    if (type) pb_int(&p, 3, type);
    pb_bytes(b, 1, p.p, p.n);
    buf_free(&p);
}

/* A small BPE model; `model_type` 2 is BPE, `charsmap` adds a precompiled map. */
static void spm_model(buf *b, int model_type, bool charsmap, bool byte_fallback) {
    pb_piece(b, "<unk>", 0, 2);
    pb_piece(b, "<s>", 0, 3);
    pb_piece(b, "</s>", 0, 3);
    for (int i = 0; i < 256; i += 17) {
        char t[8];
        snprintf(t, sizeof t, "<0x%02X>", i);
        pb_piece(b, t, 0, 6);
    }
    const char *pieces[] = {"\xe2\x96\x81",
                            "a",
                            "b",
                            "ab",
                            "\xe2\x96\x81"
                            "a",
                            "\xe2\x96\x81"
                            "ab",
                            "t",
                            "h",
                            "e",
                            "th",
                            "the",
                            "1",
                            "2"};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
        pb_piece(b, pieces[i], -(float)i, i % 5 == 4 ? 4 : 1);
    buf t = {0};
    pb_int(&t, 3, model_type);
    pb_int(&t, 35, byte_fallback);
    pb_int(&t, 40, 0);
    pb_int(&t, 41, 1);
    pb_int(&t, 42, 2);
    pb_int(&t, 43, -1);
    pb_bytes(b, 2, t.p, t.n);
    buf_free(&t);
    buf nm = {0};
    pb_bytes(&nm, 1, "identity", 8);
    if (charsmap) pb_bytes(&nm, 2, "\x01\x02\x03", 3);
    pb_int(&nm, 3, 1);
    pb_int(&nm, 4, 0);
    pb_int(&nm, 5, 1);
    pb_bytes(b, 3, nm.p, nm.n);
    buf_free(&nm);
}

void seeds_spm_model(void) {
    const char *T = "tokenizer_spm_model";
    size_t n;
    unsigned char *model = read_fixture("models/fixture-llama-7m/tokenizer.model", &n);
    if (model) {
        write_seed(T, "seed-fixture-llama-7m.model", model, n);
        write_seed(T, "broken-fixture-truncated", model, n / 3);
        free(model);
    }
    buf b = {0};
    spm_model(&b, 2, false, true);
    write_seed(T, "seed-small-bpe.model", b.p, b.n);
    write_seed(T, "broken-small-truncated", b.p, b.n - 2);
    buf_free(&b);
    spm_model(&b, 2, false, false);
    write_seed(T, "seed-small-no-byte-fallback.model", b.p, b.n);
    buf_free(&b);
    spm_model(&b, 1, false, true);
    write_seed(T, "broken-unigram", b.p, b.n);
    buf_free(&b);
    spm_model(&b, 2, true, true);
    write_seed(T, "broken-charsmap", b.p, b.n);
    buf_free(&b);

    pb_piece(&b, "a", 0, 7);
    write_seed(T, "broken-piece-type-7", b.p, b.n);
    buf_free(&b);
    pb_bytes(&b, 1, "\x10\x01", 2); /* a piece with a score-less, text-less body */
    write_seed(T, "broken-piece-without-text", b.p, b.n);
    buf_free(&b);
    put(&b, "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11); /* length varint overflow */
    write_seed(T, "broken-varint-overflow", b.p, b.n);
    buf_free(&b);
    put(&b, "\x0b\x00", 2); /* wire type 3 (start group) */
    write_seed(T, "broken-wire-type", b.p, b.n);
    buf_free(&b);
    put(&b, "\x0a\x40\x0a\x01", 4); /* length past the end */
    write_seed(T, "broken-length-past-end", b.p, b.n);
    buf_free(&b);
    write_seed(T, "broken-empty", "", 0);
}

/* ------------------------------------------------------------------------
** tokenizer_json: Hugging Face tokenizer.json (byte-level BPE), optionally
** followed by NUL and tokenizer_config.json.
*/
unsigned gpt2_byte_char(unsigned b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    unsigned k = 0; /* rank of b among the remapped bytes */
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
            k++;
    return 0x100 + k;
}

void utf8_of(unsigned cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

typedef struct json_variant {
    json_t *pre_tokenizer; /* owned by the call */
    json_t *post_processor;
    json_t *normalizer;
    bool pairs;
    bool ignore_merges;
    const char *model_type;
} json_variant;

static char *tokenizer_json(json_variant v) {
    json_t *vocab = json_object();
    char s[8];
    for (unsigned b = 0; b < 256; b++) {
        utf8_of(gpt2_byte_char(b), s);
        json_object_set_new(vocab, s, json_integer(b));
    }
    static const char *merges[][2] = {
        {"\xc4\xa0", "t"}, {"h", "e"}, {"\xc4\xa0t", "he"},     {"a", "b"},
        {"1", "2"},        {"'", "s"}, {"\xc4\x8a", "\xc4\x8a"}};
    json_t *m = json_array();
    for (size_t k = 0; k < sizeof merges / sizeof merges[0]; k++) {
        char joined[32];
        snprintf(joined, sizeof joined, "%s%s", merges[k][0], merges[k][1]);
        json_object_set_new(vocab, joined, json_integer((json_int_t)(256 + k)));
        if (v.pairs) {
            json_array_append_new(m, json_pack("[s, s]", merges[k][0], merges[k][1]));
        } else {
            char pair[32];
            snprintf(pair, sizeof pair, "%s %s", merges[k][0], merges[k][1]);
            json_array_append_new(m, json_string(pair));
        }
    }
    json_t *added =
        json_pack("[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}, {s:i, s:s, s:b, s:b, s:b, s:b, s:b}]",
                  "id", 300, "content", "<|endoftext|>", "special", 1, "lstrip", 0, "rstrip", 0,
                  "single_word", 0, "normalized", 0, "id", 301, "content", "<|user|>", "special", 0,
                  "lstrip", 1, "rstrip", 1, "single_word", 1, "normalized", 0);
    json_t *root =
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:{s:s, s:o, s:o, s:b, s:n}}", "version", "1.0",
                  "added_tokens", added, "normalizer", v.normalizer ? v.normalizer : json_null(),
                  "pre_tokenizer", v.pre_tokenizer ? v.pre_tokenizer : json_null(),
                  "post_processor", v.post_processor ? v.post_processor : json_null(), "model",
                  "type", v.model_type ? v.model_type : "BPE", "vocab", vocab, "merges", m,
                  "ignore_merges", v.ignore_merges, "unk_token");
    if (!root) die("json_pack failed");
    char *text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    return text;
}

static json_t *byte_level(bool use_regex) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                     "trim_offsets", 1, "use_regex", use_regex);
}

static void seed_json(const char *name, char *text, const char *config) {
    buf b = {0};
    put_str(&b, text);
    if (config) {
        put_u8(&b, 0);
        put_str(&b, config);
    }
    write_seed("tokenizer_json", name, b.p, b.n);
    buf_free(&b);
    free(text);
}

void seeds_tokenizer_json(void) {
    const char *llama3 = qk_pretokenizer_pattern(QK_PRETOK_LLAMA3);
    seed_json("seed-gpt2.json", tokenizer_json((json_variant){.pre_tokenizer = byte_level(true)}),
              NULL);
    seed_json(
        "seed-llama3-split.json",
        tokenizer_json((json_variant){
            .pre_tokenizer = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, o]}", "type", "Sequence",
                                       "pretokenizers", "type", "Split", "pattern", "Regex", llama3,
                                       "behavior", "Isolated", "invert", 0, byte_level(false)),
            .post_processor = json_pack(
                "{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[i], s:[s]}}}", "type",
                "TemplateProcessing", "single", "SpecialToken", "id", "<|endoftext|>", "type_id", 0,
                "Sequence", "id", "A", "type_id", 0, "special_tokens", "<|endoftext|>", "id",
                "<|endoftext|>", "ids", 300, "tokens", "<|endoftext|>"),
            .normalizer = json_pack("{s:s}", "type", "NFC"),
            .pairs = true,
            .ignore_merges = true}),
        NULL);
    seed_json("seed-digits-literal-split.json",
              tokenizer_json((json_variant){
                  .pre_tokenizer = json_pack(
                      "{s:s, s:[{s:s, s:b}, {s:s, s:{s:s}, s:s}, o]}", "type", "Sequence",
                      "pretokenizers", "type", "Digits", "individual_digits", 1, "type", "Split",
                      "pattern", "String", "ab", "behavior", "Isolated", byte_level(true))}),
              "{\"add_bos_token\": true, \"add_eos_token\": true, "
              "\"bos_token\": {\"content\": \"<|endoftext|>\"}, \"eos_token\": \"<|user|>\"}");
    seed_json(
        "broken-unigram.json",
        tokenizer_json((json_variant){.pre_tokenizer = byte_level(true), .model_type = "Unigram"}),
        NULL);
    seed_json(
        "broken-metaspace.json",
        tokenizer_json((json_variant){.pre_tokenizer = json_pack("{s:s, s:s}", "type", "Metaspace",
                                                                 "replacement", "\xe2\x96\x81")}),
        NULL);
    seed_json(
        "broken-regex-syntax.json",
        tokenizer_json((json_variant){
            .pre_tokenizer = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, o]}", "type", "Sequence",
                                       "pretokenizers", "type", "Split", "pattern", "Regex",
                                       "(?<x>[a-", "behavior", "Isolated", byte_level(false))}),
        NULL);
    seed_json("broken-split-removed.json",
              tokenizer_json((json_variant){
                  .pre_tokenizer = json_pack("{s:s, s:{s:s}, s:s}", "type", "Split", "pattern",
                                             "Regex", "\\s+", "behavior", "Removed")}),
              NULL);
    seed_json("broken-lowercase-normalizer.json",
              tokenizer_json((json_variant){.pre_tokenizer = byte_level(true),
                                            .normalizer = json_pack("{s:s}", "type", "Lowercase")}),
              NULL);
    seed_json("broken-config-json.json",
              tokenizer_json((json_variant){.pre_tokenizer = byte_level(true)}),
              "{\"add_bos_token\": tru");
    const char *small[] = {
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, "
        "\"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}, "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}, "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 268435455}, \"merges\": []}, "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}, "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\", 3]}, "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, "
        "\"added_tokens\": [{\"id\": 5, \"content\": \"<x>\", \"special\": true}], "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"byte_fallback\": true}, "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": "
        "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Sequence\", "
        "\"pretokenizers\": [{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
        "\"Sequence\", \"pretokenizers\": [{\"type\": \"Sequence\", \"pretokenizers\": "
        "[{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"}]}]}]}]}]}]}}",
        "{\"model\": [1, 2]}",
        "[]",
        "{\"model\": {\"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "
        "\"model\": 1}",
        "{\"mod",
    };
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s-small-%02zu.json", i == 0 ? "seed" : "broken", i);
        write_seed("tokenizer_json", name, small[i], strlen(small[i]));
    }
}
