/*
** Quantized checkpoints (quantkit/checkpoint.h): format names, configs,
** the part layout of each format, the checks a linear must pass before it
** is written, scale rounding, and the format-independent halves of
** encoding and decoding (scales, g_idx).
*/
#include <math.h>    /* isfinite */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* memcpy, strcmp */
#include <strings.h> /* strcasecmp */

#include "core/error.h"
#include "io/ckpt.h"

const char *qk_checkpoint_format_name(qk_checkpoint_format format) {
    switch (format) {
    case QK_CHECKPOINT_GPTQ:
        return "gptq";
    case QK_CHECKPOINT_GPTQ_V2:
        return "gptq_v2";
    case QK_CHECKPOINT_AWQ:
        return "awq";
    case QK_CHECKPOINT_COMPRESSED_TENSORS:
        return "compressed-tensors";
    }
    return "?";
}

qk_status qk_checkpoint_format_from_name(const char *name, qk_checkpoint_format *out) {
    static const struct {
        const char *name;
        qk_checkpoint_format format;
    } names[] = {{"gptq", QK_CHECKPOINT_GPTQ},
                 {"gptq_v1", QK_CHECKPOINT_GPTQ},
                 {"gptq_v2", QK_CHECKPOINT_GPTQ_V2},
                 {"gptq-v2", QK_CHECKPOINT_GPTQ_V2},
                 {"awq", QK_CHECKPOINT_AWQ},
                 {"compressed-tensors", QK_CHECKPOINT_COMPRESSED_TENSORS},
                 {"compressed_tensors", QK_CHECKPOINT_COMPRESSED_TENSORS},
                 {"ct", QK_CHECKPOINT_COMPRESSED_TENSORS}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].format;
            return QK_OK;
        }
    return qk_error_set(QK_ERR_INVALID_ARG,
                        "checkpoint format '%s': expected gptq, gptq_v2, awq or "
                        "compressed-tensors",
                        name ? name : "(null)");
}

void qk_checkpoint_config_init(qk_checkpoint_config *c, qk_checkpoint_format format) {
    memset(c, 0, sizeof *c);
    c->format = format;
    c->bits = 4;
    c->group_size = 128;
    c->symmetric = format == QK_CHECKPOINT_COMPRESSED_TENSORS;
    c->damp_percent = 0.01;
    c->true_sequential = true;
}

qk_status qk_checkpoint_config_check(const qk_checkpoint_config *c) {
    if (!c) return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint config: NULL");
    const char *fmt = qk_checkpoint_format_name(c->format);
    switch (c->format) {
    case QK_CHECKPOINT_GPTQ:
    case QK_CHECKPOINT_GPTQ_V2:
        if (c->bits != 2 && c->bits != 3 && c->bits != 4 && c->bits != 8)
            return qk_error_set(QK_ERR_INVALID_ARG, "%s checkpoint: bits %d (2, 3, 4 or 8)", fmt,
                                c->bits);
        break;
    case QK_CHECKPOINT_AWQ:
        if (c->bits != 4)
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "awq checkpoint: bits %d (AutoAWQ GEMM is 4-bit)", c->bits);
        if (c->desc_act)
            return qk_error_set(QK_ERR_INVALID_ARG, "awq checkpoint: no act-order (desc_act)");
        break;
    case QK_CHECKPOINT_COMPRESSED_TENSORS:
        if (c->bits < 2 || c->bits > 8)
            return qk_error_set(QK_ERR_INVALID_ARG, "compressed-tensors checkpoint: bits %d (2..8)",
                                c->bits);
        break;
    default:
        return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint format id %d", (int)c->format);
    }
    if (c->group_size == 0 || c->group_size < -1)
        return qk_error_set(QK_ERR_INVALID_ARG,
                            "%s checkpoint: group_size %d (positive, or -1 per channel)", fmt,
                            c->group_size);
    return QK_OK;
}

int64_t qk_ckpt_n_groups(const qk_checkpoint_config *c, int64_t cols) {
    if (c->group_size <= 0 || c->group_size >= cols) return 1;
    return (cols + c->group_size - 1) / c->group_size;
}

int32_t qk_ckpt_group_size(const qk_checkpoint_config *c, int64_t cols) {
    if (c->group_size <= 0 || c->group_size >= cols) return (int32_t)cols;
    return c->group_size;
}

static void spec(ckpt_part_spec *p, const char *suffix, qk_type type, int32_t ndim, int64_t d0,
                 int64_t d1) {
    p->present = true;
    p->suffix = suffix;
    p->type = type;
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = d1;
}

