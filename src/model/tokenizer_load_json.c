/*
** Hugging Face tokenizer.json (byte-level BPE) and tokenizer_config.json.
**
** tokenizer.json: model {type "BPE", vocab {text: id}, merges ["a b" ...] or
** [["a", "b"] ...], ignore_merges, unk_token}, added_tokens [{id, content,
** special, lstrip, rstrip, single_word}], normalizer (null or NFC),
** pre_tokenizer (ByteLevel, Split with a Regex or String and behavior
** Isolated, Digits, or a Sequence of them), post_processor (a
** TemplateProcessing's special tokens around $A say BOS / EOS).
*/
#include <jansson.h>
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strcmp, strdup */
#include <sys/stat.h>

#include "core/error.h"
#include "model/tokenizer_internal.h"

/* Most ids of a vocabulary that may be absent from it (holes). */
#define QK_TOK_JSON_MAX_HOLES 65536

static const char *PATTERN_DIGITS = "\\p{N}";
static const char *PATTERN_DIGIT_RUNS = "\\p{N}+";

/* ------------------------------------------------------------------------
** tokenizer_config.json
*/
static char *token_string(json_t *v) {
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

qk_status qk_tok_config_parse(const char *text, size_t len, const char *name, qk_tok_config *cfg) {
    cfg->add_bos = cfg->add_eos = -1;
    cfg->bos_token = cfg->eos_token = cfg->unk_token = NULL;
    json_error_t err;
    json_t *root = json_loadb(text, len, 0, &err);
    if (!root)
        return qk_error_set(QK_ERR_CORRUPT, "%s: JSON error at line %d column %d: %s", name,
                            err.line, err.column, err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return qk_error_set(QK_ERR_CORRUPT, "%s: not a JSON object", name);
    }
    json_t *v;
    if (json_is_boolean(v = json_object_get(root, "add_bos_token"))) cfg->add_bos = json_is_true(v);
    if (json_is_boolean(v = json_object_get(root, "add_eos_token"))) cfg->add_eos = json_is_true(v);
    cfg->bos_token = token_string(json_object_get(root, "bos_token"));
    cfg->eos_token = token_string(json_object_get(root, "eos_token"));
    cfg->unk_token = token_string(json_object_get(root, "unk_token"));
    json_decref(root);
    return QK_OK;
}

void qk_tok_config_free(qk_tok_config *cfg) {
    free(cfg->bos_token);
    free(cfg->eos_token);
    free(cfg->unk_token);
    cfg->bos_token = cfg->eos_token = cfg->unk_token = NULL;
}

qk_status qk_tok_config_read_dir(const char *dir, qk_tok_config *cfg) {
    cfg->add_bos = cfg->add_eos = -1;
    cfg->bos_token = cfg->eos_token = cfg->unk_token = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) return QK_OK;
    char *data;
    size_t size;
    qk_status st = qk_tok_read_file(path, &data, &size);
    if (st != QK_OK) return st;
    st = qk_tok_config_parse(data, size, path, cfg);
    free(data);
    return st;
}

/* ------------------------------------------------------------------------
** tokenizer.json
*/
typedef struct jload {
    const char *name;
    qk_tok_step steps[QK_TOK_MAX_REGEX];
    int32_t n_steps;
    bool byte_level;
} jload;

