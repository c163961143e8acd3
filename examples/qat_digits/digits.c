/*
** Loading sklearn's digits CSV (see digits.h). The .gz file is read through
** a pipe from `gzip -dc FILE` (fork + exec, no shell), so the example needs
** no zlib; plain .csv files are read directly.
*/
#include "digits.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIGITS_MAX_ROWS 100000

const char *digits_find(void) {
    static const char *candidates[] = {
        "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz",
        "/usr/local/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz",
    };
    const char *env = getenv("QK_DIGITS");
    struct stat st;
    if (env && env[0] && stat(env, &st) == 0) return env;
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (stat(candidates[i], &st) == 0) return candidates[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Parse one line of 65 integers into x[64] and *label. */
static int parse_line(char *line, float *x, int32_t *label) {
    char *p = line;
    for (int i = 0; i <= DIGITS_PIXELS; i++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno) return -1;
        if (i < DIGITS_PIXELS) {
            if (v < 0 || v > 16) return -1;
            x[i] = (float)v / 16.0f;
        } else {
            if (v < 0 || v >= DIGITS_CLASSES) return -1;
            *label = (int32_t)v;
        }
        p = end;
        while (*p == ' ' || *p == '\r' || *p == '\n') p++;
        if (i < DIGITS_PIXELS) {
            if (*p != ',') return -1;
            p++;
        }
    }
    return *p == '\0' ? 0 : -1;
}

int digits_load(const char *path, digits_set *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    FILE *f = NULL;
    pid_t pid = -1;
    if (ends_with(path, ".gz")) {
        int fd[2];
        if (pipe(fd) != 0) {
            snprintf(err, err_size, "pipe: %s", strerror(errno));
            return -1;
        }
        pid = fork();
        if (pid < 0) {
            snprintf(err, err_size, "fork: %s", strerror(errno));
            close(fd[0]);
            close(fd[1]);
            return -1;
        }
        if (pid == 0) {
            dup2(fd[1], STDOUT_FILENO);
            close(fd[0]);
            close(fd[1]);
            execlp("gzip", "gzip", "-dc", "--", path, (char *)NULL);
            _exit(127);
        }
        close(fd[1]);
        f = fdopen(fd[0], "r");
    } else {
        f = fopen(path, "r");
    }
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    int64_t cap = 2048;
    out->x = malloc(sizeof(float) * DIGITS_PIXELS * (size_t)cap);
    out->label = malloc(sizeof(int32_t) * (size_t)cap);
    char line[4096];
    int rc = out->x && out->label ? 0 : -1;
    if (rc) snprintf(err, err_size, "out of memory");
    int64_t lineno = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '\n' || line[0] == '\0') continue;
        if (out->n == cap) {
            if (cap >= DIGITS_MAX_ROWS) {
                snprintf(err, err_size, "%s: more than %d rows", path, DIGITS_MAX_ROWS);
                rc = -1;
                break;
            }
            cap *= 2;
            float *nx = realloc(out->x, sizeof(float) * DIGITS_PIXELS * (size_t)cap);
            if (nx) out->x = nx;
            int32_t *nl = realloc(out->label, sizeof(int32_t) * (size_t)cap);
            if (nl) out->label = nl;
            if (!nx || !nl) {
                snprintf(err, err_size, "out of memory");
                rc = -1;
                break;
            }
        }
        if (parse_line(line, out->x + out->n * DIGITS_PIXELS, out->label + out->n)) {
            snprintf(err, err_size,
                     "%s: line %lld: expected 64 pixel values 0..16 and a label 0..9", path,
                     (long long)lineno);
            rc = -1;
            break;
        }
        out->n++;
    }
    fclose(f);
    if (pid > 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
            snprintf(err, err_size, "%s: gzip -dc failed (exit status %d)", path,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            rc = -1;
        }
    }
    if (rc == 0 && out->n == 0) {
        snprintf(err, err_size, "%s: no samples", path);
        rc = -1;
    }
    if (rc) digits_free(out);
    return rc;
}

int digits_split(const digits_set *all, digits_set *train, digits_set *test) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    int64_t ntest = 0;
    for (int64_t i = 0; i < all->n; i++) ntest += (i % 4 == 3);
    digits_set *sets[2] = {train, test};
    const int64_t sizes[2] = {all->n - ntest, ntest};
    for (int s = 0; s < 2; s++) {
        sets[s]->x = malloc(sizeof(float) * DIGITS_PIXELS * (size_t)(sizes[s] ? sizes[s] : 1));
        sets[s]->label = malloc(sizeof(int32_t) * (size_t)(sizes[s] ? sizes[s] : 1));
        if (!sets[s]->x || !sets[s]->label) {
            digits_free(train);
            digits_free(test);
            return -1;
        }
    }
    for (int64_t i = 0; i < all->n; i++) {
        digits_set *d = sets[i % 4 == 3];
        memcpy(d->x + d->n * DIGITS_PIXELS, all->x + i * DIGITS_PIXELS,
               sizeof(float) * DIGITS_PIXELS);
        d->label[d->n++] = all->label[i];
    }
    return 0;
}

void digits_free(digits_set *set) {
    free(set->x);
    free(set->label);
    memset(set, 0, sizeof *set);
}
