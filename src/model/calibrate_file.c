/*
** Calibration statistics on disk: a GGUF file with quantkit.calib.* keys
** and one f64 tensor per statistic of each linear input.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/calibrate_internal.h"
#include "quantkit/gguf.h"

#define CALIB_VERSION 1u

/* Name of input `i` ("blk.3.ffn_in", "output_in"). Mirrors calibrate.c's
** order: per layer attn_in, attn_out_in, ffn_in, ffn_down_in; then output. */
static void input_name(int32_t n_layer, int64_t i, char *buf, size_t size) {
    static const char *const kinds[4] = {"attn_in", "attn_out_in", "ffn_in", "ffn_down_in"};
    if (i == (int64_t)n_layer * 4)
        snprintf(buf, size, "output_in");
    else
        snprintf(buf, size, "blk.%d.%s", (int)(i / 4), kinds[i % 4]);
}

/* The weight (layer, which) whose input is input `i`. */
static void input_owner(int32_t n_layer, int64_t i, int32_t *layer, qk_llama_linear *which) {
    static const qk_llama_linear owners[4] = {QK_LINEAR_Q, QK_LINEAR_O, QK_LINEAR_GATE,
                                              QK_LINEAR_DOWN};
    if (i == (int64_t)n_layer * 4) {
        *layer = -1;
        *which = QK_LINEAR_OUTPUT;
    } else {
        *layer = (int32_t)(i / 4);
        *which = owners[i % 4];
    }
}

static int64_t n_inputs_of(const qk_llama_hparams *hp) {
    return (int64_t)hp->n_layer * 4 + 1;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        st = (expr);                                                                               \
        if (st != QK_OK) goto done;                                                                \
    } while (0)

qk_status qk_calib_stats_save(const qk_calib_stats *stats, const qk_calib_meta *meta,
                              const char *path) {
    if (!stats || !path) return qk_error_set(QK_ERR_INVALID_ARG, "calibration save: NULL argument");
    /* the hyper-parameters are read back through any input's owner */
    qk_calib_input probe;
    qk_status st = qk_calib_stats_get(stats, 0, QK_LINEAR_Q, &probe);
    if (st != QK_OK) return qk_error_prefix("calibration save: nothing accumulated");
    qk_gguf_writer *w = NULL;
    const qk_llama_hparams *hp = qk_calib_stats_hparams(stats);
    const int64_t n_in = n_inputs_of(hp);
    TRY(qk_gguf_writer_create(path, &w));
    TRY(qk_gguf_writer_add_str(w, "general.type", "quantkit-calibration"));
    TRY(qk_gguf_writer_add_u32(w, "quantkit.calib.version", CALIB_VERSION));
    TRY(qk_gguf_writer_add_i32(w, "quantkit.calib.n_vocab", hp->n_vocab));
    TRY(qk_gguf_writer_add_i32(w, "quantkit.calib.n_embd", hp->n_embd));
    TRY(qk_gguf_writer_add_i32(w, "quantkit.calib.n_ff", hp->n_ff));
    TRY(qk_gguf_writer_add_i32(w, "quantkit.calib.n_layer", hp->n_layer));
    TRY(qk_gguf_writer_add_i32(w, "quantkit.calib.n_head", hp->n_head));
    TRY(qk_gguf_writer_add_i32(w, "quantkit.calib.n_head_kv", hp->n_head_kv));
    TRY(qk_gguf_writer_add_i32(w, "quantkit.calib.head_dim", hp->head_dim));
    if (meta) {
        if (meta->text_path) TRY(qk_gguf_writer_add_str(w, "quantkit.calib.text", meta->text_path));
        if (meta->text_sha256)
            TRY(qk_gguf_writer_add_str(w, "quantkit.calib.text_sha256", meta->text_sha256));
        TRY(qk_gguf_writer_add_u64(w, "quantkit.calib.seed", meta->sampling.seed));
        TRY(qk_gguf_writer_add_i32(w, "quantkit.calib.n_samples", meta->n_samples_used));
        TRY(qk_gguf_writer_add_i32(w, "quantkit.calib.sample_len", meta->sampling.sample_len));
    }
    char name[64], tname[96];
    for (int64_t i = 0; i < n_in; i++) {
        int32_t layer;
        qk_llama_linear which;
        input_owner(hp->n_layer, i, &layer, &which);
        qk_calib_input in;
        if (qk_calib_stats_get(stats, layer, which, &in) != QK_OK) continue; /* never seen */
        input_name(hp->n_layer, i, name, sizeof name);
        int64_t one = 1, cols = in.n_cols, sq[2] = {in.n_cols, in.n_cols};
        snprintf(tname, sizeof tname, "%s.n_rows", name);
        TRY(qk_gguf_writer_add_tensor(w, tname, QK_TYPE_I64, 1, &one));
        snprintf(tname, sizeof tname, "%s.sum_x2", name);
        TRY(qk_gguf_writer_add_tensor(w, tname, QK_TYPE_F64, 1, &cols));
        snprintf(tname, sizeof tname, "%s.sum_abs", name);
        TRY(qk_gguf_writer_add_tensor(w, tname, QK_TYPE_F64, 1, &cols));
        if (in.xtx) {
            snprintf(tname, sizeof tname, "%s.xtx", name);
            TRY(qk_gguf_writer_add_tensor(w, tname, QK_TYPE_F64, 2, sq));
        }
    }
    TRY(qk_gguf_writer_begin(w));
    for (int64_t i = 0; i < n_in; i++) {
        int32_t layer;
        qk_llama_linear which;
        input_owner(hp->n_layer, i, &layer, &which);
        qk_calib_input in;
        if (qk_calib_stats_get(stats, layer, which, &in) != QK_OK) continue;
        TRY(qk_gguf_writer_write(w, &in.n_rows, sizeof in.n_rows));
        TRY(qk_gguf_writer_write(w, in.sum_x2, (size_t)in.n_cols * sizeof(double)));
        TRY(qk_gguf_writer_write(w, in.sum_abs, (size_t)in.n_cols * sizeof(double)));
        if (in.xtx)
            TRY(qk_gguf_writer_write(w, in.xtx, (size_t)in.n_cols * in.n_cols * sizeof(double)));
    }
    TRY(qk_gguf_writer_commit(w));
done:
    qk_gguf_writer_free(w);
    if (st != QK_OK) qk_error_prefix("saving calibration statistics to %s", path);
    return st;
}

