/*
** Fuzz target: a GGUF file (qk_gguf_reader_open). The input is written to a
** temporary file and opened; when it opens, every key/value and tensor is
** read back and every borrowed byte range is checked to lie inside the
** mapping and read, the typed getters must agree with the value types, the
** start of each tensor is dequantized, a `llama` vocabulary found in the
** file is turned into a tokenizer, and the file is copied through the
** writer (qk_gguf_copy) and read again: the copy must hold the same pairs
** and tensor bytes. Finally the file is opened as a model source
** (fuzz_model_source.h) and given to the other GGUF readers: the GGUF
** tokenizer loader, the calibration statistics loader and the llama model
** loader (with a short forward pass).
*/
#include "fuzz_model_source.h"
#include "fuzz_tokenizer.h"

typedef struct mapping {
    const unsigned char *base;
    size_t size;
} mapping;

/* [p, p + n) lies inside the mapping; read it. */
static void touch_mapped(const mapping *m, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    FUZZ_CHECK(b >= m->base && b <= m->base + m->size);
    FUZZ_CHECK(n <= (size_t)(m->base + m->size - b));
    fuzz_touch(b, n);
}

static void check_getters(const qk_gguf_reader *r, const char *key, const qk_gguf_value *v) {
    qk_status st;
    const char *s = NULL;
    qk_clear_error();
    st = qk_gguf_reader_get_str(r, key, &s);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (v->type == QK_GGUF_STRING));
    if (st == QK_OK) FUZZ_CHECK(s == v->str);
    int64_t i64 = 0;
    qk_clear_error();
    st = qk_gguf_reader_get_int(r, key, &i64);
    fuzz_check_status(st);
    bool is_int = v->type <= QK_GGUF_I32 || v->type == QK_GGUF_U64 || v->type == QK_GGUF_I64;
    FUZZ_CHECK(is_int || st != QK_OK);
    uint32_t u32 = 0;
    qk_clear_error();
    st = qk_gguf_reader_get_u32(r, key, &u32);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (v->type == QK_GGUF_U32));
    if (st == QK_OK) FUZZ_CHECK(u32 == v->v.u64);
    float f = 0;
    qk_clear_error();
    st = qk_gguf_reader_get_f32(r, key, &f);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (v->type == QK_GGUF_F32));
    bool b = false;
    qk_clear_error();
    st = qk_gguf_reader_get_bool(r, key, &b);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (v->type == QK_GGUF_BOOL));
    if (v->type == QK_GGUF_ARRAY) {
        const void *data = NULL;
        uint64_t n = 0;
        qk_clear_error();
        st = qk_gguf_reader_get_arr(r, key, v->elem_type, &data, &n);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK && n == v->n && data == v->data);
    }
}

/* A `llama` vocabulary (tokenizer.ggml.*) as a tokenizer, as a model loader
** would build it. */
static void try_vocabulary(const qk_gguf_reader *r, const uint8_t *data, size_t size) {
    int64_t ti = qk_gguf_reader_find_key(r, "tokenizer.ggml.tokens");
    qk_gguf_value v;
    if (ti < 0 || qk_gguf_reader_kv_value(r, ti, &v) != QK_OK) return;
    if (v.type != QK_GGUF_ARRAY || v.elem_type != QK_GGUF_STRING || v.n == 0 || v.n > 65536) return;
    size_t n = (size_t)v.n;
    const char **tokens = malloc(n * sizeof *tokens);
    size_t *lens = malloc(n * sizeof *lens);
    float *scores = malloc(n * sizeof *scores);
    int32_t *types = malloc(n * sizeof *types);
    FUZZ_CHECK(tokens && lens && scores && types);
    for (size_t i = 0; i < n; i++) {
        uint64_t len = 0;
        FUZZ_CHECK(qk_gguf_reader_arr_str(r, ti, i, &tokens[i], &len) == QK_OK);
        lens[i] = (size_t)len;
    }
    qk_spm_vocab voc;
    qk_spm_vocab_init(&voc);
    voc.n_tokens = (int32_t)n;
    voc.tokens = tokens;
    voc.token_lens = lens;
    qk_clear_error();
    if (qk_gguf_reader_copy_arr(r, "tokenizer.ggml.scores", QK_GGUF_F32, scores, n) == QK_OK)
        voc.scores = scores;
    if (qk_gguf_reader_copy_arr(r, "tokenizer.ggml.token_type", QK_GGUF_I32, types, n) == QK_OK)
        voc.types = types;
    const char *id_keys[3] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                              "tokenizer.ggml.unknown_token_id"};
    int32_t *ids[3] = {&voc.bos_id, &voc.eos_id, &voc.unk_id};
    for (int k = 0; k < 3; k++) {
        int64_t id;
        if (qk_gguf_reader_get_int(r, id_keys[k], &id) == QK_OK)
            *ids[k] = id >= INT32_MIN && id <= INT32_MAX ? (int32_t)id : -1;
    }
    bool add_bos;
    if (qk_gguf_reader_get_bool(r, "tokenizer.ggml.add_bos_token", &add_bos) == QK_OK)
        voc.add_bos = add_bos;
    qk_tokenizer *tok = NULL;
    qk_clear_error();
    qk_status st = qk_tokenizer_create_spm(&voc, &tok);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (tok != NULL));
    if (tok) fuzz_exercise_tokenizer(tok, data, size);
    qk_tokenizer_free(tok);
    free(tokens);
    free(lens);
    free(scores);
    free(types);
}

