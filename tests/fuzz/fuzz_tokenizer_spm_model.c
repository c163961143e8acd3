/*
** Fuzz target: a SentencePiece tokenizer.model protobuf
** (qk_tokenizer_load_spm_model_memory), then encoding and decoding with
** whatever loaded. The load options come from the input size.
*/
#include "fuzz_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qk_tokenizer_options opts;
    fuzz_tokenizer_options((uint8_t)(size % 27), &opts);
    qk_tokenizer *tok = NULL;
    qk_clear_error();
    qk_status st =
        qk_tokenizer_load_spm_model_memory(data, size, "fuzz.model", size % 2 ? &opts : NULL, &tok);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (tok != NULL));
    if (tok) {
        FUZZ_CHECK(qk_tokenizer_get_kind(tok) == QK_TOKENIZER_SPM);
        fuzz_exercise_tokenizer(tok, data, size);
    }
    qk_tokenizer_free(tok);
    return 0;
}
