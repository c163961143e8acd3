/*
** quantkit model layer: tokenizers.
**
** Two algorithms behind one opaque handle:
**
**  - SentencePiece-style BPE (QK_TOKENIZER_SPM): pieces with scores; the
**    text (spaces escaped to U+2581 "▁", a dummy "▁" prefix) is split into
**    characters and the adjacent pair whose concatenation is the best-scoring
**    piece is merged, repeatedly (ties: leftmost), over the whole text;
**    characters left unknown become byte tokens <0xNN> (byte fallback). This
**    gives SentencePiece's ids for a BPE tokenizer.model, llama.cpp's for a
**    GGUF `llama` vocabulary, and llama2.c run.c encode()'s for a
**    tokenizer.bin (qk_spm_vocab.llama2c).
**  - Byte-level BPE (QK_TOKENIZER_BPE, GPT-2 / Llama-3 / Qwen2 tokenizer.json):
**    added tokens are cut out first, the rest is split by the pre-tokenizer's
**    regular expressions (PCRE2, UTF + Unicode properties), each piece's bytes
**    are mapped to GPT-2's printable characters and merged by merge rank.
**
** Token types use llama.cpp's tokenizer.ggml.token_type numbering (which is
** SentencePiece's): 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused,
** 6 byte. A tokenizer is immutable after creation; every function taking a
** `const qk_tokenizer *` may be called from several threads at once.
**
** Known differences from the reference tokenizers, all on unusual input:
**  - invalid UTF-8: a "character" is a byte plus up to three following
**    continuation bytes (llama2.c's rule); SentencePiece substitutes U+FFFD,
**    llama.cpp goes by the lead byte. Valid UTF-8 is split identically.
**  - llama2.c: text stops at a NUL byte there, here a NUL is encoded (as a
**    byte token); a vocabulary with repeated texts resolves to the lowest id
**    (llama2.c's binary search picks any of them).
**  - SentencePiece without byte fallback: each unknown character is one <unk>.
**  - tokenizer.json: normalizer NFC is accepted and applied as identity
**    (exact for NFC input); PCRE2's \s lacks U+0085 (NEL), which Oniguruma
**    counts as space.
*/
#ifndef QUANTKIT_TOKENIZER_H
#define QUANTKIT_TOKENIZER_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qk_tokenizer qk_tokenizer;

typedef enum qk_tokenizer_kind {
    QK_TOKENIZER_SPM = 1, /* SentencePiece-style BPE with scores and byte fallback */
    QK_TOKENIZER_BPE = 2  /* byte-level BPE with merge ranks (GPT-2 family) */
} qk_tokenizer_kind;

/* llama.cpp's tokenizer.ggml.token_type values (= SentencePiece's enum). */
typedef enum qk_token_type {
    QK_TOKEN_UNDEFINED = 0,
    QK_TOKEN_NORMAL = 1,
    QK_TOKEN_UNKNOWN = 2,
    QK_TOKEN_CONTROL = 3,
    QK_TOKEN_USER_DEFINED = 4,
    QK_TOKEN_UNUSED = 5,
    QK_TOKEN_BYTE = 6
} qk_token_type;

/* ------------------------------------------------------------------------
** Building from arrays (GGUF vocabularies, or any other source). The arrays
** are copied; the caller keeps ownership of them.
*/
typedef struct qk_spm_vocab {
    int32_t n_tokens;
    const char *const *tokens;              /* piece text, UTF-8 ("▁the", "<0x0A>", "<s>") */
    const size_t *token_lens;               /* byte lengths, or NULL: tokens are NUL-terminated */
    const float *scores;                    /* NULL: all 0 */
    const int32_t *types;                   /* qk_token_type per token, or NULL: inferred (unk_id
                                               unknown; bos/eos/pad control; "<0xNN>" byte; else normal) */
    int32_t unk_id, bos_id, eos_id, pad_id; /* -1: none */
    bool add_dummy_prefix;                  /* "▁" before the text (not for empty text) */
    bool remove_extra_whitespaces;          /* drop leading/trailing spaces, collapse runs */
    bool escape_whitespaces;                /* ' ' is "▁" (U+2581) in the pieces */
    bool treat_whitespace_as_suffix;        /* dummy "▁" goes at the end instead */
    bool byte_fallback;                     /* unknown characters become <0xNN> tokens */
    bool llama2c;          /* llama2.c run.c encode(): BOS takes part in merges, every piece
                              (control ones too) can be a merge result, unknown characters
                              become byte tokens before merging, scores <= -1e10 never merge */
    bool add_bos, add_eos; /* defaults reported by qk_tokenizer_add_bos/eos */
    bool parse_special;    /* control-token text in the input becomes that token */
} qk_spm_vocab;

/* Defaults of a GGUF `llama` vocabulary as llama.cpp reads it: dummy prefix,
** escaped spaces, no whitespace removal, byte fallback, unk 0 / bos 1 / eos 2,
** pad -1, add BOS, no EOS, no special parsing. */
void qk_spm_vocab_init(qk_spm_vocab *vocab);
qk_status qk_tokenizer_create_spm(const qk_spm_vocab *vocab, qk_tokenizer **out);

