/*
** QAT linear and conv2d layers: finite-difference gradient checks (float
** phase; straight-through and LSQ gradients against the STE surrogate),
** observers with momentum, bit-width changes, the schedule, batch-norm
** folding and conversion to the integer path.
*/
#include "qk_test.h"

#include <float.h>

#include "quantkit/qat.h"

/* ---- a reference conv in double (linear = 1x1 conv over 1x1 inputs) ---- */

static void ref_conv(const qk_qat_conv2d_shape *s, const double *x, int64_t batch, const double *w,
                     const double *b, double *y) {
    const int64_t oh = (s->in_h + 2 * s->pad_h - s->kernel_h) / s->stride_h + 1;
    const int64_t ow = (s->in_w + 2 * s->pad_w - s->kernel_w) / s->stride_w + 1;
    const int64_t in_size = (int64_t)s->in_channels * s->in_h * s->in_w;
    const int64_t out_size = s->out_channels * oh * ow;
    for (int64_t n = 0; n < batch; n++)
        for (int64_t o = 0; o < s->out_channels; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double acc = b[o];
                    for (int64_t c = 0; c < s->in_channels; c++)
                        for (int64_t ki = 0; ki < s->kernel_h; ki++)
                            for (int64_t kj = 0; kj < s->kernel_w; kj++) {
                                const int64_t ih = i * s->stride_h - s->pad_h + ki;
                                const int64_t iw = j * s->stride_w - s->pad_w + kj;
                                if (ih < 0 || ih >= s->in_h || iw < 0 || iw >= s->in_w) continue;
                                acc +=
                                    w[((o * s->in_channels + c) * s->kernel_h + ki) * s->kernel_w +
                                      kj] *
                                    x[n * in_size + (c * s->in_h + ih) * s->in_w + iw];
                            }
                    y[n * out_size + (o * oh + i) * ow + j] = acc;
                }
}

typedef struct fixture {
    qk_qat_conv2d_shape s;
    int64_t batch, in_n, out_n, w_n, oc;
    float *x, *w, *b, *r; /* input, weights, bias, loss weights (dL/dy) */
} fixture;

static const qk_qat_conv2d_shape LINEAR_SHAPE = {12, 5, 1, 1, 1, 1, 1, 1, 0, 0};
static const qk_qat_conv2d_shape CONV_SHAPE = {3, 4, 6, 5, 3, 3, 2, 1, 1, 1};

static fixture make_fixture(const qk_qat_conv2d_shape *s, int64_t batch, uint64_t seed) {
    fixture f;
    memset(&f, 0, sizeof f);
    f.s = *s;
    f.batch = batch;
    const int64_t oh = (s->in_h + 2 * s->pad_h - s->kernel_h) / s->stride_h + 1;
    const int64_t ow = (s->in_w + 2 * s->pad_w - s->kernel_w) / s->stride_w + 1;
    f.in_n = batch * s->in_channels * s->in_h * s->in_w;
    f.out_n = batch * s->out_channels * oh * ow;
    f.oc = s->out_channels;
    f.w_n = f.oc * s->in_channels * s->kernel_h * s->kernel_w;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, seed);
    f.x = malloc(sizeof(float) * (size_t)f.in_n);
    f.w = malloc(sizeof(float) * (size_t)f.w_n);
    f.b = malloc(sizeof(float) * (size_t)f.oc);
    f.r = malloc(sizeof(float) * (size_t)f.out_n);
    qk_test_fill_uniform(&rng, f.x, (size_t)f.in_n, 0.0f, 1.0f); /* like ReLU outputs */
    qk_test_fill_normal(&rng, f.w, (size_t)f.w_n, 0.5f);
    qk_test_fill_normal(&rng, f.b, (size_t)f.oc, 0.1f);
    qk_test_fill_normal(&rng, f.r, (size_t)f.out_n, 1.0f);
    return f;
}

static void free_fixture(fixture *f) {
    free(f->x);
    free(f->w);
    free(f->b);
    free(f->r);
}

