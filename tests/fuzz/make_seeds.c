/*
** Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/):
** small valid files of every kind, made with quantkit's own writers or byte
** by byte, and hand-broken ones named after what is wrong with them (as
** llama.cpp's test-gguf.cpp does). Deterministic: running it again gives the
** same bytes. Fixture-derived seeds (tok512.bin, tokenizer.model, the
** vocabulary of stories260K) are added when FIXTURES is given.
**
**   fuzz_make_seeds CORPUS_DIR [FIXTURES_DIR]
**
** The files it writes are committed; inputs the fuzzer found (crashes turned
** into regressions, merged corpus entries) live next to them.
*/
#include <errno.h>    /* errno */
#include <jansson.h>  /* JSON texts */
#include <stdarg.h>   /* va_list */
#include <stdio.h>    /* FILE */
#include <stdlib.h>   /* malloc, free, exit */
#include <string.h>   /* memcpy, strlen */
#include <sys/stat.h> /* mkdir */
#include <unistd.h>   /* unlink */

#include "quantkit/quantkit.h"

static const char *corpus_root;
static const char *fixtures;

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_make_seeds: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ------------------------------------------------------------------------
** A growing byte buffer.
*/
typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void put_u8(buf *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}
static void put_le(buf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) put_u8(b, (unsigned)(v >> (8 * i)) & 0xFF);
}
static void put_f32(buf *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_le(b, u, 4);
}
static void put_str(buf *b, const char *s) {
    put(b, s, strlen(s));
}
static void buf_free(buf *b) {
    free(b->p);
    *b = (buf){0};
}

static void write_seed(const char *target, const char *name, const void *data, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", corpus_root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) die("cannot create %s", path);
    snprintf(path, sizeof path, "%s/%s/%s", corpus_root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) die("cannot write %s", path);
}

/* The whole of a fixture file, or NULL when fixtures are not given / absent. */
static unsigned char *read_fixture(const char *rel, size_t *size) {
    if (!fixtures) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixtures, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf b = {0};
    unsigned char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, got);
    fclose(f);
    *size = b.n;
    return b.p;
}

/* Deterministic pseudo-random bytes (64-bit LCG, high bits). */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static unsigned rnd8(void) {
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (unsigned)(rng_state >> 56);
}

/* ------------------------------------------------------------------------
** tokenizer_llama2c: int32 max_token_length, then per token f32 score,
** int32 length, bytes.
*/
static void llama2c_token(buf *b, float score, const char *text) {
    put_f32(b, score);
    put_le(b, strlen(text), 4);
    put_str(b, text);
}

