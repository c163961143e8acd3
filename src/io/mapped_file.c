/*
** Read-only memory-mapped files (see quantkit/io.h).
*/
#include <errno.h>    /* errno */
#include <fcntl.h>    /* open */
#include <stdlib.h>   /* malloc, free */
#include <string.h>   /* strerror, strdup */
#include <sys/mman.h> /* mmap, munmap */
#include <sys/stat.h> /* fstat */
#include <unistd.h>   /* close */

#include "core/error.h"
#include "quantkit/io.h"

struct qk_mapped_file {
    char *path;
    unsigned char *data; /* the mapping, or `empty` for a 0-byte file */
    size_t size;
    bool mapped;
    unsigned char empty[1];
};

qk_status qk_mapped_file_open(const char *path, qk_mapped_file **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "mapped file: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qk_error_set(QK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return qk_error_set(QK_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return qk_error_set(QK_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return qk_error_set(QK_ERR_IO, "%s: %lld bytes do not fit in memory", path,
                            (long long)st.st_size);
    }
    qk_mapped_file *f = calloc(1, sizeof *f);
    char *p = strdup(path);
    if (!f || !p) {
        close(fd);
        free(f);
        free(p);
        return qk_error_set(QK_ERR_NOMEM, "%s: out of memory", path);
    }
    f->path = p;
    f->size = (size_t)st.st_size;
    f->data = f->empty;
    if (f->size > 0) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(f->path);
            free(f);
            return qk_error_set(QK_ERR_IO, "%s: cannot map %zu bytes: %s", path, (size_t)st.st_size,
                                strerror(e));
        }
        f->data = m;
        f->mapped = true;
    }
    close(fd); /* the mapping keeps the file open */
    *out = f;
    return QK_OK;
}

void qk_mapped_file_close(qk_mapped_file *file) {
    if (!file) return;
    if (file->mapped) munmap(file->data, file->size);
    free(file->path);
    free(file);
}

const unsigned char *qk_mapped_file_data(const qk_mapped_file *file) {
    return file->data;
}
size_t qk_mapped_file_size(const qk_mapped_file *file) {
    return file->size;
}
const char *qk_mapped_file_path(const qk_mapped_file *file) {
    return file->path;
}

int64_t qk_io_tensor_numel(const qk_io_tensor *tensor) {
    int64_t n = 1;
    for (int32_t i = 0; i < tensor->ndim; i++) n *= tensor->shape[i];
    return n;
}
