/*
** Writing a quantized checkpoint folder (quantkit/checkpoint.h): the tensor
** plan in the source's order, packing each linear as it arrives, streaming
** model.safetensors, the config files and the tokenizer, all in a
** temporary folder renamed into place on commit.
*/
#include <dirent.h>    /* opendir, readdir */
#include <errno.h>     /* errno, ENOENT */
#include <fcntl.h>     /* open */
#include <stdatomic.h> /* atomic_uint */
#include <stdio.h>     /* snprintf, rename */
#include <stdlib.h>    /* calloc, free, malloc, strtod */
#include <string.h>    /* strcmp, strerror */
#include <sys/stat.h>  /* mkdir, stat */
#include <unistd.h>    /* close, fsync, getpid, rmdir, unlink */

#include "core/error.h"
#include "io/ckpt.h"

typedef struct wunit {
    char name[QK_MS_NAME_CAP]; /* llama.cpp name */
    char hf[128];              /* HF tensor name (plain) or module name (linear) */
    bool linear;
    size_t src_index;
    int32_t unpermute; /* > 0: rows go from the presented (llama.cpp) order to HF's, heads */
    /* plain tensors */
    qk_type type; /* type written */
    int32_t ndim;
    int64_t shape[2];
    bool via_f32;  /* read with options.read_f32 */
    bool replaced; /* values from options.replace */
    /* linears */
    int64_t rows, cols;
    ckpt_part_spec parts[CKPT_PARTS];
    unsigned char *bufs[CKPT_PARTS]; /* packed parts waiting for their turn */
    bool added;
} wunit;

struct qk_checkpoint_writer {
    const qk_model_source *src;
    qk_checkpoint_options opt;
    char *tokenizer_path;
    char *out_dir, *tmp_dir;
    qk_safetensors_writer *st;
    wunit *units;
    size_t n_units, next; /* units [0, next) are in the file */
    unsigned char *buf;   /* staging for plain tensors */
    size_t buf_cap;
    bool committed;
    uint64_t linear_weights, linear_bytes;
};

static atomic_uint dir_counter;

/* ---- folders ----------------------------------------------------------- */

/* `path` does not exist, or is an empty folder. */
static qk_status check_destination(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) return QK_OK;
        return qk_error_set(QK_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode))
        return qk_error_set(QK_ERR_IO, "%s: exists and is not a folder", path);
    DIR *d = opendir(path);
    if (!d) return qk_error_set(QK_ERR_IO, "%s: %s", path, strerror(errno));
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) empty = false;
    closedir(d);
    if (!empty)
        return qk_error_set(QK_ERR_IO,
                            "%s: the output folder exists and is not empty (remove it or choose "
                            "another)",
                            path);
    return QK_OK;
}

