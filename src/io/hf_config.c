/*
** Hugging Face config.json for the Llama family (see quantkit/io.h).
** Defaults are transformers' LlamaConfig / MistralConfig / Qwen2Config
** defaults where the file leaves a field out.
*/
#include <jansson.h>  /* json_loadb */
#include <math.h>     /* isfinite, floor */
#include <stdio.h>    /* snprintf */
#include <string.h>   /* strcmp */
#include <sys/stat.h> /* stat */

#include "core/error.h"
#include "quantkit/io.h"

/* Copy a JSON string into a fixed buffer; false when it does not fit. */
static bool copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* Optional integer field: integers, or reals holding an integral value. */
static qk_status get_int(const json_t *root, const char *src, const char *key, bool required,
                         int64_t fallback, int64_t *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return qk_error_set(QK_ERR_CONFIG, "%s: missing \"%s\"", src, key);
        *out = fallback;
        return QK_OK;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return QK_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 9.0e15) {
            *out = (int64_t)d;
            return QK_OK;
        }
    }
    return qk_error_set(QK_ERR_CONFIG, "%s: \"%s\" is not an integer", src, key);
}

static qk_status get_num(const json_t *obj, const char *src, const char *key, double fallback,
                         double *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = fallback;
        return QK_OK;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return qk_error_set(QK_ERR_CONFIG, "%s: \"%s\" is not a finite number", src, key);
    *out = json_number_value(v);
    return QK_OK;
}

static qk_status get_bool(const json_t *root, const char *src, const char *key, bool fallback,
                          bool *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = fallback;
        return QK_OK;
    }
    if (!json_is_boolean(v))
        return qk_error_set(QK_ERR_CONFIG, "%s: \"%s\" is not true or false", src, key);
    *out = json_is_true(v);
    return QK_OK;
}

static qk_status get_string(const json_t *root, const char *src, const char *key, char *dst,
                            size_t cap) {
    json_t *v = json_object_get(root, key);
    dst[0] = '\0';
    if (!v || json_is_null(v)) return QK_OK;
    if (!json_is_string(v))
        return qk_error_set(QK_ERR_CONFIG, "%s: \"%s\" is not a string", src, key);
    if (!copy_str(dst, cap, json_string_value(v)))
        return qk_error_set(QK_ERR_CONFIG, "%s: \"%s\" is longer than %zu bytes", src, key,
                            cap - 1);
    return QK_OK;
}

/* bos/eos: an integer, a list of integers (the first is kept), or null. */
static qk_status get_token_ids(const json_t *root, const char *src, const char *key, int64_t *first,
                               int32_t *count) {
    json_t *v = json_object_get(root, key);
    *first = -1;
    if (count) *count = 0;
    if (!v || json_is_null(v)) return QK_OK;
    if (json_is_integer(v)) {
        *first = json_integer_value(v);
        if (count) *count = 1;
        return QK_OK;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_integer(e))
                return qk_error_set(QK_ERR_CONFIG, "%s: \"%s\"[%zu] is not an integer", src, key,
                                    i);
        }
        if (json_array_size(v) > 0) *first = json_integer_value(json_array_get(v, 0));
        if (count) *count = (int32_t)json_array_size(v);
        return QK_OK;
    }
    return qk_error_set(QK_ERR_CONFIG, "%s: \"%s\" is not a token id or a list of them", src, key);
}

static qk_status parse_rope_scaling(const json_t *root, const char *src, qk_hf_rope_scaling *rs) {
    memset(rs, 0, sizeof *rs);
    json_t *v = json_object_get(root, "rope_scaling");
    if (!v || json_is_null(v)) return QK_OK;
    if (!json_is_object(v))
        return qk_error_set(QK_ERR_CONFIG, "%s: \"rope_scaling\" is not an object", src);
    rs->present = true;
    qk_status st = get_string(v, src, "rope_type", rs->type, sizeof rs->type);
    if (st == QK_OK && !rs->type[0]) st = get_string(v, src, "type", rs->type, sizeof rs->type);
    if (st == QK_OK) st = get_num(v, src, "factor", 0.0, &rs->factor);
    if (st == QK_OK) st = get_num(v, src, "low_freq_factor", 0.0, &rs->low_freq_factor);
    if (st == QK_OK) st = get_num(v, src, "high_freq_factor", 0.0, &rs->high_freq_factor);
    if (st == QK_OK)
        st = get_int(v, src, "original_max_position_embeddings", false, 0,
                     &rs->original_max_position_embeddings);
    return st;
}

