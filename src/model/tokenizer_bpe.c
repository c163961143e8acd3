/*
** Byte-level BPE (GPT-2, Llama-3, Qwen2 ...): added tokens are cut out of the
** text, the rest is split by the pre-tokenizer's regular expressions, each
** piece's bytes are mapped to GPT-2's printable characters (bytes_to_unicode)
** and merged pair by pair, the pair of lowest merge rank first (ties: the
** leftmost), as Hugging Face tokenizers' BPE model and llama.cpp do.
*/
#include <stdlib.h> /* malloc, calloc, realloc, free */
#include <string.h> /* memcpy, strchr, strlen */

#include "core/error.h"
#include "model/tokenizer_internal.h"

/* The patterns as the models' tokenizer.json files (and HF's ByteLevel
** pre-tokenizer for GPT-2) write them. */
static const char PATTERN_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char PATTERN_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PATTERN_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char *qk_pretokenizer_pattern(qk_pretokenizer pretok) {
    switch (pretok) {
    case QK_PRETOK_GPT2:
        return PATTERN_GPT2;
    case QK_PRETOK_LLAMA3:
        return PATTERN_LLAMA3;
    case QK_PRETOK_QWEN2:
        return PATTERN_QWEN2;
    default:
        return NULL;
    }
}

void qk_bpe_vocab_init(qk_bpe_vocab *v) {
    memset(v, 0, sizeof *v);
    v->pretokenizer = QK_PRETOK_GPT2;
    v->unk_id = v->bos_id = v->eos_id = -1;
    v->parse_special = true;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes ('!'..'~', 0xA1..0xAC,
** 0xAE..0xFF) stand for themselves, the other 68 bytes take 256, 257, ... in
** byte order. */
static void byte_map(qk_tokenizer *tok) {
    int next = 256;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        tok->byte_cp[b] = (uint16_t)(printable ? b : next++);
    }
    for (int c = 0; c < 324; c++) tok->cp_byte[c] = -1;
    for (int b = 0; b < 256; b++) tok->cp_byte[tok->byte_cp[b]] = (int16_t)b;
}

static size_t utf8_put(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2; /* byte_cp values stay below 0x800 */
}

static uint64_t merge_hash(uint64_t key) {
    return (key * 0x9E3779B97F4A7C15ull) >> 20;
}

static const qk_tok_merge_entry *merge_find(const qk_tokenizer *tok, int32_t a, int32_t b) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    for (uint64_t i = merge_hash(key) & tok->merges_mask;; i = (i + 1) & tok->merges_mask) {
        const qk_tok_merge_entry *e = &tok->merges[i];
        if (e->key == key) return e;
        if (e->key == 0) return NULL;
    }
}

static void merge_insert(qk_tokenizer *tok, int32_t a, int32_t b, int32_t rank, int32_t id) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    for (uint64_t i = merge_hash(key) & tok->merges_mask;; i = (i + 1) & tok->merges_mask) {
        qk_tok_merge_entry *e = &tok->merges[i];
        if (e->key == key) return; /* a repeated pair keeps its first (lowest) rank */
        if (e->key == 0) {
            *e = (qk_tok_merge_entry){key, rank, id};
            return;
        }
    }
}

static qk_status compile_step(qk_tokenizer *tok, const qk_tok_step *step) {
    int32_t k = tok->n_steps;
    if (k >= QK_TOK_MAX_REGEX)
        return qk_error_set(QK_ERR_UNSUPPORTED, "tokenizer: more than %d pre-tokenizer steps",
                            QK_TOK_MAX_REGEX);
    tok->prefix_space[k] = step->prefix_space;
    tok->regex[k] = NULL;
    tok->n_steps = k + 1;
    if (!step->pattern) return QK_OK;
    int err;
    PCRE2_SIZE at;
    uint32_t flags = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    if (step->literal) flags = PCRE2_LITERAL | PCRE2_MATCH_INVALID_UTF | PCRE2_UTF;
    tok->regex[k] =
        pcre2_compile((PCRE2_SPTR)step->pattern, PCRE2_ZERO_TERMINATED, flags, &err, &at, NULL);
    if (!tok->regex[k]) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return qk_error_set(QK_ERR_CONFIG,
                            "tokenizer: pre-tokenizer regex %d does not compile "
                            "at offset %zu: %s",
                            k, (size_t)at, (const char *)msg);
    }
    pcre2_jit_compile(tok->regex[k], PCRE2_JIT_COMPLETE); /* optional: interpreted otherwise */
    return QK_OK;
}

