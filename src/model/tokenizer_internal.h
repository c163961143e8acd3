/*
** Internal: the tokenizer object shared by tokenizer*.c, the string -> id
** hash map, the pair-merge engine (a priority queue over a linked list of
** symbols) and the pieces each algorithm plugs into it.
*/
#ifndef QK_MODEL_TOKENIZER_INTERNAL_H
#define QK_MODEL_TOKENIZER_INTERNAL_H

#include "quantkit/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Open-addressing hash map from a token's text to its id. Slots hold id + 1
** (0 = empty); keys are read back from the tokenizer's text table. */
typedef struct qk_tok_map {
    int32_t *slots;
    uint32_t mask; /* capacity - 1 (capacity a power of two) */
} qk_tok_map;

/* Hash map (left id, right id) -> (rank, merged id) of byte-level BPE. */
typedef struct qk_tok_merge_entry {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank;
    int32_t id;
} qk_tok_merge_entry;

typedef struct qk_tok_special {
    int32_t id;
    bool lstrip, rstrip, single_word;
} qk_tok_special;

#define QK_TOK_MAX_REGEX 8

struct qk_tokenizer {
    qk_tokenizer_kind kind;
    int32_t n_vocab;
    char *blob;       /* all token texts, each NUL-terminated */
    size_t *text_off; /* text of token i: blob + text_off[i] */
    uint32_t *text_len;
    float *scores;
    uint8_t *types;
    int32_t unk_id, bos_id, eos_id, pad_id;
    bool add_bos, add_eos, parse_special;
    qk_tok_map map; /* every token's text -> lowest id with that text */

    /* specials matched in the text before the algorithm runs (control and
    ** user-defined for BPE; control for SPM with parse_special), by first byte */
    qk_tok_special *specials;
    int32_t n_specials;
    int32_t special_start[257]; /* specials with first byte b: [start[b], start[b+1]) */

    /* SPM */
    bool add_dummy_prefix, remove_extra_ws, escape_ws, ws_suffix, byte_fallback, llama2c;
    bool has_unused;       /* some piece is UNUSED: merges into it are undone */
    bool split_at_space;   /* no mergeable piece has the space symbol past its start */
    int32_t byte_ids[256]; /* id of <0xNN>, -1 when absent */
    qk_tok_map user_map;   /* user-defined pieces (matched whole, never merged) */
    uint32_t user_max_len;

    /* byte-level BPE */
    qk_tok_merge_entry *merges;
    uint64_t merges_mask;
    /* pre-tokenizer steps, in order: each first puts ' ' before pieces not
    ** starting with one (when prefix_space), then splits them by its regex
    ** (when not NULL) into matches and the gaps between them */
    pcre2_code *regex[QK_TOK_MAX_REGEX];
    bool prefix_space[QK_TOK_MAX_REGEX];
    int32_t n_steps;
    bool ignore_merges;
    qk_pretokenizer pretok;  /* the pre-tokenizer it was built with */
    int32_t n_merges;        /* merges given (ranks 0 .. n_merges-1) */
    int32_t byte_token[256]; /* id of the one-character token of each byte */
    uint16_t byte_cp[256];   /* GPT-2 bytes_to_unicode */
    int16_t cp_byte[324];    /* inverse, -1 when none */
};

/* ---- tokenizer.c ------------------------------------------------------- */
/* Allocate an empty tokenizer and copy the texts of `n` tokens. */
qk_status qk_tok_alloc(qk_tokenizer_kind kind, int32_t n, const char *const *tokens,
                       const size_t *lens, qk_tokenizer **out);
/* Build tok->map from the texts (lowest id wins for duplicate texts). */
qk_status qk_tok_build_map(qk_tokenizer *tok);
int32_t qk_tok_map_find(const qk_tokenizer *tok, const qk_tok_map *map, const char *s, size_t len);
/* Insert id into a map sized for at least `expected` entries (created on
** first use with that size). */
qk_status qk_tok_map_insert(qk_tokenizer *tok, qk_tok_map *map, uint32_t expected, int32_t id);
/* Collect the tokens whose type is in `type_mask` (bit per type) as specials. */
qk_status qk_tok_build_specials(qk_tokenizer *tok, unsigned type_mask);
static inline const char *qk_tok_text(const qk_tokenizer *tok, int32_t id) {
    return tok->blob + tok->text_off[id];
}

