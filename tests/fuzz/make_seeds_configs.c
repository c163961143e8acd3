/*
** Seeds of the configuration targets that are not model files:
** ckpt_config (config.json, NUL, quantize_config.json, NUL,
** quant_config.json; see fuzz_ckpt_config.c) and quant_config (quantkit's
** own JSON quantization config; see fuzz_quant_config.c).
*/
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strlen, strdup, memcpy */

#include "make_seeds.h"

/* config.json with this quantization_config object. */
#define QC(obj) "{\"architectures\": [\"LlamaForCausalLM\"], \"quantization_config\": " obj "}"
#define NOQC "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 16}"
#define CT_GROUP(weights, extra)                                                                   \
    "{\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"weights\": " weights          \
    ", \"input_activations\": null, \"output_activations\": null" extra "}}, \"format\": "         \
    "\"pack-quantized\", \"ignore\": [\"lm_head\"], \"quant_method\": \"compressed-tensors\", "    \
    "\"quantization_status\": \"compressed\"}"
#define CT_W(bits, strategy, group, actorder)                                                      \
    "{\"num_bits\": " bits ", \"type\": \"int\", \"symmetric\": true, \"strategy\": " strategy     \
    ", \"group_size\": " group ", \"actorder\": " actorder ", \"dynamic\": false}"