/* Left and right part of merge k (either form), into a/al and b/bl. */
static qk_status merge_parts(const qk_bpe_vocab *v, int32_t k, const char **a, size_t *al,
                             const char **b, size_t *bl) {
    if (v->merges) {
        const char *m = v->merges[k];
        const char *sp = m ? strchr(m, ' ') : NULL;
        if (!sp)
            return qk_error_set(QK_ERR_CORRUPT,
                                "tokenizer: merge %d ('%s') has no space "
                                "between its two parts",
                                k, m ? m : "(null)");
        *a = m;
        *al = (size_t)(sp - m);
        *b = sp + 1;
        *bl = strlen(sp + 1);
        return QK_OK;
    }
    if (!v->merges_left || !v->merges_right || !v->merges_left[k] || !v->merges_right[k])
        return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer: merge %d is missing", k);
    *a = v->merges_left[k];
    *al = strlen(*a);
    *b = v->merges_right[k];
    *bl = strlen(*b);
    return QK_OK;
}

qk_status qk_tok_create_bpe_steps(const qk_bpe_vocab *v, const qk_tok_step *steps, int32_t n_steps,
                                  qk_tokenizer **out) {
    if (!v || !out) return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer: NULL argument");
    *out = NULL;
    int32_t n = v->n_tokens;
    const int32_t ids[3] = {v->unk_id, v->bos_id, v->eos_id};
    for (int k = 0; k < 3; k++)
        if (ids[k] < -1 || ids[k] >= n)
            return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                                "tokenizer: special id %d is outside the "
                                "vocabulary of %d tokens",
                                ids[k], n);
    if (v->n_merges < 0 || (v->n_merges > 0 && !v->merges && !v->merges_left))
        return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer: %d merges without a merge list",
                            v->n_merges);
    qk_tokenizer *tok;
    qk_status st = qk_tok_alloc(QK_TOKENIZER_BPE, n, v->tokens, v->token_lens, &tok);
    if (st != QK_OK) return st;
    tok->unk_id = v->unk_id;
    tok->bos_id = v->bos_id;
    tok->eos_id = v->eos_id;
    tok->add_bos = v->add_bos;
    tok->add_eos = v->add_eos;
    tok->parse_special = v->parse_special;
    tok->ignore_merges = v->ignore_merges;
    tok->pretok = v->pretokenizer;
    tok->n_merges = v->n_merges;
    for (int32_t i = 0; i < n && v->types; i++) {
        int t = v->types[i];
        if (t < 0 || t > QK_TOKEN_BYTE) {
            st =
                qk_error_set(QK_ERR_CORRUPT, "tokenizer: token %d has type %d (valid: 0..6)", i, t);
            goto fail;
        }
        tok->types[i] = (uint8_t)(t == QK_TOKEN_UNDEFINED ? QK_TOKEN_NORMAL : t);
    }
    if ((st = qk_tok_build_map(tok)) != QK_OK) goto fail;
    byte_map(tok);
    for (int b = 0; b < 256; b++) {
        char u[2];
        size_t l = utf8_put(tok->byte_cp[b], u);
        tok->byte_token[b] = qk_tok_map_find(tok, &tok->map, u, l);
        if (tok->byte_token[b] < 0) {
            st = qk_error_set(QK_ERR_CORRUPT,
                              "tokenizer: byte-level vocabulary has no token "
                              "for byte 0x%02X ('%.*s')",
                              b, (int)l, u);
            goto fail;
        }
    }
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)v->n_merges + 2) cap *= 2;
    tok->merges = calloc(cap, sizeof *tok->merges);
    if (!tok->merges) {
        st = qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory for %d merges", v->n_merges);
        goto fail;
    }
    tok->merges_mask = cap - 1;
    char *joined = NULL;
    size_t joined_cap = 0;
    for (int32_t k = 0; k < v->n_merges; k++) {
        const char *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        if ((st = merge_parts(v, k, &a, &al, &b, &bl)) != QK_OK) break;
        int32_t ia = qk_tok_map_find(tok, &tok->map, a, al);
        int32_t ib = qk_tok_map_find(tok, &tok->map, b, bl);
        if (al + bl > joined_cap) {
            joined_cap = 2 * (al + bl) + 64;
            char *j = realloc(joined, joined_cap);
            if (!j) {
                st = qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory");
                break;
            }
            joined = j;
        }
        memcpy(joined, a, al);
        memcpy(joined + al, b, bl);
        int32_t im = qk_tok_map_find(tok, &tok->map, joined, al + bl);
        if (ia < 0 || ib < 0 || im < 0) {
            st = qk_error_set(QK_ERR_CORRUPT,
                              "tokenizer: merge %d ('%.*s' '%.*s'): '%.*s' is not "
                              "in the vocabulary",
                              k, (int)al, a, (int)bl, b,
                              (int)(ia < 0   ? al
                                    : ib < 0 ? bl
                                             : al + bl),
                              ia < 0   ? a
                              : ib < 0 ? b
                                       : joined);
            break;
        }
        merge_insert(tok, ia, ib, k, im);
    }
    free(joined);
    if (st != QK_OK) goto fail;
    for (int32_t k = 0; k < n_steps; k++)
        if ((st = compile_step(tok, &steps[k])) != QK_OK) goto fail;
    st = qk_tok_build_specials(tok, (1u << QK_TOKEN_CONTROL) | (1u << QK_TOKEN_USER_DEFINED));
    if (st != QK_OK) goto fail;
    *out = tok;
    return QK_OK;
