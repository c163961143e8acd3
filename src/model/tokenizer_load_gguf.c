/*
** Tokenizers from GGUF metadata (tokenizer.ggml.*), as llama.cpp builds its
** vocabulary: model "llama" is SentencePiece-style BPE from tokens, scores
** and token types; model "gpt2" is byte-level BPE from tokens and merges,
** with the pre-tokenizer named by tokenizer.ggml.pre.
*/
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/gguf.h"
#include "quantkit/tokenizer.h"

/* tokenizer.ggml.tokens as borrowed pointers into the mapping. */
static qk_status read_strings(const qk_gguf_reader *r, const char *key, const char ***out_strs,
                              size_t **out_lens, int64_t *out_n) {
    *out_strs = NULL;
    *out_lens = NULL;
    *out_n = 0;
    int64_t idx = qk_gguf_reader_find_key(r, key);
    if (idx < 0) return qk_error_set(QK_ERR_NOT_FOUND, "%s: no %s", qk_gguf_reader_path(r), key);
    uint64_t n;
    qk_status st = qk_gguf_reader_get_arr(r, key, QK_GGUF_STRING, NULL, &n);
    if (st != QK_OK) return st;
    if (n > INT32_MAX)
        return qk_error_set(QK_ERR_CORRUPT, "%s: %s has %llu entries", qk_gguf_reader_path(r), key,
                            (unsigned long long)n);
    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (!strs || !lens) {
        free(strs);
        free(lens);
        return qk_error_set(QK_ERR_NOMEM, "%s: no memory for %llu strings", key,
                            (unsigned long long)n);
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len;
        st = qk_gguf_reader_arr_str(r, idx, i, &strs[i], &len);
        if (st != QK_OK) {
            free(strs);
            free(lens);
            return st;
        }
        lens[i] = (size_t)len;
    }
    *out_strs = strs;
    *out_lens = lens;
    *out_n = (int64_t)n;
    return QK_OK;
}

/* A numeric array with exactly n elements, copied (aligned), or NULL when
** the key is absent. */
static qk_status read_numbers(const qk_gguf_reader *r, const char *key, qk_gguf_value_type type,
                              int64_t n, void **out) {
    *out = NULL;
    if (qk_gguf_reader_find_key(r, key) < 0) return QK_OK;
    void *buf = malloc((size_t)(n ? n : 1) * 4);
    if (!buf) return qk_error_set(QK_ERR_NOMEM, "%s: no memory", key);
    qk_status st = qk_gguf_reader_copy_arr(r, key, type, buf, (uint64_t)n);
    if (st != QK_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return QK_OK;
}

static int32_t get_id(const qk_gguf_reader *r, const char *key, int32_t fallback) {
    int64_t v;
    if (qk_gguf_reader_get_int(r, key, &v) != QK_OK) return fallback;
    /* llama.cpp writes 0xFFFFFFFF for "none" */
    if (v < 0 || v > INT32_MAX) return -1;
    return (int32_t)v;
}

static int get_flag(const qk_gguf_reader *r, const char *key) {
    bool b;
    return qk_gguf_reader_get_bool(r, key, &b) == QK_OK ? (int)b : -1;
}

static qk_pretokenizer pretokenizer_for(const char *pre) {
    if (!pre) return QK_PRETOK_GPT2;
    if (strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "llama3") == 0) return QK_PRETOK_LLAMA3;
    if (strcmp(pre, "qwen2") == 0) return QK_PRETOK_QWEN2;
    return QK_PRETOK_GPT2;
}

