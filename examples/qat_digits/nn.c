/*
** The example's training stack (see nn.h): linear, conv2d, ReLU, batch
** norm, softmax cross-entropy, SGD with momentum and Adam, a sequential
** container. Plain loops in a fixed order.
*/
#include "nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers (xoshiro256**, seeded by splitmix64) ---------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void nn_rng_seed(nn_rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t nn_rng_u64(nn_rng *rng) {
    uint64_t *s = rng->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double nn_rng_uniform(nn_rng *rng) {
    return (double)(nn_rng_u64(rng) >> 11) * 0x1.0p-53;
}

void nn_rng_shuffle(nn_rng *rng, int32_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)(nn_rng_u64(rng) % (uint64_t)(i + 1));
        const int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static void fill_uniform(nn_rng *rng, float *x, size_t n, float bound) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * nn_rng_uniform(rng) - 1.0) * bound);
}

/* ---- optimizers ----------------------------------------------------------- */

int nn_optimizer_init(nn_optimizer *opt, int kind, const nn_param *params, size_t n) {
    memset(opt, 0, sizeof *opt);
    if (n > NN_MAX_PARAMS) return -1;
    opt->kind = kind;
    opt->group1_kind = kind;
    opt->lr[0] = kind == NN_ADAM ? 1e-3f : 0.1f;
    opt->lr[1] = opt->lr[0];
    opt->momentum = 0.9f;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
    opt->n = n;
    for (size_t i = 0; i < n; i++) {
        opt->params[i] = params[i];
        opt->state1[i] = calloc(params[i].count ? params[i].count : 1, sizeof(float));
        opt->state2[i] = calloc(params[i].count ? params[i].count : 1, sizeof(float));
        if (!opt->state1[i] || !opt->state2[i]) {
            nn_optimizer_free(opt);
            return -1;
        }
    }
    return 0;
}

void nn_optimizer_free(nn_optimizer *opt) {
    for (size_t i = 0; i < NN_MAX_PARAMS; i++) {
        free(opt->state1[i]);
        free(opt->state2[i]);
        opt->state1[i] = opt->state2[i] = NULL;
    }
    opt->n = 0;
}

void nn_optimizer_zero_grad(nn_optimizer *opt) {
    for (size_t i = 0; i < opt->n; i++)
        memset(opt->params[i].grad, 0, opt->params[i].count * sizeof(float));
}

void nn_optimizer_step(nn_optimizer *opt) {
    opt->t++;
    const double bc1 = 1.0 - pow(opt->beta1, (double)opt->t);
    const double bc2 = 1.0 - pow(opt->beta2, (double)opt->t);
    for (size_t i = 0; i < opt->n; i++) {
        const nn_param *p = &opt->params[i];
        const float lr = opt->lr[p->group ? 1 : 0];
        if (lr == 0.0f) continue;
        const float wd = p->decay ? opt->weight_decay : 0.0f;
        float *m = opt->state1[i], *v = opt->state2[i];
        for (size_t j = 0; j < p->count; j++) {
            const float g = p->grad[j] + wd * p->value[j];
            if ((p->group ? opt->group1_kind : opt->kind) == NN_SGD) {
                m[j] = opt->momentum * m[j] + g;
                p->value[j] -= lr * m[j];
            } else {
                m[j] = opt->beta1 * m[j] + (1.0f - opt->beta1) * g;
                v[j] = opt->beta2 * v[j] + (1.0f - opt->beta2) * g * g;
                const double mh = m[j] / bc1, vh = v[j] / bc2;
                p->value[j] -= (float)(lr * mh / (sqrt(vh) + opt->eps));
            }
        }
    }
}

/* ---- modules ------------------------------------------------------------------ */

void nn_module_free(nn_module *m) {
    if (!m) return;
    if (m->destroy) m->destroy(m);
    free(m);
}