fail:
    qk_tokenizer_free(tok);
    return st;
}

qk_status qk_tokenizer_create_bpe(const qk_bpe_vocab *v, qk_tokenizer **out) {
    if (!v || !out) return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer: NULL argument");
    qk_tok_step steps[QK_TOK_MAX_REGEX];
    int32_t n = 0;
    if (v->pretokenizer == QK_PRETOK_CUSTOM) {
        if (v->n_regexes < 0 || v->n_regexes > QK_TOK_MAX_REGEX - 1 ||
            (v->n_regexes > 0 && !v->regexes))
            return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer: %d custom regexes (at most %d)",
                                v->n_regexes, QK_TOK_MAX_REGEX - 1);
        if (v->add_prefix_space) steps[n++] = (qk_tok_step){NULL, false, true};
        for (int32_t k = 0; k < v->n_regexes; k++)
            steps[n++] = (qk_tok_step){v->regexes[k], false, false};
    } else {
        const char *p = qk_pretokenizer_pattern(v->pretokenizer);
        if (!p)
            return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer: unknown pre-tokenizer %d",
                                (int)v->pretokenizer);
        steps[n++] = (qk_tok_step){p, false, v->add_prefix_space};
    }
    return qk_tok_create_bpe_steps(v, steps, n, out);
}

/* ------------------------------------------------------------------------
** Encoding
*/
typedef struct piece {
    size_t off, len; /* in the arena */
} piece;

typedef struct bwork {
    const qk_tokenizer *tok;
    char *arena;
    size_t alen, acap;
    piece *p[2];
    size_t np[2], cp[2];
    qk_tok_sym *syms;
    size_t cap_syms;
    qk_tok_heap heap;
    char *mapped; /* a piece in GPT-2 characters (ignore_merges look-up) */
    size_t cap_mapped;
    pcre2_match_data *md[QK_TOK_MAX_REGEX];
} bwork;

static qk_status arena_put(bwork *w, const char *s, size_t n) {
    if (w->alen + n > w->acap) {
        size_t cap = w->acap ? w->acap : 1024;
        while (cap < w->alen + n) cap *= 2;
        char *a = realloc(w->arena, cap);
        if (!a) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", cap);
        /* PCRE2's JIT reads the subject in aligned SIMD chunks, past its end
        ** (masked off); zeroed bytes keep memcheck from flagging those reads */
        memset(a + w->acap, 0, cap - w->acap);
        w->arena = a;
        w->acap = cap;
    }
    memcpy(w->arena + w->alen, s, n);
    w->alen += n;
    return QK_OK;
}

static qk_status piece_push(bwork *w, int list, size_t off, size_t len) {
    if (w->np[list] == w->cp[list]) {
        size_t cap = w->cp[list] ? w->cp[list] * 2 : 64;
        piece *p = realloc(w->p[list], cap * sizeof *p);
        if (!p) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory (pieces)");
        w->p[list] = p;
        w->cp[list] = cap;
    }
    w->p[list][w->np[list]++] = (piece){off, len};
    return QK_OK;
}