qk_status qk_tokenizer_load_gguf(const qk_gguf_reader *r, const qk_tokenizer_options *opts,
                                 qk_tokenizer **out) {
    if (!r || !out) return qk_error_set(QK_ERR_INVALID_ARG, "GGUF tokenizer: NULL argument");
    *out = NULL;
    const char *path = qk_gguf_reader_path(r);
    const char *model = NULL;
    qk_status st = qk_gguf_reader_get_str(r, "tokenizer.ggml.model", &model);
    if (st != QK_OK) return qk_error_set(QK_ERR_NOT_FOUND, "%s: no tokenizer.ggml.model", path);
    const char **tokens = NULL;
    size_t *lens = NULL;
    int64_t n = 0;
    void *scores = NULL, *types = NULL;
    const char **merges = NULL;
    size_t *merge_lens = NULL;
    char **merge_copies = NULL;
    int64_t n_merges = 0;
    if ((st = read_strings(r, "tokenizer.ggml.tokens", &tokens, &lens, &n)) != QK_OK) goto done;
    if ((st = read_numbers(r, "tokenizer.ggml.token_type", QK_GGUF_I32, n, &types)) != QK_OK)
        goto done;
    const int add_bos = get_flag(r, "tokenizer.ggml.add_bos_token");
    const int add_eos = get_flag(r, "tokenizer.ggml.add_eos_token");
    if (strcmp(model, "llama") == 0) {
        if ((st = read_numbers(r, "tokenizer.ggml.scores", QK_GGUF_F32, n, &scores)) != QK_OK)
            goto done;
        qk_spm_vocab v;
        qk_spm_vocab_init(&v);
        v.n_tokens = (int32_t)n;
        v.tokens = tokens;
        v.token_lens = lens;
        v.scores = scores;
        v.types = types;
        v.unk_id = get_id(r, "tokenizer.ggml.unknown_token_id", 0);
        v.bos_id = get_id(r, "tokenizer.ggml.bos_token_id", 1);
        v.eos_id = get_id(r, "tokenizer.ggml.eos_token_id", 2);
        v.pad_id = get_id(r, "tokenizer.ggml.padding_token_id", -1);
        if (add_bos >= 0) v.add_bos = add_bos;
        if (add_eos >= 0) v.add_eos = add_eos;
        if (opts && opts->add_bos >= 0) v.add_bos = opts->add_bos;
        if (opts && opts->add_eos >= 0) v.add_eos = opts->add_eos;
        if (opts && opts->parse_special >= 0) v.parse_special = opts->parse_special;
        st = qk_tokenizer_create_spm(&v, out);
    } else if (strcmp(model, "gpt2") == 0) {
        if ((st = read_strings(r, "tokenizer.ggml.merges", &merges, &merge_lens, &n_merges)) !=
            QK_OK)
            goto done;
        /* the byte-level constructor takes NUL-terminated "a b" strings */
        merge_copies = calloc((size_t)(n_merges ? n_merges : 1), sizeof *merge_copies);
        if (!merge_copies) {
            st = qk_error_set(QK_ERR_NOMEM, "%s: no memory for merges", path);
            goto done;
        }
        for (int64_t i = 0; i < n_merges; i++) {
            merge_copies[i] = malloc(merge_lens[i] + 1);
            if (!merge_copies[i]) {
                st = qk_error_set(QK_ERR_NOMEM, "%s: no memory for merges", path);
                goto done;
            }
            memcpy(merge_copies[i], merges[i], merge_lens[i]);
            merge_copies[i][merge_lens[i]] = '\0';
        }
        const char *pre = NULL;
        qk_gguf_reader_get_str(r, "tokenizer.ggml.pre", &pre);
        qk_bpe_vocab v;
        qk_bpe_vocab_init(&v);
        v.n_tokens = (int32_t)n;
        v.tokens = tokens;
        v.token_lens = lens;
        v.types = types;
        v.n_merges = (int32_t)n_merges;
        v.merges = (const char *const *)merge_copies;
        v.pretokenizer = pretokenizer_for(pre);
        v.unk_id = get_id(r, "tokenizer.ggml.unknown_token_id", -1);
        v.bos_id = get_id(r, "tokenizer.ggml.bos_token_id", -1);
        v.eos_id = get_id(r, "tokenizer.ggml.eos_token_id", -1);
        v.add_bos = add_bos > 0;
        v.add_eos = add_eos > 0;
        if (opts && opts->add_bos >= 0) v.add_bos = opts->add_bos;
        if (opts && opts->add_eos >= 0) v.add_eos = opts->add_eos;
        if (opts && opts->parse_special >= 0) v.parse_special = opts->parse_special;
        st = qk_tokenizer_create_bpe(&v, out);
    } else {
        st = qk_error_set(QK_ERR_UNSUPPORTED,
                          "%s: tokenizer.ggml.model '%s' is not supported "
                          "(llama, gpt2)",
                          path, model);
    }
    if (st != QK_OK) qk_error_prefix("%s", path);
done:
    if (merge_copies)
        for (int64_t i = 0; i < n_merges; i++) free(merge_copies[i]);
    free(merge_copies);
    free(merges);
    free(merge_lens);
    free(tokens);
    free(lens);
    free(scores);
    free(types);
    return st;
}
