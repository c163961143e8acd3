/*
** quantkit quantize --save-config cfg.json / --config cfg.json: record every
** decision of a run, and replay one (quantkit/quant_config.h).
*/
#ifndef QK_QUANTIZE_CONFIG_H
#define QK_QUANTIZE_CONFIG_H

#include "quantize_mixed.h"

/* What a run decided, for --save-config. */
typedef struct quantize_run {
    const char *in_path, *output;
    const qk_type_request *req;
    const qk_quantize_options *opt;
    const char *imatrix_path;           /* --imatrix, or NULL */
    const quantize_mixed_args *mixed;   /* NULL: no allocation */
    const quantize_mixed_state *mstate; /* with mixed */
    const qk_quantize_report *rep;
} quantize_run;

/* Write the config of a finished run. Returns 0 or the exit code. */
int quantize_config_save(const char *path, const quantize_run *run);

/* A loaded config and what replaying it needs alive. */
typedef struct quantize_replay {
    qk_quant_config cfg;
    qk_type_request req;
    qk_type_override *overrides;
    qk_tensor_type *types;
    qk_calib_stats *imatrix; /* importance from a statistics file */
    quantize_calib calib;    /* importance from the calibration section */
} quantize_replay;

/* Load cfg_path, check it against the model and fill `opt` (initialised
** here) to reproduce the recorded output. Returns 0 or the exit code. */
int quantize_config_replay(const char *cfg_path, const char *in_path, bool quiet,
                           qk_quantize_options *opt, quantize_replay *r);
void quantize_replay_free(quantize_replay *r);

#endif