qk_status qk_ckpt_layout(const qk_checkpoint_config *c, int64_t rows, int64_t cols,
                         ckpt_part_spec parts[CKPT_PARTS]) {
    memset(parts, 0, CKPT_PARTS * sizeof *parts);
    qk_status st = qk_checkpoint_config_check(c);
    if (st != QK_OK) return st;
    const char *fmt = qk_checkpoint_format_name(c->format);
    if (rows <= 0 || cols <= 0 || rows > INT32_MAX || cols > INT32_MAX)
        return qk_error_set(QK_ERR_SHAPE, "%s: linear %lld x %lld", fmt, (long long)rows,
                            (long long)cols);
    const int64_t b = c->bits, groups = qk_ckpt_n_groups(c, cols);
    switch (c->format) {
    case QK_CHECKPOINT_GPTQ:
    case QK_CHECKPOINT_GPTQ_V2:
        /* AutoGPTQ allocates qweight [in // 32 * bits, out], qzeros [groups, out // 32 * bits] */
        if (rows % 32 != 0 || cols % 32 != 0)
            return qk_error_set(QK_ERR_SHAPE,
                                "%s: a %lld x %lld linear: AutoGPTQ needs rows and columns that "
                                "are multiples of 32",
                                fmt, (long long)rows, (long long)cols);
        spec(&parts[CKPT_WEIGHT], "qweight", QK_TYPE_I32, 2, cols / 32 * b, rows);
        spec(&parts[CKPT_ZEROS], "qzeros", QK_TYPE_I32, 2, groups, rows / 32 * b);
        spec(&parts[CKPT_SCALES], "scales", QK_TYPE_F16, 2, groups, rows);
        spec(&parts[CKPT_G_IDX], "g_idx", QK_TYPE_I32, 1, cols, 0);
        break;
    case QK_CHECKPOINT_AWQ:
        if (rows % 8 != 0 || cols % qk_ckpt_group_size(c, cols) != 0)
            return qk_error_set(QK_ERR_SHAPE,
                                "awq: a %lld x %lld linear: AutoAWQ GEMM needs rows a multiple of "
                                "8 and columns a multiple of the group size %d",
                                (long long)rows, (long long)cols, qk_ckpt_group_size(c, cols));
        spec(&parts[CKPT_WEIGHT], "qweight", QK_TYPE_I32, 2, cols, rows / 8);
        spec(&parts[CKPT_ZEROS], "qzeros", QK_TYPE_I32, 2, groups, rows / 8);
        spec(&parts[CKPT_SCALES], "scales", QK_TYPE_F16, 2, groups, rows);
        break;
    case QK_CHECKPOINT_COMPRESSED_TENSORS: {
        const int64_t pf = 32 / b; /* codes per word */
        spec(&parts[CKPT_WEIGHT], "weight_packed", QK_TYPE_I32, 2, rows, (cols + pf - 1) / pf);
        spec(&parts[CKPT_SCALES], "weight_scale", QK_TYPE_F16, 2, rows, groups);
        if (!c->symmetric)
            spec(&parts[CKPT_ZEROS], "weight_zero_point", QK_TYPE_I32, 2, (rows + pf - 1) / pf,
                 groups);
        if (c->desc_act) spec(&parts[CKPT_G_IDX], "weight_g_idx", QK_TYPE_I32, 1, cols, 0);
        spec(&parts[CKPT_SHAPE], "weight_shape", QK_TYPE_I64, 1, 2, 0);
        break;
    }
    }
    return QK_OK;
}