static nn_module *module_new(const char *kind, int64_t in, int64_t out, void *impl) {
    nn_module *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->kind = kind;
    m->in_size = in;
    m->out_size = out;
    m->impl = impl;
    return m;
}

/* Cached copy of a training forward's input. */
typedef struct nn_cache {
    float *x;
    int64_t batch, cap;
} nn_cache;

static int cache_store(nn_cache *c, const float *x, int64_t batch, int64_t size) {
    const int64_t n = batch * size;
    if (n > c->cap) {
        float *p = realloc(c->x, (size_t)n * sizeof(float));
        if (!p) return -1;
        c->x = p;
        c->cap = n;
    }
    memcpy(c->x, x, (size_t)n * sizeof(float));
    c->batch = batch;
    return 0;
}

/* Linear and conv2d share this implementation (linear: k = in, p = 1). */
typedef struct nn_dense {
    int cin, height, width, kernel, stride, pad, oh, ow;
    int64_t out, k, p;
    bool conv;
    float *w, *b, *gw, *gb;
    float *col, *dcol;
    nn_cache cache;
} nn_dense;

static void im2col(const nn_dense *d, const float *x, float *col) {
    int64_t row = 0;
    for (int c = 0; c < d->cin; c++)
        for (int ki = 0; ki < d->kernel; ki++)
            for (int kj = 0; kj < d->kernel; kj++, row++)
                for (int oh = 0; oh < d->oh; oh++) {
                    const int ih = oh * d->stride - d->pad + ki;
                    for (int ow = 0; ow < d->ow; ow++) {
                        const int iw = ow * d->stride - d->pad + kj;
                        const bool in = ih >= 0 && ih < d->height && iw >= 0 && iw < d->width;
                        col[row * d->p + oh * d->ow + ow] =
                            in ? x[((int64_t)c * d->height + ih) * d->width + iw] : 0.0f;
                    }
                }
}

static void col2im(const nn_dense *d, const float *col, float *dx) {
    memset(dx, 0, sizeof(float) * (size_t)d->cin * (size_t)d->height * (size_t)d->width);
    int64_t row = 0;
    for (int c = 0; c < d->cin; c++)
        for (int ki = 0; ki < d->kernel; ki++)
            for (int kj = 0; kj < d->kernel; kj++, row++)
                for (int oh = 0; oh < d->oh; oh++) {
                    const int ih = oh * d->stride - d->pad + ki;
                    for (int ow = 0; ow < d->ow; ow++) {
                        const int iw = ow * d->stride - d->pad + kj;
                        if (ih >= 0 && ih < d->height && iw >= 0 && iw < d->width)
                            dx[((int64_t)c * d->height + ih) * d->width + iw] +=
                                col[row * d->p + oh * d->ow + ow];
                    }
                }
}

static int dense_forward(nn_module *m, const float *x, int64_t batch, bool training, float *y) {
    nn_dense *d = m->impl;
    if (training && cache_store(&d->cache, x, batch, m->in_size)) return -1;
    for (int64_t n = 0; n < batch; n++) {
        const float *xs = x + n * m->in_size;
        float *ys = y + n * m->out_size;
        const float *col = xs;
        if (d->conv) {
            im2col(d, xs, d->col);
            col = d->col;
        }
        for (int64_t o = 0; o < d->out; o++) {
            float *yo = ys + o * d->p;
            for (int64_t p = 0; p < d->p; p++) yo[p] = d->b[o];
            for (int64_t k = 0; k < d->k; k++) {
                const float wv = d->w[o * d->k + k];
                const float *row = col + k * d->p;
                for (int64_t p = 0; p < d->p; p++) yo[p] += wv * row[p];
            }
        }
    }
    return 0;
}

