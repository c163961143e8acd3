/*
** SentencePiece-style BPE: pieces with scores, merged best score first over
** the whole normalized text, unknown characters as <0xNN> byte tokens.
**
** SentencePiece (bpe_model.cc) and llama.cpp (llm_tokenizer_spm) do the same
** thing: normalize (spaces to "▁", a dummy "▁" in front), split into UTF-8
** characters (user-defined pieces whole, and frozen), push every adjacent
** pair whose concatenation is a piece onto a queue keyed by that piece's
** score (ties: leftmost), merge the best, look up the two new neighbouring
** pairs, repeat. A symbol left that is no piece is spelled in byte tokens.
** An UNUSED piece produced by a merge is split back into its two halves.
**
** llama2.c's run.c encode() differs in small ways that `llama2c` selects:
** BOS and the dummy " " are symbols that take part in merges, a character
** missing from the vocabulary becomes byte tokens (id byte + 3) whose texts
** ("<0xE2>") are what later merges concatenate, any token may be a merge
** result, and only merges scoring above -1e10 happen.
*/
#include <math.h>   /* isnan */
#include <stdlib.h> /* malloc, realloc, free */
#include <string.h> /* memcmp, memcpy */

#include "core/error.h"
#include "model/tokenizer_internal.h"

#define SPACE_SYMBOL "\xE2\x96\x81" /* U+2581 */

void qk_spm_vocab_init(qk_spm_vocab *v) {
    memset(v, 0, sizeof *v);
    v->unk_id = 0;
    v->bos_id = 1;
    v->eos_id = 2;
    v->pad_id = -1;
    v->add_dummy_prefix = true;
    v->escape_whitespaces = true;
    v->byte_fallback = true;
    v->add_bos = true;
}

static int byte_piece(const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    const char *h = memchr(hex, s[3], 16), *l = memchr(hex, s[4], 16);
    if (!h || !l || !s[3] || !s[4]) return -1;
    return (int)(h - hex) * 16 + (int)(l - hex);
}