/* Memory the statistics of `hp` take (qk_calib_stats_create), in double so
** that no product of hostile sizes overflows: per input three arrays of
** n_cols doubles (sum x^2, sum |x|, max |x|), n_cols^2 more with X^T X, and
** its bookkeeping (counted as 64 bytes). */
static double stats_bytes(const qk_llama_hparams *hp, bool with_xtx) {
    const double embd = hp->n_embd, ff = hp->n_ff, q = (double)hp->n_head * hp->head_dim;
    const double layers = hp->n_layer;
    double total = 64.0 * (4 * layers + 1) + 24.0 * (layers * (3 * embd + q + ff) + embd);
    if (with_xtx) total += 8.0 * (layers * (2 * embd * embd + q * q + ff * ff) + embd * embd);
    return total;
}

/* The statistics are allocated for the hyper-parameters the file states
** before any tensor is read, so those must not ask for more than the file
** can hold. A file qk_calib_stats_save wrote stores, for every input it saw,
** the count, sum x^2, sum |x| and X^T X: at least 2/3 of the memory they
** take (max |x| is not stored). Every input is seen by qk_calib_collect;
** inputs never seen are not stored, which the 1 MiB of slack allows for
** small models. */
#define CALIB_SLACK_BYTES (1024.0 * 1024.0)

static qk_status check_size(const qk_gguf_reader *r, const qk_llama_hparams *hp, bool with_xtx) {
    qk_status st = qk_llama_hparams_validate(hp);
    if (st != QK_OK) return qk_error_prefix("%s", qk_gguf_reader_path(r));
    const double need = stats_bytes(hp, with_xtx);
    const uint64_t size = qk_gguf_reader_file_size(r);
    if (need > 2.0 * (double)size + CALIB_SLACK_BYTES)
        return qk_error_set(QK_ERR_CORRUPT,
                            "%s: the statistics of the model shape it states (n_embd %d, n_ff %d, "
                            "n_layer %d, %d heads of %d%s) take %.4g MB, more than a file of %llu "
                            "bytes (statistics data from offset %llu) can hold: the shape does not "
                            "match the file",
                            qk_gguf_reader_path(r), hp->n_embd, hp->n_ff, hp->n_layer, hp->n_head,
                            hp->head_dim, with_xtx ? ", with X^T X" : "", need / 1e6,
                            (unsigned long long)size,
                            (unsigned long long)qk_gguf_reader_data_offset(r));
    return QK_OK;
}