static int dense_backward(nn_module *m, const float *dy, float *dx) {
    nn_dense *d = m->impl;
    for (int64_t n = 0; n < d->cache.batch; n++) {
        const float *xs = d->cache.x + n * m->in_size;
        const float *dys = dy + n * m->out_size;
        const float *col = xs;
        if (d->conv) {
            im2col(d, xs, d->col);
            col = d->col;
        }
        float *dcol = d->conv ? d->dcol : dx + n * m->in_size;
        if (dx) memset(dcol, 0, sizeof(float) * (size_t)(d->k * d->p));
        for (int64_t o = 0; o < d->out; o++) {
            const float *g = dys + o * d->p;
            for (int64_t p = 0; p < d->p; p++) d->gb[o] += g[p];
            for (int64_t k = 0; k < d->k; k++) {
                const float *row = col + k * d->p;
                float acc = 0.0f;
                for (int64_t p = 0; p < d->p; p++) acc += g[p] * row[p];
                d->gw[o * d->k + k] += acc;
                if (dx) {
                    const float wv = d->w[o * d->k + k];
                    float *drow = dcol + k * d->p;
                    for (int64_t p = 0; p < d->p; p++) drow[p] += wv * g[p];
                }
            }
        }
        if (dx && d->conv) col2im(d, d->dcol, dx + n * m->in_size);
    }
    return 0;
}

static size_t dense_params(nn_module *m, nn_param *out, size_t cap) {
    nn_dense *d = m->impl;
    if (cap < 2) return 0;
    out[0] = (nn_param){d->w, d->gw, (size_t)(d->out * d->k), 0, true};
    out[1] = (nn_param){d->b, d->gb, (size_t)d->out, 0, false};
    return 2;
}

static void dense_destroy(nn_module *m) {
    nn_dense *d = m->impl;
    if (!d) return;
    free(d->w);
    free(d->b);
    free(d->gw);
    free(d->gb);
    free(d->col);
    free(d->dcol);
    free(d->cache.x);
    free(d);
}

static nn_module *dense_create(int cin, int cout, int h, int w, int kernel, int stride, int pad,
                               bool conv, nn_rng *rng) {
    nn_dense *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->cin = cin, d->height = h, d->width = w, d->kernel = kernel, d->stride = stride, d->pad = pad;
    d->conv = conv;
    d->oh = (h + 2 * pad - kernel) / stride + 1;
    d->ow = (w + 2 * pad - kernel) / stride + 1;
    d->out = cout;
    d->k = (int64_t)cin * kernel * kernel;
    d->p = (int64_t)d->oh * d->ow;
    const size_t nw = (size_t)(d->out * d->k);
    d->w = malloc(nw * sizeof(float));
    d->b = malloc((size_t)cout * sizeof(float));
    d->gw = calloc(nw, sizeof(float));
    d->gb = calloc((size_t)cout, sizeof(float));
    if (conv) {
        d->col = malloc((size_t)(d->k * d->p) * sizeof(float));
        d->dcol = malloc((size_t)(d->k * d->p) * sizeof(float));
    }
    nn_module *m = module_new(conv ? "conv2d" : "linear", (int64_t)cin * h * w, d->out * d->p, d);
    if (!m || !d->w || !d->b || !d->gw || !d->gb || (conv && (!d->col || !d->dcol))) {
        dense_destroy(m ? m : &(nn_module){.impl = d});
        free(m);
        return NULL;
    }
    const float bound = (float)(1.0 / sqrt((double)d->k));
    fill_uniform(rng, d->w, nw, bound);
    fill_uniform(rng, d->b, (size_t)cout, bound);
    m->forward = dense_forward;
    m->backward = dense_backward;
    m->params = dense_params;
    m->destroy = dense_destroy;
    return m;
}

nn_module *nn_linear_create(int64_t in, int64_t out, nn_rng *rng) {
    return dense_create((int)in, (int)out, 1, 1, 1, 1, 0, false, rng);
}

nn_module *nn_conv2d_create(int cin, int cout, int h, int w, int kernel, int stride, int pad,
                            nn_rng *rng) {
    return dense_create(cin, cout, h, w, kernel, stride, pad, true, rng);
}

