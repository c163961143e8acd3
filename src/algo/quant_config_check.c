/*
** The quantization config against files: digests of the input, the
** importance statistics and the calibration text; the recorded tensors
** against the model (quantkit/quant_config.h).
*/
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "quantkit/io.h"
#include "quantkit/quant_config.h"

qk_status qk_file_sha256(const char *path, char hex[65], uint64_t *bytes) {
    if (!path || !hex) return qk_error_set(QK_ERR_INVALID_ARG, "sha256: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return qk_error_set(QK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    qk_sha256 s;
    qk_sha256_init(&s);
    unsigned char buf[1 << 16];
    uint64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        qk_sha256_update(&s, buf, n);
        total += n;
    }
    const bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) return qk_error_set(QK_ERR_IO, "%s: read error", path);
    unsigned char d[32];
    qk_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    if (bytes) *bytes = total;
    return QK_OK;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The regular files a model path stands for: the file itself, or every
** regular file directly in the folder, sorted by name. */
static qk_status list_files(const char *model_path, char ***names, size_t *n, bool *folder) {
    struct stat sb;
    *names = NULL;
    *n = 0;
    if (stat(model_path, &sb) != 0)
        return qk_error_set(QK_ERR_IO, "%s: %s", model_path, strerror(errno));
    *folder = S_ISDIR(sb.st_mode);
    if (!*folder) {
        const char *slash = strrchr(model_path, '/');
        *names = malloc(sizeof **names);
        if (!*names || !((*names)[0] = strdup(slash ? slash + 1 : model_path))) {
            free(*names);
            *names = NULL;
            return qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
        }
        *n = 1;
        return QK_OK;
    }
    DIR *d = opendir(model_path);
    if (!d) return qk_error_set(QK_ERR_IO, "%s: %s", model_path, strerror(errno));
    qk_status st = QK_OK;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && st == QK_OK) {
        if (e->d_name[0] == '.') continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", model_path, e->d_name);
        if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown) {
                st = qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
                break;
            }
            *names = grown;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            st = qk_error_set(QK_ERR_NOMEM, "no memory");
        else
            (*n)++;
    }
    closedir(d);
    if (st == QK_OK && *n) qsort(*names, *n, sizeof **names, compare_names);
    return st;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static void file_path(char *out, size_t size, const char *model_path, bool folder,
                      const char *name) {
    if (folder)
        snprintf(out, size, "%s/%s", model_path, name);
    else
        snprintf(out, size, "%s", model_path);
}

qk_status qk_quant_config_set_input(qk_quant_config *c, const char *model_path) {
    if (!c || !model_path) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    char **names;
    size_t n;
    bool folder;
    qk_status st = list_files(model_path, &names, &n, &folder);
    if (st != QK_OK) return st;
    for (size_t i = 0; i < c->n_input_files; i++) free(c->input_files[i].name);
    free(c->input_files);
    free(c->input_path);
    c->n_input_files = 0;
    c->input_path = strdup(model_path);
    c->input_files = calloc(n ? n : 1, sizeof *c->input_files);
    if (!c->input_path || !c->input_files) st = qk_error_set(QK_ERR_NOMEM, "no memory");
    for (size_t i = 0; i < n && st == QK_OK; i++) {
        char full[4096];
        file_path(full, sizeof full, model_path, folder, names[i]);
        qk_config_file *f = &c->input_files[c->n_input_files++];
        f->name = names[i];
        names[i] = NULL;
        st = qk_file_sha256(full, f->sha256, &f->bytes);
    }
    free_names(names, n);
    return st;
}

qk_status qk_path_sha256(const char *path, char hex[65], uint64_t *bytes) {
    if (!path || !hex) return qk_error_set(QK_ERR_INVALID_ARG, "sha256: NULL argument");
    char **names;
    size_t n;
    bool folder;
    qk_status st = list_files(path, &names, &n, &folder);
    if (st != QK_OK) return st;
    free_names(names, n);
    if (!folder) return qk_file_sha256(path, hex, bytes);
    qk_quant_config c; /* only its output fields */
    memset(&c, 0, sizeof c);
    st = qk_quant_config_set_output(&c, path);
    if (st == QK_OK) {
        memcpy(hex, c.output_sha256, 65);
        if (bytes) *bytes = c.output_bytes;
    }
    free(c.output_path);
    for (size_t i = 0; i < c.n_output_files; i++) free(c.output_files[i].name);
    free(c.output_files);
    return st;
}

qk_status qk_quant_config_set_output(qk_quant_config *c, const char *path) {
    if (!c || !path) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    char **names;
    size_t n;
    bool folder;
    qk_status st = list_files(path, &names, &n, &folder);
    if (st != QK_OK) return st;
    for (size_t i = 0; i < c->n_output_files; i++) free(c->output_files[i].name);
    free(c->output_files);
    free(c->output_path);
    c->n_output_files = 0;
    c->output_files = NULL;
    c->has_output = false;
    c->output_path = strdup(path);
    if (!c->output_path) st = qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
    if (st == QK_OK && !folder) st = qk_file_sha256(path, c->output_sha256, &c->output_bytes);
    if (st == QK_OK && folder) { /* every file, and the digest of the manifest */
        c->output_files = calloc(n ? n : 1, sizeof *c->output_files);
        if (!c->output_files) st = qk_error_set(QK_ERR_NOMEM, "quant config: no memory");
        qk_sha256 s;
        qk_sha256_init(&s);
        c->output_bytes = 0;
        for (size_t i = 0; i < n && st == QK_OK; i++) {
            char full[4096];
            file_path(full, sizeof full, path, true, names[i]);
            qk_config_file *f = &c->output_files[c->n_output_files++];
            f->name = names[i];
            names[i] = NULL;
            if ((st = qk_file_sha256(full, f->sha256, &f->bytes)) != QK_OK) break;
            c->output_bytes += f->bytes;
            qk_sha256_update(&s, f->sha256, 64);
            qk_sha256_update(&s, "  ", 2);
            qk_sha256_update(&s, f->name, strlen(f->name));
            qk_sha256_update(&s, "\n", 1);
        }
        unsigned char d[32];
        qk_sha256_final(&s, d);
        for (int i = 0; i < 32; i++) snprintf(c->output_sha256 + 2 * i, 3, "%02x", d[i]);
    }
    free_names(names, n);
    c->has_output = st == QK_OK;
    return st;
}