/* Growable id output. */
typedef struct qk_tok_out {
    int32_t *ids;
    size_t n, cap;
} qk_tok_out;
qk_status qk_tok_out_push(qk_tok_out *out, int32_t id);

/* Text cut into fragments: plain text, or one special token. */
typedef struct qk_tok_fragment {
    size_t start, len; /* plain text range (len may be 0 for a special) */
    int32_t special;   /* token id, or -1 for plain text */
} qk_tok_fragment;
/* Fragments of `text` around the specials (all of them when match_control,
** only user-defined ones otherwise). *frags is malloc'ed. */
qk_status qk_tok_split_specials(const qk_tokenizer *tok, const char *text, size_t len,
                                bool match_control, qk_tok_fragment **frags, size_t *n_frags);

/* Length of the "character" at s[0] (n > 0): the byte and up to three
** following continuation bytes. */
static inline size_t qk_tok_char_len(const unsigned char *s, size_t n) {
    size_t k = 1;
    while (k < n && k < 4 && (s[k] & 0xC0) == 0x80) k++;
    return k;
}

/* ---- tokenizer_merge.c: the merge engine --------------------------------- */
typedef struct qk_tok_sym {
    int32_t start, len; /* bytes of the symbol in the working buffer; len 0 = merged away */
    int32_t prev, next; /* neighbours in the list, -1 at the ends */
    int32_t id;         /* token id, -1 when the text is no token */
    int32_t freeze;     /* never merged */
} qk_tok_sym;

typedef struct qk_tok_pair {
    float score; /* higher merges first; ties: smaller left index */
    int32_t left, right, size, id;
} qk_tok_pair;

/* Looks up the merge of two adjacent symbols: true with its score and id. */
typedef bool (*qk_tok_pair_fn)(const void *ctx, const qk_tok_sym *left, const qk_tok_sym *right,
                               float *score, int32_t *id);

typedef struct qk_tok_heap {
    qk_tok_pair *a;
    size_t n, cap;
} qk_tok_heap;

/* Merge syms[0..n) (a list linked in index order) until no pair merges. */
qk_status qk_tok_merge(qk_tok_sym *syms, int32_t n, qk_tok_pair_fn fn, const void *ctx,
                       qk_tok_heap *heap);

/* ---- tokenizer_spm.c / tokenizer_bpe.c -------------------------------- */
qk_status qk_tok_spm_encode(const qk_tokenizer *tok, const char *text, size_t len, bool add_bos,
                            qk_tok_out *out);
qk_status qk_tok_bpe_encode(const qk_tokenizer *tok, const char *text, size_t len, qk_tok_out *out);
/* One pre-tokenizer step for qk_tok_create_bpe_steps. */
typedef struct qk_tok_step {
    const char *pattern; /* NULL: no split */
    bool literal;        /* pattern is a plain string */
    bool prefix_space;
} qk_tok_step;
/* qk_tokenizer_create_bpe with explicit pre-tokenizer steps (the vocab's
** pretokenizer / regexes / add_prefix_space fields are then ignored). */
qk_status qk_tok_create_bpe_steps(const qk_bpe_vocab *vocab, const qk_tok_step *steps,
                                  int32_t n_steps, qk_tokenizer **out);

/* ---- loaders ----------------------------------------------------------- */
/* Whole file into a malloc'ed buffer (NUL-terminated for convenience). */
qk_status qk_tok_read_file(const char *path, char **data, size_t *size);
/* What a Hugging Face tokenizer_config.json says (-1 / NULL: not said). */
typedef struct qk_tok_config {
    int add_bos, add_eos;
    char *bos_token, *eos_token, *unk_token; /* malloc'ed */
} qk_tok_config;
/* Parse tokenizer_config.json text (len bytes); `name` for messages. */
qk_status qk_tok_config_parse(const char *text, size_t len, const char *name, qk_tok_config *cfg);
/* Read `dir`/tokenizer_config.json when it exists (cfg stays "not said" when
** it does not). */
qk_status qk_tok_config_read_dir(const char *dir, qk_tok_config *cfg);
void qk_tok_config_free(qk_tok_config *cfg);
/* Folder part of a path ("." when none), into buf. */
void qk_tok_dirname(const char *path, char *buf, size_t cap);

#endif