static qk_qat_layer *make_layer(const fixture *f, const qk_qat_config *cfg) {
    qk_qat_layer *l = NULL;
    if (f->s.in_h == 1 && f->s.kernel_h == 1)
        QK_ASSERT_OK(qk_qat_linear_create(f->s.in_channels, f->s.out_channels, cfg, &l));
    else
        QK_ASSERT_OK(qk_qat_conv2d_create(&f->s, cfg, &l));
    QK_ASSERT_OK(qk_qat_layer_set_weights(l, f->w, f->b));
    return l;
}

/* L = sum r * ref_conv(x, w, b), all in double. */
static double ref_loss(const fixture *f, const double *x, const double *w, const double *b) {
    double *y = malloc(sizeof(double) * (size_t)f->out_n);
    ref_conv(&f->s, x, f->batch, w, b, y);
    double l = 0.0;
    for (int64_t i = 0; i < f->out_n; i++) l += (double)f->r[i] * y[i];
    free(y);
    return l;
}

static double *to_double(const float *v, int64_t n) {
    double *d = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) d[i] = v[i];
    return d;
}

/* Central differences of ref_loss in every element of v (h: the loss is
** linear in each, so the differences are exact up to rounding). */
static void fd_grad(const fixture *f, double *x, double *w, double *b, double *v, int64_t n,
                    double *out) {
    const double h = 0.25;
    for (int64_t i = 0; i < n; i++) {
        const double keep = v[i];
        v[i] = keep + h;
        const double lp = ref_loss(f, x, w, b);
        v[i] = keep - h;
        const double lm = ref_loss(f, x, w, b);
        v[i] = keep;
        out[i] = (lp - lm) / (2 * h);
    }
}

/* Float phase: forward equals the reference, gradients equal finite
** differences of the reference for x, W and b. */
static void check_float_phase(const qk_qat_conv2d_shape *s) {
    fixture f = make_fixture(s, 3, 5);
    const qk_qat_config cfg = qk_qat_config_default(4, 4);
    qk_qat_layer *l = make_layer(&f, &cfg);
    const qk_qat_phase fp = {false, false, 0, 0};
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &fp));
    float *y = malloc(sizeof(float) * (size_t)f.out_n),
          *dx = malloc(sizeof(float) * (size_t)f.in_n);
    QK_ASSERT_OK(qk_qat_layer_forward(l, f.x, f.batch, true, y));
    double *xd = to_double(f.x, f.in_n), *wd = to_double(f.w, f.w_n), *bd = to_double(f.b, f.oc);
    double *yref = malloc(sizeof(double) * (size_t)f.out_n);
    ref_conv(&f.s, xd, f.batch, wd, bd, yref);
    for (int64_t i = 0; i < f.out_n; i++) QK_ASSERT_NEAR_ABS(y[i], yref[i], 1e-5);
    qk_qat_layer_zero_grad(l);
    QK_ASSERT_OK(qk_qat_layer_backward(l, f.r, dx));
    qk_qat_param p[QK_QAT_MAX_PARAMS];
    size_t np;
    QK_ASSERT_OK(qk_qat_layer_params(l, p, QK_QAT_MAX_PARAMS, &np));
    assert_int_equal(np, 2); /* observer mode: weight and bias only */
    assert_string_equal(p[0].name, "weight");
    double *g = malloc(sizeof(double) * (size_t)(f.in_n + f.w_n + f.oc));
    fd_grad(&f, xd, wd, bd, xd, f.in_n, g);
    for (int64_t i = 0; i < f.in_n; i++) QK_ASSERT_NEAR_ABS(dx[i], g[i], 1e-4);
    fd_grad(&f, xd, wd, bd, wd, f.w_n, g);
    for (int64_t i = 0; i < f.w_n; i++) QK_ASSERT_NEAR_ABS(p[0].grad[i], g[i], 1e-4);
    fd_grad(&f, xd, wd, bd, bd, f.oc, g);
    for (int64_t i = 0; i < f.oc; i++) QK_ASSERT_NEAR_ABS(p[1].grad[i], g[i], 1e-4);
    /* gradients accumulate over backward calls until zero_grad */
    QK_ASSERT_OK(qk_qat_layer_backward(l, f.r, NULL));
    for (int64_t i = 0; i < f.oc; i++) QK_ASSERT_NEAR_ABS(p[1].grad[i], 2 * g[i], 2e-4);
    free(g);
    free(xd);
    free(wd);
    free(bd);
    free(yref);
    free(y);
    free(dx);
    qk_qat_layer_free(l);
    free_fixture(&f);
}

