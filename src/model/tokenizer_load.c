/*
** Loading a tokenizer by looking: a Hugging Face folder or one file whose
** kind is told by its first bytes. Plus the file helpers the loaders share.
*/
#include <errno.h>    /* errno */
#include <stdio.h>    /* fopen, fread */
#include <stdlib.h>   /* malloc, free */
#include <string.h>   /* strerror, strrchr */
#include <sys/stat.h> /* stat */

#include "core/error.h"
#include "model/tokenizer_internal.h"

qk_status qk_tok_read_file(const char *path, char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return qk_error_set(QK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return qk_error_set(QK_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return qk_error_set(QK_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return QK_OK;
}

void qk_tok_dirname(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(buf, cap, ".");
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0) n = 1; /* "/x" -> "/" */
    snprintf(buf, cap, "%.*s", (int)n, path);
}

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

qk_status qk_tokenizer_load(const char *path, const qk_tokenizer_options *opts,
                            qk_tokenizer **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return qk_error_set(QK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        char file[4096];
        snprintf(file, sizeof file, "%s/tokenizer.model", path);
        if (is_file(file)) return qk_tokenizer_load_spm_model(file, opts, out);
        snprintf(file, sizeof file, "%s/tokenizer.json", path);
        if (is_file(file)) return qk_tokenizer_load_json(file, opts, out);
        snprintf(file, sizeof file, "%s/tokenizer.bin", path);
        if (is_file(file)) return qk_tokenizer_load_llama2c(file, opts, out);
        return qk_error_set(QK_ERR_NOT_FOUND,
                            "%s: no tokenizer.model, tokenizer.json or "
                            "tokenizer.bin in this folder",
                            path);
    }
    FILE *f = fopen(path, "rb");
    if (!f) return qk_error_set(QK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[16] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    size_t i = 0;
    while (i < n && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t')) i++;
    if (i < n && head[i] == '{') return qk_tokenizer_load_json(path, opts, out);
    /* a ModelProto starts with field 1 (pieces), length-delimited: key 0x0A and
    ** a non-zero length; tokenizer.bin starts with a small little-endian int32 */
    if (n > 1 && head[0] == 0x0A && head[1] != 0)
        return qk_tokenizer_load_spm_model(path, opts, out);
    return qk_tokenizer_load_llama2c(path, opts, out);
}