static qk_status check_positive(const char *src, const char *key, int64_t v) {
    if (v <= 0 || v > INT32_MAX)
        return qk_error_set(QK_ERR_CONFIG, "%s: \"%s\" = %lld is not in 1..%d", src, key,
                            (long long)v, INT32_MAX);
    return QK_OK;
}

static qk_status parse_root(const json_t *root, const char *src, qk_hf_config *c) {
    if (!json_is_object(root)) return qk_error_set(QK_ERR_CONFIG, "%s: not a JSON object", src);
    json_t *archs = json_object_get(root, "architectures");
    if (archs && !json_is_null(archs)) {
        json_t *a0 = json_is_array(archs) ? json_array_get(archs, 0) : NULL;
        if (!json_is_string(a0) ||
            !copy_str(c->architecture, sizeof c->architecture, json_string_value(a0)))
            return qk_error_set(QK_ERR_CONFIG, "%s: \"architectures\" is not a list of names", src);
    }
    qk_status st = get_string(root, src, "model_type", c->model_type, sizeof c->model_type);
    if (st == QK_OK)
        st = get_string(root, src, "torch_dtype", c->torch_dtype, sizeof c->torch_dtype);
    if (st == QK_OK && !c->torch_dtype[0])
        st = get_string(root, src, "dtype", c->torch_dtype, sizeof c->torch_dtype);
    if (st != QK_OK) return st;

    if (strcmp(c->architecture, "LlamaForCausalLM") == 0 ||
        (!c->architecture[0] && strcmp(c->model_type, "llama") == 0))
        c->arch = QK_HF_ARCH_LLAMA;
    else if (strcmp(c->architecture, "MistralForCausalLM") == 0 ||
             (!c->architecture[0] && strcmp(c->model_type, "mistral") == 0))
        c->arch = QK_HF_ARCH_MISTRAL;
    else if (strcmp(c->architecture, "Qwen2ForCausalLM") == 0 ||
             (!c->architecture[0] && strcmp(c->model_type, "qwen2") == 0))
        c->arch = QK_HF_ARCH_QWEN2;
    else
        c->arch = QK_HF_ARCH_UNKNOWN;

    /* transformers' defaults per architecture */
    int64_t default_ctx = c->arch == QK_HF_ARCH_MISTRAL ? 131072
                          : c->arch == QK_HF_ARCH_QWEN2 ? 32768
                                                        : 2048;
    st = get_int(root, src, "hidden_size", true, 0, &c->hidden_size);
    if (st == QK_OK) st = get_int(root, src, "intermediate_size", true, 0, &c->intermediate_size);
    if (st == QK_OK) st = get_int(root, src, "num_hidden_layers", true, 0, &c->num_hidden_layers);
    if (st == QK_OK)
        st = get_int(root, src, "num_attention_heads", true, 0, &c->num_attention_heads);
    if (st == QK_OK) st = get_int(root, src, "vocab_size", true, 0, &c->vocab_size);
    if (st == QK_OK)
        st = get_int(root, src, "num_key_value_heads", false, c->num_attention_heads,
                     &c->num_key_value_heads);
    if (st == QK_OK)
        st = get_int(root, src, "max_position_embeddings", false, default_ctx,
                     &c->max_position_embeddings);
    if (st == QK_OK) st = get_int(root, src, "head_dim", false, 0, &c->head_dim);
    if (st == QK_OK) st = get_num(root, src, "rms_norm_eps", 1e-6, &c->rms_norm_eps);
    if (st == QK_OK) st = get_num(root, src, "rope_theta", 10000.0, &c->rope_theta);
    if (st == QK_OK)
        st = get_bool(root, src, "tie_word_embeddings", false, &c->tie_word_embeddings);
    if (st == QK_OK)
        st = get_bool(root, src, "attention_bias", c->arch == QK_HF_ARCH_QWEN2, &c->attention_bias);
    if (st == QK_OK) st = get_bool(root, src, "mlp_bias", false, &c->mlp_bias);
    if (st == QK_OK) st = get_int(root, src, "sliding_window", false, 0, &c->sliding_window);
    if (st == QK_OK) st = get_token_ids(root, src, "bos_token_id", &c->bos_token_id, NULL);
    if (st == QK_OK)
        st = get_token_ids(root, src, "eos_token_id", &c->eos_token_id, &c->n_eos_token_ids);
    if (st == QK_OK) st = parse_rope_scaling(root, src, &c->rope_scaling);
    if (st != QK_OK) return st;
    /* Qwen2 always has q/k/v biases, whatever the file says */
    if (c->arch == QK_HF_ARCH_QWEN2) c->attention_bias = true;

    const struct {
        const char *key;
        int64_t v;
    } pos[] = {{"hidden_size", c->hidden_size},
               {"intermediate_size", c->intermediate_size},
               {"num_hidden_layers", c->num_hidden_layers},
               {"num_attention_heads", c->num_attention_heads},
               {"num_key_value_heads", c->num_key_value_heads},
               {"vocab_size", c->vocab_size},
               {"max_position_embeddings", c->max_position_embeddings}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        st = check_positive(src, pos[i].key, pos[i].v);
        if (st != QK_OK) return st;
    }
    if (c->num_attention_heads % c->num_key_value_heads != 0)
        return qk_error_set(QK_ERR_CONFIG,
                            "%s: num_attention_heads %lld is not a multiple of num_key_value_heads "
                            "%lld",
                            src, (long long)c->num_attention_heads,
                            (long long)c->num_key_value_heads);
    c->head_dim_explicit = c->head_dim != 0;
    if (c->head_dim_explicit) {
        st = check_positive(src, "head_dim", c->head_dim);
        if (st != QK_OK) return st;
    } else {
        if (c->hidden_size % c->num_attention_heads != 0)
            return qk_error_set(
                QK_ERR_CONFIG,
                "%s: hidden_size %lld is not a multiple of num_attention_heads %lld "
                "(and there is no head_dim)",
                src, (long long)c->hidden_size, (long long)c->num_attention_heads);
        c->head_dim = c->hidden_size / c->num_attention_heads;
    }
    if (c->head_dim % 2 != 0)
        return qk_error_set(QK_ERR_CONFIG, "%s: head_dim %lld is odd (rotary pairs need it even)",
                            src, (long long)c->head_dim);
    if (!(c->rms_norm_eps > 0.0) || !(c->rope_theta > 0.0))
        return qk_error_set(QK_ERR_CONFIG, "%s: rms_norm_eps and rope_theta must be positive", src);
    return QK_OK;
}

