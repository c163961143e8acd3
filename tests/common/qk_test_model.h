/*
** Small random Llama models for tests: f32 weights drawn from a seeded
** normal distribution (linear weights scaled by 1/sqrt(fan_in), norm
** weights near 1, biases small), every tensor set through the public API.
*/
#ifndef QK_TEST_MODEL_H
#define QK_TEST_MODEL_H

#include "quantkit/model.h"

qk_llama_model *qk_test_random_model(const qk_llama_hparams *hp, uint64_t seed);

#endif
