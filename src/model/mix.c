/*
** Per-tensor storage types for a requested file type, after llama.cpp's
** llama-quantize (its llama_tensor_get_type rules for the llama
** architecture, dense models). See docs/QUANTIZE.md for the table.
*/
#include <regex.h>  /* regcomp, regexec */
#include <stdio.h>  /* sscanf */
#include <string.h> /* strcmp, strstr */
#include <strings.h>

#include "core/error.h"
#include "quantkit/mix.h"

typedef struct request_entry {
    const char *name;
    qk_ftype ftype;
    qk_type base;
    bool pure;
} request_entry;

static const request_entry REQUESTS[] = {
    {"f32", QK_FTYPE_ALL_F32, QK_TYPE_F32, false},
    {"f16", QK_FTYPE_MOSTLY_F16, QK_TYPE_F16, false},
    {"bf16", QK_FTYPE_MOSTLY_BF16, QK_TYPE_BF16, false},
    {"q8_0", QK_FTYPE_MOSTLY_Q8_0, QK_TYPE_Q8_0, false},
    {"q4_0", QK_FTYPE_MOSTLY_Q4_0, QK_TYPE_Q4_0, false},
    {"q4_1", QK_FTYPE_MOSTLY_Q4_1, QK_TYPE_Q4_1, false},
    {"q5_0", QK_FTYPE_MOSTLY_Q5_0, QK_TYPE_Q5_0, false},
    {"q5_1", QK_FTYPE_MOSTLY_Q5_1, QK_TYPE_Q5_1, false},
    {"q2_k", QK_FTYPE_MOSTLY_Q2_K, QK_TYPE_Q2_K, false},
    {"q3_k_s", QK_FTYPE_MOSTLY_Q3_K_S, QK_TYPE_Q3_K, false},
    {"q3_k_m", QK_FTYPE_MOSTLY_Q3_K_M, QK_TYPE_Q3_K, false},
    {"q3_k_l", QK_FTYPE_MOSTLY_Q3_K_L, QK_TYPE_Q3_K, false},
    {"q4_k_s", QK_FTYPE_MOSTLY_Q4_K_S, QK_TYPE_Q4_K, false},
    {"q4_k_m", QK_FTYPE_MOSTLY_Q4_K_M, QK_TYPE_Q4_K, false},
    {"q5_k_s", QK_FTYPE_MOSTLY_Q5_K_S, QK_TYPE_Q5_K, false},
    {"q5_k_m", QK_FTYPE_MOSTLY_Q5_K_M, QK_TYPE_Q5_K, false},
    {"q6_k", QK_FTYPE_MOSTLY_Q6_K, QK_TYPE_Q6_K, false},
    {"iq4_nl", QK_FTYPE_MOSTLY_IQ4_NL, QK_TYPE_IQ4_NL, false},
    /* single K types: every quantizable tensor in that type */
    {"q3_k", QK_FTYPE_MOSTLY_Q3_K_S, QK_TYPE_Q3_K, true},
    {"q4_k", QK_FTYPE_MOSTLY_Q4_K_S, QK_TYPE_Q4_K, true},
    {"q5_k", QK_FTYPE_MOSTLY_Q5_K_S, QK_TYPE_Q5_K, true},
};
#define N_REQUESTS (sizeof REQUESTS / sizeof REQUESTS[0])

const char *const *qk_type_request_names(void) {
    static const char *names[N_REQUESTS + 1];
    for (size_t i = 0; i < N_REQUESTS; i++) names[i] = REQUESTS[i].name;
    names[N_REQUESTS] = NULL;
    return names;
}

qk_status qk_type_request_parse(const char *name, qk_type_request *out) {
    if (!name || !out) return qk_error_set(QK_ERR_INVALID_ARG, "type request: NULL argument");
    for (size_t i = 0; i < N_REQUESTS; i++) {
        if (strcasecmp(name, REQUESTS[i].name) == 0) {
            out->ftype = REQUESTS[i].ftype;
            out->base = REQUESTS[i].base;
            out->pure = REQUESTS[i].pure;
            out->name = REQUESTS[i].name;
            return QK_OK;
        }
    }
    return qk_error_set(QK_ERR_UNKNOWN_TYPE,
                        "unknown --type '%s' (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k "
                        "q3_k_s q3_k_m q3_k_l q4_k q4_k_s q4_k_m q5_k q5_k_s q5_k_m q6_k iq4_nl)",
                        name);
}

uint32_t qk_ftype_file_value(const qk_type_request *req) {
    return (uint32_t)req->ftype;
}

