/*
** The tokenizer object: the token table and its hash map, accessors,
** cutting special tokens out of the text, encoding (dispatch, output sizing)
** and decoding.
*/
#include <stdlib.h> /* malloc, calloc, free */
#include <string.h> /* memcpy, memcmp, strlen */

#include "core/error.h"
#include "model/tokenizer_internal.h"

/* ------------------------------------------------------------------------
** Creation and the hash map
*/
qk_status qk_tok_alloc(qk_tokenizer_kind kind, int32_t n, const char *const *tokens,
                       const size_t *lens, qk_tokenizer **out) {
    *out = NULL;
    if (n <= 0 || !tokens)
        return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer: empty vocabulary (%d tokens)", n);
    if (n > (1 << 28)) return qk_error_set(QK_ERR_OVERFLOW, "tokenizer: %d tokens is too many", n);
    qk_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory");
    tok->kind = kind;
    tok->n_vocab = n;
    tok->unk_id = tok->bos_id = tok->eos_id = tok->pad_id = -1;
    tok->text_off = malloc((size_t)n * sizeof *tok->text_off);
    tok->text_len = malloc((size_t)n * sizeof *tok->text_len);
    tok->scores = calloc((size_t)n, sizeof *tok->scores);
    tok->types = malloc((size_t)n);
    size_t total = 0;
    for (int32_t i = 0; i < n && tok->text_off; i++) {
        size_t l = tokens[i] ? (lens ? lens[i] : strlen(tokens[i])) : 0;
        if (l > UINT32_MAX / 2 || !qk_add_size(total, l + 1, &total)) {
            qk_tokenizer_free(tok);
            return qk_error_set(QK_ERR_OVERFLOW, "tokenizer: token %d is too long", i);
        }
    }
    tok->blob = malloc(total ? total : 1);
    if (!tok->text_off || !tok->text_len || !tok->scores || !tok->types || !tok->blob) {
        qk_tokenizer_free(tok);
        return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory for %d tokens", n);
    }
    size_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t l = tokens[i] ? (lens ? lens[i] : strlen(tokens[i])) : 0;
        if (l) memcpy(tok->blob + off, tokens[i], l);
        tok->blob[off + l] = '\0';
        tok->text_off[i] = off;
        tok->text_len[i] = (uint32_t)l;
        tok->types[i] = QK_TOKEN_NORMAL;
        off += l + 1;
    }
    for (int b = 0; b < 256; b++) tok->byte_ids[b] = tok->byte_token[b] = -1;
    *out = tok;
    return QK_OK;
}

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

qk_status qk_tok_map_insert(qk_tokenizer *tok, qk_tok_map *map, uint32_t expected, int32_t id) {
    if (!map->slots) {
        uint32_t cap = 16;
        while (cap < 2u * expected + 2u) cap *= 2;
        map->slots = calloc(cap, sizeof *map->slots);
        if (!map->slots) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory (map)");
        map->mask = cap - 1;
    }
    const char *s = qk_tok_text(tok, id);
    size_t len = tok->text_len[id];
    for (uint32_t i = (uint32_t)hash_bytes(s, len) & map->mask;; i = (i + 1) & map->mask) {
        int32_t v = map->slots[i];
        if (v == 0) {
            map->slots[i] = id + 1;
            return QK_OK;
        }
        if (tok->text_len[v - 1] == len && memcmp(qk_tok_text(tok, v - 1), s, len) == 0)
            return QK_OK; /* keep the lower id */
    }
}

int32_t qk_tok_map_find(const qk_tokenizer *tok, const qk_tok_map *map, const char *s, size_t len) {
    if (!map->slots) return -1;
    for (uint32_t i = (uint32_t)hash_bytes(s, len) & map->mask;; i = (i + 1) & map->mask) {
        int32_t v = map->slots[i];
        if (v == 0) return -1;
        if (tok->text_len[v - 1] == len && memcmp(qk_tok_text(tok, v - 1), s, len) == 0)
            return v - 1;
    }
}

