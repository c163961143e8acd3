/*
** The minimal QAT loop of docs/QAT.md as a program: one QAT linear layer
** (4-bit per-channel weights, 8-bit inputs, learnable LSQ scales) trained
** with softmax cross-entropy on a synthetic 4-class problem, then converted
** to an integer layer. Prints the accuracy of the fake-quantized and of the
** integer model.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "quantkit/qat.h"

enum { IN = 16, OUT = 4, BATCH = 32, STEPS = 600, TEST = 1000 };

/* Synthetic data: class c adds 1 to inputs c*4..c*4+3, noise uniform in [0, 3). */
static unsigned long long rng_state = 12345;
static float uniform01(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 16777216.0f;
}
static void next_batch(float *x, int *label, int n) {
    for (int i = 0; i < n; i++) {
        label[i] = (int)(uniform01() * OUT) % OUT;
        for (int k = 0; k < IN; k++)
            x[i * IN + k] = 3.0f * uniform01() + (k / 4 == label[i] ? 1.0f : 0.0f);
    }
}

/* Your loss: softmax cross-entropy, dL/dlogits = (softmax - onehot) / n. */
static void loss_grad(const float *logits, const int *label, int n, float *d) {
    for (int i = 0; i < n; i++) {
        const float *z = logits + i * OUT;
        float m = z[0], sum = 0.0f;
        for (int c = 1; c < OUT; c++) m = z[c] > m ? z[c] : m;
        for (int c = 0; c < OUT; c++) sum += expf(z[c] - m);
        for (int c = 0; c < OUT; c++)
            d[i * OUT + c] = (expf(z[c] - m) / sum - (c == label[i] ? 1.0f : 0.0f)) / (float)n;
    }
}

static double accuracy(const float *logits, const int *label, int n) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < OUT; c++)
            if (logits[i * OUT + c] > logits[i * OUT + best]) best = c;
        ok += best == label[i];
    }
    return (double)ok / n;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        qk_status st_ = (call);                                                                    \
        if (st_ != QK_OK) {                                                                        \
            fprintf(stderr, "%s: %s: %s\n", #call, qk_status_str(st_), qk_last_error());           \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(void) {
    /* 1. a QAT layer: 4-bit weights per output channel, 8-bit inputs, LSQ scales */
    qk_qat_config cfg = qk_qat_config_default(4, 8);
    cfg.weight.mode = QK_QAT_SCALE_LSQ;
    qk_qat_layer *fc = NULL;
    CHECK(qk_qat_linear_create(IN, OUT, &cfg, &fc));
    float w[OUT * IN], b[OUT] = {0};
    for (int i = 0; i < OUT * IN; i++) w[i] = 0.1f * (uniform01() - 0.5f); /* or trained weights */
    CHECK(qk_qat_layer_set_weights(fc, w, b));

    /* 2. the schedule: observers warm up for 50 steps, fake quantization from step 50,
    ** observers frozen at step 400 */
    const qk_qat_schedule sched = {
        .start_step = 50, .freeze_step = 400, .weight_bits = 4, .act_bits = 8};
    qk_qat_param params[QK_QAT_MAX_PARAMS];
    size_t np = 0;
    CHECK(qk_qat_layer_params(fc, params, QK_QAT_MAX_PARAMS, &np));

    /* 3. the loop */
    float x[BATCH * IN], logits[BATCH * OUT], dlogits[BATCH * OUT];
    int label[BATCH];
    const float lr_w = 0.5f, lr_q = 0.01f; /* LSQ scales get their own rate */
    for (int64_t step = 0; step < STEPS; step++) {
        const qk_qat_phase phase = qk_qat_schedule_phase(&sched, step);
        CHECK(qk_qat_layer_set_phase(fc, &phase));
        next_batch(x, label, BATCH);
        CHECK(qk_qat_layer_forward(fc, x, BATCH, true, logits));
        loss_grad(logits, label, BATCH, dlogits);
        qk_qat_layer_zero_grad(fc);
        CHECK(qk_qat_layer_backward(fc, dlogits, NULL)); /* NULL: no dx for a first layer */
        for (size_t i = 0; i < np; i++) {                /* plain SGD */
            const float lr = params[i].is_qparam ? lr_q : lr_w;
            for (size_t j = 0; j < params[i].count; j++)
                params[i].value[j] -= lr * params[i].grad[j];
        }
    }

    /* 4. evaluate the fake-quantized layer, convert, run the integer path */
    static float tx[TEST * IN], tl[TEST * OUT], il[TEST * OUT];
    static int tlabel[TEST];
    next_batch(tx, tlabel, TEST);
    CHECK(qk_qat_layer_forward(fc, tx, TEST, false, tl));
    qk_qlayer *q = NULL;
    CHECK(qk_qat_layer_convert(fc, &q));
    CHECK(qk_qlayer_forward(q, tx, TEST, il));
    printf("fake-quantized accuracy %.1f%%, integer path %.1f%%, %zu bytes (f32: %zu)\n",
           100 * accuracy(tl, tlabel, TEST), 100 * accuracy(il, tlabel, TEST), qk_qlayer_bytes(q),
           sizeof w + sizeof b);
    qk_qlayer_free(q);
    qk_qat_layer_free(fc);
    return 0;
}