/* The other readers of GGUF files: the tokenizer from GGUF metadata, the
** calibration statistics file, and the llama model (loaded, then one short
** forward pass: hostile numbers may give NaN logits, never a crash). */
static void other_consumers(const char *path, const qk_gguf_reader *r, const uint8_t *data,
                            size_t size) {
    qk_tokenizer *tok = NULL;
    qk_clear_error();
    qk_status st = qk_tokenizer_load_gguf(r, NULL, &tok);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (tok != NULL));
    if (tok) fuzz_exercise_tokenizer(tok, data, size);
    qk_tokenizer_free(tok);

    qk_calib_stats *cs = NULL;
    qk_clear_error();
    st = qk_calib_stats_load(path, &cs);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (cs != NULL));
    if (cs) {
        FUZZ_CHECK(qk_calib_stats_rows(cs) >= 0);
        for (int32_t layer = -1; layer < 8; layer++) {
            for (int w = 0; w < QK_LINEAR_COUNT; w++) {
                qk_calib_input in;
                qk_clear_error();
                st = qk_calib_stats_get(cs, layer, (qk_llama_linear)w, &in);
                fuzz_check_status(st);
                if (st != QK_OK) continue;
                FUZZ_CHECK(in.n_cols > 0 && in.n_rows >= 0 && in.sum_x2 && in.sum_abs);
                fuzz_touch(in.sum_x2, (size_t)in.n_cols * sizeof(double));
                fuzz_touch(in.sum_abs, (size_t)in.n_cols * sizeof(double));
                if (in.xtx) fuzz_touch(in.xtx, (size_t)(in.n_cols * in.n_cols) * sizeof(double));
                char name[64];
                if (layer < 0)
                    snprintf(name, sizeof name, "output.weight");
                else
                    qk_llama_linear_name(layer, (qk_llama_linear)w, name, sizeof name);
                float *imp = malloc((size_t)in.n_cols * sizeof *imp);
                FUZZ_CHECK(imp != NULL);
                qk_clear_error();
                st = qk_calib_stats_importance(cs, name, imp, in.n_cols);
                fuzz_check_status(st);
                free(imp);
            }
        }
        qk_calib_stats_free(cs);
    }

    qk_llama_model *model = NULL;
    qk_clear_error();
    st = qk_llama_model_load(path, &model);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (model != NULL));
    if (!model) return;
    const qk_llama_hparams *hp = qk_llama_model_hparams(model);
    qk_llama_context *ctx = NULL;
    qk_clear_error();
    st = qk_llama_context_create(model, 4, &ctx);
    fuzz_check_status(st);
    if (ctx && (size_t)hp->n_vocab <= (1u << 20)) {
        int32_t tokens[2] = {0, hp->n_vocab - 1};
        float *logits = malloc(2 * (size_t)hp->n_vocab * sizeof *logits);
        FUZZ_CHECK(logits != NULL);
        qk_clear_error();
        st = qk_llama_decode(ctx, tokens, 2, logits, true);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        int32_t bad = hp->n_vocab;
        qk_clear_error();
        st = qk_llama_decode(ctx, &bad, 1, logits, false);
        fuzz_check_status(st);
        FUZZ_CHECK(st != QK_OK);
        free(logits);
    }
    qk_llama_context_free(ctx);
    qk_llama_model_free(model);
}

