/*
** qat_digits: quantization-aware training on the 8x8 digits of
** python3-sklearn with quantkit's QAT layers.
**
** For a float MLP and a small CNN (seeded, fixed train/test split) it
** reports test accuracy and model bytes for the float model, post-training
** quantization (min-max calibration on the training set) and QAT
** fine-tuning from the float model, at W8A8, W4A4 and W2A8 (weights /
** input activations of every layer), per tensor and per channel; the QAT
** models are converted to integer layers and the integer path's accuracy
** and its agreement with the fake-quantized forward are reported too. One
** more QAT run lowers the weight bits progressively from 8 to 2 (W2A8 per
** channel) with the schedule's bits_from / bits_every.
**
**   qat_digits [--data FILE] [--seed N] [--model mlp|cnn|both] [--quick]
**              [--check] [--verbose]
** --check exits with status 1 unless the acceptance holds.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digits.h"
#include "model.h"
#include "nn.h"
#include "quantkit/qat.h"

typedef struct setting {
    const char *name;
    int wbits, abits;
} setting;
static const setting SETTINGS[] = {{"W8A8", 8, 8}, {"W4A4", 4, 4}, {"W2A8", 2, 8}};
enum { N_SETTINGS = 3 };

typedef struct options {
    const char *data;
    uint64_t seed;
    int models; /* bit 0 MLP, bit 1 CNN */
    int quick, check, verbose;
} options;

typedef struct result {
    double acc;
    size_t bytes;
    double int_acc, agree; /* QAT only: integer path accuracy, agreement with fake quant */
} result;

typedef struct run_stats {
    double float_acc;
    size_t float_bytes;
    result ptq[N_SETTINGS][2], qat[N_SETTINGS][2]; /* [setting][per tensor, per channel] */
    result progressive;                            /* W2A8 per channel, bits 8 -> 2 during QAT */
} run_stats;

/* The QAT schedule as a training hook. */
typedef struct schedule_ctx {
    qk_qat_schedule schedule;
    qk_qat_layer **qat;
    int n_qat;
} schedule_ctx;

static int schedule_hook(void *ctx, int64_t step) {
    schedule_ctx *c = ctx;
    const qk_qat_phase phase = qk_qat_schedule_phase(&c->schedule, step);
    return model_set_phase(c->qat, c->n_qat, &phase);
}

static qk_qat_config make_config(const setting *s, int per_channel, int lsq) {
    qk_qat_config cfg = qk_qat_config_default(s->wbits, s->abits);
    cfg.weight.granularity = per_channel ? QK_QAT_PER_CHANNEL : QK_QAT_PER_TENSOR;
    if (lsq) {
        cfg.weight.mode = QK_QAT_SCALE_LSQ;
        cfg.weight.init = QK_QAT_INIT_MINMAX;
        cfg.act.mode = QK_QAT_SCALE_LSQ;
        cfg.act.init = QK_QAT_INIT_MINMAX;
    }
    return cfg;
}

/* PTQ: min-max calibration over the whole training set in one batch, then
** the fake-quantized model on the test set; bytes of the converted model. */
static int run_ptq(nn_seq *fm, const qk_qat_config *cfg, const digits_set *train,
                   const digits_set *test, result *r) {
    nn_seq qm;
    qk_qat_layer *qat[NN_MAX_LAYERS];
    int nq;
    if (model_build_qat(fm, cfg, train->n, &qm, qat, &nq)) return -1;
    const qk_qat_phase calib = {true, false, 0, 0}, quant = {false, true, 0, 0};
    const float *out;
    int rc = model_set_phase(qat, nq, &calib);
    if (!rc) rc = nn_seq_forward(&qm, train->x, train->n, true, &out);
    if (!rc) rc = model_set_phase(qat, nq, &quant);
    if (!rc) rc = model_evaluate(&qm, test, NULL, &r->acc);
    nn_seq im;
    if (!rc && !(rc = model_build_int(&qm, test->n, &im, &r->bytes))) {
        rc = model_evaluate(&im, test, NULL, &r->int_acc);
        nn_seq_free(&im);
    }
    nn_seq_free(&qm);
    return rc;
}