qk_status qk_tok_build_map(qk_tokenizer *tok) {
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        qk_status st = qk_tok_map_insert(tok, &tok->map, (uint32_t)tok->n_vocab, i);
        if (st != QK_OK) return st;
    }
    return QK_OK;
}

qk_status qk_tok_build_specials(qk_tokenizer *tok, unsigned type_mask) {
    free(tok->specials);
    tok->specials = NULL;
    tok->n_specials = 0;
    int32_t n = 0;
    for (int32_t i = 0; i < tok->n_vocab; i++)
        if ((type_mask >> tok->types[i]) & 1u && tok->text_len[i] > 0) n++;
    if (n > 0) {
        tok->specials = calloc((size_t)n, sizeof *tok->specials);
        if (!tok->specials) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory");
    }
    /* bucket by first byte, longest first inside a bucket (insertion sort on
    ** the way in keeps this dependency-free; special lists are short) */
    int32_t count[257] = {0};
    for (int32_t i = 0; i < tok->n_vocab; i++)
        if ((type_mask >> tok->types[i]) & 1u && tok->text_len[i] > 0)
            count[(unsigned char)qk_tok_text(tok, i)[0] + 1]++;
    for (int b = 0; b < 256; b++) count[b + 1] += count[b];
    memcpy(tok->special_start, count, sizeof count);
    int32_t fill[256];
    for (int b = 0; b < 256; b++) fill[b] = count[b];
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        if (!((type_mask >> tok->types[i]) & 1u) || tok->text_len[i] == 0) continue;
        int b = (unsigned char)qk_tok_text(tok, i)[0];
        int32_t j = fill[b]++;
        while (j > tok->special_start[b] &&
               tok->text_len[tok->specials[j - 1].id] < tok->text_len[i]) {
            tok->specials[j] = tok->specials[j - 1];
            j--;
        }
        tok->specials[j] = (qk_tok_special){.id = i};
    }
    tok->n_specials = n;
    return QK_OK;
}

void qk_tokenizer_free(qk_tokenizer *tok) {
    if (!tok) return;
    free(tok->blob);
    free(tok->text_off);
    free(tok->text_len);
    free(tok->scores);
    free(tok->types);
    free(tok->map.slots);
    free(tok->user_map.slots);
    free(tok->specials);
    free(tok->merges);
    for (int32_t i = 0; i < tok->n_steps; i++) pcre2_code_free(tok->regex[i]);
    free(tok);
}

/* ------------------------------------------------------------------------
** Special tokens in the text
*/
static bool is_word_byte(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c >= 0x80;
}
static bool is_space_byte(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

qk_status qk_tok_split_specials(const qk_tokenizer *tok, const char *text, size_t len,
                                bool match_control, qk_tok_fragment **frags, size_t *n_frags) {
    size_t n = 0, cap = 8;
    qk_tok_fragment *f = malloc(cap * sizeof *f);
    if (!f) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory");
    size_t plain = 0; /* start of the current plain run */
    const unsigned char *u = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        int b = u[i];
        int32_t hit = -1;
        size_t hit_len = 0;
        for (int32_t k = tok->special_start[b]; k < tok->special_start[b + 1]; k++) {
            const qk_tok_special *sp = &tok->specials[k];
            if (!match_control && tok->types[sp->id] == QK_TOKEN_CONTROL) continue;
            size_t l = tok->text_len[sp->id];
            if (l > len - i || memcmp(text + i, qk_tok_text(tok, sp->id), l) != 0) continue;
            if (sp->single_word &&
                ((i > 0 && is_word_byte(u[i - 1])) || (i + l < len && is_word_byte(u[i + l]))))
                continue;
            hit = k; /* longest first within the bucket */
            hit_len = l;
            break;
        }
        if (hit < 0) {
            i++;
            continue;
        }
        const qk_tok_special *sp = &tok->specials[hit];
        size_t s = i, e = i + hit_len;
        if (sp->lstrip)
            while (s > plain && is_space_byte(u[s - 1])) s--;
        if (sp->rstrip)
            while (e < len && is_space_byte(u[e])) e++;
        if (n + 2 > cap) {
            cap *= 2;
            qk_tok_fragment *g = realloc(f, cap * sizeof *f);
            if (!g) {
                free(f);
                return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory");
            }
            f = g;
        }
        if (s > plain) f[n++] = (qk_tok_fragment){plain, s - plain, -1};
        f[n++] = (qk_tok_fragment){s, 0, sp->id};
        i = plain = e;
    }
    if (len > plain) {
        if (n + 1 > cap) {
            qk_tok_fragment *g = realloc(f, (cap + 1) * sizeof *f);
            if (!g) {
                free(f);
                return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory");
            }
            f = g;
        }
        f[n++] = (qk_tok_fragment){plain, len - plain, -1};
    }
    *frags = f;
    *n_frags = n;
    return QK_OK;
}

