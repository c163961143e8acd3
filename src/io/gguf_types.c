/*
** GGUF value types and ggml tensor type ids (see quantkit/gguf.h).
** The ids and names are ggml's (ggml.h enum ggml_type, gguf-py constants.py
** GGMLQuantizationType); ids that ggml retired (4, 5, 31-33) have no name.
*/
#include "core/error.h"
#include "quantkit/gguf.h"

static const char *const VALUE_TYPE_NAMES[QK_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const unsigned char VALUE_TYPE_SIZES[QK_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4,
                                                                   1, 0, 0, 8, 8, 8};

const char *qk_gguf_value_type_name(qk_gguf_value_type type) {
    if ((int)type < 0 || type >= QK_GGUF_TYPE_COUNT) return "?";
    return VALUE_TYPE_NAMES[type];
}

size_t qk_gguf_value_type_size(qk_gguf_value_type type) {
    if ((int)type < 0 || type >= QK_GGUF_TYPE_COUNT) return 0;
    return VALUE_TYPE_SIZES[type];
}

typedef struct ggml_type_entry {
    uint32_t id;
    const char *name;
    int qk; /* qk_type, or -1 when quantkit has no such type */
} ggml_type_entry;

static const ggml_type_entry GGML_TYPES[] = {
    {0, "f32", QK_TYPE_F32},
    {1, "f16", QK_TYPE_F16},
    {2, "q4_0", QK_TYPE_Q4_0},
    {3, "q4_1", QK_TYPE_Q4_1},
    {6, "q5_0", QK_TYPE_Q5_0},
    {7, "q5_1", QK_TYPE_Q5_1},
    {8, "q8_0", QK_TYPE_Q8_0},
    {9, "q8_1", QK_TYPE_Q8_1},
    {10, "q2_K", QK_TYPE_Q2_K},
    {11, "q3_K", QK_TYPE_Q3_K},
    {12, "q4_K", QK_TYPE_Q4_K},
    {13, "q5_K", QK_TYPE_Q5_K},
    {14, "q6_K", QK_TYPE_Q6_K},
    {15, "q8_K", QK_TYPE_Q8_K},
    {16, "iq2_xxs", -1},
    {17, "iq2_xs", -1},
    {18, "iq3_xxs", -1},
    {19, "iq1_s", -1},
    {20, "iq4_nl", QK_TYPE_IQ4_NL},
    {21, "iq3_s", -1},
    {22, "iq2_s", -1},
    {23, "iq4_xs", -1},
    {24, "i8", QK_TYPE_I8},
    {25, "i16", QK_TYPE_I16},
    {26, "i32", QK_TYPE_I32},
    {27, "i64", QK_TYPE_I64},
    {28, "f64", QK_TYPE_F64},
    {29, "iq1_m", -1},
    {30, "bf16", QK_TYPE_BF16},
    {34, "tq1_0", -1},
    {35, "tq2_0", -1},
    {39, "mxfp4", -1},
};
#define N_GGML_TYPES (sizeof GGML_TYPES / sizeof GGML_TYPES[0])

const char *qk_gguf_ggml_type_name(uint32_t ggml_type) {
    for (size_t i = 0; i < N_GGML_TYPES; i++)
        if (GGML_TYPES[i].id == ggml_type) return GGML_TYPES[i].name;
    return NULL;
}

qk_status qk_gguf_type_from_ggml(uint32_t ggml_type, qk_type *out) {
    for (size_t i = 0; i < N_GGML_TYPES; i++) {
        if (GGML_TYPES[i].id != ggml_type) continue;
        if (GGML_TYPES[i].qk < 0)
            return qk_error_set(QK_ERR_UNKNOWN_TYPE,
                                "ggml type %u (%s) is not supported by quantkit", ggml_type,
                                GGML_TYPES[i].name);
        *out = (qk_type)GGML_TYPES[i].qk;
        return QK_OK;
    }
    return qk_error_set(QK_ERR_UNKNOWN_TYPE, "unknown ggml type id %u", ggml_type);
}

qk_status qk_gguf_type_to_ggml(qk_type type, uint32_t *out) {
    for (size_t i = 0; i < N_GGML_TYPES; i++) {
        if (GGML_TYPES[i].qk == (int)type) {
            *out = GGML_TYPES[i].id;
            return QK_OK;
        }
    }
    return qk_error_set(QK_ERR_UNSUPPORTED, "type %s has no ggml type id (GGUF cannot store it)",
                        qk_type_name(type));
}
