/*
** Temporaries left by killed writers (quantkit/io.h): which names are stale
** (dead PID, exact ".BASE.qk-tmp-PID-N" shape), and qk_atomic_file_open
** removing the stale ones of its destination only.
*/
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qk_test.h"

/* A PID that no longer runs: a child that exited and was reaped. */
static pid_t dead_pid(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    assert_true(p > 0);
    int status;
    assert_int_equal(waitpid(p, &status, 0), p);
    return p;
}

static void test_stale_names(void **state) {
    (void)state;
    char name[128];
    const pid_t dead = dead_pid();
    snprintf(name, sizeof name, ".model.gguf.qk-tmp-%ld-3", (long)dead);
    assert_true(qk_temp_name_is_stale(name, "model.gguf"));
    /* another destination's temporary */
    assert_false(qk_temp_name_is_stale(name, "model.gguf2"));
    assert_false(qk_temp_name_is_stale(name, "model"));
    /* a running process (our parent: the test runner) and ourselves */
    snprintf(name, sizeof name, ".model.gguf.qk-tmp-%ld-3", (long)getppid());
    assert_false(qk_temp_name_is_stale(name, "model.gguf"));
    snprintf(name, sizeof name, ".model.gguf.qk-tmp-%ld-3", (long)getpid());
    assert_false(qk_temp_name_is_stale(name, "model.gguf"));
    /* malformed: no counter, letters, no dot, pid 0, negative, trailing text */
    snprintf(name, sizeof name, ".model.gguf.qk-tmp-%ld-", (long)dead);
    assert_false(qk_temp_name_is_stale(name, "model.gguf"));
    snprintf(name, sizeof name, ".model.gguf.qk-tmp-%ld", (long)dead);
    assert_false(qk_temp_name_is_stale(name, "model.gguf"));
    snprintf(name, sizeof name, ".model.gguf.qk-tmp-%ld-1x", (long)dead);
    assert_false(qk_temp_name_is_stale(name, "model.gguf"));
    snprintf(name, sizeof name, "model.gguf.qk-tmp-%ld-1", (long)dead);
    assert_false(qk_temp_name_is_stale(name, "model.gguf"));
    assert_false(qk_temp_name_is_stale(".model.gguf.qk-tmp-0-1", "model.gguf"));
    assert_false(qk_temp_name_is_stale(".model.gguf.qk-tmp--5-1", "model.gguf"));
    assert_false(qk_temp_name_is_stale(".model.gguf.qk-tmp-x-1", "model.gguf"));
    assert_false(qk_temp_name_is_stale(".model.gguf", "model.gguf"));
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void test_open_removes_stale(void **state) {
    (void)state;
    const char *dir = qk_test_tmp_path("stale");
    mkdir(dir, 0777);
    const pid_t dead = dead_pid();
    char stale[512], other[512], live[512], out[512];
    snprintf(stale, sizeof stale, "%s/.out.bin.qk-tmp-%ld-0", dir, (long)dead);
    snprintf(other, sizeof other, "%s/.other.bin.qk-tmp-%ld-0", dir, (long)dead);
    snprintf(live, sizeof live, "%s/.out.bin.qk-tmp-%ld-0", dir, (long)getppid());
    snprintf(out, sizeof out, "%s/out.bin", dir);
    assert_int_equal(qk_test_write_file(stale, "partial", 7), 0);
    assert_int_equal(qk_test_write_file(other, "partial", 7), 0);
    assert_int_equal(qk_test_write_file(live, "in use", 6), 0);
    qk_atomic_file *f = NULL;
    QK_ASSERT_OK(qk_atomic_file_open(out, &f));
    assert_false(exists(stale));
    assert_true(exists(other)); /* another destination's: not ours to judge */
    assert_true(exists(live));  /* its writer still runs */
    QK_ASSERT_OK(qk_atomic_file_write(f, "done", 4));
    QK_ASSERT_OK(qk_atomic_file_commit(f));
    size_t n = 0;
    unsigned char *got = qk_test_read_file(out, &n);
    assert_non_null(got);
    assert_int_equal(n, 4);
    assert_memory_equal(got, "done", 4);
    free(got);
    unlink(other);
    unlink(live);
    unlink(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_names),
        cmocka_unit_test(test_open_removes_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
