/*
** Checkpoint packing on small hand-made linears, against words derived by
** hand from the formats' packing loops:
**   AutoGPTQ pack() (qlinear_cuda_old.py): 2/4/8 bits OR code j of a run into
**     bit bits*(j-i) of one word; 3 bits spread 32 codes over 3 words as 10
**     codes, code 10's 2 low bits at bits 30-31 | its high bit at bit 0 of
**     the next word, 10 codes from bit 1, code 21's low bit at bit 31 | its 2
**     high bits at bits 0-1 of the third word, 10 codes from bit 2;
**   AutoAWQ from_linear: nibble i of a word holds output row
**     [0, 2, 4, 6, 1, 3, 5, 7][i];
**   compressed-tensors pack_to_int32: 32 // bits values per word from bit 0,
**     the last word of a row zero-padded.
** Each expected word is worked out in the comment beside it. Decoding is
** checked on the same words, and encode -> decode on every bit width.
*/
#include "qk_test.h"

#include "io/ckpt.h"

/* A rows x cols linear with every code/zero 0 and scale 1 (group size g). */
static qk_quantized_linear make(int bits, int g, bool sym, int64_t rows, int64_t cols) {
    qk_quantized_linear q;
    QK_ASSERT_OK(qk_quantized_linear_alloc(&q, bits, g, sym, rows, cols, false));
    for (int64_t i = 0; i < q.n_groups * rows; i++) {
        q.scales[i] = 1.0f;
        q.zeros[i] = sym ? 1 << (bits - 1) : 1;
    }
    return q;
}

typedef struct packed {
    ckpt_part_spec spec[CKPT_PARTS];
    unsigned char *buf[CKPT_PARTS];
    qk_io_tensor t[CKPT_PARTS];
} packed;

static size_t part_bytes(const ckpt_part_spec *p) {
    size_t n = (size_t)p->shape[0] * (size_t)(p->ndim == 2 ? p->shape[1] : 1);
    return n * (p->type == QK_TYPE_F16 ? 2 : p->type == QK_TYPE_I64 ? 8 : 4);
}

static void encode(const qk_checkpoint_config *c, const qk_quantized_linear *q, packed *p) {
    memset(p, 0, sizeof *p);
    QK_ASSERT_OK(qk_checkpoint_check_linear(c, q));
    QK_ASSERT_OK(qk_ckpt_layout(c, q->rows, q->cols, p->spec));
    for (int i = 0; i < CKPT_PARTS; i++) {
        if (!p->spec[i].present) continue;
        p->buf[i] = calloc(part_bytes(&p->spec[i]), 1);
        p->t[i].name = p->spec[i].suffix;
        p->t[i].type = p->spec[i].type;
        p->t[i].ndim = p->spec[i].ndim;
        p->t[i].shape[0] = p->spec[i].shape[0];
        p->t[i].shape[1] = p->spec[i].shape[1];
        p->t[i].nbytes = part_bytes(&p->spec[i]);
        p->t[i].data = p->buf[i];
    }
    QK_ASSERT_OK(qk_ckpt_encode(c, q, p->buf));
}

static void packed_free(packed *p) {
    for (int i = 0; i < CKPT_PARTS; i++) free(p->buf[i]);
}

static uint32_t word(const packed *p, int part, size_t i) {
    return qk_ckpt_word(&p->t[part], i);
}

/* Decode `p` and check it equals `q` (codes, zeros, scales, g_idx). */
static void assert_decodes_to(const qk_checkpoint_config *c, const packed *p,
                              const qk_quantized_linear *q) {
    const qk_io_tensor *parts[CKPT_PARTS];
    for (int i = 0; i < CKPT_PARTS; i++) parts[i] = p->buf[i] ? &p->t[i] : NULL;
    qk_quantized_linear d;
    QK_ASSERT_OK(qk_ckpt_decode(c, parts, q->rows, q->cols, "test", &d));
    assert_int_equal(d.n_groups, q->n_groups);
    assert_memory_equal(d.codes, q->codes, (size_t)(q->rows * q->cols));
    for (int64_t i = 0; i < q->n_groups * q->rows; i++) {
        assert_int_equal(d.zeros[i], q->zeros[i]);
        QK_ASSERT_F32_BITS_EQ(d.scales[i], qk_f16_to_f32(qk_f32_to_f16(q->scales[i])));
    }
    for (int64_t col = 0; col < q->cols; col++)
        assert_int_equal(qk_quantized_linear_group(&d, col), qk_quantized_linear_group(q, col));
    qk_quantized_linear_free(&d);
}

