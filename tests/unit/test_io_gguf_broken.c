/*
** GGUF reader on hostile files, built byte by byte at run time: one defect
** per test, each with its exact status and a message naming the file, the
** key or tensor, and the byte offset. Plus sweeps over every truncation
** and every single-byte corruption of a valid file (must never crash).
*/
#include "io_test_util.h"

#include <sys/stat.h> /* mkdir */

/* A small valid file, with the offsets of its fields recorded so tests can
** break one of them. */
typedef struct gfile {
    tb b;
    size_t n_tensors_at, n_kv_at;
    size_t key0_len_at, val0_type_at, str_len_at, arr_n_at;
    size_t t0_type_at, t0_ne_at, t0_off_at, t1_off_at, t1_name_at, t1_ndims_at;
} gfile;

static void build(gfile *g) {
    tb *b = &g->b;
    memset(g, 0, sizeof *g);
    tb_u32(b, 0x46554747u);
    tb_u32(b, 3);
    g->n_tensors_at = b->n;
    tb_u64(b, 2);
    g->n_kv_at = b->n;
    tb_u64(b, 3);
    g->key0_len_at = b->n;
    tb_gstr(b, "general.architecture");
    g->val0_type_at = b->n;
    tb_u32(b, 8);
    g->str_len_at = b->n;
    tb_gstr(b, "llama");
    tb_gstr(b, "tokenizer.ggml.tokens"), tb_u32(b, 9), tb_u32(b, 8);
    g->arr_n_at = b->n;
    tb_u64(b, 2), tb_gstr(b, "<s>"), tb_gstr(b, "</s>");
    tb_gstr(b, "llama.block_count"), tb_u32(b, 4), tb_u32(b, 1);
    /* a: [2, 8] f32 at 0 (64 bytes); b: [8] f32 at 64 (32 bytes) */
    tb_gstr(b, "a"), tb_u32(b, 2);
    g->t0_ne_at = b->n;
    tb_u64(b, 8), tb_u64(b, 2);
    g->t0_type_at = b->n;
    tb_u32(b, 0);
    g->t0_off_at = b->n;
    tb_u64(b, 0);
    g->t1_name_at = b->n;
    tb_gstr(b, "b");
    g->t1_ndims_at = b->n;
    tb_u32(b, 1), tb_u64(b, 8), tb_u32(b, 0);
    g->t1_off_at = b->n;
    tb_u64(b, 64);
    tb_pad(b, 32);
    for (int i = 0; i < 24; i++) tb_f32(b, (float)i);
}

static qk_status open_bytes(const tb *b, const char *name) {
    qk_gguf_reader *r = NULL;
    qk_clear_error();
    qk_status st = qk_gguf_reader_open(tb_save(b, name), &r);
    if (st == QK_OK)
        assert_non_null(r);
    else
        assert_null(r);
    qk_gguf_reader_close(r);
    return st;
}

static void test_valid_baseline(void **state) {
    (void)state;
    gfile g;
    build(&g);
    QK_ASSERT_OK(open_bytes(&g.b, "baseline.gguf"));
    tb_free(&g.b);
}

static void test_bad_magic(void **state) {
    (void)state;
    gfile g;
    build(&g);
    memcpy(g.b.d, "GGML", 4);
    QK_ASSERT_STATUS(open_bytes(&g.b, "bad_magic.gguf"), QK_ERR_BAD_MAGIC);
    QK_ASSERT_MSG_HAS("bad_magic.gguf");
    QK_ASSERT_MSG_HAS("byte 0");
    tb_free(&g.b);
}

static void test_truncated_header(void **state) {
    (void)state;
    gfile g;
    build(&g);
    g.b.n = 12; /* magic, version, half of n_tensors */
    QK_ASSERT_STATUS(open_bytes(&g.b, "trunc_header.gguf"), QK_ERR_TRUNCATED);
    QK_ASSERT_MSG_HAS("trunc_header.gguf");
    QK_ASSERT_MSG_HAS("byte 8");
    QK_ASSERT_MSG_HAS("tensor count");
    g.b.n = 0;
    QK_ASSERT_STATUS(open_bytes(&g.b, "empty.gguf"), QK_ERR_TRUNCATED);
    tb_free(&g.b);
}