static void test_float_phase_gradients(void **state) {
    (void)state;
    check_float_phase(&LINEAR_SHAPE);
    check_float_phase(&CONV_SHAPE);
}

/* Observer mode with fake quantization: the forward equals the reference on
** fake-quantized x and W (computed here with the primitives), and the
** gradients are the finite differences in x_fq / W_fq times the masks. */
static void check_ste(const qk_qat_conv2d_shape *s, qk_qat_granularity gran) {
    fixture f = make_fixture(s, 2, 7);
    qk_qat_config cfg = qk_qat_config_default(3, 3);
    cfg.weight.granularity = gran;
    qk_qat_layer *l = make_layer(&f, &cfg);
    const qk_qat_phase calib = {true, false, 0, 0}, fq = {false, true, 0, 0};
    float *y = malloc(sizeof(float) * (size_t)f.out_n),
          *dx = malloc(sizeof(float) * (size_t)f.in_n);
    /* calibrate on a smaller copy of x so that some inputs clip */
    float *xs = malloc(sizeof(float) * (size_t)f.in_n);
    for (int64_t i = 0; i < f.in_n; i++) xs[i] = 0.7f * f.x[i];
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &calib));
    QK_ASSERT_OK(qk_qat_layer_forward(l, xs, f.batch, true, y));
    /* grow the weights after calibration (through the parameter pointer, as an optimizer
    ** would) so that the largest ones clip */
    float *w0 = malloc(sizeof(float) * (size_t)f.w_n);
    memcpy(w0, f.w, sizeof(float) * (size_t)f.w_n);
    qk_qat_param p[QK_QAT_MAX_PARAMS];
    size_t np;
    QK_ASSERT_OK(qk_qat_layer_params(l, p, QK_QAT_MAX_PARAMS, &np));
    for (int64_t i = 0; i < f.w_n; i++) f.w[i] = p[0].value[i] *= 1.5f;
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &fq));
    QK_ASSERT_OK(qk_qat_layer_forward(l, f.x, f.batch, true, y));
    qk_qat_layer_zero_grad(l);
    QK_ASSERT_OK(qk_qat_layer_backward(l, f.r, dx));

    qk_affine_params ap;
    QK_ASSERT_OK(qk_qat_layer_act_params(l, &ap));
    /* the act observer saw min 0.7 * min(x) and max 0.7 * max(x) */
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < f.in_n; i++) lo = fminf(lo, xs[i]), hi = fmaxf(hi, xs[i]);
    qk_affine_params want;
    QK_ASSERT_OK(qk_affine_params_from_minmax(lo, hi, 0, 7, false, &want));
    QK_ASSERT_F32_BITS_EQ(ap.scale, want.scale);
    assert_int_equal(ap.zero_point, want.zero_point);
    float *xq = malloc(sizeof(float) * (size_t)f.in_n), *wq = malloc(sizeof(float) * (size_t)f.w_n);
    uint8_t *xm = malloc((size_t)f.in_n), *wm = malloc((size_t)f.w_n);
    QK_ASSERT_OK(qk_fake_quant_forward(f.x, (size_t)f.in_n, &ap, xq, xm));
    const int64_t wch = gran == QK_QAT_PER_CHANNEL ? f.oc : 1;
    const int64_t per = f.w_n / wch;
    for (int64_t c = 0; c < wch; c++) {
        qk_affine_params wp;
        QK_ASSERT_OK(qk_qat_layer_weight_params(l, c, &wp));
        QK_ASSERT_OK(
            qk_fake_quant_forward(f.w + c * per, (size_t)per, &wp, wq + c * per, wm + c * per));
        /* observer with momentum 1: symmetric max |w| of the channel / 3 */
        float amax = 0.0f;
        for (int64_t i = 0; i < per; i++) amax = fmaxf(amax, fabsf(w0[c * per + i]));
        QK_ASSERT_F32_BITS_EQ(wp.scale, amax / 3.0f);
    }
    double *xd = to_double(xq, f.in_n), *wd = to_double(wq, f.w_n), *bd = to_double(f.b, f.oc);
    double *yref = malloc(sizeof(double) * (size_t)f.out_n);
    ref_conv(&f.s, xd, f.batch, wd, bd, yref);
    for (int64_t i = 0; i < f.out_n; i++) QK_ASSERT_NEAR_ABS(y[i], yref[i], 1e-5);
    double *g = malloc(sizeof(double) * (size_t)(f.in_n + f.w_n));
    int clipped_x = 0, clipped_w = 0;
    fd_grad(&f, xd, wd, bd, xd, f.in_n, g);
    for (int64_t i = 0; i < f.in_n; i++) {
        QK_ASSERT_NEAR_ABS(dx[i], xm[i] ? g[i] : 0.0, 1e-4);
        clipped_x += !xm[i];
    }
    fd_grad(&f, xd, wd, bd, wd, f.w_n, g);
    for (int64_t i = 0; i < f.w_n; i++) {
        QK_ASSERT_NEAR_ABS(p[0].grad[i], wm[i] ? g[i] : 0.0, 1e-4);
        clipped_w += !wm[i];
    }
    assert_true(clipped_x > 0 && clipped_w > 0); /* the masks were exercised */
    free(w0);
    free(g);
    free(xd);
    free(wd);
    free(bd);
    free(yref);
    free(xq);
    free(wq);
    free(xm);
    free(wm);
    free(xs);
    free(y);
    free(dx);
    qk_qat_layer_free(l);
    free_fixture(&f);
}

