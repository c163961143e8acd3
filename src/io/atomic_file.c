/*
** Atomic output files (see quantkit/io.h): write a uniquely named temporary
** file in the destination folder, fsync it, rename it onto the destination.
*/
#include <dirent.h>    /* opendir, readdir */
#include <errno.h>     /* errno, EEXIST, EINTR, ESRCH */
#include <fcntl.h>     /* open */
#include <signal.h>    /* kill */
#include <stdatomic.h> /* atomic_uint */
#include <stdio.h>     /* snprintf, rename */
#include <stdlib.h>    /* malloc, free, strtol */
#include <string.h>    /* strerror, strrchr */
#include <unistd.h>    /* write, fsync, close, unlink, getpid */

#include "core/error.h"
#include "quantkit/io.h"

#define QK_ATOMIC_BUFFER (1u << 20)

struct qk_atomic_file {
    char *path;      /* destination */
    char *temp_path; /* temporary file in the same folder */
    int fd;
    unsigned char *buf;
    size_t buf_len;
    uint64_t written; /* bytes appended (buffered or not) */
    qk_status failed; /* sticky write error */
};

static atomic_uint temp_counter;

/* Folder part of `path` ("." when it has none); malloc'ed. */
static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

bool qk_temp_name_is_stale(const char *name, const char *base) {
    const size_t nb = strlen(base);
    static const char TAG[] = ".qk-tmp-";
    if (name[0] != '.' || strncmp(name + 1, base, nb) != 0) return false;
    const char *p = name + 1 + nb;
    if (strncmp(p, TAG, sizeof TAG - 1) != 0) return false;
    p += sizeof TAG - 1;
    char *end;
    errno = 0;
    const long pid = strtol(p, &end, 10);
    if (errno != 0 || end == p || *end != '-' || pid <= 0 || (long)(pid_t)pid != pid) return false;
    const char *counter = end + 1;
    if (!*counter) return false;
    for (const char *c = counter; *c; c++)
        if (*c < '0' || *c > '9') return false;
    if (pid == (long)getpid()) return false; /* ours: maybe in use by another thread */
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Remove temporary files for `base` left in `folder` by killed processes
** (best effort; see quantkit/io.h). */
static void remove_stale_temps(const char *folder, const char *base) {
    DIR *d = opendir(folder);
    if (!d) return;
    const size_t cap = strlen(folder) + 2;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!qk_temp_name_is_stale(de->d_name, base)) continue;
        char *p = malloc(cap + strlen(de->d_name));
        if (!p) break;
        snprintf(p, cap + strlen(de->d_name), "%s/%s", folder, de->d_name);
        (void)unlink(p); /* a folder (checkpoint writer's) is not ours to remove here */
        free(p);
    }
    closedir(d);
}

qk_status qk_atomic_file_open(const char *path, qk_atomic_file **out) {
    if (!path || !out || !path[0])
        return qk_error_set(QK_ERR_INVALID_ARG, "atomic file: NULL or empty path");
    *out = NULL;
    qk_atomic_file *f = calloc(1, sizeof *f);
    char *folder = folder_of(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!base[0]) {
        free(f);
        free(folder);
        return qk_error_set(QK_ERR_INVALID_ARG, "%s: the output path names a folder", path);
    }
    size_t cap = strlen(folder) + strlen(base) + 64;
    if (f) {
        f->path = strdup(path);
        f->temp_path = malloc(cap);
        f->buf = malloc(QK_ATOMIC_BUFFER);
    }
    if (!f || !folder || !f->path || !f->temp_path || !f->buf) {
        if (f) {
            free(f->path);
            free(f->temp_path);
            free(f->buf);
        }
        free(f);
        free(folder);
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    }
    f->fd = -1;
    remove_stale_temps(folder, base);
    for (int attempt = 0; attempt < 1000 && f->fd < 0; attempt++) {
        unsigned n = atomic_fetch_add(&temp_counter, 1u);
        snprintf(f->temp_path, cap, "%s/.%s.qk-tmp-%ld-%u", folder, base, (long)getpid(), n);
        f->fd = open(f->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd < 0 && errno != EEXIST) break;
    }
    if (f->fd < 0) {
        int e = errno;
        qk_status st = qk_error_set(QK_ERR_IO, "%s: cannot create a temporary file in %s: %s", path,
                                    folder, strerror(e));
        free(folder);
        free(f->path);
        free(f->temp_path);
        free(f->buf);
        free(f);
        return st;
    }
    free(folder);
    *out = f;
    return QK_OK;
}

