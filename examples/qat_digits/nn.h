/*
** A small training stack in plain C, used by the qat_digits example to
** train float models and to fine-tune quantkit's QAT layers. It is not part
** of libquantkit (the library does not depend on it); the unit test
** tests/unit/test_qat_train.c checks every layer's gradients against finite
** differences.
**
** Tensors are float arrays, one sample after another ([batch, size]); conv
** samples are [C, H, W]. Every layer is an nn_module with forward (caching
** what backward needs when training), backward (adds parameter gradients,
** writes dx when asked) and a list of parameters. Deterministic: seeded
** xoshiro256** random numbers, fixed loop orders.
*/
#ifndef QK_EXAMPLE_NN_H
#define QK_EXAMPLE_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- random numbers ---------------------------------------------------- */
typedef struct nn_rng {
    uint64_t s[4];
} nn_rng;
void nn_rng_seed(nn_rng *rng, uint64_t seed);
uint64_t nn_rng_u64(nn_rng *rng);
double nn_rng_uniform(nn_rng *rng); /* [0, 1) */
/* Fisher-Yates shuffle of idx[0..n-1]. */
void nn_rng_shuffle(nn_rng *rng, int32_t *idx, int64_t n);

/* ---- parameters and optimizers ------------------------------------------ */
typedef struct nn_param {
    float *value;
    float *grad;
    size_t count;
    int group;  /* learning-rate group: 0 weights, 1 quantization parameters */
    bool decay; /* weight decay applies (weights, not biases or BN) */
} nn_param;

#define NN_MAX_PARAMS 64
typedef struct nn_optimizer {
    int kind;                /* NN_SGD or NN_ADAM */
    int group1_kind;         /* the optimizer of group 1 (init: the same as kind) */
    float lr[2];             /* per group; 0 freezes the group */
    float momentum;          /* SGD */
    float beta1, beta2, eps; /* Adam */
    float weight_decay;      /* L2, added to the gradient of `decay` parameters */
    int64_t t;               /* Adam step */
    size_t n;
    nn_param params[NN_MAX_PARAMS];
    float *state1[NN_MAX_PARAMS]; /* momentum / first moment */
    float *state2[NN_MAX_PARAMS]; /* second moment */
} nn_optimizer;
enum { NN_SGD = 0, NN_ADAM = 1 };
int nn_optimizer_init(nn_optimizer *opt, int kind, const nn_param *params, size_t n);
void nn_optimizer_free(nn_optimizer *opt);
void nn_optimizer_zero_grad(nn_optimizer *opt);
void nn_optimizer_step(nn_optimizer *opt);

/* ---- modules ------------------------------------------------------------- */
typedef struct nn_module nn_module;
struct nn_module {
    const char *kind;
    int64_t in_size, out_size; /* floats per sample */
    int (*forward)(nn_module *m, const float *x, int64_t batch, bool training, float *y);
    int (*backward)(nn_module *m, const float *dy, float *dx); /* dx may be NULL */
    size_t (*params)(nn_module *m, nn_param *out, size_t capacity);
    void (*destroy)(nn_module *m);
    void *impl;
};
void nn_module_free(nn_module *m);

/* Linear y = x W^T + b, W [out, in]; init U(-1/sqrt(in), 1/sqrt(in)) like torch. */
nn_module *nn_linear_create(int64_t in, int64_t out, nn_rng *rng);
/* Conv2d over [cin, h, w] samples, square kernel, zero padding. */
nn_module *nn_conv2d_create(int cin, int cout, int h, int w, int kernel, int stride, int pad,
                            nn_rng *rng);
nn_module *nn_relu_create(int64_t size);
/* Batch norm over `channels` x `spatial` samples (spatial 1: BatchNorm1d).
** Training uses batch statistics (biased variance) and updates the running
** mean/var with momentum 0.1 (unbiased variance), as torch does. */
nn_module *nn_batchnorm_create(int channels, int64_t spatial);

/* Borrowed views of a module's tensors (NULL when it has no such tensor). */
float *nn_module_weight(nn_module *m, int64_t *count);
float *nn_module_bias(nn_module *m, int64_t *count);
/* Geometry of a conv2d module (0), or -1 for other modules. */
int nn_conv2d_geometry(nn_module *m, int *cin, int *cout, int *h, int *w, int *kernel, int *stride,
                       int *pad);
/* Batch norm state: gamma, beta, running mean, running var, eps. */
void nn_batchnorm_state(nn_module *m, float **gamma, float **beta, float **mean, float **var,
                        float *eps);

/* ---- sequential model --------------------------------------------------- */
#define NN_MAX_LAYERS 16
typedef struct nn_seq {
    int n;
    nn_module *layers[NN_MAX_LAYERS]; /* owned */
    int64_t max_batch;
    float *acts[NN_MAX_LAYERS + 1]; /* acts[i]: input of layer i; acts[n] output */
    float *grad_a, *grad_b;         /* ping-pong gradient buffers */
} nn_seq;
int nn_seq_init(nn_seq *s, nn_module **layers, int n, int64_t max_batch);
void nn_seq_free(nn_seq *s);
/* Output pointer (borrowed, valid until the next forward) in *out. */
int nn_seq_forward(nn_seq *s, const float *x, int64_t batch, bool training, const float **out);
int nn_seq_backward(nn_seq *s, const float *dy);
size_t nn_seq_params(nn_seq *s, nn_param *out, size_t capacity);

/* ---- loss ------------------------------------------------------------------ */
/* Mean softmax cross-entropy of logits [batch, classes] against labels;
** dlogits (optional) = (softmax - onehot) / batch. */
double nn_softmax_cross_entropy(const float *logits, const int32_t *labels, int64_t batch,
                                int64_t classes, float *dlogits);
/* Index of the largest logit of each sample. */
void nn_argmax(const float *logits, int64_t batch, int64_t classes, int32_t *out);

#endif