/* Pre-tokenizer regular expressions of well-known byte-level BPE models. */
typedef enum qk_pretokenizer {
    QK_PRETOK_GPT2 = 0, /* GPT-2: 's|'t|... ?\p{L}+| ?\p{N}+|... */
    QK_PRETOK_LLAMA3,   /* Llama-3: \p{N}{1,3}, newline-aware, case-insensitive 's */
    QK_PRETOK_QWEN2,    /* Qwen2: as Llama-3 with single digits \p{N} */
    QK_PRETOK_CUSTOM    /* qk_bpe_vocab.regexes */
} qk_pretokenizer;

/* The pattern of a well-known pre-tokenizer (NULL for QK_PRETOK_CUSTOM). */
const char *qk_pretokenizer_pattern(qk_pretokenizer pretok);

typedef struct qk_bpe_vocab {
    int32_t n_tokens;
    const char *const *tokens; /* byte-level text ("Ġthe"); added tokens as raw text */
    const size_t *token_lens;  /* or NULL: NUL-terminated */
    const int32_t *types;      /* NULL: all normal. Control and user-defined tokens are
                                  cut out of the text before pre-tokenization */
    int32_t n_merges;
    const char *const *merges;       /* "a b" (first space separates), rank = index */
    const char *const *merges_left;  /* or the pair form: left and right parts ... */
    const char *const *merges_right; /* ... (used when merges is NULL) */
    qk_pretokenizer pretokenizer;
    int32_t n_regexes;              /* QK_PRETOK_CUSTOM: regexes applied in turn */
    const char *const *regexes;     /* (each splits every piece into matches and gaps) */
    bool add_prefix_space;          /* ' ' before a piece that does not start with one */
    bool ignore_merges;             /* a piece that is a whole token is taken as is */
    int32_t unk_id, bos_id, eos_id; /* -1: none */
    bool add_bos, add_eos;
    bool parse_special; /* control tokens in the input are matched (user-defined always) */
} qk_bpe_vocab;

/* GPT-2 pre-tokenizer, no prefix space, no ids, no BOS/EOS, special parsing on. */
void qk_bpe_vocab_init(qk_bpe_vocab *vocab);
qk_status qk_tokenizer_create_bpe(const qk_bpe_vocab *vocab, qk_tokenizer **out);

void qk_tokenizer_free(qk_tokenizer *tok); /* NULL is fine */

/* ------------------------------------------------------------------------
** Loading files. Every length in a file is checked; errors name the file and
** the byte offset (or JSON line) where the file goes wrong.
*/
typedef struct qk_tokenizer_options {
    int add_bos;       /* -1: what the source says; 0 no; 1 yes */
    int add_eos;       /* -1: what the source says; 0 no; 1 yes */
    int parse_special; /* -1: source default (tokenizer.json yes, SentencePiece and
                          llama2.c no); 0 no; 1 yes */
} qk_tokenizer_options;
void qk_tokenizer_options_init(qk_tokenizer_options *opts); /* all -1 */

/* A SentencePiece tokenizer.model (ModelProto protobuf; BPE model type). The
** normalizer's add_dummy_prefix / remove_extra_whitespaces / escape_whitespaces
** and the trainer's byte_fallback, unk/bos/eos/pad ids are honoured; only the
** "identity" normalization (no precompiled character map) is supported. BOS by
** default, no EOS. */
qk_status qk_tokenizer_load_spm_model(const char *path, const qk_tokenizer_options *opts,
                                      qk_tokenizer **out);
qk_status qk_tokenizer_load_spm_model_memory(const void *data, size_t size, const char *name,
                                             const qk_tokenizer_options *opts, qk_tokenizer **out);
/* A llama2.c tokenizer.bin (int32 max_token_length, then per token f32 score,
** int32 length, bytes). Encodes as run.c encode(): unk 0, BOS 1, EOS 2, BOS by
** default. */
qk_status qk_tokenizer_load_llama2c(const char *path, const qk_tokenizer_options *opts,
                                    qk_tokenizer **out);
qk_status qk_tokenizer_load_llama2c_memory(const void *data, size_t size, const char *name,
                                           const qk_tokenizer_options *opts, qk_tokenizer **out);
/* A Hugging Face tokenizer.json with a byte-level BPE model. tokenizer_config.json
** in the same folder, when present, gives bos_token / eos_token / add_bos_token /
** add_eos_token; otherwise the post_processor's template says whether BOS/EOS are
** added. */
qk_status qk_tokenizer_load_json(const char *path, const qk_tokenizer_options *opts,
                                 qk_tokenizer **out);
/* `config` (tokenizer_config.json text) may be NULL. */
qk_status qk_tokenizer_load_json_memory(const char *json, size_t json_len, const char *config,
                                        size_t config_len, const char *name,
                                        const qk_tokenizer_options *opts, qk_tokenizer **out);
