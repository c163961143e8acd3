/*
** The qat_digits example's training stack (examples/qat_digits/nn.c) and
** data loader (digits.c): finite-difference gradient checks of every layer
** and of the loss, hand-computed optimizer steps, the sequential container,
** seeded shuffling, and the CSV loader. The example's sources are compiled
** into this test (they are not part of libquantkit).
*/
#include "qk_test.h"

#include "../../examples/qat_digits/digits.c"
#include "../../examples/qat_digits/nn.c"

/* L = sum r * forward(x), in double from the module's f32 outputs. */
static double loss_of(nn_module *m, const float *x, int64_t batch, const float *r) {
    float *y = malloc(sizeof(float) * (size_t)(batch * m->out_size));
    assert_int_equal(m->forward(m, x, batch, true, y), 0);
    double l = 0.0;
    for (int64_t i = 0; i < batch * m->out_size; i++) l += (double)r[i] * y[i];
    free(y);
    return l;
}

/* Central differences in every element of v (a module tensor or x). */
static void check_fd(nn_module *m, float *x, int64_t batch, const float *r, float *v, int64_t n,
                     const float *analytic, double h, double tol, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        const float keep = v[i];
        v[i] = keep + (float)h;
        const double hp = (double)v[i] - keep;
        const double lp = loss_of(m, x, batch, r);
        v[i] = keep - (float)h;
        const double hm = keep - (double)v[i];
        const double lm = loss_of(m, x, batch, r);
        v[i] = keep;
        const double fd = (lp - lm) / (hp + hm);
        if (fabs(analytic[i] - fd) > tol * fmax(1.0, fabs(fd)))
            fail_msg("%s[%lld]: analytic %.7g, finite differences %.7g", what, (long long)i,
                     (double)analytic[i], fd);
    }
}

/* Forward + backward once, then check dx and every parameter gradient. */
static void gradcheck(nn_module *m, int64_t batch, uint64_t seed, double h, double tol, float x_lo,
                      float x_hi) {
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    const int64_t nin = batch * m->in_size, nout = batch * m->out_size;
    float *x = malloc(sizeof(float) * (size_t)nin), *r = malloc(sizeof(float) * (size_t)nout);
    float *y = malloc(sizeof(float) * (size_t)nout), *dx = malloc(sizeof(float) * (size_t)nin);
    qk_test_fill_uniform(&rng, x, (size_t)nin, x_lo, x_hi);
    qk_test_fill_normal(&rng, r, (size_t)nout, 1.0f);
    nn_param p[8];
    const size_t np = m->params(m, p, 8);
    for (size_t i = 0; i < np; i++) memset(p[i].grad, 0, p[i].count * sizeof(float));
    assert_int_equal(m->forward(m, x, batch, true, y), 0);
    assert_int_equal(m->backward(m, r, dx), 0);
    float *g = malloc(sizeof(float) * (size_t)nin);
    memcpy(g, dx, sizeof(float) * (size_t)nin);
    check_fd(m, x, batch, r, x, nin, g, h, tol, "dx");
    free(g);
    for (size_t i = 0; i < np; i++) {
        float *gp = malloc(p[i].count * sizeof(float));
        memcpy(gp, p[i].grad, p[i].count * sizeof(float));
        check_fd(m, x, batch, r, p[i].value, (int64_t)p[i].count, gp, h, tol, m->kind);
        free(gp);
    }
    free(x);
    free(r);
    free(y);
    free(dx);
}

static void test_linear_conv_gradients(void **state) {
    (void)state;
    nn_rng rng;
    nn_rng_seed(&rng, 1);
    nn_module *lin = nn_linear_create(7, 4, &rng);
    gradcheck(lin, 3, 11, 0.25, 1e-4, -1.0f, 1.0f); /* linear in everything: exact */
    nn_module_free(lin);
    nn_module *conv = nn_conv2d_create(2, 3, 5, 4, 3, 2, 1, &rng);
    assert_int_equal(conv->out_size, 3 * 3 * 2);
    gradcheck(conv, 2, 12, 0.25, 1e-4, -1.0f, 1.0f);
    nn_module_free(conv);
    nn_module *conv1 = nn_conv2d_create(3, 2, 4, 4, 3, 1, 0, &rng);
    gradcheck(conv1, 2, 13, 0.25, 1e-4, -1.0f, 1.0f);
    nn_module_free(conv1);
}