/* The copy written by qk_gguf_copy holds the same pairs and tensors. */
static void check_copy(const qk_gguf_reader *r, const char *copy_path) {
    qk_gguf_reader *c = NULL;
    qk_clear_error();
    qk_status st = qk_gguf_reader_open(copy_path, &c);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK);
    FUZZ_CHECK(qk_gguf_reader_version(c) == QK_GGUF_VERSION);
    FUZZ_CHECK(qk_gguf_reader_kv_count(c) == qk_gguf_reader_kv_count(r));
    FUZZ_CHECK(qk_gguf_reader_tensor_count(c) == qk_gguf_reader_tensor_count(r));
    FUZZ_CHECK(qk_gguf_reader_alignment(c) == qk_gguf_reader_alignment(r));
    for (int64_t i = 0; i < qk_gguf_reader_kv_count(r); i++) {
        FUZZ_CHECK(strcmp(qk_gguf_reader_kv_key(c, i), qk_gguf_reader_kv_key(r, i)) == 0);
        qk_gguf_value a, b;
        FUZZ_CHECK(qk_gguf_reader_kv_value(r, i, &a) == QK_OK);
        FUZZ_CHECK(qk_gguf_reader_kv_value(c, i, &b) == QK_OK);
        FUZZ_CHECK(a.type == b.type && a.n == b.n);
        if (a.type == QK_GGUF_STRING)
            FUZZ_CHECK(a.str_len == b.str_len && memcmp(a.str, b.str, a.str_len) == 0);
    }
    for (int64_t i = 0; i < qk_gguf_reader_tensor_count(r); i++) {
        qk_io_tensor a, b;
        FUZZ_CHECK(qk_gguf_reader_tensor_info(r, i, &a) == QK_OK);
        FUZZ_CHECK(qk_gguf_reader_tensor_info(c, i, &b) == QK_OK);
        FUZZ_CHECK(strcmp(a.name, b.name) == 0 && a.type == b.type && a.ndim == b.ndim);
        FUZZ_CHECK(memcmp(a.shape, b.shape, sizeof a.shape) == 0 && a.nbytes == b.nbytes);
        FUZZ_CHECK(a.nbytes == 0 || memcmp(a.data, b.data, a.nbytes) == 0);
    }
    qk_gguf_reader_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("fuzz.gguf", data, size);
    qk_gguf_reader *r = NULL;
    qk_clear_error();
    qk_status st = qk_gguf_reader_open(path, &r);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (r != NULL));
    if (!r) return 0;

    const qk_mapped_file *file = qk_gguf_reader_file(r);
    mapping m = {qk_mapped_file_data(file), qk_mapped_file_size(file)};
    FUZZ_CHECK(m.size == size && qk_gguf_reader_file_size(r) == size);
    uint32_t version = qk_gguf_reader_version(r);
    FUZZ_CHECK(version == 2 || version == 3);
    uint32_t align = qk_gguf_reader_alignment(r);
    FUZZ_CHECK(align != 0 && (align & (align - 1)) == 0);
    uint64_t data_offset = qk_gguf_reader_data_offset(r);
    FUZZ_CHECK(data_offset % align == 0);

    /* key/value pairs */
    int64_t n_kv = qk_gguf_reader_kv_count(r);
    FUZZ_CHECK(n_kv >= 0);
    for (int64_t i = 0; i < n_kv; i++) {
        const char *key = qk_gguf_reader_kv_key(r, i);
        FUZZ_CHECK(key != NULL && key[0] != '\0');
        FUZZ_CHECK(qk_gguf_reader_find_key(r, key) == i);
        qk_gguf_value v;
        qk_clear_error();
        st = qk_gguf_reader_kv_value(r, i, &v);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK && v.type < QK_GGUF_TYPE_COUNT);
        if (v.type == QK_GGUF_STRING) {
            FUZZ_CHECK(v.str != NULL && v.str[v.str_len] == '\0');
            fuzz_touch(v.str, (size_t)v.str_len);
        } else if (v.type == QK_GGUF_ARRAY) {
            FUZZ_CHECK(v.elem_type < QK_GGUF_TYPE_COUNT && v.elem_type != QK_GGUF_ARRAY);
            if (v.elem_type == QK_GGUF_STRING) {
                for (uint64_t j = 0; j < v.n; j++) {
                    const char *s = NULL;
                    uint64_t len = 0;
                    qk_clear_error();
                    st = qk_gguf_reader_arr_str(r, i, j, &s, &len);
                    fuzz_check_status(st);
                    FUZZ_CHECK(st == QK_OK);
                    FUZZ_CHECK(len <= size);
                    touch_mapped(&m, s, (size_t)len);
                }
                qk_clear_error();
                st = qk_gguf_reader_arr_str(r, i, v.n, NULL, NULL);
                fuzz_check_status(st);
                FUZZ_CHECK(st != QK_OK);
            } else {
                size_t esize = qk_gguf_value_type_size(v.elem_type);
                FUZZ_CHECK(esize > 0 && v.n <= size / esize);
                touch_mapped(&m, v.data, (size_t)v.n * esize);
            }
        }
        check_getters(r, key, &v);
    }
    FUZZ_CHECK(qk_gguf_reader_kv_key(r, n_kv) == NULL);
    qk_clear_error();
    qk_gguf_value none;
    st = qk_gguf_reader_kv_value(r, n_kv, &none);
    fuzz_check_status(st);
    FUZZ_CHECK(st != QK_OK);

    /* tensors */
    int64_t n_tensors = qk_gguf_reader_tensor_count(r);
    FUZZ_CHECK(n_tensors >= 0);
    bool long_name = false;
    for (int64_t i = 0; i < n_tensors; i++) {
        qk_io_tensor t;
        qk_clear_error();
        st = qk_gguf_reader_tensor_info(r, i, &t);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        FUZZ_CHECK(t.name != NULL && t.name[0] != '\0');
        if (strlen(t.name) >= 64) long_name = true;
        FUZZ_CHECK(qk_gguf_reader_find_tensor(r, t.name) == i);
        const qk_type_traits *tr = qk_type_get_traits(t.type);
        FUZZ_CHECK(tr != NULL);
        FUZZ_CHECK(t.ndim >= 0 && t.ndim <= QK_MAX_DIMS);
        int64_t numel = qk_io_tensor_numel(&t);
        FUZZ_CHECK(numel >= 0);
        size_t bytes = 0;
        FUZZ_CHECK(qk_type_row_bytes(t.type, numel, &bytes) == QK_OK && bytes == t.nbytes);
        FUZZ_CHECK(t.offset == data_offset + qk_gguf_reader_tensor_rel_offset(r, i));
        FUZZ_CHECK(t.offset % align == 0);
        if (t.nbytes > 0) {
            FUZZ_CHECK((const unsigned char *)t.data == m.base + t.offset);
            touch_mapped(&m, t.data, t.nbytes);
        }
        /* dequantize the first elements, as a consumer would */
        int64_t n = numel < 1024 ? numel : 1024;
        n -= n % tr->block_elems;
        if (n > 0 && (tr->is_block || tr->is_float)) {
            float *y = malloc((size_t)n * sizeof *y);
            FUZZ_CHECK(y != NULL);
            qk_clear_error();
            st = qk_dequantize_row(t.type, t.data, y, n);
            fuzz_check_status(st);
            /* (block formats still being added report QK_ERR_UNSUPPORTED) */
            FUZZ_CHECK(st == QK_OK || st == QK_ERR_UNSUPPORTED);
            free(y);
        }
    }
    qk_clear_error();
    qk_io_tensor none_t;
    st = qk_gguf_reader_tensor_info(r, n_tensors, &none_t);
    fuzz_check_status(st);
    FUZZ_CHECK(st != QK_OK);

    try_vocabulary(r, data, size);

    /* write a copy through the writer and read it back */
    const char *copy_path = fuzz_path("copy.gguf");
    qk_clear_error();
    st = qk_gguf_copy(path, copy_path);
    fuzz_check_status(st);
    if (st != QK_OK && !long_name) {
        fprintf(stderr, "fuzz: qk_gguf_copy of a file the reader accepts failed: %s\n",
                qk_last_error());
        abort();
    }
    if (st == QK_OK) check_copy(r, copy_path);
    qk_gguf_reader_close(r);

    fuzz_model_source(path, false, 1 << 20);
    r = NULL;
    if (qk_gguf_reader_open(path, &r) == QK_OK) other_consumers(path, r, data, size);
    qk_gguf_reader_close(r);
    return 0;
}
