/*
** Fuzz target: a Hugging Face config.json (qk_hf_config_parse). When it
** parses, the result must keep the rules quantkit/io.h states: positive
** sizes within int32, heads a multiple of KV heads, head_dim even (and equal
** to hidden_size / heads when the file has none), positive eps and theta,
** NUL-terminated strings, Qwen2 with q/k/v biases; and the file reader
** must give the same result.
*/
#include <math.h> /* isfinite */

#include "fuzz_common.h"

static bool terminated(const char *s, size_t cap) {
    return memchr(s, 0, cap) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qk_hf_config c;
    qk_clear_error();
    qk_status st = qk_hf_config_parse((const char *)data, size, "fuzz/config.json", &c);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK || st == QK_ERR_CORRUPT || st == QK_ERR_CONFIG);
    if (st != QK_OK) return 0;
    FUZZ_CHECK(c.arch >= QK_HF_ARCH_UNKNOWN && c.arch <= QK_HF_ARCH_QWEN2);
    (void)qk_hf_arch_name(c.arch);
    FUZZ_CHECK(terminated(c.architecture, sizeof c.architecture));
    FUZZ_CHECK(terminated(c.model_type, sizeof c.model_type));
    FUZZ_CHECK(terminated(c.torch_dtype, sizeof c.torch_dtype));
    FUZZ_CHECK(terminated(c.rope_scaling.type, sizeof c.rope_scaling.type));
    const int64_t sizes[] = {c.hidden_size,
                             c.intermediate_size,
                             c.num_hidden_layers,
                             c.num_attention_heads,
                             c.num_key_value_heads,
                             c.vocab_size,
                             c.max_position_embeddings,
                             c.head_dim};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        FUZZ_CHECK(sizes[i] > 0 && sizes[i] <= INT32_MAX);
    FUZZ_CHECK(c.num_attention_heads % c.num_key_value_heads == 0);
    FUZZ_CHECK(c.head_dim % 2 == 0);
    if (!c.head_dim_explicit) FUZZ_CHECK(c.head_dim * c.num_attention_heads == c.hidden_size);
    FUZZ_CHECK(c.rms_norm_eps > 0 && isfinite(c.rms_norm_eps));
    FUZZ_CHECK(c.rope_theta > 0 && isfinite(c.rope_theta));
    if (c.arch == QK_HF_ARCH_QWEN2) FUZZ_CHECK(c.attention_bias);
    /* (token ids are kept as written, even negative ones: the model source
       turns those into -1) */
    FUZZ_CHECK(c.n_eos_token_ids >= 0);
    FUZZ_CHECK(c.sliding_window >= 0);

    /* the same text through the file reader gives the same result */
    const char *path = fuzz_write_file("config.json", data, size);
    qk_hf_config c2;
    qk_clear_error();
    st = qk_hf_config_read(path, &c2);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK);
    FUZZ_CHECK(memcmp(&c, &c2, sizeof c) == 0);
    return 0;
}
