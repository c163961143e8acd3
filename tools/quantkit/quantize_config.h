/*
** quantkit quantize --save-config cfg.json / --config cfg.json: record every
** decision of a run, and replay one (quantkit/quant_config.h).
*/
#ifndef QK_QUANTIZE_CONFIG_H
#define QK_QUANTIZE_CONFIG_H

#include "quantize_mixed.h"

/* A run of the calibrated pipeline (--method, --bits, --format) as it is
** run: every setting explicit, defaults included, so that a replay never
** depends on a default of the day. */
typedef struct quantize_ptq_plan {
    qk_ptq_options ptq;          /* method, grid, GPTQ and AWQ settings (gguf and progress unset) */
    const char *format;          /* "gguf" or a checkpoint format name */
    bool affine;                 /* an affine grid (checkpoints, --bits), else GGUF block types */
    const char *block_scales;    /* GGUF target: "imatrix", "hessian" or "plain" */
    const char *calib_path;      /* NULL: no calibration windows */
    int32_t samples, sample_len; /* sample_len 0: min(2048, the model's context) */
    uint64_t seed;
} quantize_ptq_plan;

/* Whether the plan's method runs on calibration windows (gptq, awq, awq+gptq). */
bool quantize_ptq_calibrated(const quantize_ptq_plan *p);

/* What a run decided, for --save-config. */
typedef struct quantize_run {
    const char *in_path, *output;
    const qk_type_request *req;
    const qk_quantize_options *opt;
    const char *imatrix_path;           /* --imatrix, or NULL */
    const quantize_mixed_args *mixed;   /* NULL: no allocation */
    const quantize_mixed_state *mstate; /* with mixed */
    const qk_quantize_report *rep;      /* the GGUF written, or NULL (a checkpoint) */
    const quantize_ptq_plan *ptq;       /* a calibrated pipeline run, or NULL */
    const qk_ptq_result *ptq_result;    /* with ptq */
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
    bool has_ptq;            /* a calibrated pipeline run: replay `ptq` */
    quantize_ptq_plan ptq;   /* strings borrowed from cfg (or calib_path) */
} quantize_replay;

/* Load cfg_path, check it against the model (and calib_path, when given,
** instead of the recorded calibration text) and fill `opt` (initialised
** here) and, for a calibrated pipeline run, r->ptq to reproduce the
** recorded output. Returns 0 or the exit code. */
int quantize_config_replay(const char *cfg_path, const char *in_path, const char *calib_path,
                           bool quiet, qk_quantize_options *opt, quantize_replay *r);
void quantize_replay_free(quantize_replay *r);
/* Print whether `output` (file or folder) has the recorded digest. */
void quantize_config_print_replay(const char *cfg_path, const quantize_replay *r,
                                  const char *output);

#endif
