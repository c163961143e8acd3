/*
** The example's models: a float MLP and a small CNN built from the nn
** training stack, their QAT twins built from quantkit's QAT layers (batch
** norm folded into the convolutions), and the converted integer models.
*/
#ifndef QK_EXAMPLE_MODEL_H
#define QK_EXAMPLE_MODEL_H

#include "digits.h"
#include "nn.h"
#include "quantkit/qat.h"

typedef enum model_kind { MODEL_MLP = 0, MODEL_CNN = 1 } model_kind;

/* Float model: MLP 64-128-64-10 with ReLU; CNN conv3x3(1->8) BN ReLU,
** conv3x3/2(8->16) BN ReLU, linear(256->10). */
int model_build_float(model_kind kind, nn_rng *rng, int64_t max_batch, nn_seq *out);

/* QAT twin of a trained float model: each linear/conv becomes a QAT layer
** with `cfg` (batch norms folded into the preceding convolution, ReLUs
** kept). The QAT layers are also listed in qat[0..*n_qat-1] (borrowed). */
int model_build_qat(nn_seq *float_model, const qk_qat_config *cfg, int64_t max_batch, nn_seq *out,
                    qk_qat_layer **qat, int *n_qat);
/* Integer model: every QAT layer converted (qk_qat_layer_convert); bytes of
** the converted layers in *bytes. */
int model_build_int(nn_seq *qat_model, int64_t max_batch, nn_seq *out, size_t *bytes);
/* Bytes of a float model as deployed (weights + biases, batch norm folded). */
size_t model_float_bytes(nn_seq *float_model);

/* Set a phase on every QAT layer of a model. */
int model_set_phase(qk_qat_layer **qat, int n_qat, const qk_qat_phase *phase);

/* Training: mini-batches of `batch` from a seeded shuffle each epoch. The
** hook (optional) runs before every step with the global step number. */
typedef int (*train_hook)(void *ctx, int64_t step);
typedef struct train_config {
    int epochs;
    int64_t batch;
    int optimizer;        /* NN_SGD or NN_ADAM, for the weights */
    int qparam_optimizer; /* for the LSQ scales and zero points */
    float lr, lr_qparams; /* weights; LSQ scales and zero points */
    float weight_decay;
    bool cosine; /* cosine decay of both learning rates to 0 */
} train_config;
int model_train(nn_seq *model, const digits_set *train, const train_config *cfg, nn_rng *rng,
                train_hook hook, void *ctx, int verbose);

/* Test accuracy in [0, 1]; predictions into pred[0..n-1] when not NULL. */
int model_evaluate(nn_seq *model, const digits_set *set, int32_t *pred, double *accuracy);

#endif
