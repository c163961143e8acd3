/*
** Fuzz target: a llama2.c tokenizer.bin (qk_tokenizer_load_llama2c_memory),
** then encoding and decoding with whatever loaded. The load options come
** from the input size so that the file bytes stay the file.
*/
#include "fuzz_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qk_tokenizer_options opts;
    fuzz_tokenizer_options((uint8_t)(size % 27), &opts);
    qk_tokenizer *tok = NULL;
    qk_clear_error();
    qk_status st =
        qk_tokenizer_load_llama2c_memory(data, size, "fuzz.bin", size % 2 ? &opts : NULL, &tok);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (tok != NULL));
    if (tok) {
        FUZZ_CHECK(qk_tokenizer_get_kind(tok) == QK_TOKENIZER_SPM);
        fuzz_exercise_tokenizer(tok, data, size);
    }
    qk_tokenizer_free(tok);
    return 0;
}