qk_status qk_checkpoint_check_linear(const qk_checkpoint_config *c, const qk_quantized_linear *q) {
    if (!c || !q || !q->codes || !q->scales || !q->zeros)
        return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint linear: NULL");
    ckpt_part_spec parts[CKPT_PARTS];
    qk_status st = qk_ckpt_layout(c, q->rows, q->cols, parts);
    if (st != QK_OK) return st;
    const char *fmt = qk_checkpoint_format_name(c->format);
    const int64_t rows = q->rows, cols = q->cols, groups = qk_ckpt_n_groups(c, cols);
    if (q->bits != c->bits)
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: a %d-bit linear in a %d-bit checkpoint", fmt,
                            q->bits, c->bits);
    if (q->n_groups != groups || q->group_size != qk_ckpt_group_size(c, cols))
        return qk_error_set(
            QK_ERR_INVALID_ARG,
            "%s: linear %lld x %lld has %lld groups of %d columns; the checkpoint's "
            "group size %d gives %lld groups of %d",
            fmt, (long long)rows, (long long)cols, (long long)q->n_groups, q->group_size,
            c->group_size, (long long)groups, qk_ckpt_group_size(c, cols));
    const uint32_t maxq = (1u << q->bits) - 1;
    for (int64_t i = 0; i < rows * cols; i++)
        if (q->codes[i] > maxq)
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "%s: code %u at row %lld, column %lld exceeds %d bits", fmt,
                                q->codes[i], (long long)(i / cols), (long long)(i % cols), q->bits);
    /* v1 stores zero - 1 in `bits` bits: zeros 1 .. 2^bits */
    const int64_t zmin = c->format == QK_CHECKPOINT_GPTQ ? 1 : 0;
    const int64_t zmax = c->format == QK_CHECKPOINT_GPTQ ? (int64_t)maxq + 1 : (int64_t)maxq;
    const int32_t mid = 1 << (q->bits - 1);
    for (int64_t g = 0; g < groups; g++)
        for (int64_t r = 0; r < rows; r++) {
            const size_t k = (size_t)(g * rows + r);
            const int32_t z = q->zeros[k];
            if (z < zmin || z > zmax)
                return qk_error_set(
                    QK_ERR_INVALID_ARG,
                    "%s: zero point %d of group %lld, row %lld is outside %lld..%lld%s", fmt, z,
                    (long long)g, (long long)r, (long long)zmin, (long long)zmax,
                    z == 0 && c->format == QK_CHECKPOINT_GPTQ
                        ? " (GPTQ v1 stores zero - 1; write gptq_v2 instead)"
                        : "");
            if (c->symmetric && z != mid)
                return qk_error_set(QK_ERR_INVALID_ARG,
                                    "%s: symmetric checkpoint, but group %lld, row %lld has zero "
                                    "point %d (not %d)",
                                    fmt, (long long)g, (long long)r, z, mid);
            const float s = q->scales[k];
            if (!isfinite(s) || !isfinite(qk_f16_to_f32(qk_f32_to_f16(s))))
                return qk_error_set(
                    QK_ERR_OVERFLOW,
                    "%s: scale %g of group %lld, row %lld is not a finite f16 value", fmt,
                    (double)s, (long long)g, (long long)r);
        }
    if (q->g_idx) {
        bool trivial = true;
        for (int64_t col = 0; col < cols; col++) {
            const int32_t g = q->g_idx[col];
            if (g < 0 || g >= groups)
                return qk_error_set(QK_ERR_INVALID_ARG, "%s: g_idx[%lld] = %d is outside 0..%lld",
                                    fmt, (long long)col, g, (long long)groups - 1);
            if (g != col / q->group_size) trivial = false;
        }
        if (!trivial && !c->desc_act)
            return qk_error_set(QK_ERR_INVALID_ARG,
                                "%s: the linear has an act-order g_idx but the checkpoint config "
                                "has no desc_act%s",
                                fmt, c->format == QK_CHECKPOINT_AWQ ? " (AWQ has none)" : "");
    }
    return QK_OK;
}

qk_status qk_checkpoint_round_scales(qk_quantized_linear *q) {
    if (!q || !q->scales) return qk_error_set(QK_ERR_INVALID_ARG, "round scales: NULL");
    for (int64_t i = 0; i < q->n_groups * q->rows; i++) {
        const float r = qk_f16_to_f32(qk_f32_to_f16(q->scales[i]));
        if (!isfinite(r))
            return qk_error_set(
                QK_ERR_OVERFLOW, "scale %g of group %lld, row %lld is not a finite f16 value",
                (double)q->scales[i], (long long)(i / q->rows), (long long)(i % q->rows));
        q->scales[i] = r;
    }
    return QK_OK;
}

float qk_ckpt_load_scale(const qk_io_tensor *t, size_t i) {
    const unsigned char *p = t->data;
    if (t->type == QK_TYPE_F16) return qk_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
    if (t->type == QK_TYPE_BF16) return qk_bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
    float f;
    memcpy(&f, p + 4 * i, 4);
    return f;
}

int64_t qk_ckpt_load_int(const qk_io_tensor *t, size_t i) {
    if (t->type == QK_TYPE_I64) {
        int64_t v;
        memcpy(&v, (const unsigned char *)t->data + 8 * i, 8);
        return v;
    }
    return (int32_t)qk_ckpt_word(t, i);
}