/* QAT: fine-tune the float model's QAT twin, then convert. */
static int run_qat(nn_seq *fm, const qk_qat_config *cfg, int bits_from, const digits_set *train,
                   const digits_set *test, const options *o, uint64_t seed, result *r) {
    nn_seq qm;
    qk_qat_layer *qat[NN_MAX_LAYERS];
    int nq;
    if (model_build_qat(fm, cfg, 64, &qm, qat, &nq)) return -1;
    const train_config tc = {.epochs = o->quick ? 4 : 15,
                             .batch = 32,
                             .optimizer = NN_ADAM,
                             .qparam_optimizer = NN_SGD, /* LSQ's design: SGD + grad scale */
                             .lr = 5e-4f,
                             .lr_qparams = 1e-2f,
                             .weight_decay = 0.0f,
                             .cosine = true};
    const int64_t steps = tc.epochs * ((train->n + tc.batch - 1) / tc.batch);
    schedule_ctx sc = {{.start_step = 20,
                        .freeze_step = steps * 7 / 10,
                        .bits_from = bits_from,
                        .bits_every = steps / 12,
                        .weight_bits = cfg->weight.bits,
                        .act_bits = cfg->act.bits},
                       qat,
                       nq};
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    int rc = model_train(&qm, train, &tc, &rng, schedule_hook, &sc, o->verbose);
    const qk_qat_phase final = {false, true, 0, 0};
    if (!rc) rc = model_set_phase(qat, nq, &final);
    int32_t *p_fq = malloc(sizeof(int32_t) * (size_t)test->n);
    int32_t *p_int = malloc(sizeof(int32_t) * (size_t)test->n);
    if (!p_fq || !p_int) rc = -1;
    if (!rc) rc = model_evaluate(&qm, test, p_fq, &r->acc);
    nn_seq im;
    if (!rc && !(rc = model_build_int(&qm, 64, &im, &r->bytes))) {
        rc = model_evaluate(&im, test, p_int, &r->int_acc);
        int64_t same = 0;
        for (int64_t i = 0; i < test->n; i++) same += p_fq[i] == p_int[i];
        r->agree = (double)same / (double)test->n;
        nn_seq_free(&im);
    }
    free(p_fq);
    free(p_int);
    nn_seq_free(&qm);
    return rc;
}

static int run_model(model_kind kind, const digits_set *train, const digits_set *test,
                     const options *o, run_stats *st) {
    nn_rng rng;
    nn_rng_seed(&rng, o->seed * 1000 + (uint64_t)kind);
    nn_seq fm;
    if (model_build_float(kind, &rng, 64, &fm)) return -1;
    const train_config tc = {.epochs = o->quick ? 8 : (kind == MODEL_MLP ? 40 : 30),
                             .batch = 32,
                             .optimizer = NN_ADAM,
                             .qparam_optimizer = NN_ADAM,
                             .lr = 2e-3f,
                             .lr_qparams = 0.0f,
                             .weight_decay = 1e-4f,
                             .cosine = true};
    const double t0 = qk_time_seconds();
    int rc = model_train(&fm, train, &tc, &rng, NULL, NULL, o->verbose);
    if (!rc) rc = model_evaluate(&fm, test, NULL, &st->float_acc);
    st->float_bytes = model_float_bytes(&fm);
    if (o->verbose)
        fprintf(stderr, "%s float: %.2f%% (%.1f s)\n", kind == MODEL_MLP ? "MLP" : "CNN",
                100 * st->float_acc, qk_time_seconds() - t0);
    for (int s = 0; s < N_SETTINGS && !rc; s++)
        for (int pc = 0; pc < 2 && !rc; pc++) {
            const double t1 = qk_time_seconds();
            qk_qat_config ptq_cfg = make_config(&SETTINGS[s], pc, 0);
            rc = run_ptq(&fm, &ptq_cfg, train, test, &st->ptq[s][pc]);
            qk_qat_config qat_cfg = make_config(&SETTINGS[s], pc, 1);
            if (!rc)
                rc = run_qat(&fm, &qat_cfg, 0, train, test, o,
                             o->seed * 1000 + 100 + (uint64_t)(10 * s + pc), &st->qat[s][pc]);
            if (o->verbose && !rc)
                fprintf(
                    stderr, "  %s %s: PTQ %.2f%%  QAT %.2f%% (int %.2f%%, agree %.2f%%) %.1f s\n",
                    SETTINGS[s].name, pc ? "per-channel" : "per-tensor", 100 * st->ptq[s][pc].acc,
                    100 * st->qat[s][pc].acc, 100 * st->qat[s][pc].int_acc,
                    100 * st->qat[s][pc].agree, qk_time_seconds() - t1);
        }
    if (!rc) {
        qk_qat_config cfg = make_config(&SETTINGS[2], 1, 1);
        rc = run_qat(&fm, &cfg, 8, train, test, o, o->seed * 1000 + 199, &st->progressive);
    }
    nn_seq_free(&fm);
    return rc;
}