/* ------------------------------------------------------------------------
** Encoding
*/
qk_status qk_tok_out_push(qk_tok_out *out, int32_t id) {
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        int32_t *ids = realloc(out->ids, cap * sizeof *ids);
        if (!ids) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory (%zu ids)", cap);
        out->ids = ids;
        out->cap = cap;
    }
    out->ids[out->n++] = id;
    return QK_OK;
}

size_t qk_tokenizer_encode_bound(size_t len) {
    /* a byte gives at most one token, except a space escaped to "▁" (3 bytes)
    ** which may fall back to 3 byte tokens; plus dummy prefix, BOS, EOS */
    if (len > (SIZE_MAX - 8) / 3) return SIZE_MAX;
    return 3 * len + 8;
}

static qk_status encode_into(const qk_tokenizer *tok, const char *text, size_t len, bool add_bos,
                             bool add_eos, qk_tok_out *out) {
    if (!tok || (!text && len > 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer encode: NULL argument");
    if (len > INT32_MAX / 4)
        return qk_error_set(QK_ERR_OVERFLOW,
                            "tokenizer encode: %zu bytes of text is too long "
                            "for one call (limit %d)",
                            len, INT32_MAX / 4);
    qk_status st;
    if (add_bos && tok->bos_id < 0)
        return qk_error_set(QK_ERR_STATE, "tokenizer encode: BOS asked for but the vocabulary "
                                          "has none");
    if (add_eos && tok->eos_id < 0)
        return qk_error_set(QK_ERR_STATE, "tokenizer encode: EOS asked for but the vocabulary "
                                          "has none");
    if (tok->kind == QK_TOKENIZER_SPM) {
        st = qk_tok_spm_encode(tok, text, len, add_bos, out);
    } else {
        if (add_bos && (st = qk_tok_out_push(out, tok->bos_id)) != QK_OK) return st;
        st = qk_tok_bpe_encode(tok, text, len, out);
    }
    if (st == QK_OK && add_eos) st = qk_tok_out_push(out, tok->eos_id);
    return st;
}

qk_status qk_tokenizer_encode(const qk_tokenizer *tok, const char *text, size_t len, bool add_bos,
                              bool add_eos, int32_t *ids, size_t capacity, size_t *n_ids) {
    qk_tok_out out = {0};
    qk_status st = encode_into(tok, text, len, add_bos, add_eos, &out);
    if (st == QK_OK) {
        if (n_ids) *n_ids = out.n;
        if (out.n > capacity || (out.n > 0 && !ids))
            st = qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                              "tokenizer encode: %zu ids do not fit in "
                              "a buffer of %zu",
                              out.n, capacity);
        else if (out.n > 0)
            memcpy(ids, out.ids, out.n * sizeof *ids);
    }
    free(out.ids);
    return st;
}

qk_status qk_tokenizer_encode_alloc(const qk_tokenizer *tok, const char *text, size_t len,
                                    bool add_bos, bool add_eos, int32_t **ids, size_t *n_ids) {
    if (!ids || !n_ids) return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer encode: NULL output");
    *ids = NULL;
    *n_ids = 0;
    qk_tok_out out = {0};
    qk_status st = encode_into(tok, text, len, add_bos, add_eos, &out);
    if (st != QK_OK) {
        free(out.ids);
        return st;
    }
    *ids = out.ids;
    *n_ids = out.n;
    return QK_OK;
}

/* ------------------------------------------------------------------------
** Decoding
*/
static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" -> NN, else -1 */
static int byte_piece_value(const char *s, size_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

/* Where decoded bytes go: `skip` leading bytes are dropped, then bytes are
** stored while they fit and counted always. */
typedef struct sink {
    char *buf;
    size_t cap, pos, skip;
} sink;

static void put(sink *o, const char *s, size_t n) {
    if (o->skip) {
        size_t k = o->skip < n ? o->skip : n;
        o->skip -= k;
        s += k;
        n -= k;
    }
    if (o->pos < o->cap) memcpy(o->buf + o->pos, s, (o->cap - o->pos < n) ? o->cap - o->pos : n);
    o->pos += n;
}

static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (c < 0x80 || c < 0xC0 || k > n) {
        *cp = c < 0x80 ? c : 0xFFFFFFFFu;
        return 1;
    }
    uint32_t v = c & (0x7F >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFFFFFFu;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return k;
}

/* Decoded bytes of one token appended at *pos; returns false for an id out of range. */
static bool decode_one(const qk_tokenizer *tok, int32_t id, sink *o) {
    if (id < 0 || id >= tok->n_vocab) return false;
    const char *s = qk_tok_text(tok, id);
    size_t len = tok->text_len[id];
    int type = tok->types[id];
    if (type == QK_TOKEN_CONTROL) return true;
    if (tok->kind == QK_TOKENIZER_SPM) {
        if (type == QK_TOKEN_UNKNOWN) {
            put(o, " \xE2\x81\x87 ", 5); /* SentencePiece's unk_surface */
            return true;
        }
        int v = type == QK_TOKEN_BYTE ? byte_piece_value(s, len) : -1;
        if (v >= 0) {
            char c = (char)v;
            put(o, &c, 1);
            return true;
        }
        size_t i = 0;
        while (i < len) {
            if (tok->escape_ws && len - i >= 3 && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                put(o, " ", 1);
                i += 3;
            } else {
                size_t j = i + 1;
                while (j < len && !(tok->escape_ws && s[j] == '\xE2')) j++;
                put(o, s + i, j - i);
                i = j;
            }
        }
        return true;
    }
    if (type == QK_TOKEN_USER_DEFINED) {
        put(o, s, len);
        return true;
    }
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_decode(u + i, len - i, &cp);
        if (cp < 324 && tok->cp_byte[cp] >= 0) {
            char c = (char)tok->cp_byte[cp];
            put(o, &c, 1);
        } else {
            put(o, s + i, k);
        }
        i += k;
    }
    return true;
}

qk_status qk_tokenizer_decode_token(const qk_tokenizer *tok, int32_t id, char *buf, size_t capacity,
                                    size_t *n) {
    if (!tok || !n) return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer decode: NULL argument");
    sink o = {buf, buf ? capacity : 0, 0, 0};
    if (!decode_one(tok, id, &o))
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "tokenizer decode: token id %d is outside "
                            "the vocabulary of %d",
                            id, tok->n_vocab);
    *n = o.pos;
    if (o.pos > o.cap)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "tokenizer decode: %zu bytes do not fit in "
                            "a buffer of %zu",
                            o.pos, o.cap);
    return QK_OK;
}

