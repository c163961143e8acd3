/*
** The multiple-choice knapsack of mixed-precision allocation
** (quantkit/mixed.h): the DP against brute force on small random
** instances (budget mode and cost mode), the budget never exceeded, the
** coarse-bucket path still within budget and near the optimum, and the
** errors for an infeasible budget or cost limit.
*/
#include "qk_test.h"

/* Enumerate every choice: best cost within the budget (budget mode) or
** least bytes with cost <= max_cost, ties to the lower cost (cost mode). */
static void brute(const qk_alloc_item *it, size_t n, const qk_alloc_options *o, bool *feasible,
                  uint64_t *best_bytes, double *best_cost) {
    int32_t idx[8] = {0};
    *feasible = false;
    for (;;) {
        uint64_t b = o->fixed_bytes;
        double c = 0.0;
        for (size_t i = 0; i < n; i++) {
            b += it[i].bytes[idx[i]];
            c += it[i].cost[idx[i]];
        }
        bool better;
        if (o->budget) {
            better = b <= o->budget && (!*feasible || c < *best_cost);
        } else {
            better = c <= o->max_cost &&
                     (!*feasible || b < *best_bytes || (b == *best_bytes && c < *best_cost));
        }
        if (better) {
            *feasible = true;
            *best_bytes = b;
            *best_cost = c;
        }
        size_t i = 0;
        while (i < n && ++idx[i] == it[i].n_options) idx[i++] = 0;
        if (i == n) break;
    }
}

static void random_items(qk_test_rng *rng, qk_alloc_item *it, size_t n, uint64_t unit) {
    for (size_t i = 0; i < n; i++) {
        memset(&it[i], 0, sizeof it[i]);
        it[i].n_options = 1 + (int32_t)(qk_test_rng_u64(rng) % 4);
        for (int32_t k = 0; k < it[i].n_options; k++) {
            it[i].bytes[k] = unit * (1 + qk_test_rng_u64(rng) % 40);
            it[i].cost[k] = qk_test_rng_uniform(rng) * 10.0 - 1.0;
        }
    }
}

static void test_dp_equals_brute_force_budget(void **state) {
    (void)state;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 11);
    for (int trial = 0; trial < 300; trial++) {
        qk_alloc_item it[6];
        const size_t n = 1 + qk_test_rng_u64(&rng) % 6;
        random_items(&rng, it, n, 1 + qk_test_rng_u64(&rng) % 3 * 16);
        qk_alloc_options o;
        qk_alloc_options_init(&o);
        o.fixed_bytes = qk_test_rng_u64(&rng) % 100;
        uint64_t lo = o.fixed_bytes, hi = o.fixed_bytes;
        for (size_t i = 0; i < n; i++) {
            uint64_t a = UINT64_MAX, b = 0;
            for (int32_t k = 0; k < it[i].n_options; k++) {
                a = it[i].bytes[k] < a ? it[i].bytes[k] : a;
                b = it[i].bytes[k] > b ? it[i].bytes[k] : b;
            }
            lo += a;
            hi += b;
        }
        o.budget = lo + qk_test_rng_u64(&rng) % (hi - lo + 1);
        bool feasible;
        uint64_t bb;
        double bc;
        brute(it, n, &o, &feasible, &bb, &bc);
        assert_true(feasible);
        int32_t choice[6];
        qk_alloc_result r;
        assert_int_equal(qk_alloc_solve(it, n, &o, choice, &r), QK_OK);
        assert_true(r.exact);
        assert_true(r.total_bytes <= o.budget);
        /* the recomputed totals of the returned choice */
        uint64_t b = o.fixed_bytes;
        double c = 0.0;
        for (size_t i = 0; i < n; i++) {
            assert_true(choice[i] >= 0 && choice[i] < it[i].n_options);
            b += it[i].bytes[choice[i]];
            c += it[i].cost[choice[i]];
        }
        assert_int_equal(b, r.total_bytes);
        QK_ASSERT_NEAR_REL(c, r.total_cost, 1e-12);
        /* the optimum: equal to brute force up to the order of summation */
        assert_true(fabs(c - bc) <= 1e-9);
    }
}

