/*
** The key/value pairs llama.cpp needs to load a Llama-family GGUF file:
** general.*, <arch>.* hyper-parameters and the tokenizer.ggml.* vocabulary,
** with the key names and value types of llama.cpp's convert_hf_to_gguf.py.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/gguf.h"
#include "quantkit/io.h"
#include "quantkit/quantize.h"
#include "quantkit/tokenizer.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        st = (expr);                                                                               \
        if (st != QK_OK) goto done;                                                                \
    } while (0)

/* Copy a GGUF source's pairs in order, the quantization version set to 2,
** the name replaced when one is given, and the file type appended last, as
** llama-quantize writes them. */
static qk_status copy_gguf_pairs(qk_gguf_writer *w, const char *path, uint32_t file_type,
                                 const char *name) {
    qk_gguf_reader *r = NULL;
    qk_status st;
    bool wrote_version = false;
    TRY(qk_gguf_reader_open(path, &r));
    for (int64_t i = 0; i < qk_gguf_reader_kv_count(r); i++) {
        const char *key = qk_gguf_reader_kv_key(r, i);
        if (strcmp(key, "general.file_type") == 0) continue;
        if (strcmp(key, "general.quantization_version") == 0) {
            TRY(qk_gguf_writer_add_u32(w, key, 2));
            wrote_version = true;
        } else if (name && strcmp(key, "general.name") == 0) {
            TRY(qk_gguf_writer_add_str(w, key, name));
        } else {
            TRY(qk_gguf_writer_copy_kv(w, r, i));
        }
    }
    if (name && qk_gguf_reader_find_key(r, "general.name") < 0)
        TRY(qk_gguf_writer_add_str(w, "general.name", name));
    if (!wrote_version) TRY(qk_gguf_writer_add_u32(w, "general.quantization_version", 2));
    TRY(qk_gguf_writer_add_u32(w, "general.file_type", file_type));
done:
    qk_gguf_reader_close(r);
    return st;
}

/* tokenizer.ggml.* of a SentencePiece-style or byte-level vocabulary. */
static qk_status add_tokenizer(qk_gguf_writer *w, const qk_tokenizer *tok) {
    const int32_t n = qk_tokenizer_n_vocab(tok);
    const bool spm = qk_tokenizer_get_kind(tok) == QK_TOKENIZER_SPM;
    const char **texts = malloc((size_t)n * sizeof *texts);
    uint64_t *lens = malloc((size_t)n * sizeof *lens);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    char **merges = NULL;
    int32_t n_merges = 0;
    char *blob = NULL;
    qk_status st = QK_OK;
    if (!texts || !lens || !scores || !types) {
        st = qk_error_set(QK_ERR_NOMEM, "GGUF metadata: no memory for %d tokens", n);
        goto done;
    }
    /* SentencePiece vocabularies as pieces (llama2.c's raw spaces become
    ** U+2581, as llama.cpp's converter writes them); BPE texts as they are */
    size_t blob_len = 0;
    for (int32_t i = 0; i < n && spm; i++) blob_len += qk_tokenizer_spm_piece(tok, i, NULL, 0);
    if (spm && !(blob = malloc(blob_len ? blob_len : 1))) {
        st = qk_error_set(QK_ERR_NOMEM, "GGUF metadata: no memory for the vocabulary");
        goto done;
    }
    size_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t len = 0;
        if (spm) {
            len = qk_tokenizer_spm_piece(tok, i, blob + at, blob_len - at);
            texts[i] = blob + at;
            at += len;
        } else {
            texts[i] = qk_tokenizer_token_text(tok, i, &len);
        }
        lens[i] = len;
        scores[i] = qk_tokenizer_token_score(tok, i);
        types[i] = (int32_t)qk_tokenizer_token_type(tok, i);
    }
    if (spm) {
        TRY(qk_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"));
        TRY(qk_gguf_writer_add_str(w, "tokenizer.ggml.pre", "default"));
    } else {
        TRY(qk_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2"));
        const qk_pretokenizer pre = qk_tokenizer_bpe_pretokenizer(tok);
        TRY(qk_gguf_writer_add_str(w, "tokenizer.ggml.pre",
                                   pre == QK_PRETOK_LLAMA3  ? "llama-bpe"
                                   : pre == QK_PRETOK_QWEN2 ? "qwen2"
                                                            : "default"));
    }
    TRY(qk_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", texts, lens, (uint64_t)n));
    if (spm)
        TRY(qk_gguf_writer_add_arr(w, "tokenizer.ggml.scores", QK_GGUF_F32, scores, (uint64_t)n));
    TRY(qk_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", QK_GGUF_I32, types, (uint64_t)n));
    if (!spm) {
        TRY(qk_tokenizer_bpe_merges(tok, &merges, &n_merges));
        TRY(qk_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges,
                                       NULL, (uint64_t)n_merges));
    }
    if (qk_tokenizer_bos_id(tok) >= 0)
        TRY(qk_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id",
                                   (uint32_t)qk_tokenizer_bos_id(tok)));
    if (qk_tokenizer_eos_id(tok) >= 0)
        TRY(qk_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id",
                                   (uint32_t)qk_tokenizer_eos_id(tok)));
    if (qk_tokenizer_unk_id(tok) >= 0)
        TRY(qk_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id",
                                   (uint32_t)qk_tokenizer_unk_id(tok)));
    TRY(qk_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", qk_tokenizer_add_bos(tok)));
    TRY(qk_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", qk_tokenizer_add_eos(tok)));
done:
    qk_tokenizer_bpe_merges_free(merges, n_merges);
    free(blob);
    free(texts);
    free(lens);
    free(scores);
    free(types);
    return st;
}

/* general.name from a path: the folder or file name without extension. */
static void name_from_path(const char *path, char *buf, size_t size) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t end = len;
    for (size_t i = start; i < len; i++)
        if (path[i] == '.') end = i;
    if (end == start) end = len;
    snprintf(buf, size, "%.*s", (int)(end - start), path + start);
}

