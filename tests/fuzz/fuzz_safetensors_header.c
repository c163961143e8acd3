/*
** Fuzz target: safetensors files and sharded sets.
**
** The first input byte picks the mode:
**   even: the rest is one .safetensors file. It is opened alone
**         (qk_safetensors_open) and as a set (qk_safetensors_set_open); when
**         it opens, every tensor and metadata pair is read back, every data
**         range checked to lie inside the file and read, the start of each
**         float tensor converted, and the file rewritten through
**         qk_safetensors_write and read again: same tensors, same bytes.
**   odd:  the rest is a model.safetensors.index.json text, then optionally
**         a NUL byte and the bytes of shard "a.safetensors". The folder also
**         holds a fixed valid shard "b.safetensors" (tensors "x" and "y").
**         The set is opened through the index and read back.
*/
#include "fuzz_common.h"

/* A valid shard: F32 "x" [2] = {1, 2} and F16 "y" [1] = {1.0}. */
static const char SHARD_B_HEADER[] =
    "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"y\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[8,10]}}";

static void write_shard_b(void) {
    unsigned char buf[256];
    size_t n = sizeof SHARD_B_HEADER - 1;
    uint64_t len = n;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(len >> (8 * i));
    memcpy(buf + 8, SHARD_B_HEADER, n);
    static const unsigned char data[10] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0x00, 0x3c};
    memcpy(buf + 8 + n, data, sizeof data);
    fuzz_write_file("b.safetensors", buf, 8 + n + sizeof data);
}

static void check_tensor(const qk_io_tensor *t, size_t file_size, uint64_t data_start,
                         const unsigned char **base) {
    FUZZ_CHECK(t->name != NULL);
    fuzz_touch(t->name, strlen(t->name) + 1);
    const qk_type_traits *tr = qk_type_get_traits(t->type);
    FUZZ_CHECK(tr != NULL && !tr->is_block);
    FUZZ_CHECK(qk_safetensors_dtype_name(t->type) != NULL);
    FUZZ_CHECK(t->ndim >= 0 && t->ndim <= QK_MAX_DIMS);
    int64_t numel = qk_io_tensor_numel(t);
    FUZZ_CHECK(numel >= 0);
    size_t bytes = 0;
    FUZZ_CHECK(qk_type_row_bytes(t->type, numel, &bytes) == QK_OK && bytes == t->nbytes);
    FUZZ_CHECK(t->offset >= data_start && t->offset <= file_size);
    FUZZ_CHECK(t->nbytes <= file_size - t->offset);
    /* every tensor's data pointer is the same mapping base plus its offset */
    const unsigned char *b = (const unsigned char *)t->data - t->offset;
    if (!*base) *base = b;
    FUZZ_CHECK(b == *base);
    fuzz_touch(t->data, t->nbytes);
    int64_t n = numel < 1024 ? numel : 1024;
    if (n > 0 && tr->is_float && t->type != QK_TYPE_F64) {
        float *y = malloc((size_t)n * sizeof *y);
        FUZZ_CHECK(y != NULL);
        qk_clear_error();
        qk_status st = qk_dequantize_row(t->type, t->data, y, n);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        free(y);
    }
}

/* Open `path` as a set and read it back; whether it opened. */
static bool read_set(const char *path) {
    qk_safetensors_set *set = NULL;
    qk_clear_error();
    qk_status st = qk_safetensors_set_open(path, &set);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (set != NULL));
    if (!set) return false;
    size_t n = qk_safetensors_set_tensor_count(set);
    for (size_t i = 0; i < n; i++) {
        qk_io_tensor t;
        qk_clear_error();
        st = qk_safetensors_set_tensor_info(set, i, &t);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        FUZZ_CHECK(qk_safetensors_set_find_tensor(set, t.name) == (int64_t)i);
        const qk_safetensors *file = qk_safetensors_set_tensor_file(set, i);
        FUZZ_CHECK(file != NULL);
        int64_t fi = qk_safetensors_find_tensor(file, t.name);
        FUZZ_CHECK(fi >= 0);
        qk_io_tensor ft;
        FUZZ_CHECK(qk_safetensors_tensor_info(file, (size_t)fi, &ft) == QK_OK);
        FUZZ_CHECK(ft.data == t.data && ft.nbytes == t.nbytes && ft.type == t.type);
        fuzz_touch(t.data, t.nbytes);
    }
    FUZZ_CHECK(qk_safetensors_set_tensor_file(set, n) == NULL);
    qk_io_tensor none;
    qk_clear_error();
    st = qk_safetensors_set_tensor_info(set, n, &none);
    fuzz_check_status(st);
    FUZZ_CHECK(st != QK_OK);
    size_t n_shards = qk_safetensors_set_shard_count(set);
    for (size_t i = 0; i < n_shards; i++) FUZZ_CHECK(qk_safetensors_set_shard(set, i) != NULL);
    qk_safetensors_set_close(set);
    return true;
}

