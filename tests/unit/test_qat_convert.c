/*
** QAT layers, second part: observers with momentum and freezing, bit-width
** changes, the schedule, LSQ initialisation, batch-norm folding, conversion
** to integer layers (codes, packing, bytes, the integer forward) and errors.
*/
#include "qk_test.h"

#include <float.h>

#include "quantkit/qat.h"

static qk_qat_layer *linear(int64_t in, int64_t out, const qk_qat_config *cfg, const float *w,
                            const float *b) {
    qk_qat_layer *l = NULL;
    QK_ASSERT_OK(qk_qat_linear_create(in, out, cfg, &l));
    if (w) QK_ASSERT_OK(qk_qat_layer_set_weights(l, w, b));
    return l;
}

/* Moving-average min-max: first batch initialises, then min += c (m - min). */
static void test_observer_momentum(void **state) {
    (void)state;
    qk_qat_config cfg = qk_qat_config_default(8, 8);
    cfg.act.momentum = 0.25f;
    const float w[8] = {1, -2, 0.5f, 0.25f, -1, 1, 1, 1};
    qk_qat_layer *l = linear(4, 2, &cfg, w, NULL);
    const float b1[4] = {0, 1, 2, 1}, b2[4] = {-1, 6, 0, 0}, b3[4] = {0.5f, 1, 0.75f, 1};
    float y[2];
    qk_affine_params p, want;
    QK_ASSERT_STATUS(qk_qat_layer_act_params(l, &p), QK_ERR_STATE);
    QK_ASSERT_OK(qk_qat_layer_forward(l, b1, 1, true, y));
    QK_ASSERT_OK(qk_qat_layer_act_params(l, &p));
    QK_ASSERT_OK(qk_affine_params_from_minmax(0.0f, 2.0f, 0, 255, false, &want));
    QK_ASSERT_F32_BITS_EQ(p.scale, want.scale);
    QK_ASSERT_OK(qk_qat_layer_forward(l, b2, 1, true, y)); /* min -0.25, max 3 */
    QK_ASSERT_OK(qk_qat_layer_forward(l, b3, 1, true, y)); /* min -0.0625, max 2.5 */
    QK_ASSERT_OK(qk_qat_layer_act_params(l, &p));
    QK_ASSERT_OK(qk_affine_params_from_minmax(-0.0625f, 2.5f, 0, 255, false, &want));
    QK_ASSERT_F32_BITS_EQ(p.scale, want.scale);
    assert_int_equal(p.zero_point, want.zero_point);
    assert_int_equal(p.zero_point, 6); /* 0 - round(-0.0625 / (2.5625 / 255)) */
    /* weights: momentum 1, symmetric per channel, restricted range [-127, 127] */
    QK_ASSERT_OK(qk_qat_layer_weight_params(l, 0, &p));
    QK_ASSERT_F32_BITS_EQ(p.scale, 2.0f / 127.0f);
    QK_ASSERT_OK(qk_qat_layer_weight_params(l, 1, &p));
    QK_ASSERT_F32_BITS_EQ(p.scale, 1.0f / 127.0f);
    assert_int_equal(p.qmin, -127);
    /* frozen: a new batch changes nothing; inference never observes */
    const qk_qat_phase frozen = {false, true, 0, 0};
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &frozen));
    const float big[4] = {-50, 50, 0, 0};
    QK_ASSERT_OK(qk_qat_layer_forward(l, big, 1, true, y));
    QK_ASSERT_OK(qk_qat_layer_act_params(l, &p));
    QK_ASSERT_OK(qk_affine_params_from_minmax(-0.0625f, 2.5f, 0, 255, false, &want));
    QK_ASSERT_F32_BITS_EQ(p.scale, want.scale);
    const qk_qat_phase live = {true, true, 0, 0};
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &live));
    QK_ASSERT_OK(qk_qat_layer_forward(l, big, 1, false, y));
    QK_ASSERT_OK(qk_qat_layer_act_params(l, &p));
    QK_ASSERT_F32_BITS_EQ(p.scale, want.scale);
    qk_qat_layer_free(l);
}