static void test_dp_equals_brute_force_cost(void **state) {
    (void)state;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 12);
    for (int trial = 0; trial < 300; trial++) {
        qk_alloc_item it[5];
        const size_t n = 1 + qk_test_rng_u64(&rng) % 5;
        random_items(&rng, it, n, 8);
        qk_alloc_options o;
        qk_alloc_options_init(&o);
        o.fixed_bytes = 64;
        double lo = 0.0, hi = 0.0;
        for (size_t i = 0; i < n; i++) {
            double a = INFINITY, b = -INFINITY;
            for (int32_t k = 0; k < it[i].n_options; k++) {
                a = it[i].cost[k] < a ? it[i].cost[k] : a;
                b = it[i].cost[k] > b ? it[i].cost[k] : b;
            }
            lo += a;
            hi += b;
        }
        o.max_cost = lo + qk_test_rng_uniform(&rng) * (hi - lo) + 1e-9;
        bool feasible;
        uint64_t bb;
        double bc;
        brute(it, n, &o, &feasible, &bb, &bc);
        assert_true(feasible);
        int32_t choice[5];
        qk_alloc_result r;
        assert_int_equal(qk_alloc_solve(it, n, &o, choice, &r), QK_OK);
        assert_int_equal(r.total_bytes, bb);
        assert_true(r.total_cost <= o.max_cost);
        assert_true(fabs(r.total_cost - bc) <= 1e-9);
    }
}

/* A hand-checked instance: items (bytes/cost) {10/5, 20/2, 30/0} and
** {10/4, 40/1}, fixed 5. Budget 45: 30/0 + 10/4 = 45 -> cost 4 (20/2 +
** 10/4 = 6, 10/5 + 10/4 = 9). Budget 55: 10/5 + 40/1 = 55 -> 6 loses to
** 30/0 + 10/4 -> 4. Budget 74: 20/2 + 40/1 = 65 -> 3. Budget 75: 30/0 +
** 40/1 = 75 -> 1. Budget 25: 10/5 + 10/4 -> 9; 35: 20/2 + 10/4 -> 6. */
static void test_hand_instance(void **state) {
    (void)state;
    qk_alloc_item it[2] = {{.n_options = 3, .bytes = {10, 20, 30}, .cost = {5, 2, 0}},
                           {.n_options = 2, .bytes = {10, 40}, .cost = {4, 1}}};
    qk_alloc_options o;
    qk_alloc_options_init(&o);
    o.fixed_bytes = 5;
    int32_t ch[2];
    qk_alloc_result r;
    const struct {
        uint64_t budget;
        int32_t c0, c1;
        uint64_t bytes;
        double cost;
    } cases[] = {{45, 2, 0, 45, 4}, {55, 2, 0, 45, 4}, {74, 1, 1, 65, 3},
                 {75, 2, 1, 75, 1}, {25, 0, 0, 25, 9}, {35, 1, 0, 35, 6}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        o.budget = cases[i].budget;
        assert_int_equal(qk_alloc_solve(it, 2, &o, ch, &r), QK_OK);
        assert_int_equal(ch[0], cases[i].c0);
        assert_int_equal(ch[1], cases[i].c1);
        assert_int_equal(r.total_bytes, cases[i].bytes);
        assert_true(r.total_cost == cases[i].cost);
        assert_int_equal(r.granularity, 10);
    }
    /* cost mode: least bytes with cost <= 4 is 45 bytes (cost 4); <= 3.9:
    ** 20/2 + 40/1 = 65 bytes, cost 3 beats 30/0 + 40/1 = 75 */
    o.budget = 0;
    o.max_cost = 4.0;
    assert_int_equal(qk_alloc_solve(it, 2, &o, ch, &r), QK_OK);
    assert_int_equal(r.total_bytes, 45);
    o.max_cost = 3.9;
    assert_int_equal(qk_alloc_solve(it, 2, &o, ch, &r), QK_OK);
    assert_int_equal(r.total_bytes, 65);
    assert_true(r.total_cost == 3.0);
}