void seeds_ckpt_config(void) {
    const char *T = "ckpt_config";
    static const struct {
        const char *name, *text;
    } seeds[] = {
        {"seed-gptq-v1", QC("{\"bits\": 4, \"group_size\": 128, \"damp_percent\": 0.01, "
                            "\"desc_act\": false, \"static_groups\": false, \"sym\": true, "
                            "\"true_sequential\": true, \"model_name_or_path\": null, "
                            "\"model_file_base_name\": \"model\", \"quant_method\": \"gptq\"}")},
        {"seed-gptq-v2-act-order",
         QC("{\"bits\": 3, \"group_size\": 64, \"desc_act\": true, \"sym\": false, "
            "\"quant_method\": \"gptq\", \"checkpoint_format\": \"gptq_v2\"}")},
        {"seed-gptq-per-channel",
         QC("{\"bits\": 8, \"group_size\": -1, \"sym\": true, \"quant_method\": \"GPTQ\"}")},
        {"seed-awq", QC("{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, "
                        "\"zero_point\": true, \"version\": \"gemm\"}")},
        {"seed-awq-autoawq-names", QC("{\"quant_method\": \"awq\", \"w_bit\": 4, \"q_group_size\": "
                                      "64, \"zero_point\": true, \"version\": \"GEMM\"}")},
        {"seed-ct-group", QC(CT_GROUP(CT_W("4", "\"group\"", "128", "null"), ""))},
        {"seed-ct-channel-actorder",
         QC(CT_GROUP(CT_W("8", "\"channel\"", "null", "\"group\""), ""))},
        {"seed-ct-two-groups",
         QC("{\"config_groups\": {\"attn\": {\"targets\": [\"re:.*self_attn.*\"], \"weights\": "
            "{\"num_bits\": 4, \"symmetric\": false, \"group_size\": 32}}, \"mlp\": {\"targets\": "
            "[\"re:.*mlp\\\\.(gate|up|down)_proj$\", \"lm_head\"], \"weights\": {\"num_bits\": 8, "
            "\"symmetric\": true, \"strategy\": \"channel\"}}}, \"format\": \"pack-quantized\", "
            "\"quant_method\": \"compressed-tensors\"}")},
        {"broken-ct-bad-regex",
         QC("{\"config_groups\": {\"g\": {\"targets\": [\"re:(((\"], \"weights\": {\"num_bits\": "
            "4, \"symmetric\": true, \"group_size\": 16}}}, \"format\": \"pack-quantized\", "
            "\"quant_method\": \"compressed-tensors\"}")},
        {"broken-ct-dynamic", QC(CT_GROUP("{\"num_bits\": 4, \"symmetric\": true, \"group_size\": "
                                          "32, \"dynamic\": true}",
                                          ""))},
        {"broken-ct-activations",
         QC("{\"config_groups\": {\"g\": {\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": "
            "8, \"symmetric\": true, \"strategy\": \"channel\"}, \"input_activations\": "
            "{\"num_bits\": 8}}}, \"format\": \"pack-quantized\", \"quant_method\": "
            "\"compressed-tensors\"}")},
        {"broken-ct-float-weights",
         QC(CT_GROUP("{\"num_bits\": 8, \"type\": \"float\", \"symmetric\": true, \"strategy\": "
                     "\"channel\"}",
                     ""))},
        {"broken-ct-no-groups",
         QC("{\"config_groups\": {}, \"quant_method\": \"compressed-tensors\"}")},
        {"broken-ct-naive-format",
         QC("{\"config_groups\": {\"g\": {\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": "
            "4, \"symmetric\": true, \"group_size\": 16}}}, \"format\": \"naive-quantized\", "
            "\"quant_method\": \"compressed-tensors\"}")},
        {"broken-gptq-bits", QC("{\"bits\": 9, \"group_size\": 128, \"sym\": true, "
                                "\"quant_method\": \"gptq\"}")},
        {"broken-gptq-group-zero", QC("{\"bits\": 4, \"group_size\": 0, \"sym\": true, "
                                      "\"quant_method\": \"gptq\"}")},
        {"broken-gptq-huge-group", QC("{\"bits\": 4, \"group_size\": 4294967296, \"sym\": true, "
                                      "\"quant_method\": \"gptq\"}")},
        {"broken-gptq-marlin", QC("{\"bits\": 4, \"group_size\": 128, \"sym\": true, "
                                  "\"is_marlin_format\": true, \"quant_method\": \"gptq\"}")},
        {"broken-gptq-format", QC("{\"bits\": 4, \"sym\": true, \"quant_method\": \"gptq\", "
                                  "\"checkpoint_format\": \"marlin\"}")},
        {"broken-gptq-string-bits",
         QC("{\"bits\": \"4\", \"sym\": true, \"quant_method\": \"gptq\"}")},
        {"broken-awq-gemv", QC("{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, "
                               "\"zero_point\": true, \"version\": \"gemv\"}")},
        {"broken-awq-no-zero-point", QC("{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": "
                                        "128, \"zero_point\": false}")},
        {"broken-unknown-method",
         QC("{\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true}")},
        {"broken-no-method", QC("{\"bits\": 4}")},
        {"broken-not-object", QC("[4, 128]")},
        {"broken-json", "{\"quantization_config\": {\"bits\": 4,"},
        {"seed-no-quantization", NOQC},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        write_seed(T, seeds[i].name, seeds[i].text, strlen(seeds[i].text));

    /* side files: config.json without quantization_config, then
    ** quantize_config.json and/or quant_config.json (NUL separated) */
    static const char side_gptq[] = NOQC "\0{\"bits\": 4, \"group_size\": 128, \"desc_act\": "
                                         "false, \"sym\": true, \"checkpoint_format\": \"gptq\"}";
    static const char side_awq[] = NOQC "\0\0{\"w_bit\": 4, \"q_group_size\": 128, "
                                        "\"zero_point\": true, \"version\": \"GEMM\"}";
    static const char format_beside[] =
        QC("{\"bits\": 4, \"group_size\": 32, \"sym\": true, "
           "\"quant_method\": \"gptq\"}") "\0{\"checkpoint_format\": "
                                          "\"gptq_v2\"}";
    static const char side_not_object[] = NOQC "\0[1, 2]";
    static const char side_broken[] = NOQC "\0\0{\"w_bit\": ";
    write_seed(T, "seed-side-quantize-config", side_gptq, sizeof side_gptq - 1);
    write_seed(T, "seed-side-quant-config-awq", side_awq, sizeof side_awq - 1);
    write_seed(T, "seed-gptq-format-beside", format_beside, sizeof format_beside - 1);
    write_seed(T, "broken-side-not-object", side_not_object, sizeof side_not_object - 1);
    write_seed(T, "broken-side-json", side_broken, sizeof side_broken - 1);
}

/* ------------------------------------------------------------------------
** quant_config: quantkit's JSON quantization config, written through the
** API (so the seeds follow the schema), plus hand-broken texts.
*/
static void save_config_seed(qk_quant_config *c, const char *tmp_dir, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    check(qk_quant_config_save(c, path), "saving a quant_config seed");
    adopt("quant_config", name, path);
}

void seeds_quant_config(const char *tmp_dir) {
    static const char *const SHA =
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    qk_quant_config c;
    check(qk_quant_config_init(&c), "quant_config init");
    c.type = strdup("q4_k_m");
    c.n_tensors = 2;
    c.tensors = calloc(2, sizeof *c.tensors);
    c.tensors[0].name = strdup("token_embd.weight");
    c.tensors[0].type = QK_TYPE_Q4_K;
    c.tensors[1].name = strdup("blk.0.attn_v.weight");
    c.tensors[1].type = QK_TYPE_Q6_K;
    save_config_seed(&c, tmp_dir, "seed-rtn-minimal.json");

    c.input_path = strdup("models/fixture-llama-7m");
    c.n_input_files = 1;
    c.input_files = calloc(1, sizeof *c.input_files);
    c.input_files[0].name = strdup("model.safetensors");
    c.input_files[0].bytes = 13638144;
    memcpy(c.input_files[0].sha256, SHA, 65);
    c.n_overrides = 1;
    c.overrides = calloc(1, sizeof *c.overrides);
    c.overrides[0].pattern = strdup("attn_v");
    c.overrides[0].type = QK_TYPE_Q8_0;
    free(c.method);
    c.method = strdup("gptq");
    check(qk_quant_config_set_int(&c, "bits", 4), "param");
    check(qk_quant_config_set_real(&c, "damp", 0.01), "param");
    check(qk_quant_config_set_bool(&c, "act_order", true), "param");
    check(qk_quant_config_set_string(&c, "note", "seed"), "param");
    c.importance = QK_CONFIG_IMPORTANCE_CALIBRATION;
    c.has_calibration = true;
    c.calib_text = strdup("calib.txt");
    memcpy(c.calib_sha256, SHA, 65);
    c.calib_samples = 128;
    c.calib_len = 512;
    c.calib_seed = 7;
    c.has_output = true;
    c.output_path = strdup("out.gguf");
    c.output_bytes = 4331456;
    memcpy(c.output_sha256, SHA, 65);
    save_config_seed(&c, tmp_dir, "seed-gptq-full.json");

    /* a calibrated run into a checkpoint folder: format, non-finite flag,
    ** an affine tensor, the output's files */
    free(c.format);
    c.format = strdup("gptq");
    c.allow_nonfinite = true;
    c.importance = QK_CONFIG_IMPORTANCE_NONE;
    check(qk_quant_config_set_string(&c, "target", "affine"), "param");
    check(qk_quant_config_set_int(&c, "group", 128), "param");
    c.tensors[1].type = QK_TYPE_COUNT;
    c.tensors[1].bits = 4;
    c.tensors[1].group = 128;
    free(c.output_path);
    c.output_path = strdup("out-gptq");
    c.n_output_files = 1;
    c.output_files = calloc(1, sizeof *c.output_files);
    c.output_files[0].name = strdup("model.safetensors");
    c.output_files[0].bytes = 4331456;
    memcpy(c.output_files[0].sha256, SHA, 65);
    save_config_seed(&c, tmp_dir, "seed-gptq-checkpoint.json");
    qk_quant_config_free(&c);

    static const struct {
        const char *name, *text;
    } broken[] = {
        {"broken-not-object.json", "[1, 2]"},
        {"broken-json.json", "{\"schema\": \"quantkit.quant_config\", "},
        {"broken-schema.json", "{\"schema\": \"other\", \"schema_version\": 1}"},
        {"broken-version.json", "{\"schema\": \"quantkit.quant_config\", \"schema_version\": 99}"},
        {"broken-empty.json", "{}"},
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
        write_seed("quant_config", broken[i].name, broken[i].text, strlen(broken[i].text));
}
