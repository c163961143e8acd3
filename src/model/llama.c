/*
** Llama-family model: hyper-parameters and the weights, by llama.cpp name.
*/
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strcmp */

#include "core/error.h"
#include "model/llama_internal.h"

qk_status qk_llama_hparams_validate(const qk_llama_hparams *hp) {
    if (!hp) return qk_error_set(QK_ERR_INVALID_ARG, "hparams: NULL");
    if (hp->n_vocab <= 0 || hp->n_embd <= 0 || hp->n_ff <= 0 || hp->n_layer <= 0 ||
        hp->n_head <= 0 || hp->n_head_kv <= 0 || hp->head_dim <= 0)
        return qk_error_set(QK_ERR_CONFIG,
                            "hparams: sizes must be positive (vocab %d, embd %d, ff %d, layers %d, "
                            "heads %d, kv heads %d, head_dim %d)",
                            hp->n_vocab, hp->n_embd, hp->n_ff, hp->n_layer, hp->n_head,
                            hp->n_head_kv, hp->head_dim);
    if (hp->n_head % hp->n_head_kv != 0)
        return qk_error_set(QK_ERR_CONFIG, "hparams: %d heads not a multiple of %d kv heads",
                            hp->n_head, hp->n_head_kv);
    if (hp->head_dim % 2 != 0)
        return qk_error_set(QK_ERR_CONFIG, "hparams: head_dim %d is odd (rotary needs pairs)",
                            hp->head_dim);
    if (!(hp->rms_eps > 0) || !(hp->rope_theta > 0))
        return qk_error_set(QK_ERR_CONFIG, "hparams: rms_eps %g and rope_theta %g must be > 0",
                            (double)hp->rms_eps, (double)hp->rope_theta);
    if ((int64_t)hp->n_head * hp->head_dim > (1 << 20) || hp->n_ff > (1 << 22) ||
        hp->n_embd > (1 << 20))
        return qk_error_set(QK_ERR_CONFIG, "hparams: sizes implausibly large");
    return QK_OK;
}

static const char *const LINEAR_SUFFIX[QK_LINEAR_COUNT] = {
    [QK_LINEAR_Q] = "attn_q",      [QK_LINEAR_K] = "attn_k",      [QK_LINEAR_V] = "attn_v",
    [QK_LINEAR_O] = "attn_output", [QK_LINEAR_GATE] = "ffn_gate", [QK_LINEAR_UP] = "ffn_up",
    [QK_LINEAR_DOWN] = "ffn_down", [QK_LINEAR_OUTPUT] = "output",
};

const char *qk_llama_linear_name(int32_t layer, qk_llama_linear which, char *buf, size_t size) {
    if ((int)which < 0 || which >= QK_LINEAR_COUNT) {
        snprintf(buf, size, "?");
    } else if (which == QK_LINEAR_OUTPUT) {
        snprintf(buf, size, "output.weight");
    } else {
        snprintf(buf, size, "blk.%d.%s.weight", (int)layer, LINEAR_SUFFIX[which]);
    }
    return buf;
}

qk_tensor_view *qk_llama_layer_linear(qk_llama_layer_weights *lw, qk_llama_linear which) {
    switch (which) {
    case QK_LINEAR_Q:
        return &lw->wq;
    case QK_LINEAR_K:
        return &lw->wk;
    case QK_LINEAR_V:
        return &lw->wv;
    case QK_LINEAR_O:
        return &lw->wo;
    case QK_LINEAR_GATE:
        return &lw->w_gate;
    case QK_LINEAR_UP:
        return &lw->w_up;
    case QK_LINEAR_DOWN:
        return &lw->w_down;
    default:
        return NULL;
    }
}

qk_status qk_llama_model_create(const qk_llama_hparams *hp, qk_llama_model **out) {
    if (!out) return qk_error_set(QK_ERR_INVALID_ARG, "model create: NULL output");
    *out = NULL;
    qk_status st = qk_llama_hparams_validate(hp);
    if (st != QK_OK) return st;
    qk_llama_model *m = calloc(1, sizeof *m);
    if (!m) return qk_error_set(QK_ERR_NOMEM, "model create: no memory");
    m->hp = *hp;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        free(m);
        return qk_error_set(QK_ERR_NOMEM, "model create: no memory for %d layers", hp->n_layer);
    }
    *out = m;
    return QK_OK;
}

static void free_view(qk_tensor_view *v) {
    free(v->data);
    v->data = NULL;
}