/* The rewritten file holds the same metadata, tensors and bytes. */
static void check_rewrite(const qk_safetensors *s, const char *copy_path) {
    qk_safetensors *c = NULL;
    qk_clear_error();
    qk_status st = qk_safetensors_open(copy_path, &c);
    fuzz_check_status(st);
    FUZZ_CHECK(st == QK_OK);
    FUZZ_CHECK(qk_safetensors_metadata_count(c) == qk_safetensors_metadata_count(s));
    FUZZ_CHECK(qk_safetensors_tensor_count(c) == qk_safetensors_tensor_count(s));
    FUZZ_CHECK(qk_safetensors_data_offset(c) % 8 == 0);
    for (size_t i = 0; i < qk_safetensors_metadata_count(s); i++) {
        const char *k1, *v1, *k2, *v2;
        FUZZ_CHECK(qk_safetensors_metadata_at(s, i, &k1, &v1) == QK_OK);
        FUZZ_CHECK(qk_safetensors_metadata_at(c, i, &k2, &v2) == QK_OK);
        FUZZ_CHECK(strcmp(k1, k2) == 0 && strcmp(v1, v2) == 0);
    }
    for (size_t i = 0; i < qk_safetensors_tensor_count(s); i++) {
        qk_io_tensor a, b;
        FUZZ_CHECK(qk_safetensors_tensor_info(s, i, &a) == QK_OK);
        FUZZ_CHECK(qk_safetensors_tensor_info(c, i, &b) == QK_OK);
        FUZZ_CHECK(strcmp(a.name, b.name) == 0 && a.type == b.type && a.ndim == b.ndim);
        FUZZ_CHECK(memcmp(a.shape, b.shape, sizeof a.shape) == 0 && a.nbytes == b.nbytes);
        FUZZ_CHECK(a.nbytes == 0 || memcmp(a.data, b.data, a.nbytes) == 0);
    }
    qk_safetensors_close(c);
}

static void fuzz_single(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("single.safetensors", data, size);
    qk_safetensors *s = NULL;
    qk_clear_error();
    qk_status st = qk_safetensors_open(path, &s);
    fuzz_check_status(st);
    FUZZ_CHECK((st == QK_OK) == (s != NULL));
    /* a set of one file opens exactly when the file does */
    FUZZ_CHECK(read_set(path) == (st == QK_OK));
    if (!s) {
        unlink(path);
        return;
    }
    uint64_t data_start = qk_safetensors_data_offset(s);
    FUZZ_CHECK(data_start >= 8 && data_start <= size);
    size_t n = qk_safetensors_tensor_count(s);
    qk_io_tensor *tensors = calloc(n ? n : 1, sizeof *tensors);
    FUZZ_CHECK(tensors != NULL);
    const unsigned char *base = NULL;
    bool empty_name = false;
    for (size_t i = 0; i < n; i++) {
        qk_clear_error();
        st = qk_safetensors_tensor_info(s, i, &tensors[i]);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK);
        check_tensor(&tensors[i], size, data_start, &base);
        FUZZ_CHECK(qk_safetensors_find_tensor(s, tensors[i].name) == (int64_t)i);
        if (tensors[i].name[0] == '\0') empty_name = true;
    }
    if (base) FUZZ_CHECK(memcmp(base, data, size) == 0); /* the mapping holds the input */
    size_t n_meta = qk_safetensors_metadata_count(s);
    const char **meta = calloc(2 * n_meta + 1, sizeof *meta);
    FUZZ_CHECK(meta != NULL);
    for (size_t i = 0; i < n_meta; i++) {
        qk_clear_error();
        st = qk_safetensors_metadata_at(s, i, &meta[2 * i], &meta[2 * i + 1]);
        fuzz_check_status(st);
        FUZZ_CHECK(st == QK_OK && meta[2 * i] && meta[2 * i + 1]);
        FUZZ_CHECK(qk_safetensors_metadata_get(s, meta[2 * i]) == meta[2 * i + 1]);
    }
    qk_clear_error();
    st = qk_safetensors_metadata_at(s, n_meta, NULL, NULL);
    fuzz_check_status(st);
    FUZZ_CHECK(st != QK_OK);

    /* rewrite and read back */
    const char *copy_path = fuzz_path("copy.safetensors");
    qk_clear_error();
    st = qk_safetensors_write(copy_path, tensors, n, meta, n_meta);
    fuzz_check_status(st);
    if (st != QK_OK && !empty_name) {
        fprintf(stderr, "fuzz: rewriting a file the reader accepts failed: %s\n", qk_last_error());
        abort();
    }
    if (st == QK_OK) check_rewrite(s, copy_path);
    unlink(copy_path);
    free(meta);
    free(tensors);
    qk_safetensors_close(s);
    unlink(path);
}

static void fuzz_index(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    const char *shard_a = fuzz_path("a.safetensors");
    if (nul)
        fuzz_write_file("a.safetensors", nul + 1, size - json_len - 1);
    else
        unlink(shard_a);
    write_shard_b();
    const char *index = fuzz_write_file("model.safetensors.index.json", data, json_len);
    (void)read_set(index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if (data[0] % 2 == 0)
        fuzz_single(data + 1, size - 1);
    else
        fuzz_index(data + 1, size - 1);
    return 0;
}