static void test_relu_gradients(void **state) {
    (void)state;
    nn_module *relu = nn_relu_create(10);
    /* inputs away from the kink at 0 */
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 5);
    float x[40], r[40], y[40], dx[40];
    for (int i = 0; i < 40; i++) {
        const float u = (float)qk_test_rng_uniform(&rng);
        x[i] = (i & 1 ? 1.0f : -1.0f) * (0.1f + u);
        r[i] = qk_test_rng_normal(&rng);
    }
    assert_int_equal(relu->forward(relu, x, 4, true, y), 0);
    assert_int_equal(relu->backward(relu, r, dx), 0);
    for (int i = 0; i < 40; i++) {
        QK_ASSERT_F32_BITS_EQ(y[i], x[i] > 0 ? x[i] : 0.0f);
        QK_ASSERT_F32_BITS_EQ(dx[i], x[i] > 0 ? r[i] : 0.0f);
    }
    float g[40];
    memcpy(g, dx, sizeof g);
    check_fd(relu, x, 4, r, x, 40, g, 0.01, 1e-4, "relu dx");
    nn_module_free(relu);
}

static void test_batchnorm_gradients(void **state) {
    (void)state;
    nn_module *bn = nn_batchnorm_create(3, 5); /* 2-D: 3 channels of 5 positions */
    float *gamma, *beta, *mean, *var, eps;
    nn_batchnorm_state(bn, &gamma, &beta, &mean, &var, &eps);
    const float g0[3] = {1.5f, -0.7f, 0.9f}, b0[3] = {0.2f, 0.0f, -1.0f};
    memcpy(gamma, g0, sizeof g0);
    memcpy(beta, b0, sizeof b0);
    /* nonlinear in x: h 1e-2 and a 2e-3 relative tolerance (f32 forward) */
    gradcheck(bn, 4, 21, 1e-2, 2e-3, -2.0f, 3.0f);
    nn_module_free(bn);
    nn_module *bn1 = nn_batchnorm_create(6, 1); /* BatchNorm1d */
    gradcheck(bn1, 5, 22, 1e-2, 2e-3, -1.0f, 1.0f);
    nn_module_free(bn1);
}

/* Batch norm statistics: batch mean/var normalise; running stats move by
** momentum 0.1 with the unbiased variance; inference uses them. */
static void test_batchnorm_statistics(void **state) {
    (void)state;
    nn_module *bn = nn_batchnorm_create(1, 2);
    const float x[4] = {1, 3, 5, 7}; /* two samples of 2 positions: mean 4, var 5 */
    float y[4];
    assert_int_equal(bn->forward(bn, x, 2, true, y), 0);
    const double inv = 1.0 / sqrt(5.0 + 1e-5);
    for (int i = 0; i < 4; i++) QK_ASSERT_NEAR_ABS(y[i], (x[i] - 4.0) * inv, 1e-6);
    float *gamma, *beta, *mean, *var, eps;
    nn_batchnorm_state(bn, &gamma, &beta, &mean, &var, &eps);
    QK_ASSERT_NEAR_ABS(mean[0], 0.4, 1e-7);                       /* 0 + 0.1 (4 - 0) */
    QK_ASSERT_NEAR_ABS(var[0], 1.0 + 0.1 * (20.0 / 3 - 1), 1e-6); /* unbiased 20/3 */
    assert_int_equal(bn->forward(bn, x, 2, false, y), 0);
    for (int i = 0; i < 4; i++)
        QK_ASSERT_NEAR_ABS(y[i], (x[i] - mean[0]) / sqrt((double)var[0] + 1e-5), 1e-6);
    nn_module_free(bn);
}

static void test_softmax_cross_entropy(void **state) {
    (void)state;
    /* hand value: logits (0, ln 3) -> p = (1/4, 3/4); label 1: loss = ln(4/3) */
    const float z[2] = {0.0f, (float)log(3.0)};
    const int32_t label[1] = {1};
    float d[2];
    QK_ASSERT_NEAR_ABS(nn_softmax_cross_entropy(z, label, 1, 2, d), log(4.0 / 3.0), 1e-7);
    QK_ASSERT_NEAR_ABS(d[0], 0.25, 1e-7);
    QK_ASSERT_NEAR_ABS(d[1], -0.25, 1e-7);
    /* finite differences on a batch */
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 31);
    float logits[30], dl[30];
    const int32_t labels[3] = {4, 0, 9};
    qk_test_fill_normal(&rng, logits, 30, 2.0f);
    nn_softmax_cross_entropy(logits, labels, 3, 10, dl);
    for (int i = 0; i < 30; i++) {
        const float keep = logits[i];
        logits[i] = keep + 1e-3f;
        const double hp = (double)logits[i] - keep;
        const double lp = nn_softmax_cross_entropy(logits, labels, 3, 10, NULL);
        logits[i] = keep - 1e-3f;
        const double hm = keep - (double)logits[i];
        const double lm = nn_softmax_cross_entropy(logits, labels, 3, 10, NULL);
        logits[i] = keep;
        QK_ASSERT_NEAR_ABS(dl[i], (lp - lm) / (hp + hm), 1e-5);
    }
    int32_t am[3];
    nn_argmax(logits, 3, 10, am);
    for (int n = 0; n < 3; n++)
        for (int c = 0; c < 10; c++) assert_true(logits[n * 10 + c] <= logits[n * 10 + am[n]]);
}