static bool pair_bpe(const void *ctx, const qk_tok_sym *l, const qk_tok_sym *r, float *score,
                     int32_t *id) {
    const qk_tok_merge_entry *e = merge_find(ctx, l->id, r->id);
    if (!e) return false;
    *score = -(float)e->rank; /* ranks < 2^24 are exact */
    *id = e->id;
    return true;
}

static qk_status encode_piece(bwork *w, const unsigned char *s, size_t n, qk_tok_out *out) {
    const qk_tokenizer *tok = w->tok;
    qk_status st;
    if (tok->ignore_merges && n > 1) {
        if (2 * n > w->cap_mapped) {
            char *m = realloc(w->mapped, 2 * n);
            if (!m) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory");
            w->mapped = m;
            w->cap_mapped = 2 * n;
        }
        size_t ml = 0;
        for (size_t i = 0; i < n; i++) ml += utf8_put(tok->byte_cp[s[i]], w->mapped + ml);
        int32_t id = qk_tok_map_find(tok, &tok->map, w->mapped, ml);
        if (id >= 0) return qk_tok_out_push(out, id);
    }
    if (n > w->cap_syms) {
        qk_tok_sym *y = realloc(w->syms, n * sizeof *y);
        if (!y) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory (%zu symbols)", n);
        w->syms = y;
        w->cap_syms = n;
    }
    for (size_t i = 0; i < n; i++)
        w->syms[i] = (qk_tok_sym){
            (int32_t)i, 1, (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, tok->byte_token[s[i]],
            0};
    if ((st = qk_tok_merge(w->syms, (int32_t)n, pair_bpe, tok, &w->heap)) != QK_OK) return st;
    for (int32_t i = 0; i >= 0; i = w->syms[i].next)
        if ((st = qk_tok_out_push(out, w->syms[i].id)) != QK_OK) return st;
    return QK_OK;
}

/* Pre-tokenize text[0..n) through every step, then encode the pieces. */
static qk_status encode_text(bwork *w, const char *text, size_t n, size_t at, qk_tok_out *out) {
    const qk_tokenizer *tok = w->tok;
    qk_status st;
    w->alen = 0;
    w->np[0] = w->np[1] = 0;
    if ((st = arena_put(w, text, n)) != QK_OK || (st = piece_push(w, 0, 0, n)) != QK_OK) return st;
    int cur = 0;
    for (int32_t k = 0; k < tok->n_steps; k++) {
        if (tok->prefix_space[k]) {
            for (size_t i = 0; i < w->np[cur]; i++) {
                piece *p = &w->p[cur][i];
                if (p->len > 0 && w->arena[p->off] == ' ') continue;
                size_t off = w->alen;
                if ((st = arena_put(w, " ", 1)) != QK_OK) return st;
                if ((st = arena_put(w, w->arena + w->p[cur][i].off, w->p[cur][i].len)) != QK_OK)
                    return st;
                w->p[cur][i].off = off;
                w->p[cur][i].len += 1;
            }
        }
        if (!tok->regex[k]) continue;
        int nxt = 1 - cur;
        w->np[nxt] = 0;
        for (size_t i = 0; i < w->np[cur]; i++) {
            size_t off = w->p[cur][i].off, len = w->p[cur][i].len, pos = 0, gap = 0;
            PCRE2_SPTR subject = (PCRE2_SPTR)(w->arena + off);
            while (pos < len) {
                int rc = pcre2_match(tok->regex[k], subject, len, pos, 0, w->md[k], NULL);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    return qk_error_set(QK_ERR_INTERNAL,
                                        "tokenizer: pre-tokenizer regex %d "
                                        "failed near byte %zu: %s",
                                        k, at, (const char *)msg);
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md[k]);
                size_t ms = ov[0], me = ov[1];
                if (me <= ms) { /* empty match: the character stays in the gap */
                    pos = ms + qk_tok_char_len(subject + ms, len - ms);
                    continue;
                }
                if (ms > gap && (st = piece_push(w, nxt, off + gap, ms - gap)) != QK_OK) return st;
                if ((st = piece_push(w, nxt, off + ms, me - ms)) != QK_OK) return st;
                pos = gap = me;
            }
            if (len > gap && (st = piece_push(w, nxt, off + gap, len - gap)) != QK_OK) return st;
        }
        cur = nxt;
    }
    for (size_t i = 0; i < w->np[cur]; i++) {
        const piece *p = &w->p[cur][i];
        if (p->len == 0) continue;
        st = encode_piece(w, (const unsigned char *)w->arena + p->off, p->len, out);
        if (st != QK_OK) return st;
    }
    return QK_OK;
}