qk_status qk_gguf_add_model_metadata(qk_gguf_writer *w, const qk_model_source *src,
                                     const char *src_path, const qk_tokenizer *tok,
                                     uint32_t file_type, const char *name) {
    if (!w || !src || !src_path)
        return qk_error_set(QK_ERR_INVALID_ARG, "GGUF metadata: NULL argument");
    if (qk_model_source_format(src) == QK_MODEL_FORMAT_GGUF)
        return copy_gguf_pairs(w, src_path, file_type, name);
    if (!tok)
        return qk_error_set(QK_ERR_INVALID_ARG, "GGUF metadata: %s needs a tokenizer", src_path);
    const qk_model_hparams *hp = qk_model_source_hparams(src);
    const char *arch = hp->arch;
    char key[96], default_name[128];
    qk_status st;
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    if (!name) {
        name_from_path(src_path, default_name, sizeof default_name);
        name = default_name;
    }
    TRY(qk_gguf_writer_add_str(w, "general.architecture", arch));
    TRY(qk_gguf_writer_add_str(w, "general.type", "model"));
    TRY(qk_gguf_writer_add_str(w, "general.name", name));
    TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("block_count"), (uint32_t)hp->n_layer));
    TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("context_length"), (uint32_t)hp->n_ctx_train));
    TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("embedding_length"), (uint32_t)hp->n_embd));
    TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)hp->n_ff));
    TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)hp->n_head));
    TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)hp->n_head_kv));
    TRY(qk_gguf_writer_add_f32(w, ARCH_KEY("rope.freq_base"), hp->rope_theta));
    TRY(qk_gguf_writer_add_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), hp->rms_eps));
    TRY(qk_gguf_writer_add_u32(w, "general.file_type", file_type));
    TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("vocab_size"), (uint32_t)hp->n_vocab));
    TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)hp->head_dim));
    if ((int64_t)hp->head_dim * hp->n_head != hp->n_embd) {
        TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("attention.key_length"), (uint32_t)hp->head_dim));
        TRY(qk_gguf_writer_add_u32(w, ARCH_KEY("attention.value_length"), (uint32_t)hp->head_dim));
    }
    if (hp->rope_scaling.present && strcmp(hp->rope_scaling.type, "linear") == 0 &&
        hp->rope_scaling.factor > 0) {
        TRY(qk_gguf_writer_add_str(w, ARCH_KEY("rope.scaling.type"), "linear"));
        TRY(qk_gguf_writer_add_f32(w, ARCH_KEY("rope.scaling.factor"),
                                   (float)hp->rope_scaling.factor));
    }
#undef ARCH_KEY
    TRY(add_tokenizer(w, tok));
    TRY(qk_gguf_writer_add_u32(w, "general.quantization_version", 2));
done:
    return st;
}