/* The sequential container's backward is the chain rule: finite differences
** of the loss of a whole network in its first layer's weights. */
static void test_sequential_gradients(void **state) {
    (void)state;
    nn_rng rng;
    nn_rng_seed(&rng, 2);
    nn_module *layers[5] = {nn_conv2d_create(1, 2, 4, 4, 3, 1, 1, &rng), nn_batchnorm_create(2, 16),
                            nn_relu_create(32), nn_linear_create(32, 3, &rng), nn_relu_create(3)};
    nn_seq s;
    assert_int_equal(nn_seq_init(&s, layers, 4, 8), 0); /* the last ReLU is not used */
    nn_module_free(layers[4]);
    qk_test_rng trng;
    qk_test_rng_seed(&trng, 7);
    float x[4 * 16];
    qk_test_fill_uniform(&trng, x, 64, 0.0f, 1.0f);
    const int32_t labels[4] = {0, 2, 1, 2};
    float dl[12];
    const float *out = NULL;
    nn_param p[NN_MAX_PARAMS];
    const size_t np = nn_seq_params(&s, p, NN_MAX_PARAMS);
    assert_int_equal(np, 6);
    for (size_t i = 0; i < np; i++) memset(p[i].grad, 0, p[i].count * sizeof(float));
    assert_int_equal(nn_seq_forward(&s, x, 4, true, &out), 0);
    nn_softmax_cross_entropy(out, labels, 4, 3, dl);
    assert_int_equal(nn_seq_backward(&s, dl), 0);
    /* ReLU input signs at the base point: perturbations that flip one cross the kink and
    ** are skipped (finite differences are not the derivative there) */
    const nn_cache *rc = s.layers[2]->impl;
    uint8_t base[128];
    for (int i = 0; i < 128; i++) base[i] = rc->x[i] > 0.0f;
    int checked = 0;
    for (int k = 0; k < 18; k++) { /* conv weights */
        const float keep = p[0].value[k];
        double l[2];
        int flipped = 0;
        for (int side = 0; side < 2; side++) {
            p[0].value[k] = keep + (side ? -1e-3f : 1e-3f);
            assert_int_equal(nn_seq_forward(&s, x, 4, true, &out), 0);
            l[side] = nn_softmax_cross_entropy(out, labels, 4, 3, NULL);
            for (int i = 0; i < 128; i++) flipped |= (rc->x[i] > 0.0f) != base[i];
        }
        p[0].value[k] = keep;
        if (flipped) continue;
        QK_ASSERT_NEAR_ABS(p[0].grad[k], (l[0] - l[1]) / 2e-3, 2e-4);
        checked++;
    }
    assert_true(checked >= 9);
    nn_seq_free(&s);
}

static void test_optimizers(void **state) {
    (void)state;
    float w[2] = {1.0f, -2.0f}, g[2];
    nn_param p = {w, g, 2, 0, true};
    nn_optimizer o;
    assert_int_equal(nn_optimizer_init(&o, NN_SGD, &p, 1), 0);
    o.lr[0] = 0.5f;
    o.momentum = 0.5f;
    g[0] = 1.0f, g[1] = 2.0f;
    nn_optimizer_step(&o); /* m = g; w -= 0.5 m */
    QK_ASSERT_F32_BITS_EQ(w[0], 0.5f);
    QK_ASSERT_F32_BITS_EQ(w[1], -3.0f);
    nn_optimizer_step(&o); /* m = 0.5 m + g = 1.5 g */
    QK_ASSERT_F32_BITS_EQ(w[0], -0.25f);
    QK_ASSERT_F32_BITS_EQ(w[1], -4.5f);
    o.weight_decay = 1.0f; /* g + wd * w */
    nn_optimizer_zero_grad(&o);
    assert_true(g[0] == 0.0f && g[1] == 0.0f);
    nn_optimizer_free(&o);

    float a[1] = {1.0f}, ga[1] = {4.0f};
    nn_param pa = {a, ga, 1, 1, false};
    assert_int_equal(nn_optimizer_init(&o, NN_ADAM, &pa, 1), 0);
    o.lr[1] = 0.1f;
    nn_optimizer_step(&o); /* bias-corrected m/sqrt(v) = g/|g| = 1 */
    QK_ASSERT_NEAR_ABS(a[0], 1.0 - 0.1 * 4.0 / (4.0 + 1e-8), 1e-7);
    ga[0] = -4.0f;
    nn_optimizer_step(&o);
    /* m = 0.9*0.1*4 + 0.1*(-4) = -0.04, v = 0.999*0.001*16 + 0.001*16; corrected */
    const double m = (0.9 * 0.4 - 0.4) / (1 - 0.81), v = (0.999 * 0.016 + 0.016) / (1 - 0.998001);
    QK_ASSERT_NEAR_ABS(a[0], 0.9 - 0.1 * m / (sqrt(v) + 1e-8), 1e-6);
    o.lr[1] = 0.0f; /* a zero learning rate freezes the group */
    nn_optimizer_step(&o);
    QK_ASSERT_NEAR_ABS(a[0], 0.9 - 0.1 * m / (sqrt(v) + 1e-8), 1e-6);
    nn_optimizer_free(&o);

    /* Adam for group 0, SGD for group 1 (the example's LSQ parameters) */
    float wa[1] = {1.0f}, gwa[1] = {2.0f}, sq[1] = {0.5f}, gsq[1] = {0.25f};
    const nn_param two[2] = {{wa, gwa, 1, 0, false}, {sq, gsq, 1, 1, false}};
    assert_int_equal(nn_optimizer_init(&o, NN_ADAM, two, 2), 0);
    o.group1_kind = NN_SGD;
    o.lr[0] = 0.01f;
    o.lr[1] = 0.5f;
    nn_optimizer_step(&o);
    QK_ASSERT_NEAR_ABS(wa[0], 1.0 - 0.01 * 2.0 / (2.0 + 1e-8), 1e-7);
    QK_ASSERT_F32_BITS_EQ(sq[0], 0.375f); /* 0.5 - 0.5 * 0.25 */
    nn_optimizer_free(&o);
}

