/*
** quantkit mixed (algo layer): one storage format per tensor, chosen to
** minimise the predicted loss (quantkit/sensitivity.h) under a byte budget
** for the whole output file, or the smallest file whose predicted loss
** stays under a threshold.
**
** The choice is a multiple-choice knapsack: every tensor is an item with
** one (bytes, cost) option per candidate format, and exactly one option is
** taken per item. qk_alloc_solve solves it by dynamic programming over
** byte buckets:
**   best[c] = the least total cost of the items so far with total bytes
**             <= c buckets,
** one row per item, remembering each item's choice per bucket to walk the
** optimum back. When the bucket size g divides every option's bytes (g is
** the greatest common divisor of all of them, unless that needs more than
** max_cells table cells), the result is the exact optimum. Otherwise g is
** made coarser and every option's bytes are rounded UP to whole buckets,
** so the solution still fits the real budget; a final greedy pass then
** spends the bytes the rounding left unused (repeatedly the single change
** of one item's option that lowers the cost most while the exact total
** still fits). Exact DP rather than a Lagrangian relaxation: a Lagrange
** multiplier only reaches allocations on the convex hull of the
** (bytes, cost) curve and leaves a gap to the budget that a heuristic has
** to fill; the DP is exact at this size (a 7B model has ~300 tensors).
*/
#ifndef QUANTKIT_MIXED_H
#define QUANTKIT_MIXED_H

#include "quantkit/core.h"
#include "quantkit/sensitivity.h"

#ifdef __cplusplus
extern "C" {
#endif

struct qk_quantize_options;
struct qk_quantize_report;
struct qk_tensor_type;

/* ------------------------------------------------------------------------
** The knapsack.
*/
#define QK_ALLOC_MAX_OPTIONS 16

typedef struct qk_alloc_item {
    int32_t n_options;                    /* 1 .. QK_ALLOC_MAX_OPTIONS */
    uint64_t bytes[QK_ALLOC_MAX_OPTIONS]; /* bytes the item takes with each option */
    double cost[QK_ALLOC_MAX_OPTIONS];    /* finite, any sign */
} qk_alloc_item;

typedef struct qk_alloc_options {
    /* total bytes allowed, fixed_bytes included; 0: minimise bytes subject
    ** to total cost <= max_cost instead */
    uint64_t budget;
    double max_cost;
    uint64_t fixed_bytes; /* bytes outside the items (headers, fixed tensors) */
    uint64_t max_cells;   /* DP table limit, items x buckets (default 1 << 26) */
} qk_alloc_options;

void qk_alloc_options_init(qk_alloc_options *opt);

typedef struct qk_alloc_result {
    uint64_t total_bytes; /* fixed_bytes + the chosen options' bytes */
    double total_cost;
    uint64_t granularity; /* bucket size of the DP */
    bool exact;           /* the granularity divided every option: optimum exact */
} qk_alloc_result;

/* Choose one option per item into choice[n_items]. Budget mode: least
** total cost with total_bytes <= budget; QK_ERR_BUDGET (message with the
** smallest possible total) when even the smallest options do not fit.
** Cost mode (budget 0): least total bytes with total cost <= max_cost (ties:
** the lower cost); QK_ERR_BUDGET (message with the least reachable cost)
** when no choice reaches it. Deterministic: among equal costs the option
** listed first wins. */
qk_status qk_alloc_solve(const qk_alloc_item *items, size_t n_items, const qk_alloc_options *opt,
                         int32_t *choice, qk_alloc_result *out);

/* ------------------------------------------------------------------------
** A model's allocation: the sensitivity's candidates per quantized tensor,
** every other tensor as the plan has it, the GGUF header and the alignment
** padding counted exactly, so the file written with the result is at most
** the budget (quantize.h's max_output_bytes checks it again).
*/
typedef struct qk_mixed_options {
    uint64_t budget_bytes; /* output file size limit; 0: use max_loss */
    double max_loss;       /* predicted-loss limit (with budget 0) */
    /* restrict the candidates (NULL/0: all of the sensitivity's formats) */
    const qk_type *formats;
    size_t n_formats;
    uint64_t max_cells; /* as qk_alloc_options (0: default) */
} qk_mixed_options;

void qk_mixed_options_init(qk_mixed_options *opt);

typedef struct qk_mixed_tensor {
    char name[64];
    qk_type type;
    uint64_t bytes;   /* tensor data bytes */
    double predicted; /* its predicted loss (0 for tensors not allocated) */
    bool allocated;   /* chosen here (false: fixed, e.g. norms) */
} qk_mixed_tensor;

typedef struct qk_mixed_result {
    size_t n_tensors;
    qk_mixed_tensor *tensors; /* in the plan's (output) order */
    uint64_t header_bytes;    /* file offset of the tensor data */
    uint32_t alignment;
    uint64_t tensor_bytes; /* sum of tensor data bytes, without padding */
    uint64_t file_bytes;   /* exact size of the output file */
    uint64_t n_weights;
    double bits_per_weight; /* tensor_bytes * 8 / n_weights */
    double predicted_loss;  /* sum over tensors */
    qk_alloc_result alloc;
} qk_mixed_result;

void qk_mixed_result_free(qk_mixed_result *r);

/* Allocate for the model at in_path written to out_path with `qopt` (its
** metadata, extra keys and tensor list decide the header; out_path is used
** for a temporary file next to it, removed again). The quantized tensors
** of the plan must all be in `sens`. */
qk_status qk_mixed_allocate(const char *in_path, const char *out_path,
                            const struct qk_quantize_options *qopt, const qk_sensitivity *sens,
                            const qk_mixed_options *opt, qk_mixed_result *out);

/* The explicit per-tensor types of the allocation for
** qk_quantize_options.tensor_types: the allocated tensors, names borrowed
** from `r`. Writes min(count, capacity) entries; returns the count. */
size_t qk_mixed_tensor_types(const qk_mixed_result *r, struct qk_tensor_type *out, size_t capacity);

/* The same from a ready plan and header size (no file access): for tests
** and callers that computed the layout themselves. */
qk_status qk_mixed_allocate_plan(const struct qk_quantize_report *plan, uint64_t header_bytes,
                                 uint32_t alignment, const qk_sensitivity *sens,
                                 const qk_mixed_options *opt, qk_mixed_result *out);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_MIXED_H */