float *nn_module_weight(nn_module *m, int64_t *count) {
    if (strcmp(m->kind, "linear") && strcmp(m->kind, "conv2d")) return NULL;
    nn_dense *d = m->impl;
    if (count) *count = d->out * d->k;
    return d->w;
}

float *nn_module_bias(nn_module *m, int64_t *count) {
    if (strcmp(m->kind, "linear") && strcmp(m->kind, "conv2d")) return NULL;
    nn_dense *d = m->impl;
    if (count) *count = d->out;
    return d->b;
}

int nn_conv2d_geometry(nn_module *m, int *cin, int *cout, int *h, int *w, int *kernel, int *stride,
                       int *pad) {
    if (strcmp(m->kind, "conv2d")) return -1;
    const nn_dense *d = m->impl;
    *cin = d->cin, *cout = (int)d->out, *h = d->height, *w = d->width;
    *kernel = d->kernel, *stride = d->stride, *pad = d->pad;
    return 0;
}

/* ReLU: the mask is the cached input's sign. */
static int relu_forward(nn_module *m, const float *x, int64_t batch, bool training, float *y) {
    nn_cache *c = m->impl;
    if (training && cache_store(c, x, batch, m->in_size)) return -1;
    for (int64_t i = 0; i < batch * m->in_size; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return 0;
}

static int relu_backward(nn_module *m, const float *dy, float *dx) {
    nn_cache *c = m->impl;
    if (!dx) return 0;
    for (int64_t i = 0; i < c->batch * m->in_size; i++) dx[i] = c->x[i] > 0.0f ? dy[i] : 0.0f;
    return 0;
}

static size_t no_params(nn_module *m, nn_param *out, size_t cap) {
    return 0;
}

static void cache_destroy(nn_module *m) {
    nn_cache *c = m->impl;
    if (c) free(c->x);
    free(c);
}

nn_module *nn_relu_create(int64_t size) {
    nn_cache *c = calloc(1, sizeof *c);
    nn_module *m = c ? module_new("relu", size, size, c) : NULL;
    if (!m) {
        free(c);
        return NULL;
    }
    m->forward = relu_forward;
    m->backward = relu_backward;
    m->params = no_params;
    m->destroy = cache_destroy;
    return m;
}

/* Batch norm. */
typedef struct nn_bn {
    int ch;
    int64_t sp;
    float eps, momentum;
    float *gamma, *beta, *ggamma, *gbeta, *rmean, *rvar;
    float *mean, *invstd; /* batch statistics of the cached forward */
    nn_cache cache;       /* input x */
} nn_bn;

static int bn_forward(nn_module *m, const float *x, int64_t batch, bool training, float *y) {
    nn_bn *b = m->impl;
    if (training && cache_store(&b->cache, x, batch, m->in_size)) return -1;
    const double cnt = (double)batch * (double)b->sp;
    for (int c = 0; c < b->ch; c++) {
        float mean, invstd;
        if (training) {
            double s = 0.0, s2 = 0.0;
            for (int64_t n = 0; n < batch; n++) {
                const float *xc = x + n * m->in_size + c * b->sp;
                for (int64_t i = 0; i < b->sp; i++) s += xc[i];
            }
            const double mu = s / cnt;
            for (int64_t n = 0; n < batch; n++) {
                const float *xc = x + n * m->in_size + c * b->sp;
                for (int64_t i = 0; i < b->sp; i++) s2 += (xc[i] - mu) * (xc[i] - mu);
            }
            const double var = s2 / cnt;
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(var + b->eps));
            b->mean[c] = mean;
            b->invstd[c] = invstd;
            const double unbiased = cnt > 1 ? s2 / (cnt - 1) : var;
            b->rmean[c] += b->momentum * (float)(mu - b->rmean[c]);
            b->rvar[c] += b->momentum * (float)(unbiased - b->rvar[c]);
        } else {
            mean = b->rmean[c];
            invstd = (float)(1.0 / sqrt((double)b->rvar[c] + b->eps));
        }
        for (int64_t n = 0; n < batch; n++) {
            const float *xc = x + n * m->in_size + c * b->sp;
            float *yc = y + n * m->out_size + c * b->sp;
            for (int64_t i = 0; i < b->sp; i++)
                yc[i] = (xc[i] - mean) * invstd * b->gamma[c] + b->beta[c];
        }
    }
    return 0;
}

