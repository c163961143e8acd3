/*
** Simulated weight formats: quantize-dequantize a weight matrix in place in
** one of the formats quantkit writes (affine groups as GPTQ/AWQ
** checkpoints, bitsandbytes 4-bit blockwise, llama.cpp block types).
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/algo.h"
#include "quantkit/ggml.h"

/* ---- parsing ----------------------------------------------------------- */

/* "w4g128", "w4", "w4g128s", "w3g64sym" */
static bool parse_affine(const char *s, qk_weight_format *f) {
    if (s[0] != 'w' && s[0] != 'W') return false;
    char *end;
    long bits = strtol(s + 1, &end, 10);
    if (end == s + 1 || bits < 2 || bits > 8) return false;
    long group = 0;
    if (*end == 'g' || *end == 'G') {
        const char *g = end + 1;
        group = strtol(g, &end, 10);
        if (end == g || group <= 0 || group > (1L << 30)) return false;
    }
    bool sym = false;
    if (strcmp(end, "s") == 0 || strcmp(end, "sym") == 0)
        sym = true;
    else if (*end != '\0' && strcmp(end, "a") != 0 && strcmp(end, "asym") != 0)
        return false;
    f->kind = QK_WFORMAT_AFFINE;
    f->bits = (int32_t)bits;
    f->group_size = (int32_t)group;
    f->symmetric = sym;
    return true;
}

/* "nf4" (block 64, double quant), "nf4b128", "nf4nodq", "fp4", "fp4b64nodq" */
static bool parse_blockwise(const char *s, qk_weight_format *f) {
    qk_codebook cb;
    if (strncmp(s, "nf4", 3) == 0)
        cb = QK_CODEBOOK_NF4;
    else if (strncmp(s, "fp4", 3) == 0)
        cb = QK_CODEBOOK_FP4_BNB;
    else
        return false;
    const char *p = s + 3;
    long block = QK_BLOCKWISE_DEFAULT_BLOCK;
    bool dq = true;
    if (*p == 'b') {
        char *end;
        block = strtol(p + 1, &end, 10);
        if (end == p + 1) return false;
        p = end;
    }
    if (strcmp(p, "nodq") == 0)
        dq = false;
    else if (*p != '\0')
        return false;
    if (block < 32 || block > 4096 || (block & (block - 1)) != 0) return false;
    f->kind = QK_WFORMAT_BLOCKWISE;
    f->blockwise.codebook = cb;
    f->blockwise.block_size = (int32_t)block;
    f->blockwise.double_quant = dq;
    return true;
}

qk_status qk_weight_format_parse(const char *spec, qk_weight_format *out) {
    if (!spec || !out) return qk_error_set(QK_ERR_INVALID_ARG, "weight format: NULL argument");
    memset(out, 0, sizeof *out);
    char low[64];
    size_t n = strlen(spec);
    if (n == 0 || n >= sizeof low)
        return qk_error_set(QK_ERR_INVALID_ARG, "weight format '%s': empty or too long", spec);
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)spec[i]);
    if (parse_affine(low, out) || parse_blockwise(low, out)) return QK_OK;
    qk_type t;
    if (qk_type_from_name(low, &t) == QK_OK) {
        const qk_type_traits *tr = qk_type_get_traits(t);
        if (tr &&
            (tr->is_block || t == QK_TYPE_F16 || t == QK_TYPE_BF16 || t == QK_TYPE_F32 ||
             t == QK_TYPE_F8_E4M3 || t == QK_TYPE_F8_E5M2) &&
            t != QK_TYPE_Q8_1 && t != QK_TYPE_Q8_K) {
            out->kind = QK_WFORMAT_GGML;
            out->ggml_type = t;
            return QK_OK;
        }
    }
    qk_clear_error();
    return qk_error_set(QK_ERR_INVALID_ARG,
                        "weight format '%s' unknown (wBITSgGROUP like w4g128, nf4, fp4, or a "
                        "ggml type like q4_0, q4_k)",
                        spec);
}

const char *qk_weight_format_name(const qk_weight_format *f, char *buf, size_t size) {
    if (!buf || size == 0) return "";
    switch (f->kind) {
    case QK_WFORMAT_AFFINE:
        if (f->group_size > 0)
            snprintf(buf, size, "w%dg%d%s", f->bits, f->group_size, f->symmetric ? "s" : "");
        else
            snprintf(buf, size, "w%d%s", f->bits, f->symmetric ? "s" : "");
        break;
    case QK_WFORMAT_BLOCKWISE:
        if (f->blockwise.block_size == QK_BLOCKWISE_DEFAULT_BLOCK)
            snprintf(buf, size, "%s%s", qk_codebook_name(f->blockwise.codebook),
                     f->blockwise.double_quant ? "" : "nodq");
        else
            snprintf(buf, size, "%sb%d%s", qk_codebook_name(f->blockwise.codebook),
                     f->blockwise.block_size, f->blockwise.double_quant ? "" : "nodq");
        break;
    case QK_WFORMAT_GGML:
        snprintf(buf, size, "%s", qk_type_name(f->ggml_type));
        break;
    default:
        snprintf(buf, size, "?");
        break;
    }
    return buf;
}