static void test_rng_shuffle(void **state) {
    (void)state;
    nn_rng a, b;
    nn_rng_seed(&a, 42);
    nn_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) assert_true(nn_rng_u64(&a) == nn_rng_u64(&b));
    int32_t idx[50];
    for (int i = 0; i < 50; i++) idx[i] = i;
    nn_rng_shuffle(&a, idx, 50);
    int seen[50] = {0}, moved = 0;
    for (int i = 0; i < 50; i++) {
        assert_true(idx[i] >= 0 && idx[i] < 50 && !seen[idx[i]]);
        seen[idx[i]] = 1;
        moved += idx[i] != i;
    }
    assert_true(moved > 25);
    for (int i = 0; i < 1000; i++) {
        const double u = nn_rng_uniform(&a);
        assert_true(u >= 0.0 && u < 1.0);
    }
}

static void test_digits_loader(void **state) {
    (void)state;
    const char *path = qk_test_tmp_path("digits.csv");
    char text[4096] = "", line[512];
    for (int row = 0; row < 9; row++) {
        line[0] = 0;
        for (int i = 0; i < 64; i++)
            snprintf(line + strlen(line), sizeof line - strlen(line), "%d,", (row + i) % 17);
        snprintf(line + strlen(line), sizeof line - strlen(line), "%d\n", row % 10);
        strcat(text, line);
    }
    assert_int_equal(qk_test_write_file(path, text, strlen(text)), 0);
    digits_set all, train, test;
    char err[256];
    if (digits_load(path, &all, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(all.n, 9);
    QK_ASSERT_F32_BITS_EQ(all.x[64 * 2 + 3], 5.0f / 16.0f);
    assert_int_equal(all.label[8], 8);
    assert_int_equal(digits_split(&all, &train, &test), 0);
    assert_int_equal(test.n, 2); /* rows 3 and 7 */
    assert_int_equal(train.n, 7);
    assert_int_equal(test.label[0], 3);
    assert_int_equal(test.label[1], 7);
    assert_int_equal(train.label[3], 4);
    digits_free(&train);
    digits_free(&test);
    digits_free(&all);
    /* the same through gzip -dc */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "gzip -kf '%s'", path);
    if (system(cmd) == 0) {
        char gz[4200];
        snprintf(gz, sizeof gz, "%s.gz", path);
        if (digits_load(gz, &all, err, sizeof err)) fail_msg("%s", err);
        assert_int_equal(all.n, 9);
        digits_free(&all);
    }
    /* a pixel out of range, named by line */
    const char *bad = qk_test_tmp_path("bad.csv");
    strcpy(text + strlen(text) - 4, "17,3\n");
    assert_int_equal(qk_test_write_file(bad, text, strlen(text)), 0);
    assert_int_equal(digits_load(bad, &all, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 9"));
    assert_int_equal(digits_load(qk_test_tmp_path("missing.csv"), &all, err, sizeof err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_conv_gradients),
        cmocka_unit_test(test_relu_gradients),
        cmocka_unit_test(test_batchnorm_gradients),
        cmocka_unit_test(test_batchnorm_statistics),
        cmocka_unit_test(test_softmax_cross_entropy),
        cmocka_unit_test(test_sequential_gradients),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_rng_shuffle),
        cmocka_unit_test(test_digits_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