qk_status qk_tokenizer_create_spm(const qk_spm_vocab *v, qk_tokenizer **out) {
    if (!v || !out) return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer: NULL argument");
    *out = NULL;
    int32_t n = v->n_tokens;
    const int32_t ids[4] = {v->unk_id, v->bos_id, v->eos_id, v->pad_id};
    const char *names[4] = {"unk", "bos", "eos", "pad"};
    for (int k = 0; k < 4; k++)
        if (ids[k] < -1 || ids[k] >= n)
            return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                                "tokenizer: %s id %d is outside the "
                                "vocabulary of %d tokens",
                                names[k], ids[k], n);
    qk_tokenizer *tok;
    qk_status st = qk_tok_alloc(QK_TOKENIZER_SPM, n, v->tokens, v->token_lens, &tok);
    if (st != QK_OK) return st;
    tok->unk_id = v->unk_id;
    tok->bos_id = v->bos_id;
    tok->eos_id = v->eos_id;
    tok->pad_id = v->pad_id;
    tok->add_bos = v->add_bos;
    tok->add_eos = v->add_eos;
    tok->parse_special = v->parse_special;
    tok->add_dummy_prefix = v->add_dummy_prefix;
    tok->remove_extra_ws = v->remove_extra_whitespaces;
    tok->escape_ws = v->escape_whitespaces;
    tok->ws_suffix = v->treat_whitespace_as_suffix;
    tok->byte_fallback = v->byte_fallback;
    tok->llama2c = v->llama2c;
    for (int32_t i = 0; i < n; i++) {
        float s = v->scores ? v->scores[i] : 0.0f;
        if (isnan(s)) {
            qk_tokenizer_free(tok);
            return qk_error_set(QK_ERR_NONFINITE, "tokenizer: token %d has a NaN score", i);
        }
        tok->scores[i] = s;
        int type;
        if (v->types) {
            type = v->types[i];
            if (type < 0 || type > QK_TOKEN_BYTE) {
                qk_tokenizer_free(tok);
                return qk_error_set(QK_ERR_CORRUPT,
                                    "tokenizer: token %d has type %d (valid: "
                                    "0..6)",
                                    i, type);
            }
            if (type == QK_TOKEN_UNDEFINED) type = QK_TOKEN_NORMAL;
        } else if (i == v->unk_id) {
            type = QK_TOKEN_UNKNOWN;
        } else if (i == v->bos_id || i == v->eos_id || i == v->pad_id) {
            type = QK_TOKEN_CONTROL;
        } else if (byte_piece(qk_tok_text(tok, i), tok->text_len[i]) >= 0) {
            type = QK_TOKEN_BYTE;
        } else {
            type = QK_TOKEN_NORMAL;
        }
        tok->types[i] = (uint8_t)type;
        if (type == QK_TOKEN_UNUSED) tok->has_unused = true;
    }
    if ((st = qk_tok_build_map(tok)) != QK_OK) goto fail;
    for (int32_t i = 0; i < n; i++) {
        int b =
            tok->types[i] == QK_TOKEN_BYTE ? byte_piece(qk_tok_text(tok, i), tok->text_len[i]) : -1;
        if (b >= 0 && tok->byte_ids[b] < 0) tok->byte_ids[b] = i;
        if (tok->types[i] == QK_TOKEN_USER_DEFINED && !tok->llama2c && tok->text_len[i] > 0) {
            if ((st = qk_tok_map_insert(tok, &tok->user_map, (uint32_t)n, i)) != QK_OK) goto fail;
            if (tok->text_len[i] > tok->user_max_len) tok->user_max_len = tok->text_len[i];
        }
    }
    /* may words be merged one at a time? (see encode_fragment) */
    tok->split_at_space = !tok->llama2c;
    for (int32_t i = 0; i < n && tok->split_at_space; i++) {
        int t = tok->types[i];
        if (t != QK_TOKEN_NORMAL && t != QK_TOKEN_USER_DEFINED && t != QK_TOKEN_UNUSED) continue;
        const char *s = qk_tok_text(tok, i);
        size_t l = tok->text_len[i];
        for (size_t j = 1; j < l && tok->split_at_space; j++)
            if (tok->escape_ws ? (l - j >= 3 && memcmp(s + j, SPACE_SYMBOL, 3) == 0) : s[j] == ' ')
                tok->split_at_space = false;
    }
    if (tok->llama2c) /* run.c: byte b is token b + 3, whatever its text */
        for (int b = 0; b < 256; b++) tok->byte_ids[b] = b + 3 < n ? b + 3 : -1;
    if (tok->parse_special && !tok->llama2c &&
        (st = qk_tok_build_specials(tok, 1u << QK_TOKEN_CONTROL)) != QK_OK)
        goto fail;
    *out = tok;
    return QK_OK;
fail:
    qk_tokenizer_free(tok);
    return st;
}

/* ------------------------------------------------------------------------
** Encoding
*/
typedef struct work {
    const qk_tokenizer *tok;
    char *buf; /* normalized text (symbol texts laid end to end) */
    size_t len, cap;
    qk_tok_sym *syms;
    int32_t n_syms, cap_syms;
    qk_tok_heap heap;
    int32_t *rev; /* UNUSED merged id -> length of its left half (0: none) */
} work;

static qk_status buf_put(work *w, const char *s, size_t n) {
    if (n > (size_t)INT32_MAX - w->len) /* symbols hold int32 offsets */
        return qk_error_set(QK_ERR_OVERFLOW, "tokenizer: the normalized text passes 2 GiB");
    /* allocated on the first call even for n == 0: symbols of empty pieces
    ** (an empty BOS text) still point into it, never at NULL + 0 */
    if (w->len + n > w->cap || !w->buf) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) cap *= 2;
        char *b = realloc(w->buf, cap);
        if (!b) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", cap);
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    return QK_OK;
}