/* Bit-width changes: observer mode recomputes from min/max; LSQ keeps the
** represented range: s *= (old qmax - qmin) / (new qmax - qmin). */
static void test_bit_changes(void **state) {
    (void)state;
    const float w[6] = {0.9f, -0.3f, 0.1f, 0.6f, 0.2f, -0.45f};
    const float x[3] = {0.0f, 1.5f, 3.0f};
    float y[2];
    qk_qat_config cfg = qk_qat_config_default(8, 8);
    cfg.weight.granularity = QK_QAT_PER_TENSOR;
    qk_qat_layer *l = linear(3, 2, &cfg, w, NULL);
    QK_ASSERT_OK(qk_qat_layer_forward(l, x, 1, true, y));
    const qk_qat_phase p4 = {true, true, 4, 3};
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &p4));
    qk_affine_params p;
    QK_ASSERT_OK(qk_qat_layer_weight_params(l, 0, &p));
    QK_ASSERT_F32_BITS_EQ(p.scale, 0.9f / 7.0f);
    assert_true(p.qmin == -7 && p.qmax == 7);
    QK_ASSERT_OK(qk_qat_layer_act_params(l, &p));
    QK_ASSERT_F32_BITS_EQ(p.scale, 3.0f / 7.0f);
    assert_int_equal(qk_qat_layer_phase(l).weight_bits, 4);
    assert_int_equal(qk_qat_layer_phase(l).act_bits, 3);
    qk_qat_layer_free(l);

    cfg.weight.mode = QK_QAT_SCALE_LSQ;
    cfg.act.mode = QK_QAT_SCALE_LSQ;
    cfg.act.learn_zero_point = true;
    l = linear(3, 2, &cfg, w, NULL);
    const qk_qat_phase fq8 = {false, true, 0, 0};
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &fq8));
    QK_ASSERT_OK(qk_qat_layer_forward(l, x, 1, true, y)); /* LSQ init from min-max */
    qk_qat_param prm[QK_QAT_MAX_PARAMS];
    size_t np;
    QK_ASSERT_OK(qk_qat_layer_params(l, prm, QK_QAT_MAX_PARAMS, &np));
    assert_int_equal(np, 5);
    QK_ASSERT_F32_BITS_EQ(prm[2].value[0], 0.9f / 127.0f);
    prm[3].value[0] = 0.02f; /* a learned activation scale and zero point */
    prm[4].value[0] = 10.0f;
    const qk_qat_phase fq4 = {false, true, 4, 4};
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &fq4));
    QK_ASSERT_F32_BITS_EQ(prm[2].value[0], (0.9f / 127.0f) * (254.0f / 14.0f));
    const float s4 = 0.02f * (255.0f / 15.0f);
    QK_ASSERT_F32_BITS_EQ(prm[3].value[0], s4);
    /* lower end of the range, -10 * 0.02, stays: zp = 0 - (-0.2) / s4 */
    QK_ASSERT_F32_BITS_EQ(prm[4].value[0], 0.0f - ((0.0f - 10.0f) * 0.02f) / s4);
    qk_qat_layer_free(l);
}

static void test_schedule(void **state) {
    (void)state;
    const qk_qat_schedule s = {.start_step = 10,
                               .freeze_step = 50,
                               .bits_from = 8,
                               .bits_every = 5,
                               .weight_bits = 4,
                               .act_bits = 6};
    const struct {
        int64_t step;
        bool observe, fq;
        int wb, ab;
    } want[] = {{0, true, false, 8, 8},  {9, true, false, 8, 8},   {10, true, true, 8, 8},
                {14, true, true, 8, 8},  {15, true, true, 7, 7},   {20, true, true, 6, 6},
                {25, true, true, 5, 6},  {30, true, true, 4, 6},   {49, true, true, 4, 6},
                {50, false, true, 4, 6}, {1000, false, true, 4, 6}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const qk_qat_phase p = qk_qat_schedule_phase(&s, want[i].step);
        if (p.observe != want[i].observe || p.fake_quant != want[i].fq ||
            p.weight_bits != want[i].wb || p.act_bits != want[i].ab)
            fail_msg("step %lld: observe %d fq %d bits %d/%d", (long long)want[i].step, p.observe,
                     p.fake_quant, p.weight_bits, p.act_bits);
    }
    const qk_qat_schedule plain = {
        .start_step = 0, .freeze_step = -1, .weight_bits = 2, .act_bits = 8};
    const qk_qat_phase p = qk_qat_schedule_phase(&plain, 123456);
    assert_true(p.observe && p.fake_quant && p.weight_bits == 2 && p.act_bits == 8);
}