static void test_gptq_4bit(void **state) {
    (void)state;
    qk_checkpoint_config c;
    qk_checkpoint_config_init(&c, QK_CHECKPOINT_GPTQ);
    c.group_size = 32;
    qk_quantized_linear q = make(4, 32, false, 32, 32);
    for (int col = 0; col < 32; col++) q.codes[col] = (uint8_t)(col % 16); /* row 0 */
    for (int r = 0; r < 32; r++) q.zeros[r] = r % 15 + 1;                  /* 1..15 */
    q.scales[0] = 0.5f;                                                    /* f16 0x3800 */
    q.scales[1] = 0.1f;                                                    /* f16 0x2E66 */
    packed p;
    encode(&c, &q, &p);
    /* qweight [32*4/32 = 4, 32]: row 0's stream is codes 0..15, 0..15:
    ** word 0 = codes 0..7 at bits 0,4,..,28 = 0x76543210, word 1 = codes
    ** 8..15 = 0xFEDCBA98, words 2 and 3 repeat; column r of qweight is row
    ** r, so these are elements [k][0] = k * 32; the other rows are 0. */
    assert_int_equal(p.t[CKPT_WEIGHT].shape[0], 4);
    assert_int_equal(p.t[CKPT_WEIGHT].shape[1], 32);
    assert_int_equal(word(&p, CKPT_WEIGHT, 0), 0x76543210u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 32), 0xFEDCBA98u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 64), 0x76543210u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 96), 0xFEDCBA98u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 1), 0u);
    /* qzeros [1, 4], v1 stores zero - 1 = r % 15: rows 0..7 -> 0x76543210;
    ** rows 8..15 store 8,9,10,11,12,13,14,0 -> 0x0EDCBA98; rows 16..23 store
    ** 1..8 -> 0x87654321; rows 24..31 store 9..14,0,1 -> 0x10EDCBA9 */
    assert_int_equal(word(&p, CKPT_ZEROS, 0), 0x76543210u);
    assert_int_equal(word(&p, CKPT_ZEROS, 1), 0x0EDCBA98u);
    assert_int_equal(word(&p, CKPT_ZEROS, 2), 0x87654321u);
    assert_int_equal(word(&p, CKPT_ZEROS, 3), 0x10EDCBA9u);
    /* scales f16 little-endian: 0.5 = 0x3800, 0.1 = 0x2E66 */
    const unsigned char *s = p.buf[CKPT_SCALES];
    assert_int_equal(s[0] | s[1] << 8, 0x3800);
    assert_int_equal(s[2] | s[3] << 8, 0x2E66);
    /* g_idx = c / 32 = 0 */
    assert_int_equal(word(&p, CKPT_G_IDX, 31), 0u);
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    /* v2 stores the zero itself: rows 0..7 store 1..8 -> 0x87654321 */
    c.format = QK_CHECKPOINT_GPTQ_V2;
    encode(&c, &q, &p);
    assert_int_equal(word(&p, CKPT_ZEROS, 0), 0x87654321u);
    assert_int_equal(word(&p, CKPT_ZEROS, 1), 0x1FEDCBA9u); /* 9..15, then 16%15+1 = 1... */
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    qk_quantized_linear_free(&q);
}