static qk_status sym_add(work *w, size_t start, size_t len, int32_t id, bool freeze) {
    if (w->n_syms == w->cap_syms) {
        if (w->cap_syms > INT32_MAX / 4)
            return qk_error_set(QK_ERR_OVERFLOW, "tokenizer: too many symbols");
        int32_t cap = w->cap_syms ? w->cap_syms * 2 : 256;
        qk_tok_sym *s = realloc(w->syms, (size_t)cap * sizeof *s);
        if (!s) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory (%d symbols)", cap);
        w->syms = s;
        w->cap_syms = cap;
    }
    int32_t i = w->n_syms++;
    w->syms[i] = (qk_tok_sym){(int32_t)start, (int32_t)len, i - 1, -1, id, freeze};
    if (i > 0) w->syms[i - 1].next = i;
    return QK_OK;
}

static bool pair_spm(const void *ctx, const qk_tok_sym *l, const qk_tok_sym *r, float *score,
                     int32_t *id) {
    const work *w = ctx;
    const qk_tokenizer *tok = w->tok;
    int32_t k = qk_tok_map_find(tok, &tok->map, w->buf + l->start, (size_t)(l->len + r->len));
    if (k < 0) return false;
    int t = tok->types[k];
    if (t != QK_TOKEN_NORMAL && t != QK_TOKEN_USER_DEFINED && t != QK_TOKEN_UNUSED) return false;
    if (t == QK_TOKEN_UNUSED && w->rev) w->rev[k] = l->len; /* SentencePiece's rev_merge */
    *score = tok->scores[k];
    *id = k;
    return true;
}

static bool pair_llama2c(const void *ctx, const qk_tok_sym *l, const qk_tok_sym *r, float *score,
                         int32_t *id) {
    const work *w = ctx;
    const qk_tokenizer *tok = w->tok;
    int32_t k = qk_tok_map_find(tok, &tok->map, w->buf + l->start, (size_t)(l->len + r->len));
    if (k < 0 || !(tok->scores[k] > -1e10f)) return false;
    *score = tok->scores[k];
    *id = k;
    return true;
}

/* Byte tokens for text no piece covers (or <unk>). */
static qk_status emit_bytes(const qk_tokenizer *tok, const char *s, size_t n, size_t at,
                            qk_tok_out *out) {
    qk_status st;
    if (!tok->byte_fallback) {
        if (tok->unk_id < 0)
            return qk_error_set(QK_ERR_NOT_FOUND,
                                "tokenizer: text at byte %zu is in no piece "
                                "and the vocabulary has no <unk>",
                                at);
        return qk_tok_out_push(out, tok->unk_id);
    }
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok->byte_ids[(unsigned char)s[i]];
        if (id < 0) id = tok->unk_id;
        if (id < 0)
            return qk_error_set(QK_ERR_NOT_FOUND,
                                "tokenizer: byte 0x%02X at byte %zu has no "
                                "byte token and the vocabulary has no <unk>",
                                (unsigned char)s[i], at + i);
        if ((st = qk_tok_out_push(out, id)) != QK_OK) return st;
    }
    return QK_OK;
}

static qk_status emit_piece(const work *w, const char *s, size_t n, int32_t id, size_t at,
                            int depth, qk_tok_out *out) {
    const qk_tokenizer *tok = w->tok;
    if (id < 0) return emit_bytes(tok, s, n, at, out);
    if (tok->types[id] != QK_TOKEN_UNUSED || !w->rev || w->rev[id] <= 0 ||
        (size_t)w->rev[id] >= n || depth > 64)
        return qk_tok_out_push(out, id);
    size_t left = (size_t)w->rev[id];
    int32_t a = qk_tok_map_find(tok, &tok->map, s, left);
    int32_t b = qk_tok_map_find(tok, &tok->map, s + left, n - left);
    qk_status st = emit_piece(w, s, left, a, at, depth + 1, out);
    return st != QK_OK ? st : emit_piece(w, s + left, n - left, b, at + left, depth + 1, out);
}