qk_status qk_tokenizer_decode(const qk_tokenizer *tok, const int32_t *ids, size_t n_ids, char *buf,
                              size_t capacity, size_t *n) {
    if (!tok || !n || (!ids && n_ids))
        return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer decode: NULL argument");
    sink o = {buf, buf ? capacity : 0, 0, 0};
    bool first = tok->kind == QK_TOKENIZER_SPM && tok->add_dummy_prefix && !tok->ws_suffix;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_vocab)
            return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                                "tokenizer decode: token %zu (id %d) is "
                                "outside the vocabulary of %d",
                                i, id, tok->n_vocab);
        if (first && tok->types[id] != QK_TOKEN_CONTROL) {
            /* the dummy prefix: the first piece loses its leading space */
            first = false;
            char c = 0;
            sink probe = {&c, 1, 0, 0};
            decode_one(tok, id, &probe);
            if (tok->types[id] != QK_TOKEN_BYTE && probe.pos > 0 && c == ' ') o.skip = 1;
        }
        decode_one(tok, id, &o);
    }
    *n = o.pos;
    if (o.pos > o.cap)
        return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                            "tokenizer decode: %zu bytes do not fit in "
                            "a buffer of %zu",
                            o.pos, o.cap);
    return QK_OK;
}

/* ------------------------------------------------------------------------
** Accessors
*/
qk_tokenizer_kind qk_tokenizer_get_kind(const qk_tokenizer *tok) {
    return tok ? tok->kind : (qk_tokenizer_kind)0;
}
int32_t qk_tokenizer_n_vocab(const qk_tokenizer *tok) {
    return tok ? tok->n_vocab : 0;
}
int32_t qk_tokenizer_bos_id(const qk_tokenizer *tok) {
    return tok ? tok->bos_id : -1;
}
int32_t qk_tokenizer_eos_id(const qk_tokenizer *tok) {
    return tok ? tok->eos_id : -1;
}
int32_t qk_tokenizer_unk_id(const qk_tokenizer *tok) {
    return tok ? tok->unk_id : -1;
}
bool qk_tokenizer_add_bos(const qk_tokenizer *tok) {
    return tok && tok->add_bos;
}
bool qk_tokenizer_add_eos(const qk_tokenizer *tok) {
    return tok && tok->add_eos;
}