void qk_mix_options_init(qk_mix_options *opt, const qk_type_request *req) {
    memset(opt, 0, sizeof *opt);
    opt->request = *req;
    opt->quantize_output = true;
    opt->token_embd_type = -1;
    opt->output_type = -1;
}

const char *qk_mix_reason_name(qk_mix_reason r) {
    switch (r) {
    case QK_MIX_KEEP:
        return "kept";
    case QK_MIX_BASE:
        return "base";
    case QK_MIX_RULE:
        return "mix rule";
    case QK_MIX_OUTPUT:
        return "output rule";
    case QK_MIX_OVERRIDE:
        return "override";
    case QK_MIX_FALLBACK:
        return "fallback";
    case QK_MIX_EXPLICIT:
        return "explicit";
    }
    return "?";
}

/* llama.cpp's "use more bits" layers: the first and last eighth, and every
** third layer in between. */
static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static bool is_quantizable(const char *name, int32_t ndim, bool quantize_output) {
    if (ndim < 2) return false;
    if (!ends_with(name, "weight")) return false;
    if (strstr(name, "_norm.weight")) return false;
    if (!quantize_output && strcmp(name, "output.weight") == 0) return false;
    return true;
}

/* A block type's replacement when the row length is not a multiple of its
** block: the 256-wide K types fall back to 32-wide types of similar size,
** and anything else that still does not fit goes to f16. */
static qk_type fallback_type(qk_type t) {
    switch (t) {
    case QK_TYPE_Q2_K:
    case QK_TYPE_Q3_K:
        return QK_TYPE_Q4_0;
    case QK_TYPE_Q4_K:
        return QK_TYPE_Q5_0;
    case QK_TYPE_Q5_K:
        return QK_TYPE_Q5_1;
    case QK_TYPE_Q6_K:
        return QK_TYPE_Q8_0;
    default:
        return QK_TYPE_F16;
    }
}

/* The llama.cpp rules: `t` starts as the base type. */
static qk_type apply_rules(const qk_mix_options *opt, const qk_mix_model *m, const char *name,
                           int layer, qk_type t, int64_t row_len, qk_mix_reason *reason) {
    const qk_ftype f = opt->request.ftype;
    const int n = m->n_layer;
    const bool is_output = strcmp(name, "output.weight") == 0;
    const bool is_embd = strcmp(name, "token_embd.weight") == 0;
    qk_type base = t;
    if (is_output || (m->tied_output && is_embd)) {
        *reason = QK_MIX_OUTPUT;
        const qk_type_traits *tr = qk_type_get_traits(t);
        if (row_len % tr->block_elems != 0) return QK_TYPE_Q8_0;
        if (t != QK_TYPE_Q8_0) return QK_TYPE_Q6_K;
        return t;
    }
    if (is_embd) return t;
    qk_type r = t;
    if (strstr(name, "attn_v.weight")) {
        if (f == QK_FTYPE_MOSTLY_Q2_K)
            r = m->n_gqa >= 4 ? QK_TYPE_Q4_K : QK_TYPE_Q3_K;
        else if (f == QK_FTYPE_MOSTLY_Q3_K_M)
            r = layer < 2 ? QK_TYPE_Q5_K : QK_TYPE_Q4_K;
        else if (f == QK_FTYPE_MOSTLY_Q3_K_L)
            r = QK_TYPE_Q5_K;
        else if (f == QK_FTYPE_MOSTLY_IQ4_NL && m->n_gqa >= 4)
            r = QK_TYPE_Q5_K;
        else if ((f == QK_FTYPE_MOSTLY_Q4_K_M || f == QK_FTYPE_MOSTLY_Q5_K_M) &&
                 use_more_bits(layer, n))
            r = QK_TYPE_Q6_K;
        else if (f == QK_FTYPE_MOSTLY_Q4_K_S && layer < 4)
            r = QK_TYPE_Q5_K;
    } else if (strstr(name, "ffn_down")) {
        if (f == QK_FTYPE_MOSTLY_Q2_K)
            r = QK_TYPE_Q3_K;
        else if (f == QK_FTYPE_MOSTLY_Q3_K_M)
            r = layer < n / 16 ? QK_TYPE_Q5_K : QK_TYPE_Q4_K;
        else if (f == QK_FTYPE_MOSTLY_Q3_K_L)
            r = QK_TYPE_Q5_K;
        else if (f == QK_FTYPE_MOSTLY_Q4_K_M) {
            if (use_more_bits(layer, n)) r = QK_TYPE_Q6_K;
        } else if (layer < n / 8 && f == QK_FTYPE_MOSTLY_IQ4_NL && !opt->has_imatrix)
            r = QK_TYPE_Q5_K;
        else if (f == QK_FTYPE_MOSTLY_Q5_K_M && use_more_bits(layer, n))
            r = QK_TYPE_Q6_K;
        else if (f == QK_FTYPE_MOSTLY_Q4_K_S && layer < n / 8)
            r = QK_TYPE_Q5_K;
        else if ((f == QK_FTYPE_MOSTLY_Q4_0 || f == QK_FTYPE_MOSTLY_Q5_0) && opt->has_imatrix &&
                 layer < n / 8)
            r = f == QK_FTYPE_MOSTLY_Q4_0 ? QK_TYPE_Q4_1 : QK_TYPE_Q5_1;
    } else if (strstr(name, "attn_output.weight")) {
        if (f == QK_FTYPE_MOSTLY_Q2_K)
            r = QK_TYPE_Q3_K;
        else if (f == QK_FTYPE_MOSTLY_Q3_K_M)
            r = QK_TYPE_Q4_K;
        else if (f == QK_FTYPE_MOSTLY_Q3_K_L)
            r = QK_TYPE_Q5_K;
    }
    if (r != base) *reason = QK_MIX_RULE;
    return r;
}