/* Normalize text[0..n) into w->buf as SentencePiece does. */
static qk_status normalize(work *w, const char *text, size_t n, bool dummy) {
    const qk_tokenizer *tok = w->tok;
    const char *sp = tok->escape_ws ? SPACE_SYMBOL : " ";
    size_t sp_len = tok->escape_ws ? 3 : 1;
    size_t i = 0;
    qk_status st;
    w->len = 0;
    if (tok->remove_extra_ws)
        while (i < n && text[i] == ' ') i++;
    if (i == n) return QK_OK;
    if (dummy && !tok->ws_suffix && (st = buf_put(w, sp, sp_len)) != QK_OK) return st;
    bool prev_space = tok->remove_extra_ws;
    while (i < n) {
        size_t j = i;
        if (text[i] == ' ') {
            if (!(tok->remove_extra_ws && prev_space) && (st = buf_put(w, sp, sp_len)) != QK_OK)
                return st;
            prev_space = true;
            i++;
            continue;
        }
        while (j < n && text[j] != ' ') j++;
        if ((st = buf_put(w, text + i, j - i)) != QK_OK) return st;
        prev_space = false;
        i = j;
    }
    if (tok->remove_extra_ws)
        while (w->len >= sp_len && memcmp(w->buf + w->len - sp_len, sp, sp_len) == 0)
            w->len -= sp_len;
    if (dummy && tok->ws_suffix && w->len > 0 && (st = buf_put(w, sp, sp_len)) != QK_OK) return st;
    return QK_OK;
}

/* One plain-text fragment, SentencePiece / llama.cpp flavour. */
/* Merge the symbols gathered so far and emit their ids. */
static qk_status flush_chunk(work *w, size_t at, qk_tok_out *out) {
    qk_status st;
    if (w->n_syms == 0) return QK_OK;
    if ((st = qk_tok_merge(w->syms, w->n_syms, pair_spm, w, &w->heap)) != QK_OK) return st;
    /* offsets in errors: the normalized text's, close enough to name the place */
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
        const qk_tok_sym *s = &w->syms[i];
        st = emit_piece(w, w->buf + s->start, (size_t)s->len, s->id, at + (size_t)s->start, 0, out);
        if (st != QK_OK) return st;
    }
    w->n_syms = 0;
    return QK_OK;
}

/* One plain-text fragment, SentencePiece / llama.cpp flavour. When no piece
** that can be a merge result has the space symbol after its first byte
** (tok->split_at_space), no pair across the start of a "▁..." word can ever
** merge, so each word is merged on its own: the same result as merging over
** the whole text, with a queue that stays small. */
static qk_status encode_fragment(work *w, const char *text, size_t n, bool dummy, size_t at,
                                 qk_tok_out *out) {
    const qk_tokenizer *tok = w->tok;
    qk_status st = normalize(w, text, n, dummy);
    if (st != QK_OK) return st;
    const char *sp = tok->escape_ws ? SPACE_SYMBOL : " ";
    size_t sp_len = tok->escape_ws ? 3 : 1;
    w->n_syms = 0;
    const unsigned char *u = (const unsigned char *)w->buf;
    for (size_t p = 0; p < w->len;) {
        size_t k = 0;
        int32_t id = -1;
        if (tok->split_at_space && w->n_syms > 0 && w->len - p >= sp_len &&
            memcmp(w->buf + p, sp, sp_len) == 0 && (st = flush_chunk(w, at, out)) != QK_OK)
            return st;
        if (tok->user_max_len) { /* longest user-defined piece here */
            size_t max = w->len - p < tok->user_max_len ? w->len - p : tok->user_max_len;
            for (size_t l = max; l > 0 && id < 0; l--) {
                id = qk_tok_map_find(tok, &tok->user_map, w->buf + p, l);
                if (id >= 0) k = l;
            }
        }
        bool frozen = id >= 0;
        if (!frozen) {
            k = qk_tok_char_len(u + p, w->len - p);
            id = qk_tok_map_find(tok, &tok->map, w->buf + p, k);
        }
        if ((st = sym_add(w, p, k, id, frozen)) != QK_OK) return st;
        p += k;
    }
    return flush_chunk(w, at, out);
}