/* Remove `dir` and the files in it (the writer's own temporary folder). */
static void remove_folder(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char path[4096];
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Remove temporary folders of destination `base` left in `parent` by
** killed processes (qk_temp_name_is_stale; best effort). */
static void remove_stale_folders(const char *parent, size_t parent_len, const char *base,
                                 size_t base_len) {
    char dir[4096], name[1024], path[4096 + 256 + 2];
    if (parent_len >= sizeof dir || base_len >= sizeof name) return;
    snprintf(dir, sizeof dir, "%.*s", (int)parent_len, parent);
    snprintf(name, sizeof name, "%.*s", (int)base_len, base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!qk_temp_name_is_stale(de->d_name, name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        remove_folder(path);
    }
    closedir(d);
}

static qk_status make_temp_folder(qk_checkpoint_writer *w) {
    const char *out = w->out_dir;
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') n--; /* "dir/" -> "dir" */
    const char *slash = NULL;
    for (size_t i = 0; i < n; i++)
        if (out[i] == '/') slash = out + i;
    const size_t parent_len = slash ? (size_t)(slash - out) : 0;
    const char *base = slash ? slash + 1 : out;
    const size_t base_len = n - (size_t)(base - out);
    const size_t cap = n + 64;
    if (!(w->tmp_dir = malloc(cap))) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", out);
    remove_stale_folders(slash ? out : ".", slash ? (parent_len ? parent_len : 1) : 1, base,
                         base_len);
    for (int attempt = 0; attempt < 1000; attempt++) {
        unsigned k = atomic_fetch_add(&dir_counter, 1u);
        if (slash)
            snprintf(w->tmp_dir, cap, "%.*s/.%.*s.qk-tmp-%ld-%u",
                     (int)(parent_len ? parent_len : 1), parent_len ? out : "/", (int)base_len,
                     base, (long)getpid(), k);
        else
            snprintf(w->tmp_dir, cap, ".%.*s.qk-tmp-%ld-%u", (int)base_len, base, (long)getpid(),
                     k);
        if (mkdir(w->tmp_dir, 0777) == 0) return QK_OK;
        if (errno != EEXIST) break;
    }
    qk_status st = qk_error_set(QK_ERR_IO, "%s: cannot create a temporary folder beside it: %s",
                                out, strerror(errno));
    free(w->tmp_dir);
    w->tmp_dir = NULL;
    return st;
}

static void fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Write `data` as file `name` of the temporary folder (atomically, fsync'ed). */
static qk_status write_file(const qk_checkpoint_writer *w, const char *name, const void *data,
                            size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", w->tmp_dir, name);
    qk_atomic_file *f;
    qk_status st = qk_atomic_file_open(path, &f);
    if (st != QK_OK) return st;
    st = qk_atomic_file_write(f, data, n);
    if (st != QK_OK) {
        qk_atomic_file_abort(f);
        return st;
    }
    return qk_atomic_file_commit(f);
}

static qk_status copy_file(const qk_checkpoint_writer *w, const char *from, const char *name) {
    qk_mapped_file *m;
    qk_status st = qk_mapped_file_open(from, &m);
    if (st != QK_OK) return st;
    st = write_file(w, name, qk_mapped_file_data(m), qk_mapped_file_size(m));
    qk_mapped_file_close(m);
    return st;
}

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Folder of a path ("." without a slash). */
static void dirname_of(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else if (slash == path)
        snprintf(buf, cap, "/");
    else
        snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

/* ---- the plan ---------------------------------------------------------- */

static int32_t unpermute_heads(const qk_model_source *src, const qk_model_tensor *t, int kind) {
    const qk_model_hparams *h = qk_model_source_hparams(src);
    if (strcmp(h->arch, "llama") != 0) return 0;
    /* an HF source opened with hf_layout presents HF's order already */
    if (qk_model_source_format(src) == QK_MODEL_FORMAT_HF && !t->permuted) return 0;
    if (kind == QK_MS_ATTN_Q || kind == QK_MS_ATTN_Q_BIAS) return h->n_head;
    if (kind == QK_MS_ATTN_K || kind == QK_MS_ATTN_K_BIAS) return h->n_head_kv;
    return 0;
}

static bool is_linear_kind(int kind) {
    return kind == QK_MS_ATTN_Q || kind == QK_MS_ATTN_K || kind == QK_MS_ATTN_V ||
           kind == QK_MS_ATTN_OUTPUT || kind == QK_MS_FFN_GATE || kind == QK_MS_FFN_UP ||
           kind == QK_MS_FFN_DOWN;
}

static qk_status add_unit(qk_checkpoint_writer *w, const char *name, const char *hf, int kind) {
    int64_t i = qk_model_source_find_tensor(w->src, name);
    if (i < 0)
        return qk_error_set(QK_ERR_NOT_FOUND, "%s: no tensor '%s'", qk_model_source_path(w->src),
                            name);
    qk_model_tensor t;
    qk_status st = qk_model_source_tensor_info(w->src, (size_t)i, &t);
    if (st != QK_OK) return st;
    wunit *u = &w->units[w->n_units];
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", name);
    snprintf(u->hf, sizeof u->hf, "%s", hf);
    u->src_index = (size_t)i;
    u->linear = kind >= 0 && is_linear_kind(kind);
    u->unpermute = kind >= 0 ? unpermute_heads(w->src, &t, kind) : 0;
    char tname[192];
    if (u->linear) {
        if (t.ndim != 2)
            return qk_error_set(QK_ERR_SHAPE, "%s: linear '%s' is not 2-D",
                                qk_model_source_path(w->src), name);
        u->rows = t.shape[0];
        u->cols = t.shape[1];
        st = qk_ckpt_layout(&w->opt.config, u->rows, u->cols, u->parts);
        if (st != QK_OK) return qk_error_prefix("tensor '%s'", name);
        for (int p = 0; p < CKPT_PARTS && st == QK_OK; p++) {
            if (!u->parts[p].present) continue;
            snprintf(tname, sizeof tname, "%s.%s", hf, u->parts[p].suffix);
            st = qk_safetensors_writer_add_tensor(w->st, tname, u->parts[p].type, u->parts[p].ndim,
                                                  u->parts[p].shape);
        }
    } else {
        if (t.ndim < 1 || t.ndim > 2)
            return qk_error_set(QK_ERR_SHAPE, "%s: tensor '%s' has %d dimensions",
                                qk_model_source_path(w->src), name, t.ndim);
        u->ndim = t.ndim;
        u->shape[0] = t.shape[0];
        u->shape[1] = t.ndim == 2 ? t.shape[1] : 0;
        u->type = t.type;
        const int64_t numel = t.ndim == 2 ? t.shape[0] * t.shape[1] : t.shape[0];
        if (w->opt.replace) {
            if (w->opt.replace(w->opt.replace_user, name, NULL, numel) == QK_OK) {
                u->type = QK_TYPE_F32;
                u->replaced = true;
            } else {
                qk_clear_error();
            }
        }
        if (!u->replaced && qk_type_get_traits(t.type)->is_block) {
            if (!w->opt.read_f32)
                return qk_error_set(QK_ERR_UNSUPPORTED,
                                    "%s: tensor '%s' is stored as %s; a checkpoint keeps it in a "
                                    "float type (read it as f32 with options.read_f32, or start "
                                    "from an f32/f16 model)",
                                    qk_model_source_path(w->src), name, qk_type_name(t.type));
            u->type = QK_TYPE_F32;
            u->via_f32 = true;
        }
        if (!qk_safetensors_dtype_name(u->type))
            return qk_error_set(QK_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s",
                                qk_model_source_path(w->src), name, qk_type_name(u->type));
        st = qk_safetensors_writer_add_tensor(w->st, hf, u->type, u->ndim, u->shape);
    }
    if (st == QK_OK) w->n_units++;
    return st;
}

static qk_status make_plan(qk_checkpoint_writer *w) {
    const qk_model_hparams *h = qk_model_source_hparams(w->src);
    const size_t cap = 3 + (size_t)h->n_layer * QK_MS_LAYER_KINDS;
    w->units = calloc(cap, sizeof *w->units);
    if (!w->units) return qk_error_set(QK_ERR_NOMEM, "checkpoint: out of memory");
    qk_status st = add_unit(w, "token_embd.weight", "model.embed_tokens.weight", -1);
    for (int32_t l = 0; l < h->n_layer && st == QK_OK; l++)
        for (int k = 0; k < QK_MS_LAYER_KINDS && st == QK_OK; k++) {
            bool bias = k == QK_MS_ATTN_Q_BIAS || k == QK_MS_ATTN_K_BIAS || k == QK_MS_ATTN_V_BIAS;
            if (bias && !h->attn_bias) continue;
            char name[QK_MS_NAME_CAP], hf[128];
            qk_ms_layer_name(k, l, name);
            qk_ms_hf_layer_name(k, l, hf, sizeof hf);
            if (is_linear_kind(k)) hf[strlen(hf) - strlen(".weight")] = '\0'; /* the module */
            st = add_unit(w, name, hf, k);
        }
    if (st == QK_OK) st = add_unit(w, "output_norm.weight", "model.norm.weight", -1);
    if (st == QK_OK && !h->tied_output) st = add_unit(w, "output.weight", "lm_head.weight", -1);
    return st;
}

/* ---- streaming ---------------------------------------------------------- */

static qk_status stage(qk_checkpoint_writer *w, size_t bytes) {
    if (bytes <= w->buf_cap) return QK_OK;
    unsigned char *b = realloc(w->buf, bytes);
    if (!b) return qk_error_set(QK_ERR_NOMEM, "checkpoint: no memory for %zu bytes", bytes);
    w->buf = b;
    w->buf_cap = bytes;
    return QK_OK;
}

static qk_status write_plain(qk_checkpoint_writer *w, wunit *u) {
    const int64_t numel = u->ndim == 2 ? u->shape[0] * u->shape[1] : u->shape[0];
    const size_t esize = qk_type_get_traits(u->type)->block_bytes;
    size_t bytes;
    if (!qk_mul_size((size_t)numel, esize, &bytes))
        return qk_error_set(QK_ERR_OVERFLOW, "tensor '%s' size overflows", u->name);
    qk_status st = stage(w, 2 * bytes);
    if (st != QK_OK) return st;
    if (u->replaced)
        st = w->opt.replace(w->opt.replace_user, u->name, (float *)(void *)w->buf, numel);
    else if (u->via_f32)
        st = w->opt.read_f32(w->src, u->src_index, (float *)(void *)w->buf, numel, NULL, 0);
    else
        st = qk_model_source_read(w->src, u->src_index, u->type, w->buf, bytes);
    if (st != QK_OK) return st;
    const unsigned char *out = w->buf;
    if (u->unpermute > 0) { /* a q/k bias: presented row r is HF row source_row(r) */
        unsigned char *hf = w->buf + bytes;
        const int64_t rows = u->shape[0], row_bytes = (int64_t)bytes / rows;
        for (int64_t r = 0; r < rows; r++)
            memcpy(hf + qk_ms_source_row(r, rows, u->unpermute) * row_bytes, w->buf + r * row_bytes,
                   (size_t)row_bytes);
        out = hf;
    }
    return qk_safetensors_writer_write(w->st, out, bytes);
}

static qk_status write_linear(qk_checkpoint_writer *w, wunit *u) {
    qk_status st = QK_OK;
    for (int p = 0; p < CKPT_PARTS && st == QK_OK; p++) {
        if (!u->parts[p].present) continue;
        size_t bytes;
        qk_type_row_bytes(u->parts[p].type,
                          u->parts[p].shape[0] * (u->parts[p].ndim == 2 ? u->parts[p].shape[1] : 1),
                          &bytes);
        st = qk_safetensors_writer_write(w->st, u->bufs[p], bytes);
        w->linear_bytes += bytes;
    }
    for (int p = 0; p < CKPT_PARTS; p++) {
        free(u->bufs[p]);
        u->bufs[p] = NULL;
    }
    w->linear_weights += (uint64_t)(u->rows * u->cols);
    return st;
}

/* Write every unit that can go next. */
static qk_status flush(qk_checkpoint_writer *w) {
    while (w->next < w->n_units) {
        wunit *u = &w->units[w->next];
        if (u->linear && !u->added) return QK_OK;
        qk_status st = u->linear ? write_linear(w, u) : write_plain(w, u);
        if (st != QK_OK) return qk_error_prefix("checkpoint tensor '%s'", u->name);
        w->next++;
    }
    return QK_OK;
}

/* ---- public ------------------------------------------------------------ */

void qk_checkpoint_options_init(qk_checkpoint_options *o, qk_checkpoint_format format) {
    memset(o, 0, sizeof *o);
    qk_checkpoint_config_init(&o->config, format);
}

void qk_checkpoint_writer_free(qk_checkpoint_writer *w) {
    if (!w) return;
    qk_safetensors_writer_free(w->st);
    if (w->tmp_dir && !w->committed) remove_folder(w->tmp_dir);
    for (size_t i = 0; w->units && i < w->n_units; i++)
        for (int p = 0; p < CKPT_PARTS; p++) free(w->units[i].bufs[p]);
    free(w->units);
    free(w->buf);
    free(w->tokenizer_path);
    free(w->out_dir);
    free(w->tmp_dir);
    free(w);
}

qk_status qk_checkpoint_writer_create(const char *out_dir, const qk_model_source *src,
                                      const qk_checkpoint_options *options,
                                      qk_checkpoint_writer **out) {
    if (!out_dir || !out_dir[0] || !src || !options || !out)
        return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint writer: NULL argument");
    *out = NULL;
    qk_status st = qk_checkpoint_config_check(&options->config);
    if (st != QK_OK) return st;
    if ((st = check_destination(out_dir)) != QK_OK) return st;
    qk_checkpoint_writer *w = calloc(1, sizeof *w);
    if (!w) return qk_error_set(QK_ERR_NOMEM, "checkpoint writer: out of memory");
    w->src = src;
    w->opt = *options;
    w->out_dir = strdup(out_dir);
    w->tokenizer_path = options->tokenizer_path ? strdup(options->tokenizer_path) : NULL;
    w->opt.tokenizer_path = w->tokenizer_path;
    if (!w->out_dir || (options->tokenizer_path && !w->tokenizer_path))
        st = qk_error_set(QK_ERR_NOMEM, "checkpoint writer: out of memory");
    if (st == QK_OK) st = make_temp_folder(w);
    char path[4096];
    if (st == QK_OK) {
        snprintf(path, sizeof path, "%s/model.safetensors", w->tmp_dir);
        st = qk_safetensors_writer_create(path, &w->st);
    }
    if (st == QK_OK) st = qk_safetensors_writer_add_metadata(w->st, "format", "pt");
    if (st == QK_OK) st = make_plan(w);
    if (st == QK_OK) st = qk_safetensors_writer_begin(w->st);
    if (st == QK_OK) st = flush(w);
    if (st != QK_OK) {
        qk_checkpoint_writer_free(w);
        return st;
    }
    *out = w;
    return QK_OK;
}

qk_status qk_checkpoint_writer_add_linear(qk_checkpoint_writer *w, const char *name,
                                          const qk_quantized_linear *q) {
    if (!w || !name || !q) return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint writer: NULL");
    if (w->committed) return qk_error_set(QK_ERR_STATE, "checkpoint writer: already committed");
    wunit *u = NULL;
    for (size_t i = 0; i < w->n_units && !u; i++)
        if (strcmp(w->units[i].name, name) == 0) u = &w->units[i];
    if (!u || !u->linear)
        return qk_error_set(
            QK_ERR_INVALID_ARG,
            "checkpoint writer: '%s' is not a quantizable linear of the model "
            "(blk.N.attn_q/attn_k/attn_v/attn_output/ffn_gate/ffn_up/ffn_down.weight)",
            name);
    if (u->added)
        return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint writer: '%s' given twice", name);
    if (q->rows != u->rows || q->cols != u->cols)
        return qk_error_set(
            QK_ERR_SHAPE, "checkpoint writer: '%s' is %lld x %lld, the model has %lld x %lld", name,
            (long long)q->rows, (long long)q->cols, (long long)u->rows, (long long)u->cols);
    qk_status st = qk_checkpoint_check_linear(&w->opt.config, q);
    if (st != QK_OK) return qk_error_prefix("checkpoint tensor '%s'", name);
    /* a copy in HF row order with f16 scales */
    qk_quantized_linear hq;
    if (u->unpermute > 0) {
        int64_t *from = malloc((size_t)u->rows * sizeof *from);
        if (!from) return qk_error_set(QK_ERR_NOMEM, "checkpoint writer: out of memory");
        for (int64_t r = 0; r < u->rows; r++) from[qk_ms_source_row(r, u->rows, u->unpermute)] = r;
        st = qk_ckpt_permute_rows(q, from, &hq);
        free(from);
    } else {
        st = qk_ckpt_linear_copy(q, &hq);
    }
    if (st != QK_OK) return qk_error_prefix("checkpoint tensor '%s'", name);
    st = qk_checkpoint_round_scales(&hq);
    for (int p = 0; p < CKPT_PARTS && st == QK_OK; p++) {
        if (!u->parts[p].present) continue;
        size_t bytes;
        const ckpt_part_spec *ps = &u->parts[p];
        st = qk_type_row_bytes(ps->type, ps->shape[0] * (ps->ndim == 2 ? ps->shape[1] : 1), &bytes);
        if (st == QK_OK && !(u->bufs[p] = calloc(bytes ? bytes : 1, 1)))
            st = qk_error_set(QK_ERR_NOMEM, "checkpoint writer: no memory for %zu bytes", bytes);
    }
    if (st == QK_OK) st = qk_ckpt_encode(&w->opt.config, &hq, u->bufs);
    qk_quantized_linear_free(&hq);
    if (st != QK_OK) {
        for (int p = 0; p < CKPT_PARTS; p++) {
            free(u->bufs[p]);
            u->bufs[p] = NULL;
        }
        return qk_error_prefix("checkpoint tensor '%s'", name);
    }
    u->added = true;
    return flush(w);
}

const char *qk_checkpoint_writer_next_missing(const qk_checkpoint_writer *w) {
    for (size_t i = 0; w && i < w->n_units; i++)
        if (w->units[i].linear && !w->units[i].added) return w->units[i].name;
    return NULL;
}

static qk_status write_configs(const qk_checkpoint_writer *w);

qk_status qk_checkpoint_writer_commit(qk_checkpoint_writer *w, qk_checkpoint_report *report) {
    if (!w) return qk_error_set(QK_ERR_INVALID_ARG, "checkpoint writer: NULL");
    if (w->committed) return qk_error_set(QK_ERR_STATE, "checkpoint writer: already committed");
    const char *missing = qk_checkpoint_writer_next_missing(w);
    if (missing)
        return qk_error_set(QK_ERR_STATE, "checkpoint %s: linear '%s' was never given", w->out_dir,
                            missing);
    qk_status st = qk_safetensors_writer_commit(w->st);
    qk_safetensors_writer_free(w->st);
    w->st = NULL;
    if (st == QK_OK) st = write_configs(w);
    if (st == QK_OK) st = check_destination(w->out_dir);
    fsync_path(w->tmp_dir);
    if (st == QK_OK && rename(w->tmp_dir, w->out_dir) != 0)
        st = qk_error_set(QK_ERR_IO, "%s: cannot rename %s into place: %s", w->out_dir, w->tmp_dir,
                          strerror(errno));
    if (st != QK_OK) return st;
    w->committed = true;
    char parent[4096];
    dirname_of(w->out_dir, parent, sizeof parent);
    fsync_path(parent);
    if (report) {
        memset(report, 0, sizeof *report);
        report->linear_weights = w->linear_weights;
        report->linear_bytes = w->linear_bytes;
        report->bits_per_weight =
            w->linear_weights ? 8.0 * (double)w->linear_bytes / (double)w->linear_weights : 0.0;
        DIR *d = opendir(w->out_dir);
        struct dirent *de;
        char path[4096];
        struct stat sb;
        while (d && (de = readdir(d)) != NULL) {
            snprintf(path, sizeof path, "%s/%s", w->out_dir, de->d_name);
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
            report->folder_bytes += (uint64_t)sb.st_size;
            if (strcmp(de->d_name, "model.safetensors") == 0)
                report->file_bytes = (uint64_t)sb.st_size;
        }
        if (d) closedir(d);
    }
    return QK_OK;
}

/* ---- config files and tokenizer (used by commit) ------------------------ */

static const char *const HF_TOKENIZER_FILES[] = {
    "tokenizer.model",         "tokenizer.json",         "tokenizer_config.json",
    "special_tokens_map.json", "generation_config.json", "added_tokens.json"};

static qk_status copy_tokenizer(const qk_checkpoint_writer *w, const char *src_folder) {
    qk_status st = QK_OK;
    char path[4096];
    if (w->opt.tokenizer_path) {
        const char *t = w->opt.tokenizer_path;
        if (is_dir(t))
            src_folder = t;
        else {
            size_t n = strlen(t);
            const char *as = "tokenizer.bin";
            if (n >= 6 && strcmp(t + n - 6, ".model") == 0)
                as = "tokenizer.model";
            else if (n >= 5 && strcmp(t + n - 5, ".json") == 0)
                as = "tokenizer.json";
            return copy_file(w, t, as);
        }
    }
    if (src_folder) {
        for (size_t i = 0;
             i < sizeof HF_TOKENIZER_FILES / sizeof *HF_TOKENIZER_FILES && st == QK_OK; i++) {
            snprintf(path, sizeof path, "%s/%s", src_folder, HF_TOKENIZER_FILES[i]);
            if (is_file(path)) st = copy_file(w, path, HF_TOKENIZER_FILES[i]);
        }
        return st;
    }
    if (qk_model_source_format(w->src) == QK_MODEL_FORMAT_LLAMA2C) {
        char dir[3072];
        dirname_of(qk_model_source_path(w->src), dir, sizeof dir);
        snprintf(path, sizeof path, "%s/tokenizer.bin", dir);
        if (is_file(path)) st = copy_file(w, path, "tokenizer.bin");
    }
    return st;
}

/* A float as the double with the shortest decimal that gives it back. */
static json_t *json_float(float f) {
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return json_real(strtod(buf, NULL));
}

static const char *torch_dtype(qk_type t) {
    return t == QK_TYPE_BF16 ? "bfloat16" : t == QK_TYPE_F16 ? "float16" : "float32";
}

/* config.json for a GGUF or llama2.c source, from its hyper-parameters. */
static json_t *config_from_hparams(const qk_checkpoint_writer *w) {
    const qk_model_hparams *h = qk_model_source_hparams(w->src);
    const bool qwen = strcmp(h->arch, "qwen2") == 0;
    json_t *o = json_object(), *arch = json_array();
    json_array_append_new(arch, json_string(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    json_object_set_new(o, "architectures", arch);
    json_object_set_new(o, "model_type", json_string(qwen ? "qwen2" : "llama"));
    json_object_set_new(o, "hidden_size", json_integer(h->n_embd));
    json_object_set_new(o, "intermediate_size", json_integer(h->n_ff));
    json_object_set_new(o, "num_hidden_layers", json_integer(h->n_layer));
    json_object_set_new(o, "num_attention_heads", json_integer(h->n_head));
    json_object_set_new(o, "num_key_value_heads", json_integer(h->n_head_kv));
    json_object_set_new(o, "head_dim", json_integer(h->head_dim));
    json_object_set_new(o, "vocab_size", json_integer(h->n_vocab));
    json_object_set_new(o, "max_position_embeddings", json_integer(h->n_ctx_train));
    json_object_set_new(o, "rms_norm_eps", json_float(h->rms_eps));
    json_object_set_new(o, "rope_theta", json_float(h->rope_theta));
    json_object_set_new(o, "hidden_act", json_string("silu"));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(h->tied_output));
    if (!qwen) json_object_set_new(o, "attention_bias", json_false());
    if (h->bos_id >= 0) json_object_set_new(o, "bos_token_id", json_integer(h->bos_id));
    if (h->eos_id >= 0) json_object_set_new(o, "eos_token_id", json_integer(h->eos_id));
    if (h->rope_scaling.present) {
        json_t *rs = json_object();
        json_object_set_new(rs, "rope_type", json_string(h->rope_scaling.type));
        if (h->rope_scaling.factor > 0)
            json_object_set_new(rs, "factor", json_real(h->rope_scaling.factor));
        if (h->rope_scaling.low_freq_factor > 0)
            json_object_set_new(rs, "low_freq_factor", json_real(h->rope_scaling.low_freq_factor));
        if (h->rope_scaling.high_freq_factor > 0)
            json_object_set_new(rs, "high_freq_factor",
                                json_real(h->rope_scaling.high_freq_factor));
        if (h->rope_scaling.original_max_position_embeddings > 0)
            json_object_set_new(rs, "original_max_position_embeddings",
                                json_integer(h->rope_scaling.original_max_position_embeddings));
        json_object_set_new(o, "rope_scaling", rs);
    }
    json_object_set_new(o, "torch_dtype", json_string(torch_dtype(w->units[0].type)));
    return o;
}

static qk_status write_json(const qk_checkpoint_writer *w, const char *name, const json_t *o) {
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(16));
    if (!text) return qk_error_set(QK_ERR_NOMEM, "%s: cannot format %s", w->out_dir, name);
    size_t n = strlen(text);
    char *withnl = realloc(text, n + 2);
    if (!withnl) {
        free(text);
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", w->out_dir);
    }
    withnl[n] = '\n';
    withnl[n + 1] = '\0';
    qk_status st = write_file(w, name, withnl, n + 1);
    free(withnl);
    return st;
}

static qk_status write_configs(const qk_checkpoint_writer *w) {
    const char *src_path = qk_model_source_path(w->src);
    char folder[4096] = "";
    json_t *config = NULL;
    if (qk_model_source_format(w->src) == QK_MODEL_FORMAT_HF) {
        if (is_dir(src_path))
            snprintf(folder, sizeof folder, "%s", src_path);
        else
            dirname_of(src_path, folder, sizeof folder);
        char path[4096];
        snprintf(path, sizeof path, "%s/config.json", folder);
        json_error_t err;
        config = json_load_file(path, 0, &err);
        if (!config || !json_is_object(config)) {
            json_decref(config);
            return qk_error_set(QK_ERR_CORRUPT, "%s: line %d: %s", path, err.line, err.text);
        }
    } else {
        config = config_from_hparams(w);
    }
    json_object_set_new(config, "quantization_config", qk_ckpt_config_json(&w->opt.config));
    qk_status st = write_json(w, "config.json", config);
    json_decref(config);
    if (st == QK_OK && (w->opt.config.format == QK_CHECKPOINT_GPTQ ||
                        w->opt.config.format == QK_CHECKPOINT_GPTQ_V2)) {
        json_t *qc = qk_ckpt_quantize_config_json(&w->opt.config);
        st = write_json(w, "quantize_config.json", qc);
        json_decref(qc);
    }
    if (st == QK_OK) st = copy_tokenizer(w, folder[0] ? folder : NULL);
    return st;
}