void qk_llama_model_free(qk_llama_model *m) {
    if (!m) return;
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        qk_llama_layer_weights *lw = &m->layers[l];
        qk_tensor_view *views[] = {&lw->attn_norm, &lw->wq,     &lw->wk,   &lw->wv,
                                   &lw->wo,        &lw->bq,     &lw->bk,   &lw->bv,
                                   &lw->ffn_norm,  &lw->w_gate, &lw->w_up, &lw->w_down};
        for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) free_view(views[i]);
    }
    free(m->layers);
    if (m->kernels) {
        const size_t n = (size_t)m->hp.n_layer * QK_LINEAR_OUTPUT + 1;
        for (size_t i = 0; i < n; i++)
            if (m->kernels[i].free_state) m->kernels[i].free_state(m->kernels[i].state);
        free(m->kernels);
    }
    free_view(&m->token_embd);
    free_view(&m->output_norm);
    free_view(&m->output);
    free(m);
}

/* Put `src` into `dst`: a fresh copy, or, when `adopt`, `src->data`
** itself (a malloc'ed buffer the model now owns, already in the right
** type). f32_only converts to f32 (norms and biases are read as plain
** floats by the forward pass). */
static qk_status place_tensor(qk_tensor_view *dst, const qk_tensor_view *src, bool f32_only,
                              bool adopt, const char *name) {
    qk_tensor_view v = *src;
    if (f32_only) v.type = QK_TYPE_F32;
    if (adopt) {
        if (v.type != src->type)
            return qk_error_set(QK_ERR_INVALID_ARG, "tensor '%s': adopted data must be %s", name,
                                qk_type_name(v.type));
        free(dst->data);
        *dst = v;
        return QK_OK;
    }
    size_t bytes;
    qk_status st = qk_tensor_view_nbytes(&v, &bytes);
    if (st != QK_OK) return qk_error_prefix("tensor '%s'", name);
    void *data = malloc(bytes ? bytes : 1);
    if (!data)
        return qk_error_set(QK_ERR_NOMEM, "tensor '%s': no memory for %zu bytes", name, bytes);
    if (f32_only && src->type != QK_TYPE_F32) {
        st = qk_convert(src->type, src->data, QK_TYPE_F32, data, (size_t)qk_tensor_view_numel(src));
        if (st != QK_OK) {
            free(data);
            return qk_error_prefix("tensor '%s'", name);
        }
    } else {
        memcpy(data, src->data, bytes);
    }
    free(dst->data);
    v.data = data;
    *dst = v;
    return QK_OK;
}

static qk_status copy_tensor(qk_tensor_view *dst, const qk_tensor_view *src, bool f32_only,
                             const char *name) {
    return place_tensor(dst, src, f32_only, false, name);
}

static qk_status expect_shape(const char *name, const qk_tensor_view *t, int64_t d0, int64_t d1) {
    bool ok = d1 < 0 ? (t->ndim == 1 && t->shape[0] == d0)
                     : (t->ndim == 2 && t->shape[0] == d0 && t->shape[1] == d1);
    if (ok) return QK_OK;
    if (d1 < 0)
        return qk_error_set(QK_ERR_SHAPE,
                            "tensor '%s': expected shape [%lld], got %d-D [%lld, %lld]", name,
                            (long long)d0, (int)t->ndim, (long long)t->shape[0],
                            (long long)(t->ndim > 1 ? t->shape[1] : 0));
    return qk_error_set(QK_ERR_SHAPE,
                        "tensor '%s': expected shape [%lld, %lld], got %d-D [%lld, %lld]", name,
                        (long long)d0, (long long)d1, (int)t->ndim, (long long)t->shape[0],
                        (long long)(t->ndim > 1 ? t->shape[1] : 0));
}

