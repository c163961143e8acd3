/*
** The array constructor fed with GGUF `llama` vocabularies, as llama.cpp
** reads them (tokenizer.ggml.tokens / scores / token_type and the special
** ids), from the golden GGUF files of ../shared/fixtures. The fixtures say
** llama.cpp's tokenizer gives exactly the reference ids of token_ids.json for
** both models: `spm` for fixture-llama-7m (no BOS), `llama2c` for stories260K
** (BOS). The GGUF key/value section is read by a small reader in this test.
*/
#include "qk_test.h"

#include <jansson.h>

typedef struct gguf_vocab {
    unsigned char *data;
    size_t size;
    const char **tokens;
    size_t *lens;
    float *scores;
    int32_t *types;
    int64_t n, n_scores, n_types;
    int32_t bos, eos, unk;
    int add_bos; /* -1 absent */
} gguf_vocab;

typedef struct rd {
    const unsigned char *p;
    size_t pos, size;
} rd;

static uint64_t rd_u(rd *r, size_t n) {
    if (r->size - r->pos < n) fail_msg("GGUF key/value section runs past the bytes read");
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += n;
    return v;
}

static const char *rd_str(rd *r, size_t *len) {
    *len = (size_t)rd_u(r, 8);
    if (r->size - r->pos < *len) fail_msg("GGUF string runs past the bytes read");
    const char *s = (const char *)r->p + r->pos;
    r->pos += *len;
    return s;
}

static size_t scalar_size(uint32_t t) {
    static const size_t sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t > 12 || t == 8 || t == 9) fail_msg("GGUF type %u is not a fixed-size scalar", t);
    return sizes[t];
}

static void key_is(const char *k, size_t kl, const char *want, bool *out) {
    *out = kl == strlen(want) && memcmp(k, want, kl) == 0;
}

static void read_gguf_vocab(const char *path, gguf_vocab *v) {
    memset(v, 0, sizeof *v);
    v->bos = v->eos = v->unk = -1;
    v->add_bos = -1;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    v->data = malloc(4 << 20); /* the key/value section is well inside the first 4 MiB */
    v->size = fread(v->data, 1, 4 << 20, f);
    fclose(f);
    rd r = {v->data, 0, v->size};
    assert_memory_equal(v->data, "GGUF", 4);
    r.pos = 4;
    assert_int_equal(rd_u(&r, 4), 3);
    rd_u(&r, 8); /* tensors */
    uint64_t n_kv = rd_u(&r, 8);
    for (uint64_t k = 0; k < n_kv; k++) {
        size_t kl;
        const char *key = rd_str(&r, &kl);
        uint32_t type = (uint32_t)rd_u(&r, 4);
        bool is_tokens, is_scores, is_types, is_bos, is_eos, is_unk, is_add_bos;
        key_is(key, kl, "tokenizer.ggml.tokens", &is_tokens);
        key_is(key, kl, "tokenizer.ggml.scores", &is_scores);
        key_is(key, kl, "tokenizer.ggml.token_type", &is_types);
        key_is(key, kl, "tokenizer.ggml.bos_token_id", &is_bos);
        key_is(key, kl, "tokenizer.ggml.eos_token_id", &is_eos);
        key_is(key, kl, "tokenizer.ggml.unknown_token_id", &is_unk);
        key_is(key, kl, "tokenizer.ggml.add_bos_token", &is_add_bos);
        if (type == 8) {
            size_t l;
            rd_str(&r, &l);
        } else if (type == 9) {
            uint32_t et = (uint32_t)rd_u(&r, 4);
            uint64_t n = rd_u(&r, 8);
            if (is_tokens) {
                assert_int_equal(et, 8);
                v->n = (int64_t)n;
                v->tokens = calloc(n, sizeof *v->tokens);
                v->lens = calloc(n, sizeof *v->lens);
                for (uint64_t i = 0; i < n; i++) v->tokens[i] = rd_str(&r, &v->lens[i]);
            } else if (is_scores || is_types) {
                assert_int_equal(et, is_scores ? 6 : 5);
                float *fs = is_scores ? (v->scores = calloc(n, 4)) : NULL;
                int32_t *ts = is_types ? (v->types = calloc(n, 4)) : NULL;
                for (uint64_t i = 0; i < n; i++) {
                    uint32_t u = (uint32_t)rd_u(&r, 4);
                    if (fs) memcpy(&fs[i], &u, 4);
                    if (ts) memcpy(&ts[i], &u, 4);
                }
                *(is_scores ? &v->n_scores : &v->n_types) = (int64_t)n;
            } else if (et == 8) {
                for (uint64_t i = 0; i < n; i++) {
                    size_t l;
                    rd_str(&r, &l);
                }
            } else {
                r.pos += scalar_size(et) * n;
            }
        } else {
            uint64_t val = rd_u(&r, scalar_size(type));
            if (is_bos) v->bos = (int32_t)val;
            if (is_eos) v->eos = (int32_t)val;
            if (is_unk) v->unk = (int32_t)val;
            if (is_add_bos) v->add_bos = (int)val;
        }
    }
    assert_true(v->n > 0 && v->n_scores == v->n && v->n_types == v->n);
}

static void free_gguf_vocab(gguf_vocab *v) {
    free(v->data);
    free(v->tokens);
    free(v->lens);
    free(v->scores);
    free(v->types);
}

static qk_tokenizer *create_from_gguf(const char *rel) {
    gguf_vocab g;
    read_gguf_vocab(qk_test_fixture(rel), &g);
    qk_spm_vocab v;
    qk_spm_vocab_init(&v); /* llama.cpp's SPM defaults: dummy prefix, byte fallback */
    v.n_tokens = (int32_t)g.n;
    v.tokens = g.tokens;
    v.token_lens = g.lens;
    v.scores = g.scores;
    v.types = g.types;
    v.bos_id = g.bos;
    v.eos_id = g.eos;
    v.unk_id = g.unk >= 0 ? g.unk : 0;
    if (g.add_bos >= 0) v.add_bos = g.add_bos != 0;
    qk_tokenizer *tok;
    QK_ASSERT_OK(qk_tokenizer_create_spm(&v, &tok));
    free_gguf_vocab(&g); /* the tokenizer keeps its own copies */
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
