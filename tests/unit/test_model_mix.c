/*
** Per-tensor type selection for llama.cpp's file types. The tensor-data
** sizes that result for the fixture model's shapes must equal the sizes of
** the files llama-quantize made (reference.json "bytes", minus the header
** that every one of those files shares), which pins down every rule that
** fires on this model; plus hand-checked rules on a 32-layer model.
*/
#include "qk_test.h"

#include <jansson.h>

#include "quantkit/mix.h"

typedef struct tensor_desc {
    char name[64];
    int32_t ndim;
    int64_t shape[2];
} tensor_desc;

/* fixture-llama-7m: 6 layers, hidden 256, ff 768, 8 heads, 4 kv heads of
** 32, vocab 4096, untied output (README of the fixtures). */
static int fixture_tensors(tensor_desc *t) {
    int n = 0;
    const int64_t E = 256, F = 768, KV = 128, V = 4096;
#define ADD(nm, nd, a, b)                                                                          \
    do {                                                                                           \
        snprintf(t[n].name, sizeof t[n].name, "%s", nm);                                           \
        t[n].ndim = nd, t[n].shape[0] = a, t[n].shape[1] = b;                                      \
        n++;                                                                                       \
    } while (0)
    ADD("token_embd.weight", 2, V, E);
    for (int l = 0; l < 6; l++) {
        char b[64];
        const char *names[] = {"attn_norm", "attn_q",   "attn_k", "attn_v",  "attn_output",
                               "ffn_norm",  "ffn_gate", "ffn_up", "ffn_down"};
        const int64_t shapes[][3] = {{1, E, 0}, {2, E, E}, {2, KV, E}, {2, KV, E}, {2, E, E},
                                     {1, E, 0}, {2, F, E}, {2, F, E},  {2, E, F}};
        for (int i = 0; i < 9; i++) {
            snprintf(b, sizeof b, "blk.%d.%s.weight", l, names[i]);
            ADD(b, (int32_t)shapes[i][0], shapes[i][1], shapes[i][2]);
        }
    }
    ADD("output_norm.weight", 1, E, 0);
    ADD("output.weight", 2, V, E);
#undef ADD
    return n;
}

static uint64_t data_bytes(const char *type_name, bool pure) {
    tensor_desc t[64];
    int n = fixture_tensors(t);
    qk_type_request req;
    QK_ASSERT_OK(qk_type_request_parse(type_name, &req));
    if (pure) req.pure = true;
    qk_mix_options opt;
    qk_mix_options_init(&opt, &req);
    qk_mix_model m = {.n_layer = 6, .n_gqa = 2, .tied_output = false};
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        qk_type type;
        QK_ASSERT_OK(
            qk_mix_choose(&opt, &m, t[i].name, QK_TYPE_F32, t[i].ndim, t[i].shape, &type, NULL));
        size_t bytes;
        int64_t numel = t[i].shape[0] * (t[i].ndim > 1 ? t[i].shape[1] : 1);
        QK_ASSERT_OK(qk_type_row_bytes(type, numel, &bytes));
        total += (bytes + 31) / 32 * 32; /* GGUF aligns each tensor to 32 */
    }
    return total;
}

