/*
** quantkit quantization config (algo layer): a JSON file that records every
** decision of a quantization run, so that the run can be replayed to a
** byte-identical output (`quantkit quantize --save-config cfg.json`, then
** `--config cfg.json`). Written and read with jansson.
**
**   {
**     "schema": "quantkit.quant_config", "schema_version": 1,
**     "quantkit_version": "0.1.0",
**     "input": {"path": "...", "files": [{"name": "model.safetensors",
**               "bytes": 13638144, "sha256": "..."}, ...]},
**     "quantize": {"type": "q4_k_m", "pure": false, "quantize_output": true,
**                  "token_embedding_type": null, "output_tensor_type": null,
**                  "overrides": [{"pattern": "attn_v", "type": "q8_0"}],
**                  "name": null, "tokenizer": null, "allow_requantize": false,
**                  "allow_nonfinite": false, "format": "gguf"},
**     "method": {"name": "rtn", "params": {}},
**     "importance": null | {"source": "file", "path": "...", "sha256": "..."}
**                        | {"source": "calibration"},
**     "calibration": null | {"text": "...", "sha256": "...", "samples": 128,
**                            "len": 512, "seed": 0},
**     "allocation": null | {"budget_bytes": 4331456, "max_kl": null,
**                           "proxy": "imatrix", "kl": "calibrate",
**                           "kl_format": "q3_k", "kl_chunks": 4,
**                           "formats": ["q2_k", ...], "predicted_kl": 0.0071},
**     "tensors": [{"name": "token_embd.weight", "type": "q4_k"},
**                 {"name": "blk.0.attn_q.weight", "type": "affine", "bits": 4,
**                  "group": 128}, ...],
**     "output": null | {"path": "...", "bytes": 4331456, "sha256": "...",
**                       "files": [...]}
**   }
**
** "input.files" lists the model file, or every regular file directly in a
** model folder (sorted by name), with its SHA-256. "method.params" is an
** object of scalars (integer, real, boolean, string) whose names belong to
** the method (GPTQ's bits, group, damp ...), so new methods need no schema
** change. "importance" says where the quantizer's importance weights came
** from: a statistics file (its digest), or the "calibration" section (the
** statistics are collected again on replay: calibration is deterministic).
** "tensors" holds the type of every tensor of the output; a replay uses
** these types as they are (qk_quantize_options.tensor_types) and never
** recomputes them; an "affine" entry (Hugging Face checkpoint outputs,
** quantize.format other than "gguf") is a linear stored as integer codes
** of `bits` bits with one scale and zero point per `group` input columns
** (0: per output channel). "output" of a folder (a checkpoint) lists its
** files like "input.files"; its "sha256" is then the SHA-256 of the
** manifest of lines "<sha256>  <name>\n" (qk_path_sha256).
** "quantize.allow_nonfinite" and "quantize.format" may be absent (configs
** written before they were recorded): false and "gguf".
**
** Loading is strict: an unknown field, a value of the wrong JSON type, an
** unknown format or type name, or a missing required field is
** QK_ERR_CONFIG with a message naming the field as a path
** ("cfg.json: tensors[3].type: unknown format 'q9_k'").
** qk_quant_config_check_model checks the tensors against a model and the
** recorded digests against the files (a digest mismatch is an error unless
** the caller asks for warnings; see there).
*/
#ifndef QUANTKIT_QUANT_CONFIG_H
#define QUANTKIT_QUANT_CONFIG_H

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct qk_quantize_report;

#define QK_QUANT_CONFIG_SCHEMA "quantkit.quant_config"
#define QK_QUANT_CONFIG_VERSION 1

typedef enum qk_config_kind {
    QK_CONFIG_INT = 0,
    QK_CONFIG_REAL = 1,
    QK_CONFIG_BOOL = 2,
    QK_CONFIG_STRING = 3
} qk_config_kind;

/* One method parameter. */
typedef struct qk_config_param {
    char *name;
    qk_config_kind kind;
    int64_t i;
    double r;
    bool b;
    char *s;
} qk_config_param;

typedef struct qk_config_file {
    char *name; /* file name (inside the model folder, or the file's base name) */
    uint64_t bytes;
    char sha256[65]; /* lower-case hex */
} qk_config_file;

typedef struct qk_config_override {
    char *pattern;
    qk_type type;
} qk_config_override;

typedef struct qk_config_tensor {
    char *name;
    qk_type type;  /* QK_TYPE_COUNT for an affine tensor */
    int32_t bits;  /* affine: 2..8; 0: a `type` tensor */
    int32_t group; /* affine: input columns per group, 0 per channel */
} qk_config_tensor;

typedef enum qk_config_importance {
    QK_CONFIG_IMPORTANCE_NONE = 0,
    QK_CONFIG_IMPORTANCE_FILE = 1,       /* a statistics file */
    QK_CONFIG_IMPORTANCE_CALIBRATION = 2 /* collected from the calibration section */
} qk_config_importance;

