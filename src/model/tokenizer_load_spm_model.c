/*
** SentencePiece tokenizer.model: a ModelProto protobuf (proto2), read here
** with a small wire-format reader. Field numbers from sentencepiece_model.proto:
**
**   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec,
**                   3 normalizer_spec, 5 denormalizer_spec
**   SentencePiece   1 piece (string), 2 score (float), 3 type (enum: NORMAL 1,
**                   UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6)
**   TrainerSpec     3 model_type (UNIGRAM 1, BPE 2, WORD 3, CHAR 4),
**                   24 treat_whitespace_as_suffix, 35 byte_fallback,
**                   40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
**   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
**                   4 remove_extra_whitespaces, 5 escape_whitespaces
**
** Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32; groups
** (3, 4) and 6, 7 are rejected. Every length is checked against the end of
** its enclosing message; errors name the file and the byte offset.
*/
#include <stdlib.h> /* realloc, free */
#include <string.h> /* memcpy */

#include "core/error.h"
#include "model/tokenizer_internal.h"

typedef struct pb {
    const unsigned char *data;
    size_t pos, end; /* end of the current message */
    const char *name;
} pb;

typedef struct pb_field {
    uint32_t number, wire;
    size_t at;         /* offset of the key */
    uint64_t value;    /* varint / fixed value */
    size_t start, len; /* wire type 2: the payload */
} pb_field;

static qk_status pb_varint(pb *r, uint64_t *out) {
    size_t at = r->pos;
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->pos >= r->end)
            return qk_error_set(QK_ERR_TRUNCATED, "%s: truncated varint at byte %zu", r->name, at);
        unsigned c = r->data[r->pos++];
        if (shift == 63 && c > 1)
            return qk_error_set(QK_ERR_CORRUPT, "%s: varint at byte %zu overflows 64 bits", r->name,
                                at);
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return QK_OK;
        }
    }
    return qk_error_set(QK_ERR_CORRUPT, "%s: varint at byte %zu is longer than 10 bytes", r->name,
                        at);
}

/* Next field of the current message; false at its end. */
static qk_status pb_next(pb *r, pb_field *f, bool *have) {
    *have = false;
    if (r->pos >= r->end) return QK_OK;
    f->at = r->pos;
    uint64_t key;
    qk_status st = pb_varint(r, &key);
    if (st != QK_OK) return st;
    f->number = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    if (key >> 32 || f->number == 0)
        return qk_error_set(QK_ERR_CORRUPT, "%s: invalid field number %llu at byte %zu", r->name,
                            (unsigned long long)(key >> 3), f->at);
    switch (f->wire) {
    case 0:
        st = pb_varint(r, &f->value);
        break;
    case 1:
    case 5: {
        size_t w = f->wire == 1 ? 8 : 4;
        if (r->end - r->pos < w)
            return qk_error_set(QK_ERR_TRUNCATED,
                                "%s: truncated %zu-byte value of field %u at "
                                "byte %zu",
                                r->name, w, f->number, r->pos);
        f->value = 0;
        for (size_t i = 0; i < w; i++) f->value |= (uint64_t)r->data[r->pos + i] << (8 * i);
        r->pos += w;
        break;
    }
    case 2: {
        uint64_t len;
        size_t len_at = r->pos;
        if ((st = pb_varint(r, &len)) != QK_OK) return st;
        if (len > r->end - r->pos)
            return qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                                "%s: field %u at byte %zu has length %llu "
                                "but its message ends %zu bytes later (byte %zu)",
                                r->name, f->number, len_at, (unsigned long long)len,
                                r->end - r->pos, r->end);
        f->start = r->pos;
        f->len = (size_t)len;
        r->pos += (size_t)len;
        break;
    }
    default:
        return qk_error_set(QK_ERR_CORRUPT, "%s: unknown wire type %u (field %u) at byte %zu",
                            r->name, f->wire, f->number, f->at);
    }
    if (st != QK_OK) return st;
    *have = true;
    return QK_OK;
}

static qk_status pb_expect(const pb *r, const pb_field *f, uint32_t wire, const char *what) {
    if (f->wire == wire) return QK_OK;
    return qk_error_set(QK_ERR_CORRUPT,
                        "%s: %s (field %u) at byte %zu has wire type %u, "
                        "expected %u",
                        r->name, what, f->number, f->at, f->wire, wire);
}

static pb pb_sub(const pb *r, const pb_field *f) {
    return (pb){r->data, f->start, f->start + f->len, r->name};
}

typedef struct spm_model {
    const char **texts;
    size_t *lens;
    float *scores;
    int32_t *types;
    size_t n, cap;
    int64_t model_type;
    int64_t unk_id, bos_id, eos_id, pad_id;
    bool byte_fallback, ws_suffix, add_dummy_prefix, remove_extra_ws, escape_ws;
    bool has_charsmap;
    const unsigned char *norm_name;
    size_t norm_name_len;
} spm_model;