static void test_fixture_sizes_match_llama_quantize(void **state) {
    (void)state;
    QK_REQUIRE_FIXTURES();
    json_t *ref = qk_test_load_json(qk_test_fixture("reference.json"));
    json_t *bytes = json_object_get(json_object_get(ref, "fixture-llama-7m"), "bytes");
    /* the shared header: F32 file size minus its f32 tensor data */
    const uint64_t f32_data = data_bytes("f32", false);
    const uint64_t header = (uint64_t)json_integer_value(json_object_get(bytes, "F32")) - f32_data;
    assert_true(header > 0 && header < 200000);
    const struct {
        const char *ref_name, *type;
        bool pure;
    } cases[] = {{"Q8_0", "q8_0", false},      {"Q4_0", "q4_0", false},
                 {"Q4_K_M", "q4_k_m", false},  {"Q4_K_S", "q4_k_s", false},
                 {"Q3_K_M", "q3_k_m", false},  {"Q5_K_M", "q5_k_m", false},
                 {"Q4_K-pure", "q4_k", false}, {"Q6_K-pure", "q6_k", true},
                 {"Q2_K-pure", "q2_k", true},  {"Q4_0-pure", "q4_0", true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_object_get(bytes, cases[i].ref_name);
        assert_non_null(v);
        uint64_t want = (uint64_t)json_integer_value(v) - header;
        uint64_t got = data_bytes(cases[i].type, cases[i].pure);
        if (got != want)
            fail_msg("%s: tensor data %llu bytes, llama-quantize's file has %llu",
                     cases[i].ref_name, (unsigned long long)got, (unsigned long long)want);
    }
    json_decref(ref);
}

static qk_type choose(const char *req_name, const char *tensor, int64_t rows, int64_t cols,
                      int n_layer, int gqa, qk_mix_reason *reason) {
    qk_type_request req;
    QK_ASSERT_OK(qk_type_request_parse(req_name, &req));
    qk_mix_options opt;
    qk_mix_options_init(&opt, &req);
    qk_mix_model m = {.n_layer = n_layer, .n_gqa = gqa};
    int64_t shape[2] = {rows, cols};
    qk_type t;
    QK_ASSERT_OK(qk_mix_choose(&opt, &m, tensor, QK_TYPE_F16, 2, shape, &t, reason));
    return t;
}

static void test_rules_by_hand(void **state) {
    (void)state;
    qk_mix_reason r;
    /* 32 layers: use_more_bits = layers 0-3, 28-31, and (i-4)%3==2: 6, 9, ..., 27 */
    assert_int_equal(choose("q4_k_m", "blk.0.attn_v.weight", 1024, 4096, 32, 4, &r), QK_TYPE_Q6_K);
    assert_int_equal(r, QK_MIX_RULE);
    assert_int_equal(choose("q4_k_m", "blk.4.attn_v.weight", 1024, 4096, 32, 4, &r), QK_TYPE_Q4_K);
    assert_int_equal(choose("q4_k_m", "blk.6.ffn_down.weight", 4096, 11008, 32, 4, &r),
                     QK_TYPE_Q6_K);
    assert_int_equal(choose("q4_k_m", "blk.7.ffn_down.weight", 4096, 11008, 32, 4, &r),
                     QK_TYPE_Q4_K);
    assert_int_equal(choose("q4_k_m", "blk.29.ffn_down.weight", 4096, 11008, 32, 4, &r),
                     QK_TYPE_Q6_K);
    assert_int_equal(choose("q2_k", "blk.3.attn_v.weight", 1024, 4096, 32, 4, &r), QK_TYPE_Q4_K);
    assert_int_equal(choose("q2_k", "blk.3.attn_v.weight", 4096, 4096, 32, 1, &r), QK_TYPE_Q3_K);
    assert_int_equal(choose("q3_k_m", "blk.1.attn_v.weight", 4096, 4096, 32, 1, &r), QK_TYPE_Q5_K);
    assert_int_equal(choose("q3_k_m", "blk.2.attn_v.weight", 4096, 4096, 32, 1, &r), QK_TYPE_Q4_K);
    assert_int_equal(choose("q3_k_m", "blk.1.ffn_down.weight", 4096, 4096, 32, 1, &r),
                     QK_TYPE_Q5_K);
    assert_int_equal(choose("q3_k_m", "blk.2.ffn_down.weight", 4096, 4096, 32, 1, &r),
                     QK_TYPE_Q4_K);
    assert_int_equal(choose("q3_k_m", "blk.2.attn_output.weight", 4096, 4096, 32, 1, &r),
                     QK_TYPE_Q4_K);
    assert_int_equal(choose("q4_0", "output.weight", 32000, 4096, 32, 1, &r), QK_TYPE_Q6_K);
    assert_int_equal(r, QK_MIX_OUTPUT);
    assert_int_equal(choose("q8_0", "output.weight", 32000, 4096, 32, 1, &r), QK_TYPE_Q8_0);
    assert_int_equal(choose("q4_0", "token_embd.weight", 32000, 4096, 32, 1, &r), QK_TYPE_Q4_0);
    /* row length 172 (stories260k ffn_down): q6_k -> q8_0 -> f16 */
    assert_int_equal(choose("q6_k", "blk.0.ffn_down.weight", 64, 172, 5, 2, &r), QK_TYPE_F16);
    assert_int_equal(r, QK_MIX_FALLBACK);
    /* row length 64: q4_k -> q5_0, q2_k -> q4_0 */
    assert_int_equal(choose("q4_k", "blk.0.attn_q.weight", 64, 64, 5, 2, &r), QK_TYPE_Q5_0);
    assert_int_equal(choose("q3_k_s", "blk.0.attn_q.weight", 64, 64, 5, 2, &r), QK_TYPE_Q4_0);
    /* norms are kept as f32 */
    qk_type_request req;
    QK_ASSERT_OK(qk_type_request_parse("q4_k_m", &req));
    qk_mix_options opt;
    qk_mix_options_init(&opt, &req);
    qk_mix_model m = {.n_layer = 6, .n_gqa = 2};
    int64_t shape[1] = {256};
    qk_type t;
    QK_ASSERT_OK(qk_mix_choose(&opt, &m, "blk.0.attn_norm.weight", QK_TYPE_BF16, 1, shape, &t, &r));
    assert_int_equal(t, QK_TYPE_F32);
    assert_int_equal(r, QK_MIX_KEEP);
    /* overrides win over rules; bad regex is an error */
    qk_type_override ov[1] = {{"attn_(q|k)", QK_TYPE_Q8_0}};
    opt.overrides = ov;
    opt.n_overrides = 1;
    int64_t s2[2] = {256, 256};
    QK_ASSERT_OK(qk_mix_choose(&opt, &m, "blk.3.attn_q.weight", QK_TYPE_F32, 2, s2, &t, &r));
    assert_int_equal(t, QK_TYPE_Q8_0);
    assert_int_equal(r, QK_MIX_OVERRIDE);
    qk_type_override bad[1] = {{"attn_(q", QK_TYPE_Q8_0}};
    opt.overrides = bad;
    QK_ASSERT_STATUS(qk_mix_choose(&opt, &m, "blk.3.attn_q.weight", QK_TYPE_F32, 2, s2, &t, &r),
                     QK_ERR_INVALID_ARG);
    QK_ASSERT_STATUS(qk_type_request_parse("q4_k_x", &req), QK_ERR_UNKNOWN_TYPE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_sizes_match_llama_quantize),
        cmocka_unit_test(test_rules_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