static int layer_of(const char *name) {
    int layer = -1;
    if (sscanf(name, "blk.%d.", &layer) != 1) return -1;
    return layer;
}

qk_status qk_mix_choose(const qk_mix_options *opt, const qk_mix_model *m, const char *name,
                        qk_type stored, int32_t ndim, const int64_t *shape, qk_type *out_type,
                        qk_mix_reason *out_reason) {
    if (!opt || !m || !name || !out_type || (ndim > 0 && !shape))
        return qk_error_set(QK_ERR_INVALID_ARG, "mix: NULL argument");
    qk_mix_reason reason = QK_MIX_BASE;
    qk_type t = opt->request.base;
    const qk_type_traits *stored_traits = qk_type_get_traits(stored);
    /* 1-D tensors (norms, biases) and other non-weights are kept, floats as
    ** f32 (as llama.cpp keeps norms); integer tensors as stored */
    if (!stored_traits || !is_quantizable(name, ndim, opt->quantize_output) ||
        (!stored_traits->is_float && !stored_traits->is_block)) {
        *out_type = stored_traits && stored_traits->is_float ? QK_TYPE_F32 : stored;
        if (out_reason) *out_reason = QK_MIX_KEEP;
        return QK_OK;
    }
    const int64_t row_len = shape[ndim - 1];
    const bool is_embd = strcmp(name, "token_embd.weight") == 0;
    const bool is_output = strcmp(name, "output.weight") == 0;
    bool manual = false;
    if (is_embd && opt->token_embd_type >= 0) {
        t = (qk_type)opt->token_embd_type;
        reason = QK_MIX_OVERRIDE;
        manual = true;
    } else if (is_output && opt->output_type >= 0) {
        t = (qk_type)opt->output_type;
        reason = QK_MIX_OVERRIDE;
        manual = true;
    }
    const qk_type_traits *base_traits = qk_type_get_traits(t);
    const bool quantized_target = base_traits && base_traits->is_block;
    if (!manual && quantized_target) {
        for (size_t i = 0; i < opt->n_overrides; i++) {
            regex_t re;
            int rc = regcomp(&re, opt->overrides[i].pattern, REG_EXTENDED | REG_NOSUB);
            if (rc != 0)
                return qk_error_set(QK_ERR_INVALID_ARG,
                                    "--tensor-type: bad regular expression '%s'",
                                    opt->overrides[i].pattern);
            bool match = regexec(&re, name, 0, NULL, 0) == 0;
            regfree(&re);
            if (match) {
                t = opt->overrides[i].type;
                reason = QK_MIX_OVERRIDE;
                manual = true;
                break;
            }
        }
        if (!manual && !opt->request.pure)
            t = apply_rules(opt, m, name, layer_of(name), t, row_len, &reason);
    }
    /* shape fallback */
    const qk_type_traits *tt = qk_type_get_traits(t);
    if (!tt)
        return qk_error_set(QK_ERR_UNKNOWN_TYPE, "mix: tensor '%s': bad type id %d", name, (int)t);
    if (row_len % tt->block_elems != 0) {
        t = fallback_type(t);
        reason = QK_MIX_FALLBACK;
        if (row_len % qk_type_get_traits(t)->block_elems != 0) t = QK_TYPE_F16;
    }
    *out_type = t;
    if (out_reason) *out_reason = reason;
    return QK_OK;
}
