/*
** HF config.json: the fixture, Llama-3 style (rope_scaling llama3, eos
** list, explicit head_dim), Mistral, Qwen2 (biases), defaults, and every
** kind of bad file.
*/
#include "io_test_util.h"

static qk_status parse(const char *json, qk_hf_config *c) {
    qk_clear_error();
    return qk_hf_config_parse(json, strlen(json), "test-config.json", c);
}

static void test_fixture(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_hf_config c;
    /* a folder and the file itself */
    QK_ASSERT_OK(qk_hf_config_read(qk_test_fixture("models/fixture-llama-7m"), &c));
    QK_ASSERT_OK(qk_hf_config_read(qk_test_fixture("models/fixture-llama-7m/config.json"), &c));
    assert_int_equal(c.arch, QK_HF_ARCH_LLAMA);
    assert_string_equal(c.architecture, "LlamaForCausalLM");
    assert_string_equal(c.model_type, "llama");
    assert_string_equal(c.torch_dtype, "bfloat16");
    assert_int_equal(c.hidden_size, 256);
    assert_int_equal(c.intermediate_size, 768);
    assert_int_equal(c.num_hidden_layers, 6);
    assert_int_equal(c.num_attention_heads, 8);
    assert_int_equal(c.num_key_value_heads, 4);
    assert_int_equal(c.head_dim, 32);
    assert_false(c.head_dim_explicit);
    assert_int_equal(c.vocab_size, 4096);
    assert_int_equal(c.max_position_embeddings, 512);
    assert_true(c.rms_norm_eps == 1e-05);
    assert_true(c.rope_theta == 10000.0);
    assert_false(c.tie_word_embeddings);
    assert_false(c.attention_bias);
    assert_false(c.rope_scaling.present);
    assert_int_equal(c.bos_token_id, 1);
    assert_int_equal(c.eos_token_id, 2);
    assert_int_equal(c.n_eos_token_ids, 1);
    assert_string_equal(qk_hf_arch_name(c.arch), "llama");
}

static void test_llama3_style(void **state) {
    (void)state;
    const char *json =
        "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":2048,"
        "\"intermediate_size\":8192,\"num_hidden_layers\":16,\"num_attention_heads\":32,"
        "\"num_key_value_heads\":8,\"head_dim\":64,\"vocab_size\":128256,"
        "\"max_position_embeddings\":131072,\"rms_norm_eps\":1e-05,\"rope_theta\":500000.0,"
        "\"rope_scaling\":{\"factor\":32.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
        "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},"
        "\"tie_word_embeddings\":true,\"bos_token_id\":128000,"
        "\"eos_token_id\":[128001,128008,128009],\"torch_dtype\":\"bfloat16\"}";
    qk_hf_config c;
    QK_ASSERT_OK(parse(json, &c));
    assert_int_equal(c.head_dim, 64);
    assert_true(c.head_dim_explicit);
    assert_true(c.rope_theta == 500000.0);
    assert_true(c.rope_scaling.present);
    assert_string_equal(c.rope_scaling.type, "llama3");
    assert_true(c.rope_scaling.factor == 32.0);
    assert_true(c.rope_scaling.low_freq_factor == 1.0);
    assert_true(c.rope_scaling.high_freq_factor == 4.0);
    assert_int_equal(c.rope_scaling.original_max_position_embeddings, 8192);
    assert_true(c.tie_word_embeddings);
    assert_int_equal(c.bos_token_id, 128000);
    assert_int_equal(c.eos_token_id, 128001);
    assert_int_equal(c.n_eos_token_ids, 3);

    /* older files say "type" instead of "rope_type" */
    const char *linear = "{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,"
                         "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
                         "\"rope_scaling\":{\"type\":\"linear\",\"factor\":2}}";
    QK_ASSERT_OK(parse(linear, &c));
    assert_int_equal(c.arch, QK_HF_ARCH_LLAMA); /* from model_type */
    assert_string_equal(c.rope_scaling.type, "linear");
    assert_true(c.rope_scaling.factor == 2.0);
}

/* Fields left out get transformers' defaults. */
static void test_defaults(void **state) {
    (void)state;
    const char *json = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
                       "\"intermediate_size\":128,\"num_hidden_layers\":2,"
                       "\"num_attention_heads\":4,\"vocab_size\":100}";
    qk_hf_config c;
    QK_ASSERT_OK(parse(json, &c));
    assert_int_equal(c.num_key_value_heads, 4);
    assert_int_equal(c.head_dim, 16);
    assert_true(c.rms_norm_eps == 1e-6);
    assert_true(c.rope_theta == 10000.0);
    assert_int_equal(c.max_position_embeddings, 2048);
    assert_false(c.tie_word_embeddings);
    assert_int_equal(c.bos_token_id, -1);
    assert_int_equal(c.eos_token_id, -1);
    assert_string_equal(c.torch_dtype, "");
}

