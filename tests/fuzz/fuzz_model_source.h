/*
** What the container targets (GGUF, llama2.c, Hugging Face folder) do with a
** model source that opened (quantkit/io.h, "Model source"): the promises of
** qk_model_source_open are checked (every required tensor present with the
** shape the hyper-parameters imply), and every tensor is read into an
** exactly sized buffer: as stored (bytes equal to the file's, or the
** documented HF -> llama.cpp row permutation of them) and, for plain types,
** as f32.
*/
#ifndef QK_FUZZ_MODEL_SOURCE_H
#define QK_FUZZ_MODEL_SOURCE_H

#include "fuzz_common.h"

/* Tensor `name` is there with shape [rows] (cols 0) or [rows, cols]. */
static inline void fuzz_expect_tensor(const qk_model_source *s, const char *name, int64_t rows,
                                      int64_t cols) {
    int64_t i = qk_model_source_find_tensor(s, name);
    if (i < 0) {
        fprintf(stderr, "fuzz: model source opened without required tensor %s\n", name);
        abort();
    }
    qk_model_tensor t;
    FUZZ_CHECK(qk_model_source_tensor_info(s, (size_t)i, &t) == QK_OK);
    FUZZ_CHECK(t.ndim == (cols ? 2 : 1) && t.shape[0] == rows && (!cols || t.shape[1] == cols));
}

static inline void fuzz_check_hparams(const qk_model_source *s) {
    const qk_model_hparams *h = qk_model_source_hparams(s);
    FUZZ_CHECK(h != NULL);
    FUZZ_CHECK(h->n_vocab > 0 && h->n_embd > 0 && h->n_ff > 0 && h->n_layer > 0);
    FUZZ_CHECK(h->n_head > 0 && h->n_head_kv > 0 && h->head_dim > 0);
    FUZZ_CHECK(h->n_head % h->n_head_kv == 0 && h->head_dim % 2 == 0);
    FUZZ_CHECK(memchr(h->arch, 0, sizeof h->arch) != NULL);
    int64_t q = (int64_t)h->n_head * h->head_dim, kv = (int64_t)h->n_head_kv * h->head_dim;
    fuzz_expect_tensor(s, "token_embd.weight", h->n_vocab, h->n_embd);
    fuzz_expect_tensor(s, "output_norm.weight", h->n_embd, 0);
    if (!h->tied_output) fuzz_expect_tensor(s, "output.weight", h->n_vocab, h->n_embd);
    int32_t layers = h->n_layer < 64 ? h->n_layer : 64;
    for (int32_t l = 0; l < layers; l++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", (int)l);
        fuzz_expect_tensor(s, name, q, h->n_embd);
        snprintf(name, sizeof name, "blk.%d.attn_k.weight", (int)l);
        fuzz_expect_tensor(s, name, kv, h->n_embd);
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", (int)l);
        fuzz_expect_tensor(s, name, kv, h->n_embd);
        snprintf(name, sizeof name, "blk.%d.attn_output.weight", (int)l);
        fuzz_expect_tensor(s, name, h->n_embd, q);
        snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", (int)l);
        fuzz_expect_tensor(s, name, h->n_ff, h->n_embd);
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", (int)l);
        fuzz_expect_tensor(s, name, h->n_ff, h->n_embd);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", (int)l);
        fuzz_expect_tensor(s, name, h->n_embd, h->n_ff);
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", (int)l);
        fuzz_expect_tensor(s, name, h->n_embd, 0);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", (int)l);
        fuzz_expect_tensor(s, name, h->n_embd, 0);
        if (h->attn_bias) {
            snprintf(name, sizeof name, "blk.%d.attn_q.bias", (int)l);
            fuzz_expect_tensor(s, name, q, 0);
            snprintf(name, sizeof name, "blk.%d.attn_k.bias", (int)l);
            fuzz_expect_tensor(s, name, kv, 0);
            snprintf(name, sizeof name, "blk.%d.attn_v.bias", (int)l);
            fuzz_expect_tensor(s, name, kv, 0);
        }
    }
}