static void test_ste_gradients(void **state) {
    (void)state;
    check_ste(&LINEAR_SHAPE, QK_QAT_PER_TENSOR);
    check_ste(&LINEAR_SHAPE, QK_QAT_PER_CHANNEL);
    check_ste(&CONV_SHAPE, QK_QAT_PER_TENSOR);
    check_ste(&CONV_SHAPE, QK_QAT_PER_CHANNEL);
}

/* LSQ: the scale (and zero-point) gradients of the layer equal central
** differences of the STE surrogate of the whole layer:
**   w_sur(s) = (clamp(z + w/s + rho, qmin, qmax) - z) * s, rho frozen at s0,
** the same for x with the activation scale and zero point. Elements whose
** code sits on a clip boundary are moved away first (away from the kink). */
static double sur(double v, double s, double z, double rho, double lo, double hi) {
    double q = z + v / s + rho;
    q = q < lo ? lo : (q > hi ? hi : q);
    return (q - z) * s;
}

typedef struct lsq_state {
    const fixture *f;
    const float *v;      /* w or x */
    int64_t n, channels; /* per-channel groups of n / channels */
    double *s, *z, *rho; /* per channel; rho per element */
    double lo, hi;
    double *other; /* the other operand (fake-quantized), double */
    bool is_weight;
    double *bd;
} lsq_state;

static double lsq_loss(const lsq_state *st) {
    double *v = calloc((size_t)st->n, sizeof(double));
    const int64_t per = st->n / st->channels;
    for (int64_t i = 0; i < st->n; i++) {
        const int64_t c = i / per;
        v[i] = sur(st->v[i], st->s[c], st->z[c], st->rho[i], st->lo, st->hi);
    }
    const double l = st->is_weight ? ref_loss(st->f, st->other, v, st->bd)
                                   : ref_loss(st->f, v, st->other, st->bd);
    free(v);
    return l;
}