/* A digest that differs: an error naming the field, or counted. */
static qk_status mismatch(bool warn, qk_config_check *check, const char *field, const char *what,
                          const char *path) {
    char msg[512];
    snprintf(msg, sizeof msg, "%.80s: %s %.380s differs from the recorded one", field, what, path);
    if (!warn) return qk_error_set(QK_ERR_CONFIG, "%s", msg);
    if (check) {
        if (check->digest_mismatches == 0)
            memcpy(check->first_mismatch, msg, sizeof check->first_mismatch);
        check->digest_mismatches++;
    }
    return QK_OK;
}

static qk_status check_digest(const char *path, const char *want, const char *field,
                              const char *what, bool warn, qk_config_check *check) {
    char hex[65];
    qk_status st = qk_file_sha256(path, hex, NULL);
    if (st != QK_OK) return qk_error_prefix("%s", field);
    return strcmp(hex, want) == 0 ? QK_OK : mismatch(warn, check, field, what, path);
}

static qk_status check_tensors(const qk_quant_config *c, const char *model_path) {
    qk_model_source *src;
    qk_status st = qk_model_source_open(model_path, NULL, &src);
    if (st != QK_OK) return st;
    const size_t n_model = qk_model_source_tensor_count(src);
    for (size_t i = 0; i < c->n_tensors && st == QK_OK; i++) {
        const int64_t idx = qk_model_source_find_tensor(src, c->tensors[i].name);
        if (idx < 0) {
            st = qk_error_set(QK_ERR_CONFIG, "tensors[%zu].name: '%s' is not a tensor of %s", i,
                              c->tensors[i].name, model_path);
            break;
        }
        qk_model_tensor t;
        if ((st = qk_model_source_tensor_info(src, (size_t)idx, &t)) != QK_OK) break;
        if (c->tensors[i].bits) {
            if (t.ndim != 2)
                st = qk_error_set(QK_ERR_CONFIG, "tensors[%zu].type: '%s' is not a matrix (affine)",
                                  i, c->tensors[i].name);
            continue;
        }
        const qk_type_traits *tr = qk_type_get_traits(c->tensors[i].type);
        const int64_t cols = t.ndim > 0 ? t.shape[t.ndim - 1] : 1;
        if (!tr || cols % tr->block_elems != 0)
            st = qk_error_set(
                QK_ERR_CONFIG, "tensors[%zu].type: %s cannot hold '%s' (rows of %lld values)", i,
                qk_type_name(c->tensors[i].type), c->tensors[i].name, (long long)cols);
    }
    if (st == QK_OK && c->n_tensors != n_model)
        st = qk_error_set(QK_ERR_CONFIG, "tensors: %zu entries for a model of %zu tensors",
                          c->n_tensors, n_model);
    qk_model_source_close(src);
    return st;
}

qk_status qk_quant_config_check_model(const qk_quant_config *c, const char *model_path,
                                      const char *importance_path, const char *calib_text,
                                      bool warn_digests, qk_config_check *check) {
    if (!c || !model_path) return qk_error_set(QK_ERR_INVALID_ARG, "quant config: NULL argument");
    if (check) {
        memset(check, 0, sizeof *check);
        check->version_differs =
            !c->quantkit_version || strcmp(c->quantkit_version, qk_version()) != 0;
    }
    qk_status st = check_tensors(c, model_path);
    if (st != QK_OK) return st;
    /* the input files: same names, sizes and digests */
    char **names;
    size_t n;
    bool folder;
    if ((st = list_files(model_path, &names, &n, &folder)) != QK_OK) return st;
    if (n != c->n_input_files)
        st = mismatch(warn_digests, check, "input.files", "the file list of", model_path);
    for (size_t i = 0; i < c->n_input_files && i < n && st == QK_OK; i++) {
        char field[64], full[4096];
        snprintf(field, sizeof field, "input.files[%zu]", i);
        const qk_config_file *f = &c->input_files[i];
        if (folder && strcmp(f->name, names[i]) != 0) {
            st = mismatch(warn_digests, check, field, "the file list of", model_path);
            continue;
        }
        file_path(full, sizeof full, model_path, folder, names[i]);
        snprintf(field, sizeof field, "input.files[%zu].sha256", i);
        st = check_digest(full, f->sha256, field, "model file", warn_digests, check);
    }
    free_names(names, n);
    if (st != QK_OK) return st;
    if (c->importance == QK_CONFIG_IMPORTANCE_FILE) {
        const char *p = importance_path ? importance_path : c->importance_path;
        st = check_digest(p, c->importance_sha256, "importance.sha256", "statistics file",
                          warn_digests, check);
        if (st != QK_OK) return st;
    }
    if (c->has_calibration) {
        const char *p = calib_text ? calib_text : c->calib_text;
        st = check_digest(p, c->calib_sha256, "calibration.sha256", "calibration text",
                          warn_digests, check);
    }
    return st;
}
