/*
** Multiple-choice knapsack by dynamic programming over byte buckets
** (quantkit/mixed.h). Every item's options are measured from its smallest
** option ("extra" bytes), so the table spans only the range between the
** all-smallest and the all-largest choice.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantkit/mixed.h"

void qk_alloc_options_init(qk_alloc_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->max_cells = (uint64_t)1 << 26;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
    while (b) {
        const uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static qk_status check_items(const qk_alloc_item *items, size_t n, uint64_t *min_total,
                             uint64_t *max_extra, uint64_t *g) {
    *min_total = 0;
    *max_extra = 0;
    *g = 0;
    for (size_t i = 0; i < n; i++) {
        const qk_alloc_item *it = &items[i];
        if (it->n_options < 1 || it->n_options > QK_ALLOC_MAX_OPTIONS)
            return qk_error_set(QK_ERR_INVALID_ARG, "allocation: item %zu has %d options (1..%d)",
                                i, (int)it->n_options, QK_ALLOC_MAX_OPTIONS);
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int32_t k = 0; k < it->n_options; k++) {
            if (!isfinite(it->cost[k]))
                return qk_error_set(QK_ERR_NONFINITE, "allocation: item %zu option %d has cost %g",
                                    i, (int)k, it->cost[k]);
            if (it->bytes[k] < lo) lo = it->bytes[k];
            if (it->bytes[k] > hi) hi = it->bytes[k];
        }
        for (int32_t k = 0; k < it->n_options; k++) *g = gcd_u64(*g, it->bytes[k] - lo);
        if (*min_total > UINT64_MAX - lo || *max_extra > UINT64_MAX - (hi - lo))
            return qk_error_set(QK_ERR_OVERFLOW, "allocation: byte totals overflow");
        *min_total += lo;
        *max_extra += hi - lo;
    }
    if (*g == 0) *g = 1;
    return QK_OK;
}

static uint64_t item_min(const qk_alloc_item *it) {
    uint64_t lo = UINT64_MAX;
    for (int32_t k = 0; k < it->n_options; k++)
        if (it->bytes[k] < lo) lo = it->bytes[k];
    return lo;
}

/* The DP over `cap` buckets of g bytes; choice[i * (cap + 1) + c] is item
** i's option in the best solution of items 0..i within c buckets. */
static qk_status solve_dp(const qk_alloc_item *items, size_t n, uint64_t g, uint64_t cap,
                          double *best, uint8_t *choice) {
    double *next = malloc((size_t)(cap + 1) * sizeof *next);
    if (!next)
        return qk_error_set(QK_ERR_NOMEM, "allocation: no memory for %llu buckets",
                            (unsigned long long)(cap + 1));
    for (uint64_t c = 0; c <= cap; c++) best[c] = 0.0;
    for (size_t i = 0; i < n; i++) {
        const qk_alloc_item *it = &items[i];
        const uint64_t lo = item_min(it);
        uint64_t e[QK_ALLOC_MAX_OPTIONS];
        for (int32_t k = 0; k < it->n_options; k++) e[k] = (it->bytes[k] - lo + g - 1) / g;
        uint8_t *ch = choice + i * (size_t)(cap + 1);
        for (uint64_t c = 0; c <= cap; c++) {
            double v = INFINITY;
            uint8_t pick = 0;
            for (int32_t k = 0; k < it->n_options; k++) {
                if (e[k] > c) continue;
                const double x = best[c - e[k]] + it->cost[k];
                if (x < v) {
                    v = x;
                    pick = (uint8_t)k;
                }
            }
            next[c] = v;
            ch[c] = pick;
        }
        memcpy(best, next, (size_t)(cap + 1) * sizeof *best);
    }
    free(next);
    return QK_OK;
}

static void walk_back(const qk_alloc_item *items, size_t n, uint64_t g, uint64_t cap, uint64_t c,
                      const uint8_t *choice, int32_t *out) {
    for (size_t i = n; i-- > 0;) {
        const int32_t k = choice[i * (size_t)(cap + 1) + c];
        out[i] = k;
        const uint64_t e = (items[i].bytes[k] - item_min(&items[i]) + g - 1) / g;
        c -= e;
    }
}

static void totals(const qk_alloc_item *items, size_t n, const int32_t *choice, uint64_t fixed,
                   uint64_t *bytes, double *cost) {
    *bytes = fixed;
    *cost = 0.0;
    for (size_t i = 0; i < n; i++) {
        *bytes += items[i].bytes[choice[i]];
        *cost += items[i].cost[choice[i]];
    }
}