/* dx = gamma * invstd / N * (N dy - sum dy - xhat sum(dy xhat)). */
static int bn_backward(nn_module *m, const float *dy, float *dx) {
    nn_bn *b = m->impl;
    const int64_t batch = b->cache.batch;
    const double cnt = (double)batch * (double)b->sp;
    for (int c = 0; c < b->ch; c++) {
        const float mean = b->mean[c], invstd = b->invstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t n = 0; n < batch; n++) {
            const float *xc = b->cache.x + n * m->in_size + c * b->sp;
            const float *gc = dy + n * m->out_size + c * b->sp;
            for (int64_t i = 0; i < b->sp; i++) {
                sdy += gc[i];
                sdyx += gc[i] * (xc[i] - mean) * invstd;
            }
        }
        b->gbeta[c] += (float)sdy;
        b->ggamma[c] += (float)sdyx;
        if (!dx) continue;
        const double k = (double)b->gamma[c] * invstd / cnt;
        for (int64_t n = 0; n < batch; n++) {
            const float *xc = b->cache.x + n * m->in_size + c * b->sp;
            const float *gc = dy + n * m->out_size + c * b->sp;
            float *dc = dx + n * m->in_size + c * b->sp;
            for (int64_t i = 0; i < b->sp; i++) {
                const double xhat = (xc[i] - mean) * (double)invstd;
                dc[i] = (float)(k * (cnt * gc[i] - sdy - xhat * sdyx));
            }
        }
    }
    return 0;
}

static size_t bn_params(nn_module *m, nn_param *out, size_t cap) {
    nn_bn *b = m->impl;
    if (cap < 2) return 0;
    out[0] = (nn_param){b->gamma, b->ggamma, (size_t)b->ch, 0, false};
    out[1] = (nn_param){b->beta, b->gbeta, (size_t)b->ch, 0, false};
    return 2;
}

static void bn_destroy(nn_module *m) {
    nn_bn *b = m->impl;
    if (!b) return;
    free(b->gamma);
    free(b->beta);
    free(b->ggamma);
    free(b->gbeta);
    free(b->rmean);
    free(b->rvar);
    free(b->mean);
    free(b->invstd);
    free(b->cache.x);
    free(b);
}

nn_module *nn_batchnorm_create(int channels, int64_t spatial) {
    nn_bn *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->ch = channels;
    b->sp = spatial;
    b->eps = 1e-5f;
    b->momentum = 0.1f;
    float **arrays[8] = {&b->gamma, &b->beta, &b->ggamma, &b->gbeta,
                         &b->rmean, &b->rvar, &b->mean,   &b->invstd};
    bool ok = true;
    for (int i = 0; i < 8; i++) ok = ok && (*arrays[i] = calloc((size_t)channels, sizeof(float)));
    nn_module *m = ok ? module_new("batchnorm", channels * spatial, channels * spatial, b) : NULL;
    if (!m) {
        bn_destroy(&(nn_module){.impl = b});
        return NULL;
    }
    for (int c = 0; c < channels; c++) b->gamma[c] = b->rvar[c] = 1.0f;
    m->forward = bn_forward;
    m->backward = bn_backward;
    m->params = bn_params;
    m->destroy = bn_destroy;
    return m;
}