static void print_table(const char *name, const run_stats *st) {
    printf("\n%s: float %.2f%% (%zu bytes)\n\n", name, 100 * st->float_acc, st->float_bytes);
    printf("| setting | granularity | PTQ acc | QAT acc | QAT int path | agreement | bytes |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    for (int s = 0; s < N_SETTINGS; s++)
        for (int pc = 0; pc < 2; pc++) {
            const result *p = &st->ptq[s][pc], *q = &st->qat[s][pc];
            printf("| %s | %s | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %zu |\n", SETTINGS[s].name,
                   pc ? "per channel" : "per tensor", 100 * p->acc, 100 * q->acc, 100 * q->int_acc,
                   100 * q->agree, q->bytes);
        }
    const result *q = &st->progressive;
    printf(
        "| W2A8, bits 8->2 during QAT | per channel | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %zu |\n",
        100 * st->ptq[2][1].acc, 100 * q->acc, 100 * q->int_acc, 100 * q->agree, q->bytes);
}

/* The acceptance on one model; prints each failed condition. */
static int check_acceptance(const char *name, const run_stats *st) {
    int ok = 1;
    if (st->float_acc < 0.95) {
        printf("FAIL %s: float accuracy %.2f%% < 95%%\n", name, 100 * st->float_acc);
        ok = 0;
    }
    if (st->progressive.agree < 0.995) {
        printf("FAIL %s: progressive W2A8: integer path agrees on %.2f%% < 99.5%%\n", name,
               100 * st->progressive.agree);
        ok = 0;
    }
    for (int pc = 0; pc < 2; pc++) {
        const char *g = pc ? "per channel" : "per tensor";
        if (st->qat[1][pc].acc < st->float_acc - 0.01) {
            printf("FAIL %s %s: QAT W4A4 %.2f%% more than 1 point below float %.2f%%\n", name, g,
                   100 * st->qat[1][pc].acc, 100 * st->float_acc);
            ok = 0;
        }
        const double drop = st->float_acc - st->ptq[2][pc].acc;
        const double recovered = st->qat[2][pc].acc - st->ptq[2][pc].acc;
        if (drop > 0 && recovered < drop / 2) {
            printf("FAIL %s %s: QAT W2A8 recovers %.2f of a %.2f point PTQ drop\n", name, g,
                   100 * recovered, 100 * drop);
            ok = 0;
        }
        for (int s = 0; s < N_SETTINGS; s++)
            if (st->qat[s][pc].agree < 0.995) {
                printf("FAIL %s %s %s: integer path agrees on %.2f%% < 99.5%%\n", name,
                       SETTINGS[s].name, g, 100 * st->qat[s][pc].agree);
                ok = 0;
            }
    }
    return ok;
}

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){NULL, 1, 3, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--data") && i + 1 < argc)
            o->data = argv[++i];
        else if (!strcmp(a, "--seed") && i + 1 < argc)
            o->seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--model") && i + 1 < argc) {
            const char *m = argv[++i];
            o->models = !strcmp(m, "mlp") ? 1 : !strcmp(m, "cnn") ? 2 : !strcmp(m, "both") ? 3 : 0;
            if (!o->models) return -1;
        } else if (!strcmp(a, "--quick"))
            o->quick = 1;
        else if (!strcmp(a, "--check"))
            o->check = 1;
        else if (!strcmp(a, "--verbose"))
            o->verbose++;
        else
            return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    options o;
    if (parse_args(argc, argv, &o)) {
        fprintf(stderr, "usage: qat_digits [--data FILE] [--seed N] [--model mlp|cnn|both] "
                        "[--quick] [--check] [--verbose]\n");
        return 2;
    }
    const char *path = o.data ? o.data : digits_find();
    if (!path) {
        fprintf(stderr, "qat_digits: digits.csv.gz not found; install the Debian package "
                        "python3-sklearn (apt-get install python3-sklearn), or pass --data FILE "
                        "or set QK_DIGITS\n");
        return 77;
    }
    digits_set all, train, test;
    char err[512];
    if (digits_load(path, &all, err, sizeof err)) {
        fprintf(stderr, "qat_digits: %s\n", err);
        return 1;
    }
    if (digits_split(&all, &train, &test)) {
        fprintf(stderr, "qat_digits: out of memory\n");
        return 1;
    }
    printf("digits: %s: %lld train, %lld test images; seed %llu%s\n", path, (long long)train.n,
           (long long)test.n, (unsigned long long)o.seed, o.quick ? " (quick)" : "");
    int ok = 1, rc = 0;
    const double t0 = qk_time_seconds();
    const char *names[2] = {"MLP 64-128-64-10", "CNN conv8-conv16/2-linear"};
    for (int k = 0; k < 2 && !rc; k++) {
        if (!(o.models & (1 << k))) continue;
        run_stats st;
        memset(&st, 0, sizeof st);
        rc = run_model((model_kind)k, &train, &test, &o, &st);
        if (rc) break;
        print_table(names[k], &st);
        if (o.check) ok &= check_acceptance(names[k], &st);
    }
    printf("\ntotal time %.1f s\n", qk_time_seconds() - t0);
    digits_free(&all);
    digits_free(&train);
    digits_free(&test);
    if (rc) return 1;
    if (o.check) printf("acceptance: %s\n", ok ? "PASS" : "FAIL");
    return o.check && !ok ? 1 : 0;
}
