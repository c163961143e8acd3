/*
** A model stored in one or more safetensors files (see quantkit/io.h):
** a single file, a model.safetensors.index.json ({"weight_map": {tensor:
** file}}), or a folder holding either.
*/
#include <dirent.h>   /* opendir, readdir */
#include <errno.h>    /* errno */
#include <jansson.h>  /* json_loadb */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* calloc, free, qsort */
#include <string.h>   /* strcmp, strlen */
#include <sys/stat.h> /* stat */

#include "core/error.h"
#include "quantkit/io.h"

typedef struct set_entry {
    const char *name; /* borrowed from the shard */
    size_t shard;
    size_t index; /* in the shard */
} set_entry;

struct qk_safetensors_set {
    char *folder;
    qk_safetensors **shards;
    char **shard_names; /* as named in the index, or the file name */
    size_t n_shards, shards_cap;
    set_entry *entries;
    size_t n_entries;
    set_entry **sorted;
};

static int cmp_entry_ptr(const void *a, const void *b) {
    return strcmp((*(const set_entry *const *)a)->name, (*(const set_entry *const *)b)->name);
}
static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static char *join(const char *folder, const char *name) {
    size_t n = strlen(folder) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", folder, name);
    return p;
}

/* Index of shard `name` in the set, opening it on first use. */
static qk_status get_shard(qk_safetensors_set *set, const char *name, size_t *out) {
    for (size_t i = 0; i < set->n_shards; i++) {
        if (strcmp(set->shard_names[i], name) == 0) {
            *out = i;
            return QK_OK;
        }
    }
    if (set->n_shards == set->shards_cap) {
        size_t cap = set->shards_cap ? 2 * set->shards_cap : 8;
        qk_safetensors **s = realloc(set->shards, cap * sizeof *s);
        if (s) set->shards = s;
        char **n = realloc(set->shard_names, cap * sizeof *n);
        if (n) set->shard_names = n;
        if (!s || !n) return qk_error_set(QK_ERR_NOMEM, "safetensors: out of memory");
        set->shards_cap = cap;
    }
    char *path = join(set->folder, name);
    char *copy = strdup(name);
    if (!path || !copy) {
        free(path);
        free(copy);
        return qk_error_set(QK_ERR_NOMEM, "safetensors: out of memory");
    }
    qk_safetensors *s = NULL;
    qk_status st = qk_safetensors_open(path, &s);
    free(path);
    if (st != QK_OK) {
        free(copy);
        return st;
    }
    set->shards[set->n_shards] = s;
    set->shard_names[set->n_shards] = copy;
    *out = set->n_shards++;
    return QK_OK;
}

static qk_status add_entry(qk_safetensors_set *set, size_t cap, const char *name, size_t shard,
                           size_t index) {
    if (set->n_entries == cap)
        return qk_error_set(QK_ERR_INTERNAL, "safetensors: entry table full");
    set->entries[set->n_entries++] = (set_entry){name, shard, index};
    return QK_OK;
}

static qk_status open_index(qk_safetensors_set *set, const char *index_path) {
    qk_mapped_file *f = NULL;
    qk_status st = qk_mapped_file_open(index_path, &f);
    if (st != QK_OK) return st;
    json_error_t err;
    json_t *root = json_loadb((const char *)qk_mapped_file_data(f), qk_mapped_file_size(f),
                              JSON_REJECT_DUPLICATES, &err);
    qk_mapped_file_close(f);
    if (!root)
        return qk_error_set(QK_ERR_CORRUPT, "%s: invalid JSON at byte %d (line %d, column %d): %s",
                            index_path, err.position, err.line, err.column, err.text);
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) {
        json_decref(root);
        return qk_error_set(QK_ERR_CORRUPT, "%s: no \"weight_map\" object", index_path);
    }
    size_t cap = json_object_size(map);
    set->entries = calloc(cap ? cap : 1, sizeof *set->entries);
    if (!set->entries) st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory", index_path);
    const char *name;
    json_t *file;
    if (st == QK_OK) {
        json_object_foreach(map, name, file) {
            const char *fname = json_is_string(file) ? json_string_value(file) : NULL;
            if (!fname || !fname[0] || fname[0] == '/' || strstr(fname, "..")) {
                st = qk_error_set(QK_ERR_CORRUPT,
                                  "%s: weight_map entry of tensor '%s' is not a file name inside "
                                  "the model folder",
                                  index_path, name);
                break;
            }
            size_t shard;
            st = get_shard(set, fname, &shard);
            if (st != QK_OK) break;
            int64_t ti = qk_safetensors_find_tensor(set->shards[shard], name);
            if (ti < 0) {
                st = qk_error_set(QK_ERR_CORRUPT,
                                  "%s: weight_map puts tensor '%s' in %s, which has no such tensor",
                                  index_path, name, fname);
                break;
            }
            qk_io_tensor t;
            qk_safetensors_tensor_info(set->shards[shard], (size_t)ti, &t);
            st = add_entry(set, cap, t.name, shard, (size_t)ti);
            if (st != QK_OK) break;
        }
    }
    json_decref(root);
    return st;
}

