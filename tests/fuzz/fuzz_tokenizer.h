/*
** What the tokenizer targets do with a tokenizer that loaded: encode a few
** fixed texts and one taken from the input, decode the ids again, decode
** single tokens (valid and invalid ids) and read the vocabulary back. The
** checks are the promises of include/quantkit/tokenizer.h.
*/
#ifndef QK_FUZZ_TOKENIZER_H
#define QK_FUZZ_TOKENIZER_H

#include "fuzz_common.h"

static inline void fuzz_encode_decode(const qk_tokenizer *tok, const char *text, size_t len,
                                      bool add_bos, bool add_eos) {
    int32_t n_vocab = qk_tokenizer_n_vocab(tok);
    size_t bound = qk_tokenizer_encode_bound(len);
    size_t need = 0;
    qk_clear_error();
    qk_status st = qk_tokenizer_encode(tok, text, len, add_bos, add_eos, NULL, 0, &need);
    fuzz_check_status(st);
    if ((add_bos && qk_tokenizer_bos_id(tok) < 0) || (add_eos && qk_tokenizer_eos_id(tok) < 0)) {
        FUZZ_CHECK(st == QK_ERR_STATE); /* BOS / EOS asked for but absent */
        add_bos = add_bos && qk_tokenizer_bos_id(tok) >= 0;
        add_eos = add_eos && qk_tokenizer_eos_id(tok) >= 0;
        qk_clear_error();
        st = qk_tokenizer_encode(tok, text, len, add_bos, add_eos, NULL, 0, &need);
        fuzz_check_status(st);
    }
    /* a character with no piece, no byte token and no <unk> cannot be encoded */
    if (st == QK_ERR_NOT_FOUND) return;
    FUZZ_CHECK(st == QK_OK || st == QK_ERR_OUT_OF_BOUNDS);
    FUZZ_CHECK(st != QK_OK || need == 0);
    FUZZ_CHECK(need <= bound);
    /* exactly `need` slots, on the heap, so that ASan sees a write past them */
    int32_t *ids = malloc((need ? need : 1) * sizeof *ids);
    FUZZ_CHECK(ids != NULL);
    size_t n_ids = 0;
    qk_clear_error();
    st = qk_tokenizer_encode(tok, text, len, add_bos, add_eos, ids, need, &n_ids);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK);
    FUZZ_CHECK(n_ids == need);
    for (size_t i = 0; i < n_ids; i++) FUZZ_CHECK(ids[i] >= 0 && ids[i] < n_vocab);

    /* the allocating variant gives the same ids */
    int32_t *ids2 = NULL;
    size_t n2 = 0;
    qk_clear_error();
    st = qk_tokenizer_encode_alloc(tok, text, len, add_bos, add_eos, &ids2, &n2);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK && n2 == n_ids);
    FUZZ_CHECK(n2 == 0 || memcmp(ids, ids2, n2 * sizeof *ids) == 0);
    free(ids2);

    size_t text_need = 0;
    qk_clear_error();
    st = qk_tokenizer_decode(tok, ids, n_ids, NULL, 0, &text_need);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK || st == QK_ERR_OUT_OF_BOUNDS);
    char *buf = malloc(text_need ? text_need : 1);
    FUZZ_CHECK(buf != NULL);
    size_t got = 0;
    qk_clear_error();
    st = qk_tokenizer_decode(tok, ids, n_ids, buf, text_need, &got);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK && got == text_need);
    fuzz_touch(buf, got);
    free(buf);
    free(ids);
}

static inline void fuzz_decode_token(const qk_tokenizer *tok, int32_t id) {
    size_t need = 0;
    qk_clear_error();
    qk_status st = qk_tokenizer_decode_token(tok, id, NULL, 0, &need);
    fuzz_check_status(st);
    if (id < 0 || id >= qk_tokenizer_n_vocab(tok)) {
        FUZZ_CHECK(st != QK_OK); /* an invalid id */
        return;
    }
    FUZZ_CHECK(st == QK_OK || st == QK_ERR_OUT_OF_BOUNDS);
    char *buf = malloc(need ? need : 1);
    FUZZ_CHECK(buf != NULL);
    size_t got = 0;
    qk_clear_error();
    st = qk_tokenizer_decode_token(tok, id, buf, need, &got);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK && got == need);
    fuzz_touch(buf, got);
    free(buf);
}