/* One character (or the dummy " ") of llama2.c's first pass: its token, or
** its bytes as byte tokens. */
static qk_status llama2c_char(work *w, const char *c, size_t k, size_t at) {
    const qk_tokenizer *tok = w->tok;
    qk_status st;
    int32_t id = qk_tok_map_find(tok, &tok->map, c, k);
    if (id >= 0) {
        size_t start = w->len;
        if ((st = buf_put(w, c, k)) != QK_OK) return st;
        return sym_add(w, start, k, id, false);
    }
    for (size_t b = 0; b < k; b++) {
        int32_t bid = tok->byte_ids[(unsigned char)c[b]];
        if (bid < 0) bid = tok->unk_id;
        if (bid < 0)
            return qk_error_set(QK_ERR_NOT_FOUND,
                                "tokenizer: byte 0x%02X at byte %zu has no "
                                "byte token",
                                (unsigned char)c[b], at + b);
        size_t start = w->len, l = tok->text_len[bid];
        if ((st = buf_put(w, qk_tok_text(tok, bid), l)) != QK_OK ||
            (st = sym_add(w, start, l, bid, false)) != QK_OK)
            return st;
    }
    return QK_OK;
}

static qk_status encode_llama2c(work *w, const char *text, size_t n, bool add_bos,
                                qk_tok_out *out) {
    const qk_tokenizer *tok = w->tok;
    qk_status st;
    w->len = 0;
    w->n_syms = 0;
    if (add_bos) {
        size_t l = tok->text_len[tok->bos_id];
        if ((st = buf_put(w, qk_tok_text(tok, tok->bos_id), l)) != QK_OK ||
            (st = sym_add(w, 0, l, tok->bos_id, false)) != QK_OK)
            return st;
    }
    if (n > 0 && (st = llama2c_char(w, " ", 1, 0)) != QK_OK) return st; /* dummy prefix */
    const unsigned char *u = (const unsigned char *)text;
    for (size_t p = 0; p < n;) {
        size_t k = qk_tok_char_len(u + p, n - p);
        if ((st = llama2c_char(w, text + p, k, p)) != QK_OK) return st;
        p += k;
    }
    if (w->n_syms == 0) return QK_OK;
    if ((st = qk_tok_merge(w->syms, w->n_syms, pair_llama2c, w, &w->heap)) != QK_OK) return st;
    for (int32_t i = 0; i >= 0; i = w->syms[i].next)
        if ((st = qk_tok_out_push(out, w->syms[i].id)) != QK_OK) return st;
    return QK_OK;
}

qk_status qk_tok_spm_encode(const qk_tokenizer *tok, const char *text, size_t len, bool add_bos,
                            qk_tok_out *out) {
    work w = {.tok = tok};
    qk_status st = QK_OK;
    qk_tok_fragment *frags = NULL;
    size_t n_frags = 0;
    if (tok->llama2c) {
        st = encode_llama2c(&w, text, len, add_bos, out);
        goto done;
    }
    if (tok->has_unused && !(w.rev = calloc((size_t)tok->n_vocab, sizeof *w.rev))) {
        st = qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory");
        goto done;
    }
    if (add_bos && (st = qk_tok_out_push(out, tok->bos_id)) != QK_OK) goto done;
    if (tok->parse_special && tok->n_specials > 0) {
        if ((st = qk_tok_split_specials(tok, text, len, true, &frags, &n_frags)) != QK_OK)
            goto done;
    } else if (len > 0) {
        frags = malloc(sizeof *frags);
        if (!frags) {
            st = qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory");
            goto done;
        }
        frags[0] = (qk_tok_fragment){0, len, -1};
        n_frags = 1;
    }
    /* llama.cpp: a dummy prefix for the text at the start and after each special */
    bool prev_special = true;
    for (size_t f = 0; f < n_frags && st == QK_OK; f++) {
        if (frags[f].special >= 0) {
            st = qk_tok_out_push(out, frags[f].special);
            prev_special = true;
        } else {
            st = encode_fragment(&w, text + frags[f].start, frags[f].len,
                                 tok->add_dummy_prefix && prev_special, frags[f].start, out);
            prev_special = false;
        }
    }
done:
    free(frags);
    free(w.buf);
    free(w.syms);
    free(w.heap.a);
    free(w.rev);
    return st;
}