static void test_gptq_3bit(void **state) {
    (void)state;
    qk_checkpoint_config c;
    qk_checkpoint_config_init(&c, QK_CHECKPOINT_GPTQ);
    c.bits = 3;
    c.group_size = -1;
    qk_quantized_linear q = make(3, 32, false, 32, 32);
    for (int col = 0; col < 32; col++) q.codes[5 * 32 + col] = (uint8_t)(col % 8); /* row 5 */
    for (int r = 0; r < 32; r++) q.zeros[r] = r % 7 + 1; /* v1 stores r % 7 */
    packed p;
    encode(&c, &q, &p);
    /* qweight [32*3/32 = 3, 32]. Row 5's codes are 0..7,0..7,...
    ** word 0: codes 0..9 = 0,1,2,3,4,5,6,7,0,1 at bits 3k:
    **   0x8 + 0x80 + 0x600 + 0x4000 + 0x28000 + 0x180000 + 0xE00000 + 0x8000000
    **   = 0x08FAC688, plus code 10 (= 2, 0b010) low bits 0b10 at bits 30-31:
    **   0x80000000 -> 0x88FAC688
    ** word 1: bit 0 = code 10's high bit (0); codes 11..20 = 3,4,5,6,7,0,1,2,3,4
    **   at bits 3k+1; code 21 (= 5, 0b101) low bit at bit 31 -> 0xC688FAC6
    ** word 2: bits 0-1 = code 21's high bits 0b10; codes 22..31 = 6,7,0,..,7 at
    **   bits 3k+2 -> 0xFAC688FA */
    assert_int_equal(word(&p, CKPT_WEIGHT, 0 * 32 + 5), 0x88FAC688u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 1 * 32 + 5), 0xC688FAC6u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 2 * 32 + 5), 0xFAC688FAu);
    assert_int_equal(word(&p, CKPT_WEIGHT, 0 * 32 + 4), 0u);
    /* qzeros [1, 3]: stored r % 7 = 0,1,..,6,0,1,.. along the rows, same
    ** scheme: 0xD11AC688, 0x6B1A2358, 0x688D6344 */
    assert_int_equal(word(&p, CKPT_ZEROS, 0), 0xD11AC688u);
    assert_int_equal(word(&p, CKPT_ZEROS, 1), 0x6B1A2358u);
    assert_int_equal(word(&p, CKPT_ZEROS, 2), 0x688D6344u);
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    qk_quantized_linear_free(&q);
}

static void test_gptq_2bit_8bit(void **state) {
    (void)state;
    qk_checkpoint_config c;
    qk_checkpoint_config_init(&c, QK_CHECKPOINT_GPTQ_V2);
    c.bits = 2;
    c.group_size = 32;
    qk_quantized_linear q = make(2, 32, false, 32, 64);
    for (int col = 0; col < 64; col++) q.codes[col] = (uint8_t)(col % 4);
    packed p;
    encode(&c, &q, &p);
    /* 16 codes per word: 0,1,2,3 repeated = 0b11100100 per byte = 0xE4E4E4E4;
    ** qweight [64*2/32 = 4, 32] */
    assert_int_equal(p.t[CKPT_WEIGHT].shape[0], 4);
    for (int k = 0; k < 4; k++)
        assert_int_equal(word(&p, CKPT_WEIGHT, (size_t)k * 32), 0xE4E4E4E4u);
    /* zeros 1 everywhere: 16 fields of 0b01 = 0x55555555; 2 groups x 2 words */
    assert_int_equal(p.t[CKPT_ZEROS].shape[0], 2);
    assert_int_equal(word(&p, CKPT_ZEROS, 3), 0x55555555u);
    /* g_idx = c / 32 */
    assert_int_equal(word(&p, CKPT_G_IDX, 31), 0u);
    assert_int_equal(word(&p, CKPT_G_IDX, 32), 1u);
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    qk_quantized_linear_free(&q);

    c.bits = 8;
    q = make(8, 32, true, 32, 32);
    for (int col = 0; col < 32; col++) q.codes[col] = (uint8_t)col;
    encode(&c, &q, &p);
    /* four codes per word: 0x03020100, 0x07060504 ... 0x1F1E1D1C */
    assert_int_equal(word(&p, CKPT_WEIGHT, 0), 0x03020100u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 32), 0x07060504u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 7 * 32), 0x1F1E1D1Cu);
    /* symmetric: zero 128 = 0x80 in every byte */
    assert_int_equal(word(&p, CKPT_ZEROS, 0), 0x80808080u);
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    qk_quantized_linear_free(&q);
}