static void test_lsq_init(void **state) {
    (void)state;
    qk_qat_config cfg = qk_qat_config_default(4, 0);
    cfg.weight.mode = QK_QAT_SCALE_LSQ;
    cfg.weight.init = QK_QAT_INIT_LSQ;
    const float w[6] = {0.5f, -0.25f, 1.0f, 2.0f, 0.0f, -1.0f};
    qk_qat_layer *l = linear(3, 2, &cfg, w, NULL);
    const qk_qat_phase fq = {true, true, 0, 0};
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &fq));
    float x[3] = {1, 2, 3}, y[2];
    QK_ASSERT_OK(qk_qat_layer_forward(l, x, 1, true, y));
    qk_affine_params p;
    QK_ASSERT_OK(qk_qat_layer_weight_params(l, 0, &p));
    QK_ASSERT_F32_BITS_EQ(p.scale, (float)(2.0 * (1.75 / 3.0) / sqrt(7.0)));
    QK_ASSERT_OK(qk_qat_layer_weight_params(l, 1, &p));
    QK_ASSERT_F32_BITS_EQ(p.scale, (float)(2.0 * 1.0 / sqrt(7.0)));
    assert_int_equal(p.zero_point, 0);
    /* later observations do not overwrite learned parameters */
    QK_ASSERT_OK(qk_qat_layer_forward(l, x, 1, true, y));
    QK_ASSERT_OK(qk_qat_layer_weight_params(l, 1, &p));
    QK_ASSERT_F32_BITS_EQ(p.scale, (float)(2.0 * 1.0 / sqrt(7.0)));
    qk_qat_layer_free(l);
}

static void test_fold_batchnorm(void **state) {
    (void)state;
    float w[4] = {1, 2, 3, 4}, b[2] = {0.5f, -1.0f};
    const float gamma[2] = {2, 0.5f}, beta[2] = {0.1f, 0.2f}, mean[2] = {0.5f, 1};
    const float var[2] = {3, 3};
    QK_ASSERT_OK(qk_qat_fold_batchnorm(w, b, 2, 2, gamma, beta, mean, var, 1.0f));
    QK_ASSERT_F32_BITS_EQ(w[0], 1.0f);
    QK_ASSERT_F32_BITS_EQ(w[1], 2.0f);
    QK_ASSERT_F32_BITS_EQ(w[2], 0.75f);
    QK_ASSERT_F32_BITS_EQ(w[3], 1.0f);
    QK_ASSERT_F32_BITS_EQ(b[0], 0.1f);
    QK_ASSERT_F32_BITS_EQ(b[1], (float)(-0.5 + (double)0.2f));
    const float bad_var[2] = {-2, 3};
    QK_ASSERT_STATUS(qk_qat_fold_batchnorm(w, b, 2, 2, gamma, beta, mean, bad_var, 1.0f),
                     QK_ERR_NUMERIC);

    /* conv then batch norm (inference) == the folded conv */
    const qk_qat_conv2d_shape s = {2, 3, 5, 5, 3, 3, 1, 1, 1, 1};
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 3);
    float cw[54], cb[3], x[100], g3[3], be3[3], m3[3], v3[3], y0[150], y1[150];
    qk_test_fill_normal(&rng, cw, 54, 0.5f);
    qk_test_fill_normal(&rng, cb, 3, 0.5f);
    qk_test_fill_normal(&rng, x, 100, 1.0f);
    qk_test_fill_uniform(&rng, g3, 3, 0.5f, 2.0f);
    qk_test_fill_normal(&rng, be3, 3, 1.0f);
    qk_test_fill_normal(&rng, m3, 3, 1.0f);
    qk_test_fill_uniform(&rng, v3, 3, 0.1f, 3.0f);
    const qk_qat_config cfg = qk_qat_config_default(0, 0);
    qk_qat_layer *l = NULL;
    QK_ASSERT_OK(qk_qat_conv2d_create(&s, &cfg, &l));
    QK_ASSERT_OK(qk_qat_layer_set_weights(l, cw, cb));
    QK_ASSERT_OK(qk_qat_layer_forward(l, x, 2, false, y0));
    QK_ASSERT_OK(qk_qat_layer_fold_batchnorm(l, g3, be3, m3, v3, 1e-5f));
    QK_ASSERT_OK(qk_qat_layer_forward(l, x, 2, false, y1));
    for (int i = 0; i < 150; i++) {
        const int c = (i % 75) / 25;
        const double bn = g3[c] * (y0[i] - (double)m3[c]) / sqrt((double)v3[c] + 1e-5) + be3[c];
        QK_ASSERT_NEAR_ABS(y1[i], bn, 1e-5 * (1 + fabs(bn)));
    }
    qk_qat_layer_free(l);
}