/* write(2) all of [p, p+n) (file offset `at`), retrying on EINTR and short
** writes. */
static qk_status write_all(qk_atomic_file *f, const unsigned char *p, size_t n, uint64_t at) {
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t w = write(f->fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            f->failed = qk_error_set(QK_ERR_IO, "%s: write failed at byte %llu: %s", f->path,
                                     (unsigned long long)at, strerror(e));
            return f->failed;
        }
        if (w == 0) {
            f->failed = qk_error_set(QK_ERR_IO, "%s: write made no progress at byte %llu", f->path,
                                     (unsigned long long)at);
            return f->failed;
        }
        p += w;
        n -= (size_t)w;
        at += (uint64_t)w;
    }
    return QK_OK;
}

static qk_status flush_buffer(qk_atomic_file *f) {
    if (f->buf_len == 0) return QK_OK;
    qk_status st = write_all(f, f->buf, f->buf_len, f->written - f->buf_len);
    f->buf_len = 0;
    return st;
}

static qk_status sticky(const qk_atomic_file *f) {
    return qk_error_set(f->failed, "%s: an earlier write failed (%s)", f->path,
                        qk_status_str(f->failed));
}

qk_status qk_atomic_file_write(qk_atomic_file *f, const void *data, size_t n) {
    if (!f) return qk_error_set(QK_ERR_INVALID_ARG, "atomic file: NULL handle");
    if (f->failed != QK_OK) return sticky(f);
    if (n > 0 && !data) return qk_error_set(QK_ERR_INVALID_ARG, "%s: NULL data", f->path);
    const unsigned char *p = data;
    if (n < QK_ATOMIC_BUFFER - f->buf_len) {
        memcpy(f->buf + f->buf_len, p, n);
        f->buf_len += n;
        f->written += n;
        return QK_OK;
    }
    qk_status st = flush_buffer(f);
    if (st != QK_OK) return st;
    if (n >= QK_ATOMIC_BUFFER) {
        st = write_all(f, p, n, f->written);
        if (st == QK_OK) f->written += n;
        return st;
    }
    memcpy(f->buf, p, n);
    f->buf_len = n;
    f->written += n;
    return QK_OK;
}

qk_status qk_atomic_file_write_zeros(qk_atomic_file *f, size_t n) {
    static const unsigned char zeros[4096];
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        qk_status st = qk_atomic_file_write(f, zeros, k);
        if (st != QK_OK) return st;
        n -= k;
    }
    return QK_OK;
}

uint64_t qk_atomic_file_tell(const qk_atomic_file *f) {
    return f->written;
}
const char *qk_atomic_file_path(const qk_atomic_file *f) {
    return f->path;
}
const char *qk_atomic_file_temp_path(const qk_atomic_file *f) {
    return f->temp_path;
}

static void destroy(qk_atomic_file *f, bool unlink_temp) {
    if (f->fd >= 0) close(f->fd);
    if (unlink_temp) unlink(f->temp_path);
    free(f->path);
    free(f->temp_path);
    free(f->buf);
    free(f);
}

/* fsync the folder holding `path` so the rename is durable; best effort
** (some file systems refuse fsync on folders). */
static void sync_folder(const char *path) {
    char *folder = folder_of(path);
    if (!folder) return;
    int fd = open(folder, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(folder);
}

qk_status qk_atomic_file_commit(qk_atomic_file *f) {
    if (!f) return qk_error_set(QK_ERR_INVALID_ARG, "atomic file: NULL handle");
    qk_status st = f->failed != QK_OK ? sticky(f) : flush_buffer(f);
    if (st == QK_OK && fsync(f->fd) != 0) {
        int e = errno;
        st = qk_error_set(QK_ERR_IO, "%s: fsync failed: %s", f->path, strerror(e));
    }
    if (st == QK_OK) {
        int rc = close(f->fd);
        f->fd = -1;
        if (rc != 0) {
            int e = errno;
            st = qk_error_set(QK_ERR_IO, "%s: close failed: %s", f->path, strerror(e));
        }
    }
    if (st == QK_OK && rename(f->temp_path, f->path) != 0) {
        int e = errno;
        st = qk_error_set(QK_ERR_IO, "%s: cannot rename %s into place: %s", f->path, f->temp_path,
                          strerror(e));
    }
    if (st != QK_OK) {
        destroy(f, true);
        return st;
    }
    sync_folder(f->path);
    destroy(f, false);
    return QK_OK;
}

void qk_atomic_file_abort(qk_atomic_file *f) {
    if (!f) return;
    destroy(f, true);
}