static qk_status pretok(jload *L, json_t *pt, int depth) {
    if (!pt || json_is_null(pt)) return QK_OK;
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type || depth > 4)
        return qk_error_set(QK_ERR_UNSUPPORTED, "%s: pre_tokenizer without a type", L->name);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pt, "pretokenizers");
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            qk_status st = pretok(L, item, depth + 1);
            if (st != QK_OK) return st;
        }
        return QK_OK;
    }
    if (L->n_steps >= QK_TOK_MAX_REGEX)
        return qk_error_set(QK_ERR_UNSUPPORTED, "%s: more than %d pre-tokenizers", L->name,
                            QK_TOK_MAX_REGEX);
    qk_tok_step *s = &L->steps[L->n_steps];
    *s = (qk_tok_step){NULL, false, false};
    if (strcmp(type, "ByteLevel") == 0) {
        json_t *re = json_object_get(pt, "use_regex");
        json_t *ps = json_object_get(pt, "add_prefix_space");
        s->prefix_space = ps ? json_is_true(ps) : true; /* HF's defaults */
        if (!re || json_is_true(re)) s->pattern = qk_pretokenizer_pattern(QK_PRETOK_GPT2);
        L->byte_level = true;
    } else if (strcmp(type, "Split") == 0) {
        json_t *pat = json_object_get(pt, "pattern");
        const char *behavior = json_string_value(json_object_get(pt, "behavior"));
        const char *re = json_string_value(json_object_get(pat, "Regex"));
        const char *lit = json_string_value(json_object_get(pat, "String"));
        if ((!re && !lit) || !behavior || strcmp(behavior, "Isolated") != 0 ||
            json_is_true(json_object_get(pt, "invert")))
            return qk_error_set(QK_ERR_UNSUPPORTED,
                                "%s: Split pre-tokenizer with behavior '%s' "
                                "(only Isolated, not inverted, with a Regex or String pattern)",
                                L->name, behavior ? behavior : "?");
        s->pattern = re ? re : lit;
        s->literal = !re;
    } else if (strcmp(type, "Digits") == 0) {
        s->pattern = json_is_true(json_object_get(pt, "individual_digits")) ? PATTERN_DIGITS
                                                                            : PATTERN_DIGIT_RUNS;
    } else {
        return qk_error_set(QK_ERR_UNSUPPORTED,
                            "%s: pre_tokenizer '%s' is not supported "
                            "(byte-level BPE: ByteLevel, Split, Digits, Sequence)",
                            L->name, type);
    }
    L->n_steps++;
    return QK_OK;
}

static qk_status normalizer_ok(const jload *L, json_t *n, int depth) {
    if (!n || json_is_null(n)) return QK_OK;
    const char *type = json_string_value(json_object_get(n, "type"));
    if (type && strcmp(type, "NFC") == 0) return QK_OK; /* applied as identity: see tokenizer.h */
    if (type && strcmp(type, "Sequence") == 0 && depth < 4) {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(n, "normalizers"), i, item) {
            qk_status st = normalizer_ok(L, item, depth + 1);
            if (st != QK_OK) return st;
        }
        return QK_OK;
    }
    return qk_error_set(QK_ERR_UNSUPPORTED, "%s: normalizer '%s' is not supported (null or NFC)",
                        L->name, type ? type : "?");
}

/* Specials of a TemplateProcessing "single" template before and after $A. */
static void template_specials(json_t *pp, const char **before, const char **after, int depth) {
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (!type || depth > 4) return;
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(pp, "processors"), i, item)
            template_specials(item, before, after, depth + 1);
        return;
    }
    if (strcmp(type, "TemplateProcessing") != 0) return;
    bool seen_a = false;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(pp, "single"), i, item) {
        json_t *sp = json_object_get(item, "SpecialToken");
        if (json_object_get(item, "Sequence")) seen_a = true;
        const char *id = json_string_value(json_object_get(sp, "id"));
        if (!id) continue;
        if (!seen_a && !*before) *before = id;
        if (seen_a && !*after) *after = id;
    }
}

static int32_t find_text(const qk_bpe_vocab *v, const char *s) {
    if (!s) return -1;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i] && strcmp(v->tokens[i], s) == 0) return i;
    return -1;
}