int32_t qk_weight_format_group(const qk_weight_format *f, int64_t cols) {
    int64_t g = cols;
    switch (f->kind) {
    case QK_WFORMAT_AFFINE:
        if (f->group_size > 0) g = f->group_size;
        break;
    case QK_WFORMAT_BLOCKWISE:
        g = f->blockwise.block_size;
        break;
    case QK_WFORMAT_GGML:
        switch (f->ggml_type) {
        /* K-quants: the sub-block that owns a scale */
        case QK_TYPE_Q2_K:
        case QK_TYPE_Q3_K:
        case QK_TYPE_Q6_K:
            g = 16;
            break;
        case QK_TYPE_Q4_K:
        case QK_TYPE_Q5_K:
            g = 32;
            break;
        default: {
            const qk_type_traits *tr = qk_type_get_traits(f->ggml_type);
            g = tr && tr->is_block ? tr->block_elems : cols;
        }
        }
        break;
    }
    if (g > cols) g = cols;
    if (g < 1) g = 1;
    return g > INT32_MAX ? INT32_MAX : (int32_t)g;
}

/* ---- quantize-dequantize ----------------------------------------------- */

static qk_status qdq_affine(const qk_weight_format *f, float *w, int64_t rows, int64_t cols) {
    qk_affine_scheme scheme = qk_affine_scheme_default(f->bits, f->symmetric);
    /* GPTQ's grid is unsigned in both cases: symmetric means zero 2^(b-1) */
    scheme.range = QK_QRANGE_UNSIGNED;
    const int64_t g = f->group_size > 0 && f->group_size < cols ? f->group_size : cols;
    qk_status status = QK_OK;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 16))
    for (int64_t r = 0; r < rows; r++) {
        uint8_t codes[4096];
        float *row = w + (size_t)r * (size_t)cols;
        for (int64_t c0 = 0; c0 < cols; c0 += g) {
            const int64_t n = cols - c0 < g ? cols - c0 : g;
            qk_affine_params p;
            qk_status st = qk_affine_span_params(row + c0, (size_t)n, &scheme, &p);
            for (int64_t k = 0; st == QK_OK && k < n; k += (int64_t)sizeof codes) {
                const size_t m =
                    (size_t)(n - k < (int64_t)sizeof codes ? n - k : (int64_t)sizeof codes);
                st = qk_affine_quantize_span(row + c0 + k, m, &p, QK_ROUND_NEAREST_EVEN, 0, 0,
                                             codes);
                if (st == QK_OK) st = qk_affine_dequantize_span(codes, m, &p, row + c0 + k);
            }
            if (st != QK_OK) {
#pragma omp critical(qk_qdq_status)
                status = st;
                break;
            }
        }
    }
    if (status != QK_OK) return qk_error_prefix("affine w%d quantize-dequantize", f->bits);
    return QK_OK;
}

static qk_status qdq_blockwise(const qk_weight_format *f, float *w, int64_t rows, int64_t cols) {
    size_t n;
    if (!qk_mul_size((size_t)rows, (size_t)cols, &n))
        return qk_error_set(QK_ERR_OVERFLOW, "blockwise quantize-dequantize: %lld x %lld",
                            (long long)rows, (long long)cols);
    qk_blockwise_tensor q;
    qk_status st = qk_blockwise_quantize(w, n, &f->blockwise, &q);
    if (st != QK_OK) return st;
    st = qk_blockwise_dequantize(&q, w, n);
    qk_blockwise_tensor_free(&q);
    return st;
}

static qk_status qdq_ggml(const qk_weight_format *f, float *w, int64_t rows, int64_t cols) {
    size_t row_bytes;
    qk_status st = qk_type_row_bytes(f->ggml_type, cols, &row_bytes);
    if (st != QK_OK)
        return qk_error_prefix("%s quantize-dequantize of %lld columns", qk_type_name(f->ggml_type),
                               (long long)cols);
    size_t total;
    if (!qk_mul_size(row_bytes, (size_t)rows, &total))
        return qk_error_set(QK_ERR_OVERFLOW, "%s quantize-dequantize: %lld rows",
                            qk_type_name(f->ggml_type), (long long)rows);
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf) return qk_error_set(QK_ERR_NOMEM, "quantize-dequantize: no memory");
    st = qk_quantize_rows(f->ggml_type, w, buf, rows, cols, NULL);
    for (int64_t r = 0; st == QK_OK && r < rows; r++)
        st = qk_dequantize_row(f->ggml_type, buf + (size_t)r * row_bytes, w + (size_t)r * cols,
                               cols);
    free(buf);
    return st;
}

qk_status qk_weight_format_qdq(const qk_weight_format *f, float *w, int64_t rows, int64_t cols) {
    if (!f || (!w && rows * cols > 0))
        return qk_error_set(QK_ERR_INVALID_ARG, "quantize-dequantize: NULL argument");
    if (rows < 0 || cols <= 0)
        return qk_error_set(QK_ERR_SHAPE, "quantize-dequantize: %lld x %lld", (long long)rows,
                            (long long)cols);
    switch (f->kind) {
    case QK_WFORMAT_AFFINE:
        return qdq_affine(f, w, rows, cols);
    case QK_WFORMAT_BLOCKWISE:
        return qdq_blockwise(f, w, rows, cols);
    case QK_WFORMAT_GGML:
        return qdq_ggml(f, w, rows, cols);
    }
    return qk_error_set(QK_ERR_INVALID_ARG, "quantize-dequantize: unknown format kind %d",
                        (int)f->kind);
}

qk_status qk_weight_format_qdq_callback(void *user, int32_t layer, qk_llama_linear which, float *w,
                                        int64_t rows, int64_t cols) {
    (void)layer;
    (void)which;
    return qk_weight_format_qdq(user, w, rows, cols);
}