static qk_status read_piece(pb *r, spm_model *m, size_t at) {
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 1024;
        const char **t = realloc(m->texts, cap * sizeof *t);
        if (t) m->texts = t;
        size_t *l = realloc(m->lens, cap * sizeof *l);
        if (l) m->lens = l;
        float *s = realloc(m->scores, cap * sizeof *s);
        if (s) m->scores = s;
        int32_t *y = realloc(m->types, cap * sizeof *y);
        if (y) m->types = y;
        if (!t || !l || !s || !y || m->n >= (1u << 28))
            return qk_error_set(QK_ERR_NOMEM, "%s: out of memory at piece %zu", r->name, m->n);
        m->cap = cap;
    }
    size_t i = m->n;
    m->texts[i] = NULL;
    m->lens[i] = 0;
    m->scores[i] = 0.0f;
    m->types[i] = QK_TOKEN_NORMAL;
    pb_field f;
    bool have;
    qk_status st;
    while ((st = pb_next(r, &f, &have)) == QK_OK && have) {
        if (f.number == 1) {
            if ((st = pb_expect(r, &f, 2, "piece text")) != QK_OK) return st;
            m->texts[i] = (const char *)r->data + f.start;
            m->lens[i] = f.len;
        } else if (f.number == 2) {
            if ((st = pb_expect(r, &f, 5, "piece score")) != QK_OK) return st;
            uint32_t bits = (uint32_t)f.value;
            memcpy(&m->scores[i], &bits, 4);
        } else if (f.number == 3) {
            if ((st = pb_expect(r, &f, 0, "piece type")) != QK_OK) return st;
            if (f.value < 1 || f.value > 6)
                return qk_error_set(QK_ERR_CORRUPT,
                                    "%s: piece %zu at byte %zu has type %llu "
                                    "(valid: 1..6)",
                                    r->name, i, f.at, (unsigned long long)f.value);
            m->types[i] = (int32_t)f.value;
        }
    }
    if (st != QK_OK) return st;
    if (!m->texts[i] || m->lens[i] == 0)
        return qk_error_set(QK_ERR_CORRUPT, "%s: piece %zu at byte %zu has no text", r->name, i,
                            at);
    m->n++;
    return QK_OK;
}

static qk_status read_trainer(pb *r, spm_model *m) {
    pb_field f;
    bool have;
    qk_status st;
    while ((st = pb_next(r, &f, &have)) == QK_OK && have) {
        int64_t *target = NULL;
        switch (f.number) {
        case 3:
            target = &m->model_type;
            break;
        case 40:
            target = &m->unk_id;
            break;
        case 41:
            target = &m->bos_id;
            break;
        case 42:
            target = &m->eos_id;
            break;
        case 43:
            target = &m->pad_id;
            break;
        case 24:
        case 35:
            if ((st = pb_expect(r, &f, 0, "trainer flag")) != QK_OK) return st;
            *(f.number == 24 ? &m->ws_suffix : &m->byte_fallback) = f.value != 0;
            continue;
        default:
            continue;
        }
        if ((st = pb_expect(r, &f, 0, "trainer integer")) != QK_OK) return st;
        *target = (int64_t)(int32_t)(uint32_t)f.value; /* int32: negatives are 10-byte varints */
    }
    return st;
}

static qk_status read_normalizer(pb *r, spm_model *m) {
    pb_field f;
    bool have;
    qk_status st;
    while ((st = pb_next(r, &f, &have)) == QK_OK && have) {
        if (f.number == 1 || f.number == 2) {
            if ((st = pb_expect(r, &f, 2, "normalizer string")) != QK_OK) return st;
            if (f.number == 1) {
                m->norm_name = r->data + f.start;
                m->norm_name_len = f.len;
            } else {
                m->has_charsmap = f.len > 0;
            }
        } else if (f.number >= 3 && f.number <= 5) {
            if ((st = pb_expect(r, &f, 0, "normalizer flag")) != QK_OK) return st;
            bool *flag = f.number == 3   ? &m->add_dummy_prefix
                         : f.number == 4 ? &m->remove_extra_ws
                                         : &m->escape_ws;
            *flag = f.value != 0;
        }
    }
    return st;
}

