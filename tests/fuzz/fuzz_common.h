/*
** Helpers shared by the fuzz targets (static functions, one copy per target).
**
** Every target defines LLVMFuzzerTestOneInput(data, size). It is linked
** either with libFuzzer (tests/fuzz/CMakeLists.txt, clang, QK_BUILD_FUZZ) or
** with regression_driver.c, which replays saved inputs in the normal test
** suite. A target must never crash, leak or trip a sanitizer on any input;
** FUZZ_CHECK turns a broken promise of the library into a crash so that the
** fuzzer reports it and keeps the input.
*/
#ifndef QK_FUZZ_COMMON_H
#define QK_FUZZ_COMMON_H

#include <fcntl.h>    /* open */
#include <stddef.h>   /* size_t */
#include <stdint.h>   /* uint8_t */
#include <stdio.h>    /* fprintf, snprintf */
#include <stdlib.h>   /* abort, atexit, getenv */
#include <string.h>   /* strlen */
#include <sys/stat.h> /* mkdir */
#include <unistd.h>   /* write, close, unlink, rmdir, getpid */

#include "quantkit/quantkit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n(last error: %s \"%s\")\n", __FILE__,   \
                    __LINE__, #cond, qk_status_name(qk_last_status()), qk_last_error());           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A failing call must leave its status and a message as the thread's last
** error (CONVENTIONS.md, Errors). Call qk_clear_error() before the call. */
static inline void fuzz_check_status(qk_status st) {
    if (st == QK_OK) return;
    FUZZ_CHECK(st < 0);
    if (qk_last_status() != st || qk_last_error()[0] == '\0') {
        fprintf(stderr, "fuzz: call failed with %s but the last error is %s \"%s\"\n",
                qk_status_name(st), qk_status_name(qk_last_status()), qk_last_error());
        abort();
    }
}

/* Read every byte of [p, p + n) so that ASan (heap) or a fault (mapping)
** catches a range the library should not have handed out. */
static inline unsigned fuzz_touch(const void *p, size_t n) {
    const volatile unsigned char *b = (const volatile unsigned char *)p;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) sum += b[i];
    return sum;
}

/* ------------------------------------------------------------------------
** A private temporary folder for targets whose API reads files (the io
** readers map files). Created on first use under $TMPDIR (or /dev/shm,
** /tmp), removed with the files fuzz_write_file made at exit.
*/
#define FUZZ_MAX_FILES 8
static char fuzz_dir_path[512];
static char fuzz_files[FUZZ_MAX_FILES][600];
static int fuzz_n_files;

static inline void fuzz_cleanup(void) {
    for (int i = 0; i < fuzz_n_files; i++) unlink(fuzz_files[i]);
    /* subfolders ("hf/config.json"), then the folder itself */
    for (int i = 0; i < fuzz_n_files; i++) {
        char *slash = strrchr(fuzz_files[i], '/');
        if (!slash) continue;
        *slash = '\0';
        if (strcmp(fuzz_files[i], fuzz_dir_path) != 0) rmdir(fuzz_files[i]);
    }
    if (fuzz_dir_path[0]) rmdir(fuzz_dir_path);
}

static inline const char *fuzz_dir(void) {
    if (fuzz_dir_path[0]) return fuzz_dir_path;
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/qk-fuzz-%ld-%d", base, (long)getpid(),
                 attempt);
        if (mkdir(fuzz_dir_path, 0700) == 0) {
            atexit(fuzz_cleanup);
            return fuzz_dir_path;
        }
    }
    fprintf(stderr, "fuzz: cannot create a temporary folder under %s\n", base);
    abort();
}

/* The path of NAME in the temporary folder (static storage, stable for
** the process); the file is removed at exit. */
static inline const char *fuzz_path(const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    for (int i = 0; i < fuzz_n_files; i++)
        if (strcmp(fuzz_files[i], path) == 0) return fuzz_files[i];
    FUZZ_CHECK(fuzz_n_files < FUZZ_MAX_FILES);
    memcpy(fuzz_files[fuzz_n_files], path, strlen(path) + 1);
    return fuzz_files[fuzz_n_files++];
}

/* Write `size` bytes to NAME in the temporary folder (replacing it) and
** return its path, as fuzz_path. */
static inline const char *fuzz_write_file(const char *name, const void *data, size_t size) {
    const char *path = fuzz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
    const unsigned char *p = (const unsigned char *)data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w <= 0) {
            fprintf(stderr, "fuzz: cannot write %s\n", path);
            abort();
        }
        p += w;
        left -= (size_t)w;
    }
    close(fd);
    return path;
}

#endif /* QK_FUZZ_COMMON_H */
