/*
** Replays saved inputs through one fuzz target without libFuzzer (zstd's
** tests/fuzz/regression_driver.c idea): every file named on the command
** line, and every file in every folder named (sorted, not recursive, dot
** files skipped), is read into a buffer of exactly its size and passed to
** LLVMFuzzerTestOneInput. Built in the normal build for every target and
** run by ctest, so the corpora are replayed by the plain and the
** ASan+UBSan suites. Fails when a path cannot be read or no input was
** found; a target that finds a broken promise aborts, and the name of the
** input being replayed is printed first.
*/
#include <dirent.h>   /* scandir, alphasort */
#include <signal.h>   /* signal, raise */
#include <stdint.h>   /* uint8_t */
#include <stdio.h>    /* fopen, fread, fprintf */
#include <stdlib.h>   /* malloc, free */
#include <string.h>   /* strlen */
#include <sys/stat.h> /* stat */
#include <unistd.h>   /* write */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current_input = "";

/* Say which input was being replayed when a signal (abort from a failed
** check or a sanitizer, a fault) ends the process. */
static void on_fatal_signal(int sig) {
    static const char msg[] = "\nregression_driver: crashed on input ";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    ignored = write(2, current_input, strlen(current_input));
    ignored = write(2, "\n", 1);
    (void)ignored;
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "regression_driver: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, size = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + size, 1, cap - size, f)) > 0) {
        size += got;
        if (size == cap) {
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        fprintf(stderr, "regression_driver: cannot read %s\n", path);
        return -1;
    }
    /* exactly `size` bytes, so that reading one past the input is caught */
    unsigned char *input = malloc(size ? size : 1);
    if (!input) {
        free(buf);
        return -1;
    }
    memcpy(input, buf, size);
    free(buf);
    current_input = path;
    LLVMFuzzerTestOneInput(input, size);
    current_input = "";
    free(input);
    return 1;
}

static int skip_dot(const struct dirent *e) {
    return e->d_name[0] != '.';
}

/* Number of inputs replayed from `path`, or -1. */
static long run_path(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "regression_driver: no such file or folder: %s\n", path);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) return run_file(path);
    struct dirent **names = NULL;
    int n = scandir(path, &names, skip_dot, alphasort);
    if (n < 0) {
        fprintf(stderr, "regression_driver: cannot list %s\n", path);
        return -1;
    }
    long count = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(path) + strlen(names[i]->d_name) + 2;
        char *file = malloc(len);
        if (file) {
            snprintf(file, len, "%s/%s", path, names[i]->d_name);
            struct stat fsb;
            if (stat(file, &fsb) == 0 && S_ISREG(fsb.st_mode)) {
                int r = run_file(file);
                if (r < 0)
                    count = -1;
                else if (count >= 0)
                    count += r;
            }
        } else {
            count = -1;
        }
        free(file);
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
        return 2;
    }
    int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], on_fatal_signal);
    long total = 0;
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        long n = run_path(argv[i]);
        if (n < 0)
            failed = 1;
        else
            total += n;
    }
    printf("regression_driver: %ld inputs replayed\n", total);
    if (total == 0) {
        fprintf(stderr, "regression_driver: no inputs found\n");
        return 1;
    }
    return failed;
}