static qk_status set_tensor(qk_llama_model *m, const char *name, const qk_tensor_view *t,
                            bool adopt) {
    if (!m || !name || !t || !t->data)
        return qk_error_set(QK_ERR_INVALID_ARG, "set tensor: NULL argument");
    const qk_llama_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab;
    const int64_t QD = (int64_t)hp->n_head * hp->head_dim,
                  KD = (int64_t)hp->n_head_kv * hp->head_dim;
    qk_status st;
    if (strcmp(name, "token_embd.weight") == 0) {
        if ((st = expect_shape(name, t, V, E)) != QK_OK) return st;
        return place_tensor(&m->token_embd, t, false, adopt, name);
    }
    if (strcmp(name, "output_norm.weight") == 0) {
        if ((st = expect_shape(name, t, E, -1)) != QK_OK) return st;
        return place_tensor(&m->output_norm, t, true, adopt, name);
    }
    if (strcmp(name, "output.weight") == 0) {
        if ((st = expect_shape(name, t, V, E)) != QK_OK) return st;
        return place_tensor(&m->output, t, false, adopt, name);
    }
    int layer = -1, consumed = 0;
    if (sscanf(name, "blk.%d.%n", &layer, &consumed) != 1 || consumed == 0 || layer < 0 ||
        layer >= hp->n_layer)
        return qk_error_set(QK_ERR_NOT_FOUND,
                            "tensor '%s' is not part of a llama model with %d layers", name,
                            hp->n_layer);
    qk_llama_layer_weights *lw = &m->layers[layer];
    const char *s = name + consumed;
    struct {
        const char *suffix;
        qk_tensor_view *dst;
        int64_t d0, d1;
        bool f32_only;
    } table[] = {
        {"attn_norm.weight", &lw->attn_norm, E, -1, true},
        {"attn_q.weight", &lw->wq, QD, E, false},
        {"attn_k.weight", &lw->wk, KD, E, false},
        {"attn_v.weight", &lw->wv, KD, E, false},
        {"attn_output.weight", &lw->wo, E, QD, false},
        {"attn_q.bias", &lw->bq, QD, -1, true},
        {"attn_k.bias", &lw->bk, KD, -1, true},
        {"attn_v.bias", &lw->bv, KD, -1, true},
        {"ffn_norm.weight", &lw->ffn_norm, E, -1, true},
        {"ffn_gate.weight", &lw->w_gate, F, E, false},
        {"ffn_up.weight", &lw->w_up, F, E, false},
        {"ffn_down.weight", &lw->w_down, E, F, false},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(s, table[i].suffix) != 0) continue;
        if ((st = expect_shape(name, t, table[i].d0, table[i].d1)) != QK_OK) return st;
        return place_tensor(table[i].dst, t, table[i].f32_only, adopt, name);
    }
    return qk_error_set(QK_ERR_NOT_FOUND, "tensor '%s' is not part of a llama model", name);
}

qk_status qk_llama_model_set_tensor(qk_llama_model *m, const char *name, const qk_tensor_view *t) {
    return set_tensor(m, name, t, false);
}

qk_status qk_llama_model_adopt_tensor(qk_llama_model *m, const char *name,
                                      const qk_tensor_view *t) {
    return set_tensor(m, name, t, true);
}

qk_status qk_llama_model_finish(qk_llama_model *m) {
    if (!m) return qk_error_set(QK_ERR_INVALID_ARG, "model finish: NULL model");
    if (!m->token_embd.data)
        return qk_error_set(QK_ERR_NOT_FOUND, "model: missing token_embd.weight");
    if (!m->output_norm.data)
        return qk_error_set(QK_ERR_NOT_FOUND, "model: missing output_norm.weight");
    if (!m->output.data && !m->hp.tied_output)
        return qk_error_set(QK_ERR_NOT_FOUND, "model: missing output.weight (and output not tied)");
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        const qk_llama_layer_weights *lw = &m->layers[l];
        const struct {
            const qk_tensor_view *v;
            const char *name;
        } req[] = {
            {&lw->attn_norm, "attn_norm"}, {&lw->wq, "attn_q"},      {&lw->wk, "attn_k"},
            {&lw->wv, "attn_v"},           {&lw->wo, "attn_output"}, {&lw->ffn_norm, "ffn_norm"},
            {&lw->w_gate, "ffn_gate"},     {&lw->w_up, "ffn_up"},    {&lw->w_down, "ffn_down"}};
        for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
            if (!req[i].v->data)
                return qk_error_set(QK_ERR_NOT_FOUND, "model: missing blk.%d.%s.weight", (int)l,
                                    req[i].name);
        if (m->hp.attn_bias && (!lw->bq.data || !lw->bk.data || !lw->bv.data))
            return qk_error_set(QK_ERR_NOT_FOUND, "model: missing attention biases in blk.%d",
                                (int)l);
    }
    m->finished = true;
    return QK_OK;
}

const qk_llama_hparams *qk_llama_model_hparams(const qk_llama_model *m) {
    return &m->hp;
}

const qk_llama_layer_weights *qk_llama_model_layer(const qk_llama_model *m, int32_t layer) {
    if (layer < 0 || layer >= m->hp.n_layer) return NULL;
    return &m->layers[layer];
}

const qk_tensor_view *qk_llama_model_token_embd(const qk_llama_model *m) {
    return &m->token_embd;
}
const qk_tensor_view *qk_llama_model_output_norm(const qk_llama_model *m) {
    return &m->output_norm;
}
const qk_tensor_view *qk_llama_model_output(const qk_llama_model *m) {
    return m->output.data ? &m->output : &m->token_embd;
}

/* ---- per-linear kernels --------------------------------------------------- */

