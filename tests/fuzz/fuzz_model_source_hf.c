/*
** Fuzz target: a Hugging Face model folder (qk_model_source_open on a
** folder holding config.json and model.safetensors). Input: the config.json
** text, a NUL byte, then the bytes of model.safetensors (absent without the
** NUL). The input size picks whether q/k rows keep HF's layout. When the
** folder opens it is checked and read (fuzz_model_source.h), including the
** HF -> llama.cpp rotary row permutation.
*/
#include "fuzz_model_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    char folder[600];
    snprintf(folder, sizeof folder, "%s/hf", fuzz_dir());
    if (mkdir(folder, 0700) != 0 && access(folder, W_OK) != 0) abort();
    fuzz_write_file("hf/config.json", data, json_len);
    const char *weights = fuzz_path("hf/model.safetensors");
    if (nul)
        fuzz_write_file("hf/model.safetensors", nul + 1, size - json_len - 1);
    else
        unlink(weights);
    fuzz_model_source(folder, size % 2 == 1, 1 << 20);
    return 0;
}
