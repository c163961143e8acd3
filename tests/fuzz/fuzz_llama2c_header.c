/*
** Fuzz target: a llama2.c checkpoint (qk_llama2c_open). The input is written
** to a temporary file; when it opens, the header must satisfy the documented
** rules (positive sizes, heads dividing dim, even head size), the tensors
** must tile the file exactly after the header with the listed shapes, and
** every tensor's bytes are read. The file is then opened as a model source
** (fuzz_model_source.h).
*/
#include "fuzz_model_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("model.bin", data, size);
    qk_llama2c *m = NULL;
    qk_clear_error();
    qk_status st = qk_llama2c_open(path, &m);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (m != NULL));
    if (!m) return 0;
    const qk_llama2c_config *c = qk_llama2c_get_config(m);
    FUZZ_CHECK(c->version == 0 || c->version == 1);
    FUZZ_CHECK(c->dim > 0 && c->hidden_dim > 0 && c->n_layers > 0 && c->n_heads > 0);
    FUZZ_CHECK(c->n_kv_heads > 0 && c->vocab_size > 0 && c->seq_len > 0);
    FUZZ_CHECK(c->dim % c->n_heads == 0 && c->n_heads % c->n_kv_heads == 0);
    FUZZ_CHECK((c->dim / c->n_heads) % 2 == 0);
    size_t n = qk_llama2c_tensor_count(m);
    FUZZ_CHECK(n == 2 + 9 * (size_t)c->n_layers + (c->shared_classifier ? 0 : 1));
    const uint64_t header = c->version == 0 ? 28 : 256;
    uint64_t total = header;
    const unsigned char *base = NULL;
    for (size_t i = 0; i < n; i++) {
        qk_io_tensor t;
        qk_clear_error();
        st = qk_llama2c_tensor_info(m, i, &t);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK && t.type == QK_TYPE_F32);
        FUZZ_CHECK(qk_llama2c_find_tensor(m, t.name) == (int64_t)i);
        FUZZ_CHECK(t.ndim == 1 || t.ndim == 2);
        int64_t numel = qk_io_tensor_numel(&t);
        FUZZ_CHECK(numel > 0 && (uint64_t)numel * 4 == t.nbytes);
        FUZZ_CHECK(t.offset >= header && t.offset <= size && t.nbytes <= size - t.offset);
        const unsigned char *b = (const unsigned char *)t.data - t.offset;
        if (!base) base = b;
        FUZZ_CHECK(b == base);
        FUZZ_CHECK(memcmp(t.data, data + t.offset, t.nbytes) == 0);
        total += t.nbytes;
    }
    /* the tensors (plus the skipped legacy RoPE tables) fill the file */
    uint64_t freq =
        c->version == 0 ? (uint64_t)c->seq_len * (uint64_t)(c->dim / c->n_heads) * 4 : 0;
    FUZZ_CHECK(total + freq == size);
    qk_io_tensor none;
    qk_clear_error();
    st = qk_llama2c_tensor_info(m, n, &none);
    fuzz_check_status(st);
    FUZZ_CHECK(st != QK_OK);
    qk_llama2c_close(m);

    fuzz_model_source(path, false, 1 << 20);
    return 0;
}