/* From GGUF metadata (tokenizer.ggml.*), as llama.cpp reads it: model
** "llama" (SentencePiece-style BPE from tokens/scores/token_type) or "gpt2"
** (byte-level BPE from tokens/merges, pre-tokenizer from tokenizer.ggml.pre).
** The reader may be closed afterwards: the tokenizer keeps copies. */
struct qk_gguf_reader;
qk_status qk_tokenizer_load_gguf(const struct qk_gguf_reader *reader,
                                 const qk_tokenizer_options *opts, qk_tokenizer **out);
/* Token `id` as a SentencePiece piece, the form GGUF `llama` vocabularies
** store: spaces as U+2581 and special tokens without the whitespace
** llama.cpp's llama2.c converter strips ("\n<s>\n" -> "<s>"). Vocabularies
** that already escape spaces are returned as they are. Writes up to
** `capacity` bytes and returns the full length. */
size_t qk_tokenizer_spm_piece(const qk_tokenizer *tok, int32_t id, char *buf, size_t capacity);

/* Byte-level BPE only: the pre-tokenizer it was built with, and its merges
** in rank order as "left right" strings (malloc'ed; free with
** qk_tokenizer_bpe_merges_free). For writing the vocabulary to GGUF. */
qk_pretokenizer qk_tokenizer_bpe_pretokenizer(const qk_tokenizer *tok);
qk_status qk_tokenizer_bpe_merges(const qk_tokenizer *tok, char ***out, int32_t *n);
void qk_tokenizer_bpe_merges_free(char **merges, int32_t n);

/* Any of the above by looking: a folder (tokenizer.model preferred, then
** tokenizer.json; tokenizer_config.json's add_bos_token / add_eos_token apply to
** a tokenizer.model too), or a file (protobuf, llama2.c or JSON by content). */
qk_status qk_tokenizer_load(const char *path, const qk_tokenizer_options *opts, qk_tokenizer **out);

/* ------------------------------------------------------------------------
** Encoding.
*/
/* Upper bound on the ids qk_tokenizer_encode can produce for `len` bytes of
** text (BOS and EOS included). */
size_t qk_tokenizer_encode_bound(size_t len);
/* Encode `len` bytes of UTF-8 text. On success *n_ids ids are in `ids`. When
** `capacity` is too small (ids may be NULL with capacity 0) the call fails with
** QK_ERR_OUT_OF_BOUNDS and *n_ids is the number needed; `ids` is then
** unspecified. */
qk_status qk_tokenizer_encode(const qk_tokenizer *tok, const char *text, size_t len, bool add_bos,
                              bool add_eos, int32_t *ids, size_t capacity, size_t *n_ids);
/* The same into a malloc'ed array (free with free()); *ids is NULL when no ids. */
qk_status qk_tokenizer_encode_alloc(const qk_tokenizer *tok, const char *text, size_t len,
                                    bool add_bos, bool add_eos, int32_t **ids, size_t *n_ids);

/* ------------------------------------------------------------------------
** Decoding.
*/
/* The bytes token `id` stands for in text: "▁" is a space (SPM), <0xNN> is
** that byte, byte-level characters are their bytes, control and unknown-type
** tokens give nothing (SentencePiece's unknown gives " \xE2\x81\x87 "). Sizing as
** for encode: QK_ERR_OUT_OF_BOUNDS with *n the bytes needed. No NUL is added. */
qk_status qk_tokenizer_decode_token(const qk_tokenizer *tok, int32_t id, char *buf, size_t capacity,
                                    size_t *n);
/* Text of a sequence: the pieces concatenated, with the space of the dummy
** prefix removed from the first piece (SentencePiece's and llama2.c's decoders). */
qk_status qk_tokenizer_decode(const qk_tokenizer *tok, const int32_t *ids, size_t n_ids, char *buf,
                              size_t capacity, size_t *n);

/* ------------------------------------------------------------------------
** Vocabulary.
*/
/* Accessors accept NULL (0, -1 or false). */
qk_tokenizer_kind qk_tokenizer_get_kind(const qk_tokenizer *tok);
int32_t qk_tokenizer_n_vocab(const qk_tokenizer *tok);
int32_t qk_tokenizer_bos_id(const qk_tokenizer *tok); /* -1: none */
int32_t qk_tokenizer_eos_id(const qk_tokenizer *tok);
int32_t qk_tokenizer_unk_id(const qk_tokenizer *tok);
/* Whether the source says to add BOS / EOS (after the load options). */
bool qk_tokenizer_add_bos(const qk_tokenizer *tok);
bool qk_tokenizer_add_eos(const qk_tokenizer *tok);
/* Type (QK_TOKEN_UNDEFINED for an id out of range) and score (0 when none). */
qk_token_type qk_tokenizer_token_type(const qk_tokenizer *tok, int32_t id);
float qk_tokenizer_token_score(const qk_tokenizer *tok, int32_t id);
/* The vocabulary entry as stored ("▁the", "<0x0A>", "Ġthe"), NUL-terminated,
** borrowed until qk_tokenizer_free; NULL for an id out of range. */
const char *qk_tokenizer_token_text(const qk_tokenizer *tok, int32_t id, size_t *len);
/* Id of a vocabulary entry, -1 when absent. */
int32_t qk_tokenizer_token_id(const qk_tokenizer *tok, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_TOKENIZER_H */
