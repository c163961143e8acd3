/*
** Loading a Llama-family model and its tokenizer from any container the io
** layer reads (Hugging Face folder, GGUF, llama2.c checkpoint).
*/
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "model/llama_internal.h"
#include "quantkit/gguf.h"
#include "quantkit/io.h"
#include "quantkit/tokenizer.h"

void qk_llama_hparams_from_source(const qk_model_hparams *s, qk_llama_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    hp->n_vocab = s->n_vocab;
    hp->n_embd = s->n_embd;
    hp->n_ff = s->n_ff;
    hp->n_layer = s->n_layer;
    hp->n_head = s->n_head;
    hp->n_head_kv = s->n_head_kv;
    hp->head_dim = s->head_dim;
    hp->n_ctx_train = s->n_ctx_train;
    hp->rms_eps = s->rms_eps;
    hp->rope_theta = s->rope_theta;
    hp->attn_bias = s->attn_bias;
    hp->tied_output = s->tied_output;
    /* llama.cpp runs Qwen2 with NEOX rotary; Llama/Mistral with normal */
    hp->rope_neox = strcmp(s->arch, "qwen2") == 0;
}

qk_status qk_llama_model_from_source(const qk_model_source *src, qk_llama_model **out) {
    if (!src || !out) return qk_error_set(QK_ERR_INVALID_ARG, "model load: NULL argument");
    *out = NULL;
    qk_llama_hparams hp;
    qk_llama_hparams_from_source(qk_model_source_hparams(src), &hp);
    qk_llama_model *m;
    qk_status st = qk_llama_model_create(&hp, &m);
    if (st != QK_OK) return st;
    const size_t n = qk_model_source_tensor_count(src);
    for (size_t i = 0; i < n && st == QK_OK; i++) {
        qk_model_tensor t;
        if ((st = qk_model_source_tensor_info(src, i, &t)) != QK_OK) break;
        /* 1-D tensors (norms, biases) as f32; weights in their stored type */
        const qk_type type = t.ndim == 1 ? QK_TYPE_F32 : t.type;
        size_t bytes;
        if ((st = qk_model_source_tensor_bytes(src, i, type, &bytes)) != QK_OK) break;
        void *data = malloc(bytes ? bytes : 1);
        if (!data) {
            st = qk_error_set(QK_ERR_NOMEM, "model load: no memory for tensor '%s' (%zu bytes)",
                              t.name, bytes);
            break;
        }
        st = qk_model_source_read(src, i, type, data, bytes);
        qk_tensor_view v;
        if (st == QK_OK) st = qk_tensor_view_init(&v, type, t.ndim, t.shape, data);
        if (st == QK_OK) {
            st = qk_llama_model_adopt_tensor(m, t.name, &v);
            if (st == QK_ERR_NOT_FOUND)
                st = QK_OK; /* not a model tensor: ignored */
            else if (st == QK_OK)
                data = NULL; /* the model owns it now */
        }
        free(data);
    }
    if (st == QK_OK) st = qk_llama_model_finish(m);
    if (st != QK_OK) {
        qk_llama_model_free(m);
        return st;
    }
    *out = m;
    return QK_OK;
}

qk_status qk_llama_model_load(const char *path, qk_llama_model **out) {
    qk_model_source *src;
    qk_status st = qk_model_source_open(path, NULL, &src);
    if (st != QK_OK) return st;
    st = qk_llama_model_from_source(src, out);
    if (st != QK_OK) qk_error_prefix("%s", path);
    qk_model_source_close(src);
    return st;
}

static bool is_dir(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

static bool is_file(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

qk_status qk_tokenizer_load_for_model(const char *model_path, const char *tokenizer_path,
                                      const qk_tokenizer_options *opts, qk_tokenizer **out) {
    if (!model_path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "tokenizer: NULL argument");
    if (tokenizer_path) return qk_tokenizer_load(tokenizer_path, opts, out);
    if (is_dir(model_path)) return qk_tokenizer_load(model_path, opts, out);
    qk_model_source *src;
    qk_status st = qk_model_source_open(model_path, NULL, &src);
    if (st != QK_OK) return st;
    const qk_model_format fmt = qk_model_source_format(src);
    qk_model_source_close(src);
    if (fmt == QK_MODEL_FORMAT_GGUF) {
        qk_gguf_reader *r;
        if ((st = qk_gguf_reader_open(model_path, &r)) != QK_OK) return st;
        st = qk_tokenizer_load_gguf(r, opts, out);
        qk_gguf_reader_close(r);
        return st;
    }
    /* llama2.c: a tokenizer.bin beside the checkpoint */
    const char *slash = strrchr(model_path, '/');
    size_t dir_len = slash ? (size_t)(slash - model_path) + 1 : 0;
    char *guess = malloc(dir_len + sizeof "tokenizer.bin");
    if (!guess) return qk_error_set(QK_ERR_NOMEM, "tokenizer: no memory");
    memcpy(guess, model_path, dir_len);
    memcpy(guess + dir_len, "tokenizer.bin", sizeof "tokenizer.bin");
    if (is_file(guess))
        st = qk_tokenizer_load(guess, opts, out);
    else
        st = qk_error_set(QK_ERR_NOT_FOUND,
                          "%s: a llama2.c checkpoint has no vocabulary; give its tokenizer.bin "
                          "with --tokenizer",
                          model_path);
    free(guess);
    return st;
}