/* Read every tensor (at most `max_bytes` each) and check the bytes. */
static inline void fuzz_read_model_source(const qk_model_source *s, size_t max_bytes) {
    const qk_model_hparams *h = qk_model_source_hparams(s);
    size_t n = qk_model_source_tensor_count(s);
    for (size_t i = 0; i < n; i++) {
        qk_model_tensor t;
        qk_clear_error();
        qk_status st = qk_model_source_tensor_info(s, i, &t);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK && t.name && t.file_name);
        FUZZ_CHECK(qk_model_source_find_tensor(s, t.name) == (int64_t)i);
        const qk_type_traits *tr = qk_type_get_traits(t.type);
        FUZZ_CHECK(tr != NULL);
        size_t bytes = 0;
        qk_clear_error();
        st = qk_model_source_tensor_bytes(s, i, t.type, &bytes);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK && bytes == t.nbytes);
        if (bytes > max_bytes) continue;
        fuzz_touch(t.data, t.nbytes);
        unsigned char *dst = malloc(bytes ? bytes : 1);
        FUZZ_CHECK(dst != NULL);
        qk_clear_error();
        st = qk_model_source_read(s, i, t.type, dst, bytes);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        if (!t.permuted) {
            FUZZ_CHECK(bytes == 0 || memcmp(dst, t.data, bytes) == 0);
        } else {
            /* rows [heads, 2, half] of the file read as [heads, half, 2] */
            FUZZ_CHECK(t.ndim == 1 || t.ndim == 2);
            int64_t rows = t.shape[0];
            size_t row_bytes = rows ? bytes / (size_t)rows : 0;
            int64_t per = h->head_dim, half = per / 2;
            FUZZ_CHECK(per > 0 && rows % per == 0);
            for (int64_t r = 0; r < rows; r++) {
                int64_t hd = r / per, w = r % per;
                int64_t from = hd * per + (w % 2) * half + w / 2;
                FUZZ_CHECK(memcmp(dst + (size_t)r * row_bytes,
                                  (const unsigned char *)t.data + (size_t)from * row_bytes,
                                  row_bytes) == 0);
            }
        }
        free(dst);
        /* plain types also read as f32 */
        size_t f32_bytes = 0;
        if (!tr->is_block && qk_model_source_tensor_bytes(s, i, QK_TYPE_F32, &f32_bytes) == QK_OK &&
            f32_bytes <= 4 * max_bytes) {
            float *y = malloc(f32_bytes ? f32_bytes : 1);
            FUZZ_CHECK(y != NULL);
            qk_clear_error();
            st = qk_model_source_read(s, i, QK_TYPE_F32, y, f32_bytes);
            fuzz_check_status(st);
            FUZZ_CHECK(st == QK_OK || st == QK_ERR_NONFINITE);
            free(y);
        } else if (tr->is_block) {
            qk_clear_error();
            float one;
            st = qk_model_source_read(s, i, QK_TYPE_F32, &one, sizeof one);
            fuzz_check_status(st);
            FUZZ_CHECK(st != QK_OK);
        }
    }
}

/* Open `path` as a model source; when it opens, check and read it. */
static inline void fuzz_model_source(const char *path, bool hf_layout, size_t max_bytes) {
    qk_model_source_options opts = {.hf_layout = hf_layout};
    qk_model_source *s = NULL;
    qk_clear_error();
    qk_status st = qk_model_source_open(path, &opts, &s);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (s != NULL));
    if (!s) return;
    (void)qk_model_format_name(qk_model_source_format(s));
    fuzz_check_hparams(s);
    fuzz_read_model_source(s, max_bytes);
    qk_model_source_close(s);
}

#endif /* QK_FUZZ_MODEL_SOURCE_H */