qk_status qk_tokenizer_load_spm_model_memory(const void *data, size_t size, const char *name,
                                             const qk_tokenizer_options *opts, qk_tokenizer **out) {
    if (!out || (!data && size)) return qk_error_set(QK_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    if (!name) name = "tokenizer.model";
    /* proto2 defaults */
    spm_model m = {.model_type = 1,
                   .unk_id = 0,
                   .bos_id = 1,
                   .eos_id = 2,
                   .pad_id = -1,
                   .add_dummy_prefix = true,
                   .remove_extra_ws = true,
                   .escape_ws = true};
    pb r = {data, 0, size, name};
    pb_field f;
    bool have, seen_trainer = false;
    qk_status st;
    while ((st = pb_next(&r, &f, &have)) == QK_OK && have) {
        if (f.number == 1 || f.number == 2 || f.number == 3) {
            if ((st = pb_expect(&r, &f, 2, "ModelProto message")) != QK_OK) break;
            pb sub = pb_sub(&r, &f);
            if (f.number == 1) st = read_piece(&sub, &m, f.at);
            if (f.number == 2) {
                st = read_trainer(&sub, &m);
                seen_trainer = true;
            }
            if (f.number == 3) st = read_normalizer(&sub, &m);
            if (st != QK_OK) break;
        }
    }
    if (st != QK_OK) goto done;
    if (m.n == 0) {
        st = qk_error_set(QK_ERR_CORRUPT, "%s: no pieces (not a SentencePiece model?)", name);
        goto done;
    }
    if (!seen_trainer || m.model_type != 2) {
        static const char *types[] = {"?", "unigram", "BPE", "word", "char"};
        st = qk_error_set(QK_ERR_UNSUPPORTED,
                          "%s: SentencePiece model type %s is not supported "
                          "(only BPE)",
                          name, m.model_type >= 1 && m.model_type <= 4 ? types[m.model_type] : "?");
        goto done;
    }
    if (m.has_charsmap) {
        st = qk_error_set(QK_ERR_UNSUPPORTED,
                          "%s: normalization '%.*s' (a precompiled character "
                          "map) is not supported, only identity",
                          name, (int)m.norm_name_len, m.norm_name ? (const char *)m.norm_name : "");
        goto done;
    }
    const int64_t ids[4] = {m.unk_id, m.bos_id, m.eos_id, m.pad_id};
    for (int k = 0; k < 4; k++)
        if (ids[k] < -1 || ids[k] >= (int64_t)m.n) {
            st = qk_error_set(QK_ERR_OUT_OF_BOUNDS,
                              "%s: special id %lld (unk/bos/eos/pad) is "
                              "outside the %zu pieces",
                              name, (long long)ids[k], m.n);
            goto done;
        }
    qk_spm_vocab v;
    qk_spm_vocab_init(&v);
    v.n_tokens = (int32_t)m.n;
    v.tokens = m.texts;
    v.token_lens = m.lens;
    v.scores = m.scores;
    v.types = m.types;
    v.unk_id = (int32_t)m.unk_id;
    v.bos_id = (int32_t)m.bos_id;
    v.eos_id = (int32_t)m.eos_id;
    v.pad_id = (int32_t)m.pad_id;
    v.add_dummy_prefix = m.add_dummy_prefix;
    v.remove_extra_whitespaces = m.remove_extra_ws;
    v.escape_whitespaces = m.escape_ws;
    v.treat_whitespace_as_suffix = m.ws_suffix;
    v.byte_fallback = m.byte_fallback;
    v.add_bos = v.bos_id >= 0;
    v.add_eos = false;
    if (opts && opts->add_bos >= 0) v.add_bos = opts->add_bos != 0;
    if (opts && opts->add_eos >= 0) v.add_eos = opts->add_eos != 0;
    if (opts && opts->parse_special >= 0) v.parse_special = opts->parse_special != 0;
    v.add_bos = v.add_bos && v.bos_id >= 0;
    v.add_eos = v.add_eos && v.eos_id >= 0;
    st = qk_tokenizer_create_spm(&v, out);
    if (st != QK_OK) qk_error_prefix("%s", name);
done:
    free(m.texts);
    free(m.lens);
    free(m.scores);
    free(m.types);
    return st;
}

qk_status qk_tokenizer_load_spm_model(const char *path, const qk_tokenizer_options *opts,
                                      qk_tokenizer **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    char *data;
    size_t size;
    qk_status st = qk_tok_read_file(path, &data, &size);
    if (st != QK_OK) return st;
    /* tokenizer_config.json beside it may say whether to add BOS / EOS */
    qk_tokenizer_options o;
    qk_tokenizer_options_init(&o);
    if (opts) o = *opts;
    char dir[4096];
    qk_tok_dirname(path, dir, sizeof dir);
    qk_tok_config cfg;
    st = qk_tok_config_read_dir(dir, &cfg);
    if (st == QK_OK) {
        if (o.add_bos < 0) o.add_bos = cfg.add_bos;
        if (o.add_eos < 0) o.add_eos = cfg.add_eos;
        qk_tok_config_free(&cfg);
        st = qk_tokenizer_load_spm_model_memory(data, size, path, &o, out);
    }
    free(data);
    return st;
}
