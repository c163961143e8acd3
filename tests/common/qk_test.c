/*
** Shared test helpers (see qk_test.h).
*/
#include "qk_test.h"

#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

const char *qk_test_fixtures_dir(void) {
    const char *dir = getenv("QK_FIXTURES");
    if (!dir || !dir[0]) dir = QK_FIXTURES_DIR;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return dir;
}

const char *qk_test_fixture(const char *relative_path) {
    static char buffers[8][4096];
    static int next;
    const char *dir = qk_test_fixtures_dir();
    char *buf = buffers[next++ % 8];
    snprintf(buf, sizeof buffers[0], "%s/%s", dir ? dir : QK_FIXTURES_DIR, relative_path);
    return buf;
}

const char *qk_test_tmp_path(const char *name) {
    static char dir[2048];
    static char buffers[8][4096];
    static int next;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/test-tmp/%ld", QK_BINARY_DIR, (long)getpid());
        char parent[2048];
        snprintf(parent, sizeof parent, "%s/test-tmp", QK_BINARY_DIR);
        mkdir(parent, 0755);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) fail_msg("cannot create %s", dir);
    }
    char *buf = buffers[next++ % 8];
    snprintf(buf, sizeof buffers[0], "%s/%s", dir, name);
    return buf;
}

unsigned char *qk_test_read_file(const char *path, size_t *out_size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    unsigned char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[len] = 0;
        if (out_size) *out_size = (size_t)len;
    }
    return buf;
}

int qk_test_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, size, f);
    int rc = fclose(f);
    return (n == size && rc == 0) ? 0 : -1;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void qk_test_rng_seed(qk_test_rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t qk_test_rng_u64(qk_test_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double qk_test_rng_uniform(qk_test_rng *rng) {
    return (double)(qk_test_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
}

float qk_test_rng_normal(qk_test_rng *rng) {
    /* Box-Muller; u1 in (0, 1] so the log is finite */
    double u1 = 1.0 - qk_test_rng_uniform(rng);
    double u2 = qk_test_rng_uniform(rng);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void qk_test_fill_normal(qk_test_rng *rng, float *x, size_t n, float sigma) {
    for (size_t i = 0; i < n; i++) x[i] = sigma * qk_test_rng_normal(rng);
}

void qk_test_fill_uniform(qk_test_rng *rng, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)qk_test_rng_uniform(rng);
}

uint32_t qk_test_f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

int qk_test_near_rel(double a, double b, double rel) {
    if (isnan(a) && isnan(b)) return 1;
    if (a == b) return 1;
    double m = fmax(fabs(a), fabs(b));
    return fabs(a - b) <= rel * m;
}

void *qk_test_load_json(const char *path) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) fail_msg("cannot load JSON %s: line %d: %s", path, err.line, err.text);
    return root;
}

double *qk_test_json_doubles(void *json_array, size_t *out_n) {
    json_t *arr = json_array;
    if (!json_is_array(arr)) fail_msg("JSON value is not an array");
    size_t n = json_array_size(arr);
    double *out = malloc((n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (json_is_number(v))
            out[i] = json_number_value(v);
        else if (json_is_string(v)) {
            const char *s = json_string_value(v); /* "nan", "inf", "-inf" */
            out[i] = strtod(s, NULL);
        } else
            fail_msg("JSON array element %zu is not a number", i);
    }
    *out_n = n;
    return out;
}

float *qk_test_json_floats(void *json_array, size_t *out_n) {
    size_t n;
    double *d = qk_test_json_doubles(json_array, &n);
    float *out = malloc((n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) out[i] = (float)d[i];
    free(d);
    *out_n = n;
    return out;
}
