/*
** Random test models (see qk_test_model.h).
*/
#include "qk_test.h"
#include "qk_test_model.h"

static void set_random(qk_llama_model *m, qk_test_rng *rng, const char *name, int32_t ndim,
                       int64_t d0, int64_t d1, float mean, float sigma) {
    const size_t n = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1);
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = mean + sigma * qk_test_rng_normal(rng);
    qk_tensor_view v;
    int64_t shape[2] = {d0, d1};
    QK_ASSERT_OK(qk_tensor_view_init(&v, QK_TYPE_F32, ndim, shape, p));
    QK_ASSERT_OK(qk_llama_model_set_tensor(m, name, &v));
    free(p); /* the model keeps a copy */
}

qk_llama_model *qk_test_random_model(const qk_llama_hparams *hp, uint64_t seed) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    const int64_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab;
    const int64_t QD = (int64_t)hp->n_head * hp->head_dim,
                  KD = (int64_t)hp->n_head_kv * hp->head_dim;
    qk_llama_model *m;
    QK_ASSERT_OK(qk_llama_model_create(hp, &m));
    set_random(m, &rng, "token_embd.weight", 2, V, E, 0.0f, 1.0f);
    set_random(m, &rng, "output_norm.weight", 1, E, 0, 1.0f, 0.2f);
    if (!hp->tied_output) set_random(m, &rng, "output.weight", 2, V, E, 0.0f, 0.3f);
    const float ws = 1.0f / sqrtf((float)E), wf = 1.0f / sqrtf((float)F);
    char name[64];
    for (int l = 0; l < hp->n_layer; l++) {
#define SET(suffix, nd, d0, d1, mean, sigma)                                                       \
    snprintf(name, sizeof name, "blk.%d." suffix, l);                                              \
    set_random(m, &rng, name, nd, d0, d1, mean, sigma)
        SET("attn_norm.weight", 1, E, 0, 1.0f, 0.2f);
        SET("attn_q.weight", 2, QD, E, 0.0f, ws);
        SET("attn_k.weight", 2, KD, E, 0.0f, ws);
        SET("attn_v.weight", 2, KD, E, 0.0f, ws);
        SET("attn_output.weight", 2, E, QD, 0.0f, ws);
        SET("ffn_norm.weight", 1, E, 0, 1.0f, 0.2f);
        SET("ffn_gate.weight", 2, F, E, 0.0f, ws);
        SET("ffn_up.weight", 2, F, E, 0.0f, ws);
        SET("ffn_down.weight", 2, E, F, 0.0f, wf);
        if (hp->attn_bias) {
            SET("attn_q.bias", 1, QD, 0, 0.0f, 0.1f);
            SET("attn_k.bias", 1, KD, 0, 0.0f, 0.1f);
            SET("attn_v.bias", 1, KD, 0, 0.0f, 0.1f);
        }
#undef SET
    }
    QK_ASSERT_OK(qk_llama_model_finish(m));
    return m;
}