static void test_awq(void **state) {
    (void)state;
    qk_checkpoint_config c;
    qk_checkpoint_config_init(&c, QK_CHECKPOINT_AWQ);
    c.group_size = 8;
    qk_quantized_linear q = make(4, 8, false, 16, 16);
    for (int r = 0; r < 8; r++) {
        q.codes[r * 16 + 0] = (uint8_t)r; /* column 0: code = row */
        q.zeros[r] = r + 8;               /* group 0, rows 0..7: 8..15 */
    }
    packed p;
    encode(&c, &q, &p);
    /* qweight [16, 16/8 = 2]; word (col 0, j 0): nibble i holds row ORDER[i]
    ** = 0,2,4,6,1,3,5,7 -> 0x75316420 */
    assert_int_equal(p.t[CKPT_WEIGHT].shape[0], 16);
    assert_int_equal(p.t[CKPT_WEIGHT].shape[1], 2);
    assert_int_equal(word(&p, CKPT_WEIGHT, 0), 0x75316420u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 1), 0u);
    /* qzeros [2, 2]: rows 0..7 zeros 8..15 in nibble order 8,10,12,14,9,11,13,15
    ** -> 0xFDB9ECA8; rows 8..15 (zero 1) -> 0x11111111 */
    assert_int_equal(word(&p, CKPT_ZEROS, 0), 0xFDB9ECA8u);
    assert_int_equal(word(&p, CKPT_ZEROS, 1), 0x11111111u);
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    qk_quantized_linear_free(&q);
}

static void test_compressed_tensors(void **state) {
    (void)state;
    qk_checkpoint_config c;
    qk_checkpoint_config_init(&c, QK_CHECKPOINT_COMPRESSED_TENSORS);
    c.symmetric = false;
    c.group_size = 5;
    /* 4 bits, 10 rows x 10 columns: 8 codes per word, rows padded */
    qk_quantized_linear q = make(4, 5, false, 10, 10);
    for (int col = 0; col < 10; col++) q.codes[col] = (uint8_t)col; /* row 0: 0..9 */
    for (int r = 0; r < 10; r++) q.zeros[10 + r] = r;               /* group 1 */
    packed p;
    encode(&c, &q, &p);
    /* weight_packed [10, 2]: row 0 = 0x76543210, then codes 8, 9 and six
    ** zero pads = 0x00000098 */
    assert_int_equal(p.t[CKPT_WEIGHT].shape[1], 2);
    assert_int_equal(word(&p, CKPT_WEIGHT, 0), 0x76543210u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 1), 0x98u);
    /* weight_zero_point packed along the rows: [ceil(10/8) = 2, 2 groups];
    ** group 0 zeros 1 -> 0x11111111 and rows 8..9 -> 0x11; group 1 zeros
    ** r -> 0x76543210, rows 8, 9 -> 0x98 */
    assert_int_equal(p.t[CKPT_ZEROS].shape[0], 2);
    assert_int_equal(p.t[CKPT_ZEROS].shape[1], 2);
    assert_int_equal(word(&p, CKPT_ZEROS, 0), 0x11111111u);
    assert_int_equal(word(&p, CKPT_ZEROS, 1), 0x76543210u);
    assert_int_equal(word(&p, CKPT_ZEROS, 2), 0x11u);
    assert_int_equal(word(&p, CKPT_ZEROS, 3), 0x98u);
    /* weight_scale [rows, groups] */
    assert_int_equal(p.t[CKPT_SCALES].shape[0], 10);
    assert_int_equal(p.t[CKPT_SCALES].shape[1], 2);
    /* weight_shape = {10, 10} as int64 */
    int64_t shape[2];
    memcpy(shape, p.buf[CKPT_SHAPE], sizeof shape);
    assert_int_equal(shape[0], 10);
    assert_int_equal(shape[1], 10);
    assert_null(p.buf[CKPT_G_IDX]);
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    qk_quantized_linear_free(&q);

    /* 8 bits: pack_to_int32's docstring example, signed [1, 2] -> unsigned
    ** [129, 130] -> 0x00008281 = 33409; symmetric: no zero-point tensor */
    c.bits = 8;
    c.symmetric = true;
    c.group_size = -1;
    q = make(8, 2, true, 1, 2);
    q.codes[0] = 129;
    q.codes[1] = 130;
    encode(&c, &q, &p);
    assert_int_equal(word(&p, CKPT_WEIGHT, 0), 33409u);
    assert_false(p.spec[CKPT_ZEROS].present);
    assert_int_equal(p.t[CKPT_SCALES].shape[1], 1); /* channel: one scale per row */
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    qk_quantized_linear_free(&q);

    /* 3 bits: 10 codes per word, bits 30-31 unused. Codes c % 8 for 12
    ** columns: word 0 = codes 0..7,0,1 at bits 3k = 0x08FAC688 (as the GPTQ
    ** 3-bit word 0 without code 10's bits); word 1 = codes 2, 3 = 0x1A */
    c.bits = 3;
    c.symmetric = false;
    q = make(3, 12, false, 1, 12);
    for (int col = 0; col < 12; col++) q.codes[col] = (uint8_t)(col % 8);
    encode(&c, &q, &p);
    assert_int_equal(word(&p, CKPT_WEIGHT, 0), 0x08FAC688u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 1), 0x1Au);
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    qk_quantized_linear_free(&q);

    /* 5 bits: 6 codes per word (bits 30-31 unused); codes 0..6:
    ** 0 | 1<<5 | 2<<10 | 3<<15 | 4<<20 | 5<<25 = 0x0A418820, then 6 */
    c.bits = 5;
    q = make(5, 7, false, 1, 7);
    for (int col = 0; col < 7; col++) q.codes[col] = (uint8_t)col;
    encode(&c, &q, &p);
    assert_int_equal(word(&p, CKPT_WEIGHT, 0), 0x0A418820u);
    assert_int_equal(word(&p, CKPT_WEIGHT, 1), 6u);
    assert_decodes_to(&c, &p, &q);
    packed_free(&p);
    qk_quantized_linear_free(&q);
}