/* Convert and run the integer path. */
static void check_convert(const qk_qat_conv2d_shape *s, bool is_linear, int wbits, int abits,
                          qk_qat_granularity gran, uint64_t seed) {
    qk_qat_config cfg = qk_qat_config_default(wbits, abits);
    cfg.weight.granularity = gran;
    qk_qat_layer *l = NULL;
    if (is_linear)
        QK_ASSERT_OK(qk_qat_linear_create(s->in_channels, s->out_channels, &cfg, &l));
    else
        QK_ASSERT_OK(qk_qat_conv2d_create(s, &cfg, &l));
    const int64_t nw = qk_qat_layer_weight_count(l), oc = qk_qat_layer_out_channels(l);
    const int64_t in = qk_qat_layer_in_size(l), out = qk_qat_layer_out_size(l), batch = 3;
    float *w = malloc(sizeof(float) * (size_t)nw), *b = malloc(sizeof(float) * (size_t)oc);
    float *x = malloc(sizeof(float) * (size_t)(batch * in));
    float *y_fq = malloc(sizeof(float) * (size_t)(batch * out));
    float *y_int = malloc(sizeof(float) * (size_t)(batch * out));
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    qk_test_fill_normal(&rng, w, (size_t)nw, 0.3f);
    qk_test_fill_normal(&rng, b, (size_t)oc, 0.1f);
    qk_test_fill_uniform(&rng, x, (size_t)(batch * in), -0.2f, 1.0f);
    QK_ASSERT_OK(qk_qat_layer_set_weights(l, w, b));
    qk_qlayer *q = NULL;
    QK_ASSERT_STATUS(qk_qat_layer_convert(l, &q), QK_ERR_STATE); /* nothing observed yet */
    assert_null(q);
    const qk_qat_phase obs = {true, false, 0, 0}, fq = {false, true, 0, 0};
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &obs));
    QK_ASSERT_OK(qk_qat_layer_forward(l, x, batch, true, y_fq));
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &fq));
    QK_ASSERT_OK(qk_qat_layer_forward(l, x, batch, false, y_fq));
    QK_ASSERT_OK(qk_qat_layer_convert(l, &q));
    assert_int_equal(qk_qlayer_in_size(q), in);
    assert_int_equal(qk_qlayer_out_size(q), out);
    /* codes: the fake quantizer's, per channel */
    int32_t *codes = malloc(sizeof(int32_t) * (size_t)nw),
            *want = malloc(sizeof(int32_t) * (size_t)nw);
    QK_ASSERT_OK(qk_qlayer_weight_codes(q, codes));
    const int64_t wch = gran == QK_QAT_PER_CHANNEL ? oc : 1, per = nw / wch;
    qk_affine_params wp[64];
    for (int64_t c = 0; c < wch; c++) {
        QK_ASSERT_OK(qk_qat_layer_weight_params(l, c, &wp[c]));
        QK_ASSERT_OK(qk_fake_quant_codes(w + c * per, (size_t)per, &wp[c], want + c * per));
    }
    for (int64_t i = 0; i < nw; i++) assert_int_equal(codes[i], want[i]);
    int distinct_extremes = 0;
    for (int64_t i = 0; i < nw; i++)
        distinct_extremes |= (codes[i] == wp[0].qmin) | (codes[i] == wp[0].qmax) << 1;
    assert_true(distinct_extremes != 0); /* the packing saw the end codes */
    /* bytes: packed codes + scales and zero points + bias + activation parameters */
    const size_t want_bytes =
        ((size_t)nw * (size_t)wbits + 7) / 8 + (size_t)wch * 8 + (size_t)oc * 4 + (abits ? 8 : 0);
    assert_int_equal(qk_qlayer_bytes(q), want_bytes);
    QK_ASSERT_OK(qk_qlayer_forward(q, x, batch, y_int));
    for (int64_t i = 0; i < batch * out; i++)
        QK_ASSERT_NEAR_ABS(y_int[i], y_fq[i], 2e-5 * (1 + fabs(y_fq[i])));
    if (is_linear && abits) {
        /* the integer path bit for bit: (float)sum (qx - zx)(qw - zw) * (sx * sw) + b */
        qk_affine_params ap;
        QK_ASSERT_OK(qk_qat_layer_act_params(l, &ap));
        int32_t *qx = malloc(sizeof(int32_t) * (size_t)(batch * in));
        QK_ASSERT_OK(qk_fake_quant_codes(x, (size_t)(batch * in), &ap, qx));
        for (int64_t n = 0; n < batch; n++)
            for (int64_t o = 0; o < oc; o++) {
                const qk_affine_params *pw = &wp[gran == QK_QAT_PER_CHANNEL ? o : 0];
                int64_t acc = 0;
                for (int64_t k = 0; k < in; k++)
                    acc += (int64_t)(qx[n * in + k] - ap.zero_point) *
                           (codes[o * in + k] - pw->zero_point);
                const float yv = (float)acc * (ap.scale * pw->scale) + b[o];
                QK_ASSERT_F32_BITS_EQ(y_int[n * out + o], yv);
            }
        free(qx);
    }
    free(codes);
    free(want);
    qk_qlayer_free(q);
    qk_qat_layer_free(l);
    free(w);
    free(b);
    free(x);
    free(y_fq);
    free(y_int);
}