qk_status qk_hf_config_parse(const char *json, size_t len, const char *source, qk_hf_config *out) {
    if (!json || !out) return qk_error_set(QK_ERR_INVALID_ARG, "hf config: NULL argument");
    const char *src = source ? source : "config.json";
    memset(out, 0, sizeof *out);
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return qk_error_set(QK_ERR_CORRUPT,
                            "%s: invalid JSON near byte %d (line %d, column %d): %s", src,
                            err.position, err.line, err.column, err.text);
    qk_status st = parse_root(root, src, out);
    json_decref(root);
    return st;
}

qk_status qk_hf_config_read(const char *path, qk_hf_config *out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "hf config: NULL argument");
    char file[4096];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (snprintf(file, sizeof file, "%s/config.json", path) >= (int)sizeof file)
            return qk_error_set(QK_ERR_INVALID_ARG, "%s: path too long", path);
    } else if (snprintf(file, sizeof file, "%s", path) >= (int)sizeof file) {
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: path too long", path);
    }
    qk_mapped_file *f = NULL;
    qk_status st = qk_mapped_file_open(file, &f);
    if (st != QK_OK) return st;
    st =
        qk_hf_config_parse((const char *)qk_mapped_file_data(f), qk_mapped_file_size(f), file, out);
    qk_mapped_file_close(f);
    return st;
}

const char *qk_hf_arch_name(qk_hf_arch arch) {
    switch (arch) {
    case QK_HF_ARCH_LLAMA:
        return "llama";
    case QK_HF_ARCH_MISTRAL:
        return "mistral";
    case QK_HF_ARCH_QWEN2:
        return "qwen2";
    default:
        return "unknown";
    }
}
