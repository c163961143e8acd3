/*
** Mapped files and atomic output files: contents, commit/abort semantics,
** nothing left behind in the destination folder, OS errors named with the
** path (EFBIG provoked with RLIMIT_FSIZE in a child process).
*/
#include "io_test_util.h"

#include <dirent.h>       /* opendir */
#include <signal.h>       /* signal, SIGXFSZ */
#include <sys/resource.h> /* setrlimit */
#include <sys/stat.h>     /* mkdir, stat */
#include <sys/wait.h>     /* waitpid */
#include <unistd.h>       /* fork, _exit */

/* Number of entries in `dir` whose name contains `part`. */
static int count_entries(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

static void test_mapped_file(void **state) {
    (void)state;
    const char *path = qk_test_tmp_path("mapped.bin");
    unsigned char bytes[300];
    for (int i = 0; i < 300; i++) bytes[i] = (unsigned char)(i * 13 + 1);
    assert_int_equal(qk_test_write_file(path, bytes, sizeof bytes), 0);
    qk_mapped_file *f = NULL;
    QK_ASSERT_OK(qk_mapped_file_open(path, &f));
    assert_int_equal(qk_mapped_file_size(f), 300);
    assert_memory_equal(qk_mapped_file_data(f), bytes, 300);
    assert_string_equal(qk_mapped_file_path(f), path);
    qk_mapped_file_close(f);
    qk_mapped_file_close(NULL);

    const char *empty = qk_test_tmp_path("empty.bin");
    assert_int_equal(qk_test_write_file(empty, "", 0), 0);
    QK_ASSERT_OK(qk_mapped_file_open(empty, &f));
    assert_int_equal(qk_mapped_file_size(f), 0);
    assert_non_null(qk_mapped_file_data(f));
    qk_mapped_file_close(f);

    QK_ASSERT_STATUS(qk_mapped_file_open(qk_test_tmp_path("missing.bin"), &f), QK_ERR_IO);
    QK_ASSERT_MSG_HAS("missing.bin");
    assert_null(f);
}

static void test_atomic_commit(void **state) {
    (void)state;
    const char *dir = qk_test_tmp_path("atomic");
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    /* an older file at the destination stays intact until commit */
    assert_int_equal(qk_test_write_file(path, "old", 3), 0);

    qk_atomic_file *f = NULL;
    QK_ASSERT_OK(qk_atomic_file_open(path, &f));
    assert_string_equal(qk_atomic_file_path(f), path);
    assert_non_null(strstr(qk_atomic_file_temp_path(f), "/.out.bin.qk-tmp-"));
    /* small writes, a write larger than the buffer, zeros */
    size_t big_n = (3u << 20) + 17;
    unsigned char *big = malloc(big_n);
    for (size_t i = 0; i < big_n; i++) big[i] = (unsigned char)(i * 31 + 7);
    QK_ASSERT_OK(qk_atomic_file_write(f, "hello", 5));
    QK_ASSERT_OK(qk_atomic_file_write_zeros(f, 10000));
    QK_ASSERT_OK(qk_atomic_file_write(f, big, big_n));
    QK_ASSERT_OK(qk_atomic_file_write(f, "!", 1));
    assert_int_equal(qk_atomic_file_tell(f), 5 + 10000 + big_n + 1);
    size_t n = 0;
    unsigned char *now = qk_test_read_file(path, &n);
    assert_int_equal(n, 3); /* not replaced yet */
    free(now);
    assert_int_equal(count_entries(dir, ".qk-tmp-"), 1);
    QK_ASSERT_OK(qk_atomic_file_commit(f));
    assert_int_equal(count_entries(dir, ".qk-tmp-"), 0);

    unsigned char *got = qk_test_read_file(path, &n);
    assert_non_null(got);
    assert_int_equal(n, 5 + 10000 + big_n + 1);
    assert_memory_equal(got, "hello", 5);
    for (size_t i = 5; i < 10005; i++)
        if (got[i] != 0) fail_msg("byte %zu is %d, expected 0", i, got[i]);
    assert_memory_equal(got + 10005, big, big_n);
    assert_int_equal(got[n - 1], '!');
    free(got);
    free(big);
}

static void test_atomic_abort_and_unique_names(void **state) {
    (void)state;
    const char *dir = qk_test_tmp_path("atomic_abort");
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    qk_atomic_file *a = NULL, *b = NULL;
    QK_ASSERT_OK(qk_atomic_file_open(path, &a));
    QK_ASSERT_OK(qk_atomic_file_open(path, &b));
    assert_string_not_equal(qk_atomic_file_temp_path(a), qk_atomic_file_temp_path(b));
    QK_ASSERT_OK(qk_atomic_file_write(a, "partial", 7));
    QK_ASSERT_OK(qk_atomic_file_write(b, "partial", 7));
    assert_int_equal(count_entries(dir, "model.gguf"), 2);
    qk_atomic_file_abort(a);
    qk_atomic_file_abort(b);
    qk_atomic_file_abort(NULL);
    assert_int_equal(count_entries(dir, "model.gguf"), 0); /* nothing at all left */
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
}

static void test_atomic_open_errors(void **state) {
    (void)state;
    qk_atomic_file *f = NULL;
    QK_ASSERT_STATUS(qk_atomic_file_open(qk_test_tmp_path("no-such-dir/out.bin"), &f), QK_ERR_IO);
    QK_ASSERT_MSG_HAS("no-such-dir/out.bin");
    QK_ASSERT_MSG_HAS("No such file or directory");
    assert_null(f);
    QK_ASSERT_STATUS(qk_atomic_file_open(qk_test_tmp_path("dir/"), &f), QK_ERR_INVALID_ARG);
}

/* A write beyond RLIMIT_FSIZE fails with EFBIG: the error names the path
** and "File too large", it is sticky, commit fails, and neither the
** destination nor the temporary file exists afterwards. Runs in a child so
** the limit does not leak into other tests. */
static void test_atomic_write_error(void **state) {
    (void)state;
    const char *dir = qk_test_tmp_path("atomic_efbig");
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/big.bin", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {1 << 16, 1 << 16};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(10);
        qk_atomic_file *f = NULL;
        if (qk_atomic_file_open(path, &f) != QK_OK) _exit(11);
        static unsigned char chunk[3 << 20];
        qk_status st = qk_atomic_file_write(f, chunk, sizeof chunk); /* direct write: fails */
        if (st != QK_ERR_IO) _exit(12);
        if (!strstr(qk_last_error(), path) || !strstr(qk_last_error(), "File too large")) _exit(13);
        if (qk_atomic_file_write(f, "x", 1) != QK_ERR_IO) _exit(14); /* sticky */
        if (qk_atomic_file_commit(f) != QK_ERR_IO) _exit(15);
        if (!strstr(qk_last_error(), "earlier write failed")) _exit(16);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_entries(dir, "big.bin"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapped_file),
        cmocka_unit_test(test_atomic_commit),
        cmocka_unit_test(test_atomic_abort_and_unique_names),
        cmocka_unit_test(test_atomic_open_errors),
        cmocka_unit_test(test_atomic_write_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
