/*
** safetensors: reading the HF fixture, rewriting it byte for byte, every
** dtype, the writer's header format (compact JSON padded with spaces to 8
** bytes), sharded models, and hostile files (one defect per test).
*/
#include "io_test_util.h"

#include <sys/stat.h> /* mkdir */

/* A safetensors file from a header text and `data_len` data bytes (i*3). */
static void st_build(tb *b, const char *json, size_t data_len) {
    tb_u64(b, strlen(json));
    tb_bytes(b, json, strlen(json));
    for (size_t i = 0; i < data_len; i++) tb_u8(b, (uint8_t)(i * 3));
}

static qk_status st_open_bytes(const tb *b, const char *name) {
    qk_safetensors *s = NULL;
    qk_clear_error();
    qk_status st = qk_safetensors_open(tb_save(b, name), &s);
    if (st == QK_OK)
        assert_non_null(s);
    else
        assert_null(s);
    qk_safetensors_close(s);
    return st;
}

static void assert_files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    unsigned char *da = qk_test_read_file(a, &na), *db = qk_test_read_file(b, &nb);
    assert_non_null(da);
    assert_non_null(db);
    if (na != nb) fail_msg("%s has %zu bytes, %s has %zu", a, na, b, nb);
    for (size_t i = 0; i < na; i++)
        if (da[i] != db[i]) fail_msg("%s and %s differ at byte %zu", a, b, i);
    free(da);
    free(db);
}

/* The fixture (see fixtures/README.md): 57 bf16 tensors, header of 6192
** bytes, metadata format/step/train_loss. */
static void test_fixture(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    qk_safetensors *s = NULL;
    QK_ASSERT_OK(
        qk_safetensors_open(qk_test_fixture("models/fixture-llama-7m/model.safetensors"), &s));
    assert_int_equal(qk_safetensors_tensor_count(s), 57);
    assert_int_equal(qk_safetensors_data_offset(s), 8 + 6192);
    assert_int_equal(qk_safetensors_metadata_count(s), 3);
    assert_string_equal(qk_safetensors_metadata_get(s, "format"), "pt");
    assert_string_equal(qk_safetensors_metadata_get(s, "step"), "2521");
    assert_string_equal(qk_safetensors_metadata_get(s, "train_loss"), "2.6383");
    assert_null(qk_safetensors_metadata_get(s, "nope"));
    qk_io_tensor t;
    QK_ASSERT_OK(qk_safetensors_tensor_info(s, 0, &t));
    assert_string_equal(t.name, "lm_head.weight");
    assert_int_equal(t.type, QK_TYPE_BF16);
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.shape[0], 4096);
    assert_int_equal(t.shape[1], 256);
    assert_int_equal(t.offset, 8 + 6192);
    assert_int_equal(t.nbytes, 4096 * 256 * 2);
    int64_t i = qk_safetensors_find_tensor(s, "model.layers.5.self_attn.k_proj.weight");
    assert_true(i > 0);
    QK_ASSERT_OK(qk_safetensors_tensor_info(s, (size_t)i, &t));
    assert_int_equal(t.shape[0], 128);
    assert_int_equal(t.shape[1], 256);
    assert_int_equal(qk_safetensors_find_tensor(s, "__metadata__"), -1);
    qk_safetensors_close(s);
}

/* Reading every tensor and the metadata and writing them back in the same
** order reproduces the file exactly: same JSON text, same padding. */
static void test_fixture_rewrite_identical(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    const char *src = qk_test_fixture("models/fixture-llama-7m/model.safetensors");
    qk_safetensors *s = NULL;
    QK_ASSERT_OK(qk_safetensors_open(src, &s));
    size_t n = qk_safetensors_tensor_count(s);
    qk_io_tensor *ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++) QK_ASSERT_OK(qk_safetensors_tensor_info(s, i, &ts[i]));
    const char *meta[6];
    for (size_t i = 0; i < 3; i++)
        QK_ASSERT_OK(qk_safetensors_metadata_at(s, i, &meta[2 * i], &meta[2 * i + 1]));
    const char *out = qk_test_tmp_path("rewrite.safetensors");
    QK_ASSERT_OK(qk_safetensors_write(out, ts, n, meta, 3));
    assert_files_equal(src, out);
    free(ts);
    qk_safetensors_close(s);
    remove(out);
}