/* Every string is malloc'ed and owned by the config (set them with strdup
** or the helpers below); NULL means absent / JSON null. */
typedef struct qk_quant_config {
    int32_t schema_version;
    char *quantkit_version;
    /* input */
    char *input_path;
    size_t n_input_files;
    qk_config_file *input_files;
    /* quantize */
    char *type; /* type request name: "q4_k_m" */
    bool pure;
    bool quantize_output;
    int32_t token_embd_type; /* -1 or a qk_type */
    int32_t output_type;     /* -1 or a qk_type */
    size_t n_overrides;
    qk_config_override *overrides;
    char *name; /* general.name */
    char *tokenizer;
    bool allow_requantize;
    bool allow_nonfinite; /* non-finite weights became 0 (--allow-nonfinite) */
    char *format;         /* output format: "gguf" or a checkpoint format name */
    /* method */
    char *method; /* "rtn", "gptq", ... */
    size_t n_params;
    qk_config_param *params;
    /* importance */
    qk_config_importance importance;
    char *importance_path;
    char importance_sha256[65];
    /* calibration */
    bool has_calibration;
    char *calib_text;
    char calib_sha256[65];
    int32_t calib_samples, calib_len;
    uint64_t calib_seed;
    /* allocation */
    bool has_allocation;
    uint64_t budget_bytes; /* 0: none */
    double max_kl;         /* NaN: none */
    char *proxy;           /* qk_sens_proxy_name */
    char *kl_mode;         /* qk_sens_kl_mode_name */
    qk_type kl_format;
    int32_t kl_chunks;
    size_t n_formats;
    qk_type formats[16];
    double predicted_kl; /* NaN: not recorded */
    /* tensors */
    size_t n_tensors;
    qk_config_tensor *tensors;
    /* output (recorded after the run) */
    bool has_output;
    char *output_path;
    uint64_t output_bytes;  /* a folder: of all its files */
    char output_sha256[65]; /* a folder: of its manifest (qk_path_sha256) */
    size_t n_output_files;  /* a folder: its files (as input.files), else 0 */
    qk_config_file *output_files;
} qk_quant_config;

/* An empty config: schema version, this quantkit's version, method "rtn",
** format "gguf", quantize_output true, no forced types, max_kl and
** predicted_kl NaN. */
qk_status qk_quant_config_init(qk_quant_config *c);
void qk_quant_config_free(qk_quant_config *c);

/* Add a method parameter (replacing one of the same name). */
qk_status qk_quant_config_set_int(qk_quant_config *c, const char *name, int64_t v);
qk_status qk_quant_config_set_real(qk_quant_config *c, const char *name, double v);
qk_status qk_quant_config_set_bool(qk_quant_config *c, const char *name, bool v);
qk_status qk_quant_config_set_string(qk_quant_config *c, const char *name, const char *v);
/* A parameter by name (borrowed), or NULL. */
const qk_config_param *qk_quant_config_param(const qk_quant_config *c, const char *name);
/* QK_ERR_CONFIG naming "method.params.X" for the first parameter whose name
** is not in known[0..n_known) or whose kind differs from kinds[i]. */
qk_status qk_quant_config_check_params(const qk_quant_config *c, const char *const *known,
                                       const qk_config_kind *kinds, size_t n_known);

/* Record the input path and its files' digests (input.files). */
qk_status qk_quant_config_set_input(qk_quant_config *c, const char *model_path);
/* Record every tensor's type from a plan or report (tensors). */
qk_status qk_quant_config_set_tensors(qk_quant_config *c, const struct qk_quantize_report *rep);
/* Record the output: path, size and digest of a file, or of a folder
** (qk_path_sha256) and each of its files. */
qk_status qk_quant_config_set_output(qk_quant_config *c, const char *path);

/* SHA-256 of a file's bytes as lower-case hex, and its size. */
qk_status qk_file_sha256(const char *path, char hex[65], uint64_t *bytes);
/* A file: qk_file_sha256. A folder: the SHA-256 of its manifest, one line
** "<sha256 of the file>  <name>\n" per regular file directly in it (names
** not starting with '.', sorted by strcmp), which is what `sha256sum *`
** prints in the folder under LC_ALL=C; bytes: the files' total size. */
qk_status qk_path_sha256(const char *path, char hex[65], uint64_t *bytes);

/* Write as JSON (two-space indent, keys in the order above), atomically. */
qk_status qk_quant_config_save(const qk_quant_config *c, const char *path);
/* Read and validate (strict; see above). `out` is overwritten; free it. */
qk_status qk_quant_config_load(const char *path, qk_quant_config *out);

/* What qk_quant_config_check_model found besides errors. */
typedef struct qk_config_check {
    int32_t digest_mismatches; /* with warn_digests: how many digests differed */
    char first_mismatch[512];  /* the first one's message */
    bool version_differs;      /* quantkit_version is not this quantkit's */
} qk_config_check;

/* Check a loaded config against the model at model_path: every tensor name
** is a tensor of the model (QK_ERR_CONFIG "tensors[i].name: ..."), every
** type holds its row length and every affine entry is a matrix
** ("tensors[i].type: ..."), and the model files,
** the importance file (importance_path) and the calibration text
** (calib_text) have the recorded digests. A digest mismatch is
** QK_ERR_CONFIG naming the field ("input.files[0].sha256: ...") unless
** warn_digests, which counts them in `check` instead. Paths are as
** recorded unless overridden (NULL: recorded). */
qk_status qk_quant_config_check_model(const qk_quant_config *c, const char *model_path,
                                      const char *importance_path, const char *calib_text,
                                      bool warn_digests, qk_config_check *check);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_QUANT_CONFIG_H */