qk_status qk_ckpt_encode(const qk_checkpoint_config *c, const qk_quantized_linear *q,
                         unsigned char *const bufs[CKPT_PARTS]) {
    const int64_t rows = q->rows, cols = q->cols, groups = q->n_groups;
    const bool ct = c->format == QK_CHECKPOINT_COMPRESSED_TENSORS;
    /* scales: f16, [groups, rows] (GPTQ, AWQ) or [rows, groups] (compressed-tensors) */
    for (int64_t g = 0; g < groups; g++)
        for (int64_t r = 0; r < rows; r++) {
            const uint16_t h = qk_f32_to_f16(q->scales[g * rows + r]);
            const size_t at = (size_t)(ct ? r * groups + g : g * rows + r);
            bufs[CKPT_SCALES][2 * at] = (unsigned char)h;
            bufs[CKPT_SCALES][2 * at + 1] = (unsigned char)(h >> 8);
        }
    if (bufs[CKPT_G_IDX])
        for (int64_t col = 0; col < cols; col++)
            qk_ckpt_put_word(bufs[CKPT_G_IDX], (size_t)col,
                             (uint32_t)qk_quantized_linear_group(q, col));
    if (bufs[CKPT_SHAPE]) {
        const int64_t shape[2] = {rows, cols};
        memcpy(bufs[CKPT_SHAPE], shape, sizeof shape); /* little-endian host (io/bytes.h) */
    }
    switch (c->format) {
    case QK_CHECKPOINT_GPTQ:
    case QK_CHECKPOINT_GPTQ_V2:
        return qk_ckpt_gptq_encode(c, q, bufs);
    case QK_CHECKPOINT_AWQ:
        return qk_ckpt_awq_encode(c, q, bufs);
    case QK_CHECKPOINT_COMPRESSED_TENSORS:
        return qk_ckpt_ct_encode(c, q, bufs);
    }
    return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint format id %d", (int)c->format);
}

qk_status qk_ckpt_decode(const qk_checkpoint_config *c, const qk_io_tensor *const parts[CKPT_PARTS],
                         int64_t rows, int64_t cols, const char *where, qk_quantized_linear *q) {
    const qk_io_tensor *gi = parts[CKPT_G_IDX];
    qk_status st = qk_quantized_linear_alloc(q, c->bits, qk_ckpt_group_size(c, cols), c->symmetric,
                                             rows, cols, gi != NULL);
    if (st != QK_OK) return qk_error_prefix("%s", where);
    const int64_t groups = q->n_groups;
    const bool ct = c->format == QK_CHECKPOINT_COMPRESSED_TENSORS;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t r = 0; r < rows; r++)
            q->scales[g * rows + r] = qk_ckpt_load_scale(
                parts[CKPT_SCALES], (size_t)(ct ? r * groups + g : g * rows + r));
    if (gi) {
        bool trivial = true;
        for (int64_t col = 0; col < cols; col++) {
            const int64_t g = qk_ckpt_load_int(gi, (size_t)col);
            if (g < 0 || g >= groups) {
                qk_quantized_linear_free(q);
                return qk_error_set(QK_ERR_CORRUPT, "%s: %s[%lld] = %lld is outside 0..%lld", where,
                                    gi->name, (long long)col, (long long)g, (long long)groups - 1);
            }
            q->g_idx[col] = (int32_t)g;
            if (g != col / q->group_size) trivial = false;
        }
        if (trivial) {
            free(q->g_idx);
            q->g_idx = NULL;
        }
    }
    switch (c->format) {
    case QK_CHECKPOINT_GPTQ:
    case QK_CHECKPOINT_GPTQ_V2:
        st = qk_ckpt_gptq_decode_codes(c, parts, q);
        break;
    case QK_CHECKPOINT_AWQ:
        st = qk_ckpt_awq_decode_codes(c, parts, q);
        break;
    case QK_CHECKPOINT_COMPRESSED_TENSORS:
        st = qk_ckpt_ct_decode_codes(c, parts, q);
        break;
    }
    if (st != QK_OK) {
        qk_quantized_linear_free(q);
        return qk_error_prefix("%s", where);
    }
    return QK_OK;
}

qk_status qk_ckpt_linear_copy(const qk_quantized_linear *in, qk_quantized_linear *out) {
    qk_status st = qk_quantized_linear_alloc(out, in->bits, in->group_size, in->symmetric, in->rows,
                                             in->cols, in->g_idx != NULL);
    if (st != QK_OK) return st;
    const size_t n = (size_t)(in->n_groups * in->rows);
    memcpy(out->codes, in->codes, (size_t)(in->rows * in->cols));
    memcpy(out->scales, in->scales, n * sizeof *out->scales);
    memcpy(out->zeros, in->zeros, n * sizeof *out->zeros);
    if (in->g_idx) memcpy(out->g_idx, in->g_idx, (size_t)in->cols * sizeof *out->g_idx);
    return QK_OK;
}

qk_status qk_ckpt_permute_rows(const qk_quantized_linear *in, const int64_t *from,
                               qk_quantized_linear *out) {
    qk_status st = qk_ckpt_linear_copy(in, out);
    if (st != QK_OK) return st;
    const int64_t rows = in->rows, cols = in->cols;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t f = from[r];
        memcpy(out->codes + r * cols, in->codes + f * cols, (size_t)cols);
        for (int64_t g = 0; g < in->n_groups; g++) {
            out->scales[g * rows + r] = in->scales[g * rows + f];
            out->zeros[g * rows + r] = in->zeros[g * rows + f];
        }
    }
    return QK_OK;
}