static void test_convert(void **state) {
    (void)state;
    const qk_qat_conv2d_shape lin = {37, 6, 1, 1, 1, 1, 1, 1, 0, 0};
    const qk_qat_conv2d_shape conv = {3, 5, 7, 6, 3, 2, 2, 1, 1, 0};
    for (int bits = 2; bits <= 8; bits++) {
        check_convert(&lin, true, bits, 8, QK_QAT_PER_CHANNEL, 100 + (uint64_t)bits);
        check_convert(&lin, true, bits, bits, QK_QAT_PER_TENSOR, 200 + (uint64_t)bits);
    }
    check_convert(&lin, true, 4, 0, QK_QAT_PER_CHANNEL, 300); /* weight only */
    check_convert(&conv, false, 4, 4, QK_QAT_PER_CHANNEL, 301);
    check_convert(&conv, false, 2, 8, QK_QAT_PER_TENSOR, 302);
    check_convert(&conv, false, 8, 0, QK_QAT_PER_TENSOR, 303);
    qk_qlayer_free(NULL);
    qk_qat_layer_free(NULL);
}

static void test_errors(void **state) {
    (void)state;
    qk_qat_layer *l = NULL;
    qk_qat_config cfg = qk_qat_config_default(9, 0);
    QK_ASSERT_STATUS(qk_qat_linear_create(4, 2, &cfg, &l), QK_ERR_CONFIG);
    assert_non_null(strstr(qk_last_error(), "9 bits"));
    cfg = qk_qat_config_default(4, 8);
    cfg.act.momentum = 0.0f;
    QK_ASSERT_STATUS(qk_qat_linear_create(4, 2, &cfg, &l), QK_ERR_CONFIG);
    cfg = qk_qat_config_default(4, 8);
    cfg.weight.learn_zero_point = true; /* symmetric weights */
    QK_ASSERT_STATUS(qk_qat_linear_create(4, 2, &cfg, &l), QK_ERR_CONFIG);
    cfg = qk_qat_config_default(4, 8);
    cfg.act.granularity = QK_QAT_PER_CHANNEL;
    QK_ASSERT_STATUS(qk_qat_linear_create(4, 2, &cfg, &l), QK_ERR_CONFIG);
    cfg = qk_qat_config_default(4, 8);
    QK_ASSERT_STATUS(qk_qat_linear_create(0, 2, &cfg, &l), QK_ERR_SHAPE);
    const qk_qat_conv2d_shape bad = {1, 2, 2, 2, 5, 5, 1, 1, 0, 0};
    QK_ASSERT_STATUS(qk_qat_conv2d_create(&bad, &cfg, &l), QK_ERR_SHAPE);
    assert_null(l);
    QK_ASSERT_OK(qk_qat_linear_create(4, 2, &cfg, &l));
    float dy[2] = {1, 1};
    QK_ASSERT_STATUS(qk_qat_layer_backward(l, dy, NULL), QK_ERR_STATE);
    qk_qat_param p[1];
    size_t n;
    QK_ASSERT_STATUS(qk_qat_layer_params(l, p, 1, &n), QK_ERR_INVALID_ARG);
    const float xnan[4] = {0, NAN, 1, 2};
    float y[2];
    QK_ASSERT_STATUS(qk_qat_layer_forward(l, xnan, 1, true, y), QK_ERR_NONFINITE);
    assert_non_null(strstr(qk_last_error(), "element 1"));
    qk_affine_params ap;
    QK_ASSERT_STATUS(qk_qat_layer_weight_params(l, 5, &ap), QK_ERR_STATE);
    qk_qat_layer_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observer_momentum),
        cmocka_unit_test(test_bit_changes),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_lsq_init),
        cmocka_unit_test(test_fold_batchnorm),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