qk_status qk_tok_bpe_encode(const qk_tokenizer *tok, const char *text, size_t len,
                            qk_tok_out *out) {
    bwork w = {.tok = tok};
    qk_status st = QK_OK;
    qk_tok_fragment *frags = NULL, one = {0, len, -1};
    size_t n_frags = len > 0 ? 1 : 0;
    for (int32_t k = 0; k < tok->n_steps; k++) {
        if (!tok->regex[k]) continue;
        w.md[k] = pcre2_match_data_create_from_pattern(tok->regex[k], NULL);
        if (!w.md[k]) {
            st = qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory (regex match data)");
            goto done;
        }
    }
    if (tok->n_specials > 0 && len > 0 &&
        (st = qk_tok_split_specials(tok, text, len, tok->parse_special, &frags, &n_frags)) != QK_OK)
        goto done;
    const qk_tok_fragment *f = frags ? frags : &one;
    for (size_t i = 0; i < n_frags && st == QK_OK; i++) {
        if (f[i].special >= 0)
            st = qk_tok_out_push(out, f[i].special);
        else
            st = encode_text(&w, text + f[i].start, f[i].len, f[i].start, out);
    }
done:
    free(frags);
    free(w.arena);
    free(w.p[0]);
    free(w.p[1]);
    free(w.syms);
    free(w.heap.a);
    free(w.mapped);
    for (int32_t k = 0; k < QK_TOK_MAX_REGEX; k++) pcre2_match_data_free(w.md[k]);
    return st;
}

/* ------------------------------------------------------------------------
** Export (for writing the vocabulary into a GGUF file)
*/
qk_pretokenizer qk_tokenizer_bpe_pretokenizer(const qk_tokenizer *tok) {
    return tok->pretok;
}

void qk_tokenizer_bpe_merges_free(char **merges, int32_t n) {
    if (!merges) return;
    for (int32_t i = 0; i < n; i++) free(merges[i]);
    free(merges);
}

qk_status qk_tokenizer_bpe_merges(const qk_tokenizer *tok, char ***out, int32_t *out_n) {
    if (!tok || !out || !out_n) return qk_error_set(QK_ERR_INVALID_ARG, "merges: NULL argument");
    *out = NULL;
    *out_n = 0;
    if (tok->kind != QK_TOKENIZER_BPE)
        return qk_error_set(QK_ERR_UNSUPPORTED, "merges: not a byte-level BPE tokenizer");
    /* a repeated pair keeps only its first rank, so some ranks may be empty */
    char **m = calloc((size_t)(tok->n_merges ? tok->n_merges : 1), sizeof *m);
    if (!m) return qk_error_set(QK_ERR_NOMEM, "merges: no memory");
    for (uint64_t i = 0; tok->merges && i <= tok->merges_mask; i++) {
        const qk_tok_merge_entry *e = &tok->merges[i];
        if (e->key == 0 || e->rank < 0 || e->rank >= tok->n_merges) continue;
        const uint64_t key = e->key - 1;
        const int32_t a = (int32_t)(key >> 32), b = (int32_t)(uint32_t)key;
        const char *ta = tok->blob + tok->text_off[a], *tb = tok->blob + tok->text_off[b];
        const size_t la = tok->text_len[a], lb = tok->text_len[b];
        char *s = malloc(la + lb + 2);
        if (!s) {
            qk_tokenizer_bpe_merges_free(m, tok->n_merges);
            return qk_error_set(QK_ERR_NOMEM, "merges: no memory");
        }
        memcpy(s, ta, la);
        s[la] = ' ';
        memcpy(s + la + 1, tb, lb);
        s[la + lb + 1] = '\0';
        m[e->rank] = s;
    }
    int32_t n = 0; /* drop the empty ranks, keeping order */
    for (int32_t k = 0; k < tok->n_merges; k++)
        if (m[k]) m[n++] = m[k];
    *out = m;
    *out_n = n;
    return QK_OK;
}