void nn_batchnorm_state(nn_module *m, float **gamma, float **beta, float **mean, float **var,
                        float *eps) {
    nn_bn *b = m->impl;
    *gamma = b->gamma;
    *beta = b->beta;
    *mean = b->rmean;
    *var = b->rvar;
    *eps = b->eps;
}

/* ---- sequential ---------------------------------------------------------- */

int nn_seq_init(nn_seq *s, nn_module **layers, int n, int64_t max_batch) {
    memset(s, 0, sizeof *s);
    if (n <= 0 || n > NN_MAX_LAYERS) return -1;
    s->n = n;
    s->max_batch = max_batch;
    int64_t widest = layers[0]->in_size;
    for (int i = 0; i < n; i++) {
        s->layers[i] = layers[i];
        if (i > 0 && layers[i]->in_size != layers[i - 1]->out_size) return -1;
        if (layers[i]->out_size > widest) widest = layers[i]->out_size;
    }
    for (int i = 1; i <= n; i++)
        if (!(s->acts[i] = malloc(sizeof(float) * (size_t)(max_batch * layers[i - 1]->out_size))))
            return -1;
    s->grad_a = malloc(sizeof(float) * (size_t)(max_batch * widest));
    s->grad_b = malloc(sizeof(float) * (size_t)(max_batch * widest));
    return s->grad_a && s->grad_b ? 0 : -1;
}

void nn_seq_free(nn_seq *s) {
    for (int i = 0; i < s->n; i++) nn_module_free(s->layers[i]);
    for (int i = 0; i <= NN_MAX_LAYERS; i++) free(s->acts[i]);
    free(s->grad_a);
    free(s->grad_b);
    memset(s, 0, sizeof *s);
}

int nn_seq_forward(nn_seq *s, const float *x, int64_t batch, bool training, const float **out) {
    if (batch > s->max_batch) return -1;
    const float *in = x;
    for (int i = 0; i < s->n; i++) {
        if (s->layers[i]->forward(s->layers[i], in, batch, training, s->acts[i + 1])) return -1;
        in = s->acts[i + 1];
    }
    *out = in;
    return 0;
}

int nn_seq_backward(nn_seq *s, const float *dy) {
    const float *g = dy;
    float *bufs[2] = {s->grad_a, s->grad_b};
    for (int i = s->n - 1; i >= 0; i--) {
        float *dx = i > 0 ? bufs[i & 1] : NULL;
        if (s->layers[i]->backward(s->layers[i], g, dx)) return -1;
        g = dx;
    }
    return 0;
}

size_t nn_seq_params(nn_seq *s, nn_param *out, size_t capacity) {
    size_t n = 0;
    for (int i = 0; i < s->n; i++) n += s->layers[i]->params(s->layers[i], out + n, capacity - n);
    return n;
}

/* ---- loss -------------------------------------------------------------------- */

double nn_softmax_cross_entropy(const float *logits, const int32_t *labels, int64_t batch,
                                int64_t classes, float *dlogits) {
    double total = 0.0;
    for (int64_t n = 0; n < batch; n++) {
        const float *z = logits + n * classes;
        double zmax = z[0];
        for (int64_t c = 1; c < classes; c++) zmax = z[c] > zmax ? z[c] : zmax;
        double sum = 0.0;
        for (int64_t c = 0; c < classes; c++) sum += exp(z[c] - zmax);
        total += log(sum) + zmax - z[labels[n]];
        if (dlogits)
            for (int64_t c = 0; c < classes; c++) {
                const double p = exp(z[c] - zmax) / sum;
                dlogits[n * classes + c] = (float)((p - (c == labels[n] ? 1.0 : 0.0)) / batch);
            }
    }
    return batch > 0 ? total / batch : 0.0;
}

void nn_argmax(const float *logits, int64_t batch, int64_t classes, int32_t *out) {
    for (int64_t n = 0; n < batch; n++) {
        const float *z = logits + n * classes;
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (z[c] > z[best]) best = c;
        out[n] = (int32_t)best;
    }
}