static void test_infeasible(void **state) {
    (void)state;
    qk_alloc_item it[2] = {{.n_options = 2, .bytes = {10, 20}, .cost = {1, 0}},
                           {.n_options = 1, .bytes = {7}, .cost = {3}}};
    qk_alloc_options o;
    qk_alloc_options_init(&o);
    o.fixed_bytes = 100;
    o.budget = 116; /* smallest is 117 */
    int32_t ch[2];
    qk_alloc_result r;
    assert_int_equal(qk_alloc_solve(it, 2, &o, ch, &r), QK_ERR_BUDGET);
    assert_non_null(strstr(qk_last_error(), "117 bytes"));
    o.budget = 117;
    assert_int_equal(qk_alloc_solve(it, 2, &o, ch, &r), QK_OK);
    assert_int_equal(r.total_bytes, 117);
    o.budget = 0;
    o.max_cost = 2.5; /* least possible cost is 3 */
    assert_int_equal(qk_alloc_solve(it, 2, &o, ch, &r), QK_ERR_BUDGET);
    assert_non_null(strstr(qk_last_error(), "least possible is 3"));
    /* bad input */
    it[1].cost[0] = NAN;
    o.budget = 200;
    assert_int_equal(qk_alloc_solve(it, 2, &o, ch, &r), QK_ERR_NONFINITE);
    it[1].cost[0] = 3;
    it[1].n_options = 0;
    assert_int_equal(qk_alloc_solve(it, 2, &o, ch, &r), QK_ERR_INVALID_ARG);
}

/* Coarse buckets (max_cells forces them): never over budget, never better
** than the exact optimum, and never worse than the exact optimum of the
** budget less one bucket per item. */
static void test_coarse_buckets_stay_within_budget(void **state) {
    (void)state;
    qk_test_rng rng;
    qk_test_rng_seed(&rng, 13);
    enum { N = 40 };
    static qk_alloc_item it[N];
    for (int trial = 0; trial < 20; trial++) {
        for (size_t i = 0; i < N; i++) {
            memset(&it[i], 0, sizeof it[i]);
            it[i].n_options = 6;
            const uint64_t base = 1000 + qk_test_rng_u64(&rng) % 5000;
            double scale = 0.1 + qk_test_rng_uniform(&rng);
            for (int32_t k = 0; k < 6; k++) {
                /* bytes grow, cost falls (like bits per weight) */
                it[i].bytes[k] = base * (uint64_t)(2 + k) + qk_test_rng_u64(&rng) % 7;
                it[i].cost[k] = scale * pow(0.25, k);
            }
        }
        qk_alloc_options o;
        qk_alloc_options_init(&o);
        o.fixed_bytes = 777;
        uint64_t lo = o.fixed_bytes, hi = o.fixed_bytes;
        for (size_t i = 0; i < N; i++) {
            lo += it[i].bytes[0];
            hi += it[i].bytes[5];
        }
        o.budget = lo + (hi - lo) * (uint64_t)(1 + trial) / 22;
        int32_t exact_ch[N], coarse_ch[N];
        qk_alloc_result exact, coarse;
        assert_int_equal(qk_alloc_solve(it, N, &o, exact_ch, &exact), QK_OK);
        assert_true(exact.exact);
        assert_int_equal(exact.granularity, 1);
        o.max_cells = (uint64_t)N * 500;
        assert_int_equal(qk_alloc_solve(it, N, &o, coarse_ch, &coarse), QK_OK);
        assert_false(coarse.exact);
        assert_true(coarse.granularity > 1);
        assert_true(coarse.total_bytes <= o.budget);
        assert_true(coarse.total_cost >= exact.total_cost - 1e-12);
        /* rounding costs each item less than one bucket, so any choice
        ** within budget - N * g fits the rounded table: the coarse result is
        ** at least as good as the exact optimum of that smaller budget */
        const uint64_t slack = (uint64_t)N * coarse.granularity;
        if (o.budget >= lo + slack) {
            qk_alloc_options o2 = o;
            o2.max_cells = 0;
            o2.budget = o.budget - slack;
            qk_alloc_result tight;
            assert_int_equal(qk_alloc_solve(it, N, &o2, exact_ch, &tight), QK_OK);
            assert_true(coarse.total_cost <= tight.total_cost + 1e-12);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dp_equals_brute_force_budget),
        cmocka_unit_test(test_dp_equals_brute_force_cost),
        cmocka_unit_test(test_hand_instance),
        cmocka_unit_test(test_infeasible),
        cmocka_unit_test(test_coarse_buckets_stay_within_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