/* Every tensor of every shard, shards in the order opened. */
static qk_status collect_all(qk_safetensors_set *set) {
    size_t cap = 0;
    for (size_t i = 0; i < set->n_shards; i++) cap += qk_safetensors_tensor_count(set->shards[i]);
    set->entries = calloc(cap ? cap : 1, sizeof *set->entries);
    if (!set->entries) return qk_error_set(QK_ERR_NOMEM, "safetensors: out of memory");
    for (size_t s = 0; s < set->n_shards; s++) {
        for (size_t i = 0; i < qk_safetensors_tensor_count(set->shards[s]); i++) {
            qk_io_tensor t;
            qk_safetensors_tensor_info(set->shards[s], i, &t);
            qk_status st = add_entry(set, cap, t.name, s, i);
            if (st != QK_OK) return st;
        }
    }
    return QK_OK;
}

static qk_status open_folder_files(qk_safetensors_set *set) {
    DIR *d = opendir(set->folder);
    if (!d) return qk_error_set(QK_ERR_IO, "%s: cannot list: %s", set->folder, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    qk_status st = QK_OK;
    struct dirent *e;
    while (st == QK_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".safetensors")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory", set->folder);
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name)))
            st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory", set->folder);
        else
            n++;
    }
    closedir(d);
    if (st == QK_OK && n == 0)
        st = qk_error_set(QK_ERR_NOT_FOUND, "%s: no .safetensors files in the folder", set->folder);
    if (st == QK_OK) qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 0; i < n && st == QK_OK; i++) {
        size_t shard;
        st = get_shard(set, names[i], &shard);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st == QK_OK ? collect_all(set) : st;
}

static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    char *d = malloc((size_t)(slash - path) + 1);
    if (d) {
        memcpy(d, path, (size_t)(slash - path));
        d[slash - path] = '\0';
    }
    return d;
}

qk_status qk_safetensors_set_open(const char *path, qk_safetensors_set **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "safetensors: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return qk_error_set(QK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    qk_safetensors_set *set = calloc(1, sizeof *set);
    if (!set) return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    qk_status st = QK_OK;
    if (S_ISDIR(sb.st_mode)) {
        set->folder = strdup(path);
        char *index = set->folder ? join(path, "model.safetensors.index.json") : NULL;
        if (!index) {
            st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
        } else if (stat(index, &sb) == 0) {
            st = open_index(set, index);
        } else {
            st = open_folder_files(set);
        }
        free(index);
    } else {
        set->folder = folder_of(path);
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        if (!set->folder) {
            st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
        } else if (ends_with(path, ".json")) {
            st = open_index(set, path);
        } else {
            size_t shard;
            st = get_shard(set, base, &shard);
            if (st == QK_OK) st = collect_all(set);
        }
    }
    if (st == QK_OK) {
        set->sorted = malloc((set->n_entries ? set->n_entries : 1) * sizeof *set->sorted);
        if (!set->sorted) st = qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st == QK_OK) {
        for (size_t i = 0; i < set->n_entries; i++) set->sorted[i] = &set->entries[i];
        qsort(set->sorted, set->n_entries, sizeof *set->sorted, cmp_entry_ptr);
        for (size_t i = 1; i < set->n_entries && st == QK_OK; i++)
            if (strcmp(set->sorted[i - 1]->name, set->sorted[i]->name) == 0)
                st = qk_error_set(QK_ERR_CORRUPT, "%s: tensor '%s' is in both %s and %s", path,
                                  set->sorted[i]->name, set->shard_names[set->sorted[i - 1]->shard],
                                  set->shard_names[set->sorted[i]->shard]);
    }
    if (st != QK_OK) {
        qk_safetensors_set_close(set);
        return st;
    }
    *out = set;
    return QK_OK;
}

void qk_safetensors_set_close(qk_safetensors_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->n_shards; i++) {
        qk_safetensors_close(set->shards[i]);
        free(set->shard_names[i]);
    }
    free(set->shards);
    free(set->shard_names);
    free(set->entries);
    free(set->sorted);
    free(set->folder);
    free(set);
}

size_t qk_safetensors_set_tensor_count(const qk_safetensors_set *set) {
    return set->n_entries;
}
size_t qk_safetensors_set_shard_count(const qk_safetensors_set *set) {
    return set->n_shards;
}

const qk_safetensors *qk_safetensors_set_shard(const qk_safetensors_set *set, size_t index) {
    return index < set->n_shards ? set->shards[index] : NULL;
}

int64_t qk_safetensors_set_find_tensor(const qk_safetensors_set *set, const char *name) {
    if (!set || !name || set->n_entries == 0) return -1;
    set_entry key = {name, 0, 0};
    const set_entry *kp = &key;
    set_entry **hit = bsearch(&kp, set->sorted, set->n_entries, sizeof *set->sorted, cmp_entry_ptr);
    return hit ? (int64_t)(*hit - set->entries) : -1;
}

qk_status qk_safetensors_set_tensor_info(const qk_safetensors_set *set, size_t index,
                                         qk_io_tensor *out) {
    if (!set || !out || index >= set->n_entries)
        return qk_error_set(QK_ERR_INVALID_ARG, "safetensors: tensor index %zu out of range",
                            index);
    const set_entry *e = &set->entries[index];
    return qk_safetensors_tensor_info(set->shards[e->shard], e->index, out);
}

const qk_safetensors *qk_safetensors_set_tensor_file(const qk_safetensors_set *set, size_t index) {
    if (!set || index >= set->n_entries) return NULL;
    return set->shards[set->entries[index].shard];
}