/* encode -> decode on random linears for every format and bit width */
static void test_random_round_trip(void **state) {
    (void)state;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 7);
    const qk_checkpoint_format formats[] = {QK_CHECKPOINT_GPTQ, QK_CHECKPOINT_GPTQ_V2,
                                            QK_CHECKPOINT_AWQ, QK_CHECKPOINT_COMPRESSED_TENSORS};
    for (size_t f = 0; f < 4; f++)
        for (int bits = 2; bits <= 8; bits++)
            for (int variant = 0; variant < 4; variant++) {
                qk_checkpoint_config c;
                qk_checkpoint_config_init(&c, formats[f]);
                c.bits = bits;
                c.symmetric = variant == 1;
                c.desc_act = variant == 2 && formats[f] != QK_CHECKPOINT_AWQ;
                c.group_size = variant == 3 ? -1 : 32;
                if (qk_checkpoint_config_check(&c) != QK_OK) continue; /* not in the format */
                const int64_t rows = formats[f] == QK_CHECKPOINT_COMPRESSED_TENSORS ? 37 : 64;
                const int64_t cols = formats[f] == QK_CHECKPOINT_COMPRESSED_TENSORS ? 75 : 96;
                qk_quantized_linear q;
                QK_ASSERT_OK(qk_quantized_linear_alloc(&q, bits, qk_ckpt_group_size(&c, cols),
                                                       c.symmetric, rows, cols, c.desc_act));
                const int maxq = (1 << bits) - 1;
                for (int64_t i = 0; i < rows * cols; i++)
                    q.codes[i] = (uint8_t)(qk_test_rng_u64(&rng) % (uint64_t)(maxq + 1));
                for (int64_t i = 0; i < q.n_groups * rows; i++) {
                    q.scales[i] = qk_f16_to_f32(qk_f32_to_f16((float)qk_test_rng_uniform(&rng)));
                    int32_t z = (int32_t)(qk_test_rng_u64(&rng) % (uint64_t)(maxq + 1));
                    if (formats[f] == QK_CHECKPOINT_GPTQ && z == 0) z = maxq + 1; /* v1: 1..2^b */
                    q.zeros[i] = c.symmetric ? 1 << (bits - 1) : z;
                }
                if (q.g_idx) /* act-order: a random assignment of whole groups */
                    for (int64_t col = 0; col < cols; col++)
                        q.g_idx[col] = (int32_t)(qk_test_rng_u64(&rng) % (uint64_t)q.n_groups);
                packed p;
                encode(&c, &q, &p);
                assert_decodes_to(&c, &p, &q);
                packed_free(&p);
                qk_quantized_linear_free(&q);
            }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gptq_4bit),          cmocka_unit_test(test_gptq_3bit),
        cmocka_unit_test(test_gptq_2bit_8bit),     cmocka_unit_test(test_awq),
        cmocka_unit_test(test_compressed_tensors), cmocka_unit_test(test_random_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
