/*
** Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/):
** small valid files of every kind, made with quantkit's own writers or byte
** by byte, and hand-broken ones named after what is wrong with them (as
** llama.cpp's test-gguf.cpp does). Deterministic: running it again gives the
** same bytes. Fixture-derived seeds (tok512.bin, tokenizer.model, the
** vocabulary of stories260K) are added when FIXTURES is given.
**
**   fuzz_make_seeds CORPUS_DIR [FIXTURES_DIR]
**
** The files it writes are committed; inputs the fuzzer found (crashes turned
** into regressions, merged corpus entries) live next to them.
*/
#include <errno.h>    /* errno */
#include <stdarg.h>   /* va_list */
#include <stdio.h>    /* FILE */
#include <stdlib.h>   /* malloc, free, exit */
#include <string.h>   /* memcpy, strlen */
#include <sys/stat.h> /* mkdir */
#include <unistd.h>   /* unlink, rmdir */

#include "make_seeds.h"

const char *corpus_root;
const char *fixtures;

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_make_seeds: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ------------------------------------------------------------------------
** A growing byte buffer.
*/

void put(buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}
void put_u8(buf *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}
void put_le(buf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) put_u8(b, (unsigned)(v >> (8 * i)) & 0xFF);
}
void put_f32(buf *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_le(b, u, 4);
}
void put_str(buf *b, const char *s) {
    put(b, s, strlen(s));
}
void buf_free(buf *b) {
    free(b->p);
    *b = (buf){0};
}

void write_seed(const char *target, const char *name, const void *data, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", corpus_root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) die("cannot create %s", path);
    snprintf(path, sizeof path, "%s/%s/%s", corpus_root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) die("cannot write %s", path);
}

/* The whole of a fixture file, or NULL when fixtures are not given / absent. */
unsigned char *read_fixture(const char *rel, size_t *size) {
    if (!fixtures) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixtures, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf b = {0};
    unsigned char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, got);
    fclose(f);
    *size = b.n;
    return b.p;
}

/* Deterministic pseudo-random bytes (64-bit LCG, high bits). */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
unsigned rnd8(void) {
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (unsigned)(rng_state >> 56);
}

void check(qk_status st, const char *what) {
    if (st != QK_OK) die("%s: %s", what, qk_last_error());
}

/* Move a file written by a writer into the corpus. */
void adopt(const char *target, const char *name, const char *tmp_path) {
    FILE *f = fopen(tmp_path, "rb");
    if (!f) return;
    buf b = {0};
    unsigned char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, got);
    fclose(f);
    unlink(tmp_path);
    write_seed(target, name, b.p, b.n);
    buf_free(&b);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s CORPUS_DIR [FIXTURES_DIR]\n", argv[0]);
        return 2;
    }
    corpus_root = argv[1];
    fixtures = argc > 2 ? argv[2] : NULL;
    if (mkdir(corpus_root, 0755) != 0 && errno != EEXIST) die("cannot create %s", corpus_root);
    char tmp[512];
    if (strlen(corpus_root) > 400) die("path too long: %s", corpus_root);
    snprintf(tmp, sizeof tmp, "%s/.make-seeds-tmp", corpus_root);
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) die("cannot create %s", tmp);
    seeds_llama2c();
    seeds_spm_model();
    seeds_tokenizer_json();
    seeds_gguf(tmp);
    seeds_safetensors(tmp);
    seeds_dequant();
    seeds_llama2c_header();
    seeds_hf_config();
    seeds_model_source_hf(tmp);
    seeds_gguf_models(tmp);
    seeds_dequant_codebook();
    seeds_ckpt_config();
    seeds_quant_config(tmp);
    rmdir(tmp);
    printf("fuzz_make_seeds: seeds written to %s\n", corpus_root);
    return 0;
}