/* Every dtype, a scalar, an empty tensor; the writer's bytes equal a hand
** encoding (header 8-byte aligned with spaces), and reading gives the
** tensors back. */
static void test_all_dtypes_write_read(void **state) {
    (void)state;
    static const char *names[15] = {"BOOL", "U8",  "I8",   "I16", "U16", "I32",     "U32",    "I64",
                                    "U64",  "F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2"};
    static const qk_type types[15] = {QK_TYPE_BOOL, QK_TYPE_U8,      QK_TYPE_I8,     QK_TYPE_I16,
                                      QK_TYPE_U16,  QK_TYPE_I32,     QK_TYPE_U32,    QK_TYPE_I64,
                                      QK_TYPE_U64,  QK_TYPE_F16,     QK_TYPE_BF16,   QK_TYPE_F32,
                                      QK_TYPE_F64,  QK_TYPE_F8_E4M3, QK_TYPE_F8_E5M2};
    static const int esize[15] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 2, 4, 8, 1, 1};
    unsigned char payload[15 * 3 * 8 + 8];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (unsigned char)(i * 11 + 5);

    qk_safetensors_writer *w = NULL;
    const char *path = qk_test_tmp_path("dtypes.safetensors");
    QK_ASSERT_OK(qk_safetensors_writer_create(path, &w));
    QK_ASSERT_OK(qk_safetensors_writer_add_metadata(w, "format", "pt"));
    QK_ASSERT_STATUS(qk_safetensors_writer_add_metadata(w, "format", "x"), QK_ERR_INVALID_ARG);
    char json[4096] = "{\"__metadata__\":{\"format\":\"pt\"}";
    size_t off = 0;
    for (int i = 0; i < 15; i++) {
        char name[32];
        snprintf(name, sizeof name, "t.%s", names[i]);
        const int64_t shape[1] = {3};
        QK_ASSERT_OK(qk_safetensors_writer_add_tensor(w, name, types[i], 1, shape));
        char entry[256];
        snprintf(entry, sizeof entry,
                 ",\"%s\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[%zu,%zu]}", name,
                 names[i], off, off + 3 * (size_t)esize[i]);
        strcat(json, entry);
        off += 3 * (size_t)esize[i];
    }
    QK_ASSERT_OK(qk_safetensors_writer_add_tensor(w, "scalar", QK_TYPE_F64, 0, NULL));
    const int64_t empty_shape[2] = {0, 5};
    QK_ASSERT_OK(qk_safetensors_writer_add_tensor(w, "empty", QK_TYPE_F32, 2, empty_shape));
    char tail[256];
    snprintf(tail, sizeof tail,
             ",\"scalar\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[%zu,%zu]}"
             ",\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[%zu,%zu]}}",
             off, off + 8, off + 8, off + 8);
    strcat(json, tail);
    size_t total = off + 8;
    QK_ASSERT_STATUS(qk_safetensors_writer_add_tensor(w, "q", QK_TYPE_Q8_0, 1, (int64_t[]){32}),
                     QK_ERR_UNSUPPORTED);
    QK_ASSERT_STATUS(qk_safetensors_writer_add_tensor(w, "__metadata__", QK_TYPE_F32, 0, NULL),
                     QK_ERR_INVALID_ARG);
    QK_ASSERT_OK(qk_safetensors_writer_begin(w));
    for (size_t i = 0; i < total; i += 5)
        QK_ASSERT_OK(qk_safetensors_writer_write(w, payload + i, total - i < 5 ? total - i : 5));
    QK_ASSERT_OK(qk_safetensors_writer_commit(w));
    qk_safetensors_writer_free(w);

    tb b = {0};
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    tb_u64(&b, padded);
    tb_bytes(&b, json, jl);
    while (b.n < 8 + padded) tb_u8(&b, ' ');
    tb_bytes(&b, payload, total);
    assert_files_equal(tb_save(&b, "dtypes-expected.safetensors"), path);
    tb_free(&b);

    qk_safetensors *s = NULL;
    QK_ASSERT_OK(qk_safetensors_open(path, &s));
    assert_int_equal(qk_safetensors_tensor_count(s), 17);
    size_t at = 0;
    for (int i = 0; i < 15; i++) {
        qk_io_tensor t;
        QK_ASSERT_OK(qk_safetensors_tensor_info(s, (size_t)i, &t));
        assert_int_equal(t.type, types[i]);
        assert_int_equal(t.nbytes, 3 * (size_t)esize[i]);
        assert_memory_equal(t.data, payload + at, t.nbytes);
        at += t.nbytes;
        qk_type back;
        QK_ASSERT_OK(qk_safetensors_dtype_to_type(names[i], &back));
        assert_int_equal(back, types[i]);
        assert_string_equal(qk_safetensors_dtype_name(types[i]), names[i]);
    }
    qk_io_tensor t;
    QK_ASSERT_OK(qk_safetensors_tensor_info(s, 15, &t));
    assert_int_equal(t.ndim, 0);
    assert_int_equal(t.nbytes, 8);
    QK_ASSERT_OK(qk_safetensors_tensor_info(s, 16, &t));
    assert_int_equal(t.nbytes, 0);
    assert_int_equal(qk_io_tensor_numel(&t), 0);
    qk_safetensors_close(s);
}

