/*
** Shared by the fuzz_make_seeds sources (tests/fuzz/make_seeds*.c): a
** growing byte buffer, writing a seed, fixtures, deterministic bytes.
*/
#ifndef QK_MAKE_SEEDS_H
#define QK_MAKE_SEEDS_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */

#include "quantkit/quantkit.h"

extern const char *corpus_root; /* CORPUS_DIR */
extern const char *fixtures;    /* FIXTURES_DIR or NULL */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

void die(const char *fmt, ...);
void put(buf *b, const void *data, size_t n);
void put_u8(buf *b, unsigned v);
void put_le(buf *b, uint64_t v, int bytes);
void put_f32(buf *b, float f);
void put_str(buf *b, const char *s);
void buf_free(buf *b);
/* corpus/<target>/<name> = data */
void write_seed(const char *target, const char *name, const void *data, size_t n);
/* A whole fixture file (malloc'ed), or NULL when fixtures are absent. */
unsigned char *read_fixture(const char *rel, size_t *size);
/* Deterministic pseudo-random bytes. */
unsigned rnd8(void);
/* Exit with the last error when st is not QK_OK. */
void check(qk_status st, const char *what);
/* Move the file a writer made at tmp_path into the corpus as target/name. */
void adopt(const char *target, const char *name, const char *tmp_path);

/* GPT-2's byte -> character map, and a code point below U+0800 as UTF-8. */
unsigned gpt2_byte_char(unsigned b);
void utf8_of(unsigned cp, char *out);

/* The seeds of each target. */
void seeds_llama2c(void);
void seeds_spm_model(void);
void seeds_tokenizer_json(void);
void seeds_gguf(const char *tmp_dir);
void seeds_safetensors(const char *tmp_dir);
void seeds_dequant(void);
void seeds_llama2c_header(void);
void seeds_hf_config(void);
void seeds_model_source_hf(const char *tmp_dir);
void seeds_gguf_models(const char *tmp_dir);
void seeds_dequant_codebook(void);
void seeds_ckpt_config(void);
void seeds_quant_config(const char *tmp_dir);

#endif
