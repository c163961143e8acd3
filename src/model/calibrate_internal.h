/*
** Internal: access to calibration statistics for the file reader/writer.
*/
#ifndef QK_MODEL_CALIBRATE_INTERNAL_H
#define QK_MODEL_CALIBRATE_INTERNAL_H

#include "quantkit/calibrate.h"

/* The model shape the statistics were made for. */
const qk_llama_hparams *qk_calib_stats_hparams(const qk_calib_stats *stats);
/* Set input `index` (calibrate.c's order) from unaligned little-endian f64
** arrays; xtx may be NULL. */
qk_status qk_calib_stats_fill(qk_calib_stats *stats, int64_t index, int64_t n_rows,
                              const void *sum_x2, const void *sum_abs, const void *xtx);

#endif
