/*
** llama2.c tokenizer.bin: int32 max_token_length, then for every token
** f32 score, int32 length, `length` bytes of text (little endian). The file
** does not store the token count: tokens run to the end of the file. Token 0
** is <unk>, 1 is BOS ("\n<s>\n"), 2 is EOS ("\n</s>\n"), 3..258 are the byte
** tokens <0x00>..<0xFF>; spaces are plain ' ' (no "▁").
*/
#include <stdlib.h> /* malloc, realloc, free */
#include <string.h> /* memcpy */

#include "core/error.h"
#include "model/tokenizer_internal.h"

static int32_t rd_i32(const unsigned char *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t r;
    memcpy(&r, &v, 4);
    return r;
}

static float rd_f32(const unsigned char *p) {
    uint32_t v = (uint32_t)rd_i32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

qk_status qk_tokenizer_load_llama2c_memory(const void *data, size_t size, const char *name,
                                           const qk_tokenizer_options *opts, qk_tokenizer **out) {
    if (!out || (!data && size)) return qk_error_set(QK_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    if (!name) name = "tokenizer.bin";
    const unsigned char *p = data;
    if (size < 4)
        return qk_error_set(QK_ERR_TRUNCATED,
                            "%s: truncated at byte 0: max_token_length needs "
                            "4 bytes, the file has %zu",
                            name, size);
    int32_t max_len = rd_i32(p);
    if (max_len <= 0)
        return qk_error_set(QK_ERR_CORRUPT, "%s: max_token_length %d at byte 0 is not positive",
                            name, max_len);
    size_t n = 0, cap = 0, pos = 4;
    const char **texts = NULL;
    size_t *lens = NULL;
    float *scores = NULL;
    qk_status st = QK_OK;
    while (pos < size) {
        if (size - pos < 8) {
            st = qk_error_set(QK_ERR_TRUNCATED,
                              "%s: truncated at byte %zu: token %zu needs 8 "
                              "bytes of score and length, %zu left",
                              name, pos, n, size - pos);
            goto done;
        }
        float score = rd_f32(p + pos);
        int32_t len = rd_i32(p + pos + 4);
        if (len < 0 || len > max_len) {
            st = qk_error_set(QK_ERR_CORRUPT,
                              "%s: token %zu at byte %zu has length %d (valid: "
                              "0..max_token_length %d)",
                              name, n, pos + 4, len, max_len);
            goto done;
        }
        if ((size_t)len > size - pos - 8) {
            st = qk_error_set(QK_ERR_TRUNCATED,
                              "%s: truncated at byte %zu: token %zu has "
                              "length %d, %zu bytes left",
                              name, pos + 8, n, len, size - pos - 8);
            goto done;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            const char **t = realloc(texts, cap * sizeof *t);
            if (t) texts = t;
            size_t *l = realloc(lens, cap * sizeof *l);
            if (l) lens = l;
            float *s = realloc(scores, cap * sizeof *s);
            if (s) scores = s;
            if (!t || !l || !s || n >= (1u << 28)) {
                st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory at token %zu", name, n);
                goto done;
            }
        }
        texts[n] = (const char *)p + pos + 8;
        lens[n] = (size_t)len;
        scores[n] = score;
        n++;
        pos += 8 + (size_t)len;
    }
    if (n == 0) {
        st = qk_error_set(QK_ERR_CORRUPT, "%s: no tokens after the 4-byte header", name);
        goto done;
    }
    qk_spm_vocab v;
    qk_spm_vocab_init(&v);
    v.n_tokens = (int32_t)n;
    v.tokens = texts;
    v.token_lens = lens;
    v.scores = scores;
    v.unk_id = n > 0 ? 0 : -1;
    v.bos_id = n > 1 ? 1 : -1;
    v.eos_id = n > 2 ? 2 : -1;
    v.escape_whitespaces = false;
    v.llama2c = true;
    if (opts && opts->add_bos >= 0) v.add_bos = opts->add_bos != 0;
    if (opts && opts->add_eos >= 0) v.add_eos = opts->add_eos != 0;
    v.add_bos = v.add_bos && v.bos_id >= 0;
    v.add_eos = v.add_eos && v.eos_id >= 0;
    st = qk_tokenizer_create_spm(&v, out);
    if (st != QK_OK) qk_error_prefix("%s", name);
done:
    free(texts);
    free(lens);
    free(scores);
    return st;
}

qk_status qk_tokenizer_load_llama2c(const char *path, const qk_tokenizer_options *opts,
                                    qk_tokenizer **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    char *data;
    size_t size;
    qk_status st = qk_tok_read_file(path, &data, &size);
    if (st != QK_OK) return st;
    st = qk_tokenizer_load_llama2c_memory(data, size, path, opts, out);
    free(data);
    return st;
}