/* Slot of a linear in m->kernels, or -1 when out of range. */
static long kernel_slot(const qk_llama_model *m, int32_t layer, qk_llama_linear which) {
    if (which == QK_LINEAR_OUTPUT) return (long)m->hp.n_layer * QK_LINEAR_OUTPUT;
    if (layer < 0 || layer >= m->hp.n_layer || (int)which < 0 || which >= QK_LINEAR_OUTPUT)
        return -1;
    return (long)layer * QK_LINEAR_OUTPUT + (long)which;
}

static void clear_kernel(qk_llama_model *m, long slot) {
    if (!m->kernels) return;
    qk_linear_kernel *k = &m->kernels[slot];
    if (k->free_state) k->free_state(k->state);
    memset(k, 0, sizeof *k);
}

qk_status qk_llama_model_set_linear_kernel(qk_llama_model *m, int32_t layer, qk_llama_linear which,
                                           const qk_linear_kernel *kernel) {
    if (!m) {
        if (kernel && kernel->free_state) kernel->free_state(kernel->state);
        return qk_error_set(QK_ERR_INVALID_ARG, "set linear kernel: NULL model");
    }
    const long slot = kernel_slot(m, layer, which);
    if (slot < 0 || (kernel && !kernel->matmul)) {
        if (kernel && kernel->free_state) kernel->free_state(kernel->state);
        return qk_error_set(QK_ERR_INVALID_ARG,
                            slot < 0 ? "set linear kernel: layer %d / linear %d out of range"
                                     : "set linear kernel: layer %d linear %d: no matmul function",
                            (int)layer, (int)which);
    }
    if (!kernel) {
        clear_kernel(m, slot);
        return QK_OK;
    }
    if (!m->kernels) {
        m->kernels = calloc((size_t)m->hp.n_layer * QK_LINEAR_OUTPUT + 1, sizeof *m->kernels);
        if (!m->kernels) {
            if (kernel->free_state) kernel->free_state(kernel->state);
            return qk_error_set(QK_ERR_NOMEM, "set linear kernel: no memory");
        }
    }
    clear_kernel(m, slot);
    m->kernels[slot] = *kernel;
    return QK_OK;
}

const qk_linear_kernel *qk_llama_model_kernel(const qk_llama_model *m, int32_t layer,
                                              qk_llama_linear which) {
    if (!m->kernels) return NULL;
    const long slot = kernel_slot(m, layer, which);
    if (slot < 0 || !m->kernels[slot].matmul) return NULL;
    return &m->kernels[slot];
}

qk_status qk_llama_model_replace_linear(qk_llama_model *m, int32_t layer, qk_llama_linear which,
                                        const qk_tensor_view *t) {
    char name[64];
    qk_llama_linear_name(layer, which, name, sizeof name);
    if (which == QK_LINEAR_OUTPUT) {
        qk_status st = expect_shape(name, t, m->hp.n_vocab, m->hp.n_embd);
        if (st != QK_OK) return st;
        if ((st = copy_tensor(&m->output, t, false, name)) == QK_OK)
            clear_kernel(m, kernel_slot(m, layer, which));
        return st;
    }
    if (layer < 0 || layer >= m->hp.n_layer || (int)which < 0 || which >= QK_LINEAR_COUNT)
        return qk_error_set(QK_ERR_INVALID_ARG, "replace linear: layer %d / linear %d out of range",
                            (int)layer, (int)which);
    qk_tensor_view *dst = qk_llama_layer_linear(&m->layers[layer], which);
    qk_status st = expect_shape(name, t, dst->shape[0], dst->shape[1]);
    if (st != QK_OK) return st;
    if ((st = copy_tensor(dst, t, false, name)) == QK_OK)
        clear_kernel(m, kernel_slot(m, layer, which));
    return st;
}

static uint64_t view_bytes(const qk_tensor_view *v) {
    size_t b = 0;
    if (v->data && qk_tensor_view_nbytes(v, &b) != QK_OK) b = 0;
    return b;
}

uint64_t qk_llama_model_weight_bytes(const qk_llama_model *m) {
    uint64_t total =
        view_bytes(&m->token_embd) + view_bytes(&m->output_norm) + view_bytes(&m->output);
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        const qk_llama_layer_weights *lw = &m->layers[l];
        const qk_tensor_view *views[] = {&lw->attn_norm, &lw->wq,     &lw->wk,   &lw->wv,
                                         &lw->wo,        &lw->bq,     &lw->bk,   &lw->bv,
                                         &lw->ffn_norm,  &lw->w_gate, &lw->w_up, &lw->w_down};
        for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) total += view_bytes(views[i]);
    }
    return total;
}