/* Spend what bucket rounding left: the single change that lowers the cost
** most while the exact total fits, until none does. */
static void greedy_fill(const qk_alloc_item *items, size_t n, uint64_t budget, uint64_t fixed,
                        int32_t *choice) {
    for (;;) {
        uint64_t bytes;
        double cost;
        totals(items, n, choice, fixed, &bytes, &cost);
        double best_gain = 0.0;
        size_t best_i = n;
        int32_t best_k = 0;
        for (size_t i = 0; i < n; i++) {
            const qk_alloc_item *it = &items[i];
            const uint64_t cur = it->bytes[choice[i]];
            for (int32_t k = 0; k < it->n_options; k++) {
                const double gain = it->cost[choice[i]] - it->cost[k];
                if (gain <= best_gain) continue;
                if (bytes - cur + it->bytes[k] > budget) continue;
                best_gain = gain;
                best_i = i;
                best_k = k;
            }
        }
        if (best_i == n) return;
        choice[best_i] = best_k;
    }
}

qk_status qk_alloc_solve(const qk_alloc_item *items, size_t n, const qk_alloc_options *opt,
                         int32_t *choice, qk_alloc_result *out) {
    if ((!items && n) || !opt || (!choice && n) || !out)
        return qk_error_set(QK_ERR_INVALID_ARG, "allocation: NULL argument");
    memset(out, 0, sizeof *out);
    uint64_t min_total, max_extra, g;
    qk_status st = check_items(items, n, &min_total, &max_extra, &g);
    if (st != QK_OK) return st;
    if (opt->fixed_bytes > UINT64_MAX - min_total - max_extra)
        return qk_error_set(QK_ERR_OVERFLOW, "allocation: byte totals overflow");
    const uint64_t smallest = opt->fixed_bytes + min_total;
    const bool budget_mode = opt->budget > 0;
    if (!budget_mode && !isfinite(opt->max_cost))
        return qk_error_set(QK_ERR_INVALID_ARG, "allocation: no budget and no finite cost limit");
    if (budget_mode && opt->budget < smallest)
        return qk_error_set(QK_ERR_BUDGET,
                            "the budget of %llu bytes is below the smallest possible output, %llu "
                            "bytes (every tensor in its smallest format)",
                            (unsigned long long)opt->budget, (unsigned long long)smallest);
    /* the extra bytes the budget leaves over the all-smallest choice */
    const uint64_t room = budget_mode ? opt->budget - smallest : max_extra;
    const uint64_t span = room < max_extra ? room : max_extra;
    const uint64_t max_cells = opt->max_cells ? opt->max_cells : (uint64_t)1 << 26;
    const uint64_t per_item = n ? max_cells / n : max_cells;
    if (per_item < 2) return qk_error_set(QK_ERR_INVALID_ARG, "allocation: max_cells too small");
    bool exact = true;
    if (span / g + 1 > per_item) {
        const uint64_t coarse = (span + per_item - 2) / (per_item - 1);
        if (coarse > g) {
            g = coarse;
            exact = false;
        }
    }
    const uint64_t cap = span / g;
    double *best = malloc((size_t)(cap + 1) * sizeof *best);
    uint8_t *table = malloc((n ? n : 1) * (size_t)(cap + 1));
    if (!best || !table) {
        free(best);
        free(table);
        return qk_error_set(QK_ERR_NOMEM, "allocation: no memory for %zu x %llu cells", n,
                            (unsigned long long)(cap + 1));
    }
    st = solve_dp(items, n, g, cap, best, table);
    if (st == QK_OK) {
        uint64_t c = cap;
        if (!budget_mode) {
            if (!(best[cap] <= opt->max_cost)) {
                st = qk_error_set(QK_ERR_BUDGET,
                                  "no allocation reaches a predicted loss of %g; the least "
                                  "possible is %g (every tensor in its best format)",
                                  opt->max_cost, best[cap]);
            } else {
                c = 0;
                while (best[c] > opt->max_cost) c++;
            }
        }
        if (st == QK_OK) walk_back(items, n, g, cap, c, table, choice);
    }
    free(best);
    free(table);
    if (st != QK_OK) return st;
    if (budget_mode && !exact) greedy_fill(items, n, opt->budget, opt->fixed_bytes, choice);
    totals(items, n, choice, opt->fixed_bytes, &out->total_bytes, &out->total_cost);
    out->granularity = g;
    out->exact = exact;
    return QK_OK;
}