static void test_version1_rejected(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u32(&g.b, 4, 1);
    QK_ASSERT_STATUS(open_bytes(&g.b, "v1.gguf"), QK_ERR_UNSUPPORTED);
    QK_ASSERT_MSG_HAS("version 1");
    tb_set_u32(&g.b, 4, 0x03000000u); /* a big-endian file */
    QK_ASSERT_STATUS(open_bytes(&g.b, "be.gguf"), QK_ERR_UNSUPPORTED);
    QK_ASSERT_MSG_HAS("big-endian");
    tb_set_u32(&g.b, 4, 4);
    QK_ASSERT_STATUS(open_bytes(&g.b, "v4.gguf"), QK_ERR_UNSUPPORTED);
    QK_ASSERT_MSG_HAS("version 4");
    tb_free(&g.b);
}

static void test_huge_counts(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u64(&g.b, g.n_kv_at, 1ull << 60);
    QK_ASSERT_STATUS(open_bytes(&g.b, "huge_nkv.gguf"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("key/value count 1152921504606846976");
    QK_ASSERT_MSG_HAS("huge_nkv.gguf");
    tb_set_u64(&g.b, g.n_kv_at, 3);
    tb_set_u64(&g.b, g.n_tensors_at, UINT64_MAX);
    QK_ASSERT_STATUS(open_bytes(&g.b, "huge_ntensors.gguf"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("tensor count 18446744073709551615");
    tb_free(&g.b);
}

static void test_string_length_beyond_file(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u64(&g.b, g.key0_len_at, 1ull << 62);
    QK_ASSERT_STATUS(open_bytes(&g.b, "huge_key.gguf"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("key at byte 24");
    QK_ASSERT_MSG_HAS("huge_key.gguf");
    tb_free(&g.b);

    build(&g);
    tb_set_u64(&g.b, g.str_len_at, g.b.n); /* longer than what is left */
    QK_ASSERT_STATUS(open_bytes(&g.b, "huge_str.gguf"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("key 'general.architecture'");
    char at[64];
    snprintf(at, sizeof at, "byte %zu", g.str_len_at);
    QK_ASSERT_MSG_HAS(at);
    tb_free(&g.b);

    build(&g);
    tb_set_u64(&g.b, g.arr_n_at, 1ull << 61);
    QK_ASSERT_STATUS(open_bytes(&g.b, "huge_arr.gguf"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("'tokenizer.ggml.tokens'");
    QK_ASSERT_MSG_HAS("2305843009213693952 strings");
    tb_free(&g.b);
}

static void test_unknown_value_type(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u32(&g.b, g.val0_type_at, 13);
    QK_ASSERT_STATUS(open_bytes(&g.b, "bad_vtype.gguf"), QK_ERR_UNKNOWN_TYPE);
    QK_ASSERT_MSG_HAS("'general.architecture'");
    QK_ASSERT_MSG_HAS("value type 13");
    char at[64];
    snprintf(at, sizeof at, "byte %zu", g.val0_type_at);
    QK_ASSERT_MSG_HAS(at);
    tb_free(&g.b);
}

static void test_unknown_tensor_type(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u32(&g.b, g.t0_type_at, 99);
    QK_ASSERT_STATUS(open_bytes(&g.b, "bad_ttype.gguf"), QK_ERR_UNKNOWN_TYPE);
    QK_ASSERT_MSG_HAS("tensor 'a'");
    QK_ASSERT_MSG_HAS("ggml type id 99");
    QK_ASSERT_MSG_HAS("bad_ttype.gguf");
    tb_set_u32(&g.b, g.t0_type_at, 16);
    QK_ASSERT_STATUS(open_bytes(&g.b, "iq_ttype.gguf"), QK_ERR_UNKNOWN_TYPE);
    QK_ASSERT_MSG_HAS("iq2_xxs");
    tb_free(&g.b);
}

static void test_misaligned_offset(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u64(&g.b, g.t1_off_at, 68); /* 68 is not a multiple of 32 */
    QK_ASSERT_STATUS(open_bytes(&g.b, "misaligned.gguf"), QK_ERR_MISALIGNED);
    QK_ASSERT_MSG_HAS("tensor 'b'");
    QK_ASSERT_MSG_HAS("offset 68");
    tb_free(&g.b);
}

static void test_tensor_out_of_bounds(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u64(&g.b, g.t1_off_at, 96); /* 32 bytes at 96 end at 128 > 96 bytes of data */
    QK_ASSERT_STATUS(open_bytes(&g.b, "oob.gguf"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("tensor 'b'");
    tb_set_u64(&g.b, g.t1_off_at, 0xFFFFFFFFFFFFFFE0ull); /* offset + size overflows */
    QK_ASSERT_STATUS(open_bytes(&g.b, "oob_wrap.gguf"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("tensor 'b'");
    tb_free(&g.b);
    build(&g);
    g.b.n -= 4; /* data cut short */
    QK_ASSERT_STATUS(open_bytes(&g.b, "short_data.gguf"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("run past the end");
    tb_free(&g.b);
}

static void test_overlap(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u64(&g.b, g.t1_off_at, 32); /* b starts inside a (0..64) */
    QK_ASSERT_STATUS(open_bytes(&g.b, "overlap.gguf"), QK_ERR_OVERLAP);
    QK_ASSERT_MSG_HAS("tensor 'a'");
    QK_ASSERT_MSG_HAS("tensor 'b'");
    tb_free(&g.b);
}

static void test_shape_overflow(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u64(&g.b, g.t0_ne_at, 1ull << 32);
    tb_set_u64(&g.b, g.t0_ne_at + 8, 1ull << 32); /* 2^64 elements */
    QK_ASSERT_STATUS(open_bytes(&g.b, "ne_overflow.gguf"), QK_ERR_OVERFLOW);
    QK_ASSERT_MSG_HAS("tensor 'a'");
    tb_set_u64(&g.b, g.t0_ne_at, 1ull << 62); /* 2^62 x 2^32: int64 overflow again */
    QK_ASSERT_STATUS(open_bytes(&g.b, "ne_overflow2.gguf"), QK_ERR_OVERFLOW);
    tb_set_u64(&g.b, g.t0_ne_at, 1ull << 63);
    tb_set_u64(&g.b, g.t0_ne_at + 8, 1);
    QK_ASSERT_STATUS(open_bytes(&g.b, "ne_negative.gguf"), QK_ERR_OVERFLOW);
    QK_ASSERT_MSG_HAS("ne[0] = 9223372036854775808");
    /* 2^61 f32 elements: fits int64, but the byte count 2^63 does not fit the file */
    tb_set_u64(&g.b, g.t0_ne_at, 1ull << 60);
    tb_set_u64(&g.b, g.t0_ne_at + 8, 2);
    QK_ASSERT_STATUS(open_bytes(&g.b, "ne_huge.gguf"), QK_ERR_OUT_OF_BOUNDS);
    QK_ASSERT_MSG_HAS("tensor 'a'");
    tb_free(&g.b);
}

static void test_bad_dims_and_blocks(void **state) {
    (void)state;
    gfile g;
    build(&g);
    tb_set_u32(&g.b, g.t1_ndims_at, 5);
    QK_ASSERT_STATUS(open_bytes(&g.b, "five_dims.gguf"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("tensor 'b'");
    QK_ASSERT_MSG_HAS("5 dimensions");
    tb_free(&g.b);
    build(&g);
    tb_set_u32(&g.b, g.t0_type_at, 8); /* q8_0 with rows of 8 elements */
    QK_ASSERT_STATUS(open_bytes(&g.b, "partial_block.gguf"), QK_ERR_SHAPE);
    QK_ASSERT_MSG_HAS("tensor 'a'");
    QK_ASSERT_MSG_HAS("block size 32");
    tb_free(&g.b);
}

static void test_duplicates(void **state) {
    (void)state;
    gfile g;
    build(&g);
    /* rename tensor "b" to "a" */
    g.b.d[g.t1_name_at + 8] = 'a';
    QK_ASSERT_STATUS(open_bytes(&g.b, "dup_tensor.gguf"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("duplicate tensor name 'a'");
    tb_free(&g.b);

    tb b = {0};
    tb_u32(&b, 0x46554747u), tb_u32(&b, 3), tb_u64(&b, 0), tb_u64(&b, 2);
    tb_gstr(&b, "k"), tb_u32(&b, 4), tb_u32(&b, 1);
    tb_gstr(&b, "k"), tb_u32(&b, 4), tb_u32(&b, 2);
    QK_ASSERT_STATUS(open_bytes(&b, "dup_key.gguf"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("duplicate key 'k'");
    tb_free(&b);
}

static void test_bad_alignment_key(void **state) {
    (void)state;
    tb b = {0};
    tb_u32(&b, 0x46554747u), tb_u32(&b, 3), tb_u64(&b, 0), tb_u64(&b, 1);
    tb_gstr(&b, "general.alignment"), tb_u32(&b, 4), tb_u32(&b, 48);
    QK_ASSERT_STATUS(open_bytes(&b, "align48.gguf"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("48");
    QK_ASSERT_MSG_HAS("power of two");
    tb_free(&b);
    tb_u32(&b, 0x46554747u), tb_u32(&b, 3), tb_u64(&b, 0), tb_u64(&b, 1);
    tb_gstr(&b, "general.alignment"), tb_u32(&b, 10), tb_u64(&b, 64);
    QK_ASSERT_STATUS(open_bytes(&b, "align_u64.gguf"), QK_ERR_CORRUPT);
    QK_ASSERT_MSG_HAS("expected u32");
    tb_free(&b);
}

static void test_not_a_file(void **state) {
    (void)state;
    qk_gguf_reader *r = NULL;
    QK_ASSERT_STATUS(qk_gguf_reader_open(qk_test_tmp_path("does-not-exist.gguf"), &r), QK_ERR_IO);
    QK_ASSERT_MSG_HAS("does-not-exist.gguf");
    QK_ASSERT_MSG_HAS("No such file");
    assert_null(r);
    const char *dir = qk_test_tmp_path("a-folder.gguf");
    mkdir(dir, 0755);
    QK_ASSERT_STATUS(qk_gguf_reader_open(dir, &r), QK_ERR_IO);
    QK_ASSERT_MSG_HAS("not a regular file");
}

/* Every prefix of a valid file fails cleanly with TRUNCATED (inside a
** fixed-size field) or OUT_OF_BOUNDS (a declared length or the data). */
static void test_truncation_sweep(void **state) {
    (void)state;
    gfile g;
    build(&g);
    size_t full = g.b.n;
    for (size_t n = 0; n < full; n++) {
        g.b.n = n;
        qk_status st = open_bytes(&g.b, "sweep.gguf");
        if (st != QK_ERR_TRUNCATED && st != QK_ERR_OUT_OF_BOUNDS)
            fail_msg("prefix of %zu bytes: %s (%s)", n, qk_status_name(st), qk_last_error());
    }
    tb_free(&g.b);
}

/* Every byte of the metadata set to 0xFF, then to 0x80: the reader either
** accepts the file or returns an error with a message; never crashes. */
static void test_corruption_sweep(void **state) {
    (void)state;
    gfile g;
    build(&g);
    size_t meta = g.t1_off_at + 8;
    const unsigned char vals[2] = {0xFF, 0x80};
    for (size_t i = 0; i < meta; i++) {
        for (int k = 0; k < 2; k++) {
            unsigned char keep = g.b.d[i];
            g.b.d[i] = vals[k];
            qk_status st = open_bytes(&g.b, "flip.gguf");
            if (st != QK_OK && qk_last_error()[0] == '\0')
                fail_msg("byte %zu = 0x%02x: %s without a message", i, vals[k], qk_status_name(st));
            g.b.d[i] = keep;
        }
    }
    tb_free(&g.b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_baseline),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_version1_rejected),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_string_length_beyond_file),
        cmocka_unit_test(test_unknown_value_type),
        cmocka_unit_test(test_unknown_tensor_type),
        cmocka_unit_test(test_misaligned_offset),
        cmocka_unit_test(test_tensor_out_of_bounds),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_shape_overflow),
        cmocka_unit_test(test_bad_dims_and_blocks),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_bad_alignment_key),
        cmocka_unit_test(test_not_a_file),
        cmocka_unit_test(test_truncation_sweep),
        cmocka_unit_test(test_corruption_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