static void seeds_llama2c(void) {
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
    const char *pieces[] = {"\xe2\x96\x81", "a", "b", "ab", "\xe2\x96\x81" "a",
                            "\xe2\x96\x81" "ab", "t", "h", "e", "th", "the", "1", "2"};
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

static void seeds_spm_model(void) {
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
static unsigned gpt2_byte_char(unsigned b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    unsigned k = 0; /* rank of b among the remapped bytes */
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
            k++;
    return 0x100 + k;
}

static void utf8_of(unsigned cp, char *out) {
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
    static const char *merges[][2] = {{"\xc4\xa0", "t"}, {"h", "e"}, {"\xc4\xa0t", "he"},
                                      {"a", "b"},        {"1", "2"}, {"'", "s"},
                                      {"\xc4\x8a", "\xc4\x8a"}};
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
    json_t *added = json_pack(
        "[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}, {s:i, s:s, s:b, s:b, s:b, s:b, s:b}]", "id", 300,
        "content", "<|endoftext|>", "special", 1, "lstrip", 0, "rstrip", 0, "single_word", 0,
        "normalized", 0, "id", 301, "content", "<|user|>", "special", 0, "lstrip", 1, "rstrip", 1,
        "single_word", 1, "normalized", 0);
    json_t *root = json_pack("{s:s, s:o, s:o, s:o, s:o, s:{s:s, s:o, s:o, s:b, s:n}}", "version",
                             "1.0", "added_tokens", added, "normalizer",
                             v.normalizer ? v.normalizer : json_null(), "pre_tokenizer",
                             v.pre_tokenizer ? v.pre_tokenizer : json_null(), "post_processor",
                             v.post_processor ? v.post_processor : json_null(), "model", "type",
                             v.model_type ? v.model_type : "BPE", "vocab", vocab, "merges", m,
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

static void seeds_tokenizer_json(void) {
    const char *llama3 = qk_pretokenizer_pattern(QK_PRETOK_LLAMA3);
    seed_json("seed-gpt2.json", tokenizer_json((json_variant){.pre_tokenizer = byte_level(true)}),
              NULL);
    seed_json("seed-llama3-split.json",
              tokenizer_json((json_variant){
                  .pre_tokenizer = json_pack(
                      "{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, o]}", "type", "Sequence",
                      "pretokenizers", "type", "Split", "pattern", "Regex", llama3, "behavior",
                      "Isolated", "invert", 0, byte_level(false)),
                  .post_processor = json_pack(
                      "{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[i], s:[s]}}}",
                      "type", "TemplateProcessing", "single", "SpecialToken", "id",
                      "<|endoftext|>", "type_id", 0, "Sequence", "id", "A", "type_id", 0,
                      "special_tokens", "<|endoftext|>", "id", "<|endoftext|>", "ids", 300,
                      "tokens", "<|endoftext|>"),
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
    seed_json("broken-unigram.json",
              tokenizer_json((json_variant){.pre_tokenizer = byte_level(true),
                                            .model_type = "Unigram"}),
              NULL);
    seed_json("broken-metaspace.json",
              tokenizer_json((json_variant){
                  .pre_tokenizer = json_pack("{s:s, s:s}", "type", "Metaspace", "replacement",
                                             "\xe2\x96\x81")}),
              NULL);
    seed_json("broken-regex-syntax.json",
              tokenizer_json((json_variant){
                  .pre_tokenizer = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, o]}", "type",
                                             "Sequence", "pretokenizers", "type", "Split",
                                             "pattern", "Regex", "(?<x>[a-", "behavior",
                                             "Isolated", byte_level(false))}),
              NULL);
    seed_json("broken-split-removed.json",
              tokenizer_json((json_variant){
                  .pre_tokenizer = json_pack("{s:s, s:{s:s}, s:s}", "type", "Split", "pattern",
                                             "Regex", "\\s+", "behavior", "Removed")}),
              NULL);
    seed_json("broken-lowercase-normalizer.json",
              tokenizer_json((json_variant){.pre_tokenizer = byte_level(true),
                                            .normalizer = json_pack("{s:s}", "type",
                                                                    "Lowercase")}),
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

/* ------------------------------------------------------------------------
** gguf_read.
*/
static void gguf_str(buf *b, const char *s) {
    put_le(b, strlen(s), 8);
    put_str(b, s);
}

typedef enum gguf_break {
    G_NONE,
    G_MAGIC,
    G_VERSION1,
    G_VERSION4,
    G_BIG_ENDIAN,
    G_HUGE_KV_COUNT,
    G_HUGE_TENSOR_COUNT,
    G_HUGE_KEY_LEN,
    G_EMPTY_KEY,
    G_NUL_IN_KEY,
    G_VALUE_TYPE_13,
    G_ARRAY_OF_ARRAYS,
    G_HUGE_ARRAY,
    G_DUPLICATE_KEY,
    G_ALIGNMENT_0,
    G_ALIGNMENT_3,
    G_ALIGNMENT_STRING,
    G_NDIMS_5,
    G_GGML_TYPE_99,
    G_PARTIAL_BLOCK,
    G_NE_OVERFLOW,
    G_MISALIGNED,
    G_OVERLAP,
    G_PAST_END,
    G_DUPLICATE_TENSOR,
    G_COUNT
} gguf_break;

static const char *const GGUF_BREAK_NAMES[G_COUNT] = {
    "seed-small.gguf",          "broken-magic",           "broken-version-1",
    "broken-version-4",         "broken-big-endian",      "broken-huge-kv-count",
    "broken-huge-tensor-count", "broken-huge-key-length", "broken-empty-key",
    "broken-nul-in-key",        "broken-value-type-13",   "broken-array-of-arrays",
    "broken-huge-array",        "broken-duplicate-key",   "broken-alignment-0",
    "broken-alignment-3",       "broken-alignment-string", "broken-ndims-5",
    "broken-ggml-type-99",      "broken-partial-block",   "broken-ne-overflow",
    "broken-misaligned-offset", "broken-overlap",         "broken-data-past-end",
    "broken-duplicate-tensor"};

/* A small GGUF v3 file written byte by byte: 4 pairs, 3 tensors (f32 [4],
** q8_0 [32], f16 [2, 3]), alignment 32; `brk` breaks one thing. */
static void gguf_small(buf *b, gguf_break brk) {
    put_le(b, brk == G_MAGIC ? 0x46554746u : 0x46554747u, 4);
    uint32_t version = brk == G_VERSION1 ? 1 : brk == G_VERSION4 ? 4 : 3;
    put_le(b, brk == G_BIG_ENDIAN ? 0x03000000u : version, 4);
    put_le(b, brk == G_HUGE_TENSOR_COUNT ? 0x4000000000000000u : 3, 8);
    put_le(b, brk == G_HUGE_KV_COUNT ? 0xFFFFFFFFFFFFFFFFu : 4, 8);
    /* general.architecture = "llama" */
    if (brk == G_HUGE_KEY_LEN) {
        put_le(b, 0x7FFFFFFFFFFFFFF0u, 8);
        put_str(b, "general.architecture");
    } else if (brk == G_EMPTY_KEY) {
        gguf_str(b, "");
    } else if (brk == G_NUL_IN_KEY) {
        put_le(b, 8, 8);
        put(b, "gen\0ral.", 8);
    } else {
        gguf_str(b, "general.architecture");
    }
    put_le(b, brk == G_VALUE_TYPE_13 ? 13 : QK_GGUF_STRING, 4);
    gguf_str(b, "llama");
    /* general.alignment */
    gguf_str(b, "general.alignment");
    if (brk == G_ALIGNMENT_STRING) {
        put_le(b, QK_GGUF_STRING, 4);
        gguf_str(b, "32");
    } else {
        put_le(b, QK_GGUF_U32, 4);
        put_le(b, brk == G_ALIGNMENT_0 ? 0 : brk == G_ALIGNMENT_3 ? 3 : 32, 4);
    }
    /* an i32 array and a string array */
    gguf_str(b, brk == G_DUPLICATE_KEY ? "general.alignment" : "test.ints");
    put_le(b, QK_GGUF_ARRAY, 4);
    put_le(b, brk == G_ARRAY_OF_ARRAYS ? QK_GGUF_ARRAY : QK_GGUF_I32, 4);
    put_le(b, brk == G_HUGE_ARRAY ? 0x1000000000000000u : 3, 8);
    for (int i = 0; i < 3; i++) put_le(b, (uint64_t)(i - 1), 4);
    gguf_str(b, "test.strings");
    put_le(b, QK_GGUF_ARRAY, 4);
    put_le(b, QK_GGUF_STRING, 4);
    put_le(b, 2, 8);
    gguf_str(b, "one");
    gguf_str(b, "");
    /* tensor infos */
    gguf_str(b, "a");
    put_le(b, brk == G_NDIMS_5 ? 5 : 1, 4);
    put_le(b, brk == G_PARTIAL_BLOCK ? 5 : 4, 8);
    if (brk == G_NDIMS_5)
        for (int i = 0; i < 4; i++) put_le(b, 1, 8);
    put_le(b, 0, 4); /* f32 */
    put_le(b, 0, 8);
    gguf_str(b, "b");
    put_le(b, 1, 4);
    put_le(b, brk == G_PARTIAL_BLOCK ? 33 : 32, 8);
    put_le(b, brk == G_GGML_TYPE_99 ? 99 : 8, 4); /* q8_0 */
    put_le(b, brk == G_MISALIGNED ? 48 : brk == G_OVERLAP ? 0 : 32, 8);
    gguf_str(b, brk == G_DUPLICATE_TENSOR ? "a" : "c");
    put_le(b, 2, 4);
    put_le(b, 3, 8);
    put_le(b, brk == G_NE_OVERFLOW ? 0x4000000000000000u : 2, 8);
    put_le(b, 1, 4); /* f16 */
    put_le(b, brk == G_PAST_END ? 4096 : 96, 8);
    while (b->n % 32) put_u8(b, 0);
    /* data: a f32 [4] at 0, q8_0 [32] at 32 (34 bytes), f16 [2,3] at 96 */
    size_t start = b->n;
    put_f32(b, 1.0f);
    put_f32(b, -2.5f);
    put_f32(b, 0.0f);
    put_f32(b, 1e-3f);
    while (b->n - start < 32) put_u8(b, 0);
    put_le(b, qk_f32_to_f16(0.25f), 2);
    for (int i = 0; i < 32; i++) put_u8(b, (unsigned)(i * 9 - 128) & 0xFF);
    while (b->n - start < 96) put_u8(b, 0);
    for (int i = 0; i < 6; i++) put_le(b, qk_f32_to_f16((float)i - 2.0f), 2);
    while (b->n % 32) put_u8(b, 0);
}

static void check(qk_status st, const char *what) {
    if (st != QK_OK) die("%s: %s", what, qk_last_error());
}

/* Every type and value kind, written by quantkit's writer. */
static void gguf_all_types(const char *path) {
    qk_gguf_writer *w = NULL;
    check(qk_gguf_writer_create(path, &w), "gguf writer");
    check(qk_gguf_writer_add_str(w, "general.architecture", "llama"), "kv");
    check(qk_gguf_writer_add_u32(w, "general.alignment", 64), "kv");
    check(qk_gguf_writer_add_u8(w, "t.u8", 200), "kv");
    check(qk_gguf_writer_add_i8(w, "t.i8", -100), "kv");
    check(qk_gguf_writer_add_u16(w, "t.u16", 60000), "kv");
    check(qk_gguf_writer_add_i16(w, "t.i16", -30000), "kv");
    check(qk_gguf_writer_add_i32(w, "t.i32", -2000000000), "kv");
    check(qk_gguf_writer_add_u64(w, "t.u64", 0xFFFFFFFFFFFFFFFFu), "kv");
    check(qk_gguf_writer_add_i64(w, "t.i64", INT64_MIN), "kv");
    check(qk_gguf_writer_add_f32(w, "t.f32", 3.5f), "kv");
    check(qk_gguf_writer_add_f64(w, "t.f64", -1e300), "kv");
    check(qk_gguf_writer_add_bool(w, "t.bool", true), "kv");
    check(qk_gguf_writer_add_str_n(w, "t.str_nul", "a\0b", 3), "kv");
    const uint8_t bools[3] = {1, 0, 1};
    check(qk_gguf_writer_add_arr(w, "t.arr_bool", QK_GGUF_BOOL, bools, 3), "kv");
    const double f64s[2] = {1.5, -0.0};
    check(qk_gguf_writer_add_arr(w, "t.arr_f64", QK_GGUF_F64, f64s, 2), "kv");
    check(qk_gguf_writer_add_arr(w, "t.arr_empty", QK_GGUF_U16, NULL, 0), "kv");
    const char *strs[3] = {"x", "", "\xe2\x96\x81y"};
    check(qk_gguf_writer_add_arr_str(w, "t.arr_str", strs, NULL, 3), "kv");
    /* one small tensor of every type GGUF can hold */
    int n_types = 0;
    qk_type types[QK_TYPE_COUNT];
    for (int t = 0; t < QK_TYPE_COUNT; t++) {
        uint32_t g;
        if (qk_gguf_type_to_ggml((qk_type)t, &g) != QK_OK) continue;
        types[n_types++] = (qk_type)t;
        char name[32];
        snprintf(name, sizeof name, "tensor.%s", qk_type_name((qk_type)t));
        const qk_type_traits *tr = qk_type_get_traits((qk_type)t);
        int64_t shape[2] = {2, tr->block_elems > 1 ? tr->block_elems : 3};
        check(qk_gguf_writer_add_tensor(w, name, (qk_type)t, 2, shape), "tensor");
    }
    int64_t scalar_shape[1] = {0};
    check(qk_gguf_writer_add_tensor(w, "tensor.scalar", QK_TYPE_F32, 0, scalar_shape), "tensor");
    int64_t empty_shape[2] = {0, 32};
    check(qk_gguf_writer_add_tensor(w, "tensor.empty", QK_TYPE_Q8_0, 2, empty_shape), "tensor");
    check(qk_gguf_writer_begin(w), "begin");
    for (int i = 0; i < n_types; i++) {
        const qk_type_traits *tr = qk_type_get_traits(types[i]);
        int64_t n = 2 * (tr->block_elems > 1 ? tr->block_elems : 3);
        size_t bytes;
        check(qk_type_row_bytes(types[i], n, &bytes), "row bytes");
        unsigned char *data = malloc(bytes);
        float *x = malloc((size_t)n * sizeof *x);
        for (int64_t k = 0; k < n; k++) x[k] = (float)((k * 37) % 23) - 11.0f;
        if (qk_quantize_row(types[i], x, data, n, NULL) != QK_OK)
            for (size_t k = 0; k < bytes; k++) data[k] = (unsigned char)rnd8();
        check(qk_gguf_writer_write(w, data, bytes), "write");
        free(data);
        free(x);
    }
    float one = 1.0f;
    check(qk_gguf_writer_write(w, &one, sizeof one), "write");
    check(qk_gguf_writer_commit(w), "commit");
    qk_gguf_writer_free(w);
}

/* The key/value pairs of a real llama.cpp file (stories260K: vocabulary of
** 512 tokens, hyper-parameters) with three tiny tensors. */
static void gguf_real_vocab(const char *src, const char *path) {
    qk_gguf_reader *r = NULL;
    if (qk_gguf_reader_open(src, &r) != QK_OK) return;
    qk_gguf_writer *w = NULL;
    check(qk_gguf_writer_create(path, &w), "gguf writer");
    for (int64_t i = 0; i < qk_gguf_reader_kv_count(r); i++)
        check(qk_gguf_writer_copy_kv(w, r, i), "copy kv");
    int64_t s1[2] = {2, 32}, s2[1] = {8}, s3[2] = {1, 32};
    check(qk_gguf_writer_add_tensor(w, "token_embd.weight", QK_TYPE_Q4_0, 2, s1), "tensor");
    check(qk_gguf_writer_add_tensor(w, "output_norm.weight", QK_TYPE_F32, 1, s2), "tensor");
    check(qk_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", QK_TYPE_Q8_0, 2, s3), "tensor");
    check(qk_gguf_writer_begin(w), "begin");
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = (float)(i % 13) * 0.25f - 1.5f;
    unsigned char q[64 * 2];
    size_t bytes;
    check(qk_type_row_bytes(QK_TYPE_Q4_0, 64, &bytes), "row bytes");
    check(qk_quantize_row(QK_TYPE_Q4_0, x, q, 64, NULL), "quantize");
    check(qk_gguf_writer_write(w, q, bytes), "write");
    check(qk_gguf_writer_write(w, x, 8 * sizeof(float)), "write");
    check(qk_type_row_bytes(QK_TYPE_Q8_0, 32, &bytes), "row bytes");
    check(qk_quantize_row(QK_TYPE_Q8_0, x, q, 32, NULL), "quantize");
    check(qk_gguf_writer_write(w, q, bytes), "write");
    check(qk_gguf_writer_commit(w), "commit");
    qk_gguf_writer_free(w);
    qk_gguf_reader_close(r);
}

/* Move a file written by a writer into the corpus. */
static void adopt(const char *target, const char *name, const char *tmp_path) {
    FILE *f = fopen(tmp_path, "rb");
    if (!f) return;
    buf b = {0};
    unsigned char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, got);
    fclose(f);
    unlink(tmp_path);
    write_seed(target, name, b.p, b.n);
    buf_free(&b);
}

static void seeds_gguf(const char *tmp_dir) {
    if (strlen(tmp_dir) > 512) die("path too long: %s", tmp_dir);
    const char *T = "gguf_read";
    for (int k = 0; k < G_COUNT; k++) {
        buf b = {0};
        gguf_small(&b, (gguf_break)k);
        write_seed(T, GGUF_BREAK_NAMES[k], b.p, b.n);
        if (k == G_NONE) {
            write_seed(T, "broken-truncated-in-tensor-info", b.p, 200);
            write_seed(T, "broken-truncated-data", b.p, b.n - 7);
            write_seed(T, "broken-header-only", b.p, 24);
            /* version 2 is read like version 3 */
            b.p[4] = 2;
            write_seed(T, "seed-small-v2.gguf", b.p, b.n);
        }
        buf_free(&b);
    }
    buf h = {0};
    put_le(&h, 0x46554747u, 4);
    put_le(&h, 3, 4);
    put_le(&h, 0, 8);
    put_le(&h, 0, 8);
    write_seed(T, "seed-empty.gguf", h.p, h.n);
    buf_free(&h);
    write_seed(T, "broken-empty", "", 0);

    char path[1024];
    snprintf(path, sizeof path, "%s/all-types.gguf", tmp_dir);
    gguf_all_types(path);
    adopt(T, "seed-all-types.gguf", path);
    if (fixtures) {
        char src[1024];
        snprintf(src, sizeof src, "%s/golden/llama.cpp/stories260k/stories260K-Q4_0fb.gguf",
                 fixtures);
        snprintf(path, sizeof path, "%s/vocab.gguf", tmp_dir);
        gguf_real_vocab(src, path);
        adopt(T, "seed-stories260k-vocab.gguf", path);
    }
}

/* ------------------------------------------------------------------------
** safetensors_header: byte 0 even = one file, odd = index + NUL + shard.
*/
static void st_file(buf *b, const char *header, const void *data, size_t n) {
    put_le(b, strlen(header), 8);
    put_str(b, header);
    put(b, data, n);
}

static void st_seed(const char *name, const char *header, const void *data, size_t n) {
    buf b = {0};
    put_u8(&b, 0);
    st_file(&b, header, data, n);
    write_seed("safetensors_header", name, b.p, b.n);
    buf_free(&b);
}

static void st_index_seed(const char *name, const char *index, const char *shard_header,
                          const void *data, size_t n) {
    buf b = {0};
    put_u8(&b, 1);
    put_str(&b, index);
    if (shard_header) {
        put_u8(&b, 0);
        st_file(&b, shard_header, data, n);
    }
    write_seed("safetensors_header", name, b.p, b.n);
    buf_free(&b);
}

static void seeds_safetensors(const char *tmp_dir) {
    if (strlen(tmp_dir) > 512) die("path too long: %s", tmp_dir);
    unsigned char data[256];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7 + 3);
    /* offsets: F32 [2,2] 0..16, F16 [3] 16..22, BF16 [1] 22..24, I8 [4] 24..28,
       U8 [2] 28..30, BOOL [2] 30..32, F8_E4M3 [2] 32..34, F8_E5M2 [2] 34..36,
       I64 [1] 40..48, F64 [1] 48..56, I16/U16/I32/U32/U64 after, empty, scalar */
    st_seed("seed-all-dtypes.safetensors",
            "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"\xc3\xa9\"},"
            "\"f32\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
            "\"f16\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
            "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[22,24]},"
            "\"i8\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[24,28]},"
            "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[28,30]},"
            "\"bool\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[30,32]},"
            "\"e4m3\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[32,34]},"
            "\"e5m2\":{\"dtype\":\"F8_E5M2\",\"shape\":[2],\"data_offsets\":[34,36]},"
            "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[40,48]},"
            "\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[48,56]},"
            "\"i16\":{\"dtype\":\"I16\",\"shape\":[1,1,1,2],\"data_offsets\":[56,60]},"
            "\"u16\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[60,64]},"
            "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[64,68]},"
            "\"u32\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[68,72]},"
            "\"u64\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[72,80]},"
            "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[80,80]},"
            "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[80,84]}}",
            data, 84);
    /* made by quantkit's writer */
    char path[1024];
    snprintf(path, sizeof path, "%s/w.safetensors", tmp_dir);
    float w[6] = {1, -2, 3.5f, 0, 1e-8f, -7};
    qk_io_tensor t[2] = {{.name = "model.layers.0.weight", .type = QK_TYPE_F32, .ndim = 2,
                          .shape = {2, 3}, .data = w},
                         {.name = "lm_head.weight", .type = QK_TYPE_BF16, .ndim = 1,
                          .shape = {2}, .data = "\x80\x3f\x00\xc0"}};
    const char *meta[2] = {"format", "pt"};
    check(qk_safetensors_write(path, t, 2, meta, 1), "safetensors write");
    FILE *f = fopen(path, "rb");
    if (f) {
        buf b = {0};
        put_u8(&b, 0);
        unsigned char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, got);
        fclose(f);
        write_seed("safetensors_header", "seed-writer.safetensors", b.p, b.n);
        buf_free(&b);
    }
    unlink(path);

    const char *one = "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char h[512];
    struct {
        const char *name, *header;
        size_t n;
    } broken[] = {
        {"broken-not-object", "[1,2]", 8},
        {"broken-json", "{\"t\":{\"dtype\":\"F32\",", 8},
        {"broken-unknown-dtype", "{\"t\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8},
        {"broken-five-dims",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,8],\"data_offsets\":[0,8]}}", 8},
        {"broken-offsets-reversed",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8},
        {"broken-past-end", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
         8},
        {"broken-shape-mismatch",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8},
        {"broken-overlap",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[0,6]},"
         "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
         8},
        {"broken-duplicate-name",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
         "\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
         8},
        {"broken-metadata-number", "{\"__metadata__\":{\"a\":1}}", 0},
        {"broken-metadata-array", "{\"__metadata__\":[]}", 0},
        {"broken-negative-shape",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[-8],\"data_offsets\":[0,8]}}", 8},
        {"broken-shape-overflow",
         "{\"t\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
         8},
        {"broken-float-offset",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0.0,8]}}", 8},
        {"broken-entry-string", "{\"t\":\"F32\"}", 0},
        {"broken-huge-offset",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18446744073709551615,0]}}", 8},
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
        st_seed(broken[i].name, broken[i].header, data, broken[i].n);
    snprintf(h, sizeof h, "{%s}", one);
    st_seed("seed-one-tensor.safetensors", h, data, 8);
    buf b = {0};
    put_u8(&b, 0);
    put_le(&b, 1000, 8);
    put_str(&b, "{}");
    write_seed("safetensors_header", "broken-header-length-past-end", b.p, b.n);
    buf_free(&b);
    put_u8(&b, 0);
    put_le(&b, 1, 8);
    put_str(&b, "{");
    write_seed("safetensors_header", "broken-header-length-1", b.p, b.n);
    buf_free(&b);
    put_u8(&b, 0);
    put_le(&b, 2, 8);
    put_str(&b, "[]");
    write_seed("safetensors_header", "broken-header-not-brace", b.p, b.n);
    buf_free(&b);
    write_seed("safetensors_header", "broken-short", "\x00\x05\x00\x00", 4);

    /* sharded: index + shard a (tensor "w"); b.safetensors holds "x" and "y" */
    const char *shard_a = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    st_index_seed("seed-index.json",
                  "{\"metadata\":{\"total_size\":18},\"weight_map\":{\"w\":\"a.safetensors\","
                  "\"x\":\"b.safetensors\",\"y\":\"b.safetensors\"}}",
                  shard_a, data, 8);
    st_index_seed("seed-index-b-only.json", "{\"weight_map\":{\"y\":\"b.safetensors\"}}", NULL,
                  NULL, 0);
    st_index_seed("broken-index-missing-tensor",
                  "{\"weight_map\":{\"z\":\"b.safetensors\"}}", NULL, NULL, 0);
    st_index_seed("broken-index-missing-file", "{\"weight_map\":{\"w\":\"c.safetensors\"}}",
                  NULL, NULL, 0);
    st_index_seed("broken-index-parent-path",
                  "{\"weight_map\":{\"w\":\"../a.safetensors\"}}", shard_a, data, 8);
    st_index_seed("broken-index-absolute-path",
                  "{\"weight_map\":{\"w\":\"/etc/passwd\"}}", NULL, NULL, 0);
    st_index_seed("broken-index-no-weight-map", "{\"metadata\":{}}", NULL, NULL, 0);
    st_index_seed("broken-index-not-string", "{\"weight_map\":{\"w\":3}}", NULL, NULL, 0);
    st_index_seed("broken-index-json", "{\"weight_map\":{\"w\":", NULL, NULL, 0);
    st_index_seed("broken-index-bad-shard",
                  "{\"weight_map\":{\"w\":\"a.safetensors\",\"x\":\"b.safetensors\"}}",
                  "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}", data, 8);
}