static qk_status get_i32(const qk_gguf_reader *r, const char *key, int32_t *out) {
    qk_status st = qk_gguf_reader_get_i32(r, key, out);
    if (st != QK_OK) return qk_error_prefix("%s", qk_gguf_reader_path(r));
    return QK_OK;
}

qk_status qk_calib_stats_load(const char *path, qk_calib_stats **out) {
    if (!path || !out) return qk_error_set(QK_ERR_INVALID_ARG, "calibration load: NULL argument");
    *out = NULL;
    qk_gguf_reader *r = NULL;
    qk_calib_stats *stats = NULL;
    qk_status st;
    TRY(qk_gguf_reader_open(path, &r));
    uint32_t version = 0;
    st = qk_gguf_reader_get_u32(r, "quantkit.calib.version", &version);
    if (st != QK_OK || version != CALIB_VERSION) {
        st = qk_error_set(QK_ERR_CORRUPT, "%s: not a quantkit calibration file (version %u)", path,
                          version);
        goto done;
    }
    qk_llama_hparams hp = {.rms_eps = 1e-5f, .rope_theta = 10000.0f};
    TRY(get_i32(r, "quantkit.calib.n_vocab", &hp.n_vocab));
    TRY(get_i32(r, "quantkit.calib.n_embd", &hp.n_embd));
    TRY(get_i32(r, "quantkit.calib.n_ff", &hp.n_ff));
    TRY(get_i32(r, "quantkit.calib.n_layer", &hp.n_layer));
    TRY(get_i32(r, "quantkit.calib.n_head", &hp.n_head));
    TRY(get_i32(r, "quantkit.calib.n_head_kv", &hp.n_head_kv));
    TRY(get_i32(r, "quantkit.calib.head_dim", &hp.head_dim));
    const bool with_xtx = qk_gguf_reader_find_tensor(r, "blk.0.attn_in.xtx") >= 0;
    TRY(check_size(r, &hp, with_xtx));
    TRY(qk_calib_stats_create(&hp, with_xtx, &stats));
    char name[64], tname[96];
    for (int64_t i = 0; i < n_inputs_of(&hp); i++) {
        input_name(hp.n_layer, i, name, sizeof name);
        const void *parts[4] = {NULL, NULL, NULL, NULL};
        const char *suffix[4] = {"n_rows", "sum_x2", "sum_abs", "xtx"};
        const int64_t cols = i == (int64_t)hp.n_layer * 4 ? hp.n_embd
                             : i % 4 == 1                 ? (int64_t)hp.n_head * hp.head_dim
                             : i % 4 == 3                 ? hp.n_ff
                                                          : hp.n_embd;
        /* cols is bounded by the file size (check_size), cols^2 is not */
        const int64_t want_elems[4] = {1, cols, cols, cols <= 3037000499 ? cols * cols : -1};
        const qk_type want_type[4] = {QK_TYPE_I64, QK_TYPE_F64, QK_TYPE_F64, QK_TYPE_F64};
        for (int k = 0; k < 4; k++) {
            snprintf(tname, sizeof tname, "%s.%s", name, suffix[k]);
            int64_t ti = qk_gguf_reader_find_tensor(r, tname);
            if (ti < 0) continue;
            qk_io_tensor t;
            TRY(qk_gguf_reader_tensor_info(r, ti, &t));
            if (t.type != want_type[k] || qk_io_tensor_numel(&t) != want_elems[k]) {
                st = qk_error_set(QK_ERR_SHAPE,
                                  "%s: tensor '%s' has type %s and %lld elements, "
                                  "expected %s and %lld",
                                  path, tname, qk_type_name(t.type),
                                  (long long)qk_io_tensor_numel(&t), qk_type_name(want_type[k]),
                                  (long long)want_elems[k]);
                goto done;
            }
            parts[k] = t.data;
        }
        if (!parts[0]) continue; /* input never seen */
        if (!parts[1] || !parts[2]) {
            st = qk_error_set(QK_ERR_CORRUPT, "%s: input '%s' lacks its sums", path, name);
            goto done;
        }
        int64_t n_rows;
        memcpy(&n_rows, parts[0], sizeof n_rows);
        TRY(qk_calib_stats_fill(stats, i, n_rows, parts[1], parts[2], parts[3]));
    }
    *out = stats;
    stats = NULL;
done:
    qk_calib_stats_free(stats);
    qk_gguf_reader_close(r);
    return st;
}
