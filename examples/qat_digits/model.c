/*
** Models of the qat_digits example (see model.h): nn_module adapters for
** quantkit's QAT layers and integer layers, model builders, the training
** loop and evaluation.
*/
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- adapters ------------------------------------------------------------- */

static int report(qk_status st, const char *what) {
    if (st == QK_OK) return 0;
    fprintf(stderr, "qat_digits: %s: %s: %s\n", what, qk_status_str(st), qk_last_error());
    return -1;
}

static int qat_forward(nn_module *m, const float *x, int64_t batch, bool training, float *y) {
    return report(qk_qat_layer_forward(m->impl, x, batch, training, y), "qat forward");
}

static int qat_backward(nn_module *m, const float *dy, float *dx) {
    return report(qk_qat_layer_backward(m->impl, dy, dx), "qat backward");
}

static size_t qat_params(nn_module *m, nn_param *out, size_t cap) {
    qk_qat_param p[QK_QAT_MAX_PARAMS];
    size_t n = 0;
    if (report(qk_qat_layer_params(m->impl, p, QK_QAT_MAX_PARAMS, &n), "qat params") || n > cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (nn_param){p[i].value, p[i].grad, p[i].count, p[i].is_qparam ? 1 : 0,
                            strcmp(p[i].name, "weight") == 0};
    return n;
}

static void qat_destroy(nn_module *m) {
    qk_qat_layer_free(m->impl);
}

static nn_module *wrap_qat(qk_qat_layer *l) {
    nn_module *m = calloc(1, sizeof *m);
    if (!m) {
        qk_qat_layer_free(l);
        return NULL;
    }
    *m = (nn_module){"qat",
                     qk_qat_layer_in_size(l),
                     qk_qat_layer_out_size(l),
                     qat_forward,
                     qat_backward,
                     qat_params,
                     qat_destroy,
                     l};
    return m;
}

static int int_forward(nn_module *m, const float *x, int64_t batch, bool training, float *y) {
    (void)training;
    return report(qk_qlayer_forward(m->impl, x, batch, y), "integer forward");
}

static int no_backward(nn_module *m, const float *dy, float *dx) {
    fprintf(stderr, "qat_digits: the integer model is inference only\n");
    return -1;
}

static size_t int_params(nn_module *m, nn_param *out, size_t cap) {
    return 0;
}
static void int_destroy(nn_module *m) {
    qk_qlayer_free(m->impl);
}

/* ---- builders ----------------------------------------------------------- */

static int seq_from(nn_module **layers, int n, int64_t max_batch, nn_seq *out) {
    for (int i = 0; i < n; i++)
        if (!layers[i]) {
            for (int j = 0; j < n; j++) nn_module_free(layers[j]);
            fprintf(stderr, "qat_digits: out of memory building a model\n");
            return -1;
        }
    if (nn_seq_init(out, layers, n, max_batch)) {
        nn_seq_free(out);
        fprintf(stderr, "qat_digits: cannot assemble the model\n");
        return -1;
    }
    return 0;
}

int model_build_float(model_kind kind, nn_rng *rng, int64_t max_batch, nn_seq *out) {
    if (kind == MODEL_MLP) {
        nn_module *l[5] = {nn_linear_create(64, 128, rng), nn_relu_create(128),
                           nn_linear_create(128, 64, rng), nn_relu_create(64),
                           nn_linear_create(64, 10, rng)};
        return seq_from(l, 5, max_batch, out);
    }
    nn_module *l[7] = {nn_conv2d_create(1, 8, 8, 8, 3, 1, 1, rng),
                       nn_batchnorm_create(8, 64),
                       nn_relu_create(8 * 64),
                       nn_conv2d_create(8, 16, 8, 8, 3, 2, 1, rng),
                       nn_batchnorm_create(16, 16),
                       nn_relu_create(16 * 16),
                       nn_linear_create(256, 10, rng)};
    return seq_from(l, 7, max_batch, out);
}

int model_build_qat(nn_seq *fm, const qk_qat_config *cfg, int64_t max_batch, nn_seq *out,
                    qk_qat_layer **qat, int *n_qat) {
    nn_module *layers[NN_MAX_LAYERS];
    int n = 0;
    *n_qat = 0;
    for (int i = 0; i < fm->n; i++) {
        nn_module *m = fm->layers[i];
        if (!strcmp(m->kind, "batchnorm")) continue; /* folded below */
        if (!strcmp(m->kind, "relu")) {
            layers[n++] = nn_relu_create(m->in_size);
            continue;
        }
        qk_qat_layer *l = NULL;
        int64_t nw, nb;
        const float *w = nn_module_weight(m, &nw), *b = nn_module_bias(m, &nb);
        qk_status st;
        if (!strcmp(m->kind, "linear")) {
            st = qk_qat_linear_create(m->in_size, m->out_size, cfg, &l);
        } else {
            int cin, cout, h, w2, k, stride, pad;
            nn_conv2d_geometry(m, &cin, &cout, &h, &w2, &k, &stride, &pad);
            const qk_qat_conv2d_shape s = {cin, cout, h, w2, k, k, stride, stride, pad, pad};
            st = qk_qat_conv2d_create(&s, cfg, &l);
        }
        if (st == QK_OK) st = qk_qat_layer_set_weights(l, w, b);
        if (st == QK_OK && i + 1 < fm->n && !strcmp(fm->layers[i + 1]->kind, "batchnorm")) {
            float *gamma, *beta, *mean, *var, eps;
            nn_batchnorm_state(fm->layers[i + 1], &gamma, &beta, &mean, &var, &eps);
            st = qk_qat_layer_fold_batchnorm(l, gamma, beta, mean, var, eps);
        }
        if (report(st, "building the QAT model")) {
            qk_qat_layer_free(l);
            for (int j = 0; j < n; j++) nn_module_free(layers[j]);
            return -1;
        }
        qat[(*n_qat)++] = l;
        layers[n++] = wrap_qat(l);
    }
    return seq_from(layers, n, max_batch, out);
}

int model_build_int(nn_seq *qm, int64_t max_batch, nn_seq *out, size_t *bytes) {
    nn_module *layers[NN_MAX_LAYERS];
    *bytes = 0;
    for (int i = 0; i < qm->n; i++) {
        nn_module *m = qm->layers[i];
        if (!strcmp(m->kind, "relu")) {
            layers[i] = nn_relu_create(m->in_size);
            continue;
        }
        qk_qlayer *q = NULL;
        nn_module *w = NULL;
        if (report(qk_qat_layer_convert(m->impl, &q), "convert") || !(w = calloc(1, sizeof *w))) {
            qk_qlayer_free(q);
            for (int j = 0; j < i; j++) nn_module_free(layers[j]);
            return -1;
        }
        *bytes += qk_qlayer_bytes(q);
        *w = (nn_module){"int",       qk_qlayer_in_size(q), qk_qlayer_out_size(q), int_forward,
                         no_backward, int_params,           int_destroy,           q};
        layers[i] = w;
    }
    return seq_from(layers, qm->n, max_batch, out);
}

size_t model_float_bytes(nn_seq *fm) {
    size_t bytes = 0;
    for (int i = 0; i < fm->n; i++) {
        int64_t nw, nb;
        if (nn_module_weight(fm->layers[i], &nw) && nn_module_bias(fm->layers[i], &nb))
            bytes += sizeof(float) * (size_t)(nw + nb);
    }
    return bytes;
}

int model_set_phase(qk_qat_layer **qat, int n_qat, const qk_qat_phase *phase) {
    for (int i = 0; i < n_qat; i++)
        if (report(qk_qat_layer_set_phase(qat[i], phase), "set phase")) return -1;
    return 0;
}

/* ---- training and evaluation ------------------------------------------------- */

int model_train(nn_seq *model, const digits_set *train, const train_config *cfg, nn_rng *rng,
                train_hook hook, void *ctx, int verbose) {
    nn_param params[NN_MAX_PARAMS];
    const size_t np = nn_seq_params(model, params, NN_MAX_PARAMS);
    nn_optimizer opt;
    if (nn_optimizer_init(&opt, cfg->optimizer, params, np)) return -1;
    opt.weight_decay = cfg->weight_decay;
    opt.group1_kind = cfg->qparam_optimizer;
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)train->n);
    float *xb = malloc(sizeof(float) * DIGITS_PIXELS * (size_t)cfg->batch);
    int32_t *yb = malloc(sizeof(int32_t) * (size_t)cfg->batch);
    float *dlogits = malloc(sizeof(float) * DIGITS_CLASSES * (size_t)cfg->batch);
    int rc = idx && xb && yb && dlogits ? 0 : -1;
    for (int64_t i = 0; i < train->n; i++) idx[i] = (int32_t)i;
    const int64_t steps_per_epoch = (train->n + cfg->batch - 1) / cfg->batch;
    const int64_t total = steps_per_epoch * cfg->epochs;
    int64_t step = 0;
    for (int e = 0; rc == 0 && e < cfg->epochs; e++) {
        nn_rng_shuffle(rng, idx, train->n);
        double loss_sum = 0.0;
        for (int64_t s = 0; rc == 0 && s < steps_per_epoch; s++, step++) {
            const int64_t start = s * cfg->batch;
            const int64_t b = start + cfg->batch <= train->n ? cfg->batch : train->n - start;
            for (int64_t j = 0; j < b; j++) {
                memcpy(xb + j * DIGITS_PIXELS, train->x + (int64_t)idx[start + j] * DIGITS_PIXELS,
                       sizeof(float) * DIGITS_PIXELS);
                yb[j] = train->label[idx[start + j]];
            }
            if (hook && (rc = hook(ctx, step))) break;
            const float f =
                cfg->cosine
                    ? (float)(0.5 * (1.0 + cos(3.14159265358979323846 * (double)step / total)))
                    : 1.0f;
            opt.lr[0] = cfg->lr * f;
            opt.lr[1] = cfg->lr_qparams * f;
            const float *logits;
            if ((rc = nn_seq_forward(model, xb, b, true, &logits))) break;
            loss_sum += nn_softmax_cross_entropy(logits, yb, b, DIGITS_CLASSES, dlogits);
            nn_optimizer_zero_grad(&opt);
            if ((rc = nn_seq_backward(model, dlogits))) break;
            nn_optimizer_step(&opt);
        }
        if (verbose > 1)
            fprintf(stderr, "  epoch %d: loss %.4f\n", e + 1, loss_sum / steps_per_epoch);
    }
    free(idx);
    free(xb);
    free(yb);
    free(dlogits);
    nn_optimizer_free(&opt);
    return rc;
}

int model_evaluate(nn_seq *model, const digits_set *set, int32_t *pred, double *accuracy) {
    int32_t *p = pred ? pred : malloc(sizeof(int32_t) * (size_t)set->n);
    if (!p) return -1;
    int64_t correct = 0;
    int rc = 0;
    for (int64_t start = 0; start < set->n && rc == 0; start += model->max_batch) {
        const int64_t b = start + model->max_batch <= set->n ? model->max_batch : set->n - start;
        const float *logits;
        rc = nn_seq_forward(model, set->x + start * DIGITS_PIXELS, b, false, &logits);
        if (rc) break;
        nn_argmax(logits, b, DIGITS_CLASSES, p + start);
        for (int64_t j = 0; j < b; j++) correct += p[start + j] == set->label[start + j];
    }
    *accuracy = set->n ? (double)correct / (double)set->n : 0.0;
    if (!pred) free(p);
    return rc;
}
