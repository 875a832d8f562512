/* test_circuit.c - circuit_breaker: opens at errors_rate over the period once min_calls is
 * reached, stays open for the TTL, probes half-open, reopens on a failed probe. */
#include "func_helpers.h"

enum { E_DOWN = CW_USER_ERROR + 1, E_BUG = CW_USER_ERROR + 2 };

static int opens_at_the_error_rate(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_CIRCUIT_BREAKER, .loader_ud = &n, .key = "api",
                         .errors_rate = 50, .min_calls = 4, .period = "1m", .ttl = "5m");
    CHECK(f);
    CHECK_STR(cw_func_template(f), "circuit_breaker:api");
    cw_value v = { 0 };
    for (int i = 0; i < 3; i++) CHECK_OK(cw_func_call(f, NULL, 0, &v));
    n.fail = E_DOWN;
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_DOWN); /* 1 of 4: 25 % */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_DOWN); /* 2 of 5: 40 % */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_DOWN); /* 3 of 6: 50 %: opens */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ECIRCUITOPEN);
    n.fail = 0;
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ECIRCUITOPEN);
    CHECK_EQ_INT(atomic_load(&n.calls), 6);
    cw_fake_clock_advance(&fc, 5 * 60000); /* the TTL: closed again (and the window is old) */
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_EQ_INT(atomic_load(&n.calls), 7);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int min_calls_and_listed_errors(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { .fail = E_BUG };
    static const int errs[] = { E_DOWN };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_CIRCUIT_BREAKER, .loader_ud = &n, .key = "m",
                         .errors_rate = 10, .min_calls = 3, .period = "1m", .ttl = "1m", .errors = errs, .nerrors = 1);
    CHECK(f);
    cw_value v = { 0 };
    for (int i = 0; i < 5; i++) CHECK_ST(cw_func_call(f, NULL, 0, &v), E_BUG); /* not counted */
    cw_fake_clock_advance(&fc, 60001);
    n.fail = E_DOWN;
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_DOWN); /* 1 call: under min_calls */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_DOWN);
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_DOWN); /* 3 calls, 100 %: opens */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ECIRCUITOPEN);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int half_open_probes(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { .fail = E_DOWN };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_CIRCUIT_BREAKER, .loader_ud = &n, .key = "h",
                         .errors_rate = 10, .period = "1m", .ttl = "1m", .half_open_ttl = "30s",
                         .half_open_pct = 50);
    CHECK(f);
    cw_value v = { 0 };
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_DOWN); /* min_calls defaults to 1: opens */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ECIRCUITOPEN);
    cw_fake_clock_advance(&fc, 60000); /* half-open: every other call is a probe */
    n.fail = 0;
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ECIRCUITOPEN);
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ECIRCUITOPEN);
    n.fail = E_DOWN;
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_DOWN); /* a failed probe opens it again */
    n.fail = 0;
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ECIRCUITOPEN);
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ECIRCUITOPEN);
    cw_fake_clock_advance(&fc, 60000); /* half-open again */
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    cw_fake_clock_advance(&fc, 30000); /* half-open over: closed, everything passes */
    for (int i = 0; i < 4; i++) CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_EQ_INT(atomic_load(&n.calls), 9);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int failover_over_circuit_breaker(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *cb = CW_FUNC(c, count_loader, .strategy = CW_CIRCUIT_BREAKER, .loader_ud = &n, .args = "id",
                          .errors_rate = 10, .period = "10m", .ttl = "5m", .half_open_ttl = "1m");
    static const int open[] = { CW_ECIRCUITOPEN };
    cw_func *f = cw_func_make(c, &(cw_func_options){ .strategy = CW_FAILOVER, .wraps = cb, .ttl = "10m",
                                                     .errors = open, .nerrors = 1 });
    CHECK(cb && f);
    cw_value v = { 0 };
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    n.fail = E_DOWN;
    CHECK_ST(CW_CALL(f, &v, CW_ARG_INT(1)), E_DOWN); /* not listed for failover; opens the breaker */
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));     /* open: the last good value */
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(cb);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(opens_at_the_error_rate),
    CW_TEST(min_calls_and_listed_errors),
    CW_TEST(half_open_probes),
    CW_TEST(failover_over_circuit_breaker),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