static inline void fuzz_exercise_tokenizer(const qk_tokenizer *tok, const uint8_t *data,
                                           size_t size) {
    static const char *const texts[] = {
        "",
        " ",
        "Hello world",
        "Once upon a time, there was a little girl named Lily.",
        "  leading and  double  spaces \n\n tabs\t",
        "\xe2\x96\x81 \xe2\x96\x81\xe2\x96\x81", /* U+2581 */
        "<s> </s> <unk> <|endoftext|> <0x0A>",
        "don't I'll 12345 3.14",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80", /* CJK, emoji */
        "\xff\xfe\xc3 \x80\xe2\x96 \xf0\x9f",                    /* invalid UTF-8 */
    };
    const qk_tokenizer_kind kind = qk_tokenizer_get_kind(tok);
    FUZZ_CHECK(kind == QK_TOKENIZER_SPM || kind == QK_TOKENIZER_BPE);
    const int32_t n_vocab = qk_tokenizer_n_vocab(tok);
    FUZZ_CHECK(n_vocab > 0);
    int32_t specials[3] = {qk_tokenizer_bos_id(tok), qk_tokenizer_eos_id(tok),
                           qk_tokenizer_unk_id(tok)};
    for (int i = 0; i < 3; i++) FUZZ_CHECK(specials[i] >= -1 && specials[i] < n_vocab);

    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        fuzz_encode_decode(tok, texts[i], strlen(texts[i]), i % 2 == 0, i % 3 == 0);
    /* NUL bytes inside the text */
    fuzz_encode_decode(tok, "a\0b\0", 4, false, false);
    /* the last bytes of the input, as text */
    size_t tail = size < 96 ? size : 96;
    fuzz_encode_decode(tok, (const char *)data + size - tail, tail, true, true);

    /* single tokens: the ends, the specials, out of range, ids from the input */
    int32_t probe[8] = {-1, 0, n_vocab - 1, n_vocab, INT32_MIN, INT32_MAX, 0, 0};
    if (size >= 8) {
        uint32_t a, b;
        memcpy(&a, data, 4);
        memcpy(&b, data + size - 4, 4);
        probe[6] = (int32_t)(a % (uint32_t)n_vocab);
        probe[7] = (int32_t)(b % (uint32_t)n_vocab);
    }
    for (int i = 0; i < 8; i++) fuzz_decode_token(tok, probe[i]);
    for (int i = 0; i < 3; i++)
        if (specials[i] >= 0) fuzz_decode_token(tok, specials[i]);

    /* a sequence of arbitrary valid ids decodes */
    if (size >= 4) {
        size_t n = size / 4 < 64 ? size / 4 : 64;
        int32_t *ids = malloc(n * sizeof *ids);
        FUZZ_CHECK(ids != NULL);
        for (size_t i = 0; i < n; i++) {
            uint32_t v;
            memcpy(&v, data + 4 * i, 4);
            ids[i] = (int32_t)(v % (uint32_t)n_vocab);
        }
        size_t need = 0;
        qk_clear_error();
        qk_status st = qk_tokenizer_decode(tok, ids, n, NULL, 0, &need);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK || st == QK_ERR_OUT_OF_BOUNDS);
        free(ids);
    }

    /* the vocabulary reads back: text -> id gives an entry with that text */
    int32_t limit = n_vocab < 2048 ? n_vocab : 2048;
    for (int32_t id = 0; id < limit; id++) {
        size_t len = 0;
        const char *t = qk_tokenizer_token_text(tok, id, &len);
        FUZZ_CHECK(t != NULL);
        fuzz_touch(t, len + 1); /* NUL-terminated */
        (void)qk_tokenizer_token_type(tok, id);
        (void)qk_tokenizer_token_score(tok, id);
        int32_t back = qk_tokenizer_token_id(tok, t, len);
        if (back >= 0) {
            size_t blen = 0;
            const char *bt = qk_tokenizer_token_text(tok, back, &blen);
            FUZZ_CHECK(bt != NULL && blen == len && memcmp(bt, t, len) == 0);
        }
    }
    FUZZ_CHECK(qk_tokenizer_token_text(tok, n_vocab, NULL) == NULL);
    FUZZ_CHECK(qk_tokenizer_token_text(tok, -1, NULL) == NULL);
    FUZZ_CHECK(qk_tokenizer_token_type(tok, n_vocab) == QK_TOKEN_UNDEFINED);
}

/* Options from one byte: add_bos, add_eos, parse_special each -1, 0 or 1. */
static inline void fuzz_tokenizer_options(uint8_t b, qk_tokenizer_options *opts) {
    qk_tokenizer_options_init(opts);
    opts->add_bos = (int)(b % 3) - 1;
    opts->add_eos = (int)(b / 3 % 3) - 1;
    opts->parse_special = (int)(b / 9 % 3) - 1;
}

#endif /* QK_FUZZ_TOKENIZER_H */