/* Two shards + an index; a folder without an index; defects of either. */
static void test_sharded(void **state) {
    (void)state;
    const char *dir = qk_test_tmp_path("sharded");
    mkdir(dir, 0755);
    char p1[4096], p2[4096], pi[4096];
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(pi, sizeof pi, "%s/model.safetensors.index.json", dir);
    float a[4] = {1, 2, 3, 4}, bb[2] = {5, 6}, c[3] = {7, 8, 9};
    qk_io_tensor s1[2] = {{.name = "a", .type = QK_TYPE_F32, .ndim = 2, .shape = {2, 2}, .data = a},
                          {.name = "b", .type = QK_TYPE_F32, .ndim = 1, .shape = {2}, .data = bb}};
    qk_io_tensor s2[1] = {{.name = "c", .type = QK_TYPE_F32, .ndim = 1, .shape = {3}, .data = c}};
    QK_ASSERT_OK(qk_safetensors_write(p1, s1, 2, NULL, 0));
    QK_ASSERT_OK(qk_safetensors_write(p2, s2, 1, NULL, 0));

    /* without an index: all files, sorted by name */
    qk_safetensors_set *set = NULL;
    QK_ASSERT_OK(qk_safetensors_set_open(dir, &set));
    assert_int_equal(qk_safetensors_set_tensor_count(set), 3);
    assert_int_equal(qk_safetensors_set_shard_count(set), 2);
    qk_safetensors_set_close(set);

    const char *index = "{\"metadata\":{\"total_size\":36},\"weight_map\":{"
                        "\"c\":\"model-00002-of-00002.safetensors\","
                        "\"a\":\"model-00001-of-00002.safetensors\","
                        "\"b\":\"model-00001-of-00002.safetensors\"}}";
    assert_int_equal(qk_test_write_file(pi, index, strlen(index)), 0);
    for (int k = 0; k < 2; k++) {
        QK_ASSERT_OK(qk_safetensors_set_open(k == 0 ? dir : pi, &set));
        assert_int_equal(qk_safetensors_set_tensor_count(set), 3);
        qk_io_tensor t;
        QK_ASSERT_OK(qk_safetensors_set_tensor_info(set, 0, &t)); /* index order */
        assert_string_equal(t.name, "c");
        assert_memory_equal(t.data, c, sizeof c);
        int64_t bi = qk_safetensors_set_find_tensor(set, "b");
        assert_int_equal(bi, 2);
        QK_ASSERT_OK(qk_safetensors_set_tensor_info(set, 2, &t));
        assert_memory_equal(t.data, bb, sizeof bb);
        assert_non_null(
            strstr(qk_safetensors_path(qk_safetensors_set_tensor_file(set, 2)), "00001-of-00002"));
        assert_int_equal(qk_safetensors_set_find_tensor(set, "zz"), -1);
        qk_safetensors_set_close(set);
    }

    /* the index names a tensor its file does not have */
    const char *bad = "{\"weight_map\":{\"a\":\"model-00002-of-00002.safetensors\"}}";
    assert_int_equal(qk_test_write_file(pi, bad, strlen(bad)), 0);
    QK_ASSERT_STATUS(qk_safetensors_set_open(dir, &set), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("tensor 'a'");
    QK_ASSERT_MSG_HAS("model-00002-of-00002.safetensors");
    const char *escape = "{\"weight_map\":{\"a\":\"../x.safetensors\"}}";
    assert_int_equal(qk_test_write_file(pi, escape, strlen(escape)), 0);
    QK_ASSERT_STATUS(qk_safetensors_set_open(dir, &set), QK_ERR_CORRUPT);
    const char *nomap = "{\"metadata\":{}}";
    assert_int_equal(qk_test_write_file(pi, nomap, strlen(nomap)), 0);
    QK_ASSERT_STATUS(qk_safetensors_set_open(dir, &set), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("weight_map");
    remove(pi);

    /* the same tensor in two files */
    QK_ASSERT_OK(qk_safetensors_write(p2, s1 + 1, 1, NULL, 0));
    QK_ASSERT_STATUS(qk_safetensors_set_open(dir, &set), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("tensor 'b' is in both");
    remove(p1);
    remove(p2);
    QK_ASSERT_STATUS(qk_safetensors_set_open(dir, &set), QK_ERR_NOT_FOUND);
    assert_null(set);
}

static const char *OK_JSON = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";

static void test_broken_header(void **state) {
    (void)state;
    tb b = {0};
    st_build(&b, OK_JSON, 16);
    QK_ASSERT_OK(st_open_bytes(&b, "ok.safetensors"));
    tb_free(&b);

    tb_u8(&b, 1), tb_u8(&b, 2), tb_u8(&b, 3);
    QK_ASSERT_STATUS(st_open_bytes(&b, "tiny.safetensors"), QK_ERR_TRUNCATED);
    QK_ASSERT_MSG_HAS("tiny.safetensors");
    tb_free(&b);

    st_build(&b, OK_JSON, 16);
    tb_set_u64(&b, 0, 1ull << 63);
    QK_ASSERT_STATUS(st_open_bytes(&b, "huge_n.safetensors"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("header length 9223372036854775808 at byte 0");
    tb_free(&b);

    st_build(&b, "[1,2,3]", 0);
    QK_ASSERT_STATUS(st_open_bytes(&b, "not_st.safetensors"), QK_ERR_BAD_MAGIC);
    QK_ASSERT_MSG_HAS("byte 8");
    tb_free(&b);

    st_build(&b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2] \"data_offsets\":[0,8]}}", 8);
    QK_ASSERT_STATUS(st_open_bytes(&b, "bad_json.safetensors"), QK_ERR_CORRUPT);
    /* the unexpected token "data_offsets" spans JSON bytes 32..45; jansson
    ** reports the position after it: 46, file byte 8 + 46 */
    QK_ASSERT_MSG_HAS("header JSON is invalid near byte 54");
    QK_ASSERT_MSG_HAS("bad_json.safetensors");
    tb_free(&b);

    st_build(&b,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             8);
    QK_ASSERT_STATUS(st_open_bytes(&b, "dup.safetensors"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("duplicate");
    tb_free(&b);

    st_build(&b, "{\"__metadata__\":{\"k\":3}}", 0);
    QK_ASSERT_STATUS(st_open_bytes(&b, "meta.safetensors"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("'k'");
    tb_free(&b);
}

static void test_broken_tensors(void **state) {
    (void)state;
    tb b = {0};
    st_build(&b,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
             12);
    QK_ASSERT_STATUS(st_open_bytes(&b, "oob.safetensors"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("tensor 'b'");
    QK_ASSERT_MSG_HAS("oob.safetensors");
    tb_free(&b);

    st_build(&b,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             16);
    QK_ASSERT_STATUS(st_open_bytes(&b, "overlap.safetensors"), QK_ERR_OVERLAP);
    QK_ASSERT_MSG_HAS("tensor 'a'");
    QK_ASSERT_MSG_HAS("tensor 'b'");
    tb_free(&b);

    st_build(&b, "{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1);
    QK_ASSERT_STATUS(st_open_bytes(&b, "dtype.safetensors"), QK_ERR_UNKNOWN_TYPE);
    QK_ASSERT_MSG_HAS("tensor 'a'");
    QK_ASSERT_MSG_HAS("'F4'");
    tb_free(&b);

    st_build(&b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    QK_ASSERT_STATUS(st_open_bytes(&b, "size.safetensors"), QK_ERR_SHAPE);
    QK_ASSERT_MSG_HAS("need 12");
    tb_free(&b);

    st_build(&b,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
             8);
    QK_ASSERT_STATUS(st_open_bytes(&b, "ovf.safetensors"), QK_ERR_OVERFLOW);
    QK_ASSERT_MSG_HAS("tensor 'a'");
    tb_free(&b);

    st_build(&b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8);
    QK_ASSERT_STATUS(st_open_bytes(&b, "backwards.safetensors"), QK_ERR_CORRUPT);
    tb_free(&b);

    st_build(&b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8);
    QK_ASSERT_STATUS(st_open_bytes(&b, "negdim.safetensors"), QK_ERR_CORRUPT);
    tb_free(&b);

    st_build(&b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", 8);
    QK_ASSERT_STATUS(st_open_bytes(&b, "5d.safetensors"), QK_ERR_UNSUPPORTED);
    tb_free(&b);

    st_build(&b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8);
    QK_ASSERT_STATUS(st_open_bytes(&b, "nooffsets.safetensors"), QK_ERR_CORRUPT);
    tb_free(&b);
}

/* Every prefix of a valid file fails cleanly. */
static void test_truncation_sweep(void **state) {
    (void)state;
    tb b = {0};
    st_build(&b, OK_JSON, 16);
    size_t full = b.n;
    for (size_t n = 0; n < full; n++) {
        b.n = n;
        qk_status st = st_open_bytes(&b, "sweep.safetensors");
        if (st != QK_ERR_TRUNCATED && st != QK_ERR_OUT_OF_BOUNDS)
            fail_msg("prefix of %zu bytes: %s (%s)", n, qk_status_name(st), qk_last_error());
    }
    tb_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture),
        cmocka_unit_test(test_fixture_rewrite_identical),
        cmocka_unit_test(test_all_dtypes_write_read),
        cmocka_unit_test(test_sharded),
        cmocka_unit_test(test_broken_header),
        cmocka_unit_test(test_broken_tensors),
        cmocka_unit_test(test_truncation_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