static void check_lsq(const qk_qat_conv2d_shape *shape, qk_qat_granularity gran) {
    fixture f = make_fixture(shape, 2, 9);
    qk_qat_config cfg = qk_qat_config_default(3, 4);
    cfg.weight.granularity = gran;
    cfg.weight.mode = cfg.act.mode = QK_QAT_SCALE_LSQ;
    cfg.act.learn_zero_point = true;
    qk_qat_layer *l = make_layer(&f, &cfg);
    float *y = malloc(sizeof(float) * (size_t)f.out_n);
    const qk_qat_phase fq = {false, true, 0, 0};
    QK_ASSERT_OK(qk_qat_layer_set_phase(l, &fq));
    /* first fake-quantized forward: parameters from min and max (LSQ init) */
    QK_ASSERT_OK(qk_qat_layer_forward(l, f.x, f.batch, true, y));
    qk_qat_param p[QK_QAT_MAX_PARAMS];
    size_t np;
    QK_ASSERT_OK(qk_qat_layer_params(l, p, QK_QAT_MAX_PARAMS, &np));
    assert_int_equal(np, 5);
    assert_string_equal(p[2].name, "weight_scale");
    assert_string_equal(p[3].name, "act_scale");
    assert_string_equal(p[4].name, "act_zero_point");
    assert_true(p[2].is_qparam && p[3].is_qparam && p[4].is_qparam && !p[0].is_qparam);
    /* move the learnable parameters off their min-max values so that inputs clip, and put a
    ** non-integral zero point */
    for (size_t c = 0; c < p[2].count; c++) p[2].value[c] *= 0.8f;
    p[3].value[0] *= 0.75f;
    p[4].value[0] = 2.3f;
    /* move elements whose code is exactly qmin or qmax (the surrogate's kink) into the
    ** clipped region; the weights through their parameter pointer (as an optimizer would) */
    {
        const int64_t per = f.w_n / (int64_t)p[2].count;
        qk_affine_params q;
        for (int64_t i = 0; i < f.w_n; i++) {
            QK_ASSERT_OK(qk_qat_layer_weight_params(l, i / per, &q));
            const float code = (float)q.zero_point + nearbyintf(p[0].value[i] * (1.0f / q.scale));
            if (code == (float)q.qmin || code == (float)q.qmax) p[0].value[i] *= 1.6f;
            f.w[i] = p[0].value[i];
        }
        const float inv = 1.0f / p[3].value[0];
        for (int64_t i = 0; i < f.in_n; i++)
            if (2.0f + nearbyintf(f.x[i] * inv) == 15.0f) f.x[i] *= 1.3f;
    }
    QK_ASSERT_OK(qk_qat_layer_forward(l, f.x, f.batch, true, y));
    qk_qat_layer_zero_grad(l);
    QK_ASSERT_OK(qk_qat_layer_backward(l, f.r, NULL));

    const int64_t wch = (int64_t)p[2].count, per = f.w_n / wch;
    double ws[64], wz[64];
    double *wrho = malloc(sizeof(double) * (size_t)f.w_n),
           *xrho = malloc(sizeof(double) * (size_t)f.in_n);
    qk_affine_params wp, ap;
    for (int64_t c = 0; c < wch; c++) {
        QK_ASSERT_OK(qk_qat_layer_weight_params(l, c, &wp));
        ws[c] = p[2].value[c];
        wz[c] = wp.zero_point;
    }
    QK_ASSERT_OK(qk_qat_layer_act_params(l, &ap));
    assert_int_equal(ap.zero_point, 2); /* nearbyint(2.3) */
    const double as = p[3].value[0], az = 2.0;
    /* rounding residuals at the current parameters, f32 as the layer computes them */
    int kinks = 0, clipped = 0;
    for (int64_t i = 0; i < f.w_n; i++) {
        const int64_t c = i / per;
        const float u = (float)wz[c] + f.w[i] * (1.0f / (float)ws[c]);
        const float q = nearbyintf(u);
        wrho[i] = (double)q - (wz[c] + (double)f.w[i] / ws[c]);
        kinks += q == (float)wp.qmin || q == (float)wp.qmax;
        clipped += q < (float)wp.qmin || q > (float)wp.qmax;
    }
    for (int64_t i = 0; i < f.in_n; i++) {
        const float u = (float)az + f.x[i] * (1.0f / (float)as);
        const float q = nearbyintf(u);
        xrho[i] = (double)q - (az + (double)f.x[i] / as);
        kinks += q == (float)ap.qmin || q == (float)ap.qmax;
        clipped += q > (float)ap.qmax;
    }
    /* fake-quantized operands for the other side of each check */
    float *wq = malloc(sizeof(float) * (size_t)f.w_n), *xq = malloc(sizeof(float) * (size_t)f.in_n);
    for (int64_t c = 0; c < wch; c++) {
        QK_ASSERT_OK(qk_qat_layer_weight_params(l, c, &wp));
        QK_ASSERT_OK(qk_fake_quant_forward(f.w + c * per, (size_t)per, &wp, wq + c * per, NULL));
    }
    QK_ASSERT_OK(qk_fake_quant_forward(f.x, (size_t)f.in_n, &ap, xq, NULL));
    double *wqd = to_double(wq, f.w_n), *xqd = to_double(xq, f.in_n), *bd = to_double(f.b, f.oc);
    assert_int_equal(kinks, 0);
    assert_true(clipped > 0);
    const double gw = qk_lsq_grad_factor(f.w_n, wp.qmax), ga = qk_lsq_grad_factor(f.in_n, ap.qmax);

    lsq_state ws_st = {&f, f.w, f.w_n, wch, ws, wz, wrho, wp.qmin, wp.qmax, xqd, true, bd};
    for (int64_t c = 0; c < wch; c++) {
        const double keep = ws[c], h = 1e-4 * keep;
        ws[c] = keep + h;
        const double lp = lsq_loss(&ws_st);
        ws[c] = keep - h;
        const double lm = lsq_loss(&ws_st);
        ws[c] = keep;
        const double fd = (lp - lm) / (2 * h);
        QK_ASSERT_NEAR_ABS(p[2].grad[c] / gw, fd, 1e-4 * fmax(1.0, fabs(fd)));
    }
    double asv = as, azv = az;
    lsq_state a_st = {&f, f.x, f.in_n, 1, &asv, &azv, xrho, ap.qmin, ap.qmax, wqd, false, bd};
    double h = 1e-4 * as;
    asv = as + h;
    double lp = lsq_loss(&a_st);
    asv = as - h;
    double lm = lsq_loss(&a_st);
    asv = as;
    double fd = (lp - lm) / (2 * h);
    QK_ASSERT_NEAR_ABS(p[3].grad[0] / ga, fd, 1e-4 * fmax(1.0, fabs(fd)));
    h = 1e-3;
    azv = az + h;
    lp = lsq_loss(&a_st);
    azv = az - h;
    lm = lsq_loss(&a_st);
    fd = (lp - lm) / (2 * h);
    QK_ASSERT_NEAR_ABS(p[4].grad[0] / ga, fd, 1e-4 * fmax(1.0, fabs(fd)));
    assert_true(fabs(p[4].grad[0]) > 0.0); /* some inputs clip */
    free(wrho);
    free(xrho);
    free(wq);
    free(xq);
    free(wqd);
    free(xqd);
    free(bd);
    free(y);
    qk_qat_layer_free(l);
    free_fixture(&f);
}

static void test_lsq_gradients(void **state) {
    (void)state;
    check_lsq(&LINEAR_SHAPE, QK_QAT_PER_TENSOR);
    check_lsq(&LINEAR_SHAPE, QK_QAT_PER_CHANNEL);
    check_lsq(&CONV_SHAPE, QK_QAT_PER_TENSOR);
    check_lsq(&CONV_SHAPE, QK_QAT_PER_CHANNEL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_phase_gradients),
        cmocka_unit_test(test_ste_gradients),
        cmocka_unit_test(test_lsq_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