qk_token_type qk_tokenizer_token_type(const qk_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_vocab) return QK_TOKEN_UNDEFINED;
    return (qk_token_type)tok->types[id];
}

float qk_tokenizer_token_score(const qk_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_vocab) return 0.0f;
    return tok->scores[id];
}

const char *qk_tokenizer_token_text(const qk_tokenizer *tok, int32_t id, size_t *len) {
    if (!tok || id < 0 || id >= tok->n_vocab) return NULL;
    if (len) *len = tok->text_len[id];
    return qk_tok_text(tok, id);
}

size_t qk_tokenizer_spm_piece(const qk_tokenizer *tok, int32_t id, char *buf, size_t capacity) {
    if (!tok || id < 0 || id >= tok->n_vocab) return 0;
    const char *text = qk_tok_text(tok, id);
    size_t len = tok->text_len[id];
    const bool raw_spaces = tok->kind == QK_TOKENIZER_SPM && !tok->escape_ws;
    if (raw_spaces && (tok->types[id] == QK_TOKEN_CONTROL || tok->types[id] == QK_TOKEN_UNKNOWN)) {
        /* llama2.c stores "\n<s>\n": the piece is "<s>" */
        while (len > 0 && (text[0] == ' ' || text[0] == '\n' || text[0] == '\t')) text++, len--;
        while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\n' || text[len - 1] == '\t'))
            len--;
    }
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        if (raw_spaces && text[i] == ' ') {
            if (out + 3 <= capacity) memcpy(buf + out, "\xE2\x96\x81", 3); /* U+2581 */
            out += 3;
        } else {
            if (out < capacity) buf[out] = text[i];
            out++;
        }
    }
    return out;
}

int32_t qk_tokenizer_token_id(const qk_tokenizer *tok, const char *text, size_t len) {
    if (!tok || (!text && len)) return -1;
    return qk_tok_map_find(tok, &tok->map, text, len);
}

void qk_tokenizer_options_init(qk_tokenizer_options *opts) {
    opts->add_bos = -1;
    opts->add_eos = -1;
    opts->parse_special = -1;
}