/* ------------------------------------------------------------------------
** dequant_blocks: type byte, flags byte, block data.
*/
static void seeds_dequant(void) {
    for (int t = 0; t < QK_TYPE_COUNT; t++) {
        const qk_type_traits *tr = qk_type_get_traits((qk_type)t);
        int64_t n = tr->block_elems > 1 ? 2 * (int64_t)tr->block_elems : 16;
        size_t bytes;
        check(qk_type_row_bytes((qk_type)t, n, &bytes), "row bytes");
        char name[64];
        buf b = {0};
        /* random blocks, no options */
        put_u8(&b, (unsigned)t);
        put_u8(&b, 0);
        for (size_t k = 0; k < bytes; k++) put_u8(&b, rnd8());
        snprintf(name, sizeof name, "seed-%s-random", tr->name);
        write_seed("dequant_blocks", name, b.p, b.n);
        buf_free(&b);
        /* blocks made by the quantizer when it handles the type, with
           importance and a second type */
        float *x = malloc((size_t)n * sizeof *x);
        unsigned char *q = malloc(bytes);
        for (int64_t k = 0; k < n; k++) x[k] = (float)((k * 29) % 31) * 0.125f - 1.9f;
        if (qk_quantize_row((qk_type)t, x, q, n, NULL) == QK_OK) {
            put_u8(&b, (unsigned)t);
            put_u8(&b, 1 | 2 | (unsigned)((t * 5 + 3) % QK_TYPE_COUNT) << 2);
            put(&b, q, bytes);
            snprintf(name, sizeof name, "seed-%s-quantized", tr->name);
            write_seed("dequant_blocks", name, b.p, b.n);
            buf_free(&b);
        }
        free(x);
        free(q);
        /* all bits set: NaN / Inf scales */
        put_u8(&b, (unsigned)t);
        put_u8(&b, 1);
        for (size_t k = 0; k < bytes; k++) put_u8(&b, 0xFF);
        snprintf(name, sizeof name, "seed-%s-ones", tr->name);
        write_seed("dequant_blocks", name, b.p, b.n);
        buf_free(&b);
    }
    write_seed("dequant_blocks", "broken-empty", "", 0);
    write_seed("dequant_blocks", "broken-partial-block", "\x13\x00\x01\x02\x03", 5);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s CORPUS_DIR [FIXTURES_DIR]\n", argv[0]);
        return 2;
    }
    corpus_root = argv[1];
    fixtures = argc > 2 ? argv[2] : NULL;
    if (mkdir(corpus_root, 0755) != 0 && errno != EEXIST) die("cannot create %s", corpus_root);
    char tmp[512];
    if (strlen(corpus_root) > 400) die("path too long: %s", corpus_root);
    snprintf(tmp, sizeof tmp, "%s/.make-seeds-tmp", corpus_root);
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) die("cannot create %s", tmp);
    seeds_llama2c();
    seeds_spm_model();
    seeds_tokenizer_json();
    seeds_gguf(tmp);
    seeds_safetensors(tmp);
    seeds_dequant();
    rmdir(tmp);
    printf("fuzz_make_seeds: seeds written to %s\n", corpus_root);
    return 0;
}
