/*
** quantkit: quantize neural-network weights and measure what it cost.
** The umbrella header: includes every public layer header.
*/
#ifndef QUANTKIT_QUANTKIT_H
#define QUANTKIT_QUANTKIT_H

#include "quantkit/core.h"
#include "quantkit/quant.h"
#include "quantkit/kernels.h"
#include "quantkit/model.h"
#include "quantkit/mix.h"

#endif /* QUANTKIT_QUANTKIT_H */