qk_status qk_tokenizer_load_json_memory(const char *json, size_t json_len, const char *config,
                                        size_t config_len, const char *name,
                                        const qk_tokenizer_options *opts, qk_tokenizer **out) {
    if (!out || (!json && json_len)) return qk_error_set(QK_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    if (!name) name = "tokenizer.json";
    jload L = {.name = name};
    qk_tok_config cfg = {-1, -1, NULL, NULL, NULL};
    qk_status st = QK_OK;
    const char **texts = NULL, **left = NULL, **right = NULL;
    int32_t *types = NULL;
    if (config &&
        (st = qk_tok_config_parse(config, config_len, "tokenizer_config.json", &cfg)) != QK_OK)
        return st;
    json_error_t err;
    json_t *root = json_loadb(json, json_len, 0, &err);
    if (!root) {
        st = qk_error_set(QK_ERR_CORRUPT, "%s: JSON error at line %d column %d: %s", name, err.line,
                          err.column, err.text);
        goto done;
    }
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model) || (mtype && strcmp(mtype, "BPE") != 0) || !json_is_object(vocab) ||
        (merges && !json_is_array(merges))) {
        st = qk_error_set(QK_ERR_UNSUPPORTED,
                          "%s: model is not BPE with a vocab object and a "
                          "merges array (type '%s')",
                          name, mtype ? mtype : "?");
        goto done;
    }
    const char *cont = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *suffix = json_string_value(json_object_get(model, "end_of_word_suffix"));
    if ((cont && cont[0]) || (suffix && suffix[0]) ||
        json_is_true(json_object_get(model, "byte_fallback"))) {
        st = qk_error_set(QK_ERR_UNSUPPORTED,
                          "%s: BPE with byte_fallback or subword prefixes "
                          "is not byte-level BPE (use tokenizer.model for SentencePiece models)",
                          name);
        goto done;
    }
    if ((st = normalizer_ok(&L, json_object_get(root, "normalizer"), 0)) != QK_OK ||
        (st = pretok(&L, json_object_get(root, "pre_tokenizer"), 0)) != QK_OK)
        goto done;
    if (!L.byte_level) {
        st = qk_error_set(QK_ERR_UNSUPPORTED,
                          "%s: no ByteLevel pre-tokenizer: not a byte-level "
                          "BPE tokenizer",
                          name);
        goto done;
    }
    /* vocabulary size: the largest id of vocab and added_tokens, plus one */
    json_t *added = json_object_get(root, "added_tokens");
    int64_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= (1 << 28)) {
            st = qk_error_set(QK_ERR_CORRUPT,
                              "%s: model.vocab['%s'] has id %lld (not an "
                              "integer in 0..2^28)",
                              name, key, (long long)id);
            goto done;
        }
        if (id + 1 > n) n = id + 1;
    }
    size_t i;
    json_array_foreach(added, i, val) {
        json_t *jid = json_object_get(val, "id");
        json_int_t id = json_integer_value(jid);
        if (!json_is_integer(jid) || id < 0 || id >= (1 << 28) ||
            !json_is_string(json_object_get(val, "content"))) {
            st = qk_error_set(QK_ERR_CORRUPT,
                              "%s: added_tokens[%zu] needs an integer id in "
                              "0..2^28 and a content string",
                              name, i);
            goto done;
        }
        if (id + 1 > n) n = id + 1;
    }
    /* Ids missing from both lists become UNUSED tokens. Real files have few or
    ** none; a tiny file must not make a table of 2^28 tokens (gigabytes). */
    size_t n_entries = json_object_size(vocab) + json_array_size(added);
    if (n > (int64_t)n_entries + QK_TOK_JSON_MAX_HOLES) {
        st = qk_error_set(QK_ERR_CORRUPT,
                          "%s: largest id %lld with %zu vocab and added tokens leaves more "
                          "than %d ids unused",
                          name, (long long)(n - 1), n_entries, QK_TOK_JSON_MAX_HOLES);
        goto done;
    }
    texts = calloc((size_t)n + 1, sizeof *texts);
    types = calloc((size_t)n + 1, sizeof *types);
    if (!texts || !types) {
        st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory for %lld tokens", name, (long long)n);
        goto done;
    }
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (texts[id]) {
            st = qk_error_set(QK_ERR_CORRUPT,
                              "%s: model.vocab: id %lld is given to both '%s' "
                              "and '%s'",
                              name, (long long)id, texts[id], key);
            goto done;
        }
        texts[id] = key;
        types[id] = QK_TOKEN_NORMAL;
    }
    json_array_foreach(added, i, val) {
        json_int_t id = json_integer_value(json_object_get(val, "id"));
        texts[id] = json_string_value(json_object_get(val, "content"));
        types[id] = json_is_true(json_object_get(val, "special")) ? QK_TOKEN_CONTROL
                                                                  : QK_TOKEN_USER_DEFINED;
    }
    for (int64_t k = 0; k < n; k++)
        if (!texts[k]) types[k] = QK_TOKEN_UNUSED; /* a hole in the ids */
    qk_bpe_vocab v;
    qk_bpe_vocab_init(&v);
    v.n_tokens = (int32_t)n;
    v.tokens = texts;
    v.types = types;
    size_t n_merges = json_array_size(merges);
    if (n_merges > (1u << 28)) {
        st = qk_error_set(QK_ERR_CORRUPT, "%s: %zu merges is too many", name, n_merges);
        goto done;
    }
    left = calloc(n_merges + 1, sizeof *left);
    right = calloc(n_merges + 1, sizeof *right);
    if (!left || !right) {
        st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory for %zu merges", name, n_merges);
        goto done;
    }
    bool pairs = n_merges > 0 && json_is_array(json_array_get(merges, 0));
    json_array_foreach(merges, i, val) {
        if (pairs) {
            left[i] = json_string_value(json_array_get(val, 0));
            right[i] = json_string_value(json_array_get(val, 1));
            if (!json_is_array(val) || json_array_size(val) != 2 || !left[i] || !right[i]) {
                st = qk_error_set(QK_ERR_CORRUPT,
                                  "%s: model.merges[%zu] is not a pair of "
                                  "strings",
                                  name, i);
                goto done;
            }
        } else if (!(left[i] = json_string_value(val))) {
            st = qk_error_set(QK_ERR_CORRUPT, "%s: model.merges[%zu] is not a string", name, i);
            goto done;
        }
    }
    v.n_merges = (int32_t)n_merges;
    if (pairs) {
        v.merges_left = left;
        v.merges_right = right;
    } else {
        v.merges = left;
    }
    v.ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    v.unk_id = find_text(&v, json_string_value(json_object_get(model, "unk_token")));
    const char *before = NULL, *after = NULL;
    template_specials(json_object_get(root, "post_processor"), &before, &after, 0);
    v.bos_id = find_text(&v, cfg.bos_token ? cfg.bos_token : before);
    v.eos_id = find_text(&v, cfg.eos_token ? cfg.eos_token : after);
    v.add_bos = cfg.add_bos >= 0 ? cfg.add_bos != 0 : before != NULL;
    v.add_eos = cfg.add_eos >= 0 ? cfg.add_eos != 0 : after != NULL;
    if (opts && opts->add_bos >= 0) v.add_bos = opts->add_bos != 0;
    if (opts && opts->add_eos >= 0) v.add_eos = opts->add_eos != 0;
    if (opts && opts->parse_special >= 0) v.parse_special = opts->parse_special != 0;
    v.add_bos = v.add_bos && v.bos_id >= 0;
    v.add_eos = v.add_eos && v.eos_id >= 0;
    qk_tokenizer *tok;
    if ((st = qk_tok_create_bpe_steps(&v, L.steps, L.n_steps, &tok)) != QK_OK) {
        qk_error_prefix("%s", name);
        goto done;
    }
    /* added tokens' matching flags */
    json_array_foreach(added, i, val) {
        int32_t id = (int32_t)json_integer_value(json_object_get(val, "id"));
        for (int32_t k = 0; k < tok->n_specials; k++) {
            if (tok->specials[k].id != id) continue;
            tok->specials[k].lstrip = json_is_true(json_object_get(val, "lstrip"));
            tok->specials[k].rstrip = json_is_true(json_object_get(val, "rstrip"));
            tok->specials[k].single_word = json_is_true(json_object_get(val, "single_word"));
        }
    }
    *out = tok;
done:
    free(texts);
    free(types);
    free(left);
    free(right);
    json_decref(root);
    qk_tok_config_free(&cfg);
    return st;
}

qk_status qk_tokenizer_load_json(const char *path, const qk_tokenizer_options *opts,
                                 qk_tokenizer **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    char *data = NULL, *config = NULL;
    size_t size = 0, config_size = 0;
    qk_status st = qk_tok_read_file(path, &data, &size);
    if (st != QK_OK) return st;
    char dir[4096], cpath[4200];
    qk_tok_dirname(path, dir, sizeof dir);
    snprintf(cpath, sizeof cpath, "%s/tokenizer_config.json", dir);
    struct stat sb;
    if (stat(cpath, &sb) == 0 && (st = qk_tok_read_file(cpath, &config, &config_size)) != QK_OK) {
        free(data);
        return st;
    }
    st = qk_tokenizer_load_json_memory(data, size, config, config_size, path, opts, out);
    free(data);
    free(config);
    return st;
}