static void test_mistral_qwen2(void **state) {
    (void)state;
    const char *mistral =
        "{\"architectures\":[\"MistralForCausalLM\"],\"model_type\":\"mistral\",\"hidden_size\":"
        "4096,\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
        "\"num_key_value_heads\":8,\"vocab_size\":32000,\"sliding_window\":4096,"
        "\"rope_theta\":1000000.0,\"rope_scaling\":null,\"dtype\":\"bfloat16\"}";
    qk_hf_config c;
    QK_ASSERT_OK(parse(mistral, &c));
    assert_int_equal(c.arch, QK_HF_ARCH_MISTRAL);
    assert_int_equal(c.sliding_window, 4096);
    assert_int_equal(c.max_position_embeddings, 131072);
    assert_false(c.attention_bias);
    assert_false(c.rope_scaling.present);
    assert_string_equal(c.torch_dtype, "bfloat16"); /* newer "dtype" key */

    const char *qwen2 =
        "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":896,"
        "\"intermediate_size\":4864,\"num_hidden_layers\":24,\"num_attention_heads\":14,"
        "\"num_key_value_heads\":2,\"vocab_size\":151936,\"max_position_embeddings\":32768,"
        "\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,\"sliding_window\":null,"
        "\"tie_word_embeddings\":true,\"bos_token_id\":151643,\"eos_token_id\":151645}";
    QK_ASSERT_OK(parse(qwen2, &c));
    assert_int_equal(c.arch, QK_HF_ARCH_QWEN2);
    assert_true(c.attention_bias);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.sliding_window, 0);
    assert_true(c.tie_word_embeddings);

    const char *other = "{\"architectures\":[\"GPT2LMHeadModel\"],\"hidden_size\":64,"
                        "\"intermediate_size\":128,\"num_hidden_layers\":2,"
                        "\"num_attention_heads\":4,\"vocab_size\":100}";
    QK_ASSERT_OK(parse(other, &c));
    assert_int_equal(c.arch, QK_HF_ARCH_UNKNOWN);
    assert_string_equal(c.architecture, "GPT2LMHeadModel");
}

static void test_bad_configs(void **state) {
    (void)state;
    qk_hf_config c;
    QK_ASSERT_STATUS(parse("{\"hidden_size\": 64,", &c), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("test-config.json");
    QK_ASSERT_MSG_HAS("line 1");
    QK_ASSERT_STATUS(parse("[1]", &c), QK_ERR_CONFIG);

    const char *base = "\"intermediate_size\":128,\"num_hidden_layers\":2,\"vocab_size\":100";
    char buf[512];
    snprintf(buf, sizeof buf, "{\"num_attention_heads\":4,%s}", base);
    QK_ASSERT_STATUS(parse(buf, &c), QK_ERR_CONFIG);
    QK_ASSERT_MSG_HAS("missing \"hidden_size\"");

    snprintf(buf, sizeof buf, "{\"hidden_size\":\"64\",\"num_attention_heads\":4,%s}", base);
    QK_ASSERT_STATUS(parse(buf, &c), QK_ERR_CONFIG);
    QK_ASSERT_MSG_HAS("\"hidden_size\" is not an integer");

    snprintf(buf, sizeof buf, "{\"hidden_size\":-64,\"num_attention_heads\":4,%s}", base);
    QK_ASSERT_STATUS(parse(buf, &c), QK_ERR_CONFIG);
    QK_ASSERT_MSG_HAS("\"hidden_size\" = -64");

    snprintf(buf, sizeof buf, "{\"hidden_size\":64,\"num_attention_heads\":6,%s}", base);
    QK_ASSERT_STATUS(parse(buf, &c), QK_ERR_CONFIG);
    QK_ASSERT_MSG_HAS("hidden_size 64 is not a multiple of num_attention_heads 6");

    snprintf(buf, sizeof buf,
             "{\"hidden_size\":64,\"num_attention_heads\":4,\"num_key_value_heads\":3,%s}", base);
    QK_ASSERT_STATUS(parse(buf, &c), QK_ERR_CONFIG);
    QK_ASSERT_MSG_HAS("not a multiple of num_key_value_heads 3");

    snprintf(buf, sizeof buf, "{\"hidden_size\":60,\"num_attention_heads\":4,%s}", base);
    QK_ASSERT_STATUS(parse(buf, &c), QK_ERR_CONFIG);
    QK_ASSERT_MSG_HAS("head_dim 15 is odd");

    snprintf(buf, sizeof buf,
             "{\"hidden_size\":64,\"num_attention_heads\":4,\"tie_word_embeddings\":1,%s}", base);
    QK_ASSERT_STATUS(parse(buf, &c), QK_ERR_CONFIG);
    QK_ASSERT_MSG_HAS("tie_word_embeddings");

    snprintf(buf, sizeof buf,
             "{\"hidden_size\":64,\"num_attention_heads\":4,\"rms_norm_eps\":0,%s}", base);
    QK_ASSERT_STATUS(parse(buf, &c), QK_ERR_CONFIG);

    snprintf(buf, sizeof buf,
             "{\"hidden_size\":64,\"num_attention_heads\":4,\"eos_token_id\":[1,\"x\"],%s}", base);
    QK_ASSERT_STATUS(parse(buf, &c), QK_ERR_CONFIG);
    QK_ASSERT_MSG_HAS("\"eos_token_id\"[1]");

    QK_ASSERT_STATUS(qk_hf_config_read(qk_test_tmp_path("nowhere/config.json"), &c), QK_ERR_IO);
    QK_ASSERT_MSG_HAS("nowhere/config.json");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture),     cmocka_unit_test(test_llama3_style),
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_mistral_qwen2),
        cmocka_unit_test(test_bad_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
