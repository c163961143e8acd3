/*
** Fuzz target: a Hugging Face tokenizer.json (qk_tokenizer_load_json_memory),
** then encoding and decoding with whatever loaded. Input: the tokenizer.json
** text, optionally followed by a NUL byte and tokenizer_config.json text.
** The load options come from the input size.
*/
#include "fuzz_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *json = (const char *)data;
    size_t json_len = size;
    const char *config = NULL;
    size_t config_len = 0;
    const uint8_t *nul = memchr(data, 0, size);
    if (nul) {
        json_len = (size_t)(nul - data);
        config = (const char *)nul + 1;
        config_len = size - json_len - 1;
    }
    qk_tokenizer_options opts;
    fuzz_tokenizer_options((uint8_t)(size % 27), &opts);
    qk_tokenizer *tok = NULL;
    qk_clear_error();
    qk_status st = qk_tokenizer_load_json_memory(json, json_len, config, config_len, "fuzz.json",
                                                 size % 2 ? &opts : NULL, &tok);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (tok != NULL));
    if (tok) {
        FUZZ_CHECK(qk_tokenizer_get_kind(tok) == QK_TOKENIZER_BPE);
        fuzz_exercise_tokenizer(tok, data, size);
    }
    qk_tokenizer_free(tok);
    return 0;
}
