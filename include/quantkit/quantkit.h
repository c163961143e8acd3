/*
** quantkit: quantize neural-network weights and measure what it cost.
** The umbrella header: includes every public layer header.
*/
#ifndef QUANTKIT_QUANTKIT_H
#define QUANTKIT_QUANTKIT_H

#include "quantkit/core.h"
#include "quantkit/quant.h"
#include "quantkit/ggml.h"
#include "quantkit/calib.h"
#include "quantkit/metrics.h"
#include "quantkit/qat.h"
#include "quantkit/kernels.h"
#include "quantkit/io.h"
#include "quantkit/gguf.h"
#include "quantkit/tokenizer.h"
#include "quantkit/model.h"
#include "quantkit/mix.h"
#include "quantkit/calibrate.h"
#include "quantkit/quantize.h"
#include "quantkit/algo.h"
#include "quantkit/gptq.h"
#include "quantkit/ptq.h"
#include "quantkit/checkpoint.h"
#include "quantkit/sensitivity.h"
#include "quantkit/mixed.h"
#include "quantkit/quant_config.h"

#endif /* QUANTKIT_QUANTKIT_H */
